"""The snapshot board: the sampling process writes its latest snapshot, the web process reads it.

Shared memory with a sequence lock, so the writer never waits for a reader: it bumps
the sequence to odd, writes, bumps it to even. A reader copies the bytes and keeps them
only if the sequence was even and unchanged around the copy and the payload's CRC
matches (the CRC also guards against weakly ordered memory on ARM).
"""

from __future__ import annotations

import json
import multiprocessing
import struct
import time
import zlib

_SEQUENCE = struct.Struct("<Q")
_CHECK = struct.Struct("<II")  # payload length, payload CRC-32, right after the sequence
_HEADER_SIZE = _SEQUENCE.size + _CHECK.size
SIZE = 64 * 1024
READ_WAIT_S = 0.05  # how long a read waits for a write in progress to finish


class SnapshotBoard:
    def __init__(self, ctx=None, size: int = SIZE, buffer=None):
        ctx = ctx or multiprocessing.get_context("spawn")
        self.size = size
        self.buffer = buffer if buffer is not None else ctx.RawArray("B", size)
        self._view = memoryview(self.buffer).cast("B")
        self._sequence = 0
        self._last_read: dict | None = None  # this reader's last whole snapshot

    def __getstate__(self):
        return {"size": self.size, "buffer": self.buffer}

    def __setstate__(self, state):
        self.__init__(size=state["size"], buffer=state["buffer"])

    def publish(self, snapshot: dict) -> None:
        self.publish_json(json.dumps(snapshot, separators=(",", ":")).encode())

    def publish_json(self, payload: bytes) -> None:
        """Publish a snapshot already serialised as a JSON object."""
        if len(payload) > self.size - _HEADER_SIZE:
            raise ValueError(f"snapshot of {len(payload)} bytes does not fit the board")
        view = self._view
        self._sequence += 1
        _SEQUENCE.pack_into(view, 0, self._sequence)  # odd: writing
        view[_HEADER_SIZE:_HEADER_SIZE + len(payload)] = payload
        _CHECK.pack_into(view, _SEQUENCE.size, len(payload), zlib.crc32(payload))
        self._sequence += 1
        _SEQUENCE.pack_into(view, 0, self._sequence)  # even, and last: the snapshot is whole

    def read(self, wait_s: float = READ_WAIT_S) -> dict | None:
        """The latest snapshot, or None if nothing has been published yet.

        A read that meets a write in progress tries again, yielding the CPU between tries so
        that a writer preempted mid-write (a slow core, the web process's own threads) can
        finish, for up to `wait_s`. A writer stuck for longer than that is a stalled loop:
        the last snapshot this reader saw is returned, whose age says so."""
        view = self._view
        deadline = None
        while True:
            (sequence,) = _SEQUENCE.unpack_from(view, 0)
            if sequence == 0:
                return None
            if sequence % 2 == 0:
                length, crc = _CHECK.unpack_from(view, _SEQUENCE.size)
                payload = bytes(view[_HEADER_SIZE:_HEADER_SIZE + length])
                (again,) = _SEQUENCE.unpack_from(view, 0)
                if again == sequence and length and zlib.crc32(payload) == crc:
                    try:
                        self._last_read = json.loads(payload)
                        return self._last_read
                    except ValueError:
                        pass  # torn in a way the CRC missed: read again
            now = time.monotonic()
            if deadline is None:
                deadline = now + wait_s
            elif now >= deadline:
                return self._last_read
            time.sleep(0.0002)
