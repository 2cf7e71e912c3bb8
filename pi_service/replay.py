"""`replay`: run the rules over a recording (spec 5.3) faster than real time.

Prints one JSON object per event per line on stdout and nothing else: strict JSON, no
NaN or Infinity. A malformed file stops with one line naming the line and column; nothing
is printed for it on stdout past the events already found. The file is read in chunks and
no line may be longer than MAX_LINE, so a hostile file (/dev/zero, one 300 MB line) costs
a few megabytes, not all the memory there is.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, TextIO

import numpy as np

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.fastforward import FastForward
from pi_service.core.sample import Sample
from pi_service.errors import CompanionError
from pi_service.recording import FIXED_COLUMNS, FOOTSTRIKE_COLUMNS, HEADER

FIXED_HEADER = ",".join(FIXED_COLUMNS)
INF = float("inf")
BLOCK_BYTES = 4 << 20  # characters read (and rows parsed) at once: about 100,000 samples
MAX_LINE = 4096  # characters a line may take, its end included: a recording's row takes under 100


class RecordingError(CompanionError):
    """The recording is not in the format of spec 5.3."""


_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> tuple[list[str], str]:
    """The whole lines of `text`, ends kept (\\n, \\r\\n or \\r, as a file opened with
    newline="" reads them), and what follows the last line end."""
    if "\r" not in text:
        parts = text.split("\n")
        return [part + "\n" for part in parts[:-1]], parts[-1]
    lines, start = [], 0
    for end in _LINE_END.finditer(text):
        lines.append(text[start:end.end()])
        start = end.end()
    rest = text[start:]
    if not rest and lines and lines[-1].endswith("\r"):
        rest = lines.pop()  # the \n of its \r\n may open the next chunk
    return lines, rest


class LineReader:
    """The lines of a text file, none longer than MAX_LINE, read BLOCK_BYTES at a time: memory
    stays bounded whatever the file holds. An overlong line is a RecordingError naming it,
    raised once the lines before it have been handed out."""

    def __init__(self, file: TextIO, source: str):
        self.file, self.source = file, source
        self.lines_read = 0  # lines split off so far
        self._pending: list[str] = []
        self._rest = ""
        self._error: RecordingError | None = None
        self._eof = False

    def block(self) -> list[str]:
        """The next whole lines (about BLOCK_BYTES characters of them); [] at the end."""
        if self._pending:
            lines, self._pending = self._pending, []
            return lines
        lines: list[str] = []
        while not lines and self._error is None and not self._eof:
            chunk = self.file.read(BLOCK_BYTES)
            if chunk:
                lines, self._rest = split_lines(self._rest + chunk)
            else:
                self._eof = True
                lines, self._rest = ([self._rest] if self._rest else []), ""
            lines = self._check(lines)
        if not lines and self._error is not None:
            raise self._error
        return lines

    def _check(self, lines: list[str]) -> list[str]:
        """`lines` up to the first overlong one, which (or the unfinished rest) becomes the error."""
        bad = None
        if lines and max(map(len, lines)) > MAX_LINE:
            bad = next(i for i, line in enumerate(lines) if len(line) > MAX_LINE)
        elif len(self._rest) > MAX_LINE:
            bad = len(lines)
        if bad is not None:
            self._error = RecordingError(f"{self.source}:{self.lines_read + bad + 1}: line longer than "
                                         f"{MAX_LINE} characters: not a row of a recording")
            lines, self._rest = lines[:bad], ""
        self.lines_read += len(lines)
        return lines

    def readline(self) -> str:
        """The next line, "" at the end."""
        lines = self.block()
        if not lines:
            return ""
        self._pending = lines[1:]
        return lines[0]

    def __iter__(self) -> Iterator[str]:
        while lines := self.block():
            yield from lines


@dataclass(frozen=True)
class Layout:
    """A recording's columns, from its header: the fixed five first, then the optional
    footstrike columns wherever they stand after them (None: the recording has none).
    Any other column is ignored. A row may stop after the fixed five: the columns it leaves
    out are empty (unknown)."""

    names: tuple[str, ...] = FIXED_COLUMNS
    cadence: int | None = None  # the column of cadence_spm, counted from 0
    footstrike: int | None = None  # the column of footstrike_g

    @classmethod
    def of(cls, names: Iterable[str], source: str) -> "Layout":
        at: dict[str, int] = {}
        for column, name in enumerate(names):
            if name in FIXED_COLUMNS + FOOTSTRIKE_COLUMNS and name in at:
                raise RecordingError(f"{source}:1: column {column + 1}: {name} again (it is column {at[name] + 1})")
            at.setdefault(name, column)
        return cls(tuple(names), at.get("cadence_spm"), at.get("footstrike_g"))

    @property
    def read(self) -> tuple[int, ...]:
        """The columns `replay` reads, in the order their errors are reported."""
        return tuple(range(len(FIXED_COLUMNS))) + tuple(
            column for column in (self.cadence, self.footstrike) if column is not None)


def read_header(file: LineReader, source: str) -> Layout:
    """Check the header line and find the optional columns, leaving `file` at the first row."""
    first = file.readline()
    if not first:
        raise RecordingError(f"{source}: empty file: expected the header {HEADER}")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error as exc:
        raise RecordingError(f"{source}:1: {exc}") from None
    names = [name.strip() for name in header]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    if tuple(names[:5]) != FIXED_COLUMNS:
        raise RecordingError(f"{source}:1: header must begin {FIXED_HEADER} (got {','.join(header[:5])})")
    return Layout.of(names, source)


def _optional(row: list[str], column: int | None) -> float | None:
    """An optional column's value: None where the header has no such column, the field is
    empty or the row stops before it. ValueError if it is not a number."""
    if column is None or column >= len(row) or not row[column]:
        return None
    return float(row[column])


def read_rows(lines: Iterable[str], source: str, first_line: int = 2, last_t: float = -INF,
              layout: Layout = Layout()) -> Iterator[Sample]:
    """Samples from the rows of a recording, checked as they are read."""
    line = first_line - 1
    cadence_at, footstrike_at = layout.cadence, layout.footstrike
    try:
        for line, row in enumerate(csv.reader(lines), start=first_line):
            if len(row) < 5:
                if not row:
                    continue  # a blank line
                raise RecordingError(f"{source}:{line}: {len(row)} columns, expected at least 5")
            try:
                t = float(row[0])
                speed = float(row[1]) if row[1] else None
                incline = float(row[2]) if row[2] else None
                left = float(row[3]) if row[3] else None
                right = float(row[4]) if row[4] else None
                cadence = _optional(row, cadence_at)
                footstrike = _optional(row, footstrike_at)
            except ValueError:
                raise _bad_value(source, line, row, layout) from None
            if not math.isfinite(t):
                raise RecordingError(f"{source}:{line}: column t_s: {row[0]!r} is not a time "
                                     "(a finite number of seconds)")
            if t < last_t:
                raise RecordingError(f"{source}:{line}: column t_s: {row[0]} is earlier than the row before "
                                     f"({last_t:g}); samples must be in time order")
            last_t = t
            yield Sample(t, speed, incline, left, right, cadence, footstrike)
    except csv.Error as exc:
        raise RecordingError(f"{source}:{line + 1}: {exc}") from None


def read_samples(file: TextIO, source: str) -> Iterator[Sample]:
    """Samples from a recording, checked as they are read."""
    lines = LineReader(file, source)
    layout = read_header(lines, source)
    yield from read_rows(lines, source, layout=layout)


# Rows a block parse takes as they are: numbers, commas, empty fields, line ends. Anything
# else (quotes, "nan", a comment, a stray letter) goes the careful way, row by row, which
# also names the line and column of a mistake.
_PLAIN = re.compile(r"[^0-9.,+\-eE \t\r\n]")


def parse_block(lines: list[str], last_t: float, layout: Layout = Layout()) -> tuple[np.ndarray | None, ...] | None:
    """Columns t, speed, incline, left, right, cadence, footstrike (NaN for empty; the last
    two None for a recording without them, all NaN for rows that stop before them) of whole
    rows, or None if the rows need the careful reader: anything unusual, wrong, out of time
    order or of uneven width."""
    text = "".join(lines)
    if _PLAIN.search(text):
        return None
    text = text.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n").replace(",\r\n", ",nan\r\n")
    if text.endswith(","):
        text += "nan"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # Every column, not `usecols`: loadtxt then refuses rows of uneven width, so a row
            # that stops before an optional column goes the careful way instead of misreading.
            table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, comments=None, dtype=np.float64)
    except (ValueError, UserWarning):
        return None
    if table.shape[0] != len(lines) or table.shape[1] < 5:
        return None  # loadtxt skipped blank lines, or rows are short: let the row reader say where
    t = table[:, 0]
    if not np.isfinite(t).all() or t[0] < last_t or (len(t) > 1 and (np.diff(t) < 0).any()):
        return None
    fixed = tuple(np.ascontiguousarray(table[:, column]) for column in range(5))
    return fixed + tuple(_optional_column(table, column) for column in (layout.cadence, layout.footstrike))


def _optional_column(table: np.ndarray, column: int | None) -> np.ndarray | None:
    if column is None:
        return None
    if column >= table.shape[1]:
        return np.full(table.shape[0], np.nan)  # the rows stop before it: unknown
    return np.ascontiguousarray(table[:, column])


def _bad_value(source: str, line: int, row: list[str], layout: Layout) -> RecordingError:
    for column in layout.read:
        text = row[column] if column < len(row) else ""
        if column > 0 and not text:
            continue
        try:
            value = float(text)
        except ValueError:
            return RecordingError(f"{source}:{line}: column {column + 1} ({layout.names[column]}): "
                                  f"{text!r} is not a number")
        if value != value:
            break
    return RecordingError(f"{source}:{line}: column t_s: {row[0]!r} is not a time")


def replay(samples: Iterable[Sample], config: Config) -> Iterator[Event]:
    """The events of `samples`, fed to the rules one by one, as the daemon does."""
    engine = RuleEngine(config)
    update = engine.update
    for sample in samples:
        yield from update(sample)


def replay_lines(file: TextIO, source: str, config: Config) -> Iterator[Event]:
    """The events of a recording: blocks of plain rows fast-forwarded (see
    core/fastforward.py), and from the first block that is not plain, row by row."""
    reader = LineReader(file, source)
    layout = read_header(reader, source)
    engine = RuleEngine(config)
    fast = FastForward(engine)
    line, last_t = 2, -INF
    while lines := reader.block():
        block = parse_block(lines, last_t, layout)
        if block is None:
            fast.handover()
            update = engine.update
            for sample in read_rows(itertools.chain(lines, reader), source, line, last_t, layout):
                yield from update(sample)
            return
        t, speed, incline, left, right, cadence, footstrike = block
        yield from fast.feed(t, speed, incline, left, right, cadence=cadence, footstrike=footstrike)
        line += len(lines)
        last_t = float(block[0][-1])


def event_line(event: Event) -> str:
    """The event as one line of strict JSON: a value that is not finite is written as null."""
    fields = event.to_dict()
    try:
        return json.dumps(fields, separators=(", ", ": "), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(fields), separators=(", ", ": "), allow_nan=False)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def replay_file(path: str, config: Config, out: TextIO = sys.stdout) -> int:
    """Replay `path` (or "-" for stdin) and write the event lines to `out`; the number of events."""
    count = 0
    try:
        file = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        lines = []
        for event in replay_lines(file, path, config):
            lines.append(event_line(event))
            count += 1
            if len(lines) >= 256:
                out.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        if file is not sys.stdin:
            file.close()
    out.flush()
    return count


def write_synthetic(path: Path, seconds: float, rate_hz: float = 100.0) -> int:
    """A recording of a walker on a hill with noise, for benchmarks and tests; the row count."""
    import math
    import random

    rng = random.Random(1)
    rows = int(seconds * rate_hz)
    with open(path, "w", encoding="utf-8") as file:
        file.write(FIXED_HEADER + "\n")  # no footstrike columns: the footstrike rules stay silent
        for i in range(rows):
            t = i / rate_hz
            phase = (t % 1200) / 1200
            speed = 0.0 if phase < 0.02 else (1.4 if phase < 0.3 else 2.2)
            incline = 12.0 if 0.4 < phase < 0.9 else 1.0
            rail = 45.0 if 0.32 < phase < 0.34 else 1.0
            file.write(f"{t:.4f},{speed * (1 + 0.01 * math.sin(t * 10)):.4f},{incline + rng.gauss(0, 0.1):.3f},"
                       f"{rail + rng.gauss(0, 1):.2f},{rail + rng.gauss(0, 1):.2f}\n")
    return rows
