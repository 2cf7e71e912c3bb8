"""The rules live on the virtual treadmill: nudges on the buzzer pin, sessions in SQLite, and a
recording that replays to the same events the live run raised."""

import io
import json
import sqlite3
import threading
import time

import pytest

from pi_service.actions.nudges import PATTERNS
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.recording import RecordingWriter, create_recording
from pi_service.replay import replay_file
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from pi_service.storage.history import HistoryWriter
from tests.conftest import make_config

# Rule timings shortened so a whole session fits in a few seconds; the thresholds are the product's.
CONFIG = """
[rules]
session_end_s = 2
[rules.rail_lean]
session_grace_s = 1
hold_s = 1.5
[rules.unattended_belt]
hold_s = 4
[actions]
nudge_repeat_s = 5
"""
UNATTENDED_HOLD_S = 4.0

# Speeds change quickly (a console's quick keys), so a whole session fits in 20 s.
SCENARIO = """
name = "quick"
[[step]]
duration_s = 2.5
speed_kmh = 4
accel_kmh_s = 3
[[step]]
duration_s = 2.5
rail_left_n = 60
rail_right_n = 60
accel_kmh_s = 3
[[step]]
duration_s = 3
speed_kmh = 6.5
rail_left_n = 0
rail_right_n = 0
accel_kmh_s = 3
[[step]]
duration_s = 8
off_belt = true
note = "stepped onto the side rails"
[[step]]
duration_s = 4
note = "back on the belt"
[[step]]
duration_s = 2
speed_kmh = 10
accel_kmh_s = 5
[[step]]
duration_s = 8
speed_kmh = 0
accel_kmh_s = 5
"""


def test_live_run_nudges_stores_the_session_and_replays_to_the_same_events(tmp_path):
    config = make_config(CONFIG)
    treadmill = VirtualTreadmill(config, parse_scenario(SCENARIO, "quick"), noise=True, seed=3)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    buzzer = BuzzerDriver(treadmill.pin_factory, config.buzzer.gpio)
    recording = tmp_path / "live.csv"
    create_recording(recording)
    recorder = RecordingWriter(recording)
    history = HistoryWriter(tmp_path / "history.sqlite3")
    stats = LoopStats()
    sampler = Sampler(config, sensors, SnapshotBoard(), stats, recorder, treadmill, "test", buzzer, history)
    live_events = []
    tick = sampler.tick

    def tick_and_collect(t):
        before = len(sampler.alerts.recent)
        tick(t)
        live_events.extend(sampler.alerts.recent[before:] if len(sampler.alerts.recent) > before else [])

    seen_alerts = set()

    def watch():
        while not done.is_set():
            seen_alerts.update(a["kind"] for a in sampler.alerts.active.values())
            time.sleep(0.05)

    done = threading.Event()
    watcher = threading.Thread(target=watch)
    treadmill.pin_factory.pin(config.buzzer.gpio).clear_states()
    treadmill.start()
    watcher.start()
    end = time.monotonic() + 29.5
    try:
        FixedRateLoop(100, tick_and_collect, stats).run(lambda: time.monotonic() >= end)
    finally:
        done.set()
        watcher.join()
        treadmill.stop()
        recorder.close()
        history.close()
        buzzer.close()

    kinds = [(e["kind"], e["phase"]) for e in live_events]
    assert ("rail_lean", "start") in kinds and ("rail_lean", "end") in kinds
    assert ("speed_jump", "instant") in kinds
    assert ("abrupt_stop", "instant") in kinds
    assert "rail_lean" in seen_alerts

    # Stepping off: the cadence read 0 three seconds after the last footstrike, and the alarm
    # came the rule's hold later, then ended once the walker was back on the belt.
    assert ("unattended_belt", "start") in kinds and ("unattended_belt", "end") in kinds
    alarm = next(e for e in live_events if e["kind"] == "unattended_belt" and e["phase"] == "start")
    assert alarm["level"] == "alarm"
    last_step = max(strike.t for strike in treadmill.world.footstrikes_between(alarm["t"] - 30, alarm["t"]))
    assert alarm["t"] - last_step == pytest.approx(3.0 + UNATTENDED_HOLD_S, abs=0.3)
    assert "unattended_belt" in seen_alerts

    # The buzzer pin played the lean's three quick chirps.
    states = list(treadmill.pin_factory.pin(config.buzzer.gpio).states)
    on_times = [s.timestamp for s in states if not s.state and s.timestamp > 0]
    chirps = [d for d in on_times if 0.07 <= d <= 0.12]  # 80 ms, give or take a busy machine's wake-up
    assert len(chirps) >= len(PATTERNS["rail_lean"])
    # ... and during the alarm, its siren back to back: the 300 ms tones of round after round.
    alarm_end = next(e["t"] for e in live_events if e["kind"] == "unattended_belt" and e["phase"] == "end")
    siren_on = [d for d in on_times if 0.27 <= d <= 0.36]
    rounds = (alarm_end - alarm["t"]) / sum(on + off for on, off in PATTERNS["unattended_belt"])
    assert len(siren_on) >= 3 * int(rounds) >= 3

    # The session landed in SQLite, ended, with its rule counts.
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    (rules_json, ended_at, distance), = db.execute("SELECT rules, ended_at, distance_m FROM sessions").fetchall()
    rules = json.loads(rules_json)
    assert ended_at is not None and distance > 5
    assert rules["rail_lean"]["count"] == 1 and rules["rail_lean"]["seconds"] > 0.5
    assert rules["speed_jump"]["count"] >= 1
    stored = db.execute("SELECT kind, phase FROM events ORDER BY t").fetchall()
    assert ("abrupt_stop", "instant") in stored

    # The recording replays to exactly the events the live run raised.
    out = io.StringIO()
    replay_file(str(recording), config, out)
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["t"], e["kind"], e["phase"]) for e in replayed] == \
        [(e["t"], e["kind"], e["phase"]) for e in live_events]


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_every_kind_has_its_own_rhythm(kind):
    others = [pattern for other, pattern in PATTERNS.items() if other != kind]
    assert PATTERNS[kind] not in others


def test_snooze_and_acknowledge_reach_the_sampler_through_its_command_pipe():
    import multiprocessing

    config = make_config("")
    treadmill = VirtualTreadmill(config, parse_scenario("[[step]]\nduration_s = 100\n", "idle"), noise=False)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    receive, send = multiprocessing.Pipe(duplex=False)
    sampler = Sampler(config, sensors, SnapshotBoard(), LoopStats(), commands=receive)
    send.send(("snooze", "rail_lean", 600.0))
    send.send(("acknowledge", "steep_incline", 0.0))
    send.send(("launch", "rail_lean", 0.0))  # unknown: ignored, not fatal
    t = time.monotonic()
    sampler.tick(t)
    assert sampler.responses.nudges.status(t)["rail_lean"]["snoozed_s"] == pytest.approx(600, abs=0.1)
    send.close()
    sampler.tick(t + 0.01)  # the web process gone: the sampler carries on
    assert sampler.commands.pipe is None
    sensors.close()
