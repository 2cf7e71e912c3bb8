"""Security headers on every response, refusals included (the outermost middleware).

- `Content-Security-Policy`: the page loads only its own files (`default-src 'self'`;
  `img-src` adds `data:` for its empty favicon, `media-src` for NoSleep.js's silent video),
  runs no inline script, and may not be framed by any page (`frame-ancestors 'none'`):
  another page on the Pi's address (another port is another origin) cannot frame it and
  trick a click into a `POST /api/sim`.
  `X-Frame-Options: DENY` says the same to browsers older than CSP 2.
- `X-Content-Type-Options: nosniff`: a JSON answer echoing input is never run as a script.
- `Referrer-Policy: no-referrer`: the pairing link carries its token in the URL fragment,
  which browsers already leave out of a Referer; with no Referer at all, not even the Pi's
  address and path leave with a link followed from the page or the API docs, nor a token
  that ever lands in a query string (someone pasting `?token=`).
- `/docs` and `/redoc` load Swagger UI and ReDoc from the Pi (fastapi-offline's files under
  `/static-offline-docs`), nothing from outside; Swagger UI's page runs one inline script,
  both use inline styles and ReDoc a worker from a blob, so they get a policy that allows
  exactly that, and still only from 'self'.
"""

from __future__ import annotations

PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; media-src 'self' data:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
COMMON = ((b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
          (b"referrer-policy", b"no-referrer"))


class SecurityHeaders:
    """ASGI middleware: adds the headers above to each response that does not set its own."""

    def __init__(self, app, docs_paths: tuple[str, ...] = ()):
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_POLICY if scope.get("path") in self.docs_paths else PAGE_POLICY).encode()
        added = ((b"content-security-policy", policy),) + COMMON

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in added if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
