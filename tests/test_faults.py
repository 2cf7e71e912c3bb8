"""Surviving the faults of spec section 10, each injected: I2C bursts and a device vanishing,
the sampling process or the whole daemon killed, the disk full or read-only. (The console
link's faults are in test_console.py.) Measured recovery times are printed (pytest -s)."""

import csv

import os
import signal
import sqlite3
import subprocess
import time


import pytest

from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.i2c_bus import ADAPTER_TIMEOUT_S
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.test_daemon import children, get, start, stop
from tests.conftest import make_config

PERIOD = 0.01
WALK = """
name = "walk"
[[step]]
duration_s = 600
speed_kmh = 4
incline_pct = 3
rail_left_n = 20
rail_right_n = 20
"""


@pytest.mark.parametrize("kind,address,channel", [
    ("nack", 0x48, "rail_left"), ("timeout", 0x48, "rail_left"), ("eio", 0x53, "incline"),
    ("vanish", 0x53, "incline"),
])
def test_i2c_fault_burst_is_reported_in_half_a_second_and_recovers_without_stalling_the_loop(kind, address, channel):
    # Fast-mode I2C, as hw/README.md recommends with footstrikes: at the Pi's default 100 kHz the
    # FIFO drain alone is 6.8 ms of the 10 ms period, and a tick's usual work plus a timeout's
    # 10 ms would not fit two periods on a loaded machine (the bus thread's deadline still holds it).
    config = make_config("[i2c]\nbus_hz = 400000\n")
    treadmill = VirtualTreadmill(config, parse_scenario(WALK, "walk"), noise=True, seed=1)
    if treadmill.console is not None:
        treadmill.console.stop()  # no console in this test: its faults are in test_console.py
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    sampler = Sampler(config, sensors, SnapshotBoard(), LoopStats(), treadmill=treadmill)
    treadmill.roller.start()
    starts, works, waits, events = [], [], [], []
    injected = {}
    bus = treadmill.buses[1]
    bus_sleep, waited = bus._sleep, [0.0]

    def sleep_on_the_bus(seconds):  # what the fault itself costs: a hung bus's adapter timeouts
        waited[0] += seconds
        bus_sleep(seconds)

    bus._sleep = sleep_on_the_bus

    def tick(t):
        starts.append(time.monotonic())
        before = len(sampler.alerts.recent)
        waited[0] = 0.0
        sampler.tick(t)
        works.append(time.monotonic() - starts[-1])
        waits.append(waited[0])
        events.extend((time.monotonic(), e) for e in sampler.alerts.recent[before:])
        if "t" not in injected and t - starts[0] >= 1.0:
            treadmill.buses[1].inject(address, kind, duration_s=1.0)
            injected["t"] = t

    end = time.monotonic() + 6.0
    # As the daemon's loop: real-time scheduling, so the test measures the fault's cost, not
    # how busy the machine is (the test runs as root, as CI does).
    policy = os.sched_getscheduler(0), os.sched_getparam(0)
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    try:
        FixedRateLoop(1 / PERIOD, tick, LoopStats()).run(lambda: time.monotonic() >= end)
    finally:
        os.sched_setscheduler(0, *policy)
        treadmill.roller.stop()
        sensors.close()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # The fault never costs a tick more than one adapter timeout (the other device on a hung
    # bus is skipped that tick), so with the tick's own work it stays within two periods.
    # Wall time is reported too, and held to that in all but the odd tick: this VM's
    # hypervisor can take a vCPU away for tens of ms, which no guest scheduling prevents.
    assert max(waits) <= 0.0101, f"a tick waited {max(waits) * 1000:.1f} ms on the bus"
    # The usual tick is one that did not wait out a timeout: over all ticks, the p99 would be a
    # count of the fault's tries (5 or 6 in its second, by where the back-off falls), not the work.
    usual = sorted(work for work, wait in zip(works, waits) if wait < ADAPTER_TIMEOUT_S)
    typical = usual[int(0.99 * len(usual))]
    assert typical + 0.0101 <= 2 * PERIOD, f"p99 tick without a timeout {typical * 1000:.1f} ms"
    assert sum(w > 2 * PERIOD for w in works) <= len(works) // 100, f"ticks over 2 periods: {sorted(works)[-5:]}"
    mine = [(wall, e) for wall, e in events if e["kind"] == "sensor_fault" and e["detail"]["channel"] == channel]
    assert [e["phase"] for _, e in mine][:2] == ["start", "end"], mine
    raised = mine[0][1]["t"] - injected["t"]
    assert raised <= 0.5 + 2 * PERIOD, raised
    recovered = mine[1][1]["t"] - (injected["t"] + 1.0)
    assert recovered <= 3.5  # back-off to the next try (<= 1 s), then valid for the recovery time (2 s)
    timeouts = sum(wait >= ADAPTER_TIMEOUT_S for wait in waits)
    print(f"\n{kind}: {timeouts} ticks waited a timeout; p99 of the others {typical * 1000:.1f} ms; sensor_fault({channel}) {raised:.3f} s after the fault; recovered {recovered:.2f} s after it "
          f"cleared; most waited on the bus in a tick {max(waits) * 1000:.1f} ms; longest tick {max(works) * 1000:.1f} ms, "
          f"longest gap between ticks {max(gaps) * 1000:.1f} ms")


def test_a_killed_sampling_process_is_back_within_5_s_with_the_history_intact(tmp_path):
    state = tmp_path / "state"
    recording = tmp_path / "run.csv"
    process, port, _ = start("--record", str(recording), "--speedup", "5", state=state)
    try:
        time.sleep(3.0)  # a session under way, saved every 2 s
        (child,) = children(process.pid)
        killed = time.monotonic()
        os.kill(child, signal.SIGKILL)
        while get(port, "/healthz")[0] == 200 and time.monotonic() - killed < 1:
            time.sleep(0.01)
        while get(port, "/healthz")[0] != 200:
            assert time.monotonic() - killed < 5, "sampling not back within 5 s"
            time.sleep(0.02)
        back = time.monotonic() - killed
        time.sleep(1.0)
    finally:
        stop(process)
    db = sqlite3.connect(state / "sim" / "history.sqlite3")  # the virtual treadmill's own folder
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] >= 1
    times = [float(row[0]) for row in list(csv.reader(recording.open()))[1:] if row]
    gap = max(b - a for a, b in zip(times, times[1:]))
    assert gap <= back + 0.5, f"{gap:.2f} s of samples lost"
    print(f"\nsampling back {back:.2f} s after kill -9; {gap:.2f} s of samples lost; history intact")


def test_a_killed_daemon_restarted_as_systemd_would_samples_within_5_s_with_the_history_intact(tmp_path):
    state = tmp_path / "state"
    process, port, _ = start("--speedup", "5", state=state)
    time.sleep(3.0)
    process.kill()  # kill -9 of the whole daemon; its sampling process follows it
    process.wait()
    killed = time.monotonic()
    again, port, ready_s = start("--speedup", "5", state=state)  # Restart=on-failure, RestartSec aside
    try:
        assert ready_s < 5
        status = get(port, "/api/status")[1]
        assert status["loop"]["ticks"] > 0
    finally:
        stop(again)
    db = sqlite3.connect(state / "sim" / "history.sqlite3")  # the virtual treadmill's own folder
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] >= 1
    print(f"\ndaemon sampling again {time.monotonic() - killed:.2f} s after kill -9 (healthy in {ready_s:.2f} s)")


LEAN = """
name = "lean"
[[step]]
duration_s = 2
speed_kmh = 4
[[step]]
duration_s = 4
speed_kmh = 4
rail_left_n = 60
rail_right_n = 60
[[step]]
duration_s = 4
speed_kmh = 4
"""
QUICK = """
[rules.rail_lean]
session_grace_s = 0.5
hold_s = 1
[actions]
nudge_repeat_s = 5
"""


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    assert done.returncode == 0, f"these tests mount a small tmpfs as the state folder (root needed): {done.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def lean_events(port):
    return [(e["kind"], e["phase"]) for e in get(port, "/api/status")[1]["events"] if e["kind"] == "rail_lean"]


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_a_clear_fault_and_the_nudges_go_on(tmp_path, small_disk, how):
    (tmp_path / "quick.toml").write_text(QUICK)
    (tmp_path / "lean.toml").write_text(LEAN)
    if how == "read-only":
        # As after the kernel remounts a failing SD card read-only: nothing can be written there.
        done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    process, port, _ = start("--config", str(tmp_path / "quick.toml"), "--scenario", str(tmp_path / "lean.toml"),
                             state=small_disk)
    try:
        time.sleep(1.0)
        if how == "full":
            filler = small_disk / "filler"
            with open(filler, "wb", buffering=0) as file:  # unbuffered: nothing left to flush into a full disk
                try:
                    while True:
                        file.write(b"\0" * 65536)
                        file.flush()
                except OSError:
                    pass  # the disk is full
        broke = time.monotonic()
        fault = None
        while fault is None and time.monotonic() - broke < 8:
            code, body = get(port, "/api/status")
            assert code == 200, (code, body)  # (a 503 "no snapshot" here once, under the whole suite's load)
            fault = next((f for f in body["faults"] if f["channel"] == "history"), None)
            time.sleep(0.1)
        assert fault is not None, "no fault for the history on a broken disk"
        assert ("full" if how == "full" else "read") in fault["reason"].lower(), fault
        noticed = time.monotonic() - broke
        # The lean still nudges: the rules, the nudge and the page live on.
        deadline = time.monotonic() + 12
        while ("rail_lean", "start") not in lean_events(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ("rail_lean", "start") in lean_events(port)
        assert get(port, "/healthz")[0] == 200
        status = get(port, "/api/status")[1]
        assert status["nudges"].get("rail_lean", {}).get("repeats", 0) >= 1
        print(f"\ndisk {how}: fault shown {noticed:.2f} s later ({fault['reason'][:80]}); nudges went on")
    finally:
        stop(process)
        if how == "read-only":
            subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], capture_output=True)

