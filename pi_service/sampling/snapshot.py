"""The snapshot the sampling loop publishes each tick for the web process (and, later, the
MQTT publisher): the readings (the footstrike channels among them), the session, the alerts
and nudges, the faults, the loop's own figures (the accelerometer's FIFO among them), the
console and the ramp. Serialised with the alerts' and events' JSON
spliced in as `AlertBoard` keeps it, since re-encoding them every tick is most of the cost."""

from __future__ import annotations

import json

from pi_service.actions.responses import Responses
from pi_service.config import Config
from pi_service.console.link import ConsoleLink
from pi_service.core.sample import Sample
from pi_service.core.session import Session
from pi_service.core.summary import SessionSummary
from pi_service.recording import RecordingWriter
from pi_service.sampling.alerts import AlertBoard
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.storage.history import HistoryWriter


class SnapshotMaker:
    """Everything a snapshot reads besides the tick's own state is passed in once, here."""

    def __init__(self, config: Config, stats: LoopStats, sensors: Sensors, realtime: str = "",
                 recorder: RecordingWriter | None = None, history: HistoryWriter | None = None,
                 console: ConsoleLink | None = None, treadmill=None):
        self.config = config
        self.stats = stats
        self.sensors = sensors
        self.realtime = realtime
        self.recorder = recorder
        self.history = history
        self.console = console
        self.treadmill = treadmill
        self.started_t: float | None = None  # the first snapshot's time: when this loop started

    def make(self, sample: Sample, session: Session | None, alerts: AlertBoard, responses: Responses,
             with_events: bool = True, summary: SessionSummary | None = None) -> dict:
        """`summary`: the session's summary so far (sampling/session_log.py), for its average cadence."""
        if self.started_t is None:
            self.started_t = sample.t
        return {
            "t": sample.t,
            "speed_mps": sample.speed_mps,
            "incline_pct": sample.incline_pct,
            "rail_left_n": sample.rail_left_n,
            "rail_right_n": sample.rail_right_n,
            "cadence_spm": sample.cadence_spm,
            "footstrike_g": sample.footstrike_g,
            "session": self.session(session, summary),
            **({"alerts": list(alerts.active.values()), "events": alerts.recent} if with_events else {}),
            "nudges": responses.nudges.status(sample.t),
            "faults": self.faults(sample.t),
            "loop": self.loop(),
            "console": None if self.console is None else self.console.state.to_dict(),
            "ramp": responses.ramp_status(),
            "sim": None if self.treadmill is None else self.treadmill.describe(),
        }

    def json(self, sample: Sample, session: Session | None, alerts: AlertBoard, responses: Responses,
             summary: SessionSummary | None = None) -> bytes:
        """`make(...)` serialised, the alerts and events spliced in from `alerts`' own JSON."""
        text = json.dumps(self.make(sample, session, alerts, responses, with_events=False, summary=summary),
                          separators=(",", ":"))
        return (text[:-1] + ',"alerts":' + alerts.active_json + ',"events":' + alerts.recent_json + "}").encode()

    @staticmethod
    def session(session: Session | None, summary: SessionSummary | None) -> dict | None:
        """The session under way, with its average cadence (None until one is felt), metres
        climbed and calories from its summary (None and 0 while the summary is not yet this
        session's)."""
        if session is None:
            return None
        same = summary is not None and summary.started_t == session.started_t
        return {"started_t": session.started_t, "elapsed_s": round(session.elapsed_s, 2),
                "distance_m": round(session.distance_m, 2), "cadence_spm": summary.cadence_spm if same else None,
                "elevation_gain_m": round(summary.elevation_gain_m, 2) if same else 0.0,
                "energy_kcal": round(summary.energy_kcal, 1) if same else 0.0}

    def faults(self, t: float) -> list[dict]:
        """The sensors' faults, the console link's, and the disk's (recording, history)."""
        faults = [{"channel": f.channel, "device": f.device, "reason": f.reason, "since_t": round(f.since_t, 3)}
                  for f in self.sensors.faults()]
        if self.console is not None and not self.console.state.alive:
            link = self.console.state
            faults.append({"channel": "console", "device": "console link", "since_t": link.since_t,
                           "reason": link.error or "no valid frame from the console"})
        for part, name in ((self.recorder, "recording"), (self.history, "history")):
            if part is not None and part.error:
                faults.append({"channel": name, "device": "disk", "reason": part.error, "since_t": t})
        return faults

    def loop(self) -> dict:
        """The loop's own figures: rate, lateness, overruns, device errors, belt pulses, and the
        accelerometer's FIFO stream with its footstrikes (None when footstrikes are off). A FIFO
        overrun is counted there, not listed in `faults`: samples were lost, the sensor works."""
        figures = self.stats.figures
        return {
            "target_hz": self.config.sampling.rate_hz,
            "rate_hz": round(figures.rate_hz, 3),
            "late_p50_ms": round(figures.late_p50_ms, 4),
            "late_p99_ms": round(figures.late_p99_ms, 4),
            "late_max_ms": round(figures.late_max_ms, 4),
            "overruns": self.stats.overruns,
            "missed_periods": self.stats.missed_periods,
            "ticks": self.stats.ticks,
            "work_max_ms": round(figures.work_max_ms, 4),
            "started_t": self.started_t,
            "realtime": self.realtime,
            "device_errors": self.sensors.device_errors(),
            "belt_pulses": self.sensors.belt.pulses,
            "belt_glitches": self.sensors.belt.glitches,
            "recording_dropped": 0 if self.recorder is None else self.recorder.dropped,
            "footstrikes": self.sensors.footstrike_figures(),
        }
