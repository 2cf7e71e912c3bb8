"""Benchmark: a fleet of 100 companions publishing to one Mosquitto broker (spec section 9).

One Mosquitto (Debian's, on 127.0.0.1 and a free port) and --companions FleetPublisher
instances with real paho connections, spread over --workers processes (spawn). Each is fed a
fake snapshot board in a session (t = time.monotonic() at read time: CLOCK_MONOTONIC is
system-wide) and has its own history file, into whose outbox a few events are put during the
run (QoS 1). A paho subscriber in this process (QoS 1, treadmill-companion/+/state and /event)
notes each message's receive time: latency = receive - the state payload's t. Lost state =
a publisher's own sent["state"] minus what arrived; lost events = put minus distinct seq seen.

Meanwhile two daemons (`treadmill-companion run --sim`, demo config) run side by side, one with
[mqtt] enabled pointing at the same broker and one without, under the same load; their
/api/status loop.late_p99_ms / late_max_ms / overruns are read at the end.

Rerun:  make bench-fleet      (or: .venv/bin/python bench/fleet.py --seconds 60; 20 for a quick look)
Target (spec section 9): p99 publish-to-subscriber latency <= 50 ms, no message lost.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TARGET_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeBoard:
    """A board in a session: each read is a fresh snapshot stamped with the monotonic clock."""

    def __init__(self):
        self.started = time.monotonic()

    def read(self, wait_s=None):
        now = time.monotonic()
        elapsed = now - self.started
        return {"t": now, "speed_mps": 2.0, "incline_pct": 1.0, "rail_left_n": 10.0, "rail_right_n": 12.0,
                "cadence_spm": 150.0, "alerts": [], "events": [], "faults": [],
                "session": {"elapsed_s": elapsed, "distance_m": elapsed * 2.0}}


def worker(index: int, ids: list[str], port: int, folder: str, seconds: float, events_every_s: float,
           start_at: float, results) -> None:
    import logging

    from pi_service.config import Config
    from pi_service.fleet.publisher import FleetPublisher
    from pi_service.storage import outbox

    errors: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                errors.append(self.format(record))

    logging.getLogger().addHandler(Catch())
    logging.getLogger().setLevel(logging.INFO)
    publishers, dbs, put = [], [], {}
    for device_id in ids:
        config = Config(mqtt={"enabled": True, "host": "127.0.0.1", "port": port, "device_id": device_id})
        path = Path(folder) / f"{device_id}.sqlite"
        db = sqlite3.connect(path, timeout=5)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(outbox.SCHEMA)
        db.commit()
        dbs.append(db)
        publishers.append(FleetPublisher(config, FakeBoard(), path))
        put[device_id] = 0
    while time.monotonic() < start_at:
        time.sleep(0.01)
    for publisher in publishers:
        publisher.start()
    end = start_at + seconds
    next_events = start_at + events_every_s
    while time.monotonic() < end:
        if time.monotonic() >= next_events:
            next_events += events_every_s
            for device_id, db in zip(ids, dbs):
                outbox.put(db, "event", {"kind": "bench", "device": device_id, "t": time.monotonic()}, 10_000)
                db.commit()
                put[device_id] += 1
        time.sleep(0.05)
    for publisher in publishers:
        publisher._stop.set()
    for publisher in publishers:
        publisher.close(timeout_s=5)
    report = {p.topics.device_id: {"sent": dict(p.sent), "put": put[p.topics.device_id], "waiting": p.waiting,
                                   "error": p.error, "alive": p._thread.is_alive()} for p in publishers}
    results.put({"worker": index, "devices": report, "errors": errors[:20]})


class Subscriber:
    def __init__(self, port: int):
        import paho.mqtt.client as mqtt

        self.latencies: list[float] = []
        self.received_at: list[float] = []
        self.state: dict[str, int] = {}
        self.event_seqs: dict[str, list[int]] = {}
        self.other = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-fleet-sub", clean_session=True)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("treadmill-companion/+/state", 1), ("treadmill-companion/+/event", 1)])
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        now = time.monotonic()
        parts = message.topic.split("/")
        device, kind = parts[1], parts[2]
        payload = json.loads(message.payload)
        with self.lock:
            if kind == "state":
                self.state[device] = self.state.get(device, 0) + 1
                if device.startswith("bench"):
                    self.latencies.append(now - payload["t"])
                    self.received_at.append(now)
            elif kind == "event":
                self.event_seqs.setdefault(device, []).append(payload["seq"])
            else:
                self.other += 1

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_daemon(folder: Path, mqtt_port: int | None) -> tuple[subprocess.Popen, int]:
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "pi_service/config/demo.toml").read_text()
    if mqtt_port is not None:
        text += f'\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt_port}\ndevice_id = "daemon-on"\n'
    config = folder / "config.toml"
    config.write_text(text)
    port = free_port()
    env = dict(os.environ, STATE_DIRECTORY=str(folder / "state"))
    log = open(folder / "daemon.log", "w")
    process = subprocess.Popen([str(ROOT / ".venv/bin/treadmill-companion"), "run", "--sim", "--config", str(config),
                                "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return process, port


def daemon_status(port: int) -> dict | None:
    import httpx

    try:
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)}
    loop = status.get("loop", {})
    return {k: loop.get(k) for k in ("rate_hz", "late_p50_ms", "late_p99_ms", "late_max_ms", "overruns",
                                     "missed_periods")} | {"mqtt": status.get("mqtt")}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--companions", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--events-every", type=float, default=5.0, help="seconds between events per companion")
    parser.add_argument("--no-daemons", action="store_true", help="skip the loop lateness MQTT on/off runs")
    args = parser.parse_args()
    if not Path(MOSQUITTO).exists():
        print("mosquitto not found: make bench-fleet installs it (apt-get install mosquitto)", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    port = free_port()
    (scratch / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                                            f"max_queued_messages 100000\nlog_dest file {scratch}/mosquitto.log\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(scratch / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    processes, daemons = [], {}
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    print("mosquitto did not start", file=sys.stderr)
                    return 2
                time.sleep(0.05)
        subscriber = Subscriber(port)
        if not args.no_daemons:
            daemons["on"] = start_daemon(scratch / "daemon-on", port)
            daemons["off"] = start_daemon(scratch / "daemon-off", None)
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        ids = [f"bench{n:03d}" for n in range(args.companions)]
        start_at = time.monotonic() + 5 + args.companions * 0.02  # time for the spawned workers to import
        for w in range(args.workers):
            p = ctx.Process(target=worker, args=(w, ids[w::args.workers], port, str(scratch), args.seconds,
                                                 args.events_every, start_at, results))
            p.start()
            processes.append(p)
        cpu0 = broker_cpu(broker.pid)
        time.sleep(max(0.0, start_at - time.monotonic()) + args.seconds)
        cpu1 = broker_cpu(broker.pid)
        daemon_figures = {name: daemon_status(p_port) for name, (_, p_port) in daemons.items()}
        reports = [results.get(timeout=60) for _ in processes]
        time.sleep(1.0)  # the last acknowledged messages reach the subscriber
        subscriber.stop()
    finally:
        for p in processes:
            p.join(timeout=10)
        for process, _ in daemons.values():
            stop(process)
        broker.terminate()
        broker.wait(timeout=10)

    devices = {d: r for report in reports for d, r in report["devices"].items()}
    state_sent = sum(r["sent"]["state"] for r in devices.values())
    state_got = sum(subscriber.state.get(d, 0) for d in devices)
    lost_state = sum(max(0, r["sent"]["state"] - subscriber.state.get(d, 0)) for d, r in devices.items())
    events_put = sum(r["put"] for r in devices.values())
    seqs = {d: subscriber.event_seqs.get(d, []) for d in devices}
    distinct = sum(len(set(s)) for s in seqs.values())
    duplicates = sum(len(s) - len(set(s)) for s in seqs.values())
    lost_events = sum(max(0, r["put"] - len(set(seqs[d]))) for d, r in devices.items())
    lat = [x * 1000 for x in subscriber.latencies]
    steady = [x * 1000 for x, at in zip(subscriber.latencies, subscriber.received_at) if at >= start_at + 5]
    rate = state_sent / len(devices) / args.seconds if devices else 0
    p99 = pct(lat, 99) if lat else float("nan")
    print(f"\nFleet: {len(devices)} companions in {args.workers} processes -> one Mosquitto, {args.seconds:g} s")
    print(f"  state: {state_sent} sent ({rate:.2f} /s per companion), {state_got} received, lost {lost_state}")
    print(f"  latency publish->subscriber: p50 {pct(lat, 50):.2f} ms, p99 {p99:.2f} ms, max {max(lat):.2f} ms "
          f"(target p99 <= {TARGET_P99_MS:g} ms: {'met' if p99 <= TARGET_P99_MS else 'NOT met'})")
    if steady:
        print(f"  after the first 5 s (connects and discovery over): p50 {pct(steady, 50):.2f} ms, "
              f"p99 {pct(steady, 99):.2f} ms, max {max(steady):.2f} ms")
    print(f"  events (QoS 1): {events_put} put, {distinct} distinct received, lost {lost_events}, "
          f"duplicates {duplicates}; still waiting in outboxes {sum(r['waiting'] for r in devices.values())}")
    print(f"  no message lost (target): {'met' if lost_state == 0 and lost_events == 0 else 'NOT met'}")
    if cpu0 is not None and cpu1 is not None:
        print(f"  broker CPU: {100 * (cpu1 - cpu0) / args.seconds:.1f} % of one core")
    bad = [f"{d}: error={r['error']} alive={r['alive']}" for d, r in devices.items() if r["error"] or r["alive"]]
    logged = [e for report in reports for e in report["errors"]]
    if bad or logged:
        print("  publisher problems:", *bad[:5], *logged[:5], sep="\n    ")
    for name, figures in daemon_figures.items():
        print(f"  daemon loop, MQTT {name:3}: {figures}")
    print("\nRerun: make bench-fleet   (or .venv/bin/python bench/fleet.py --seconds 60)")
    print(json.dumps({"companions": len(devices), "seconds": args.seconds, "state_sent": state_sent,
                      "state_received": state_got, "lost_state": lost_state, "p50_ms": pct(lat, 50), "p99_ms": p99,
                      "max_ms": max(lat), "events_put": events_put, "lost_events": lost_events,
                      "duplicates": duplicates, "daemons": daemon_figures}))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def broker_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
