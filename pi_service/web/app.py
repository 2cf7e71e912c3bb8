"""`create_app`: the FastAPI app over a sampler's snapshot board.

The daemon starts the sampling process before the server and stops it after. The app
reads what the loop publishes (status, the stream), reads the history file, and passes
the person's commands to the sampler through its command pipe; nothing else. What it
must undo when the server stops (the stream's broadcaster) is in its `lifespan`.

In front of the routes, outermost first: the security headers (headers.py), the Host and
client network check (guard.py), then the body limit with the Origin and token checks of
a change before its body is read (limits.py); malformed input answers 4xx (errors.py).
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from pi_service import __version__
from pi_service.config import Config
from pi_service.pairing import PairingStore
from pi_service.storage.state_folder import state_dir
from pi_service.storage.usage import UsageCache
from pi_service.web import controls, history, page, recent, status, stream
from pi_service.web.errors import validation_error
from pi_service.web.export import router as export_router
from pi_service.web.guard import ChangeGuard, HostAllowList, LocalNetworkOnly
from pi_service.web.headers import SecurityHeaders
from pi_service.web.limits import BoundedBody
from pi_service.web.throttle import TokenThrottle

STATIC = Path(__file__).parent / "static"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")  # Swagger UI and ReDoc, from fastapi-offline's own files


@asynccontextmanager
async def lifespan(app: FastAPI):
    """The recent ring's feeder starts (the broadcaster starts with the stream's first
    client). At shutdown both are stopped, so no task of this app outlives the server."""
    app.state.recent.start()
    try:
        yield
    finally:
        await app.state.recent.close()
        await app.state.broadcaster.close()


def create_app(source, config: Config, sim: bool = False, hosts: list[str] | None = None,
               folder: Path | None = None, clock: Callable[[], float] = time.monotonic, fleet=None) -> FastAPI:
    """`source` has `.board` (a SnapshotBoard), `.alive()`, `.restarts` and `.commands`.
    `hosts`: the Host allow-list (default: this machine's names and addresses);
    `folder`: the state folder with the history and the pairing tokens (default: the config's);
    `clock`: the wrong-token throttle's (tests); `fleet`: the MQTT publisher, when on."""
    # FastAPIOffline: FastAPI's own app, with /docs and /redoc served from the files its package
    # ships instead of a CDN (the Pi may be offline, and the page loads nothing from outside).
    app = FastAPIOffline(docs_url=DOCS_PATHS[0], redoc_url=DOCS_PATHS[2], swagger_ui_oauth2_redirect_url=DOCS_PATHS[1],
                         title="Treadmill Companion", version=__version__, lifespan=lifespan,
                  description="Live treadmill readings and safety nudges from the companion on this Pi. "
                              "Reading is open on the local network; changes need the pairing token "
                              "(`treadmill-companion pair`) as `Authorization: Bearer <token>`.")
    folder = state_dir(config, sim) if folder is None else folder
    app.state.source = source
    app.state.config = config
    app.state.sim = sim
    app.state.allowed_hosts = HostAllowList(config, fixed=hosts)
    app.state.pairing = PairingStore(folder)
    app.state.history_path = folder / "history.sqlite3"
    app.state.fleet = fleet
    app.state.usage = UsageCache(app.state.history_path, config.maintenance)
    app.state.broadcaster = stream.Broadcaster(app)
    app.state.recent = recent.RecentRing(source)
    app.state.change_guard = ChangeGuard(app.state.pairing, TokenThrottle(clock))
    # add_middleware puts each one outside those added before it.
    app.add_middleware(BoundedBody, guard=app.state.change_guard)
    app.add_middleware(LocalNetworkOnly, allow=app.state.allowed_hosts)
    app.add_middleware(SecurityHeaders, docs_paths=DOCS_PATHS)
    app.add_exception_handler(RequestValidationError, validation_error)
    for module in (status, recent, stream, history, controls, page):
        app.include_router(module.router)
    app.include_router(export_router)  # /api/sessions/{id}/export
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
