"""The treadmill's usage since the companion was installed (belt hours, distance, sessions),
and when its belt wants lubricating: read from the session history, so the counters survive
restarts with it and need no writer of their own. A lubrication is one row, written by
`treadmill-companion usage --lubricated`; the hint counts from the last one (or from the
first session) and is due at `[maintenance] lubricate_every_h` or `_every_km`, whichever
comes first.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pi_service.config import MaintenanceConfig

SCHEMA = """
CREATE TABLE IF NOT EXISTS lubrications (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                  -- wall clock, ISO 8601 UTC
    belt_s REAL NOT NULL,              -- the belt's running time then (sessions' durations)
    distance_m REAL NOT NULL           -- and its distance
);
"""


@dataclass(frozen=True)
class Usage:
    belt_hours: float
    distance_km: float
    sessions: int
    since: str | None                  # the first session's start (ISO), None before any
    lubricated_at: str | None          # the last lubrication recorded, None if none yet
    hours_since_lubrication: float
    km_since_lubrication: float
    lubrication_due: bool
    lubricate_every_h: float
    lubricate_every_km: float

    def to_dict(self) -> dict:
        return asdict(self)

    def hint(self) -> str | None:
        """One line for the page and `doctor` when the belt is due, else None."""
        if not self.lubrication_due:
            return None
        since = f"since {self.lubricated_at[:10]}" if self.lubricated_at else "since installation"
        return (f"belt lubrication due: {self.hours_since_lubrication:.1f} h and {self.km_since_lubrication:.0f} km "
                f"{since} (every {self.lubricate_every_h:g} h or {self.lubricate_every_km:g} km); lubricate it, then "
                f"run `treadmill-companion usage --lubricated`")


def _table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def usage_from(db: sqlite3.Connection, maintenance: MaintenanceConfig) -> Usage:
    belt_s = distance_m = 0.0
    sessions, since, lubricated = 0, None, None
    if _table(db, "sessions"):
        belt_s, distance_m, sessions, since = db.execute(
            "SELECT COALESCE(SUM(duration_s), 0), COALESCE(SUM(distance_m), 0), COUNT(*), MIN(started_at)"
            " FROM sessions").fetchone()
    if _table(db, "lubrications"):
        lubricated = db.execute("SELECT at, belt_s, distance_m FROM lubrications ORDER BY id DESC LIMIT 1").fetchone()
    lube_at, lube_s, lube_m = lubricated if lubricated is not None else (None, 0.0, 0.0)
    hours = max(0.0, belt_s - lube_s) / 3600
    km = max(0.0, distance_m - lube_m) / 1000
    return Usage(belt_hours=round(belt_s / 3600, 3), distance_km=round(distance_m / 1000, 3), sessions=int(sessions),
                 since=since, lubricated_at=lube_at, hours_since_lubrication=round(hours, 3),
                 km_since_lubrication=round(km, 3),
                 lubrication_due=hours >= maintenance.lubricate_every_h or km >= maintenance.lubricate_every_km,
                 lubricate_every_h=maintenance.lubricate_every_h, lubricate_every_km=maintenance.lubricate_every_km)


def read_usage(path: Path, maintenance: MaintenanceConfig) -> Usage:
    """The usage in the history at `path` (read-only); all zero before the first session."""
    if not path.exists():
        return usage_from(sqlite3.connect(":memory:"), maintenance)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)) as db:
        return usage_from(db, maintenance)


def record_lubrication(path: Path, maintenance: MaintenanceConfig) -> Usage:
    """The belt was lubricated now: the hint counts from here. Returns the usage after."""
    from pi_service.storage.history import History  # (creates the tables, as the daemon would)

    history = History(path)
    try:
        belt_s, distance_m = history.db.execute(
            "SELECT COALESCE(SUM(duration_s), 0), COALESCE(SUM(distance_m), 0) FROM sessions").fetchone()
        history.db.execute("INSERT INTO lubrications (at, belt_s, distance_m) VALUES (?, ?, ?)",
                           (datetime.now(timezone.utc).isoformat(timespec="seconds"), belt_s, distance_m))
        history.commit()
        return usage_from(history.db, maintenance)
    finally:
        history.close()


class UsageCache:
    """The web layer's usage: read from the history at most every `every_s`; a history that
    cannot be read keeps the last figures (or none)."""

    def __init__(self, path: Path, maintenance: MaintenanceConfig, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path, self.maintenance, self.every_s, self.clock = path, maintenance, every_s, clock
        self._usage: Usage | None = None
        self._read_t = float("-inf")

    def read(self) -> Usage | None:
        now = self.clock()
        if now - self._read_t >= self.every_s:
            self._read_t = now
            try:
                self._usage = read_usage(self.path, self.maintenance)
            except sqlite3.Error:
                pass  # a failing disk: the history's own fault says so; keep the last figures
        return self._usage
