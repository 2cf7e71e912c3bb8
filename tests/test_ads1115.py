import errno

import pytest

from pi_service.drivers import ads1115 as ads
from pi_service.drivers.ads1115 import ADS1115, config_word, raw_to_volts
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import BusFault, ConversionTimeout
from pi_service.sim.ads1115_model import ADS1115Model
from pi_service.sim.i2c_bus import SimI2CBus

VOLTS = {0: 0.5, 1: 1.25, 2: -0.1, 3: 3.3}


@pytest.fixture
def chip(clock):
    model = ADS1115Model(lambda ain, t: VOLTS[ain], clock)
    bus = SimI2CBus(1, clock, clock.sleep)
    bus.attach(0x48, model)
    driver = ADS1115(I2CDevice(bus, 0x48, "ADS1115"), 4.096, 475, sleep=clock.sleep, clock=clock)
    return driver, model, bus


def test_config_word_matches_the_datasheet_fields():
    # AIN1 vs GND (MUX 101), +-2.048 V (PGA 010), single-shot, 128 SPS (DR 100), comparator off.
    assert config_word(1, 2.048, 128, start=True) == 0b1_101_010_1_100_0_0_0_11
    # The datasheet's reset value is AIN0-AIN1, 2.048 V, single-shot, 128 SPS: only MUX differs here.
    assert config_word(0, 2.048, 128, start=True) & ~ads.MUX_MASK == ads.CONFIG_RESET & ~ads.MUX_MASK
    assert config_word(3, 6.144, 860, single_shot=False) == 0b0_111_000_0_111_0_0_0_11


@pytest.mark.parametrize("channel, full_scale, rate", [(0, 4.096, 475), (1, 2.048, 128), (3, 6.144, 860), (2, 0.256, 8)])
def test_register_writes_select_channel_gain_and_rate(chip, channel, full_scale, rate):
    driver, model, _ = chip
    driver.full_scale_v, driver.data_rate_sps = full_scale, rate
    driver.start_conversion(channel)
    assert model.mux == 0b100 | channel
    assert model.full_scale_v == full_scale
    assert model.data_rate_sps == rate
    assert model.single_shot


def test_conversion_takes_one_over_data_rate(chip, clock):
    driver, _, _ = chip
    # The chip sees each transfer as it begins, and every transfer holds the clock for its
    # wire time, so each check is placed at a time measured from the start's own transfer.
    # One conversion is checked at 0.9/DR and another at 1.1/DR: a register read's wire
    # time (0.53 ms at 100 kHz) is longer than the 0.42 ms between the two.
    for fraction, ready in ((0.9, False), (1.1, True)):
        started = clock()
        driver.start_conversion(1)
        assert not driver.conversion_ready()
        check_at = started + fraction / 475
        assert clock() < check_at
        clock.advance(check_at - clock())
        assert driver.conversion_ready() is ready
        clock.advance(1 / 475)  # done by now whichever it was
    assert driver.read_volts() == pytest.approx(1.25, abs=4.096 / 32768)


def test_single_shot_read_waits_for_ready_and_returns_volts(chip):
    driver, _, _ = chip
    assert driver.read_single_shot(0) == pytest.approx(0.5, abs=4.096 / 32768)
    assert driver.read_single_shot(3) == pytest.approx(3.3, abs=4.096 / 32768)


def test_inputs_beyond_full_scale_clip_to_the_code_limits(chip):
    driver, _, _ = chip
    driver.full_scale_v = 2.048
    assert driver.read_single_shot(3) == pytest.approx(raw_to_volts(32767, 2.048))


def test_negative_input_reads_negative_counts(chip):
    driver, _, _ = chip
    assert driver.read_single_shot(2) == pytest.approx(-0.1, abs=4.096 / 32768)


def test_conversion_that_never_finishes_times_out_at_its_deadline(chip, clock):
    driver, model, _ = chip
    model.stalled = True  # the OS bit stays 0
    start = clock()
    with pytest.raises(ConversionTimeout, match="AIN0 not ready"):
        driver.read_single_shot(0, timeout_s=0.01)
    assert clock() - start == pytest.approx(0.01, abs=0.002)


def test_nack_is_retried_once_then_raised_as_a_counted_fault(chip):
    driver, _, bus = chip
    bus.inject(0x48, "nack", count=1)
    driver.start_conversion(0)  # one NACK: the retry succeeds
    assert driver.device.errors == 0
    bus.inject(0x48, "nack", count=2)
    with pytest.raises(BusFault, match=r"ADS1115 at 0x48: no acknowledge \(NACK\)"):
        driver.start_conversion(0)
    assert driver.device.errors == 1


def test_bus_timeout_is_not_retried_so_it_costs_one_adapter_timeout(chip, clock):
    driver, _, bus = chip
    bus.inject(0x48, "timeout", count=1)
    start = clock()
    with pytest.raises(BusFault, match="bus timeout") as caught:
        driver.probe()
    assert caught.value.timeout
    assert clock() - start == pytest.approx(0.01)


def test_absent_device_is_a_nack():
    bus = SimI2CBus(1)
    with pytest.raises(BusFault) as caught:
        ADS1115(I2CDevice(bus, 0x49, "ADS1115")).probe()
    assert caught.value.__cause__.errno == errno.EREMOTEIO
