"""Session history in SQLite (WAL): sessions with their summaries, their events, and their
readings once a second (`records`: about 250 kB an hour of belt time).

Written by one thread off the sampling loop, committed about once a second, so a crash
or `kill -9` loses at most the last second or two. Times are stored as wall-clock ISO
strings (for people) and the monotonic `t` the rules use (to match recordings).
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pi_service.core.events import Event
from pi_service.storage import outbox
from pi_service.storage.usage import SCHEMA as USAGE_SCHEMA

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,          -- wall clock, ISO 8601 UTC
    ended_at TEXT,                     -- NULL while the session runs
    started_t REAL NOT NULL,           -- monotonic seconds, as in recordings
    duration_s REAL NOT NULL,
    distance_m REAL NOT NULL,
    steep_s REAL NOT NULL,             -- time at or above the steep grade
    max_speed_mps REAL NOT NULL,
    rules TEXT NOT NULL,               -- JSON: {kind: {"count": n, "seconds": s}}
    interrupted INTEGER NOT NULL DEFAULT 0, -- 1: the daemon died mid-session; ended at its last save
    cadence_avg_spm REAL               -- spm while walking, time-weighted; NULL: no footstrike felt
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER REFERENCES sessions(id),
    at TEXT NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, t);
CREATE TABLE IF NOT EXISTS records (  -- the session's readings at 1 Hz, for its page and its export
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t_s REAL NOT NULL,                 -- seconds from the session's start
    speed_mps REAL,                    -- NULL: the sensor gave no valid value
    incline_pct REAL,
    rail_left_n REAL,
    rail_right_n REAL,
    cadence_spm REAL,
    footstrike_g REAL,
    distance_m REAL NOT NULL,          -- the session's distance so far
    PRIMARY KEY (session_id, t_s)
) WITHOUT ROWID;
"""
RECORD_COLUMNS = ("t_s", "speed_mps", "incline_pct", "rail_left_n", "rail_right_n", "cadence_spm", "footstrike_g",
                  "distance_m")

# Columns added to `sessions` since its first version, in order: a history written before
# them gains them when it is opened (its old sessions read 0 and NULL).
ADDED_COLUMNS = (
    ("interrupted", "INTEGER NOT NULL DEFAULT 0"),  # sessions a crash left open
    ("cadence_avg_spm", "REAL"),  # footstrikes (issue 16)
    ("elevation_gain_m", "REAL"),  # the console's numbers (issue 17)
    ("energy_kcal", "REAL"),
)


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="seconds")


class History:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=2)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA + outbox.SCHEMA + USAGE_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(sessions)")}
        for name, declaration in ADDED_COLUMNS:
            if name not in columns:
                self.db.execute(f"ALTER TABLE sessions ADD COLUMN {name} {declaration}")
        self.db.commit()
        self.interrupted: list[int] = []  # the sessions close_interrupted closed

    def close_interrupted(self, keep_started_t: float | None = None) -> int | None:
        """Close the sessions a previous run left open (`kill -9`, a power cut) as interrupted,
        ending where they were last saved; all but the one that started at `keep_started_t`,
        which a restarted sampler goes on with. Returns that one's row id, if it is there:
        a sampler that stopped cleanly (a SIGTERM of its own) ended it, and it is opened again."""
        kept = None
        if keep_started_t is not None:
            row = self.db.execute("SELECT id FROM sessions WHERE started_t=? AND ended_at IS NOT NULL AND interrupted=0"
                                  " ORDER BY id DESC LIMIT 1", (keep_started_t,)).fetchone()
            if row is not None and not self.db.execute("SELECT 1 FROM sessions WHERE started_t=? AND ended_at IS NULL",
                                                       (keep_started_t,)).fetchone():
                self.db.execute("UPDATE sessions SET ended_at=NULL WHERE id=?", (row[0],))
        rows = self.db.execute("SELECT id, started_at, started_t, duration_s FROM sessions WHERE ended_at IS NULL")
        for row_id, started_at, started_t, duration_s in rows.fetchall():
            if keep_started_t is not None and started_t == keep_started_t:
                kept = row_id
                continue
            ended = datetime.fromisoformat(started_at).timestamp() + duration_s
            self.db.execute("UPDATE sessions SET ended_at=?, interrupted=1 WHERE id=?", (_iso(ended), row_id))
            self.interrupted.append(row_id)
            log.info("session %d was left open by a previous run: closed as interrupted", row_id)
        return kept

    def save_session(self, session_id: int | None, summary: dict, wall_offset: float) -> int:
        values = (_iso(summary["started_t"] + wall_offset),
                  None if summary["ended_t"] is None else _iso(summary["ended_t"] + wall_offset),
                  summary["started_t"], summary["duration_s"], summary["distance_m"], summary["steep_s"],
                  summary["max_speed_mps"], json.dumps(summary["rules"], sort_keys=True),
                  summary.get("cadence_avg_spm"), summary.get("elevation_gain_m"), summary.get("energy_kcal"))
        if session_id is None:
            cursor = self.db.execute(
                "INSERT INTO sessions (started_at, ended_at, started_t, duration_s, distance_m, steep_s,"
                " max_speed_mps, rules, cadence_avg_spm, elevation_gain_m, energy_kcal)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            return int(cursor.lastrowid)
        self.db.execute("UPDATE sessions SET started_at=?, ended_at=?, started_t=?, duration_s=?, distance_m=?,"
                        " steep_s=?, max_speed_mps=?, rules=?, cadence_avg_spm=?, elevation_gain_m=?, energy_kcal=?"
                        " WHERE id=?", (*values, session_id))
        if summary["ended_t"] is not None:
            # A session ends where the belt stopped, found only `session_end_s` later: the
            # seconds of standing still recorded meanwhile are not the session's.
            self.db.execute("DELETE FROM records WHERE session_id=? AND t_s > ?", (session_id, summary["duration_s"]))
        return session_id

    def add_record(self, session_id: int, values: tuple) -> None:
        """One second's readings, in RECORD_COLUMNS' order (a second written again replaces it)."""
        self.db.execute(f"INSERT OR REPLACE INTO records (session_id, {', '.join(RECORD_COLUMNS)})"
                        f" VALUES (?{', ?' * len(RECORD_COLUMNS)})", (session_id, *values))

    def next_event_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM events").fetchone()[0])

    def rewrite_times(self, wall_offset: float, session_ids: list[int], first_event_id: int) -> None:
        """Redo the wall-clock times of rows this run wrote from their monotonic times."""
        for row_id in session_ids:
            row = self.db.execute("SELECT started_t, duration_s, ended_at FROM sessions WHERE id=?", (row_id,)).fetchone()
            if row is not None:
                started_t, duration_s, ended_at = row
                self.db.execute("UPDATE sessions SET started_at=?, ended_at=? WHERE id=?",
                                (_iso(started_t + wall_offset),
                                 None if ended_at is None else _iso(started_t + duration_s + wall_offset), row_id))
        rows = self.db.execute("SELECT id, t FROM events WHERE id >= ?", (first_event_id,)).fetchall()
        self.db.executemany("UPDATE events SET at=? WHERE id=?", [(_iso(t + wall_offset), i) for i, t in rows])

    def add_event(self, session_id: int | None, event: Event, wall_offset: float) -> None:
        self.db.execute("INSERT INTO events (session_id, at, t, kind, phase, message, detail)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (session_id, _iso(event.t + wall_offset), event.t, event.kind, event.phase, event.message,
                         json.dumps(event.detail, sort_keys=True)))

    def session_out(self, session_id: int) -> dict | None:
        """The session's row as /api/sessions lists it (its `rules` decoded)."""
        cursor = self.db.execute("SELECT id, started_at, ended_at, duration_s, distance_m, steep_s, max_speed_mps,"
                                 " rules, interrupted, cadence_avg_spm, elevation_gain_m, energy_kcal"
                                 " FROM sessions WHERE id=?", (session_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        out = dict(zip([column[0] for column in cursor.description], row))
        return {**out, "rules": json.loads(out["rules"]), "interrupted": bool(out["interrupted"])}

    def queue_out(self, kind: str, payload: dict, limit: int) -> None:
        """A message for the MQTT publisher (storage/outbox.py), committed with the history."""
        dropped = outbox.put(self.db, kind, payload, limit)
        if dropped:
            log.warning("MQTT outbox full (%d): dropped the %d oldest unsent message(s)", limit, dropped)

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class HistoryWriter:
    """The sampling process's hand-off to the database: `put` never blocks the loop."""

    COMMIT_EVERY_S = 1.0
    CLOCK_STEP_S = 2.0  # the wall clock moving more than this against the monotonic one: a clock set

    def __init__(self, path: Path, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, resume_started_t: float | None = None,
                 outbox_max: int | None = None):
        """`resume_started_t`: the session a restarted sampler goes on with (its row is kept open
        and written on); every other session left open is closed as interrupted. `outbox_max`:
        MQTT is on; each event and finished session is queued for it too, at most this many."""
        self.path = path
        self._outbox_max = outbox_max
        self._resume_started_t = resume_started_t
        self.error: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        # Monotonic -> wall clock, read here rather than in the loop, and again for each row:
        # a Pi without a real-time clock starts with a stale time and is set by NTP minutes
        # later, perhaps mid-session. When it is, this run's rows are rewritten.
        self._wall, self._monotonic = wall, monotonic
        self._wall_offset = wall() - monotonic()
        self._thread = threading.Thread(target=self._run, name="history", daemon=True)
        self._thread.start()

    def session(self, summary: dict, finished: bool = False) -> None:
        """The session's summary so far; `finished`: it has ended (for MQTT's `<base>/session`)."""
        self._queue.put(("session", (summary, finished)))

    def event(self, event: Event) -> None:
        self._queue.put(("event", event))

    def record(self, started_t: float, values: tuple) -> None:
        """The readings of a second of the session that started at `started_t` (RECORD_COLUMNS)."""
        self._queue.put(("record", (started_t, values)))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=3)

    def _queue_session(self, history: History, row_id: int) -> None:
        if self._outbox_max is not None:
            out = history.session_out(row_id)
            if out is not None:
                history.queue_out("session", out, self._outbox_max)

    def _run(self) -> None:
        history = None
        session_ids: dict[float, int] = {}  # started_t -> row id
        current: int | None = None
        first_event_id: int | None = None  # this run's first event row
        left_open_closed = False  # the sessions a previous run left open: closed as interrupted
        last_commit = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.COMMIT_EVERY_S)
            except queue.Empty:
                item = "tick"
            try:
                if history is None:
                    history = History(self.path)
                    if first_event_id is None:
                        first_event_id = history.next_event_id()
                    if not left_open_closed:
                        kept = history.close_interrupted(self._resume_started_t)
                        if kept is not None:
                            session_ids[self._resume_started_t] = current = kept
                        for row_id in history.interrupted:
                            self._queue_session(history, row_id)
                        left_open_closed = True
                offset = self._wall() - self._monotonic()
                if abs(offset - self._wall_offset) > self.CLOCK_STEP_S:
                    log.info("the clock was set (%+.0f s): rewriting this run's history times", offset - self._wall_offset)
                    self._wall_offset = offset
                    history.rewrite_times(offset, list(session_ids.values()), first_event_id)
                if item is None:
                    history.commit()
                    history.close()
                    return
                if item != "tick":
                    kind, payload = item
                    if kind == "session":
                        summary, finished = payload
                        started = summary["started_t"]
                        current = history.save_session(session_ids.get(started), summary, self._wall_offset)
                        session_ids[started] = current
                        if finished:
                            self._queue_session(history, current)
                    elif kind == "record":
                        started, values = payload
                        row_id = session_ids.get(started)
                        if row_id is not None:  # its session's row is saved first; none if the disk failed
                            history.add_record(row_id, values)
                    else:
                        history.add_event(current, payload, self._wall_offset)
                        if self._outbox_max is not None:
                            history.queue_out("event", {**payload.to_dict(), "at": _iso(payload.t + self._wall_offset),
                                                        "session_id": current}, self._outbox_max)
                if time.monotonic() - last_commit >= self.COMMIT_EVERY_S:
                    history.commit()
                    last_commit = time.monotonic()
                self.error = None
            except (sqlite3.Error, OSError) as exc:
                # Disk full, read-only, gone: report it and keep the daemon (and its nudges) going.
                error = f"history {self.path}: {exc}"
                if error != self.error:
                    log.error("%s", error)
                self.error = error
                if history is not None:
                    try:
                        history.close()
                    except sqlite3.Error:
                        pass  # closing a connection whose disk failed may fail too
                history = None
                if item is None:
                    return
                time.sleep(self.COMMIT_EVERY_S)
