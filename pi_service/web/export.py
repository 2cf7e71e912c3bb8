"""`/api/sessions/{id}/export`: a stored session as a FIT, TCX or CSV file (pi_service/export/),
built from the history read-only, as an attachment."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from pi_service import export
from pi_service.web.history import HISTORY_UNREADABLE, _history, read_records, read_session

router = APIRouter()


@router.get("/api/sessions/{session_id}/export", response_class=Response,
            summary="one session as a file: FIT (Garmin Connect, Strava), TCX, or CSV in the recording format",
            responses={200: {"content": {media: {} for _, media in export.FORMATS.values()},
                             "description": "the file, as an attachment"},
                       404: {"description": "no such session"}, **HISTORY_UNREADABLE})
def export_session(request: Request, session_id: int = Path(ge=1, le=2**63 - 1),
                   format: Literal["fit", "tcx", "csv"] = Query(description="fit, tcx or csv")):
    with _history(request) as db:
        found = read_session(db, session_id)
        if found is None:
            raise HTTPException(404, f"no session {session_id}")
        records = read_records(db, session_id)
    started_at = datetime.fromisoformat(found.started_at)
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=timezone.utc)
    session = export.ExportedSession(started_at=started_at, duration_s=found.duration_s, distance_m=found.distance_m,
                                     max_speed_mps=found.max_speed_mps, energy_kcal=found.energy_kcal,
                                     elevation_gain_m=found.elevation_gain_m, cadence_avg_spm=found.cadence_avg_spm,
                                     records=records)
    body = export.build(format, session)
    return Response(body, media_type=export.FORMATS[format][1],
                    headers={"Content-Disposition": f'attachment; filename="{export.filename(session, format)}"'})
