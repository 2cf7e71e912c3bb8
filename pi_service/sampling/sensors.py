"""All the treadmill's sensors read once per tick into one Sample, with faults instead of exceptions.

A device that fails is left alone for a back-off (50 ms, doubling to 1 s) so a dead
bus cannot cost a transfer timeout every tick, then tried again and re-initialised:
it recovers on its own. A timeout means the bus itself hangs, so the other device on
that bus is not tried in the same tick: a hung bus costs one adapter timeout per try.
The incline itself is worked out by `signals/incline.py` (a footstrike's jolt holds it;
only half a second of readings far from 1 g is a fault). The ADS1115's two rails are
read pipelined, one channel per tick: each tick collects the conversion started on the
previous tick and starts the other channel, so the loop never waits for a conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pi_service.config import Config
from pi_service.core.sample import Sample
from pi_service.drivers.ads1115 import ADS1115
from pi_service.drivers.accelerometer import build_accelerometer
from pi_service.drivers.adxl345 import output_rate_hz
from pi_service.drivers.belt_speed import BeltSpeedSensor
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import BusFault, HardwareError
from pi_service.signals.incline import InclineEstimate

BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 1.0
ADS1115_IDLE_WAIT_S = 0.15  # the longest conversion there is: 8 SPS on a slow oscillator (1 / 7.2 s) and power-up


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
        self._hung_buses: set[int] = set()  # buses that timed out during this tick
        self._accel_rate = output_rate_hz(config.sampling.rate_hz)

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
        self._hung_buses.clear()
        self.fresh_rail = self.fresh_acceleration = None
        left, right = self._read_rails(t)
        return Sample(t, self.belt.speed_mps(t), self._read_incline(t), left, right)

    def _bus_failed(self, guard: DeviceGuard, bus: int, t: float, exc: Exception) -> None:
        if isinstance(exc, BusFault) and exc.timeout:
            self._hung_buses.add(bus)
        guard.failed(t, str(exc))

    def faults(self) -> list[Fault]:
        return [Fault(channel, guard.name, guard.fault, guard.since_t)
                for guard in (self.rails_guard, self.incline_guard) if guard.fault is not None
                for channel in guard.channels]

    def device_errors(self) -> dict[str, int]:
        return {"ADS1115": self.rails_device.errors, self.incline_device.name: self.incline_device.errors}

    def _read_rails(self, t: float) -> tuple[float | None, float | None]:
        guard = self.rails_guard
        bus = self.config.rails.i2c_bus
        if not guard.ready(t):
            return None, None
        if bus in self._hung_buses:
            guard.failed(t, f"I2C bus {bus} hung this tick")
            return None, None
        try:
            if guard.needs_init:
                self.rails_device.bus = self._bus_for(self.config.rails.i2c_bus)
                self.rails_adc.probe()
                # Whatever the chip was doing (a conversion of its own from before a fault, continuous
                # mode left by another program) is stopped, and ours starts once it is idle: a start
                # written during a conversion is ignored, and its result would pass for channel 0's.
                self.rails_adc.power_down()
                self._rail_pending = None
                self._rail_values = [None, None]
                self._rail_idle_by = t + ADS1115_IDLE_WAIT_S
                guard.needs_init = False
            if self._rail_idle_by is not None:
                # Idle when OS reads 1; a chip that keeps reading 0 is past any conversion by `idle_by`
                # (and a register file that reads back what was written, like i2c-stub, never says 1).
                if not self.rails_adc.conversion_ready() and t <= self._rail_idle_by:
                    return None, None
                self._rail_idle_by = None
            pending = self._rail_pending
            if pending is not None:
                if self.rails_adc.conversion_ready():
                    zero_v, n_per_v = self._rail_maps[pending]
                    volts = self.rails_adc.read_volts()
                    self.fresh_rail = (pending, volts)
                    self._rail_values[pending] = (volts - zero_v) * n_per_v
                    self._rail_waits = 0
                    pending = 1 - pending
                else:
                    # Its deadline is this tick; one more tick of grace, then it is a fault.
                    self._rail_waits += 1
                    if self._rail_waits > 1:
                        self._rail_waits = 0
                        raise HardwareError("conversion not ready within two sample periods")
                    return tuple(self._rail_values)  # type: ignore[return-value]
            else:
                pending = 0
            self.rails_adc.start_conversion(self._rail_channels[pending])
            self._rail_pending = pending
            guard.succeeded()
        except (HardwareError, OSError) as exc:
            self._bus_failed(guard, bus, t, exc)
            self._rail_values = [None, None]
            return None, None
        return tuple(self._rail_values)  # type: ignore[return-value]

    def _read_incline(self, t: float) -> float | None:
        guard = self.incline_guard
        if not guard.ready(t):
            return None
        cfg = self.config.incline
        if cfg.i2c_bus in self._hung_buses:
            guard.failed(t, f"I2C bus {cfg.i2c_bus} hung this tick")
            return None
        try:
            if guard.needs_init:
                self.incline_device.bus = self._bus_for(cfg.i2c_bus)
                self.accelerometer.start(self._accel_rate)
                self._incline.reset()
                guard.needs_init = False
            acceleration = self.fresh_acceleration = self.accelerometer.read_acceleration()
            incline = self._incline.update(t, acceleration, cfg)
            guard.succeeded()
        except (HardwareError, OSError) as exc:
            self._bus_failed(guard, cfg.i2c_bus, t, exc)
            return None
        return incline

    def close(self) -> None:
        self.belt.close()
        for bus in self._buses.values():
            bus.close()
