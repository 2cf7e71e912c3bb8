"""Each of the sampler's jobs on its own: the page's commands, the alerts the page shows, the
session log, the responses (nudges, answers), and the snapshot's JSON."""

import json
import logging
import multiprocessing

import pytest

from pi_service.actions.nudges import PATTERNS
from pi_service.actions.responses import Responses
from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.sample import Sample
from pi_service.sampling.alerts import RECENT_EVENTS, AlertBoard
from pi_service.sampling.commands import CommandInbox
from pi_service.sampling.session_log import SESSION_SAVE_EVERY_S, SessionLog
from pi_service.sampling.snapshot import SnapshotMaker
from pi_service.sampling.stats import LoopStats
from tests.conftest import make_config


def start(kind, t=10.0, channel=None):
    return Event(t, kind, "start", f"{kind} now", "warning", {"channel": channel} if channel else {})


def end(kind, t=20.0, channel=None):
    return Event(t, kind, "end", f"{kind} over", "info", {"channel": channel} if channel else {})


# The page's commands


def test_commands_are_carried_out_in_order_and_a_bad_one_is_logged_and_skipped(caplog):
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    for command in [("snooze", "rail_lean", 60), ("acknowledge",), ("acknowledge", "speed_jump", "x"),
                    ("stop_ramp", "", 0)]:
        send.send(command)
    done = []
    inbox = CommandInbox(receive)
    with caplog.at_level(logging.WARNING):
        inbox.take(lambda *args: done.append(args), 5.0)
    assert done == [("snooze", "rail_lean", 60.0, 5.0), ("stop_ramp", "", 0.0, 5.0)]
    assert caplog.text.count("ignored a bad command") == 2
    send.close()
    inbox.take(lambda *args: done.append(args), 6.0)
    assert inbox.pipe is None and len(done) == 2  # the web process is gone: nothing more to poll


def test_a_command_the_sampler_refuses_is_logged_not_raised(caplog):
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    send.send(("snooze", "no_such_kind", 60))

    def refuse(name, kind, seconds, now):
        raise ValueError(f"unknown kind {kind!r}")

    with caplog.at_level(logging.WARNING):
        CommandInbox(receive).take(refuse, 1.0)
    assert "unknown kind 'no_such_kind'" in caplog.text


# The alerts the page shows


def test_alerts_start_and_end_per_kind_and_channel_and_an_action_is_only_an_event():
    board = AlertBoard()
    board.add(start("sensor_fault", channel="rail_left"))
    board.add(start("sensor_fault", channel="incline"))
    board.add(start("steep_incline", t=12.0))
    board.add(Event(13.0, "incline_ramp", "start", "ramping", "info", {"target_pct": 4.0}))
    assert set(board.active) == {("sensor_fault", "rail_left"), ("sensor_fault", "incline"), ("steep_incline", None)}
    assert board.since("steep_incline") == 12.0 and board.since("rail_lean") is None
    assert board.faulty_channels() == {"rail_left", "incline"}
    board.add(end("sensor_fault", channel="incline"))
    assert board.faulty_channels() == {"rail_left"}
    assert [e["kind"] for e in board.recent] == ["sensor_fault"] * 2 + ["steep_incline", "incline_ramp", "sensor_fault"]
    assert json.loads(board.active_json) == list(board.active.values())
    assert json.loads(board.recent_json) == board.recent


def test_the_recent_events_keep_the_last_twenty():
    board = AlertBoard()
    for i in range(RECENT_EVENTS + 5):
        board.add(Event(float(i), "speed_jump", "instant", "jump"))
    assert [e["t"] for e in board.recent] == [float(i) for i in range(5, RECENT_EVENTS + 5)]


# The session log


class History:
    def __init__(self):
        self.sessions, self.events, self.records = [], [], []
        self.error = None

    def record(self, started_t, values):
        self.records.append((started_t, values))

    def session(self, summary, finished=False):
        self.sessions.append(summary)
        self.finished = [*getattr(self, "finished", []), summary] if finished else getattr(self, "finished", [])

    def event(self, event):
        self.events.append(event)


def test_a_session_is_saved_as_it_goes_and_when_it_ends():
    config = make_config("[rules]\nsession_end_s = 10\n")
    engine, history = RuleEngine(config), History()
    log = SessionLog(config, history)
    t = 0.0
    while t < 30.0:  # 20 s walking, then 10 s stopped
        sample = Sample(t, 1.5 if t < 20 else 0.0, 0.0, 0.0, 0.0)
        engine.update(sample)
        log.follow(engine, sample)
        t = round(t + 0.1, 1)
    while t < 31.0:
        sample = Sample(t, 0.0, 0.0, 0.0, 0.0)
        engine.update(sample)
        log.follow(engine, sample)
        t = round(t + 0.1, 1)
    running = [s for s in history.sessions if s["ended_t"] is None]
    # Saved while it runs: until the stop has lasted session_end_s, 30 s in all.
    assert len(running) == pytest.approx(30 / SESSION_SAVE_EVERY_S, abs=1)
    assert all(b["started_t"] == running[0]["started_t"] for b in running)
    finished = history.sessions[-1]
    assert history.finished == [finished]  # the one sent to MQTT's <base>/session: once, ended
    assert finished["ended_t"] is not None and finished["distance_m"] == pytest.approx(1.5 * 20, rel=0.05)
    assert engine.ended == []  # taken
    # A reading a second of the session, from its start until it ended (the history drops
    # the seconds past its end), each with the distance so far.
    seconds = [values[0] for _, values in history.records]
    assert [int(t_s) for t_s in seconds] == list(range(len(seconds))) and len(seconds) == pytest.approx(30, abs=1)
    assert history.records[20][1][-1] == pytest.approx(1.5 * 20, rel=0.05)


def test_every_event_goes_to_the_history_and_only_a_rules_to_the_summary():
    config = make_config("")
    history = History()
    log = SessionLog(config, history)
    log.summary.start(0.0)
    log.event(start("rail_hold", t=1.0))
    log.event(Event(2.0, "incline_ramp", "start", "ramping", "info"))
    assert [e.kind for e in history.events] == ["rail_hold", "incline_ramp"]
    assert set(log.summary.current.to_dict()["rules"]) == {"rail_hold"}


# The responses: nudges and answers


class Buzzer:
    def __init__(self):
        self.played, self.stopped = [], 0

    def play(self, pattern):
        self.played.append(pattern)

    def stop(self):
        self.stopped += 1


def test_a_rules_event_is_nudged_with_its_pattern_and_an_actions_is_not():
    buzzer = Buzzer()
    responses = Responses(make_config(""), buzzer)
    responses.on_event(start("rail_lean"), 10.0)
    responses.on_event(Event(11.0, "incline_ramp", "start", "ramping", "info"), 11.0)
    assert buzzer.played == [PATTERNS["rail_lean"]]


def test_answers_snooze_and_acknowledge_silence_the_buzzer_and_nonsense_is_refused():
    buzzer = Buzzer()
    responses = Responses(make_config(""), buzzer)
    assert responses.answer("snooze", "rail_lean", 600, 5.0) == []
    assert responses.nudges.status(5.0)["rail_lean"]["snoozed_s"] == pytest.approx(600)
    responses.answer("acknowledge", "steep_incline", 0, 5.0)
    assert buzzer.stopped == 2
    with pytest.raises(ValueError, match="unknown kind"):
        responses.answer("snooze", "lean_harder", 60, 5.0)
    with pytest.raises(ValueError, match="unknown command"):
        responses.answer("louder", "rail_lean", 60, 5.0)
    assert responses.answer("stop_ramp", "", 0, 5.0) == []  # no console: no ramp to stop
    assert responses.watch_console(5.0, 3.0, AlertBoard()) == [] and responses.ramp_status() is None


# The snapshot


class Belt:
    pulses, glitches = 7, 1


class SensorsStub:
    belt = Belt()

    def footstrike_figures(self):
        return None

    def faults(self):
        return []

    def device_errors(self):
        return {"ADS1115": 2}


def test_the_spliced_snapshot_json_is_the_snapshot_serialised_whole():
    config = make_config("")
    history = History()
    history.error = "disk full"
    maker = SnapshotMaker(config, LoopStats(), SensorsStub(), "normal scheduling", history=history)
    board, responses = AlertBoard(), Responses(config)
    board.add(start("rail_hold", t=1.0))
    board.add(Event(2.0, "speed_jump", "instant", "jump", "warning", {"rise_kmh": 3.1}))
    sample = Sample(3.0, 1.5, 2.0, 10.0, None)
    whole = maker.make(sample, None, board, responses)
    assert json.loads(maker.json(sample, None, board, responses)) == whole
    assert whole["faults"] == [{"channel": "history", "device": "disk", "reason": "disk full", "since_t": 3.0}]
    assert whole["loop"]["started_t"] == 3.0 and whole["loop"]["belt_pulses"] == 7
    assert [a["kind"] for a in whole["alerts"]] == ["rail_hold"] and len(whole["events"]) == 2
