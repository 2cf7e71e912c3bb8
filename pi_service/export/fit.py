"""A session as a FIT activity file (Garmin's binary format, read by Garmin Connect and
Strava), written with fit-tool: file_id, timer start, a record a second, timer stop, one lap,
one session (running, sub-sport treadmill) and the activity, in that order as the FIT SDK's
activity-file guide lays them out.

Each record has the timestamp, the session's distance so far, the belt speed, the grade (FIT's
record.grade, in %) and the cadence. FIT's running cadence is in strides (cycles) per minute,
as its `rpm` unit says: half the footstrikes per minute the companion counts, in `cadence`
with the half-stride in `fractional_cadence` (1/128 resolution), as Garmin's watches write
it; Garmin Connect and Strava show steps per minute, twice it."""

from __future__ import annotations

from datetime import datetime

from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.activity_message import ActivityMessage
from fit_tool.profile.messages.event_message import EventMessage
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.lap_message import LapMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.messages.session_message import SessionMessage
from fit_tool.profile.profile_type import (Activity, Event, EventType, FileType, Intensity, LapTrigger, Manufacturer,
                                           SessionTrigger, Sport, SubSport)

from pi_service.export import ExportedSession

MAX_CADENCE_RPM = 254  # uint8, 255 is FIT's "invalid"



def _timer(event_type, timestamp_ms: int) -> EventMessage:
    """The activity timer's start or stop."""
    message = EventMessage()
    message.event = Event.TIMER
    message.event_type = event_type
    message.timestamp = timestamp_ms
    return message

def _ms(moment: datetime) -> int:
    """fit-tool takes timestamps as Unix milliseconds (it converts them to FIT's 1989 epoch)."""
    return round(moment.timestamp() * 1000)


def strides(cadence_spm: float) -> tuple[int, float]:
    """Footstrikes per minute as FIT's running cadence: whole strides per minute, and the fraction."""
    per_min = min(MAX_CADENCE_RPM, max(0.0, cadence_spm / 2))
    whole = int(per_min)
    return whole, round((per_min - whole) * 128) / 128


def _summary(message, session: ExportedSession, start_ms: int, end_ms: int) -> None:
    """The figures a lap and a session share."""
    message.timestamp = end_ms
    message.start_time = start_ms
    message.event = Event.LAP if isinstance(message, LapMessage) else Event.SESSION
    message.event_type = EventType.STOP
    message.sport = Sport.RUNNING
    message.sub_sport = SubSport.TREADMILL
    message.total_elapsed_time = session.duration_s
    message.total_timer_time = session.duration_s
    message.total_distance = session.distance_m
    message.max_speed = session.max_speed_mps
    if session.duration_s > 0:
        message.avg_speed = session.distance_m / session.duration_s
    if session.energy_kcal is not None:
        message.total_calories = round(session.energy_kcal)
    if session.elevation_gain_m is not None:
        message.total_ascent = round(session.elevation_gain_m)
    if session.cadence_avg_spm is not None:
        message.avg_cadence = strides(session.cadence_avg_spm)[0]


def build(session: ExportedSession) -> bytes:
    start_ms = _ms(session.started_at)
    end_ms = _ms(session.at(session.duration_s))
    builder = FitFileBuilder(auto_define=True)

    file_id = FileIdMessage()
    file_id.type = FileType.ACTIVITY
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 0
    file_id.serial_number = 1
    file_id.time_created = start_ms
    builder.add(file_id)

    builder.add(_timer(EventType.START, start_ms))

    for r in session.records:
        record = RecordMessage()
        record.timestamp = _ms(session.at(r["t_s"]))
        record.distance = r["distance_m"]
        if r["speed_mps"] is not None:
            record.speed = r["speed_mps"]
            record.enhanced_speed = r["speed_mps"]
        if r["incline_pct"] is not None:
            record.grade = r["incline_pct"]
        if r.get("cadence_spm") is not None:
            record.cadence, record.fractional_cadence = strides(r["cadence_spm"])
        builder.add(record)

    builder.add(_timer(EventType.STOP_ALL, end_ms))

    lap = LapMessage()
    _summary(lap, session, start_ms, end_ms)
    lap.message_index = 0
    lap.intensity = Intensity.ACTIVE
    lap.lap_trigger = LapTrigger.SESSION_END
    builder.add(lap)

    summary = SessionMessage()
    _summary(summary, session, start_ms, end_ms)
    summary.message_index = 0
    summary.first_lap_index = 0
    summary.num_laps = 1
    summary.trigger = SessionTrigger.ACTIVITY_END
    builder.add(summary)

    activity = ActivityMessage()
    activity.timestamp = end_ms
    activity.total_timer_time = session.duration_s
    activity.num_sessions = 1
    activity.type = Activity.MANUAL
    activity.event = Event.ACTIVITY
    activity.event_type = EventType.STOP
    builder.add(activity)
    return builder.build().to_bytes()
