"""The web server: uvicorn on h11, built so that clients which connect and never finish
cannot take the page away from the phone on the console.

- **Header timeout**: a connection must deliver a complete request head within
  `header_timeout_s` of connecting or of its previous response, or it is dropped
  (uvicorn has no such timeout: 1,100 half-sent requests used to hold every descriptor).
- **Connection cap** below the descriptor limit: when it is reached, a newcomer pushes out
  the oldest connection still waiting for a request head (new, or idle between requests);
  if every connection is busy with a request, the newcomer is closed. At most one WARNING
  line per `warn_every_s` with a count at the end of the burst, never one per connection.
- **No spinning on EMFILE**: asyncio in Python 3.11 keeps calling accept() after running
  out of descriptors and schedules one retry per failed call (CPython gh-151615); the
  listening socket here ends that burst at its first failure, and the loop logs it through
  the same rate-limited warning.
- **The stream's hold on its own connection**: the scope extension `treadmill.connection`
  (a `ConnectionControl`) lets /api/stream shrink its send buffers and abort the connection
  of a client that stopped reading (stream.py).

`build_server` is what the daemon runs and what tests/test_hostile_connections.py starts.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import struct
import time
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

CONNECTION_EXTENSION = "treadmill.connection"  # scope["extensions"][...]: a ConnectionControl
# Descriptors kept out of the cap: the process's own files (history, pipes, netlink) and the
# up to ACCEPT_BATCH connections accepted in one wake-up before the cap sees them.
FD_RESERVE = 128
ACCEPT_BATCH = 64  # connections accepted per wake-up (uvicorn's backlog; also the listen queue)
RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
ACCEPT_PAUSE_S = 0.5  # after a resource error, accept() reports "nothing waiting" this long
RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, dropping the kernel's queue


def reset(transport) -> None:
    """Drop a connection now: asyncio's abort() drops only its own buffer, and a plain close()
    leaves what the kernel holds to be sent (to a client that never reads: for minutes)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        except OSError:
            pass  # already gone
    transport.abort()


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0  # to deliver a request head, after connecting or a response
    max_connections: int = 512  # at most; lower when the descriptor limit is (connection_cap)
    warn_every_s: float = 60.0  # at most one WARNING line about the cap this often
    keep_alive_s: int = 5  # an idle connection between requests is closed after this


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (the unit's LimitNOFILE=);
    return the soft limit in force. Where the limit cannot be raised (a seccomp filter
    without setrlimit, a hard limit the kernel refuses), the old one stays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.debug("open file limit stays at %d: %s", soft, exc)
    return soft


def connection_cap(configured: int, open_file_limit: int) -> int:
    """`configured`, or less where the descriptor limit is low: each connection may hold one
    more descriptor while it is served (a static file, the history database)."""
    return max(1, min(configured, (open_file_limit - FD_RESERVE) // 2))


class Connections:
    """Every open connection of one server, and, oldest first, those waiting for a request
    head: the ones a newcomer may push out when the cap is reached."""

    def __init__(self, cap: int, warn_every_s: float):
        self.cap = cap
        self.warn_every_s = warn_every_s
        self.open: set = set()
        self.waiting: dict = {}  # insertion order: the oldest waiter first
        self.evicted = 0  # connections pushed out by a newcomer, since start
        self.refused = 0  # newcomers closed because every connection was busy
        self.accept_failures = 0  # accept() out of descriptors (should never happen under the cap)
        self._burst: tuple[int, int, int] | None = None  # the counts when the current burst began

    def admit(self, connection) -> bool:
        if len(self.open) >= self.cap:
            if not self.waiting:
                self._note_burst()  # (before counting: the burst's counts include this one)
                self.refused += 1
                return False
            oldest = next(iter(self.waiting))
            self.leave(oldest)
            oldest.drop()
            self._note_burst()
            self.evicted += 1
        self.open.add(connection)
        self.waiting[connection] = None
        return True

    def waits(self, connection) -> None:
        """Between requests again: the newest waiter."""
        if connection in self.open:
            self.waiting.pop(connection, None)
            self.waiting[connection] = None

    def busy(self, connection) -> None:
        self.waiting.pop(connection, None)

    def leave(self, connection) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)

    def accept_failed(self, exc: BaseException | None) -> None:
        self._note_burst(f"out of file descriptors ({exc.strerror if isinstance(exc, OSError) else exc}): "
                         "accepting paused, retried every second")
        self.accept_failures += 1

    def _note_burst(self, why: str | None = None) -> None:
        if self._burst is not None:
            return
        self._burst = (self.evicted, self.refused, self.accept_failures)
        log.warning("%s; at most one line per %.0f s", why or (
            f"connection limit reached ({self.cap} open): the oldest idle connections are closed to make room, "
            "a newcomer when none is idle (many phones, or a client opening connections and sending nothing?)"),
            self.warn_every_s)
        asyncio.get_running_loop().call_later(self.warn_every_s, self._end_burst)

    def _end_burst(self) -> None:
        evicted, refused, failures = (now - then for now, then in
                                      zip((self.evicted, self.refused, self.accept_failures), self._burst))
        self._burst = None
        log.info("connection limit (%d): %d idle connections closed, %d refused, %d accept failures in the last %.0f s",
                 self.cap, evicted, refused, failures, self.warn_every_s)


class ConnectionControl:
    """What an endpoint may do to its own connection (the stream, to a client that stops reading)."""

    def __init__(self, protocol: "CompanionH11Protocol"):
        self._protocol = protocol

    def limit_buffering(self, send_buffer_bytes: int, write_buffer_bytes: int) -> None:
        """A small kernel send buffer (SO_SNDBUF; Linux doubles it) and a small buffer in this
        process, so a client that stops reading is noticed within seconds and holds little."""
        transport = self._protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
        transport.set_write_buffer_limits(high=write_buffer_bytes)

    async def abort(self) -> None:
        """Drop the connection now, with whatever is queued for it (a reset, not a goodbye),
        and return once the server has seen it go."""
        reset(self._protocol.transport)
        await self._protocol.lost.wait()


class CompanionH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the header timeout and the connection cap; `limits` and
    `connections` are set per server by `build_server`."""

    limits: ConnectionLimits
    registry: Connections

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lost = asyncio.Event()
        self.head_timer: asyncio.TimerHandle | None = None
        self._seen_cycle = None
        control, app = ConnectionControl(self), self.app

        async def with_control(scope, receive, send):
            scope.setdefault("extensions", {})[CONNECTION_EXTENSION] = control
            await app(scope, receive, send)

        self.app = with_control

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if not self.registry.admit(self):
            reset(transport)
            return
        self._await_head()

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        self.registry.leave(self)
        self._cancel_head_timer()
        self.lost.set()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._note_progress()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._note_progress()

    def drop(self) -> None:
        """Pushed out by a newcomer at the cap."""
        reset(self.transport)

    def _note_progress(self) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle is not self._seen_cycle:
            self._seen_cycle = self.cycle  # a complete request head: being served
            self._cancel_head_timer()
            self.registry.busy(self)
        if (self.cycle is None or self.cycle.response_complete) and self.head_timer is None:
            # Waiting for a (next) head; bytes trickling in do not extend the deadline.
            self._await_head()
            self.registry.waits(self)

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self.head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and not self.transport.is_closing():
            reset(self.transport)


class ListeningSocket(socket.socket):
    """A listening socket whose accept() reports "nothing waiting" for ACCEPT_PAUSE_S after a
    resource error, so asyncio's accept loop stops at the first failure (gh-151615) and
    retries once, a second later, instead of once per failed call."""

    @classmethod
    def taking_over(cls, sock: socket.socket) -> "ListeningSocket":
        return cls(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._paused_until = 0.0

    def accept(self):
        if time.monotonic() < self._paused_until:
            raise BlockingIOError(errno.EAGAIN, "accepting paused: out of file descriptors")
        try:
            return super().accept()
        except OSError as exc:
            if exc.errno in RESOURCE_ERRORS:
                self._paused_until = time.monotonic() + ACCEPT_PAUSE_S
            raise


class CompanionServer(uvicorn.Server):
    """uvicorn's server over `ListeningSocket`s, with accept failures counted and logged once
    per burst instead of one traceback each."""

    def __init__(self, config: uvicorn.Config, connections: Connections):
        super().__init__(config)
        self.connections = connections

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            raise ValueError("CompanionServer serves sockets bound beforehand (daemon.bind)")
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        await super().serve(sockets=[ListeningSocket.taking_over(s) for s in sockets])

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRORS and "accept" in context.get("message", ""):
            self.connections.accept_failed(exc)
        else:
            loop.default_exception_handler(context)


class OncePerInterval(logging.Filter):
    """uvicorn logs a WARNING for every malformed request ("Invalid HTTP request received.")
    and every upgrade it does not serve: a client sending garbage in a loop would fill the
    journal. Each such message passes at most once per `every_s`, saying how many were
    held back since it last passed."""

    MESSAGES = ("Invalid HTTP request received.", "Unsupported upgrade request.")

    def __init__(self, every_s: float, clock=time.monotonic):
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self._passed: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message not in self.MESSAGES and not message.startswith("No supported WebSocket library"):
            return True
        now, last = self.clock(), self._passed.get(message)
        if last is not None and now - last < self.every_s:
            self._held[message] = self._held.get(message, 0) + 1
            return False
        held = self._held.pop(message, 0)
        self._passed[message] = now
        if held:
            record.msg, record.args = f"{message} ({held} more since the last such line)", ()
        return True


def quiet_uvicorn_warnings(every_s: float) -> None:
    """Install `OncePerInterval` on uvicorn's error logger, once per process."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, OncePerInterval) for f in logger.filters):
        logger.addFilter(OncePerInterval(every_s))


def build_server(app, limits: ConnectionLimits = ConnectionLimits(), log_level: str = "warning") -> CompanionServer:
    """The server the daemon runs: `server.run(sockets=[sock])`. The cap follows this
    process's descriptor limit as it is now (raise it first: `raise_open_file_limit`)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    quiet_uvicorn_warnings(limits.warn_every_s)
    connections = Connections(connection_cap(limits.max_connections, soft), limits.warn_every_s)
    protocol = type("CompanionH11Protocol", (CompanionH11Protocol,), {"limits": limits, "registry": connections})
    # http, loop and ws are named, never "auto": the limits live in this h11 protocol and the
    # accept fix in asyncio's selector loop; httptools or uvloop, if installed, would bypass them.
    config = uvicorn.Config(app, http=protocol, loop="asyncio", ws="none", lifespan="on", log_level=log_level,
                            timeout_graceful_shutdown=1, timeout_keep_alive=limits.keep_alive_s,
                            backlog=ACCEPT_BATCH)
    return CompanionServer(config, connections)
