"""`/api/stream`: Server-Sent Events. A status snapshot five times a second (`event: status`,
the same JSON as /api/status) and each rule event as it happens (`event: rule`).

One broadcaster task reads the snapshot board and serialises each message once, to bytes
every client is sent as they are. Each client has a short queue: a slow client loses its
oldest messages (the next snapshot supersedes them) and never holds up the others or
the sampling loop, which lives in another process and only ever writes the board. The
broadcaster runs while anyone listens. Built on sse-starlette (keep-alive pings, client
disconnects, a send timeout).

A client that stops reading must not keep its connection and a kernel queue of megabytes:
each stream's connection gets small send buffers (web/server.py's ConnectionControl), so
within seconds a message is not accepted, and after SEND_TIMEOUT_S the connection is
aborted, its queue dropped, with one INFO line. At most MAX_CLIENTS streams at once (503
with Retry-After beyond), so streams never fill the server's connection cap. A client that
leaves, or a stream the server's stop ends, logs nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError

from pi_service.web.server import CONNECTION_EXTENSION
from pi_service.web.status import to_status

log = logging.getLogger(__name__)
router = APIRouter()

PERIOD_S = 0.2  # five snapshots a second
CLIENT_QUEUE = 8  # messages a client may fall behind before it loses the oldest
SEND_TIMEOUT_S = 5.0  # a client that takes longer to accept a message is dropped
RETRY_MS = 1000  # what the browser waits before reconnecting
MAX_CLIENTS = 32  # streams at once; the next gets 503
RETRY_AFTER_S = 10  # ...with this Retry-After
# A status message is ~0.7 KB, five a second: with these buffers (the kernel's doubled, so
# 32 KiB) a client that stops reading blocks a send within ~15 s and is dropped 5 s later.
SEND_BUFFER_BYTES = 16 * 1024
WRITE_BUFFER_BYTES = 16 * 1024
FINISH_TIMEOUT_S = 0.5  # the server stops: this long to send a stream's last chunk


def event_key(event: dict) -> tuple:
    return event["t"], event["kind"], event["phase"], (event.get("detail") or {}).get("channel")


class Broadcaster:
    def __init__(self, app):
        self.app = app
        self.clients: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.seen: set[tuple] | None = None  # events already sent (None: not looked yet)
        self.serialised = 0  # messages serialised, for the tests: once per tick, whatever the clients
        self.max_clients = MAX_CLIENTS
        self.send_timeout_s = SEND_TIMEOUT_S

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(CLIENT_QUEUE)
        self.clients.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.clients.discard(queue)

    async def close(self) -> None:
        """At the app's shutdown: stop the broadcaster task, so none outlives the server."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass  # what cancel() asked for

    def _fan_out(self, message: bytes) -> None:
        for queue in self.clients:
            if queue.full():
                queue.get_nowait()  # this client is behind: drop its oldest
            queue.put_nowait(message)

    async def _run(self) -> None:
        last_t = None
        try:
            while self.clients:
                snapshot = self.app.state.source.board.read(wait_s=0)  # (in the event loop: never wait)
                if snapshot is not None and snapshot["t"] != last_t:
                    last_t = snapshot["t"]
                    self._publish(snapshot)
                await asyncio.sleep(PERIOD_S)
        finally:
            self.seen = None  # what happens while nobody listens is not news to the next client

    def _publish(self, snapshot: dict) -> None:
        state, config = self.app.state, self.app.state.config
        events = snapshot.get("events", [])
        if self.seen is None:
            self.seen = {event_key(e) for e in events}  # what happened before anyone listened
        for event in events:
            key = event_key(event)
            if key not in self.seen:
                self.seen.add(key)
                self._fan_out(ServerSentEvent(json.dumps(event, separators=(",", ":")), event="rule").encode())
                self.serialised += 1
        if len(self.seen) > 1000:
            self.seen = {event_key(e) for e in events}
        status = to_status(snapshot, config, state.source.restarts, time.monotonic(), state.fleet, state.usage)
        self._fan_out(ServerSentEvent(status.model_dump_json(), event="status", retry=RETRY_MS).encode())
        self.serialised += 1


class ClientStream(EventSourceResponse):
    """One client's stream: its queue leaves the broadcaster however the response ends, a
    client that stops reading is aborted, and a stop of the server ends the response
    properly (sse-starlette cancels it half-sent, which uvicorn logs as an error)."""

    def __init__(self, broadcaster: Broadcaster, queue: asyncio.Queue):
        self.broadcaster, self.queue = broadcaster, queue

        async def messages():
            while True:
                yield await queue.get()

        super().__init__(messages(), ping=15, send_timeout=broadcaster.send_timeout_s,
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def __call__(self, scope, receive, send):
        connection = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
        if connection is not None:
            connection.limit_buffering(SEND_BUFFER_BYTES, WRITE_BUFFER_BYTES)
        completed = [False]  # sse-starlette 3.x ends the response itself at a server stop; 2.x did not

        async def noting_the_end(message):
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                completed[0] = True
            await send(message)

        try:
            await super().__call__(scope, receive, noting_the_end)
        except BaseException as exc:
            if not _send_timed_out(exc):
                raise
            log.info("stream: %s accepted nothing for %.0f s; dropped", _client(scope), self.send_timeout)
            if connection is not None:
                await connection.abort()
            return
        finally:
            self.broadcaster.unsubscribe(self.queue)
        # Neither the client nor the stream ended it:
        if self.active and not completed[0] and scope.get("method") != "HEAD":
            with anyio.move_on_after(FINISH_TIMEOUT_S) as finishing:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            if finishing.cancel_called and connection is not None:
                await connection.abort()


def _send_timed_out(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(SendTimeoutError)[1] is None
    return isinstance(exc, SendTimeoutError)


def _client(scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


@router.get("/api/stream", summary="Server-Sent Events: `status` snapshots 5 times a second, `rule` events as "
            "they happen", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "an endless event stream"},
                       503: {"description": f"{MAX_CLIENTS} streams already: try again after Retry-After seconds"}})
async def stream(request: Request):
    broadcaster: Broadcaster = request.app.state.broadcaster
    if len(broadcaster.clients) >= broadcaster.max_clients:
        return JSONResponse({"detail": f"{broadcaster.max_clients} streams already open; try again later"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return ClientStream(broadcaster, broadcaster.subscribe())
