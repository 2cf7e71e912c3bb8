"""Wrong pairing tokens: throttled per client address and logged, never a lock-out.

Home Assistant's lesson: a phone that keeps sending a revoked token, or someone guessing,
should be slowed down and seen in the log, but the owner must never be locked out. So
after `FAILURES` wrong tokens within `WINDOW_S` from one address, changes from that
address get 429 with Retry-After for a while (5 s, doubling with each further burst, at
most 60 s), without the token being looked at; any other address (the owner's phone) is
unaffected, and the address is forgiven once it shows a valid token or goes quiet for
`FORGET_S`. The tokens are 192 random bits, so this is not what keeps them from being
guessed; it keeps a flood cheap and visible.

Each address gets at most one WARNING line per `LOG_EVERY_S`, counting what happened
since its last line, so 2,000 guesses are a handful of lines, not 2,000; and all addresses
together get at most `LINES_PER_WINDOW` such lines per `LOG_EVERY_S`, the rest folded into
one summary line (a guesser with many IPv6 addresses cannot flood the journal either). The
table of addresses is bounded; a full one forgets the oldest address that is not throttled.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

FAILURES = 5  # wrong tokens from one address within WINDOW_S before it is throttled
WINDOW_S = 60.0
FIRST_BLOCK_S = 5.0  # doubles with each further burst from the same address...
MAX_BLOCK_S = 60.0  # ...up to this
FORGET_S = 600.0  # an address quiet this long starts afresh
LOG_EVERY_S = 10.0  # at most one log line per address this often
ADDRESSES = 1024  # addresses remembered at most (the oldest not throttled is forgotten first)
LINES_PER_WINDOW = 10  # log lines about wrong tokens per LOG_EVERY_S, all addresses together


@dataclass
class _Address:
    failures: list[float] = field(default_factory=list)  # times of the wrong tokens within WINDOW_S
    blocked_until: float = -math.inf
    bursts: int = 0  # blocks so far: the next one lasts FIRST_BLOCK_S * 2**bursts
    last_seen: float = 0.0
    logged_at: float = -math.inf
    wrong_unlogged: int = 0
    throttled_unlogged: int = 0


def client_address(scope) -> str:
    """The client's address as the throttle counts it (an IPv4 client of the dual-stack
    socket as its IPv4 address)."""
    client = scope.get("client")
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0].split("%")[0])
    except ValueError:
        return str(client[0])
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class TokenThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._window_t = -math.inf  # the global log budget's current window
        self._window_lines = 0
        self._folded = 0  # wrong or refused attempts not logged one by one in the last window(s)
        self._folded_lines = 0  # ... the address lines they would have been

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None if it may now. A refused
        attempt is counted for the log."""
        now = self.clock()
        entry = self._addresses.get(address)
        if entry is None or now >= entry.blocked_until:
            return None
        entry.last_seen = now
        entry.throttled_unlogged += 1
        self._log(address, entry, now)
        return max(1, math.ceil(entry.blocked_until - now))

    def wrong_token(self, address: str) -> None:
        now = self.clock()
        entry = self._entry(address, now)
        entry.failures = [t for t in entry.failures if now - t < WINDOW_S] + [now]
        entry.wrong_unlogged += 1
        if len(entry.failures) >= FAILURES:
            entry.blocked_until = now + min(MAX_BLOCK_S, FIRST_BLOCK_S * 2 ** entry.bursts)
            entry.bursts += 1
            entry.failures = []
        self._log(address, entry, now)

    def valid_token(self, address: str) -> None:
        self._addresses.pop(address, None)

    def _entry(self, address: str, now: float) -> _Address:
        entry = self._addresses.get(address)
        if entry is not None and now - entry.last_seen > FORGET_S and now >= entry.blocked_until:
            entry = None  # quiet long enough: start afresh
        if entry is None:
            entry = _Address()
            self._addresses[address] = entry
            while len(self._addresses) > ADDRESSES:
                self._forget_one(now)
        self._addresses.move_to_end(address)
        entry.last_seen = now
        return entry

    def _forget_one(self, now: float) -> None:
        """Forget the oldest address that is not throttled (a flood of new addresses must not
        lift a block), or the oldest of all if every one is."""
        for address, entry in self._addresses.items():
            if now >= entry.blocked_until:
                del self._addresses[address]
                return
        self._addresses.popitem(last=False)

    def _log(self, address: str, entry: _Address, now: float) -> None:
        if now - entry.logged_at < LOG_EVERY_S:
            return
        if now - self._window_t >= LOG_EVERY_S:
            if self._folded_lines:
                log.warning("wrong pairing tokens: %d more from other addresses (%d lines' worth) not logged one by "
                            "one in the last %.0f s or more", self._folded, self._folded_lines, LOG_EVERY_S)
            self._window_t, self._window_lines, self._folded, self._folded_lines = now, 0, 0, 0
        if self._window_lines >= LINES_PER_WINDOW:
            self._folded += entry.wrong_unlogged + entry.throttled_unlogged
            self._folded_lines += 1
            entry.logged_at, entry.wrong_unlogged, entry.throttled_unlogged = now, 0, 0
            return
        self._window_lines += 1
        blocked = entry.blocked_until - now
        refused = f", {entry.throttled_unlogged} refused unchecked while throttled" if entry.throttled_unlogged else ""
        held = f"; its changes refused for the next {blocked:.0f} s" if blocked > 0 else ""
        log.warning("wrong pairing token from %s (%d wrong%s since the last line)%s",
                    address, entry.wrong_unlogged, refused, held)
        entry.logged_at, entry.wrong_unlogged, entry.throttled_unlogged = now, 0, 0
