"""`replay`: run the rules over a recording (spec 5.3) faster than real time.

Prints one JSON object per event per line on stdout and nothing else. A malformed file
stops with one line naming the line and column; nothing is printed for it on stdout
past the events already found.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Iterator, TextIO

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.sample import Sample
from pi_service.errors import CompanionError
from pi_service.recording import HEADER

COLUMNS = HEADER.split(",")


class RecordingError(CompanionError):
    """The recording is not in the format of spec 5.3."""


def read_samples(file: TextIO, source: str) -> Iterator[Sample]:
    """Samples from a recording, checked as they are read."""
    reader = csv.reader(file)
    try:
        header = next(reader)
    except StopIteration:
        raise RecordingError(f"{source}: empty file: expected the header {HEADER}") from None
    except csv.Error as exc:
        raise RecordingError(f"{source}:1: {exc}") from None
    if [name.strip().lstrip("\ufeff") for name in header[:5]] != COLUMNS:
        raise RecordingError(f"{source}:1: header must begin {HEADER} (got {','.join(header[:5])})")
    last_t = float("-inf")
    line = 1
    try:
        for line, row in enumerate(reader, start=2):
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


def replay(samples: Iterator[Sample], config: Config) -> Iterator[Event]:
    engine = RuleEngine(config)
    update = engine.update
    for sample in samples:
        yield from update(sample)


def replay_file(path: str, config: Config, out: TextIO = sys.stdout) -> int:
    """Replay `path` (or "-" for stdin) and write the event lines to `out`; the number of events."""
    count = 0
    try:
        file = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        lines = []
        for event in replay(read_samples(file, path), config):
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
