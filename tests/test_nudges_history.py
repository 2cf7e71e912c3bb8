import time
import pytest

from pi_service.actions.nudges import PATTERNS, NudgePolicy, escalated
from pi_service.config import Config
from pi_service.core.events import Event
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.storage.history import History, HistoryWriter
from pi_service.storage.state_folder import state_dir


def start(kind, t, **detail):
    return Event(t, kind, "start", "m", detail=detail)


def test_interval_nudges_at_once_then_at_most_once_a_minute_escalating():
    policy = NudgePolicy(repeat_s=60)
    first = policy.on_event(start("rail_lean", 10.0), 10.0)
    assert first.pattern == PATTERNS["rail_lean"] and first.level == 1
    assert policy.tick(50.0) == []
    (second,) = policy.tick(70.0)
    assert second.level == 2 and len(second.pattern) == 2 * len(PATTERNS["rail_lean"])
    (third,) = policy.tick(130.0)
    (fourth,) = policy.tick(190.0)
    assert third.level == 3 and fourth.level == 3  # capped
    policy.on_event(Event(200.0, "rail_lean", "end"), 200.0)
    assert policy.tick(400.0) == []


def test_instant_kind_repeats_at_most_once_a_minute():
    policy = NudgePolicy(repeat_s=60)
    assert policy.on_event(Event(5.0, "speed_jump", "instant"), 5.0) is not None
    assert policy.on_event(Event(20.0, "speed_jump", "instant"), 20.0) is None
    assert policy.on_event(Event(70.0, "speed_jump", "instant"), 70.0) is not None
    assert policy.tick(500.0) == []  # instants do not repeat by themselves


def test_snooze_silences_a_kind_until_its_time():
    policy = NudgePolicy(repeat_s=60)
    policy.snooze("rail_hold", until=600.0)
    assert policy.on_event(start("rail_hold", 10.0), 10.0) is None
    assert policy.tick(300.0) == []
    assert policy.status(300.0)["rail_hold"]["snoozed_s"] == 300.0
    # Raised during the snooze and still raised after it: nudged as soon as it is over.
    (nudge,) = policy.tick(600.0)
    assert nudge.kind == "rail_hold" and nudge.level == 1


def test_acknowledge_silences_until_the_interval_ends():
    policy = NudgePolicy(repeat_s=60)
    assert policy.on_event(start("steep_incline", 0.0), 0.0) is not None
    policy.acknowledge("steep_incline")
    assert policy.tick(100.0) == []
    policy.on_event(Event(150.0, "steep_incline", "end"), 150.0)
    assert policy.on_event(start("steep_incline", 400.0), 400.0) is not None


def test_escalation_repeats_the_rhythm_with_a_gap():
    twice = escalated(((0.1, 0.1), (0.2, 0.0)), 2)
    assert twice == ((0.1, 0.1), (0.2, 0.4), (0.1, 0.1), (0.2, 0.0))


def test_summary_counts_rules_and_time_steep():
    builder = SummaryBuilder(steep_pct=10)
    builder.start(0.0)
    for i in range(101):  # 10 s at 10 Hz, 2 m/s, 12 % for the first 5 s
        builder.add_sample(Sample(i * 0.1, 2.0, 12.0 if i < 50 else 3.0, 0.0, 0.0))
    builder.add_event(start("rail_lean", 2.0))
    builder.add_event(Event(6.0, "rail_lean", "end"))
    builder.add_event(Event(7.0, "speed_jump", "instant"))
    builder.add_event(start("sensor_fault", 8.0, channel="incline"))
    builder.add_event(start("unattended_belt", 8.5))
    builder.add_event(Event(9.5, "unattended_belt", "end"))
    builder.add_event(start("overstride", 9.0))
    summary = builder.finish(10.0).to_dict()
    assert summary["distance_m"] == pytest.approx(20.0)
    assert summary["steep_s"] == pytest.approx(5.0)
    assert summary["max_speed_mps"] == 2.0
    assert summary["rules"]["rail_lean"] == {"count": 1, "seconds": 4.0}
    assert summary["rules"]["speed_jump"] == {"count": 1, "seconds": 0.0}
    assert summary["rules"]["sensor_fault"] == {"count": 1, "seconds": 2.0}  # still raised at the end
    assert summary["rules"]["unattended_belt"] == {"count": 1, "seconds": 1.0}
    assert summary["rules"]["overstride"] == {"count": 1, "seconds": 1.0}
    assert summary["cadence_avg_spm"] is None  # samples without footstrike channels


def test_history_keeps_sessions_and_events_in_wal_mode(tmp_path):
    path = tmp_path / "history.sqlite3"
    writer = HistoryWriter(path)
    summary = {"started_t": 100.0, "ended_t": None, "duration_s": 5.0, "distance_m": 10.0, "steep_s": 0.0,
               "max_speed_mps": 2.0, "rules": {}}
    writer.session(summary)
    writer.event(Event(101.0, "speed_jump", "instant", "careful", detail={"rise_kmh": 3.0}))
    writer.session(dict(summary, ended_t=130.0, duration_s=30.0, rules={"speed_jump": {"count": 1, "seconds": 0}},
                        cadence_avg_spm=112.4))
    writer.close()
    history = History(path)
    assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    history.close()
    # Read back the way the page does: the web layer's read-only queries.
    from fastapi.testclient import TestClient

    from pi_service.config import Config
    from pi_service.web.app import create_app

    client = TestClient(create_app(None, Config(), hosts=["testserver"], folder=tmp_path))
    (session,) = client.get("/api/sessions").json()["sessions"]
    assert session["duration_s"] == 30.0 and session["ended_at"] is not None
    assert session["rules"] == {"speed_jump": {"count": 1, "seconds": 0}}
    assert session["cadence_avg_spm"] == 112.4
    (event,) = client.get(f"/api/sessions/{session['id']}").json()["events"]
    assert event["kind"] == "speed_jump" and event["detail"] == {"rise_kmh": 3.0}


def test_history_that_cannot_be_written_is_a_reported_error_not_a_crash(tmp_path):
    import time

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # a file where the state folder should be: fails even for root
    writer = HistoryWriter(blocker / "h.sqlite3")
    writer.event(Event(1.0, "speed_jump", "instant"))
    deadline = time.monotonic() + 3
    while writer.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.error is not None and writer.error.startswith("history ")
    writer.close()


def test_state_dir_prefers_config_then_systemd_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "sd"))
    assert state_dir(Config()) == tmp_path / "sd"
    assert state_dir(Config(state_dir=str(tmp_path / "c"))) == tmp_path / "c"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "x"))
    assert state_dir(Config()) == tmp_path / "x" / "treadmill-companion"


def test_sensor_fault_nudges_repeat_per_channel_and_one_ending_does_not_silence_another():
    policy = NudgePolicy(repeat_s=60)
    assert policy.on_event(start("sensor_fault", 0.0, channel="rail_left"), 0.0) is not None
    # Another channel's fault is its own nudge, not a repeat within the minute.
    assert policy.on_event(start("sensor_fault", 5.0, channel="incline"), 5.0) is not None
    policy.on_event(Event(30.0, "sensor_fault", "end", detail={"channel": "rail_left"}), 30.0)
    # The incline's fault is still raised: it keeps being nudged at its own pace.
    (nudge,) = policy.tick(65.0)
    assert nudge.kind == "sensor_fault" and nudge.level == 2
    assert policy.status(65.0)["sensor_fault"]["repeats"] == 2


def test_snooze_and_acknowledge_cover_every_channel_of_a_kind():
    policy = NudgePolicy(repeat_s=60)
    policy.on_event(start("sensor_fault", 0.0, channel="speed"), 0.0)
    policy.on_event(start("sensor_fault", 0.0, channel="incline"), 0.0)
    policy.snooze("sensor_fault", until=300.0)
    assert policy.tick(120.0) == []
    policy.acknowledge("sensor_fault")
    assert policy.tick(400.0) == [] and policy.answer("sensor_fault")[1]


def test_history_times_follow_a_clock_set_late_by_ntp(tmp_path):
    """A Pi without a real-time clock boots with a stale time and NTP sets it minutes later,
    perhaps mid-session: the rows written before are rewritten, the ones after are right."""
    import threading

    path = tmp_path / "history.sqlite3"
    mono = [1000.0]
    wall = [1_600_000_000.0]  # 2020: the stale clock (fake-hwclock's last saved time)
    lock = threading.Lock()

    def read(clock):
        with lock:
            return clock[0] + mono[0] - 1000.0 if clock is wall else clock[0]
    writer = HistoryWriter(path, wall=lambda: read(wall), monotonic=lambda: read(mono))
    summary = {"started_t": 1000.0, "ended_t": None, "duration_s": 0.0, "distance_m": 0.0, "steep_s": 0.0,
               "max_speed_mps": 2.0, "rules": {}}
    writer.session(summary)
    writer.event(Event(1010.0, "speed_jump", "instant", "careful"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _rows(path, "SELECT count(*) FROM events")[0][0]:
        time.sleep(0.05)
    with lock:  # NTP: the true time is 2026-12-01T12:00:00Z at monotonic 1000
        wall[0] = 1_796_126_400.0
        mono[0] = 1020.0
    writer.session(dict(summary, ended_t=1030.0, duration_s=30.0))
    writer.event(Event(1030.0, "abrupt_stop", "instant", "cool down"))
    writer.close()
    (session,) = _rows(path, "SELECT started_at, ended_at FROM sessions")
    assert session == ("2026-12-01T12:00:00+00:00", "2026-12-01T12:00:30+00:00")
    assert [at for (at,) in _rows(path, "SELECT at FROM events ORDER BY t")] == [
        "2026-12-01T12:00:10+00:00", "2026-12-01T12:00:30+00:00"]


def _rows(path, query):
    import sqlite3

    if not path.exists():
        return [(0,)]
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    except sqlite3.OperationalError:
        return [(0,)]
    finally:
        db.close()
