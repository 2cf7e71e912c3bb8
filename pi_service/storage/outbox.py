"""The MQTT outbox: events and finished sessions waiting for the broker, in the history's
SQLite file (so an event and its outbox row are committed together, by the history's
thread in the sampling process, and a restart or a `kill -9` loses no more of them than of
the history: the last second or so).

Bounded: beyond `limit` rows the oldest are deleted and counted (`dropped`), so a broker
gone for weeks costs a few megabytes, not the disk. Ids only grow (AUTOINCREMENT), and go
out with each message as `seq`: QoS 1 is at least once, so a consumer that must count every
event once drops a `seq` it has seen (a message whose PUBACK was lost is sent again).

The publisher (fleet/publisher.py, in the daemon's process) reads the rows in id order and
deletes each once the broker has acknowledged it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the message's `seq`
    kind TEXT NOT NULL,                    -- 'event' or 'session': the topic under the base
    payload TEXT NOT NULL                  -- JSON
);
CREATE TABLE IF NOT EXISTS outbox_dropped (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL                 -- rows deleted unsent because the outbox was full
);
"""
KINDS = ("event", "session")


def put(db: sqlite3.Connection, kind: str, payload: dict, limit: int) -> int:
    """Queue one message (in the caller's transaction); returns how many old ones it pushed out."""
    assert kind in KINDS
    db.execute("INSERT INTO outbox (kind, payload) VALUES (?, ?)", (kind, json.dumps(payload, separators=(",", ":"))))
    over = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - limit
    if over <= 0:
        return 0
    db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (over,))
    db.execute("INSERT INTO outbox_dropped (id, count) VALUES (1, ?) "
               "ON CONFLICT(id) DO UPDATE SET count = count + excluded.count", (over,))
    return over


class Outbox:
    """The publisher's side: read in order, delete what the broker has acknowledged."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=2)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Up to `limit` rows with ids above `last_id`, oldest first: (seq, kind, payload JSON)."""
        return self.db.execute("SELECT id, kind, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                               (last_id, limit)).fetchall()

    def remove(self, ids: list[int]) -> None:
        self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        self.db.commit()

    def waiting(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def dropped(self) -> int:
        row = self.db.execute("SELECT count FROM outbox_dropped WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        self.db.close()
