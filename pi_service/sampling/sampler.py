"""One tick of the sampling loop, as a table of contents: take the page's commands, read the
sensors (and hand a maintenance command its raw readings), run the rules (once every sensor
has answered: `start_up.py`), act on their events, record, publish. Each step is owned by its
own module; what the tick touches is passed in (`sampling/run.py` opens and wires it)."""

from __future__ import annotations

import logging

from pi_service.actions.responses import Responses
from pi_service.config import Config
from pi_service.console.link import ConsoleLink
from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.sample import Sample
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.maintenance.calibration import CalibrationWatcher
from pi_service.recording import RecordingWriter, quantize
from pi_service.sampling.alerts import AlertBoard
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.carry_over import CarryOver, RuleState
from pi_service.sampling.commands import CommandInbox
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.service_port import ServicePort
from pi_service.sampling.session_log import SessionLog
from pi_service.sampling.snapshot import SnapshotMaker
from pi_service.sampling.start_up import StartUp
from pi_service.sampling.stats import LoopStats
from pi_service.storage.history import HistoryWriter

log = logging.getLogger(__name__)


class Sampler:
    def __init__(self, config: Config, sensors: Sensors, board: SnapshotBoard, stats: LoopStats,
                 recorder: RecordingWriter | None = None, treadmill=None, realtime: str = "",
                 buzzer: BuzzerDriver | None = None, history: HistoryWriter | None = None, commands=None,
                 console: ConsoleLink | None = None):
        self.sensors = sensors
        self.board = board
        self.recorder = recorder
        self.treadmill = treadmill
        self.commands = CommandInbox(commands)
        self.calibration: CalibrationWatcher | None = None  # a new calibration, read off the loop
        self.service: ServicePort | None = None  # calibrate and doctor, through the daemon
        self.engine = RuleEngine(config)
        self.sessions = SessionLog(config, history)
        self.alerts = AlertBoard()
        self.responses = Responses(config, buzzer, console)
        self.snapshots = SnapshotMaker(config, stats, sensors, realtime, recorder, history, console, treadmill)
        self.last_sample: Sample | None = None
        self.start_up = StartUp()
        self.carry: CarryOver | None = None  # the rules' state, kept for a restarted sampler
        self._commanded = False

    def tick(self, t: float) -> None:
        self._commanded = False
        self.commands.take(self.command, t)
        self._recalibrate()
        sample = self.last_sample = quantize(self.sensors.read(t))
        if self.service is not None and self.service.busy:
            self.service.on_tick(t, sample.speed_mps)
        events = []
        if self.start_up.done or self._started(sample):
            events = self.engine.update(sample)
            self.sessions.follow(self.engine, sample)
            self._act(events, sample, t)
            if self.recorder is not None:
                self.recorder.add(sample)
        self.board.publish_json(self.snapshot_json(sample))
        if self.carry is not None and self.carry.due(t, bool(events) or self._commanded):
            self.carry.save(self.rule_state(t))

    def _started(self, sample: Sample) -> bool:
        if not self.start_up.ready(sample):
            return False
        log.info("rules started: %s", self.start_up.describe())
        return True

    def rule_state(self, t: float) -> RuleState:
        return RuleState(t, self.engine, self.sessions.summary, self.alerts, self.responses.nudges)

    def take_over(self, state: RuleState) -> None:
        """Go on from where a previous sampler left off (sampling/carry_over.py)."""
        self.engine = state.engine
        self.sessions.resume(state.summary)
        self.alerts = state.alerts
        self.responses.nudges = state.nudges

    def command(self, name: str, kind: str, seconds: float, now: float) -> None:
        """A command from the page: the sim controls go to the virtual treadmill; the rest are
        answers to nudges (snooze, acknowledge, stop the ramp). ValueError if it makes no sense."""
        self._commanded = True
        if name == "sim":
            if self.treadmill is None:
                raise ValueError("sim controls need the virtual treadmill")
            self.treadmill.control(kind, seconds)
            return
        self._handle(self.responses.answer(name, kind, seconds, now), now)

    def snapshot(self, sample: Sample, with_events: bool = True) -> dict:
        return self.snapshots.make(sample, self.engine.sessions.current, self.alerts, self.responses, with_events,
                                   summary=self.sessions.summary.current)

    def snapshot_json(self, sample: Sample) -> bytes:
        return self.snapshots.json(sample, self.engine.sessions.current, self.alerts, self.responses,
                                   summary=self.sessions.summary.current)

    def _recalibrate(self) -> None:
        pending = None if self.calibration is None else self.calibration.take()
        if pending is not None:
            self.sensors.recalibrate(pending)
            log.info("new calibration in force")

    def _act(self, events: list[Event], sample: Sample, t: float) -> None:
        """The rules' events, then the console's (which follow the alerts those raised), then
        the nudges' repeats."""
        self._handle(events, t)
        self._handle(self.responses.watch_console(t, sample.incline_pct, self.alerts), t)
        self.responses.repeat_nudges(t)

    def _handle(self, events: list[Event], now: float) -> None:
        """Each event where it goes: the session's summary and the history, the page's alerts, a nudge."""
        for event in events:
            self.sessions.event(event)
            self.alerts.add(event)
            self.responses.on_event(event, now)
