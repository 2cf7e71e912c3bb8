"""`replay`: run the rules over a recording (spec 5.3) faster than real time.

Prints one JSON object per event per line on stdout and nothing else. A malformed file
stops with one line naming the line and column; nothing is printed for it on stdout
past the events already found.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Iterable, Iterator, TextIO

import numpy as np

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.fastforward import FastForward
from pi_service.core.sample import Sample
from pi_service.errors import CompanionError
from pi_service.recording import HEADER

COLUMNS = HEADER.split(",")
INF = float("inf")
BLOCK_BYTES = 4 << 20  # rows parsed at once: about 100,000 samples


class RecordingError(CompanionError):
    """The recording is not in the format of spec 5.3."""


def read_header(file: TextIO, source: str) -> None:
    """Check the header line, leaving `file` at the first row."""
    first = file.readline()
    if not first:
        raise RecordingError(f"{source}: empty file: expected the header {HEADER}")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error as exc:
        raise RecordingError(f"{source}:1: {exc}") from None
    if [name.strip().lstrip("\ufeff") for name in header[:5]] != COLUMNS:
        raise RecordingError(f"{source}:1: header must begin {HEADER} (got {','.join(header[:5])})")


def read_rows(lines: Iterable[str], source: str, first_line: int = 2, last_t: float = -INF) -> Iterator[Sample]:
    """Samples from the rows of a recording, checked as they are read."""
    line = first_line - 1
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
            except ValueError:
                raise _bad_value(source, line, row) from None
            if t < last_t or t != t:
                raise RecordingError(f"{source}:{line}: column t_s: {row[0]} is earlier than the row before "
                                     f"({last_t:g}); samples must be in time order")
            last_t = t
            yield Sample(t, speed, incline, left, right)
    except csv.Error as exc:
        raise RecordingError(f"{source}:{line + 1}: {exc}") from None


def read_samples(file: TextIO, source: str) -> Iterator[Sample]:
    """Samples from a recording, checked as they are read."""
    read_header(file, source)
    yield from read_rows(file, source)


# Rows a block parse takes as they are: numbers, commas, empty fields, line ends. Anything
# else (quotes, "nan", a comment, a stray letter) goes the careful way, row by row, which
# also names the line and column of a mistake.
_PLAIN = re.compile(r"[^0-9.,+\-eE \t\r\n]")


def parse_block(lines: list[str], last_t: float) -> tuple[np.ndarray, ...] | None:
    """Columns t, speed, incline, left, right (NaN for empty) of whole rows, or None if
    the rows need the careful reader: anything unusual, wrong or out of time order."""
    text = "".join(lines)
    if _PLAIN.search(text):
        return None
    text = text.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n").replace(",\r\n", ",nan\r\n")
    if text.endswith(","):
        text += "nan"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(io.StringIO(text), delimiter=",", usecols=range(5), ndmin=2,
                               comments=None, dtype=np.float64)
    except (ValueError, UserWarning):
        return None
    if table.shape[0] != len(lines):
        return None  # loadtxt skipped blank lines: let the row reader count the lines
    t = table[:, 0]
    if np.isnan(t).any() or t[0] < last_t or (len(t) > 1 and (np.diff(t) < 0).any()):
        return None
    return tuple(np.ascontiguousarray(table[:, column]) for column in range(5))


def _bad_value(source: str, line: int, row: list[str]) -> RecordingError:
    for column, (name, text) in enumerate(zip(COLUMNS, row), start=1):
        if column > 1 and not text:
            continue
        try:
            value = float(text)
        except ValueError:
            return RecordingError(f"{source}:{line}: column {column} ({name}): {text!r} is not a number")
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
    read_header(file, source)
    engine = RuleEngine(config)
    fast = FastForward(engine)
    line, last_t = 2, -INF
    while lines := file.readlines(BLOCK_BYTES):
        block = parse_block(lines, last_t)
        if block is None:
            fast.handover()
            update = engine.update
            for sample in read_rows(itertools.chain(lines, file), source, line, last_t):
                yield from update(sample)
            return
        yield from fast.feed(*block)
        line += len(lines)
        last_t = float(block[0][-1])


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
            lines.append(json.dumps(event.to_dict(), separators=(", ", ": ")))
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
        file.write(HEADER + "\n")
        for i in range(rows):
            t = i / rate_hz
            phase = (t % 1200) / 1200
            speed = 0.0 if phase < 0.02 else (1.4 if phase < 0.3 else 2.2)
            incline = 12.0 if 0.4 < phase < 0.9 else 1.0
            rail = 45.0 if 0.32 < phase < 0.34 else 1.0
            file.write(f"{t:.4f},{speed * (1 + 0.01 * math.sin(t * 10)):.4f},{incline + rng.gauss(0, 0.1):.3f},"
                       f"{rail + rng.gauss(0, 1):.2f},{rail + rng.gauss(0, 1):.2f}\n")
    return rows
