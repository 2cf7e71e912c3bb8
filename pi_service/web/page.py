"""The page's own routes: `/` (the live page), `/session/{id}` (one past session), and what makes
it an installable web app: `/manifest.webmanifest` and `/sw.js`, the service worker, served
from the root so that its scope is the whole page. Everything ships in `static/` (no CDN:
the Pi may be offline)."""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

router = APIRouter()

STATIC = FilePath(__file__).parent / "static"
# no-cache: the browser asks again each time (answered 304 when unchanged), so a new version
# of the page or of the service worker is taken at once.
FRESH = {"Cache-Control": "no-cache"}


def _html(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=FRESH)


@router.get("/", include_in_schema=True, response_class=FileResponse, summary="the live page",
            responses={200: {"content": {"text/html": {}}, "description": "the page"}})
def index():
    return _html("index.html")


@router.get("/session/{session_id}", response_class=FileResponse,
            summary="one past session's page: its charts, events, figures and export links",
            responses={200: {"content": {"text/html": {}},
                             "description": "the page (it reads /api/sessions/{id}, which answers 404 for none)"}})
def session_page(session_id: int = Path(ge=1, le=2**63 - 1)):
    return _html("session.html")


@router.get("/manifest.webmanifest", response_class=FileResponse, summary="the web app manifest (install the page)",
            responses={200: {"content": {"application/manifest+json": {}}, "description": "the manifest"}})
def manifest():
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers=FRESH)


@router.get("/sw.js", response_class=FileResponse, summary="the service worker: keeps the page's files for offline",
            responses={200: {"content": {"text/javascript": {}}, "description": "the script"}})
def service_worker():
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=FRESH)
