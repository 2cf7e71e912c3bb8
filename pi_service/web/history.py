"""`/api/sessions`: the session history, read-only from the SQLite file the sampler writes,
with each session's readings at 1 Hz (none for sessions of a history older than them)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from pi_service.storage.history import ADDED_COLUMNS, RECORD_COLUMNS

router = APIRouter()


class SessionOut(BaseModel):
    id: int
    started_at: str = Field(description="ISO 8601, UTC")
    ended_at: str | None = Field(description="null while the session runs")
    duration_s: float
    distance_m: float
    steep_s: float = Field(description="time at or above the steep grade (10 %)")
    max_speed_mps: float
    rules: dict[str, dict[str, float]] = Field(description="per rule kind: count and total seconds")
    interrupted: bool = Field(False, description="the daemon stopped mid-session (a crash, a power cut): "
                                                 "the session ends where it was last saved")
    cadence_avg_spm: float | None = Field(None, description="average cadence while the belt moved and someone "
                                                            "stepped on it, footstrikes per minute (time-weighted); "
                                                            "null when no footstrike was felt or sensed")
    elevation_gain_m: float | None = Field(None, description="metres climbed: belt distance times the grade, uphill "
                                                             "only; null for sessions saved before it was kept")
    energy_kcal: float | None = Field(None, description="calories while the belt moved (ACSM's equations, rail-support "
                                                        "corrected); null for sessions saved before it was kept")


class SessionPage(BaseModel):
    sessions: list[SessionOut]
    total: int
    limit: int
    offset: int


class StoredEvent(BaseModel):
    at: str
    t: float
    kind: str
    phase: str
    message: str
    detail: dict


class SessionRecord(BaseModel):
    t_s: float = Field(description="seconds from the session's start")
    speed_mps: float | None
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
    cadence_spm: float | None
    distance_m: float = Field(description="the session's distance so far")


class SessionDetail(BaseModel):
    session: SessionOut
    events: list[StoredEvent]
    records: list[SessionRecord] = Field(default_factory=list, description="the readings at 1 Hz, oldest first; "
                                         "empty for sessions saved before they were kept")


class WeekMinutes(BaseModel):
    week_start: str = Field(description="the Monday, ISO date")
    minutes: float


@contextmanager
def _history(request: Request):
    """The history, read-only, or None before the first session; always closed after. A
    history that cannot be read (a full or failing disk: SQLite cannot map its WAL index)
    is a 503 that says so, never a 500."""
    path = request.app.state.history_path
    if path is None or not path.exists():
        yield None
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)) as db:
            db.row_factory = sqlite3.Row
            yield db
    except sqlite3.Error as exc:
        raise HTTPException(503, f"the session history cannot be read just now: {exc}") from None


def _session(row: sqlite3.Row) -> SessionOut:
    return SessionOut(**{**dict(row), "rules": json.loads(row["rules"])})


def _columns(db: sqlite3.Connection) -> str:
    """The session columns to read: a history written before a column was added has none
    (storage/history.py's ADDED_COLUMNS; a read-only reader cannot add it), and reads its default."""
    have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
    return "id, started_at, ended_at, duration_s, distance_m, steep_s, max_speed_mps, rules" + "".join(
        f", {name}" for name, _ in ADDED_COLUMNS if name in have)


def read_records(db: sqlite3.Connection, session_id: int) -> list[dict]:
    """The session's readings at 1 Hz, oldest first, as dicts of RECORD_COLUMNS; none from a
    history written before the `records` table (a read-only reader cannot add it)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='records'").fetchone() is None:
        return []
    rows = db.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE session_id=? ORDER BY t_s",
                      (session_id,)).fetchall()
    return [dict(row) for row in rows]


def read_session(db: sqlite3.Connection | None, session_id: int) -> SessionOut | None:
    row = None if db is None else db.execute(f"SELECT {_columns(db)} FROM sessions WHERE id=?",
                                             (session_id,)).fetchone()
    return None if row is None else _session(row)


HISTORY_UNREADABLE = {503: {"description": "the history file cannot be read (a full or failing disk)"}}


@router.get("/api/sessions", response_model=SessionPage, summary="session history, newest first, paged",
            responses=HISTORY_UNREADABLE)
def sessions(request: Request, limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0, le=10**9)):
    with _history(request) as db:
        if db is None:
            return SessionPage(sessions=[], total=0, limit=limit, offset=offset)
        total = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        rows = db.execute(f"SELECT {_columns(db)} FROM sessions ORDER BY id DESC LIMIT ? OFFSET ?",
                          (limit, offset)).fetchall()
    return SessionPage(sessions=[_session(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/api/sessions/{session_id}", response_model=SessionDetail,
            summary="one session's summary, events and readings at 1 Hz",
            responses={404: {"description": "no such session"}, **HISTORY_UNREADABLE})
def session(request: Request, session_id: int = Path(ge=1, le=2**63 - 1)):
    with _history(request) as db:
        found = read_session(db, session_id)
        if found is None:
            raise HTTPException(404, f"no session {session_id}")
        events = db.execute("SELECT at, t, kind, phase, message, detail FROM events WHERE session_id=? ORDER BY t",
                            (session_id,)).fetchall()
        records = read_records(db, session_id)
    return SessionDetail(session=found,
                         events=[StoredEvent(**{**dict(e), "detail": json.loads(e["detail"])}) for e in events],
                         records=[SessionRecord(**record) for record in records])


@router.get("/api/weekly", response_model=list[WeekMinutes], summary="minutes on the treadmill per week, oldest first",
            responses=HISTORY_UNREADABLE)
def weekly(request: Request, weeks: int = Query(8, ge=1, le=104)):
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=i) for i in reversed(range(weeks))]
    minutes = {start: 0.0 for start in starts}
    with _history(request) as db:
        rows = [] if db is None else db.execute("SELECT started_at, duration_s FROM sessions WHERE started_at >= ?",
                                                (starts[0].isoformat(),)).fetchall()
    for started_at, duration in rows:
        day = datetime.fromisoformat(started_at).date()
        week = day - timedelta(days=day.weekday())
        if week in minutes:
            minutes[week] += duration / 60
    return [WeekMinutes(week_start=start.isoformat(), minutes=round(minutes[start], 1)) for start in starts]
