"""Request bodies: bounded, and a change is authorised before its body is read.

Every body this API takes is a small JSON object (under 1 KiB), so anything declaring
more than `BODY_LIMIT_BYTES` gets 413 at once, unread; a chunked body is counted as it
arrives and cut off with 413 past the limit. A state-changing request (POST, PUT, PATCH,
DELETE) has its Origin and pairing token checked (guard.py) from the headers alone, before
any of its body is read: without a token, 100 MB cost the server nothing but the refusal.

A body within the limit is read whole here and handed on in one piece, so the app never
waits on a half-sent body. A refusal with a body still unread closes the connection
(`Connection: close`), so the server does not read and discard the rest either.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from pi_service.web.guard import STATE_CHANGING, ChangeGuard, Refusal

BODY_LIMIT_BYTES = 16 * 1024  # sixteen times the largest body the controls take


def _refuse(refusal: Refusal, close: bool) -> JSONResponse:
    headers = dict(refusal.headers)
    if close:
        headers["Connection"] = "close"
    return JSONResponse({"detail": refusal.message}, status_code=refusal.status, headers=headers)


TOO_LARGE = Refusal(413, f"request body over {BODY_LIMIT_BYTES} bytes: this API's bodies are small JSON objects")


class BoundedBody:
    """ASGI middleware, inside LocalNetworkOnly (so the Host and the client are checked)."""

    def __init__(self, app, guard: ChangeGuard, limit: int = BODY_LIMIT_BYTES):
        self.app, self.guard, self.limit = app, guard, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0  # the server (h11) refuses a malformed Content-Length before we see it
        pending = chunked or declared > 0
        if declared > self.limit:
            await _refuse(TOO_LARGE, close=True)(scope, receive, send)
            return
        if scope["method"] in STATE_CHANGING:
            refusal = self.guard.check(scope)
            if refusal is not None:
                await _refuse(refusal, close=pending)(scope, receive, send)
                return
        if not pending:
            await self.app(scope, receive, send)
            return

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse(TOO_LARGE, close=True)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay():
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # then what the server says next (a disconnect)

        await self.app(scope, replay, send)
