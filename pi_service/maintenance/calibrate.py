"""The calibration procedures (spec section 8) and the rig they run on.

A `Rig` gives the raw signals the daemon turns into SI units: each rail's voltage from the
ADS1115, the deck's pitch from the accelerometer, the belt sensor's pulse count. On a Pi it
opens the real bus and pins; with `sim=True` it builds the virtual treadmill, and the
person's part (a load on a rail, the belt at a speed, the deck at an incline) is played by
the sim. While a daemon runs, `through_daemon.DaemonRig` gives the same readings from it
instead, so nothing opens the bus under the daemon. The procedures only measure and check; the CLI asks the questions and stores
the result (calibration.py).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.config import Config
from pi_service.drivers.ads1115 import ADS1115
from pi_service.drivers.accelerometer import build_accelerometer
from pi_service.drivers.adxl345 import grade_pct, pitch_deg
from pi_service.drivers.belt_speed import BeltSpeedSensor
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import CompanionError
from pi_service.units import STANDARD_GRAVITY, kmh_to_mps, mps_to_kmh

MIN_SPAN_V = 0.02  # a known load must move the rail's voltage at least this much
MAX_NOISE = 0.05  # the reading's spread under load, as a share of the change it made
MIN_PULSES = 20  # fewer pulses than this in the measuring time: the belt did not move
SETTLE_S = 1.0  # after the person (or the sim) changes something
FIRST_SAMPLE_S = 0.05  # an accelerometer started at 100 Hz has its first sample after one period, 10 ms


def rails_at(now, target) -> bool:
    """Whether the virtual hands have reached the target (left, right) forces, N."""
    return all(abs(a - b) < 0.01 for a, b in zip(now, target))


class CalibrationRejected(CompanionError):
    """A measurement that must not become the calibration; the message says what to check."""


@dataclass(frozen=True)
class Reading:
    mean: float
    stdev: float
    count: int


Progress = Callable[[str, float], None]  # (what, fraction done)


def _quiet(what: str, fraction: float) -> None:
    return None


def average(read: Callable[[], float], seconds: float, what: str, progress: Progress = _quiet,
            period_s: float = 0.02) -> Reading:
    values = []
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds or len(values) < 3:
        values.append(read())
        progress(what, min(1.0, elapsed / seconds))
        time.sleep(period_s)
    progress(what, 1.0)
    return Reading(statistics.fmean(values), statistics.pstdev(values), len(values))


class Rig:
    STILL = """
name = "calibration"
[[step]]
duration_s = 3600
speed_kmh = 0
note = "standing by for calibration"
"""

    def __init__(self, config: Config, sim: bool = False, treadmill=None):
        self.config = config
        self.treadmill = None
        if sim or treadmill is not None:
            if treadmill is None:
                from pi_service.sim.scenario import parse_scenario
                from pi_service.sim.treadmill import VirtualTreadmill

                treadmill = VirtualTreadmill(config, parse_scenario(self.STILL, "calibration"))
            self.treadmill = treadmill
            treadmill.start()
            open_bus, pin_factory = treadmill.open_bus, treadmill.pin_factory
        else:
            from pi_service.sampling.hardware import open_hardware
            from pi_service.sampling.run import SamplerOptions

            open_bus, pin_factory, _ = open_hardware(config, SamplerOptions())
        rails, incline, belt = config.rails, config.incline, config.belt
        self.adc = ADS1115(I2CDevice(open_bus(rails.i2c_bus), rails.address, "ADS1115"), rails.full_scale_v,
                           rails.data_rate_sps)
        self.accelerometer = build_accelerometer(incline.chip, open_bus(incline.i2c_bus), incline.address)
        self.belt = BeltSpeedSensor(pin_factory, belt.gpio, belt.effective_pulses_per_m(), belt.magnets,
                                    belt.pull_up, belt.glitch_s, belt.zero_speed_timeout_s)
        self.pin_factory = pin_factory
        self._accelerometer_started = False

    through_daemon = False

    @property
    def sim(self) -> bool:
        return self.treadmill is not None

    def measure(self, quantity: str, seconds: float, what: str, progress: Progress = _quiet) -> Reading:
        """`quantity` (rail_left_v, rail_right_v or pitch_deg), averaged over `seconds`."""
        read = {"rail_left_v": lambda: self.rail_volts("left"), "rail_right_v": lambda: self.rail_volts("right"),
                "pitch_deg": self.pitch_deg}[quantity]
        return average(read, seconds, what, progress)

    def pulses(self) -> int:
        return self.belt.pulses

    def probe_rails(self) -> None:
        """Raises when the ADC does not answer."""
        self.adc.probe()

    def speed_mps(self) -> float:
        return self.belt.speed_mps() or 0.0

    def rail_volts(self, side: str) -> float:
        rails = self.config.rails
        return self.adc.read_single_shot(rails.left_channel if side == "left" else rails.right_channel)

    def pitch_deg(self) -> float:
        if not self._accelerometer_started:
            self.accelerometer.start(100)
            self._accelerometer_started = True
            time.sleep(FIRST_SAMPLE_S)  # until then its data registers hold no sample (zeros, not gravity)
        return pitch_deg(self.accelerometer.read_acceleration(), self.config.incline.forward_axis)

    # The person's part, played by the virtual treadmill.
    def load_rails(self, left_n: float, right_n: float) -> None:
        if self.sim:  # the hands (or weight) on the rails, then the sensor's settling
            world = self.treadmill.world
            world.override_rails_n = (left_n, right_n)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                state = world.state_at()
                if rails_at((state.rail_left_n, state.rail_right_n), (left_n, right_n)):
                    break
                time.sleep(0.05)
            time.sleep(SETTLE_S / 2)

    def run_belt(self, kmh: float) -> None:
        if self.sim:
            world = self.treadmill.world
            world.override_speed_kmh = kmh
            # The console takes its time to get there, then the sensor needs a revolution.
            deadline = time.monotonic() + 60
            while abs(mps_to_kmh(world.state_at().speed_mps) - kmh) > 0.01 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(SETTLE_S)

    def tilt(self, pct: float) -> None:
        if self.sim and self.treadmill.console is not None:
            self.treadmill.console.press(pct)
            console = self.treadmill.console
            deadline = time.monotonic() + 40
            while abs(console.position_pct() - pct) > 0.2 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(SETTLE_S)

    def close(self) -> None:
        self.belt.close()
        if self.treadmill is not None:
            self.treadmill.stop()


# -- rails -----------------------------------------------------------------------------

def rail_zero(rig: Rig, seconds: float, progress: Progress = _quiet) -> dict[str, Reading]:
    """Hands off: each rail's voltage, averaged, and its noise."""
    rig.load_rails(0.0, 0.0)
    return {side: rig.measure(f"rail_{side}_v", seconds, f"{side} rail, hands off", progress)
            for side in ("left", "right")}


def rail_span(rig: Rig, side: str, kg: float, zero: Reading, seconds: float,
              progress: Progress = _quiet) -> tuple[float, Reading]:
    """A known load on one rail: newtons per volt, after the checks."""
    if not kg > 0:
        raise CalibrationRejected(f"the load on the {side} rail must be more than 0 kg (got {kg:g})")
    force = kg * STANDARD_GRAVITY
    rig.load_rails(force if side == "left" else 0.0, force if side == "right" else 0.0)
    try:
        loaded = rig.measure(f"rail_{side}_v", seconds, f"{side} rail, {kg:g} kg on it", progress)
    finally:
        rig.load_rails(0.0, 0.0)
    change = loaded.mean - zero.mean
    if abs(change) < MIN_SPAN_V:
        raise CalibrationRejected(
            f"{side} rail: {kg:g} kg changed the reading by only {change * 1000:.1f} mV (needs {MIN_SPAN_V * 1000:g}):"
            f" check the sensor's wiring to AIN{_channel(rig, side)} and the ADC gain (rails.full_scale_v)")
    if change < 0:
        raise CalibrationRejected(
            f"{side} rail reads backwards: {kg:g} kg lowered the reading by {-change * 1000:.1f} mV; swap the "
            f"sensor's signal wires (or the amplifier's inputs), or check left/right_channel")
    spread = max(loaded.stdev, zero.stdev)
    if spread > MAX_NOISE * change:
        raise CalibrationRejected(
            f"{side} rail too noisy: the reading wanders {spread * 1000:.1f} mV against a {change * 1000:.1f} mV change;"
            f" keep the load still, check the shield and ground, or use a heavier known load")
    return force / change, loaded


def _channel(rig: Rig, side: str) -> int:
    return rig.config.rails.left_channel if side == "left" else rig.config.rails.right_channel


# -- belt ------------------------------------------------------------------------------

def belt_from_roller(diameter_m: float, magnets: int) -> float:
    if not (0.01 < diameter_m <= 0.3) or magnets < 1:
        raise CalibrationRejected(f"roller diameter {diameter_m:g} m / {magnets} magnets: expected 0.01-0.3 m, >= 1")
    return magnets / (math.pi * diameter_m)


def count_pulses(rig: Rig, seconds: float, progress: Progress = _quiet) -> int:
    start = rig.pulses()
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < seconds:
        progress("counting belt pulses", elapsed / seconds)
        time.sleep(0.05)
    progress("counting belt pulses", 1.0)
    pulses = rig.pulses() - start
    if pulses < MIN_PULSES:
        raise CalibrationRejected(
            f"only {pulses} belt pulses in {seconds:g} s: is the belt moving? Check the sensor on "
            f"GPIO{rig.config.belt.gpio} (a magnet passing it should light its LED) and belt.pull_up")
    return pulses


def belt_from_speed(pulses: int, speed_kmh: float, seconds: float) -> float:
    if not speed_kmh > 0:
        raise CalibrationRejected(f"the console speed must be more than 0 km/h (got {speed_kmh:g})")
    return pulses / (kmh_to_mps(speed_kmh) * seconds)


def belt_from_length(pulses: int, belt_length_m: float, revolutions: float) -> float:
    if not belt_length_m > 0 or not revolutions > 0:
        raise CalibrationRejected("the belt length and the revolutions counted must be more than 0")
    return pulses / (belt_length_m * revolutions)


def check_pulses_per_m(ppm: float, config: Config) -> float:
    expected = config.belt.effective_pulses_per_m()
    if not expected / 3 <= ppm <= expected * 3:
        raise CalibrationRejected(
            f"{ppm:.2f} pulses/m is far from the {expected:.2f} the config's roller and magnets give: "
            f"check the numbers you gave, the magnet count and the glitch filter (belt.glitch_s)")
    return ppm


# -- incline ---------------------------------------------------------------------------

def incline_zero(rig: Rig, seconds: float, progress: Progress = _quiet) -> Reading:
    rig.tilt(0.0)
    reading = rig.measure("pitch_deg", seconds, "deck pitch, flat", progress)
    if abs(reading.mean) > 10:
        raise CalibrationRejected(
            f"the deck reads {reading.mean:.1f} degrees on the flat: is the sensor mounted flat on the deck, and "
            f"incline.forward_axis right?")
    return reading


def incline_span(rig: Rig, known_pct: float, zero_deg: float, seconds: float, progress: Progress = _quiet) -> float:
    if not 2 <= known_pct <= 40:
        raise CalibrationRejected(f"use a known incline between 2 and 40 % for the span (got {known_pct:g})")
    rig.tilt(known_pct)
    reading = rig.measure("pitch_deg", seconds, f"deck pitch at {known_pct:g} %", progress)
    measured = grade_pct(reading.mean, zero_deg, 1.0)
    if measured <= 0:
        raise CalibrationRejected(f"at {known_pct:g} % the sensor reads {measured:.1f} %: check incline.forward_axis "
                                  f"(the sign of the forward axis)")
    span = known_pct / measured
    if not 0.5 <= span <= 2.0:
        raise CalibrationRejected(f"at {known_pct:g} % the sensor reads {measured:.1f} %: a span of {span:.2f} is "
                                  f"outside 0.5-2.0; check the known incline and the sensor's mounting")
    return span
