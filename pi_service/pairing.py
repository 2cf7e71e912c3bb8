"""Pairing tokens: what a phone must show to change anything (snooze, acknowledge, stop a
ramp, sim controls). Reading status needs none.

Tokens live in `<state folder>/pairing.json`, as SHA-256 hashes only, so the file does not
give a token away. `treadmill-companion pair` makes one for one phone, with a label that
tells the phones apart and an optional expiry, and prints a link carrying it in the URL's
fragment (never sent to the server, never in its logs); the page keeps it. `pair --list`
shows them, `pair --revoke ID` revokes one, `pair --revoke-all` every one (and replaces a
broken file). The web process rereads the file when it changes, so a revocation takes
effect at once, without a restart. Writes are atomic (`storage/atomic.py`), and the file
is readable by its owner only.

The file is checked entry by entry when read: a wrong shape is a one-line PairingError
naming the file and what is wrong, which the web answers with 503 and `pair` prints;
never a KeyError from deep inside a request. Entries written before labels and expiry
existed (no `label`, no `expires_at`) read as unlabelled and never expiring.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pi_service.errors import CompanionError
from pi_service.storage.atomic import remove_stale_temporaries, write_atomic

FILE_NAME = "pairing.json"
LABEL_MAX = 40  # characters: fits one line of `pair --list` and the page
LONGEST_EXPIRY = timedelta(weeks=520)  # ten years: longer is "never", say so by giving none
FRESH_START = "`treadmill-companion pair --revoke-all` starts afresh (every phone pairs again)"

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class PairingError(CompanionError):
    """The pairing file cannot be read or written."""


class UnknownPairing(CompanionError):
    """`pair --revoke ID` names no token in the file."""


@dataclass(frozen=True)
class Pairing:
    """One phone's token, as the file keeps it (its hash, never the token)."""

    id: str
    sha256: str
    label: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked: bool = False

    def status(self, now: datetime) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def summary(self, now: datetime) -> dict:
        """What `pair --list --json` shows: everything but the hash."""
        return {"id": self.id, "label": self.label, "created_at": _iso(self.created_at),
                "expires_at": _iso(self.expires_at), "status": self.status(now)}

    def to_json(self) -> dict:
        entry = asdict(self)
        entry["created_at"], entry["expires_at"] = _iso(self.created_at), _iso(self.expires_at)
        return entry


def check_label(label: str) -> str:
    """A phone's label as given, trimmed; ValueError (its message says why) otherwise."""
    label = label.strip()
    if not label:
        raise ValueError("a label cannot be empty")
    if len(label) > LABEL_MAX:
        raise ValueError(f"a label is at most {LABEL_MAX} characters (this one has {len(label)})")
    if not label.isprintable():
        raise ValueError("a label holds printable characters only (no tabs, new lines or control characters)")
    return label


_DURATION = re.compile(r"(\d{1,6})([hdw])", re.IGNORECASE)
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_expiry(text: str) -> timedelta:
    """`12h`, `30d`, `2w` as a time span; ValueError (its message says why) otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time span: give a whole number and h, d or w (12h, 30d, 2w)")
    span = int(match[1]) * _UNIT[match[2].lower()]
    if not timedelta(0) < span <= LONGEST_EXPIRY:
        raise ValueError(f"{text!r}: give more than none and at most {LONGEST_EXPIRY.days // 7}w "
                         "(leave --expires out for a token that never expires)")
    return span


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


class PairingStore:
    def __init__(self, folder: Path, clock: Clock = wall_clock):
        self.path = Path(folder) / FILE_NAME
        self.clock = clock
        self._cache: tuple[tuple[int, int, int], list[Pairing]] | None = None  # ((inode, mtime ns, size), entries)

    def now(self) -> datetime:
        moment = self.clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def tokens(self) -> list[Pairing]:
        """Every pairing in the file, revoked and expired ones too; PairingError when the
        file cannot be read or holds anything but what `pair` writes."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise PairingError(f"{self.path}: cannot read: {exc.strerror}; {FRESH_START}") from None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []  # replaced between the stat and the read: gone now
        except OSError as exc:
            raise PairingError(f"{self.path}: cannot read: {exc.strerror}; {FRESH_START}") from None
        try:
            entries = _parse(data)
        except ValueError as exc:
            raise PairingError(f"{self.path}: {exc}; {FRESH_START}") from None
        self._cache = (key, entries)
        return entries

    def verify(self, token: str | None) -> bool:
        """True for a token of an active pairing (neither revoked nor expired)."""
        if not token:
            return False
        digest = _hash(token)
        now = self.now()
        # compare_digest with every entry: how long this takes says nothing about which matched
        matches = [hmac.compare_digest(digest, entry.sha256) and entry.status(now) == "active"
                   for entry in self.tokens()]
        return any(matches)

    def default_label(self) -> str:
        """`phone N`, N one more than the pairings so far, and no label already taken."""
        return _default_label(self.tokens())

    def new_token(self, label: str | None = None, expires_in: timedelta | None = None) -> str:
        """Make a token for one phone and keep its hash; the token itself is returned once
        and never stored. `label` (default: `default_label()`) is checked by `check_label`."""
        token = secrets.token_urlsafe(24)
        with self._update() as entries:
            label = check_label(label) if label is not None else _default_label(entries)
            taken = {entry.id for entry in entries}
            ident = secrets.token_hex(4)
            while ident in taken:
                ident = secrets.token_hex(4)
            now = self.now().replace(microsecond=0)
            entries.append(Pairing(id=ident, sha256=_hash(token), label=label, created_at=now,
                                   expires_at=None if expires_in is None else now + expires_in))
        return token

    def revoke(self, ident: str) -> Pairing:
        """Revoke the pairing `ident` and return it as it was (revoking twice is no error);
        UnknownPairing if none has that id."""
        with self._update() as entries:
            for index, entry in enumerate(entries):
                if entry.id == ident:
                    entries[index] = replace(entry, revoked=True)
                    return entry
            raise UnknownPairing(f"{self.path}: no pairing has the id {ident!r} (`pair --list` shows the ids)")

    def revoke_all(self) -> int:
        """Revoke every pairing; how many were still active. A broken file is replaced by an
        empty one: its tokens were unusable anyway."""
        with self._update(replace_broken=True) as entries:
            now = self.now()
            count = sum(1 for entry in entries if entry.status(now) == "active")
            entries[:] = [replace(entry, revoked=True) for entry in entries]
        return count

    @contextmanager
    def _update(self, replace_broken: bool = False) -> Iterator[list[Pairing]]:
        """Read, change, write back whole, under a lock on the folder, so two `pair` runs
        at once cannot lose each other's token."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise PairingError(f"{folder}: cannot open the state folder: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._cache = None  # another process may have written it a moment ago
            try:
                entries = list(self.tokens())
            except PairingError:
                if not replace_broken:
                    raise
                entries = []
            yield entries
            self._write(entries)
        finally:
            os.close(lock)  # (and with it the lock)

    def _write(self, entries: list[Pairing]) -> None:
        try:
            remove_stale_temporaries(self.path)
            text = json.dumps({"tokens": [entry.to_json() for entry in entries]}, indent=1, ensure_ascii=False)
            write_atomic(self.path, text + "\n", mode=0o600)
        except OSError as exc:
            raise PairingError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        finally:
            self._cache = None  # reread: whatever happened, the file says what is in force


def _default_label(entries: list[Pairing]) -> str:
    taken = {entry.label for entry in entries}
    number = len(entries) + 1
    while f"phone {number}" in taken:
        number += 1
    return f"phone {number}"


def _parse(data: bytes) -> list[Pairing]:
    """The file's bytes as pairings; ValueError saying what is wrong where."""
    try:
        text = data.decode("utf-8-sig")  # (a byte-order mark an editor added is harmless)
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise ValueError("not a pairing file (nested too deeply)") from None
    if not isinstance(document, dict):
        raise ValueError(f'not a pairing file: the top level is {_kind(document)}, not an object {{"tokens": [...]}}')
    if "tokens" not in document:
        raise ValueError('not a pairing file: no "tokens" list')
    if not isinstance(document["tokens"], list):
        raise ValueError(f'"tokens" is {_kind(document["tokens"])}, not a list')
    entries: list[Pairing] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(document["tokens"], start=1):
        entry = _entry(raw, f"token {number}")
        if entry.id in seen:
            raise ValueError(f"token {number}: id {entry.id!r} is token {seen[entry.id]}'s too")
        seen[entry.id] = number
        entries.append(entry)
    return entries


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _entry(raw: object, where: str) -> Pairing:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is {_kind(raw)}, not an object")
    for key in ("id", "sha256"):
        if key not in raw:
            raise ValueError(f"{where} has no {key}")
    ident, digest = raw["id"], raw["sha256"]
    if not isinstance(ident, str) or not ident:
        raise ValueError(f"{where}: id is {_kind(ident)}, not a non-empty string")
    where = f"{where} (id {ident!r})" if len(ident) <= 16 else where
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise ValueError(f"{where}: sha256 is not 64 lowercase hex digits")
    label = raw.get("label", "")
    if label is None:
        label = ""
    if not isinstance(label, str):
        raise ValueError(f"{where}: label is {_kind(label)}, not a string")
    revoked = raw.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError(f"{where}: revoked is {_kind(revoked)}, not true or false")
    return Pairing(id=ident, sha256=digest, label=label, revoked=revoked,
                   created_at=_moment(raw.get("created_at"), f"{where}: created_at"),
                   expires_at=_moment(raw.get("expires_at"), f"{where}: expires_at"))


def _moment(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where} is {_kind(value)}, not an ISO date and time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where} {value[:40]!r} is not an ISO date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def page_address(config, host: str | None = None) -> str:
    """What a phone on the network should open: `host` (where the daemon serves, by default the
    config's web.host) if it names one address, else this machine's first non-loopback IPv4
    address, else its .local name."""
    import socket

    import ifaddr

    host = config.web.host if host is None else host
    if host not in WILDCARDS:
        return f"[{host}]" if ":" in host and not host.startswith("[") else host  # an IPv6 literal in a URL
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and not ip.ip.startswith("127."):
                return ip.ip
    return f"{socket.gethostname()}.local"


def page_link(address: str, port: int, token: str) -> str:
    """The page's address with the token in its fragment (never sent to the server)."""
    return f"http://{address}:{port}/#token={token}"


# Where the running daemon serves: it writes `serving.json` into its state folder at start
# (atomically), so `pair` links to the port it really serves on (`PORT=28080 make demo`, a
# `--port` given to `run`) rather than the config's. Believed only while that daemon holds
# the folder's lock (storage/state_folder.py), so a file a killed daemon left says nothing.
SERVING_FILE = "serving.json"
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Serving:
    host: str
    port: int
    pid: int


def write_serving(folder: Path, host: str, port: int) -> None:
    """At the daemon's start, once its socket is bound. OSError as the disk says."""
    write_atomic(Path(folder) / SERVING_FILE, json.dumps({"host": host, "port": port, "pid": os.getpid()}) + "\n",
                 mode=0o644)


def remove_serving(folder: Path) -> None:
    try:
        (Path(folder) / SERVING_FILE).unlink()
    except OSError:
        pass  # already gone, or a read-only folder: the lock says it is stale anyway


def read_serving(folder: Path) -> Serving | None:
    """Where the daemon that owns `folder` serves; None when none runs there, or it wrote no
    (whole) file: an old daemon, an unwritable folder."""
    from pi_service.storage.state_folder import running_daemon

    pid = running_daemon(Path(folder))
    if pid is None:
        return None
    try:
        raw = json.loads((Path(folder) / SERVING_FILE).read_text(encoding="utf-8"))
        serving = Serving(str(raw["host"]), int(raw["port"]), int(raw["pid"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if pid != -1 and serving.pid != pid:
        return None  # a file from an earlier daemon, which this one could not replace
    return serving
