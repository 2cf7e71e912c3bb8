"""The sampling process's body: set up real-time scheduling, open the hardware (real or
virtual) and everything a tick touches, run the loop until told to stop, close it all.

`run_sampler` is the whole of it, so the same code runs in the sampling process and, for
the benchmark's naive baseline only, in a thread of the web process.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.config import Config
from pi_service.console.link import ConsoleLink
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.maintenance.calibration import CalibrationStore, CalibrationWatcher
from pi_service.maintenance.calibration import apply as apply_calibration
from pi_service.recording import RecordingWriter
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.carry_over import CarryOver
from pi_service.sampling.hardware import open_hardware
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.realtime import enter_realtime, helper_priority, lift_loop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.storage.history import HistoryWriter
from pi_service.sampling.service_port import ServicePort
from pi_service.storage.state_folder import socket_path, state_dir

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
    service_port: bool = False  # answer calibrate and doctor on the state folder's socket: the daemon, which holds its lock


def _scheduling(config: Config, options: SamplerOptions) -> str:
    """Enter real-time scheduling at the helpers' priority, before any helper thread starts
    (they inherit it); a description of what took."""
    if options.pacing == "naive":
        return "naive baseline thread"
    if not options.realtime:
        return "normal scheduling"
    return enter_realtime(helper_priority(config.sampling.realtime_priority), config.sampling.cpu)


def run_sampler(config: Config, options: SamplerOptions, board: SnapshotBoard,
                should_stop: Callable[[], bool], on_ready: Callable[[str], None], commands=None,
                carry_board: SnapshotBoard | None = None) -> None:
    """Open the hardware, start the loop, call `on_ready`, and sample until `should_stop()`.
    `carry_board`: where the rules' state is kept for a restarted sampler, and taken up from."""
    realtime = _scheduling(config, options)
    open_bus, pin_factory, treadmill = open_hardware(config, options)
    sensors = buzzer = recorder = history = console = watcher = service = sampler = None
    folder = state_dir(config, options.sim)
    calibrations = CalibrationStore(folder, config)
    base_config, config = config, apply_calibration(config, calibrations.load())
    carry = None if carry_board is None else CarryOver(carry_board)
    carried = None if carry is None else carry.take(time.monotonic(), config.rules.session_end_s)
    try:
        sensors = Sensors(config, open_bus, pin_factory)
        buzzer = BuzzerDriver(pin_factory, config.buzzer.gpio, config.buzzer.active_high)
        recorder = RecordingWriter(options.record) if options.record else None
        # The sessions a previous run left open are closed as interrupted, but for the one
        # this sampler goes on with.
        history = HistoryWriter(folder / "history.sqlite3",
                                resume_started_t=None if carried is None else carried.session_started_t,
                                outbox_max=config.mqtt.queue_max if config.mqtt.enabled else None)
        if treadmill is not None:
            treadmill.start()
        if config.console.enabled:
            console = ConsoleLink(treadmill.console_port if treadmill is not None else config.console.port,
                                  config.console.baud)
            console.start()
        stats = LoopStats()
        realtime = lift_loop(realtime, config.sampling.realtime_priority)
        sampler = Sampler(config, sensors, board, stats, recorder, treadmill, realtime, buzzer, history, commands,
                          console)
        if carried is not None:
            sampler.take_over(carried)
            log.info("went on with the previous sampler's rules and session (its last sample %.1f s ago)",
                     time.monotonic() - carried.t)
        sampler.carry = carry
        watcher = sampler.calibration = CalibrationWatcher(calibrations, base_config)
        watcher.start()
        if options.service_port:
            service = ServicePort(socket_path(folder), sensors, buzzer, board, treadmill,
                                  chips={"rails": sensors.rails_guard.name, "incline": sensors.incline_guard.name},
                                  forward_axis=config.incline.forward_axis)
            try:
                service.start()
                sampler.service = service
            except OSError as exc:  # the folder went read-only or full since the lock: sample on without it
                log.warning("no service port at %s (%s): calibrate and doctor cannot reach this daemon",
                            service.path, exc.strerror)
                service = None
        loop = FixedRateLoop(config.sampling.rate_hz, sampler.tick, stats, pacing=options.pacing)
        sampler.tick(time.monotonic())  # the first snapshot, before anyone waits for it
        buzzer.play(READY_CHIRP)
        log.info("sampling at %g Hz (%s)", config.sampling.rate_hz, realtime)
        on_ready(realtime)
        if options.pacing == "deadline":
            gc.freeze()  # what exists now lives for the whole run: keep it out of collections
        loop.run(should_stop)
    finally:
        if sampler is not None:
            # A clean stop (SIGTERM, the daemon's Ctrl-C, the daemon gone) ends the session at
            # its last sample, saved before the history closes; a kill -9 leaves it open, to be
            # closed as interrupted at the next start, or gone on with by a restarted sampler.
            try:
                sampler.sessions.stop()
            except Exception:  # noqa: BLE001 - whatever it was, the devices below must still close
                log.exception("the session under way could not be saved as ended")
        for part in (service, watcher):
            if part is not None:
                part.close()
        if console is not None:
            console.close()  # before the virtual console goes, so no "link down" on the way out
        if treadmill is not None:
            treadmill.stop()
        for part in (recorder, history, buzzer, sensors):
            if part is not None:
                part.close()
