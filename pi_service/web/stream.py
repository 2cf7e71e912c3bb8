"""`/api/stream`: Server-Sent Events. A status snapshot five times a second (`event: status`,
the same JSON as /api/status) and each rule event as it happens (`event: rule`).

One broadcaster task reads the snapshot board and serialises each message once, to bytes
every client is sent as they are. Each client has a short queue: a slow client loses its
oldest messages (the next snapshot supersedes them) and never holds up the others or
the sampling loop, which lives in another process and only ever writes the board. The
broadcaster runs while anyone listens. Built on sse-starlette (keep-alive pings, client
disconnects, a send timeout for clients that stop reading).
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from pi_service.web.status import to_status

router = APIRouter()

PERIOD_S = 0.2  # five snapshots a second
CLIENT_QUEUE = 8  # messages a client may fall behind before it loses the oldest
SEND_TIMEOUT_S = 5.0  # a client that takes longer to accept a message is dropped
RETRY_MS = 1000  # what the browser waits before reconnecting


def event_key(event: dict) -> tuple:
    return event["t"], event["kind"], event["phase"], (event.get("detail") or {}).get("channel")


class Broadcaster:
    def __init__(self, app):
        self.app = app
        self.clients: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.seen: set[tuple] | None = None  # events already sent (None: not looked yet)
        self.serialised = 0  # messages serialised, for the tests: once per tick, whatever the clients

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
        status = to_status(snapshot, config.units, config.demo, state.source.restarts, time.monotonic())
        self._fan_out(ServerSentEvent(status.model_dump_json(), event="status", retry=RETRY_MS).encode())
        self.serialised += 1


@router.get("/api/stream", summary="Server-Sent Events: `status` snapshots 5 times a second, `rule` events as "
            "they happen", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "an endless event stream"}})
async def stream(request: Request):
    broadcaster: Broadcaster = request.app.state.broadcaster
    queue = broadcaster.subscribe()

    async def messages():
        try:
            while True:
                yield await queue.get()
        finally:
            broadcaster.unsubscribe(queue)

    return EventSourceResponse(messages(), ping=15, send_timeout=SEND_TIMEOUT_S,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
