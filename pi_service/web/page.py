"""`/`: the phone page. Everything it needs ships in `static/` (no CDN: the Pi may be offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter()

INDEX = Path(__file__).parent / "static" / "index.html"


@router.get("/", include_in_schema=True, response_class=FileResponse, summary="the phone page",
            responses={200: {"content": {"text/html": {}}, "description": "the page"}})
def index():
    return FileResponse(INDEX, media_type="text/html", headers={"Cache-Control": "no-cache"})
