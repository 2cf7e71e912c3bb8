"""The sampler's tick over the virtual treadmill, at real time: faults and the loop's rate."""

import threading
import time

import pytest

from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

WALK = "name = \"walk\"\n[[step]]\nduration_s = 1000\nspeed_kmh = 5\nincline_pct = 4\nrail_left_n = 10\nrail_right_n = 12\n"


@pytest.fixture
def rig():
    config = make_config("[sampling]\nrate_hz = 100\n")
    treadmill = VirtualTreadmill(config, parse_scenario(WALK, "walk"), noise=False)
    treadmill.world.state_at(time.monotonic() + 30)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    board = SnapshotBoard()
    stats = LoopStats()
    sampler = Sampler(config, sensors, board, stats, treadmill=treadmill)
    treadmill.start()
    yield config, treadmill, sampler, board, stats
    treadmill.stop()
    sensors.close()


def run_for(sampler, stats, seconds, during=None):
    loop = FixedRateLoop(100, sampler.tick, stats)
    end = time.monotonic() + seconds
    worker = threading.Thread(target=loop.run, args=(lambda: time.monotonic() >= end,))
    worker.start()
    if during:
        during()
    worker.join()


def test_snapshot_carries_readings_session_and_loop_figures(rig):
    _, _, sampler, board, stats = rig
    run_for(sampler, stats, 2.2)
    snapshot = board.read()
    assert snapshot["speed_mps"] == pytest.approx(5 / 3.6, rel=0.01)
    assert snapshot["incline_pct"] == pytest.approx(4, abs=0.3)
    assert snapshot["rail_left_n"] == pytest.approx(10, abs=0.2)
    assert snapshot["session"]["elapsed_s"] > 1.5
    assert snapshot["loop"]["rate_hz"] == pytest.approx(100, rel=0.1)
    assert snapshot["loop"]["late_p99_ms"] > 0
    assert snapshot["sim"]["scenario"] == "walk"


def test_bus_timeouts_raise_faults_and_the_loop_keeps_its_rate(rig):
    _, treadmill, sampler, board, stats = rig
    bus = treadmill.buses[1]
    seen = {}

    def fault_for_a_while():
        time.sleep(0.3)
        bus.inject(0x48, "timeout")
        bus.inject(0x53, "nack")
        time.sleep(1.0)
        seen.update(board.read())
        bus.clear(0x48)
        bus.clear(0x53)

    run_for(sampler, stats, 3.0, fault_for_a_while)
    faults = {f["channel"]: f["reason"] for f in seen["faults"]}
    assert "bus timeout" in faults["rail_left"]
    # The accelerometer shares the hung bus: skipped in the same tick, or NACKing on its own.
    assert "hung this tick" in faults["incline"] or "NACK" in faults["incline"]
    assert seen["rail_left_n"] is None and seen["incline_pct"] is None
    assert seen["speed_mps"] == pytest.approx(5 / 3.6, rel=0.02)  # the belt channel is untouched
    # A hung bus costs one 10 ms adapter timeout per try (test_sensors pins that on a fake
    # clock), and the back-off keeps tries to a handful: about 300 ticks of 300. This
    # thread runs without real-time priority beside the test suite, hence the margins.
    assert stats.work_max_s < 0.03
    assert stats.ticks >= 288
    assert stats.missed_periods <= 10
    final = board.read()
    assert final["faults"] == []  # recovered on their own
    assert final["loop"]["device_errors"]["ADS1115"] >= 1


def test_a_pin_factory_that_fails_says_what_failed():
    from pi_service.sampling.hardware import gpio_failure

    assert "install the 'pi' extra" in gpio_failure(ModuleNotFoundError("No module named 'lgpio'"))
    pipe = FileNotFoundError(2, "No such file or directory", ".lgd-nfy-3")
    assert "notification pipe in the working directory" in gpio_failure(pipe)
    assert "'pi' extra" not in gpio_failure(pipe)
    hidden = FileNotFoundError(2, "No such file or directory", "/proc/cpuinfo")
    assert "which Raspberry Pi" in gpio_failure(hidden) and "ProcSubset=pid" in gpio_failure(hidden)
    assert "gpio group" in gpio_failure(PermissionError(13, "Permission denied", "/dev/gpiochip0"))


def test_the_sampling_process_locks_little_more_than_it_uses(tmp_path):
    """mlockall counts every mapping: glibc's per-thread malloc arenas (64 MiB reserved each)
    took six helper threads past the unit's LimitMEMLOCK=128M; with one arena they fit."""
    import subprocess
    import sys

    probe = (
        "import threading, re\n"
        "from pi_service.sampling.realtime import enter_realtime\n"
        "print(enter_realtime(0, None))\n"
        "def work():\n"
        "    [bytearray(4096) for _ in range(200)]\n"
        "    done.wait()\n"
        "done = threading.Event()\n"
        "threads = [threading.Thread(target=work) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "import time; time.sleep(0.5)\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmLck:\\s+(\\d+)', status).group(1), re.search(r'VmSize:\\s+(\\d+)', status).group(1))\n"
        "done.set()\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    notes, sizes = out.stdout.strip().splitlines()
    locked_kb, size_kb = map(int, sizes.split())
    if "memory locked" in notes:
        assert locked_kb < 96 * 1024, f"{locked_kb} kB locked"
    assert size_kb < 120 * 1024, f"{size_kb} kB of address space with 8 helper threads"


def test_lgpio_gets_a_writable_working_directory(tmp_path, monkeypatch):
    """`sudo -u treadmill-companion ... doctor` from a clone in /home/pi: lgpio's pipe would go
    into a folder that user cannot write, and gpiozero would fail with a FileNotFoundError."""
    import os

    from pi_service.sampling import hardware

    monkeypatch.chdir(tmp_path)
    assert hardware.lgpio_folder() == str(tmp_path)  # writable: stays
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == "." else real_access(path, mode))
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    moved = hardware.lgpio_folder()
    assert os.getcwd() == moved != str(tmp_path) and "treadmill-companion-lgpio-" in moved
    os.rmdir(moved)
