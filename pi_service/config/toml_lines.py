"""Where each key of a TOML file is written: tomllib gives values but no positions, and every
config error must name its line.

`key_lines` scans text that tomllib has accepted and maps each key path, as pydantic reports
it (tables, dotted keys, inline tables, array elements and `[[array]]` tables by index), to the
line where it is first written. The scan is a loop with an explicit stack, never recursion, so
no nesting tomllib can read is too deep for it.
"""

from __future__ import annotations

import bisect
import re
import tomllib

Path = tuple[str, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_SPACE = " \t"
_SCALAR_END = re.compile(r"[,\]}#\n]")


def key_lines(text: str) -> dict[Path, int]:
    """Each key path of `text` (array indexes as strings) -> its 1-based line; a table or an
    implicit parent table -> the first line that names it."""
    scan = _Scan(text)
    scan.run()
    return scan.lines


def line_of(text: str, path: list[str]) -> int | None:
    """The line of `path`, or of its longest written parent (a missing key: its table's line)."""
    lines = key_lines(text)
    for length in range(len(path), 0, -1):
        line = lines.get(tuple(path[:length]))
        if line is not None:
            return line
    return None


def failing_line(text: str, error: type[Exception]) -> int | None:
    """The first line at which tomllib fails with `error` (not a TOMLDecodeError, which names its
    line itself: nesting too deep for its recursion, an integer too long for Python): the
    shortest run of lines from the top that fails so, found by bisection."""
    lines = text.split("\n")

    def fails(count: int) -> bool:
        try:
            tomllib.loads("\n".join(lines[:count]))
        except error:
            return True
        except Exception:
            return False
        return False

    if not fails(len(lines)):
        return None
    low, high = 1, len(lines)
    while low < high:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
    return low


class _Scan:
    def __init__(self, text: str):
        self.text = text
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.lines: dict[Path, int] = {}
        self.arrays: dict[Path, int] = {}  # an [[array]] table's path -> its last index
        # Open arrays and inline tables, innermost last: [kind, path, next element index].
        self.stack: list[list] = []

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def note(self, path: Path, pos: int) -> None:
        line = self.line_at(pos)
        for length in range(1, len(path) + 1):
            self.lines.setdefault(path[:length], line)

    def run(self) -> None:
        text, i, table = self.text, 0, ()
        while i < len(text):
            c = text[i]
            if c in " \t\r\n":
                i += 1
            elif c == "#":
                end = text.find("\n", i)
                i = len(text) if end < 0 else end
            elif not self.stack and c == "[":
                table, i = self.header(i)
            elif not self.stack:
                i = self.key_value(table, i)
            else:
                frame = self.stack[-1]
                if c == ",":
                    if frame[0] == "array":
                        frame[2] += 1
                    i += 1
                elif c in "]}":
                    self.stack.pop()
                    i += 1
                elif frame[0] == "inline":
                    i = self.key_value(frame[1], i)
                else:
                    path = frame[1] + (str(frame[2]),)
                    self.note(path, i)
                    i = self.value(path, i)

    def header(self, i: int) -> tuple[Path, int]:
        """A `[table]` or `[[array]]` header at `i`: the table's path, the position after it."""
        start, double = i, self.text.startswith("[[", i)
        parts, i = self.key(i + (2 if double else 1))
        i = self.text.index("]", i) + (2 if double else 1)
        path: Path = ()
        for depth, part in enumerate(parts, start=1):
            path += (part,)
            if path in self.arrays and not (double and depth == len(parts)):
                path += (str(self.arrays[path]),)  # a sub-table of the array's latest element
        if double:
            self.arrays[path] = self.arrays.get(path, -1) + 1
            path += (str(self.arrays[path]),)
        self.note(path, start)
        return path, i

    def key_value(self, table: Path, i: int) -> int:
        start = i
        parts, i = self.key(i)
        path = table + tuple(parts)
        self.note(path, start)
        i = self.text.index("=", i) + 1
        while i < len(self.text) and self.text[i] in _SPACE:
            i += 1
        return self.value(path, i)

    def key(self, i: int) -> tuple[list[str], int]:
        """A dotted key at `i` (bare or quoted parts): its parts and the position after it."""
        text, parts = self.text, []
        while True:
            while text[i] in _SPACE:
                i += 1
            if text[i] in "\"'":
                end = self.skip_string(i)
                raw = text[i:end]
                parts.append(tomllib.loads(f"k = {raw}")["k"] if raw[0] == '"' else raw[1:-1])
                i = end
            else:
                match = _BARE_KEY.match(text, i)
                parts.append(match.group())
                i = match.end()
            while i < len(text) and text[i] in _SPACE:
                i += 1
            if i < len(text) and text[i] == ".":
                i += 1
                continue
            return parts, i

    def value(self, path: Path, i: int) -> int:
        """Step over the value at `i`, or open the array or inline table it begins."""
        c = self.text[i]
        if c in "\"'":
            return self.skip_string(i)
        if c in "[{":
            self.stack.append(["array" if c == "[" else "inline", path, 0])
            return i + 1
        end = _SCALAR_END.search(self.text, i)
        return len(self.text) if end is None else end.start()

    def skip_string(self, i: int) -> int:
        """The position after the string that begins at `i` (any of TOML's four kinds)."""
        text, quote = self.text, self.text[i]
        if text.startswith(quote * 3, i):
            j = i + 3
            while not text.startswith(quote * 3, j):
                j += 2 if quote == '"' and text[j] == "\\" else 1
            end = j + 3
            while end < len(text) and text[end] == quote and end - j < 5:
                end += 1  # up to two quotes of the content may sit against the closing three
            return end
        j = i + 1
        while text[j] != quote:
            j += 2 if quote == '"' and text[j] == "\\" else 1
        return j + 1
