"""A session as a Garmin Training Center (TCX v2) activity: one running lap with its time,
distance and calories, and a trackpoint a second with time, distance, cadence and the belt
speed (the ActivityExtension's TPX Speed); no position, as on any treadmill.

TCX's Cadence is what Garmin's own exports write for a run: strides per minute (one foot's
steps), half the footstrikes per minute the companion counts; Garmin Connect and Strava show
twice it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from pi_service.export import ExportedSession

TCX = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
TPX = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"
# Written with the prefixes Garmin's own files use (ElementTree reserves "ns3" for itself, so
# the names are written as they are, the namespaces declared on the root).
TPX_PREFIX = "ns3:"


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def strides_per_min(cadence_spm: float | None) -> int | None:
    """Footstrikes per minute as TCX's (and FIT's) running cadence, within its 0-254."""
    return None if cadence_spm is None else max(0, min(254, round(cadence_spm / 2)))


def build(session: ExportedSession) -> bytes:
    root = ET.Element("TrainingCenterDatabase", {"xmlns": TCX, "xmlns:ns3": TPX})
    activity = _add(_add(root, "Activities"), "Activity", Sport="Running")
    _add(activity, "Id", _time(session.started_at))
    # The children in the order the schema requires.
    lap = _add(activity, "Lap", StartTime=_time(session.started_at))
    _add(lap, "TotalTimeSeconds", f"{session.duration_s:.1f}")
    _add(lap, "DistanceMeters", f"{session.distance_m:.1f}")
    _add(lap, "MaximumSpeed", f"{session.max_speed_mps:.3f}")
    _add(lap, "Calories", str(round(session.energy_kcal or 0)))
    _add(lap, "Intensity", "Active")
    average = strides_per_min(session.cadence_avg_spm)
    if average is not None:
        _add(lap, "Cadence", str(average))
    _add(lap, "TriggerMethod", "Manual")
    track = _add(lap, "Track")
    for record in session.records:
        point = _add(track, "Trackpoint")
        _add(point, "Time", _time(session.at(record["t_s"])))
        _add(point, "DistanceMeters", f"{record['distance_m']:.2f}")
        cadence = strides_per_min(record.get("cadence_spm"))
        if cadence is not None:
            _add(point, "Cadence", str(cadence))
        if record["speed_mps"] is not None:
            extension = _add(_add(point, "Extensions"), TPX_PREFIX + "TPX")
            _add(extension, TPX_PREFIX + "Speed", f"{record['speed_mps']:.3f}")
    _add(activity, "Notes", "Treadmill Companion")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
