"""The snapshot board: the sampling process writes its latest snapshot, the web process reads it.

Shared memory in two slots, each with its own sequence lock, so the writer never waits for
a reader and a reader never waits for the writer. The writer fills the slot it did not
fill last (sequence odd while writing, even when whole), then names it the latest. A
reader copies the latest slot and keeps the copy only if that slot's sequence was even and
unchanged around the copy and its CRC matches (the CRC also guards against weakly ordered
memory on ARM); if the writer has meanwhile started on that slot again, the other slot
holds a whole snapshot one publish newer. Only a reader preempted for two whole publishes
has to try again.

The same board carries the sampler's rule state for a restarted sampler
(`sampling/carry_over.py`): `publish_bytes` and `read_bytes` move any payload.
"""

from __future__ import annotations

import json
import multiprocessing
import struct
import time
import zlib

_LATEST = struct.Struct("<Q")  # how many snapshots were published; the latest is in slot (latest % 2)
_SLOT = struct.Struct("<QII")  # per slot: its sequence, the payload's length and CRC-32
SIZE = 128 * 1024  # both slots and the header
READ_WAIT_S = 0.05  # how long a read goes on trying while the writer laps it


class SnapshotBoard:
    def __init__(self, ctx=None, size: int = SIZE, buffer=None):
        ctx = ctx or multiprocessing.get_context("spawn")
        self.size = size
        self.buffer = buffer if buffer is not None else ctx.RawArray("B", size)
        self._view = memoryview(self.buffer).cast("B")
        self._slot_size = (size - _LATEST.size) // 2
        self.capacity = self._slot_size - _SLOT.size  # the largest payload
        (self._published,) = _LATEST.unpack_from(self._view, 0)  # a restarted writer goes on counting
        self._last_read: bytes | None = None  # this reader's last whole payload
        self._last_json: tuple[bytes, dict] | None = None

    def __getstate__(self):
        return {"size": self.size, "buffer": self.buffer}

    def __setstate__(self, state):
        self.__init__(size=state["size"], buffer=state["buffer"])

    def _slot(self, index: int) -> int:
        return _LATEST.size + index * self._slot_size

    def publish(self, snapshot: dict) -> None:
        self.publish_bytes(json.dumps(snapshot, separators=(",", ":")).encode())

    def publish_json(self, payload: bytes) -> None:
        """Publish a snapshot already serialised as a JSON object."""
        self.publish_bytes(payload)

    def publish_bytes(self, payload: bytes) -> None:
        if len(payload) > self.capacity:
            raise ValueError(f"a payload of {len(payload)} bytes does not fit the board ({self.capacity})")
        view = self._view
        number = self._published + 1
        base = self._slot(number % 2)
        (sequence, _, _) = _SLOT.unpack_from(view, base)
        sequence += 1 + sequence % 2  # odd: writing (from even; a writer killed mid-write left it odd)
        _SLOT.pack_into(view, base, sequence, 0, 0)
        view[base + _SLOT.size:base + _SLOT.size + len(payload)] = payload
        _SLOT.pack_into(view, base, sequence + 1, len(payload), zlib.crc32(payload))  # even: whole
        _LATEST.pack_into(view, 0, number)  # and last: it is the latest
        self._published = number

    def _copy(self, index: int) -> bytes | None:
        """Slot `index`'s payload if it is whole, else None."""
        view, base = self._view, self._slot(index)
        sequence, length, crc = _SLOT.unpack_from(view, base)
        if sequence % 2 or not length:
            return None
        payload = bytes(view[base + _SLOT.size:base + _SLOT.size + length])
        (again, _, _) = _SLOT.unpack_from(view, base)
        if again != sequence or zlib.crc32(payload) != crc:
            return None
        return payload

    def read_bytes(self, wait_s: float = READ_WAIT_S) -> bytes | None:
        """The latest whole payload, or None if nothing has been published yet.

        A writer stuck mid-write for longer than `wait_s` (it cannot be: it lapped this reader
        or died mid-write, twice) gives the last payload this reader saw, whose age says so."""
        deadline = None
        while True:
            (latest,) = _LATEST.unpack_from(self._view, 0)
            if latest == 0:
                return None
            payload = self._copy(latest % 2)
            if payload is None:
                payload = self._copy((latest + 1) % 2)  # the writer is on the latest's slot again: the newer one
            if payload is not None:
                self._last_read = payload
                return payload
            now = time.monotonic()
            if deadline is None:
                deadline = now + wait_s
            elif now >= deadline:
                return self._last_read
            time.sleep(0.0002)

    def read(self, wait_s: float = READ_WAIT_S) -> dict | None:
        """The latest snapshot as a dict (None before the first); see `read_bytes`."""
        payload = self.read_bytes(wait_s)
        if payload is None:
            return None
        cached = self._last_json
        if cached is not None and cached[0] is payload:
            return cached[1]
        try:
            snapshot = json.loads(payload)
        except ValueError:
            return None if cached is None else cached[1]  # torn in a way the CRC missed: what was seen last
        self._last_json = (payload, snapshot)
        return snapshot
