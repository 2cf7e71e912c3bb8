"""`create_app`: the FastAPI app over a sampler's snapshot board.

The daemon starts the sampling process before the server and stops it after, so the
app holds no lifecycle of its own: it reads what the loop publishes and nothing else.
"""

from __future__ import annotations

from fastapi import FastAPI

from pi_service import __version__
from pi_service.config import Config
from pi_service.web import status


def create_app(source, config: Config) -> FastAPI:
    """`source` has `.board` (a SnapshotBoard), `.alive()` and `.restarts`."""
    app = FastAPI(title="Treadmill Companion", version=__version__,
                  description="Live treadmill readings and safety nudges from the companion on this Pi.")
    app.state.source = source
    app.state.config = config
    app.include_router(status.router)
    return app
