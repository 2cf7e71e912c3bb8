"""The calibration in force: `<state folder>/calibration.json`, laid over the config.

Each section (rails, belt, incline) holds the values the config would otherwise give
(`rails.left_zero_v`, `belt.pulses_per_m`, `incline.zero_deg`, ...) and when it was made.
Every write is atomic (`storage/atomic.py`: a temporary file in the same folder, fsync,
rename, fsync of the folder), so a crash or a kill at any moment leaves the old file or
the new one, never a broken one; the file it replaces is kept in `calibration-history/` for `calibrate undo`.
The running daemon notices a new file (`CalibrationWatcher`) and applies it without a restart.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from pi_service.config import Config
from pi_service.errors import CompanionError
from pi_service.storage.atomic import remove_stale_temporaries, write_atomic

FILE_NAME = "calibration.json"
HISTORY = "calibration-history"
# What each section may set: config section -> keys.
KEYS = {"rails": ("left_zero_v", "left_n_per_v", "right_zero_v", "right_n_per_v"),
        "belt": ("pulses_per_m",),
        "incline": ("zero_deg", "span")}


class CalibrationError(CompanionError):
    """A calibration cannot be made, read or written."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def apply(config: Config, calibration: dict | None) -> Config:
    """The config with the calibration's values in place of its own, validated whole (ranges
    and the cross-field checks, e.g. the glitch filter against the fastest pulse)."""
    if not calibration:
        return config
    data = config.model_dump()
    for section, keys in KEYS.items():
        values = calibration.get(section, {})
        if not isinstance(values, dict):
            raise TypeError(f"{section}: expected an object")
        data[section].update({key: float(values[key]) for key in keys if key in values})
    return Config.model_validate(data)


class CalibrationStore:
    def __init__(self, folder: Path, base: Config | None = None):
        self.path = Path(folder) / FILE_NAME
        self.history = Path(folder) / HISTORY
        self.base = base or Config()  # the config a calibration must fit

    def load(self) -> dict:
        """The calibration in force ({} if none was ever made)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CalibrationError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(text)
            self._check(data)
        except (ValueError, TypeError, KeyError, ValidationError) as exc:
            raise CalibrationError(f"{self.path}: not a valid calibration ({str(exc).splitlines()[0]}); "
                                   "`calibrate undo` restores the previous one") from None
        return data

    def _check(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        apply(self.base, data)  # raises if a value is out of range or does not fit the config

    def save(self, section: str, values: dict, detail: dict | None = None) -> dict:
        """Set one section (keeping the others), keep the replaced file in the history; the new whole."""
        current = self.load()
        remove_stale_temporaries(self.path)
        new = dict(current)
        new[section] = {**values, "made_at": now_iso(), **({"detail": detail} if detail else {})}
        try:
            self._check(new)
        except (ValueError, TypeError, ValidationError) as exc:
            raise CalibrationError(f"{section}: this calibration does not fit the config: "
                                   f"{str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _first(exc)}"
                                   ) from None
        kept = None
        if current:
            # Numbered, not dated: a Pi without a real-time clock may boot into the past.
            earlier = self.previous()
            number = int(earlier[-1].stem) + 1 if earlier else 1
            kept = self.history / f"{number:06d}.json"
            _write(kept, json.dumps(current, indent=1) + "\n")
        try:
            _write(self.path, json.dumps(new, indent=1) + "\n")
        except CalibrationError:
            if kept is not None:
                kept.unlink(missing_ok=True)  # nothing was replaced: nothing to undo
            raise
        return new

    def previous(self) -> list[Path]:
        """Earlier calibrations, oldest first."""
        if not self.history.is_dir():
            return []
        return sorted((p for p in self.history.glob("*.json") if p.stem.isdigit()), key=lambda p: int(p.stem))

    def undo(self) -> dict:
        """Put back the calibration before the last change; returns it."""
        earlier = self.previous()
        if not earlier:
            if not self.path.exists():
                raise CalibrationError("no calibration to undo: none was ever made")
            self.path.unlink()  # back to the config's own values
            return {}
        last = earlier[-1]
        data = json.loads(last.read_text())
        _write(self.path, json.dumps(data, indent=1) + "\n")
        last.unlink()
        return data


def _write(path: Path, text: str) -> None:
    """`write_atomic`, its failure (a full disk, a read-only one) one line naming the file."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CalibrationError(f"{path}: cannot write: {reason}; the calibration in force is unchanged") from None


def _first(error: ValidationError) -> str:
    detail = error.errors()[0]
    return f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"


class CalibrationWatcher:
    """Checks the file once a second on its own thread; the sampler `take`s the result between ticks."""

    def __init__(self, store: CalibrationStore, base: Config, period_s: float = 1.0):
        self.store = store
        self.base = base
        self.period_s = period_s
        self.pending: Config | None = None
        self.error: str | None = None
        self._seen = self._stamp()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calibration-watcher", daemon=True)

    def _stamp(self):
        try:
            stat = self.store.path.stat()
            return stat.st_mtime_ns, stat.st_size, stat.st_ino
        except FileNotFoundError:
            return None

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def take(self) -> Config | None:
        """The config with the new calibration in it, once, if one arrived since the last take."""
        pending, self.pending = self.pending, None
        return pending

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            stamp = self._stamp()
            if stamp == self._seen:
                continue
            self._seen = stamp
            try:
                self.pending = apply(self.base, self.store.load())
                self.error = None
            except CalibrationError as exc:
                self.error = str(exc)


def wait_for(predicate, timeout_s: float, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step_s)
    return False
