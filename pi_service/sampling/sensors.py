"""All the treadmill's sensors read once per tick into one Sample, with faults instead of exceptions.

A device that fails is left alone for a back-off (50 ms, doubling to 1 s) so a dead
bus cannot cost a transfer timeout every tick, then tried again and re-initialised:
it recovers on its own. A timeout means the bus itself hangs, so the other device on
that bus is not tried in the same tick: a hung bus costs one adapter timeout per try.
Each bus's transfers for the tick are one job per device (`sampling/bus_worker.py`): where
the adapter timeout would take a tick past two periods (200 Hz), a thread does them and the
tick waits for them up to a deadline; elsewhere they run inline. Only the jobs touch the
chips' drivers; the guards and this tick's readings are kept by the loop's thread.
The incline itself is worked out by `signals/incline.py` (a footstrike's jolt holds it;
only half a second of readings far from 1 g is a fault). With `[footstrikes] enabled` the
accelerometer streams at >= 400 Hz into its FIFO, drained each tick (`FifoFeed`): every
sample, timestamped by `sampling/fifo_clock.py`, feeds the incline's low-pass and the
footstrike detector (`signals/footstrikes.py`); otherwise one reading per tick feeds the
incline, as before. The ADS1115's two rails are
read pipelined, one channel per tick: each tick collects the conversion started on the
previous tick and starts the other channel, so the loop never waits for a conversion.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.config import Config, FootstrikesConfig
from pi_service.core.sample import Sample
from pi_service.drivers.ads1115 import ADS1115
from pi_service.drivers.accelerometer import CHIP_NAMES, FOOTSTRIKE_RATE_HZ, build_accelerometer, footstrike_stream
from pi_service.drivers.adxl345 import output_rate_hz
from pi_service.drivers.belt_speed import BeltSpeedSensor
from pi_service.drivers.fifo import FifoRead, FifoStream
from pi_service.drivers.i2c import I2CDevice
from pi_service.drivers.i2c_timing import register_read_s
from pi_service.errors import HardwareError
from pi_service.sampling.bus_budget import tick_bus_budget
from pi_service.sampling.bus_worker import BusJob, BusWorker, bus_deadline_s, needs_deadline, run_inline
from pi_service.sampling.fifo_clock import FifoClock
from pi_service.signals.footstrikes import FootstrikeDetector
from pi_service.signals.incline import IMPLAUSIBLE_FAULT_S, InclineEstimate

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 1.0
ADS1115_IDLE_WAIT_S = 0.15  # the longest conversion there is: 8 SPS on a slow oscillator (1 / 7.2 s) and power-up
# A drain that finds nothing is the tick's phase against the chip's rate, once; a FIFO that
# stays empty this long has a chip that stopped measuring (reset, lost power): a fault, after
# as long as the incline allows readings far from 1 g.
FIFO_EMPTY_FAULT_S = IMPLAUSIBLE_FAULT_S
OVERRUN_LOG_EVERY_S = 60.0  # overruns are logged at once, then summed up at most this often


@dataclass(frozen=True, slots=True)
class Fault:
    channel: str
    device: str
    reason: str
    since_t: float


class DeviceGuard:
    """Whether a device may be used now, and its fault while it may not."""

    def __init__(self, name: str, channels: tuple[str, ...]):
        self.name = name
        self.channels = channels
        self.fault: str | None = None
        self.since_t = 0.0
        self.retry_t = 0.0
        self.backoff_s = BACKOFF_FIRST_S
        self.needs_init = True

    def ready(self, t: float) -> bool:
        return self.fault is None or t >= self.retry_t

    def failed(self, t: float, reason: str) -> None:
        if self.fault is None:
            self.since_t = t
            self.backoff_s = BACKOFF_FIRST_S
        else:
            self.backoff_s = min(BACKOFF_MAX_S, self.backoff_s * 2)
        self.fault = reason
        self.retry_t = t + self.backoff_s
        self.needs_init = True

    def succeeded(self) -> None:
        self.fault = None


class FifoFeed:
    """The accelerometer's FIFO drains, timestamped, for the incline and the footstrike detector;
    with the stream's figures and its overruns logged (never silent)."""

    def __init__(self, chip: str, stream: FifoStream, footstrikes: FootstrikesConfig, count_after_s: float):
        self.chip = chip
        self.stream = stream
        self.vertical_sign = -1.0 if footstrikes.vertical_axis == "-z" else 1.0
        self.clock = FifoClock(stream.data_rate_hz, count_after_s)
        self.detector = FootstrikeDetector(footstrikes.min_peak_g, footstrikes.refractory_s)
        self.samples = 0  # read since start
        self.overruns = 0
        self.past_watermark = 0  # drains that found the FIFO past its watermark
        self._empty_since: float | None = None
        self._last_drain_t: float | None = None
        self._logged_t = -math.inf
        self._unlogged = 0  # overruns since the last log line

    def restart(self, t: float) -> None:
        """The chip was (re)started: its FIFO begins empty, its rate is to be measured again."""
        self.clock.restart(self.stream.data_rate_hz)
        self.detector.gap(t)
        self._empty_since = self._last_drain_t = None

    def stamped(self, t: float, read: FifoRead) -> list[tuple[float, tuple[float, float, float]]]:
        """(timestamp, (x, y, z) m/s^2) for each sample of the drain at `t`, oldest first; an
        overrun is counted, logged and told to the detector and the clock. HardwareError when
        the FIFO has stayed empty for `FIFO_EMPTY_FAULT_S`."""
        if read.past_watermark:
            self.past_watermark += 1
        if read.overflowed:
            self._overran(t)
        elif self._unlogged and t - self._logged_t >= OVERRUN_LOG_EVERY_S:
            self._log_overruns(t, None)
        self._last_drain_t = t
        if read.samples or read.overflowed:
            self._empty_since = None
        elif self._empty_since is None:
            self._empty_since = t
        elif t - self._empty_since >= FIFO_EMPTY_FAULT_S:
            empty_s = t - self._empty_since
            self._empty_since = None
            raise HardwareError(f"FIFO empty for {empty_s:.1f} s at {self.stream.data_rate_hz:g} Hz: "
                                f"the chip stopped measuring (reset or lost power)")
        self.samples += len(read.samples)
        return list(zip(self.clock.stamp(t, len(read.samples)), read.samples))

    def vertical_mps2(self, acceleration: tuple[float, float, float]) -> float:
        return self.vertical_sign * acceleration[2]

    def _overran(self, t: float) -> None:
        since = None if self._last_drain_t is None else t - self._last_drain_t
        self.overruns += 1
        self._unlogged += 1
        self.detector.gap(t)
        self.clock.gap()
        if t - self._logged_t >= OVERRUN_LOG_EVERY_S:
            self._log_overruns(t, since)

    def _log_overruns(self, t: float, since_s: float | None) -> None:
        held = self.stream.holds_s()
        late = "" if since_s is None else f", {since_s * 1000:.0f} ms after the drain before"
        log.warning("%s FIFO overran %d time(s) since the last report (%d in all%s): samples were lost; "
                    "a full FIFO lasts %.0f ms at %g Hz, so the sampling loop was that late",
                    CHIP_NAMES[self.chip], self._unlogged, self.overruns, late, held * 1000,
                    self.stream.data_rate_hz)
        self._logged_t = t
        self._unlogged = 0

    def figures(self) -> dict:
        return {"fifo_rate_hz": float(self.stream.data_rate_hz), "measured_rate_hz": round(self.clock.rate_hz, 2),
                "samples": self.samples, "overruns": self.overruns, "past_watermark": self.past_watermark,
                "footstrikes": self.detector.footstrikes, "off": None}


def fifo_off_reason(config: Config) -> str | None:
    """Why the FIFO cannot stream footstrikes at this config's loop rate, or None if it can: the
    chip's FIFO must hold two periods' samples, so that one late tick loses none."""
    stream = footstrike_stream(config.incline.chip)
    needed = stream.loop_rate_min_hz()
    if config.sampling.rate_hz >= needed:
        return None
    return (f"sampling.rate_hz {config.sampling.rate_hz:g} is below the {math.ceil(needed)} Hz the "
            f"{CHIP_NAMES[config.incline.chip]}'s {stream.capacity}-sample FIFO needs at "
            f"{stream.data_rate_hz:g} Hz (two periods' samples, at a 10 % fast oscillator): footstrikes off")


class Sensors:
    def __init__(self, config: Config, open_bus: Callable[[int], object], pin_factory):
        self.config = config
        rails, incline, belt = config.rails, config.incline, config.belt
        self.belt = BeltSpeedSensor(pin_factory, belt.gpio, belt.effective_pulses_per_m(), belt.magnets,
                                    belt.pull_up, belt.glitch_s, belt.zero_speed_timeout_s)
        self._open_bus = open_bus
        self._buses: dict[int, object] = {}
        self.rails_device = I2CDevice(None, rails.address, "ADS1115")
        self.rails_adc = ADS1115(self.rails_device, rails.full_scale_v, rails.data_rate_sps)
        self.accelerometer = build_accelerometer(incline.chip, None, incline.address)
        self.incline_device = self.accelerometer.device  # named for the chip: "ADXL345" or "MPU-6050"
        self.rails_guard = DeviceGuard("ADS1115", ("rail_left", "rail_right"))
        self.incline_guard = DeviceGuard(self.incline_device.name, ("incline",))
        self._rail_channels = (rails.left_channel, rails.right_channel)
        self._rail_maps = ((rails.left_zero_v, rails.left_n_per_v), (rails.right_zero_v, rails.right_n_per_v))
        self._rail_values: list[float | None] = [None, None]
        self._rail_pending: int | None = None  # index (0 left, 1 right) of the conversion under way
        self._rail_waits = 0
        self._rail_idle_by: float | None = None  # after a (re)start: clock time by which the chip must be idle
        # This tick's raw readings, for a calibration through the daemon (sampling/service_port.py):
        self.fresh_rail: tuple[int, float] | None = None  # (0 left / 1 right, volts) of a conversion read now
        self.fresh_acceleration: tuple[float, float, float] | None = None  # m/s^2, as read now
        self._incline = InclineEstimate(incline.smoothing_s)
        self._accel_rate = output_rate_hz(config.sampling.rate_hz)
        rate_hz = config.sampling.rate_hz
        self.fifo: FifoFeed | None = None  # None: footstrikes off, one reading per tick
        self.fifo_off = None if not config.footstrikes.enabled else fifo_off_reason(config)
        if self.fifo_off is not None:
            log.warning("%s; raise it or set footstrikes.enabled = false", self.fifo_off)
        elif config.footstrikes.enabled:
            # The drain reads the FIFO's count after the rails' transfers when they share its bus.
            before_s = (tick_bus_budget(rate_hz, rails.data_rate_sps, config.i2c.bus_hz).rails_bus_s
                        if rails.i2c_bus == incline.i2c_bus else 0.0)
            status_s = sum(register_read_s(n, config.i2c.bus_hz) for n in self.accelerometer.fifo_reads(0))
            self.fifo = FifoFeed(incline.chip, footstrike_stream(incline.chip), config.footstrikes,
                                 before_s + status_s)
        fifo_chip = None if self.fifo is None else incline.chip
        self._deadline_s = (bus_deadline_s(rate_hz) if needs_deadline(rate_hz, rails.data_rate_sps, config.i2c.bus_hz,
                                                                      fifo_chip) else None)
        self._workers: dict[int, BusWorker] = {}  # started by the first tick: in the loop's thread

    def recalibrate(self, config: Config) -> None:
        """Take a new calibration (rail maps, pulses per metre, incline zero and span) between ticks."""
        rails = config.rails
        self.config = config
        self._rail_maps = ((rails.left_zero_v, rails.left_n_per_v), (rails.right_zero_v, rails.right_n_per_v))
        self.belt.metres_per_pulse = 1.0 / config.belt.effective_pulses_per_m()

    def _bus_for(self, number: int):
        if number not in self._buses:
            self._buses[number] = self._open_bus(number)
        return self._buses[number]

    def read(self, t: float) -> Sample:
        """Every channel at clock time `t` (the monotonic clock, which is also the pin factory's ticks)."""
        self.fresh_rail = self.fresh_acceleration = None
        rails_init, incline_init = self.rails_guard.needs_init, self.incline_guard.needs_init
        due: list[tuple[DeviceGuard, int, BusJob]] = []  # the devices this tick tries
        if self.rails_guard.ready(t):
            due.append((self.rails_guard, self.config.rails.i2c_bus,
                        BusJob(self.rails_device, lambda: self._rails_transfers(t, rails_init))))
        if self.incline_guard.ready(t):
            due.append((self.incline_guard, self.config.incline.i2c_bus,
                        BusJob(self.incline_device, lambda: self._incline_transfers(incline_init))))
        outcomes = dict(zip((guard for guard, _, _ in due), self._on_the_buses(due)))
        left = right = incline = None
        if self.rails_guard in outcomes:
            left, right = self._rails_result(t, outcomes[self.rails_guard])
        if self.incline_guard in outcomes:
            incline = self._incline_result(t, outcomes[self.incline_guard])
        cadence = footstrike_g = None
        if self.fifo is not None and self.incline_guard.fault is None:
            cadence, footstrike_g = self.fifo.detector.reading(t)
        return Sample(t, self.belt.speed_mps(t), incline, left, right, cadence, footstrike_g)

    def _on_the_buses(self, due: list[tuple[DeviceGuard, int, BusJob]]) -> list[object]:
        """Each job's outcome, the jobs on one bus in order: inline, or by each bus's worker
        within the deadline (the buses' workers at once)."""
        by_bus: dict[int, list[int]] = {}
        for index, (guard, bus, job) in enumerate(due):
            if guard.needs_init:
                job.device.bus = self._bus_for(bus)
            by_bus.setdefault(bus, []).append(index)
        outcomes: list[object] = [None] * len(due)
        handed: dict[int, BusWorker] = {}
        until = time.monotonic() + (self._deadline_s or 0.0)
        for bus, indices in by_bus.items():
            jobs = [due[i][2] for i in indices]
            # A virtual bus on a test's fake clock holds nobody in real time: no deadline to keep.
            if self._deadline_s is None or not getattr(self._bus_for(bus), "real_time", True):
                results = run_inline(bus, jobs)
            else:
                if bus not in self._workers:
                    self._workers[bus] = BusWorker(bus)
                worker = self._workers[bus]
                if worker.submit(jobs):
                    handed[bus] = worker
                    continue
                results = worker.still_busy(jobs)
            for i, result in zip(indices, results):
                outcomes[i] = result
        for bus, worker in handed.items():
            for i, result in zip(by_bus[bus], worker.collect(until)):
                outcomes[i] = result
        return outcomes

    def faults(self) -> list[Fault]:
        return [Fault(channel, guard.name, guard.fault, guard.since_t)
                for guard in (self.rails_guard, self.incline_guard) if guard.fault is not None
                for channel in guard.channels]

    def footstrike_figures(self) -> dict | None:
        """The FIFO stream's figures for the snapshot (loop.footstrikes); None with footstrikes
        disabled. `off` says why the stream is not running when the config asks for it."""
        if not self.config.footstrikes.enabled:
            return None
        if self.fifo is None:
            stream = footstrike_stream(self.config.incline.chip)
            return {"fifo_rate_hz": float(stream.data_rate_hz), "measured_rate_hz": None, "samples": 0,
                    "overruns": 0, "past_watermark": 0, "footstrikes": 0, "off": self.fifo_off}
        return self.fifo.figures()

    def device_errors(self) -> dict[str, int]:
        return {"ADS1115": self.rails_device.errors, self.incline_device.name: self.incline_device.errors}

    def _rails_transfers(self, t: float, init: bool) -> tuple[tuple[float | None, float | None], tuple | None, bool]:
        """The rails' job: ((left, right) in N, the conversion read now as (0 left / 1 right, volts)
        or None, whether the chip is under way as it should be). Runs where the bus work runs."""
        if init:
            self.rails_adc.probe()
            # Whatever the chip was doing (a conversion of its own from before a fault, continuous
            # mode left by another program) is stopped, and ours starts once it is idle: a start
            # written during a conversion is ignored, and its result would pass for channel 0's.
            self.rails_adc.power_down()
            self._rail_pending = None
            self._rail_values = [None, None]
            self._rail_idle_by = t + ADS1115_IDLE_WAIT_S
        if self._rail_idle_by is not None:
            # Idle when OS reads 1; a chip that keeps reading 0 is past any conversion by `idle_by`
            # (and a register file that reads back what was written, like i2c-stub, never says 1).
            if not self.rails_adc.conversion_ready() and t <= self._rail_idle_by:
                return (None, None), None, False
            self._rail_idle_by = None
        fresh = None
        pending = self._rail_pending
        if pending is not None:
            if self.rails_adc.conversion_ready():
                zero_v, n_per_v = self._rail_maps[pending]
                volts = self.rails_adc.read_volts()
                fresh = (pending, volts)
                self._rail_values[pending] = (volts - zero_v) * n_per_v
                self._rail_waits = 0
                pending = 1 - pending
            else:
                # Its deadline is this tick; one more tick of grace, then it is a fault.
                self._rail_waits += 1
                if self._rail_waits > 1:
                    self._rail_waits = 0
                    raise HardwareError("conversion not ready within two sample periods")
                return tuple(self._rail_values), None, False  # type: ignore[return-value]
        else:
            pending = 0
        self.rails_adc.start_conversion(self._rail_channels[pending])
        self._rail_pending = pending
        return tuple(self._rail_values), fresh, True  # type: ignore[return-value]

    def _rails_result(self, t: float, outcome) -> tuple[float | None, float | None]:
        guard = self.rails_guard
        if isinstance(outcome, Exception):
            guard.failed(t, str(outcome))
            return None, None
        values, self.fresh_rail, under_way = outcome
        guard.needs_init = False
        if under_way:
            guard.succeeded()
        return values

    def _incline_transfers(self, init: bool) -> tuple[float, float, float] | FifoRead:
        """The accelerometer's job: (x, y, z) in m/s^2, or the FIFO's drain with footstrikes on.
        Runs where the bus work runs."""
        if self.fifo is None:
            if init:
                self.accelerometer.start(self._accel_rate)
            return self.accelerometer.read_acceleration()
        if init:
            self.accelerometer.start(FOOTSTRIKE_RATE_HZ)
            self.accelerometer.start_fifo()
        return self.accelerometer.read_fifo()

    def _incline_result(self, t: float, outcome) -> float | None:
        guard = self.incline_guard
        if isinstance(outcome, Exception):
            guard.failed(t, str(outcome))
            return None
        if guard.needs_init:
            self._incline.reset()
            if self.fifo is not None:
                self.fifo.restart(t)
            guard.needs_init = False
        try:
            if self.fifo is None:
                acceleration = self.fresh_acceleration = outcome
                incline = self._incline.update(t, acceleration, self.config.incline)
            else:
                incline = self._drained(t, outcome)
        except HardwareError as exc:
            guard.failed(t, str(exc))
            return None
        guard.succeeded()
        return incline

    def _drained(self, t: float, read: FifoRead) -> float | None:
        """Every sample of the drain through the incline's low-pass and into the footstrike
        detector, each at its own time; the incline after the newest (held when none came)."""
        fifo = self.fifo
        incline = self._incline.value
        for sample_t, acceleration in fifo.stamped(t, read):
            fifo.detector.feed(sample_t, fifo.vertical_mps2(acceleration))
            incline = self._incline.update(sample_t, acceleration, self.config.incline)
        if read.samples:
            self.fresh_acceleration = read.samples[-1]
        return incline

    def close(self) -> None:
        self.belt.close()
        for worker in self._workers.values():
            worker.close()
        for bus in self._buses.values():
            bus.close()
