"""The snapshot board: the sampling process writes its latest snapshot, the web process reads it.

Shared memory in two slots, each with its own sequence lock, so the writer never waits for
a reader and a reader never waits for the writer. The writer fills the slot it did not
fill last: its sequence odd while writing, then the payload, its length, CRC and publish
number, then the sequence even again. A reader takes the whole slot (sequence even and
unchanged around the copy, CRC matching: the CRC also guards against weakly ordered memory
on ARM) with the higher publish number, and never goes back to a number lower than one it
has returned. If the writer has meanwhile started on that slot again, the other one is
whole. Only a reader preempted for two whole publishes has to try again.

Every field is stored with one slice assignment of its bytes (a memcpy): `struct.pack_into`
zero-fills its target before it writes, so a reader could see a sequence of 0, which is
"even", for a moment.

The same board carries the sampler's rule state for a restarted sampler
(`sampling/carry_over.py`): `publish_bytes` and `read_bytes` move any payload.
"""

from __future__ import annotations

import json
import multiprocessing
import struct
import time
import zlib

_SLOT = struct.Struct("<QQII")  # per slot: its sequence, publish number, the payload's length and CRC-32
_CHECK = struct.Struct("<QII")  # the fields after the sequence, written together
SIZE = 128 * 1024  # both slots
READ_WAIT_S = 0.05  # how long a read goes on trying while the writer laps it


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


class SnapshotBoard:
    def __init__(self, ctx=None, size: int = SIZE, buffer=None):
        ctx = ctx or multiprocessing.get_context("spawn")
        self.size = size
        self.buffer = buffer if buffer is not None else ctx.RawArray("B", size)
        self._view = memoryview(self.buffer).cast("B")
        self._slot_size = size // 2
        self.capacity = self._slot_size - _SLOT.size  # the largest payload
        # A restarted writer (a new process on the same memory) goes on counting.
        self._published = max(_SLOT.unpack_from(self._view, self._slot(i))[1] for i in (0, 1))
        self._last_read: tuple[int, bytes] | None = None  # this reader's last whole payload and its number
        self._last_json: tuple[bytes, dict] | None = None

    def __getstate__(self):
        return {"size": self.size, "buffer": self.buffer}

    def __setstate__(self, state):
        self.__init__(size=state["size"], buffer=state["buffer"])

    def _slot(self, index: int) -> int:
        return index * self._slot_size

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
        (sequence,) = struct.unpack_from("<Q", view, base)
        sequence += 1 + sequence % 2  # odd: writing (from even; a writer killed mid-write left it odd)
        view[base:base + 8] = _u64(sequence)
        view[base + _SLOT.size:base + _SLOT.size + len(payload)] = payload
        view[base + 8:base + _SLOT.size] = _CHECK.pack(number, len(payload), zlib.crc32(payload))
        view[base:base + 8] = _u64(sequence + 1)  # even, and last: whole
        self._published = number

    def _copy(self, index: int) -> tuple[int, bytes] | None:
        """Slot `index`'s publish number and payload if it is whole, else None."""
        view, base = self._view, self._slot(index)
        sequence, number, length, crc = _SLOT.unpack_from(view, base)
        if sequence % 2 or not number or length > self.capacity:
            return None
        payload = bytes(view[base + _SLOT.size:base + _SLOT.size + length])
        (again,) = struct.unpack_from("<Q", view, base)
        if again != sequence or zlib.crc32(payload) != crc:
            return None
        return number, payload

    def _newest(self) -> tuple[int, bytes] | None:
        """The whole slot with the higher publish number, trying that one first."""
        numbers = [struct.unpack_from("<Q", self._view, self._slot(i) + 8)[0] for i in (0, 1)]
        first = 0 if numbers[0] >= numbers[1] else 1
        return self._copy(first) or self._copy(1 - first)

    def read_bytes(self, wait_s: float = READ_WAIT_S) -> bytes | None:
        """The latest whole payload, or None if nothing has been published yet.

        A writer stuck mid-write for longer than `wait_s` (it cannot be: it lapped this reader
        or died mid-write, twice) gives the last payload this reader saw, whose age says so."""
        deadline = None
        while True:
            newest = self._newest()
            if newest is not None:
                if self._last_read is not None and newest[0] < self._last_read[0]:
                    return self._last_read[1]  # an older slot, read as the writer lapped us: keep the newer
                self._last_read = newest
                return newest[1]
            if self._last_read is None and not any(
                    struct.unpack_from("<Q", self._view, self._slot(i))[0] for i in (0, 1)):
                return None  # nothing was ever published
            now = time.monotonic()
            if deadline is None:
                if wait_s <= 0:
                    return None if self._last_read is None else self._last_read[1]
                deadline = now + wait_s
            elif now >= deadline:
                return None if self._last_read is None else self._last_read[1]
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
