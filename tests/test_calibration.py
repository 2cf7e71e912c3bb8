"""Calibration: the store (atomic, with history and undo), the procedures end to end on the
virtual treadmill, bad input, Ctrl-C, kills mid-write, and the daemon taking a new one."""

import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from pi_service.maintenance.calibrate import (CalibrationRejected, Rig, average, belt_from_speed, check_pulses_per_m,
                                  count_pulses, incline_span, incline_zero, rail_span, rail_zero)
from pi_service.maintenance.calibration import CalibrationError, CalibrationStore, CalibrationWatcher, apply
from pi_service.config import Config
from pi_service.drivers.adxl345 import grade_pct
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import ROOT

G = 9.80665


def rig(config=None, **truth):
    config = config or Config()
    treadmill = VirtualTreadmill(config, parse_scenario(Rig.STILL, "still"), **truth)
    return Rig(config, treadmill=treadmill)


def test_rails_calibration_finds_each_rails_true_zero_and_gain():
    truth = ((0.52, 580.0), (0.47, 610.0))
    r = rig(rail_truth=truth)
    try:
        zero = rail_zero(r, 1.0)
        left, _ = rail_span(r, "left", 10, zero["left"], 1.0)
        right, _ = rail_span(r, "right", 15, zero["right"], 1.0)
    finally:
        r.close()
    calibration = {"rails": {"left_zero_v": zero["left"].mean, "left_n_per_v": left,
                             "right_zero_v": zero["right"].mean, "right_n_per_v": right}}
    rails = apply(Config(), calibration).rails
    # The same raw signal a 100 N push makes now reads 100 N, where the config's values were off.
    for (true_zero, true_gain), zero_v, gain in ((truth[0], rails.left_zero_v, rails.left_n_per_v),
                                                 (truth[1], rails.right_zero_v, rails.right_n_per_v)):
        volts = true_zero + 100 / true_gain
        assert (volts - zero_v) * gain == pytest.approx(100, abs=2)
        assert abs((volts - 0.5) * 600 - 100) > 5  # the uncalibrated reading was wrong


def test_a_rail_that_reads_backwards_a_span_too_small_and_a_bad_load_are_rejected():
    r = rig(rail_truth=((0.5, 600.0), (0.5, -600.0)))
    try:
        zero = rail_zero(r, 0.5)
        with pytest.raises(CalibrationRejected, match="right rail reads backwards.*swap"):
            rail_span(r, "right", 10, zero["right"], 0.5)
        for kg in (0, -3):
            with pytest.raises(CalibrationRejected, match="more than 0 kg"):
                rail_span(r, "left", kg, zero["left"], 0.5)
    finally:
        r.close()
    r = rig(rail_truth=((0.5, 60000.0), (0.5, 600.0)))
    try:
        zero = rail_zero(r, 0.5)
        with pytest.raises(CalibrationRejected, match="left rail: 10 kg changed the reading by only.*full_scale_v"):
            rail_span(r, "left", 10, zero["left"], 0.5)
    finally:
        r.close()


def test_belt_calibration_at_a_known_speed_finds_the_roller_the_config_got_wrong():
    r = rig(roller_diameter_m=0.052)  # the config says 0.05 m
    try:
        r.run_belt(6.0)
        pulses = count_pulses(r, 5.0)
        ppm = check_pulses_per_m(belt_from_speed(pulses, 6.0, 5.0), r.config)
        assert ppm == pytest.approx(2 / (math.pi * 0.052), rel=0.03)
        # The sensor's speed with the new figure is the console's 6 km/h.
        measured = r.belt.speed_mps() * r.config.belt.effective_pulses_per_m() / ppm * 3.6
        assert measured == pytest.approx(6.0, abs=0.2)
    finally:
        r.close()


def test_a_belt_that_never_moves_is_rejected_with_what_to_check():
    r = rig()
    try:
        with pytest.raises(CalibrationRejected, match="only 0 belt pulses.*GPIO17"):
            count_pulses(r, 1.0)
    finally:
        r.close()


def test_incline_zero_and_span_on_a_tilted_sensor():
    r = rig(deck_zero_deg=1.5)  # the sensor is mounted 1.5 degrees nose-up
    try:
        zero = incline_zero(r, 1.0)
        # Within one step of the ADXL345 (3.9 mg, about 0.22 degrees): a still deck does not dither it.
        assert zero.mean == pytest.approx(1.5, abs=0.25)
        span = incline_span(r, 5.0, zero.mean, 1.0)
        assert 0.85 < span < 1.15
        # The stored calibration turns what the sensor reads into the incline the person gave,
        # where the uncalibrated reading was 2.5 points too high. (Read over the same second
        # the calibration averages: 20 quick reads of the vibrating deck scatter by 0.05 %.)
        pitch = average(r.pitch_deg, 1.0, "check").mean
        assert grade_pct(pitch, zero.mean, span) == pytest.approx(5.0, abs=0.1)
        assert grade_pct(pitch, 0.0, 1.0) > 7
        r.tilt(0.0)
        flat = average(r.pitch_deg, 1.0, "check").mean
        assert grade_pct(flat, zero.mean, span) == pytest.approx(0.0, abs=0.1)
    finally:
        r.close()


def test_the_store_keeps_history_undo_restores_and_a_broken_file_is_named(tmp_path):
    store = CalibrationStore(tmp_path)
    assert store.load() == {}
    store.save("rails", {"left_zero_v": 0.51, "left_n_per_v": 590.0})
    store.save("belt", {"pulses_per_m": 12.5})
    store.save("belt", {"pulses_per_m": 12.9})
    assert store.load()["belt"]["pulses_per_m"] == 12.9 and len(store.previous()) == 2
    assert store.undo()["belt"]["pulses_per_m"] == 12.5
    assert "belt" not in store.undo() and store.load()["rails"]["left_zero_v"] == 0.51
    store.undo()
    assert store.load() == {} and not store.path.exists()
    with pytest.raises(CalibrationError, match="none was ever made"):
        store.undo()
    store.path.write_text("{not json")
    with pytest.raises(CalibrationError, match=r"calibration.json: not a valid calibration.*undo"):
        store.load()
    store.path.write_text(json.dumps({"incline": {"span": 7.0}}))
    with pytest.raises(CalibrationError, match="not a valid calibration"):
        store.load()


WRITER = """
import sys
from pathlib import Path
from pi_service.maintenance.calibration import CalibrationStore
store = CalibrationStore(Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    i += 1
    store.save("belt", {"pulses_per_m": 10.0 + (i % 2)}, {"filler": "x" * 4000})
"""


def test_a_kill_at_any_moment_of_a_write_leaves_the_old_or_the_new_file(tmp_path):
    store = CalibrationStore(tmp_path)
    store.save("belt", {"pulses_per_m": 11.0})
    rng = random.Random(4)
    for _ in range(25):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.08))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        data = json.loads(store.path.read_text())  # whole, never torn
        assert data["belt"]["pulses_per_m"] in (10.0, 11.0)
        for kept in store.previous():
            json.loads(kept.read_text())
    for stale in tmp_path.glob(".calibration.json.*.tmp"):
        stale.unlink()  # what a kill can leave: a temporary, never the file; the next save removes them
    store.save("belt", {"pulses_per_m": 12.0})
    assert store.load()["belt"]["pulses_per_m"] == 12.0


def test_the_running_daemon_takes_a_new_calibration_without_a_restart(tmp_path):
    from pi_service.sampling.board import SnapshotBoard
    from pi_service.sampling.sampler import Sampler
    from pi_service.sampling.sensors import Sensors
    from pi_service.sampling.stats import LoopStats

    config = Config()
    treadmill = VirtualTreadmill(config, parse_scenario(Rig.STILL, "still"))
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    sampler = Sampler(config, sensors, SnapshotBoard(), LoopStats(), treadmill=treadmill)
    store = CalibrationStore(tmp_path)
    watcher = sampler.calibration = CalibrationWatcher(store, config, period_s=0.1)
    watcher.start()
    try:
        store.save("rails", {"left_zero_v": 0.4, "left_n_per_v": 500.0})
        store.save("belt", {"pulses_per_m": 20.0})
        deadline = time.monotonic() + 3
        while sensors.config.rails.left_zero_v != 0.4 and time.monotonic() < deadline:
            sampler.tick(time.monotonic())
            time.sleep(0.05)
        assert sensors.config.rails.left_zero_v == 0.4 and sensors._rail_maps[0] == (0.4, 500.0)
        assert sensors.belt.metres_per_pulse == pytest.approx(1 / 20.0)
    finally:
        watcher.close()
        sensors.close()


def cli(*args, state, timeout=90, stdin=None):
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    return subprocess.run([sys.executable, "-m", "pi_service", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, input=stdin)


def test_cli_calibrates_by_flags_shows_and_undoes(tmp_path):
    done = cli("calibrate", "rails", "--sim", "--left-kg", "10", "--right-kg", "12", "--seconds", "1", "--yes",
               "--json", state=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["saved"] == "rails" and result["values"]["left_n_per_v"] == pytest.approx(600, rel=0.02)
    assert result["file"] == str(tmp_path / "sim" / "calibration.json")  # the sim's own folder, never the real one
    assert not (tmp_path / "calibration.json").exists()
    assert json.loads(cli("calibrate", "show", "--json", state=tmp_path).stdout)["calibration"] == {}
    shown = json.loads(cli("calibrate", "show", "--sim", "--json", state=tmp_path).stdout)
    assert shown["calibration"]["rails"]["made_at"] and shown["in_force"]["rails"]["left_n_per_v"] != 600.0
    assert cli("calibrate", "undo", "--sim", state=tmp_path).returncode == 0
    assert json.loads(cli("calibrate", "show", "--sim", "--json", state=tmp_path).stdout)["calibration"] == {}


@pytest.mark.parametrize("args,message", [
    (("--left-kg", "ten", "--right-kg", "5"), "'ten' is not a valid float"),
    (("--left-kg", "0", "--right-kg", "5"), "0.0 is not in the range x>0"),
    (("--left-kg", "-2", "--right-kg", "5"), "is not in the range x>0"),
])
def test_cli_bad_weights_are_one_line_errors_and_nothing_is_written(tmp_path, args, message):
    done = cli("calibrate", "rails", "--sim", "--seconds", "0.5", "--yes", *args, state=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "calibration.json").exists() and not (tmp_path / "sim").exists()


def test_cli_a_rejected_measurement_exits_2_and_keeps_the_old_calibration(tmp_path):
    sim = tmp_path / "sim"
    CalibrationStore(sim).save("belt", {"pulses_per_m": 12.0})
    before = (sim / "calibration.json").read_text()
    done = cli("calibrate", "belt", "--sim", "--console-speed", "0.01", "--count-seconds", "5", "--yes",
               state=tmp_path)
    assert done.returncode == 2 and "belt pulses" in done.stderr and "Traceback" not in done.stderr
    assert (sim / "calibration.json").read_text() == before


def test_ctrl_c_mid_calibration_leaves_the_old_one_in_force_and_no_partial_file(tmp_path):
    sim = tmp_path / "sim"
    CalibrationStore(sim).save("rails", {"left_zero_v": 0.45})
    before = (sim / "calibration.json").read_text()
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "pi_service", "calibrate", "rails", "--sim", "--seconds", "3",
                                "--left-kg", "10", "--right-kg", "10", "--yes"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 130
    assert "Traceback" not in process.stderr.read()
    assert (sim / "calibration.json").read_text() == before
    assert sorted(p.name for p in sim.iterdir()) == ["calibration.json"]


def test_doctor_on_the_sim_passes_and_names_an_injected_fault(tmp_path):
    done = cli("doctor", "--sim", "--seconds", "1", "--json", state=tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"], done.stdout + done.stderr
    assert [c["check"] for c in report["checks"]] == ["config", "I2C bus", "ADS1115 (rails)", "ADXL345 (incline)",
                                                      "rails at rest", "belt pulses", "console link", "buzzer",
                                                      "sampling rate", "MQTT broker", "belt lubrication"]
    assert [c["result"] for c in report["checks"][-2:]] == ["skip", "pass"]  # MQTT off; a new belt
    for fault, check in (("adxl345-missing", "ADXL345 (incline)"), ("link-down", "console link")):
        done = cli("doctor", "--sim", "--seconds", "1", "--sim-fault", fault, state=tmp_path)
        assert done.returncode == 1
        assert f"FAIL {check}" in done.stdout and "hint:" in done.stdout
        assert "check(s) failed: " + check in done.stdout


def test_doctor_names_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sampling]\nrate_hz = 5000\n")
    done = cli("doctor", "--sim", "--config", str(bad), state=tmp_path)
    assert done.returncode == 1 and "FAIL config" in done.stdout and "rate_hz" in done.stdout


def test_a_calibration_that_does_not_fit_the_config_is_refused(tmp_path):
    from tests.conftest import make_config

    config = make_config("[belt]\nglitch_s = 0.004\n")
    store = CalibrationStore(tmp_path, config)
    with pytest.raises(CalibrationError, match="does not fit the config"):
        store.save("belt", {"pulses_per_m": 25.0})  # at 30 km/h its pulses would fall in the glitch filter
    assert not store.path.exists()
    store.save("belt", {"pulses_per_m": 13.0})
    assert apply(config, store.load()).belt.pulses_per_m == 13.0


def test_undo_follows_the_order_of_saving_not_the_clock(tmp_path, monkeypatch):
    import pi_service.maintenance.calibration as calibration

    store = CalibrationStore(tmp_path)
    stamps = iter(["2026-11-22T10:00:00+00:00", "2026-11-22T11:00:00+00:00", "2025-01-01T00:00:00+00:00"])
    monkeypatch.setattr(calibration, "now_iso", lambda: next(stamps))  # the clock steps back, as on a Pi
    for ppm in (12.0, 12.5, 13.0):
        store.save("belt", {"pulses_per_m": ppm})
    assert store.undo()["belt"]["pulses_per_m"] == 12.5
    assert store.undo()["belt"]["pulses_per_m"] == 12.0
