"""One owner of the hardware: a second daemon on a state folder is refused; while a daemon
runs, `calibrate` and `doctor` work through it (its service port) and measure what they
measure without it; `--sim` keeps to the sim's own folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from pi_service.sampling.service_port import ServicePort
from pi_service.storage.state_folder import StateFolderLock, running_daemon, socket_path, state_dir
from pi_service.config import Config
from pi_service.errors import CompanionError
from tests.conftest import ROOT, free_port
from tests.test_daemon import start, stop

STILL = """
name = "still"
[[step]]
duration_s = 3600
speed_kmh = 0
note = "standing by"
"""


def cli(*args, state, timeout=90):
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    return subprocess.run([sys.executable, "-m", "pi_service", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def still_daemon(tmp_path):
    scenario = tmp_path / "still.toml"
    scenario.write_text(STILL)
    state = tmp_path / "state"
    process, port, _ = start("--scenario", str(scenario), state=state)
    yield process, port, state
    stop(process)


def test_a_second_daemon_on_the_same_state_folder_is_refused_naming_the_folder_and_the_pid(still_daemon):
    process, _, state = still_daemon
    folder = state / "sim"
    assert running_daemon(folder) == process.pid
    second = subprocess.run([sys.executable, "-m", "pi_service", "run", "--sim", "--host", "127.0.0.1", "--port",
                             str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, STATE_DIRECTORY=str(state)))
    assert second.returncode == 2 and "Traceback" not in second.stderr
    line = second.stderr.strip()
    assert "\n" not in line and str(folder) in line and f"PID {process.pid}" in line
    assert process.poll() is None  # the first one runs on


def test_the_lock_goes_with_the_process_however_it_ends(tmp_path):
    folder = tmp_path / "f"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from pi_service.storage.state_folder import StateFolderLock; "
                               "StateFolderLock(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
                               str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert running_daemon(folder) == holder.pid
    with pytest.raises(CompanionError, match=rf"{folder}.*PID {holder.pid}"):
        StateFolderLock(folder)
    holder.kill()  # kill -9: no chance to clean up
    holder.wait()
    assert running_daemon(folder) is None
    StateFolderLock(folder).close()


def test_calibrating_through_the_daemon_gives_what_calibrating_without_it_gives(still_daemon):
    process, port, state = still_daemon
    through = cli("calibrate", "rails", "--sim", "--left-kg", "10", "--right-kg", "12", "--seconds", "1", "--yes",
                  "--json", state=state)
    assert through.returncode == 0, through.stderr
    through = json.loads(through.stdout)
    assert through["daemon_pid"] == process.pid and through["file"] == str(state / "sim" / "calibration.json")
    incline = json.loads(cli("calibrate", "incline", "--sim", "--seconds", "1", "--yes", "--json", state=state).stdout)
    assert incline["daemon_pid"] == process.pid and incline["values"]["zero_deg"] == pytest.approx(0, abs=0.05)
    stop(process)
    alone = cli("calibrate", "rails", "--sim", "--left-kg", "10", "--right-kg", "12", "--seconds", "1", "--yes",
                "--json", state=state)
    assert alone.returncode == 0, alone.stderr
    alone = json.loads(alone.stdout)
    assert alone["daemon_pid"] is None
    # The sim's rail sensors are 0.5 V at rest and 600 N/V (the config's): both ways find them.
    for way, found in (("through the daemon", through), ("alone", alone)):
        for side in ("left", "right"):
            values = found["values"]
            assert values[f"{side}_zero_v"] == pytest.approx(0.5, abs=0.002), (way, found)
            assert values[f"{side}_n_per_v"] == pytest.approx(600, rel=0.01), (way, found)
    for key, value in through["values"].items():
        assert value == pytest.approx(alone["values"][key], rel=0.01), key


def test_doctor_through_the_daemon_checks_everything_without_opening_the_hardware(still_daemon):
    process, port, state = still_daemon
    done = cli("doctor", "--sim", "--seconds", "1", "--json", state=state)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"], done.stdout + done.stderr
    checks = {c["check"]: c for c in report["checks"]}
    assert f"through the running daemon (PID {process.pid})" in checks["I2C bus"]["detail"]
    assert "the daemon's link" in checks["console link"]["detail"]
    assert "the daemon's loop" in checks["sampling rate"]["detail"]
    assert int(checks["belt pulses"]["detail"].split()[0]) >= 3


def test_sim_commands_never_touch_the_real_folder(tmp_path):
    real = tmp_path / "real"
    assert state_dir(Config(), sim=True) != state_dir(Config())
    assert state_dir(Config(state_dir=str(real)), sim=True) == real / "sim"
    assert state_dir(Config(state_dir=str(real), demo=True)) == real / "sim"  # a demo config is the sim's
    done = cli("calibrate", "incline", "--sim", "--seconds", "0.5", "--yes", "--json", state=real)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in real.iterdir()) == ["sim"]


class _Belt:
    pulses = 0


class _Sensors:
    """A tick's fresh raw readings: a conversion from one rail per tick, the acceleration every tick."""

    def __init__(self):
        self.belt = _Belt()
        self.fresh_rail = None
        self.fresh_acceleration = None


def _ask(path, request: dict) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall((request if isinstance(request, bytes) else json.dumps(request).encode()) + b"\n")
        return [json.loads(line) for line in sock.makefile("rb")]


def test_the_service_port_averages_only_fresh_readings_and_refuses_what_it_cannot_do(tmp_path):
    sensors = _Sensors()
    port = ServicePort(socket_path(tmp_path), sensors, buzzer=None, board=None, treadmill=None,
                       chips={"rails": "ADS1115", "incline": "ADXL345"})
    port.start()
    stop = threading.Event()

    def ticks():  # 100 Hz: left, right, left ... one rail's conversion per tick
        t, n = 0.0, 0
        while not stop.is_set():
            sensors.fresh_rail = (n % 2, 0.5 if n % 2 == 0 else 0.7)
            sensors.fresh_acceleration = (0.0, 0.0, 9.80665)
            sensors.belt.pulses += 1
            if port.busy:
                port.on_tick(t, 1.0)
            t, n = t + 0.01, n + 1
            time.sleep(0.002)

    ticker = threading.Thread(target=ticks, daemon=True)
    ticker.start()
    try:
        answers = _ask(port.path, {"op": "measure", "seconds": 0.5})
        assert all("progress" in a for a in answers[:-1]) and "result" in answers[-1]
        result = answers[-1]["result"]
        left, right = result["readings"]["rail_left_v"], result["readings"]["rail_right_v"]
        assert left["mean"] == pytest.approx(0.5) and right["mean"] == pytest.approx(0.7)
        assert abs(left["count"] - right["count"]) <= 1 and 23 <= left["count"] <= 28  # half the 50 ticks each
        assert result["readings"]["pitch_deg"]["mean"] == pytest.approx(0.0)
        assert 49 <= result["belt_pulses"] <= 51
        assert "sim controls need the virtual treadmill" in _ask(port.path, {"op": "sim", "speed_kmh": 5})[0]["error"]
        assert "unknown op" in _ask(port.path, {"op": "format"})[0]["error"]
        assert "seconds" in _ask(port.path, {"op": "measure", "seconds": 1e9})[0]["error"]
        assert "one line of JSON" in _ask(port.path, b"{not json")[0]["error"]
    finally:
        stop.set()
        ticker.join()
        port.close()
    assert not port.path.exists()
