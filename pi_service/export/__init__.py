"""A stored session as a file to take elsewhere: FIT and TCX for Garmin Connect and Strava,
CSV in the recording format (spec 5.3) for spreadsheets and `replay`. Pure: the session's
summary and its readings at 1 Hz (storage/history.py's `records`) in, the file's bytes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ExportedSession:
    started_at: datetime  # UTC, to the second (as the history keeps it)
    duration_s: float
    distance_m: float
    max_speed_mps: float
    energy_kcal: float | None = None  # None: a session saved before calories were kept
    elevation_gain_m: float | None = None
    cadence_avg_spm: float | None = None
    records: list[dict] = field(default_factory=list)  # RECORD_COLUMNS, oldest first

    def at(self, t_s: float) -> datetime:
        """The wall-clock time `t_s` seconds into the session."""
        return self.started_at + timedelta(seconds=t_s)


# format -> (file extension, media type)
FORMATS = {
    "fit": ("fit", "application/vnd.ant.fit"),
    "tcx": ("tcx", "application/vnd.garmin.tcx+xml"),
    "csv": ("csv", "text/csv; charset=utf-8"),
}


def build(format: str, session: ExportedSession) -> bytes:
    """The session as a file of `format` (a key of FORMATS)."""
    if format == "fit":
        from pi_service.export import fit
        return fit.build(session)
    if format == "tcx":
        from pi_service.export import tcx
        return tcx.build(session)
    if format == "csv":
        from pi_service.export import csv
        return csv.build(session)
    raise ValueError(f"no export format {format!r}")


def filename(session: ExportedSession, format: str) -> str:
    """treadmill-<start, UTC>.<ext>, with no character a phone's or Windows' file system refuses."""
    return f"treadmill-{session.started_at:%Y-%m-%d-%H%M%S}.{FORMATS[format][0]}"
