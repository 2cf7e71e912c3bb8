"""Sessions close on any stop (issue 17): SIGTERM and Ctrl-C of the daemon end the session
under way at its last sample, saved ended (not interrupted); the belt's 60 s still ends one;
a sampler stopped on its own and restarted by the daemon goes on with the same session."""

import os
import signal
import sqlite3
from datetime import datetime

import pytest

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.sample import Sample
from pi_service.sampling.session_log import SessionLog
from pi_service.storage.history import History, HistoryWriter
from tests.test_daemon import children, get, start
from tests.test_hostile_crashes import CLIMB, session_ticking, status, wait_for


def rows(state):
    db = sqlite3.connect(state / "sim" / "history.sqlite3")
    try:
        sessions = db.execute("SELECT id, started_at, ended_at, duration_s, interrupted, energy_kcal, elevation_gain_m"
                              " FROM sessions").fetchall()
        records = dict(db.execute("SELECT session_id, count(*) FROM records GROUP BY session_id").fetchall())
    finally:
        db.close()
    return sessions, records


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_stopping_the_daemon_ends_the_session_at_its_last_sample(tmp_path, how):
    (tmp_path / "climb.toml").write_text(CLIMB)
    state = tmp_path / "state"
    process, port, _ = start("--scenario", str(tmp_path / "climb.toml"), state=state)
    try:
        wait_for(lambda: (status(port) or {}).get("session"), 10)
        seen = wait_for(lambda: ((status(port) or {}).get("session") or {}).get("elapsed_s", 0) > 3
                        and status(port)["session"], 10)
    finally:
        if how == "sigterm":
            process.send_signal(signal.SIGTERM)  # systemctl stop
        else:
            os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
        code = process.wait(timeout=10)
    assert code == (0 if how == "sigterm" else 130), process.stderr.read()
    (session,), records = rows(state)
    row_id, started_at, ended_at, duration_s, interrupted, energy_kcal, elevation_gain_m = session
    assert ended_at is not None and not interrupted, session
    # The console numbers went on to the end: the page's last figures, then a little more.
    assert 0 < seen["energy_kcal"] <= energy_kcal and 0 < seen["elevation_gain_m"] <= elevation_gain_m
    assert duration_s >= seen["elapsed_s"] - 0.01  # its last sample, after the last one the page saw
    assert (datetime.fromisoformat(ended_at) - datetime.fromisoformat(started_at)).total_seconds() == \
        pytest.approx(duration_s, abs=1)
    assert records[row_id] == pytest.approx(duration_s, abs=2)  # a reading a second, up to the stop
    # The next start finds nothing left open: nothing is closed as interrupted.
    again, port, _ = start(state=state)
    try:
        code, page = get(port, "/api/sessions")
        assert code == 200 and page["total"] == 1 and not page["sessions"][0]["interrupted"]
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=10)


def test_a_sampler_stopped_on_its_own_and_restarted_goes_on_with_the_same_open_session(tmp_path):
    """A SIGTERM to the sampling process alone is a clean stop that saves the session ended;
    the daemon restarts the sampler, which takes up the session again: one row, open."""
    (tmp_path / "climb.toml").write_text(CLIMB)
    state = tmp_path / "state"
    process, port, _ = start("--scenario", str(tmp_path / "climb.toml"), state=state)
    try:
        wait_for(lambda: (status(port) or {}).get("session"), 10)
        before = status(port)
        started_t = before["t"] - before["session"]["elapsed_s"]
        (child,) = children(process.pid)
        os.kill(child, signal.SIGTERM)
        wait_for(lambda: (status(port) or {}).get("loop", {}).get("restarts") == 1, 15)
        after = wait_for(lambda: session_ticking(port), 5)
        assert abs(after["t"] - after["session"]["elapsed_s"] - started_t) < 0.05, "a new session began"

        def saved_open():
            code, page = get(port, "/api/sessions")
            return code == 200 and page["sessions"] and page["sessions"][0]["ended_at"] is None and page
        page = wait_for(saved_open, 10)
        assert page["total"] == 1 and not page["sessions"][0]["interrupted"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    (session,), _ = rows(state)
    assert session[2] is not None and not session[4]  # and ended at the daemon's own stop


def feed(log, engine, seconds, start_s=0.0, stop_at_s=None, rate_hz=10):
    for i in range(int(start_s * rate_hz), int(seconds * rate_hz) + 1):
        t = i / rate_hz
        sample = Sample(500.0 + t, 1.2 if stop_at_s is None or t < stop_at_s else 0.0, 2.0, 0.0, 0.0)
        events = engine.update(sample)
        log.follow(engine, sample)
        for event in events:
            log.event(event)


def test_the_belt_standing_for_60_s_ends_the_session_where_it_stopped(tmp_path):
    config = Config()
    writer = HistoryWriter(tmp_path / "history.sqlite3")
    engine, log = RuleEngine(config), SessionLog(config, writer)
    feed(log, engine, 100 + config.rules.session_end_s + 5, stop_at_s=100)
    assert engine.sessions.current is None
    writer.close()
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    ((ended_at, duration_s, interrupted, last_t_s),) = db.execute(
        "SELECT ended_at, duration_s, interrupted, (SELECT max(t_s) FROM records) FROM sessions").fetchall()
    assert ended_at is not None and not interrupted
    assert duration_s == pytest.approx(100, abs=0.2)
    assert last_t_s <= duration_s  # the minute of standing still is not kept as the session's readings


def test_a_sampler_going_on_with_a_session_records_its_seconds_once(tmp_path):
    config = Config()
    writer = HistoryWriter(tmp_path / "history.sqlite3")
    engine, log = RuleEngine(config), SessionLog(config, writer)
    feed(log, engine, 30.05)
    carried = SessionLog(config, writer)  # a restarted sampler, with the summary carried over
    carried.resume(log.summary)
    feed(carried, engine, 60, start_s=31.5)
    writer.close()
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    t_s = [row[0] for row in db.execute("SELECT t_s FROM records ORDER BY t_s")]
    assert len(t_s) == len({int(t) for t in t_s})  # no second twice
    assert int(t_s[-1]) == int(60 - (log.summary.current.started_t - 500.0))


def test_a_session_ended_by_a_clean_stop_is_opened_again_only_for_the_sampler_that_goes_on_with_it(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    summary = {"started_t": 100.0, "ended_t": 160.0, "duration_s": 60.0, "distance_m": 70.0, "steep_s": 0.0,
               "max_speed_mps": 1.2, "rules": {}}
    row = history.save_session(None, summary, wall_offset=1_700_000_000.0)
    assert history.close_interrupted(keep_started_t=None) is None  # a new daemon: it stays ended
    assert history.db.execute("SELECT ended_at IS NOT NULL FROM sessions").fetchone() == (1,)
    assert history.close_interrupted(keep_started_t=100.0) == row  # the restarted sampler's session
    assert history.db.execute("SELECT ended_at, interrupted FROM sessions").fetchone() == (None, 0)
    history.close()
