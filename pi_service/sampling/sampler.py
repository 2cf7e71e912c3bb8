"""What the sampling process does: open the hardware (real or virtual), then each tick read
every sensor, track the session, record, and publish a snapshot for the web process.

`run_sampler` is the whole body, so the same code runs in the sampling process and, for
the benchmark's naive baseline only, in a thread of the web process.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.actions.nudges import PATTERNS, NudgePolicy
from pi_service.calibration import CalibrationStore, CalibrationWatcher
from pi_service.calibration import apply as apply_calibration
from pi_service.console.link import ConsoleLink
from pi_service.console.watch import ConsoleWatch
from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.events import ACTION_KINDS, Event
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.recording import RecordingWriter, quantize
from pi_service.storage.history import HistoryWriter, state_dir
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.hardware import open_hardware
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.realtime import enter_realtime, loop_priority
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
log = logging.getLogger(__name__)

READY_CHIRP = ((0.05, 0.05), (0.05, 0.0))
SESSION_SAVE_EVERY_S = 2.0
RECENT_EVENTS = 20


@dataclass(frozen=True)
class SamplerOptions:
    sim: bool = False
    scenario: str | None = None
    speedup: float | None = None
    record: str | None = None
    pacing: str = "deadline"  # "naive" only for the benchmark's baseline
    realtime: bool = True


class Sampler:
    """One tick's work; everything it touches is passed in."""

    def __init__(self, config: Config, sensors: Sensors, board: SnapshotBoard, stats: LoopStats,
                 recorder: RecordingWriter | None = None, treadmill=None, realtime: str = "",
                 buzzer: BuzzerDriver | None = None, history: HistoryWriter | None = None, commands=None,
                 console: ConsoleLink | None = None):
        self.config = config
        self.sensors = sensors
        self.board = board
        self.stats = stats
        self.recorder = recorder
        self.treadmill = treadmill
        self.realtime = realtime
        self.buzzer = buzzer
        self.history = history
        self.commands = commands  # the receiving end of a pipe from the web process, or None
        self.console = console  # the link thread: read its state, queue commands; never waits
        self.calibration = None  # a CalibrationWatcher: a new calibration, read off the loop
        self.console_watch = None if console is None else ConsoleWatch(config, console)
        self.engine = RuleEngine(config)
        self.nudges = NudgePolicy(config.actions.nudge_repeat_s)
        self.summary = SummaryBuilder(config.rules.steep_incline.grade_pct)
        self.alerts: dict[tuple, dict] = {}
        self.recent: list[dict] = []
        self._alerts_json = "[]"
        self._recent_json = "[]"
        self.started_t: float | None = None
        self.last_sample: Sample | None = None
        self._saved_t = float("-inf")

    def command(self, name: str, kind: str, seconds: float, now: float) -> None:
        """A person's answer to a nudge, from the page: snooze a kind, acknowledge it, or stop a ramp."""
        if name == "stop_ramp":
            for event in [] if self.console_watch is None else self.console_watch.stop_ramp(now):
                self._handle(event, now)
            return
        if name == "sim":
            if self.treadmill is None:
                raise ValueError("sim controls need the virtual treadmill")
            self.treadmill.control(kind, seconds)
            return
        if kind not in PATTERNS:
            raise ValueError(f"unknown kind {kind!r}")
        if name == "snooze":
            self.nudges.snooze(kind, now + seconds)
        elif name == "acknowledge":
            self.nudges.acknowledge(kind)
        else:
            raise ValueError(f"unknown command {name!r}")
        if self.buzzer is not None:
            self.buzzer.stop()

    def _take_commands(self, now: float) -> None:
        """Commands from the web process: a poll of the pipe, never a wait."""
        while self.commands is not None and self.commands.poll():
            try:
                name, kind, seconds = self.commands.recv()
                self.command(name, kind, float(seconds), now)
            except (EOFError, OSError):
                self.commands = None  # the web process is gone
            except (ValueError, TypeError) as exc:
                log.warning("ignored a bad command: %s", exc)

    def tick(self, t: float) -> None:
        self._take_commands(t)
        if self.calibration is not None and self.calibration.pending is not None:
            config, self.calibration.pending = self.calibration.pending, None
            self.sensors.recalibrate(config)
            log.info("new calibration in force")
        sample = self.last_sample = quantize(self.sensors.read(t))
        events = self.engine.update(sample)
        self._follow_session(sample)
        self.summary.add_sample(sample)
        for event in events:
            self._handle(event, t)
        if self.console_watch is not None:
            self._watch_console(t, sample)
        for nudge in self.nudges.tick(t):
            self._play(nudge.pattern)
        if self.recorder is not None:
            self.recorder.add(sample)
        self.board.publish_json(self.snapshot_json(sample))

    def _watch_console(self, t: float, sample: Sample) -> None:
        steep = self.alerts.get(("steep_incline", None))
        faulty = {channel for kind, channel in self.alerts if kind == "sensor_fault"}
        events = self.console_watch.tick(t, sample.incline_pct, None if steep is None else steep["since_t"],
                                         self.nudges.answer("steep_incline")[1], faulty)
        for event in events:
            self._handle(event, t)

    def snapshot_json(self, sample: Sample) -> bytes:
        """The snapshot serialised: alerts and recent events change rarely, so their JSON
        is kept from when they last changed and spliced in (it is most of the bytes)."""
        head = self.snapshot(sample, with_events=False)
        text = json.dumps(head, separators=(",", ":"))
        return (text[:-1] + ',"alerts":' + self._alerts_json + ',"events":' + self._recent_json + "}").encode()

    def _follow_session(self, sample: Sample) -> None:
        for ended in self.engine.ended:
            finished = self.summary.finish(ended.ended_t)
            if finished is not None and self.history is not None:
                self.history.session(finished.to_dict())
        self.engine.ended.clear()
        current = self.engine.sessions.current
        if current is not None and (self.summary.current is None
                                    or self.summary.current.started_t != current.started_t):
            self.summary.start(current.started_t)
            self._saved_t = float("-inf")
        if self.summary.current is not None and self.history is not None and \
                sample.t - self._saved_t >= SESSION_SAVE_EVERY_S:
            self._saved_t = sample.t
            self.history.session(self.summary.current.to_dict())

    def _handle(self, event: Event, now: float) -> None:
        """A rule's event, or an action's (`incline_ramp`: stored and shown, not an alert or a nudge)."""
        action = event.kind in ACTION_KINDS
        if not action:
            self.summary.add_event(event)
        if self.history is not None:
            self.history.event(event)
        data = event.to_dict()
        key = (event.kind, event.detail.get("channel"))
        # (An action is no alert: the snapshot's "ramp" says what the ramp-down is doing.)
        if not action and event.phase == "start":
            self.alerts[key] = {"kind": event.kind, "since_t": event.t, "message": event.message,
                                "detail": event.detail}
        elif not action and event.phase == "end":
            self.alerts.pop(key, None)
        self.recent = (self.recent + [data])[-RECENT_EVENTS:]
        self._alerts_json = json.dumps(list(self.alerts.values()), separators=(",", ":"))
        self._recent_json = json.dumps(self.recent, separators=(",", ":"))
        nudge = None if action else self.nudges.on_event(event, now)
        if nudge is not None:
            self._play(nudge.pattern)

    def _play(self, pattern) -> None:
        if self.buzzer is not None:
            self.buzzer.play(pattern)

    def snapshot(self, sample: Sample, with_events: bool = True) -> dict:
        if self.started_t is None:
            self.started_t = sample.t
        figures = self.stats.figures
        session = self.engine.sessions.current
        faults = [{"channel": f.channel, "device": f.device, "reason": f.reason, "since_t": round(f.since_t, 3)}
                  for f in self.sensors.faults()]
        if self.console is not None and not self.console.state.alive:
            link = self.console.state
            faults.append({"channel": "console", "device": "console link", "since_t": link.since_t,
                           "reason": link.error or "no valid frame from the console"})
        for part, name in ((self.recorder, "recording"), (self.history, "history")):
            if part is not None and part.error:
                faults.append({"channel": name, "device": "disk", "reason": part.error, "since_t": sample.t})
        return {
            "t": sample.t,
            "speed_mps": sample.speed_mps,
            "incline_pct": sample.incline_pct,
            "rail_left_n": sample.rail_left_n,
            "rail_right_n": sample.rail_right_n,
            "session": None if session is None else {
                "started_t": session.started_t, "elapsed_s": round(session.elapsed_s, 2),
                "distance_m": round(session.distance_m, 2)},
            **({"alerts": list(self.alerts.values()), "events": self.recent} if with_events else {}),
            "nudges": self.nudges.status(sample.t),
            "faults": faults,
            "loop": {
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
            },
            "console": None if self.console is None else self.console.state.to_dict(),
            "ramp": None if self.console_watch is None else self.console_watch.ramp.status(),
            "sim": None if self.treadmill is None else self.treadmill.describe(),
        }


def run_sampler(config: Config, options: SamplerOptions, board: SnapshotBoard,
                should_stop: Callable[[], bool], on_ready: Callable[[str], None], commands=None) -> None:
    """Open the hardware, start the loop, call `on_ready`, and sample until `should_stop()`."""
    priority = config.sampling.realtime_priority
    realtime = "naive baseline thread" if options.pacing == "naive" else "normal scheduling"
    if options.realtime and options.pacing == "deadline":
        realtime = enter_realtime(max(0, priority - 1) if priority > 1 else priority, config.sampling.cpu)
    open_bus, pin_factory, treadmill = open_hardware(config, options)
    sensors = buzzer = recorder = history = console = watcher = None
    calibrations = CalibrationStore(state_dir(config), config)
    base_config, config = config, apply_calibration(config, calibrations.load())
    try:
        sensors = Sensors(config, open_bus, pin_factory)
        buzzer = BuzzerDriver(pin_factory, config.buzzer.gpio, config.buzzer.active_high)
        recorder = RecordingWriter(options.record) if options.record else None
        history = HistoryWriter(state_dir(config) / "history.sqlite3")
        if treadmill is not None:
            treadmill.start()
        if config.console.enabled:
            console = ConsoleLink(treadmill.console_port if treadmill is not None else config.console.port,
                                  config.console.baud)
            console.start()
        stats = LoopStats()
        if realtime.startswith("SCHED_FIFO"):
            loop_priority(priority)
            realtime = realtime.replace(f"SCHED_FIFO {priority - 1}", f"SCHED_FIFO {priority}", 1)
        sampler = Sampler(config, sensors, board, stats, recorder, treadmill, realtime, buzzer, history, commands,
                          console)
        watcher = sampler.calibration = CalibrationWatcher(calibrations, base_config)
        watcher.start()
        loop = FixedRateLoop(config.sampling.rate_hz, sampler.tick, stats, pacing=options.pacing)
        sampler.tick(time.monotonic())  # the first snapshot, before anyone waits for it
        buzzer.play(READY_CHIRP)
        log.info("sampling at %g Hz (%s)", config.sampling.rate_hz, realtime)
        on_ready(realtime)
        if options.pacing == "deadline":
            gc.freeze()  # what exists now lives for the whole run: keep it out of collections
        loop.run(should_stop)
    finally:
        if watcher is not None:
            watcher.close()
        if console is not None:
            console.close()  # before the virtual console goes, so no "link down" on the way out
        if treadmill is not None:
            treadmill.stop()
        for part in (recorder, history, buzzer, sensors):
            if part is not None:
                part.close()
