"""The config's bus-time check: a tick's I2C transfers and the ADS1115's conversion against the period.

The expected numbers are worked out here by hand from the I2C framing (UM10204: a START,
9 clocks per byte with its acknowledge, a STOP) and the ADS1115 datasheet, not by calling
the helpers the check uses.
"""

import pytest

from pi_service.config import Config, FootstrikesConfig, I2CConfig, InclineConfig, RailsConfig, SamplingConfig
from pi_service.errors import ConfigError
from pi_service.sampling.bus_budget import WAKE_MARGIN_S, max_rate_hz, tick_bus_budget
from pi_service.sampling.sensors import Sensors
from pi_service.sim.adxl345_model import ADXL345Model
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import FakeClock, make_config
from tests.test_sensors import STEADY

KERNEL_US = 50  # per transfer, as drivers/i2c_timing.py measures it
# Clocks of one transfer: a 2-byte register read is [S addr reg] [Sr addr d d] P = 19 + 28 + 1;
# a 2-byte register write [S addr reg d d] P = 37 + 1; a 6-byte read 19 + (1 + 9 * 7) + 1.
READ_2, WRITE_2, READ_6, READ_1 = 48, 38, 84, 39


def hand_us(clocks: int, bus_hz: int) -> float:
    return clocks * 1e6 / bus_hz + KERNEL_US


def hand_rails_us(bus_hz: int) -> float:
    return 2 * hand_us(READ_2, bus_hz) + hand_us(WRITE_2, bus_hz)


def hand_conversion_us(data_rate_sps: int) -> float:
    return 25 + 1e6 / (0.9 * data_rate_sps)  # power-up, then a conversion on a 10 % slow oscillator


def test_a_tick_at_100_khz_costs_what_the_wire_and_the_kernel_take():
    budget = tick_bus_budget(200, 475, 100_000)
    assert budget.period_s * 1e6 == pytest.approx(5000)
    assert budget.rails_bus_s * 1e6 == pytest.approx(530 + 530 + 430)
    assert budget.incline_bus_s * 1e6 == pytest.approx(890)
    assert budget.bus_s * 1e6 == pytest.approx(2380)
    assert budget.conversion_max_s * 1e6 == pytest.approx(25 + 2339.18, abs=0.01)
    assert budget.transfers_slack_s * 1e6 == pytest.approx(5000 - 2380 - 500)
    assert budget.conversion_slack_s * 1e6 == pytest.approx(5000 - 1490 - 2364.18 - 500, abs=0.01)
    assert budget.delivers_every_sample() and budget.problems() == []


@pytest.mark.parametrize("bus_hz, rails_us, incline_us", [
    (50_000, 2 * 1010 + 810, 1730),
    (100_000, 2 * 530 + 430, 890),
    (400_000, 2 * 170 + 145, 260),
])
def test_bus_time_scales_with_the_clock_but_not_the_kernel_overhead(bus_hz, rails_us, incline_us):
    budget = tick_bus_budget(100, 475, bus_hz)
    assert budget.rails_bus_s * 1e6 == pytest.approx(rails_us)
    assert budget.incline_bus_s * 1e6 == pytest.approx(incline_us)
    assert rails_us == pytest.approx(hand_rails_us(bus_hz)) and incline_us == pytest.approx(hand_us(READ_6, bus_hz))


def test_the_incline_reads_are_a_parameter_so_a_fifo_drain_can_be_counted():
    # A FIFO status byte, then three 6-byte entries, each its own transfer.
    budget = tick_bus_budget(100, 475, 100_000, incline_reads=(1, 6, 6, 6))
    assert budget.incline_bus_s * 1e6 == pytest.approx(hand_us(READ_1, 100_000) + 3 * 890)
    assert budget.rails_bus_s == tick_bus_budget(100, 475, 100_000).rails_bus_s


# Which data rates (of 128..860) deliver every sample: the table in hw/README.md.
PASSING = {
    (50, 50_000): {128, 250, 475, 860}, (50, 100_000): {128, 250, 475, 860}, (50, 400_000): {128, 250, 475, 860},
    (100, 50_000): {250, 475, 860}, (100, 100_000): {250, 475, 860}, (100, 400_000): {128, 250, 475, 860},
    (200, 50_000): set(), (200, 100_000): {475, 860}, (200, 400_000): {475, 860},
}


@pytest.mark.parametrize("rate_hz, bus_hz", sorted(PASSING))
@pytest.mark.parametrize("data_rate_sps", [128, 250, 475, 860])
def test_combinations_refused_and_accepted_at_50_100_and_400_khz(rate_hz, bus_hz, data_rate_sps):
    period_us = 1e6 / rate_hz
    fits = hand_rails_us(bus_hz) + hand_us(READ_6, bus_hz) + 500 <= period_us
    ready = hand_rails_us(bus_hz) + hand_conversion_us(data_rate_sps) + 500 <= period_us
    expected = data_rate_sps in PASSING[rate_hz, bus_hz]
    assert (fits and ready) == expected  # the table agrees with the hand arithmetic
    budget = tick_bus_budget(rate_hz, data_rate_sps, bus_hz)
    assert budget.delivers_every_sample() == expected
    assert (budget.problems() == []) == expected


def test_at_50_khz_200_hz_is_refused_for_the_transfers_alone():
    budget = tick_bus_budget(200, 860, 50_000)
    assert budget.conversion_slack_s > 0 and budget.transfers_slack_s * 1e6 == pytest.approx(5000 - 4560 - 500)
    [problem] = budget.problems()
    assert problem.startswith("at 50 kHz a tick's I2C transfers take 4.56 ms (rails 2.83 ms, incline 1.73 ms): "
                              "with the 0.50 ms margin for wake-up lateness that is 5.06 ms, "
                              "more than the 5.00 ms period at 200 Hz, so every tick overruns")
    assert problem.endswith("raise i2c.bus_hz to 100000, or lower sampling.rate_hz to 197")


def test_a_refusal_says_the_smallest_change_of_each_key_that_passes():
    [problem] = tick_bus_budget(100, 128, 100_000).problems()
    assert "the ADS1115 needs up to 8.71 ms at 128 SPS" in problem
    assert "that is 10.70 ms, more than the 10.00 ms period at 100 Hz" in problem
    assert problem.endswith("raise rails.data_rate_sps to 250, or raise i2c.bus_hz to 400000, "
                            "or lower sampling.rate_hz to 93")
    # 93 Hz passes and 94 Hz does not: 1e6 / (1490 + 8706.2 + 500) = 93.49
    assert tick_bus_budget(93, 128, 100_000).delivers_every_sample()
    assert not tick_bus_budget(94, 128, 100_000).delivers_every_sample()
    assert max_rate_hz(128, 100_000) == 93


def test_a_conversion_longer_than_two_periods_is_called_a_fault_not_a_halved_rate():
    [problem] = tick_bus_budget(100, 8, 100_000).problems()
    assert "the conversion is not ready within two ticks and the rails fault" in problem
    assert problem.endswith("raise rails.data_rate_sps to 250")  # no rate >= 10 Hz passes at 8 SPS


def test_config_refusal_is_one_line_at_the_data_rate_key_with_the_numbers():
    with pytest.raises(ConfigError) as caught:
        make_config("[sampling]\nrate_hz = 200\n\n[rails]\ndata_rate_sps = 250\n[footstrikes]\nenabled = false\n")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml:5: rails.data_rate_sps: at 100 kHz the rails' transfers take 1.49 ms, "
                              "then the ADS1115 needs up to 4.47 ms at 250 SPS")
    assert "6.46 ms, more than the 5.00 ms period at 200 Hz" in message
    assert message.endswith("raise rails.data_rate_sps to 475, or lower sampling.rate_hz to 154 (got 250)")


def test_config_refusal_points_at_the_bus_speed_when_that_is_what_the_file_set():
    with pytest.raises(ConfigError) as caught:
        make_config("[sampling]\nrate_hz = 200\n[i2c]\nbus_hz = 50000\n[footstrikes]\nenabled = false\n")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml:4: i2c.bus_hz: at 50 kHz a tick's I2C transfers take 4.56 ms")
    assert ". Also at 50 kHz the rails' transfers take 2.83 ms" in message  # both checks fail: both said
    assert message.endswith("(got 50000)")


def test_config_accepts_what_the_bus_delivers_and_bounds_the_bus_speed():
    assert Config().i2c.bus_hz == 100_000
    assert make_config("[sampling]\nrate_hz = 200\n[footstrikes]\nenabled = false\n").rails.data_rate_sps == 475
    # The footstrikes' FIFO drain (5 entries at most, 6 bytes each) no longer fits 200 Hz at 100 kHz.
    with pytest.raises(ConfigError, match=r"FIFO drain .* raise i2c.bus_hz to 400000, .* or set footstrikes.enabled"):
        make_config("[sampling]\nrate_hz = 200\n")
    assert make_config("[sampling]\nrate_hz = 200\n[i2c]\nbus_hz = 400000\n").sampling.rate_hz == 200
    with pytest.raises(ConfigError, match=r"sampling.rate_hz: 20 Hz is too slow for the ADXL345's FIFO .* at least 27 Hz"):
        make_config("[sampling]\nrate_hz = 20\n")
    assert make_config("[sampling]\nrate_hz = 20\n[incline]\nchip = \"mpu6050\"\n").sampling.rate_hz == 20
    assert make_config("[i2c]\nbus_hz = 400000\n[rails]\ndata_rate_sps = 128\n").i2c.bus_hz == 400_000
    with pytest.raises(ConfigError, match="rails.data_rate_sps: at 100 kHz"):
        make_config("[rails]\ndata_rate_sps = 128\n")
    with pytest.raises(ConfigError, match=r"test.toml:2: i2c.bus_hz: Input should be greater than or equal to 10000"):
        make_config("[i2c]\nbus_hz = 5000\n")




def toml(rate_hz: float, data_rate_sps: int, bus_hz: int, footstrikes: bool = False) -> str:
    """The rails' budget with the one incline read per tick, unless `footstrikes` (the FIFO drain)."""
    return (f"[sampling]\nrate_hz = {rate_hz}\n[i2c]\nbus_hz = {bus_hz}\n"
            f"[rails]\ndata_rate_sps = {data_rate_sps}\n[incline]\nsmoothing_s = 0\n"
            f"[footstrikes]\nenabled = {str(footstrikes).lower()}\n")


def unchecked_config(rate_hz: float, data_rate_sps: int, bus_hz: int, footstrikes: bool = False,
                     chip: str = "adxl345") -> Config:
    """A config the check would refuse, built around it to see what the hardware would do."""
    return Config.model_construct(sampling=SamplingConfig(rate_hz=rate_hz), i2c=I2CConfig(bus_hz=bus_hz),
                                  rails=RailsConfig(data_rate_sps=data_rate_sps),
                                  incline=InclineConfig(smoothing_s=0, chip=chip),
                                  footstrikes=FootstrikesConfig(enabled=footstrikes))


WARM_UP_TICKS = 5


def ride_worst_case(config: Config, ticks: int = 200) -> tuple[int, int]:
    """Tick the virtual treadmill on the loop's grid, every other tick as late as the margin
    (the conversion that tick starts loses that much), with the slowest ADS1115 the datasheet
    allows and the fastest accelerometer (the most FIFO entries per tick); the bus's transfers
    move the fake clock. Returns (ticks that started no new conversion: a wait or a fault,
    ticks that ended past the next deadline)."""
    clock = FakeClock()
    treadmill = VirtualTreadmill(config, parse_scenario(STEADY, "s"), speedup=1, noise=False, clock=clock)
    treadmill.rails_adc.oscillator = 0.9  # this unit converts at 0.9 x DR
    if isinstance(treadmill.accelerometer, ADXL345Model):
        treadmill.accelerometer.rate_error = 0.10
    else:
        treadmill.accelerometer.clock_error = 0.10
    treadmill.world.state_at(clock() + 60)
    clock.advance(60)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    period = 1.0 / config.sampling.rate_hz
    starts = treadmill.rails_adc.config_writes
    deadline = clock()
    stale = overruns = 0
    # The first ticks are not counted: they set the chips up, which costs more transfers, and with
    # footstrikes the FIFO's drains catch up with the samples taken meanwhile. Each starts a period
    # after the last one started, or when it ended, and the grid goes on from there.
    for n in range(-WARM_UP_TICKS, ticks):
        deadline += period
        clock.t = max(clock.t, deadline + (WAKE_MARGIN_S if n % 2 and n >= 0 else 0.0))
        if n < 0:
            deadline = clock()
        before = len(starts)
        sensors.read(clock())
        if n < 0:
            continue
        if len(starts) != before + 1 or sensors._rail_waits or sensors.faults():
            stale += 1
        if clock() > deadline + period:
            overruns += 1
    return stale, overruns


@pytest.mark.parametrize("rate_hz, data_rate_sps, bus_hz", [
    (100, 128, 400_000),  # 0.31 ms to spare
    (200, 475, 100_000),  # 0.65 ms
    (175, 475, 50_000),  # 0.02 ms: the highest rate at 50 kHz and 475 SPS
    (197, 860, 50_000),  # 0.02 ms, for the transfers: the highest rate at 50 kHz
])
def test_an_accepted_borderline_combination_gets_a_fresh_conversion_every_tick(rate_hz, data_rate_sps, bus_hz):
    assert ride_worst_case(make_config(toml(rate_hz, data_rate_sps, bus_hz))) == (0, 0)


@pytest.mark.parametrize("rate_hz, data_rate_sps, bus_hz, fails", [
    (100, 128, 100_000, "stale"),  # refused by 0.70 ms: late ticks' conversions miss the next read
    (200, 250, 400_000, "stale"),  # refused by 0.45 ms
    (200, 860, 50_000, "overrun"),  # refused by 0.06 ms: a late tick's transfers run into the next
])
def test_a_refused_combination_really_misses_samples(rate_hz, data_rate_sps, bus_hz, fails):
    with pytest.raises(ConfigError):
        make_config(toml(rate_hz, data_rate_sps, bus_hz))
    stale, overruns = ride_worst_case(unchecked_config(rate_hz, data_rate_sps, bus_hz))
    assert (stale if fails == "stale" else overruns) > 0


# With footstrikes: the FIFO drain (INT_SOURCE / INT_STATUS, the count, then the entries)
READ_30 = 19 + 1 + 9 * 31 + 1


def test_the_fifo_drain_is_counted_at_the_fastest_oscillator_and_a_late_tick():
    # 100 Hz: 400 Hz x 1.1 over 10.5 ms is 4.62 samples, so a tick can find 5.
    adxl = tick_bus_budget(100, 475, 100_000, fifo_chip="adxl345")
    assert adxl.incline_reads == (1, 1, 6, 6, 6, 6, 6)  # INT_SOURCE, FIFO_STATUS, one read per entry
    assert adxl.incline_bus_s * 1e6 == pytest.approx(2 * hand_us(READ_1, 100_000) + 5 * 890)
    # The default config still fits: 6.82 ms of transfers and the margin in the 10 ms period.
    assert adxl.bus_s * 1e6 == pytest.approx(hand_rails_us(100_000) + 2 * 440 + 5 * 890)
    assert adxl.delivers_every_sample() and adxl.transfers_slack_s * 1e6 == pytest.approx(10_000 - 6820 - 500)
    # The MPU-6050 at 500 Hz: 5.78 samples, so 6 frames of 6 bytes, in SMBus-sized chunks.
    mpu = tick_bus_budget(100, 475, 100_000, fifo_chip="mpu6050")
    assert mpu.incline_reads == (1, 2, 30, 6)
    assert mpu.incline_bus_s * 1e6 == pytest.approx(hand_us(READ_1, 100_000) + hand_us(READ_2, 100_000)
                                                     + hand_us(READ_30, 100_000) + hand_us(READ_6, 100_000))


def test_with_footstrikes_200_hz_at_100_khz_overruns_and_the_refusal_says_the_ways_out():
    assert tick_bus_budget(200, 475, 100_000).delivers_every_sample()  # the one read fits
    [problem] = tick_bus_budget(200, 475, 100_000, fifo_chip="adxl345").problems()
    assert ("a tick's I2C transfers take 5.04 ms (rails 1.49 ms, incline 3.55 ms for the footstrikes' FIFO drain "
            "of up to 3 samples)") in problem
    assert problem.endswith("raise i2c.bus_hz to 400000, or lower sampling.rate_hz to 180, "
                            "or set footstrikes.enabled = false")
    assert tick_bus_budget(180, 475, 100_000, fifo_chip="adxl345").delivers_every_sample()
    assert not tick_bus_budget(181, 475, 100_000, fifo_chip="adxl345").delivers_every_sample()


def test_at_50_khz_the_adxl345s_fifo_fits_only_slow_loops():
    # Each entry is its own 1.73 ms read: 400 Hz of them is 70 % of the bus.
    assert max_rate_hz(475, 50_000, fifo_chip="adxl345") == 41
    assert not tick_bus_budget(100, 475, 50_000, fifo_chip="adxl345").delivers_every_sample()


def test_below_the_rate_its_fifo_holds_footstrikes_are_off_and_the_budget_counts_the_one_read():
    # The ADXL345's 33 entries last 75 ms on a fast oscillator: two periods fit from 27 Hz.
    assert tick_bus_budget(26, 475, 100_000, fifo_chip="adxl345").incline_reads == (6,)
    assert len(tick_bus_budget(27, 475, 100_000, fifo_chip="adxl345").incline_reads) == 2 + 17
    # The MPU-6050's 170 frames last 0.31 s: a 10 Hz loop still streams (56 frames a tick).
    assert tick_bus_budget(10, 475, 100_000, fifo_chip="mpu6050").incline_reads[:2] == (1, 2)


@pytest.mark.parametrize("rate_hz, data_rate_sps, bus_hz, chip", [
    (100, 475, 100_000, "adxl345"),  # the default config: 2.68 ms to spare
    (180, 475, 100_000, "adxl345"),  # 0.02 ms: the highest rate at 100 kHz
    (182, 475, 100_000, "mpu6050"),
])
def test_with_footstrikes_an_accepted_combination_gets_a_fresh_conversion_every_tick(rate_hz, data_rate_sps,
                                                                                     bus_hz, chip):
    assert tick_bus_budget(rate_hz, data_rate_sps, bus_hz, fifo_chip=chip).delivers_every_sample()
    assert ride_worst_case(unchecked_config(rate_hz, data_rate_sps, bus_hz, True, chip)) == (0, 0)


def test_with_footstrikes_a_refused_combination_really_overruns():
    assert not tick_bus_budget(200, 475, 100_000, fifo_chip="adxl345").delivers_every_sample()
    _, overruns = ride_worst_case(unchecked_config(200, 475, 100_000, True))
    assert overruns > 0


def test_the_virtual_treadmills_buses_run_at_the_configured_speed():
    config = make_config("[i2c]\nbus_hz = 400000\n[incline]\ni2c_bus = 3\n")
    treadmill = VirtualTreadmill(config, parse_scenario(STEADY, "s"), noise=False, clock=FakeClock())
    assert {bus.bus_hz for bus in treadmill.buses.values()} == {400_000} and set(treadmill.buses) == {1, 3}
