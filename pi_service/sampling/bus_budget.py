"""What one sampling tick asks of the I2C bus, and whether the rails still get a fresh
conversion every tick: the config refuses a rate, data rate and bus speed that cannot.

A tick (`sampling/sensors.py`) reads the rails, then the incline. The rails are three
transfers: the ADS1115's config register (is the conversion started last tick done?),
its conversion register, and a config write that starts the other channel. The
conversion then runs while the incline is read and the loop sleeps, and must be done when
the next tick's first transfer asks, one period later. Two things can fail:

(a) the tick's transfers (rails and incline) do not fit in the period: every tick overruns;
(b) the conversion is not done by the next tick: that tick waits, and each rail updates at
    a quarter of the loop rate instead of half.

With footstrikes on, the incline is a drain of the accelerometer's FIFO (`fifo_chip`): its
status reads, then every sample the chip took since the last tick, which a slower loop finds
more of: the budget counts the biggest drain a tick can meet (`fifo_samples_for`).

Bus times come from `drivers/i2c_timing.py`, which the virtual bus charges too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pi_service.drivers.accelerometer import footstrike_reads, footstrike_samples_max, footstrike_stream
from pi_service.drivers.ads1115 import DATA_RATE_SPS
from pi_service.drivers.i2c_timing import register_read_s, register_write_s

# SBAS444, Electrical Characteristics: data rate variation -10 % .. +10 % at every data rate.
# The internal oscillator sets it: a unit that converts at 0.9 x DR takes 1/(0.9 DR), 1.11/DR,
# as the virtual treadmill's chip model (`sim/ads1115_model.py`, `oscillator`) does.
ADS1115_DATA_RATE_TOLERANCE = 0.10
# SBAS444, Single-Shot Mode: after the start the device powers up in about 25 us, then converts.
ADS1115_POWER_UP_S = 25e-6
# Bus speeds a user can reach for: the Pi's default, and Fast-mode, the fastest all three
# chips (ADS1115, ADXL345, MPU-6050) are rated for.
SUGGESTED_BUS_HZ = (100_000, 400_000)
MIN_RATE_HZ = 10  # sampling.rate_hz's lower bound

RAIL_REGISTER_READS = (2, 2)  # config (ready?), conversion: 16-bit registers
RAIL_REGISTER_WRITES = (2,)  # config: start the next channel
# ADXL345 DATAX0..DATAZ1 or MPU-6050 ACCEL_XOUT_H..ACCEL_ZOUT_L, one burst per tick, with
# footstrikes off. A FIFO drain is several reads (`tick_bus_budget`'s `fifo_chip`).
INCLINE_REGISTER_READS = (6,)

# The conversion starts at the end of this tick's rail transfers, which are as late as this
# tick woke; the next tick reads at its own deadline or later. So the time the conversion
# loses is this tick's wake-up lateness, which does not grow with the period (it is the
# scheduler's): hence a fixed time, not a fraction of the period. 0.5 ms is above the loop's
# measured p99 lateness under load (0.08-0.14 ms; 0.62 ms in the worst 60 s run,
# docs/sampling-loop.md); a rarer, later wake costs one rail update (the next tick waits,
# which `sensors.py` allows once), not a fault. Counting to the start of the next tick's read
# is itself conservative: the chip reports its OS bit in that read's data bytes, after the
# kernel's overhead and the pointer message.
WAKE_MARGIN_S = 0.5e-3


def fifo_samples_for(chip: str, rate_hz: float) -> int:
    """The samples of the biggest FIFO drain a tick at `rate_hz` can meet with footstrikes on (the
    chip's oscillator 10 % fast, the tick late by the wake-up margin); 0 below the loop rate the
    FIFO can hold, where footstrikes are off (`sampling/sensors.py`) and the incline is the one read."""
    if rate_hz < footstrike_stream(chip).loop_rate_min_hz():
        return 0
    return footstrike_samples_max(chip, rate_hz, WAKE_MARGIN_S)


def conversion_max_s(data_rate_sps: int) -> float:
    """The longest an ADS1115 single-shot conversion takes: power-up, then one conversion at the slowest rate."""
    return ADS1115_POWER_UP_S + 1.0 / ((1 - ADS1115_DATA_RATE_TOLERANCE) * data_rate_sps)


@dataclass(frozen=True)
class BusBudget:
    """One tick's bus time against the period; every time in seconds."""

    rate_hz: float
    data_rate_sps: int
    bus_hz: float
    margin_s: float
    period_s: float
    rails_bus_s: float  # the rails' transfers, before the next conversion starts
    incline_bus_s: float
    conversion_max_s: float
    incline_reads: tuple[int, ...] = INCLINE_REGISTER_READS
    fifo_chip: str | None = None  # footstrikes on: the incline reads are this chip's FIFO drain at `rate_hz`
    fifo_samples: int = 0  # ... of up to this many samples (0: the one read)

    @property
    def bus_s(self) -> float:
        return self.rails_bus_s + self.incline_bus_s

    @property
    def transfers_slack_s(self) -> float:
        """(a) What is left of the period after all of a tick's transfers and the margin."""
        return self.period_s - self.bus_s - self.margin_s

    @property
    def conversion_slack_s(self) -> float:
        """(b) What is left after the rails' transfers, the slowest conversion and the margin."""
        return self.period_s - self.rails_bus_s - self.conversion_max_s - self.margin_s

    @property
    def slack_s(self) -> float:
        return min(self.transfers_slack_s, self.conversion_slack_s)

    def delivers_every_sample(self) -> bool:
        return self.slack_s >= 0

    def problems(self) -> list[str]:
        """Why this combination cannot deliver every sample, with the numbers; the last one says
        the smallest change of each key that would pass. Empty if it delivers."""
        found = []
        margin = f"with the {_ms(self.margin_s)} margin for wake-up lateness that is"
        period = f"more than the {_ms(self.period_s)} period at {self.rate_hz:g} Hz"
        if self.transfers_slack_s < 0:
            incline = f"incline {_ms(self.incline_bus_s)}"
            if self.fifo_samples:
                incline += f" for the footstrikes' FIFO drain of up to {self.fifo_samples} samples"
            found.append(
                f"at {_khz(self.bus_hz)} a tick's I2C transfers take {_ms(self.bus_s)} (rails {_ms(self.rails_bus_s)}, "
                f"{incline}): {margin} {_ms(self.bus_s + self.margin_s)}, {period}, "
                f"so every tick overruns")
        if self.conversion_slack_s < 0:
            needed = self.rails_bus_s + self.conversion_max_s + self.margin_s
            # sensors.py waits one tick for a late conversion, and calls a second wait a fault.
            if needed <= 2 * self.period_s:
                outcome = "a tick can find the conversion unfinished and wait, halving the rails' update rate"
            else:
                outcome = "the conversion is not ready within two ticks and the rails fault"
            found.append(
                f"at {_khz(self.bus_hz)} the rails' transfers take {_ms(self.rails_bus_s)}, then the ADS1115 needs up "
                f"to {_ms(self.conversion_max_s)} at {self.data_rate_sps} SPS "
                f"(oscillator {ADS1115_DATA_RATE_TOLERANCE:.0%} slow, {ADS1115_POWER_UP_S * 1e6:g} us power-up): "
                f"{margin} {_ms(needed)}, {period}, so {outcome}")
        if found:
            found[-1] += "; " + _ways_out(self)
        return found


def tick_bus_budget(rate_hz: float, rails_data_rate_sps: int, bus_hz: float,
                    incline_reads: tuple[int, ...] = INCLINE_REGISTER_READS,
                    margin_s: float = WAKE_MARGIN_S, fifo_chip: str | None = None) -> BusBudget:
    """The bus time of one tick at `rate_hz` with the ADS1115 at `rails_data_rate_sps` and
    every bus at `bus_hz`; `incline_reads` are the incline's register reads per tick, in bytes,
    unless `fifo_chip` ("adxl345", "mpu6050": footstrikes on) says they are its FIFO drain."""
    samples = 0
    if fifo_chip is not None:
        samples = fifo_samples_for(fifo_chip, rate_hz)
        incline_reads = footstrike_reads(fifo_chip, samples) if samples else INCLINE_REGISTER_READS
    rails = (sum(register_read_s(n, bus_hz) for n in RAIL_REGISTER_READS)
             + sum(register_write_s(n, bus_hz) for n in RAIL_REGISTER_WRITES))
    incline = sum(register_read_s(n, bus_hz) for n in incline_reads)
    return BusBudget(rate_hz, rails_data_rate_sps, bus_hz, margin_s, 1.0 / rate_hz, rails, incline,
                     conversion_max_s(rails_data_rate_sps), tuple(incline_reads), fifo_chip, samples)


def _ways_out(budget: BusBudget) -> str:
    """The smallest change of each key that would pass, holding the other two."""
    def passes(rate_hz: float = budget.rate_hz, data_rate_sps: int = budget.data_rate_sps,
               bus_hz: float = budget.bus_hz) -> bool:
        return tick_bus_budget(rate_hz, data_rate_sps, bus_hz, budget.incline_reads,
                               budget.margin_s, budget.fifo_chip).delivers_every_sample()

    ways = []
    faster = [dr for dr in sorted(DATA_RATE_SPS) if dr > budget.data_rate_sps and passes(data_rate_sps=dr)]
    if faster:
        ways.append(f"raise rails.data_rate_sps to {faster[0]}")
    quicker = [hz for hz in SUGGESTED_BUS_HZ if hz > budget.bus_hz and passes(bus_hz=hz)]
    if quicker:
        ways.append(f"raise i2c.bus_hz to {quicker[0]}")
    slower = max_rate_hz(budget.data_rate_sps, budget.bus_hz, budget.incline_reads, budget.margin_s,
                         budget.fifo_chip, at_most=math.ceil(budget.rate_hz) - 1)
    if slower >= MIN_RATE_HZ:
        ways.append(f"lower sampling.rate_hz to {slower}")
    if budget.fifo_chip is not None and tick_bus_budget(
            budget.rate_hz, budget.data_rate_sps, budget.bus_hz, margin_s=budget.margin_s).delivers_every_sample():
        ways.append("set footstrikes.enabled = false")
    return ", or ".join(ways) if ways else "no single change of rate, data rate or bus speed passes"


def max_rate_hz(data_rate_sps: int, bus_hz: float, incline_reads: tuple[int, ...] = INCLINE_REGISTER_READS,
                margin_s: float = WAKE_MARGIN_S, fifo_chip: str | None = None, at_most: float = math.inf) -> int:
    """The highest whole sampling rate, up to `at_most`, at which this data rate and bus speed
    deliver every sample (below MIN_RATE_HZ if none does)."""
    # With fixed reads the shortest period is the longer of the two paths. A FIFO drain is never
    # fewer reads than the one read, so that bound holds for it too; but its drain grows as the
    # rate falls, and not smoothly (whole samples): from the bound down to the first that passes.
    budget = tick_bus_budget(1.0, data_rate_sps, bus_hz, INCLINE_REGISTER_READS if fifo_chip else incline_reads,
                             margin_s)
    bound = math.floor(1.0 / (max(budget.bus_s, budget.rails_bus_s + budget.conversion_max_s) + margin_s))
    rate = bound if at_most == math.inf else min(bound, math.floor(at_most))
    while fifo_chip is not None and rate >= MIN_RATE_HZ and not tick_bus_budget(
            rate, data_rate_sps, bus_hz, margin_s=margin_s, fifo_chip=fifo_chip).delivers_every_sample():
        rate -= 1
    return rate


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _khz(hz: float) -> str:
    return f"{hz / 1000:g} kHz"
