"""Sessions and rule state across crashes (issue 15): a sampler killed mid-session is
restarted and goes on with the same session and the same rule timers; a whole daemon killed
leaves its open session closed as interrupted when it comes back; a clean stop says nothing
alarming. Each case failed before: a restart split the workout and reset the steep streak,
sessions stayed "running" forever after kill -9, and a clean stop logged an ERROR."""

import os
import signal
import sqlite3
import time

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.sampling.alerts import AlertBoard
from pi_service.actions.nudges import NudgePolicy
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.carry_over import CarryOver, RuleState
from pi_service.storage.history import History
from tests.test_daemon import children, get, start, stop

HOLD_S = 10
STEEP = f"""
[rules.steep_incline]
hold_s = {HOLD_S}
"""
CLIMB = """
name = "climb"
[[step]]
duration_s = 600
speed_kmh = 4
incline_pct = 12
"""


def wait_for(what, deadline_s, every=0.05):
    """`what()`'s first truthy value, within `deadline_s`."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {deadline_s} s: {what.__doc__ or what}")


def status(port):
    code, body = get(port, "/api/status", timeout=2)
    return body if code == 200 else None


def session_ticking(port):
    """A status whose session clock moves: the restarted sampler's rules are fed again. (They
    start once every sensor has answered, sampling/start_up.py: until then the snapshot's
    session is the one carried over, its clock where the last sample left it.)"""
    first = (status(port) or {}).get("session")
    time.sleep(0.15)
    now = status(port) or {}
    return now if first and now.get("session") and now["session"]["elapsed_s"] > first["elapsed_s"] else None


def steep_start(port):
    """the steep_incline start event"""
    body = status(port)
    return body and next((e for e in body["events"] if e["kind"] == "steep_incline" and e["phase"] == "start"), None)


def test_a_sampler_killed_mid_session_goes_on_with_the_same_session_and_the_steep_streak(tmp_path):
    (tmp_path / "steep.toml").write_text(STEEP)
    (tmp_path / "climb.toml").write_text(CLIMB)
    state = tmp_path / "state"
    process, port, _ = start("--config", str(tmp_path / "steep.toml"), "--scenario", str(tmp_path / "climb.toml"),
                             state=state)
    try:
        session = wait_for(lambda: (status(port) or {}).get("session"), 10)
        started_t = status(port)["t"] - session["elapsed_s"]
        time.sleep(HOLD_S / 2)  # half-way up the streak, a session row saved
        assert steep_start(port) is None
        (child,) = children(process.pid)
        os.kill(child, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: get(port, "/healthz")[0] != 200, 3, every=0.01)
        wait_for(lambda: get(port, "/healthz")[0] == 200, 10)
        back_s = time.monotonic() - killed
        after = wait_for(lambda: session_ticking(port), 5)
        assert after["loop"]["restarts"] == 1
        assert abs((after["t"] - after["session"]["elapsed_s"]) - started_t) < 0.05, "a new session began"
        event = wait_for(lambda: steep_start(port), HOLD_S + 10)
        # The streak went on: raised HOLD_S after the climb began, not HOLD_S after the restart.
        raised_after = event["t"] - started_t
        assert raised_after < HOLD_S + 1.5, f"steep_incline {raised_after:.1f} s into the climb: the streak restarted"
        time.sleep(2.5)  # a session save
        code, page = get(port, "/api/sessions")
        assert code == 200 and page["total"] == 1, page
        (row,) = page["sessions"]
        assert row["ended_at"] is None and not row["interrupted"]
        assert row["rules"].get("steep_incline", {}).get("count") == 1
        assert row["duration_s"] > HOLD_S
    finally:
        stop(process)
    print(f"\nsampler back {back_s:.2f} s after kill -9; steep_incline raised {raised_after:.2f} s into the climb "
          f"(hold {HOLD_S} s); one session")


def test_a_daemon_killed_mid_session_leaves_it_closed_as_interrupted_at_the_next_start(tmp_path):
    (tmp_path / "climb.toml").write_text(CLIMB)
    state = tmp_path / "state"
    process, port, _ = start("--scenario", str(tmp_path / "climb.toml"), state=state)
    wait_for(lambda: (status(port) or {}).get("session"), 10)
    time.sleep(4.5)  # saved every 2 s
    os.killpg(process.pid, signal.SIGKILL)  # the daemon and its sampler, as a power cut would
    process.wait()
    db = sqlite3.connect(state / "sim" / "history.sqlite3")
    ((open_rows,),) = db.execute("SELECT count(*) FROM sessions WHERE ended_at IS NULL").fetchall()
    assert open_rows == 1  # what kill -9 leaves
    db.close()
    again, port, _ = start("--scenario", str(tmp_path / "climb.toml"), state=state)
    try:
        def two_sessions():
            code, page = get(port, "/api/sessions")
            return code == 200 and page["total"] == 2 and page
        page = wait_for(two_sessions, 15)
        new, old = page["sessions"]  # newest first
        assert old["interrupted"] and old["ended_at"] is not None and old["duration_s"] >= 2
        assert not new["interrupted"] and new["ended_at"] is None
    finally:
        stop(again)


def test_a_clean_stop_of_the_whole_unit_logs_no_error(tmp_path):
    """systemd stops a unit with SIGTERM to every process in it at once: the sampler may exit
    before the daemon knows it is stopping. That used to log ERROR "sampling process exited
    (code 0); restarting"."""
    process, port, _ = start(state=tmp_path / "state")
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGTERM)
    code = process.wait(timeout=10)
    log = process.stderr.read()
    assert code == 0, log
    assert "restarting" not in log and "ERROR" not in log.upper().replace("ERRORS", ""), log


def rule_state(t):
    config = Config()
    engine, summary = RuleEngine(config), SummaryBuilder(config.rules.steep_incline.grade_pct)
    engine.update(Sample(t, 1.2, 12.0, 0.0, 0.0))
    return RuleState(t, engine, summary, AlertBoard(), NudgePolicy())


def test_the_carried_state_is_taken_only_while_the_session_could_still_be_running():
    board = SnapshotBoard(size=64 * 1024)
    carry = CarryOver(board)
    assert carry.take(100.0, 60) is None  # nothing yet
    carry.save(rule_state(100.0))
    taken = carry.take(159.0, 60)
    assert taken is not None and taken.engine.sessions.moving.raw is True
    assert carry.take(161.0, 60) is None  # older than session_end_s: the session would have ended
    assert carry.take(99.0, 60) is None  # from the future: not this clock's
    assert carry.due(100.5, changed=True) and not carry.due(100.5, changed=False) and carry.due(101.0, False)


def test_sessions_left_open_are_closed_as_interrupted_but_the_one_carried_on(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    summary = {"started_t": 10.0, "ended_t": None, "duration_s": 30.0, "distance_m": 40.0, "steep_s": 0.0,
               "max_speed_mps": 1.2, "rules": {}}
    first = history.save_session(None, summary, wall_offset=1_700_000_000.0)
    second = history.save_session(None, dict(summary, started_t=100.0), wall_offset=1_700_000_000.0)
    assert history.close_interrupted(keep_started_t=100.0) == second
    rows = dict(history.db.execute("SELECT id, interrupted FROM sessions").fetchall())
    assert rows == {first: 1, second: 0}
    (ended_at,) = history.db.execute("SELECT ended_at FROM sessions WHERE id=?", (first,)).fetchone()
    assert ended_at == "2023-11-14T22:14:00+00:00"  # started 22:13:30 (1_700_000_010), + its 30 s
    history.close()


def test_a_history_on_a_full_disk_is_a_503_that_says_so_and_a_missing_session_leaks_no_connection(tmp_path):
    import subprocess

    from fastapi.testclient import TestClient

    from pi_service.web.app import create_app
    from tests.test_web_api import HOSTS, Source, make_history

    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    assert done.returncode == 0, f"a small tmpfs is needed (root): {done.stderr}"
    try:
        make_history(disk)  # written in WAL mode and closed: SQLite removed its -wal and -shm files
        client = TestClient(create_app(Source(), Config(), sim=True, hosts=HOSTS, folder=disk))
        with open(disk / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass  # full
        for path in ("/api/sessions", "/api/sessions/1", "/api/weekly"):
            response = client.get(path)
            # A reader needs the WAL index (-shm), which a full disk cannot hold.
            assert response.status_code == 503, (path, response.status_code, response.text)  # was a 500
            assert "history cannot be read" in response.json()["detail"]
        (disk / "filler").unlink()
        assert client.get("/api/sessions").status_code == 200
        open_before = len(os.listdir(f"/proc/{os.getpid()}/fd"))
        for _ in range(50):
            assert client.get("/api/sessions/999999").status_code == 404
        assert len(os.listdir(f"/proc/{os.getpid()}/fd")) <= open_before + 2, "the 404 path leaks connections"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_state_too_big_for_the_board_is_never_replaced_by_an_older_one():
    """A long speed-jump window at 200 Hz made the state outgrow the board: the save failed
    and a restart took up the last state that fitted, from long before."""
    board = SnapshotBoard(size=64 * 1024)
    carry = CarryOver(board)
    carry.save(rule_state(100.0))
    assert carry.take(101.0, 60) is not None
    big = rule_state(150.0)
    big.alerts.recent = [{"pad": f"{i:04d}" * 250} for i in range(100)]  # 100 KB: more than a slot holds
    carry.save(big)
    assert carry.take(155.0, 60) is None  # not the state from t=100
    assert not carry.due(160.0, changed=True)  # and not pickled again at every event...
    assert carry.due(150.0 + 61, changed=False)  # ...for a minute
