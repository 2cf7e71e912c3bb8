"""What the sampling process does: open the hardware (real or virtual), then each tick read
every sensor, track the session, record, and publish a snapshot for the web process.

`run_sampler` is the whole body, so the same code runs in the sampling process and, for
the benchmark's naive baseline only, in a thread of the web process.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.config import Config
from pi_service.core.sample import Sample
from pi_service.core.session import SessionTracker
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.errors import HardwareError
from pi_service.recording import RecordingWriter
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.realtime import enter_realtime, loop_priority
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.units import kmh_to_mps

log = logging.getLogger(__name__)

READY_CHIRP = ((0.05, 0.05), (0.05, 0.0))


@dataclass(frozen=True)
class SamplerOptions:
    sim: bool = False
    scenario: str | None = None
    speedup: float | None = None
    record: str | None = None
    pacing: str = "deadline"  # "naive" only for the benchmark's baseline
    realtime: bool = True


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class Sampler:
    """One tick's work; everything it touches is passed in."""

    def __init__(self, config: Config, sensors: Sensors, board: SnapshotBoard, stats: LoopStats,
                 recorder: RecordingWriter | None = None, treadmill=None, realtime: str = ""):
        self.config = config
        self.sensors = sensors
        self.board = board
        self.stats = stats
        self.recorder = recorder
        self.treadmill = treadmill
        self.realtime = realtime
        self.sessions = SessionTracker(kmh_to_mps(config.rules.session_start_kmh), config.rules.session_end_s)
        self.started_t: float | None = None

    def tick(self, t: float) -> None:
        sample = self.sensors.read(t)
        self.sessions.update(sample)
        if self.recorder is not None:
            self.recorder.add(sample)
        self.board.publish(self.snapshot(sample))

    def snapshot(self, sample: Sample) -> dict:
        if self.started_t is None:
            self.started_t = sample.t
        figures = self.stats.figures
        session = self.sessions.current
        faults = [{"channel": f.channel, "device": f.device, "reason": f.reason, "since_t": round(f.since_t, 3)}
                  for f in self.sensors.faults()]
        if self.recorder is not None and self.recorder.error:
            faults.append({"channel": "recording", "device": "disk", "reason": self.recorder.error,
                           "since_t": sample.t})
        return {
            "t": sample.t,
            "speed_mps": _round(sample.speed_mps, 4),
            "incline_pct": _round(sample.incline_pct, 2),
            "rail_left_n": _round(sample.rail_left_n, 1),
            "rail_right_n": _round(sample.rail_right_n, 1),
            "session": None if session is None else {
                "started_t": session.started_t, "elapsed_s": round(session.elapsed_s, 2),
                "distance_m": round(session.distance_m, 2)},
            "alerts": [],
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
            "sim": None if self.treadmill is None else self.treadmill.describe(),
        }


def open_hardware(config: Config, options: SamplerOptions):
    """(open_bus, pin_factory, treadmill): a Pi's buses and pins, or the virtual treadmill's."""
    if options.sim:
        from pi_service.sim.scenario import load_scenario
        from pi_service.sim.treadmill import VirtualTreadmill

        scenario = load_scenario(options.scenario or config.sim.scenario)
        treadmill = VirtualTreadmill(config, scenario, speedup=options.speedup)
        return treadmill.open_bus, treadmill.pin_factory, treadmill
    try:
        from gpiozero.pins.lgpio import LGPIOFactory

        pin_factory = LGPIOFactory()
    except Exception as exc:  # noqa: BLE001 - lgpio raises several kinds when there is no GPIO chip
        raise HardwareError(
            f"no GPIO: {exc or type(exc).__name__} (on a Pi install the 'pi' extra; elsewhere use --sim)") from None
    from pi_service.drivers.i2c import open_bus

    return open_bus, pin_factory, None


def run_sampler(config: Config, options: SamplerOptions, board: SnapshotBoard,
                should_stop: Callable[[], bool], on_ready: Callable[[str], None]) -> None:
    """Open the hardware, start the loop, call `on_ready`, and sample until `should_stop()`."""
    priority = config.sampling.realtime_priority
    realtime = "naive baseline thread" if options.pacing == "naive" else "normal scheduling"
    if options.realtime and options.pacing == "deadline":
        realtime = enter_realtime(max(0, priority - 1) if priority > 1 else priority, config.sampling.cpu)
    open_bus, pin_factory, treadmill = open_hardware(config, options)
    sensors = buzzer = recorder = None
    try:
        sensors = Sensors(config, open_bus, pin_factory)
        buzzer = BuzzerDriver(pin_factory, config.buzzer.gpio, config.buzzer.active_high)
        recorder = RecordingWriter(options.record) if options.record else None
        if treadmill is not None:
            treadmill.start()
        stats = LoopStats()
        if realtime.startswith("SCHED_FIFO"):
            loop_priority(priority)
            realtime = realtime.replace(f"SCHED_FIFO {priority - 1}", f"SCHED_FIFO {priority}", 1)
        sampler = Sampler(config, sensors, board, stats, recorder, treadmill, realtime)
        loop = FixedRateLoop(config.sampling.rate_hz, sampler.tick, stats, pacing=options.pacing)
        sampler.tick(time.monotonic())  # the first snapshot, before anyone waits for it
        buzzer.play(READY_CHIRP)
        log.info("sampling at %g Hz (%s)", config.sampling.rate_hz, realtime)
        on_ready(realtime)
        if options.pacing == "deadline":
            gc.freeze()  # what exists now lives for the whole run: keep it out of collections
        loop.run(should_stop)
    finally:
        if treadmill is not None:
            treadmill.stop()
        for part in (recorder, buzzer, sensors):
            if part is not None:
                part.close()
