"""Recordings: calibrated samples as CSV in the format of spec 5.3.

`t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,cadence_spm,footstrike_g`, one row per
sample, an empty field for a channel with no valid value (the two footstrike columns are the
optional ones of 5.3: empty when footstrikes are off). The writer never blocks the sampling
loop: the loop appends rows to a list, and a thread swaps the list out and writes it twice a second.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pi_service.core.sample import Sample
from pi_service.errors import CompanionError

FIXED_COLUMNS = ("t_s", "speed_mps", "incline_pct", "rail_left_n", "rail_right_n")  # every recording begins so
FOOTSTRIKE_COLUMNS = ("cadence_spm", "footstrike_g")  # optional (5.3): `replay` reads them by name
HEADER = ",".join(FIXED_COLUMNS + FOOTSTRIKE_COLUMNS)  # what `--record` writes
FLUSH_EVERY_S = 0.5
MAX_BACKLOG = 500 * 60  # a minute at the highest rate; beyond it the disk is not keeping up


# Decimals kept per column, in HEADER's order: 0.1 ms, 0.1 mm/s, 0.001 %, 0.01 N, 0.1 spm, 0.001 g.
DIGITS = (4, 4, 3, 2, 2, 1, 3)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _values(sample: Sample) -> tuple[float | None, ...]:
    return (sample.t, sample.speed_mps, sample.incline_pct, sample.rail_left_n, sample.rail_right_n,
            sample.cadence_spm, sample.footstrike_g)


def quantize(sample: Sample) -> Sample:
    """The sample as its recorded row will read back, so live rules and `replay` see the same numbers."""
    return Sample(*(_round(value, digits) for value, digits in zip(_values(sample), DIGITS)))


def _field(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def format_row(sample: Sample) -> str:
    return ",".join(_field(value, digits) for value, digits in zip(_values(sample), DIGITS))


def refuse_to_overwrite(path: str | Path) -> None:
    """A CompanionError if `path` is a file already: a recording is a workout that cannot be
    had again, so `run --record` replaces one only when told to (`--force`)."""
    if Path(path).is_file():
        raise CompanionError(f"{path}: a file is already there (an earlier recording?): "
                             "choose another name, or add --force to overwrite it")


def create_recording(path: str | Path) -> None:
    """Create the file with its header, so a bad path fails before the daemon starts."""
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(HEADER + "\n")
    except OSError as exc:
        raise CompanionError(f"{path}: cannot write the recording: {exc.strerror}") from None


class RecordingWriter:
    """Appends samples to a recording created by `create_recording`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.dropped = 0
        self.error: str | None = None
        self._rows: list[Sample] = []
        self._stop = threading.Event()
        self._file = open(self.path, "a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def add(self, sample: Sample) -> None:
        """Queue one sample (called from the sampling loop: a list append, no I/O)."""
        if len(self._rows) >= MAX_BACKLOG:
            self.dropped += 1
            return
        self._rows.append(sample)

    def _write_batch(self) -> None:
        rows, self._rows = self._rows, []  # a swap the GIL makes atomic
        if not rows:
            return
        try:
            self._file.write("".join(format_row(row) + "\n" for row in rows))
            self._file.flush()
            self.error = None
        except OSError as exc:
            self.dropped += len(rows)
            self.error = f"recording to {self.path}: {exc.strerror}"

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            self._write_batch()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._write_batch()
        try:
            os.fsync(self._file.fileno())
        except OSError:
            pass  # a disk that fails was already reported by _write_batch
        self._file.close()
