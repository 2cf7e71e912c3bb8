"""Pairing tokens: what a phone must show to change anything (snooze, acknowledge, stop a
ramp, sim controls). Reading status needs none.

Tokens live in `<state folder>/pairing.json`, as SHA-256 hashes only, so the file does not
give a token away. `treadmill-companion pair` makes one and prints a link carrying it in
the URL's fragment (never sent to the server, never in its logs); the page keeps it.
Revoking (`pair --revoke-all`) marks them revoked; the web process rereads the file when
it changes, so a revocation takes effect at once, without a restart. Writes are atomic
(`storage/atomic.py`), and the file is readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path

from pi_service.errors import CompanionError
from pi_service.storage.atomic import remove_stale_temporaries, write_atomic

FILE_NAME = "pairing.json"


class PairingError(CompanionError):
    """The pairing file cannot be read or written."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PairingStore:
    def __init__(self, folder: Path):
        self.path = Path(folder) / FILE_NAME
        self._cache: tuple[int, int, list[dict]] | None = None  # (mtime in ns, size, tokens)

    def tokens(self) -> list[dict]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if self._cache is not None and self._cache[:2] == (stat.st_mtime_ns, stat.st_size):
            return self._cache[2]
        try:
            tokens = json.loads(self.path.read_text())["tokens"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PairingError(f"{self.path}: unreadable pairing file ({exc}); `pair --revoke-all` starts afresh") from None
        self._cache = (stat.st_mtime_ns, stat.st_size, tokens)
        return tokens

    def verify(self, token: str | None) -> bool:
        if not token:
            return False
        digest = _hash(token)
        return any(hmac.compare_digest(digest, entry["sha256"]) and not entry.get("revoked")
                   for entry in self.tokens())

    def new_token(self, label: str = "") -> str:
        token = secrets.token_urlsafe(24)
        tokens = self._readable()
        tokens.append({"id": secrets.token_hex(4), "sha256": _hash(token), "label": label,
                       "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "revoked": False})
        self._write(tokens)
        return token

    def revoke_all(self) -> int:
        tokens = self._readable()
        count = sum(1 for entry in tokens if not entry.get("revoked"))
        for entry in tokens:
            entry["revoked"] = True
        self._write(tokens)
        return count

    def _readable(self) -> list[dict]:
        try:
            return [dict(entry) for entry in self.tokens()]
        except PairingError:
            return []  # a broken file is replaced: its tokens were unusable anyway

    def _write(self, tokens: list[dict]) -> None:
        try:
            remove_stale_temporaries(self.path)
            write_atomic(self.path, json.dumps({"tokens": tokens}, indent=1), mode=0o600)
        except OSError as exc:
            raise PairingError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        finally:
            self._cache = None  # reread: whatever happened, the file says what is in force


def page_address(config) -> str:
    """What a phone on the network should open: the config's address if it names one,
    else this machine's first non-loopback IPv4 address, else its .local name."""
    import socket

    import ifaddr

    if config.web.host not in ("0.0.0.0", "::"):
        return config.web.host
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and not ip.ip.startswith("127."):
                return ip.ip
    return f"{socket.gethostname()}.local"
