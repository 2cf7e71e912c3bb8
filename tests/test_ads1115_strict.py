"""The ADS1115 model against TI's datasheet (SBAS444D), through the virtual I2C bus, and our
driver against that model at the oscillator's extremes and three bus speeds.

Every transfer holds the fake clock for its wire time, and the chip sees a transfer as it
begins: a test that needs a time places each check from `clock()` taken just before the
transfer that matters, or waits on the chip's state.
"""

import errno

import pytest
from smbus2 import i2c_msg

from pi_service.config import parse_config
from pi_service.drivers.ads1115 import (ADS1115, CONFIG_RESET, DATA_RATE_SPS, MUX_SINGLE_ENDED, OS_SINGLE,
                                        PGA_FULL_SCALE_V, REG_CONFIG, REG_CONVERSION, REG_HI_THRESH,
                                        REG_LO_THRESH)
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import ConfigError
from pi_service.sim.ads1115_model import ADS1115Model
from pi_service.sim.i2c_bus import SimI2CBus

ADDRESS = 0x48
VOLTS = {0: 1.0, 1: 2.0, 2: -0.1, 3: 3.3}
POWER_UP_S = 25e-6  # 9.4.2.1, written out here so that the test does not take it from the model
LSB_4V = 4.096 / 32768
# Config register fields (9.6.3) beyond what the driver's config_word builds
COMP_WINDOW, COMP_ACTIVE_HIGH, COMP_LATCHING = 1 << 4, 1 << 3, 1 << 2
QUE_1, QUE_2, QUE_4, QUE_OFF = 0b00, 0b01, 0b10, 0b11


def word(mux=0b100, full_scale_v=4.096, single_shot=True, rate=8, comparator=QUE_OFF, start=False) -> int:
    """A config register value from its fields; `comparator` is bits 4:0 (mode, polarity, latch, queue)."""
    return ((OS_SINGLE if start else 0) | mux << 12 | PGA_FULL_SCALE_V[full_scale_v] << 9
            | (0x100 if single_shot else 0) | DATA_RATE_SPS[rate] << 5 | comparator)


class Chip:
    """Raw register access as the wire carries it: a pointer and two bytes, MSB first."""

    def __init__(self, model: ADS1115Model, bus: SimI2CBus, clock):
        self.model, self.bus, self.clock = model, bus, clock

    def write(self, register: int, value: int) -> None:
        self.bus.write_i2c_block_data(ADDRESS, register, [value >> 8, value & 0xFF])

    def read(self, register: int) -> int:
        msb, lsb = self.bus.read_i2c_block_data(ADDRESS, register, 2)
        return msb << 8 | lsb

    def signed(self, register: int = REG_CONVERSION) -> int:
        value = self.read(register)
        return value - 0x10000 if value & 0x8000 else value

    def busy(self) -> bool:
        return not self.read(REG_CONFIG) & OS_SINGLE

    def wait_idle(self, timeout_s: float = 1.0) -> float:
        """Poll OS until the chip is not converting; returns the clock time the chip answered 1."""
        deadline = self.clock() + timeout_s
        while self.clock() < deadline:
            asked = self.clock()
            if not self.busy():
                return asked
            self.clock.advance(20e-6)
        raise AssertionError("the conversion never finished")

    def at(self, t: float) -> None:
        """Move the clock to `t`, which the transfers so far must not have passed."""
        assert self.clock() <= t, f"the bus already took the clock {self.clock() - t:.6f} s past the check"
        self.clock.advance(t - self.clock())


@pytest.fixture
def make_chip(clock):
    def make(volts=None, oscillator=1.0, bus_hz=100_000):
        volts = VOLTS if volts is None else volts
        inputs = volts if callable(volts) else (lambda ain, t: volts[ain])
        # `oscillator` is only passed when it is not the default, so that the model as it was before
        # it had one fails these tests on their behaviour, not on the keyword.
        model = ADS1115Model(inputs, clock, **({} if oscillator == 1.0 else {"oscillator": oscillator}))
        bus = SimI2CBus(1, clock, clock.sleep, bus_hz=bus_hz)
        bus.attach(ADDRESS, model)
        return Chip(model, bus, clock)
    return make


@pytest.fixture
def chip(make_chip):
    return make_chip()


def code(volts: float, full_scale_v: float = 4.096) -> int:
    return max(-32768, min(32767, round(volts / full_scale_v * 32768)))


# 1. OS in continuous-conversion mode (9.6.3: "0 : Device is currently performing a conversion")

def test_os_reads_0_throughout_continuous_mode_and_1_once_powered_down(chip, clock):
    chip.write(REG_CONFIG, word(single_shot=False, rate=860))
    for _ in range(30):
        assert chip.busy()
        clock.advance(1e-3)
    chip.write(REG_CONFIG, word(single_shot=True, rate=860))  # MODE=1, OS=0: power down
    chip.wait_idle(timeout_s=2 / 860)
    assert not chip.busy()


# 2. OS=1 during a single-shot conversion (9.4.2.1: "has no effect")

def test_a_start_during_a_single_shot_conversion_has_no_effect(chip, clock):
    started = clock()
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[0], rate=8, start=True))
    clock.advance(0.05)
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[1], rate=8, start=True))  # ignored: a conversion is under way
    done = chip.wait_idle()
    assert started + POWER_UP_S + 1 / 8 <= done < started + POWER_UP_S + 1 / 8 + 1e-3
    assert chip.signed() == code(VOLTS[0])  # the conversion kept the settings it started with
    assert chip.read(REG_CONFIG) & 0x7000 == MUX_SINGLE_ENDED[1] << 12  # the register holds what was written
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[1], rate=8, start=True))  # powered down: this one starts
    chip.wait_idle()
    assert chip.signed() == code(VOLTS[1])


# 3. New settings in continuous mode (9.4.2.2: "the currently ongoing conversion completes with
#    the previous configuration settings")

def test_a_config_change_in_continuous_mode_applies_from_the_next_conversion(chip, clock):
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[0], single_shot=False, rate=8))
    while chip.signed() != code(VOLTS[0]):
        clock.advance(100e-6)
    first_end = clock()  # within one poll (0.63 ms) after the first conversion ended
    clock.advance(1 / 16)  # the middle of the second conversion
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[1], single_shot=False, rate=8))
    # The second conversion ends at first_end + 125 ms, still on AIN0; the third, on AIN1, at + 250 ms.
    chip.at(first_end + 0.2)
    assert chip.signed() == code(VOLTS[0])
    while chip.signed() != code(VOLTS[1]):
        clock.advance(100e-6)
    assert first_end + 2 / 8 - 1e-3 <= clock() <= first_end + 2 / 8 + 2e-3


# 4. MODE=1 with OS=0 (9.4.2.1: the power-down state; the Conversion register keeps the last result)

def test_mode_1_written_with_os_0_stops_converting_and_keeps_the_last_result(make_chip, clock):
    t0 = clock()
    chip = make_chip(volts=lambda ain, t: 0.5 + (t - t0))  # 1 V/s: every conversion differs
    chip.write(REG_CONFIG, word(single_shot=False, rate=860))
    clock.advance(0.01)
    chip.write(REG_CONFIG, word(single_shot=True, rate=860))
    chip.wait_idle(timeout_s=2 / 860)
    last = chip.signed()
    clock.advance(0.05)  # 43 conversion times, 50 mV (400 LSB) of ramp
    assert chip.signed() == last
    assert not chip.busy()


# 5. Conversion time: oscillator (7.5, data rate variation +-10 %) and power-up (9.4.2.1, about 25 us)

@pytest.mark.parametrize("oscillator", [0.9, 1.0, 1.1])
@pytest.mark.parametrize("rate", [8, 128, 860])
def test_a_single_shot_takes_the_power_up_and_one_period_of_the_oscillators_data_rate(make_chip, clock,
                                                                                         oscillator, rate):
    chip = make_chip(oscillator=oscillator)
    takes = POWER_UP_S + 1 / (rate * oscillator)
    # Two conversions: one checked 5 us before its end, one 5 us after (a read holds the bus 0.53 ms).
    for offset, busy in ((-5e-6, True), (5e-6, False)):
        started = clock()
        chip.write(REG_CONFIG, word(rate=rate, start=True))
        chip.at(started + takes + offset)
        assert chip.busy() is busy
        chip.wait_idle()


@pytest.mark.parametrize("oscillator", [0.9, 1.1])
def test_continuous_conversions_follow_the_oscillator(make_chip, clock, oscillator):
    chip = make_chip(oscillator=oscillator)
    chip.write(REG_HI_THRESH, 0x8000)  # conversion-ready mode: a pulse at the end of each conversion
    chip.write(REG_LO_THRESH, 0x0000)
    chip.write(REG_CONFIG, word(single_shot=False, rate=860, comparator=QUE_1))
    clock.advance(0.1)
    assert chip.model.alert_rdy  # between pulses: high
    pulses = [t for t, level in chip.model.alert_rdy_history if not level]
    assert abs(len(pulses) - 0.1 * 860 * oscillator) <= 2
    assert all(b - a == pytest.approx(1 / (860 * oscillator)) for a, b in zip(pulses, pulses[1:]))


def test_the_oscillator_must_be_within_the_datasheets_tolerance(clock):
    with pytest.raises(ValueError, match="outside"):
        ADS1115Model(lambda ain, t: 0.0, clock, oscillator=1.2)


# 6. Messages (9.5.2, 9.5.3): the chip ACKs every byte

def test_a_pointer_only_write_sets_the_register_that_bare_reads_return(chip):
    for register, reset in ((REG_CONFIG, CONFIG_RESET), (REG_HI_THRESH, 0x7FFF), (REG_LO_THRESH, 0x8000)):
        chip.bus.i2c_rdwr(i2c_msg.write(ADDRESS, [register]))
        read = i2c_msg.read(ADDRESS, 2)
        chip.bus.i2c_rdwr(read)
        assert bytes(read) == reset.to_bytes(2, "big")


def test_a_pointer_and_one_data_byte_is_an_incomplete_write_that_changes_nothing(chip, clock):
    chip.bus.i2c_rdwr(i2c_msg.write(ADDRESS, [REG_CONFIG, 0xC3]))  # would be OS=1, AIN0, ... if it were whole
    assert chip.read(REG_CONFIG) == CONFIG_RESET
    assert chip.model.config_writes == []


def test_more_than_two_data_bytes_write_each_whole_pair_to_the_same_register(chip):
    chip.bus.i2c_rdwr(i2c_msg.write(ADDRESS, [REG_LO_THRESH, 0x12, 0x34, 0x56, 0x78, 0x9A]))
    assert chip.read(REG_LO_THRESH) == 0x5678  # the pointer does not move on; the odd 0x9A is incomplete
    assert chip.read(REG_HI_THRESH) == 0x7FFF


def test_a_read_longer_than_a_register_repeats_it_and_is_never_short(chip):
    assert chip.bus.read_i2c_block_data(ADDRESS, REG_CONFIG, 5) == [0x85, 0x83, 0x85, 0x83, 0x85]
    assert chip.bus.read_i2c_block_data(ADDRESS, REG_CONFIG, 1) == [0x85]


def test_the_conversion_register_is_read_only(chip):
    chip.write(REG_CONVERSION, 0x1234)
    assert chip.read(REG_CONVERSION) == 0  # 9.6.2: 0 after reset until the first conversion


def test_an_address_only_write_is_acknowledged_and_changes_nothing(chip):
    chip.bus.write_quick(ADDRESS)
    assert chip.read(REG_CONFIG) == CONFIG_RESET


# 7. ALERT/RDY (9.3.7 comparator, 9.3.8 conversion-ready pin)

def convert(chip, mux=MUX_SINGLE_ENDED[0], comparator=QUE_1, rate=860):
    chip.write(REG_CONFIG, word(mux=mux, rate=rate, comparator=comparator, start=True))
    chip.wait_idle()


def test_the_thresholds_reset_to_8000h_and_7fffh_and_hold_any_16_bit_value(chip):
    assert (chip.read(REG_LO_THRESH), chip.read(REG_HI_THRESH)) == (0x8000, 0x7FFF)
    chip.write(REG_LO_THRESH, 0xFEDC)
    chip.write(REG_HI_THRESH, 0x1234)
    assert (chip.read(REG_LO_THRESH), chip.read(REG_HI_THRESH)) == (0xFEDC, 0x1234)


def test_alert_rdy_is_high_z_while_the_comparator_is_disabled(make_chip):
    chip = make_chip(volts={0: 5.0, 1: 0, 2: 0, 3: 0})  # beyond any threshold
    chip.write(REG_HI_THRESH, 0x0100)
    assert chip.model.alert_rdy
    for _ in range(3):
        convert(chip, comparator=QUE_OFF | COMP_ACTIVE_HIGH)
    assert chip.model.alert_rdy  # the pull-up's high, whatever COMP_POL says
    assert chip.model.alert_rdy_history == [(chip.model.alert_rdy_history[0][0], True)]


def test_the_traditional_comparator_asserts_above_hi_thresh_and_releases_only_below_lo_thresh(make_chip):
    volts = {0: 0.0, 1: 0, 2: 0, 3: 0}
    chip = make_chip(volts=volts)
    chip.write(REG_HI_THRESH, code(2.0))
    chip.write(REG_LO_THRESH, code(1.0))
    for level, expected_pin in ((2.5, False), (1.5, False), (0.5, True), (1.5, True), (2.5, False)):
        volts[0] = level
        convert(chip)  # traditional, active low, non-latching, after one conversion
        assert chip.model.alert_rdy is expected_pin, level


def test_the_window_comparator_asserts_outside_the_thresholds(make_chip):
    volts = {0: 0.0, 1: 0, 2: 0, 3: 0}
    chip = make_chip(volts=volts)
    chip.write(REG_HI_THRESH, code(2.0))
    chip.write(REG_LO_THRESH, code(1.0))
    for level, asserted in ((1.5, False), (2.5, True), (1.5, False), (0.5, True), (1.5, False)):
        volts[0] = level
        convert(chip, comparator=QUE_1 | COMP_WINDOW | COMP_ACTIVE_HIGH)
        assert chip.model.alert_rdy is asserted, level


@pytest.mark.parametrize("queue, conversions", [(QUE_1, 1), (QUE_2, 2), (QUE_4, 4)])
def test_comp_que_asserts_after_that_many_successive_conversions_beyond_a_threshold(make_chip, queue, conversions):
    volts = {0: 3.0, 1: 0, 2: 0, 3: 0}
    chip = make_chip(volts=volts)
    chip.write(REG_HI_THRESH, code(2.0))
    chip.write(REG_LO_THRESH, code(1.0))
    for n in range(1, conversions + 1):
        convert(chip, comparator=queue)
        assert chip.model.alert_rdy is (n < conversions), n  # active low: asserted on the last one
    volts[0] = 0.5
    convert(chip, comparator=queue)
    assert chip.model.alert_rdy  # released below Lo_thresh
    # One conversion that is not beyond (1.5 V, between the thresholds) starts the count again.
    for level in [3.0] * (conversions - 1) + [1.5] + [3.0] * (conversions - 1):
        volts[0] = level
        convert(chip, comparator=queue)
        assert chip.model.alert_rdy, level


def test_a_latched_alert_holds_until_the_conversion_register_is_read(make_chip):
    volts = {0: 3.0, 1: 0, 2: 0, 3: 0}
    chip = make_chip(volts=volts)
    chip.write(REG_HI_THRESH, code(2.0))
    chip.write(REG_LO_THRESH, code(1.0))
    convert(chip, comparator=QUE_1 | COMP_LATCHING)
    assert not chip.model.alert_rdy
    volts[0] = 0.5
    convert(chip, comparator=QUE_1 | COMP_LATCHING)
    assert not chip.model.alert_rdy  # back below Lo_thresh, and still asserted
    chip.read(REG_CONVERSION)
    assert chip.model.alert_rdy
    volts[0] = 3.0
    convert(chip, comparator=QUE_1 | COMP_LATCHING)
    assert not chip.model.alert_rdy  # beyond again: it reasserts


@pytest.mark.parametrize("active_high", [False, True])
def test_the_conversion_ready_pin_follows_os_in_single_shot_mode(chip, clock, active_high):
    chip.write(REG_HI_THRESH, 0x8000)
    chip.write(REG_LO_THRESH, 0x7FFF)
    polarity = COMP_ACTIVE_HIGH if active_high else 0
    chip.write(REG_CONFIG, word(rate=128, comparator=QUE_1 | polarity))  # configured, powered down: OS=1
    assert chip.model.alert_rdy is active_high
    started = clock()
    chip.write(REG_CONFIG, word(rate=128, comparator=QUE_1 | polarity, start=True))
    assert chip.model.alert_rdy is not active_high  # converting
    chip.wait_idle()
    assert chip.model.alert_rdy is active_high  # done: asserted (low by default)
    edges = [t for t, _ in chip.model.alert_rdy_history[-2:]]
    assert edges == [started, pytest.approx(started + POWER_UP_S + 1 / 128)]


def test_the_conversion_ready_pin_pulses_for_8_us_at_the_end_of_each_continuous_conversion(chip, clock):
    chip.write(REG_HI_THRESH, 0xFFFF)
    chip.write(REG_LO_THRESH, 0x0000)
    started = clock()
    chip.write(REG_CONFIG, word(single_shot=False, rate=475, comparator=QUE_2))  # COMP_QUE just has to be on
    clock.advance(0.02)
    assert chip.model.alert_rdy
    history = [(t, level) for t, level in chip.model.alert_rdy_history if t >= started]
    falls = [t for t, level in history if not level]
    rises = [t for t, level in history if level]
    assert len(falls) == len(rises) == int(0.02 * 475)
    assert falls[0] == pytest.approx(started + POWER_UP_S + 1 / 475)
    assert all(rise - fall == pytest.approx(8e-6) for fall, rise in zip(falls, rises))


def test_the_comparator_is_off_in_conversion_ready_mode(make_chip):
    chip = make_chip(volts={0: 3.0, 1: 0, 2: 0, 3: 0})
    chip.write(REG_HI_THRESH, 0x8000)  # -32768: every code would exceed it, were it a comparator's
    chip.write(REG_LO_THRESH, 0x0000)
    comparator = QUE_1 | COMP_LATCHING | COMP_ACTIVE_HIGH
    convert(chip, comparator=comparator)
    chip.write(REG_CONFIG, word(rate=128, comparator=comparator, start=True))
    assert not chip.model.alert_rdy  # converting: RDY is released; a latched comparator would hold it


# Conversion results (9.3.1 multiplexer, 9.3.3 full-scale range, 9.6.2 Conversion register)

def test_the_conversion_register_is_twos_complement_msb_first(chip):
    convert(chip, mux=MUX_SINGLE_ENDED[2])  # -0.1 V: -800 counts
    assert chip.bus.read_i2c_block_data(ADDRESS, REG_CONVERSION, 2) == [0xFC, 0xE0]


@pytest.mark.parametrize("mux, positive, negative", [(0b000, 0, 1), (0b001, 0, 3), (0b010, 1, 3), (0b011, 2, 3)])
def test_the_differential_pairs_read_their_difference(chip, mux, positive, negative):
    convert(chip, mux=mux)
    assert chip.signed() == code(VOLTS[positive] - VOLTS[negative])


def test_results_clip_to_the_pga_range(chip):
    chip.write(REG_CONFIG, word(mux=MUX_SINGLE_ENDED[3], full_scale_v=2.048, rate=860, start=True))
    chip.wait_idle()
    assert chip.signed() == 32767  # 3.3 V against +-2.048 V
    chip.write(REG_CONFIG, word(mux=0b011, full_scale_v=2.048, rate=860, start=True))  # AIN2 - AIN3 = -3.4 V
    chip.wait_idle()
    assert chip.signed() == -32768


@pytest.mark.parametrize("pga", [0b101, 0b110, 0b111])
def test_pga_codes_101_110_and_111_are_all_0_256_v(make_chip, pga):
    chip = make_chip(volts={0: 0.2, 1: 0, 2: 0, 3: 0})
    chip.write(REG_CONFIG, word(rate=860, start=True) & ~(0b111 << 9) | pga << 9)
    chip.wait_idle()
    assert chip.model.full_scale_v == 0.256
    assert chip.signed() == code(0.2, 0.256)


# Reset (9.4.1) and the general call (9.5.1.2)

def test_reset_is_power_on(chip, clock):
    chip.write(REG_HI_THRESH, 0x1234)
    chip.write(REG_CONFIG, word(single_shot=False, rate=860))
    clock.advance(0.01)
    chip.model.reset()
    assert [chip.read(r) for r in (REG_CONVERSION, REG_CONFIG, REG_LO_THRESH, REG_HI_THRESH)] == \
        [0, CONFIG_RESET, 0x8000, 0x7FFF]
    clock.advance(0.01)
    assert chip.read(REG_CONVERSION) == 0  # powered down: no conversions


def test_a_general_call_reset_puts_every_chip_back_to_power_on(chip, clock):
    from pi_service.sim.ads1115_model import GeneralCall

    other = ADS1115Model(lambda ain, t: 0.0, clock)
    chip.bus.attach(0x49, other)
    chip.bus.attach(0x00, GeneralCall(chip.model, other))
    for address in (ADDRESS, 0x49):
        chip.bus.write_i2c_block_data(address, REG_LO_THRESH, [0x00, 0x10])
    chip.bus.write_byte(0x00, 0x04)  # some other general call: not for it
    assert chip.read(REG_LO_THRESH) == 0x0010
    chip.write(REG_CONFIG, word(single_shot=False))
    chip.bus.write_byte(0x00, 0x06)
    assert chip.read(REG_LO_THRESH) == 0x8000 and chip.read(REG_CONFIG) == CONFIG_RESET
    assert chip.bus.read_i2c_block_data(0x49, REG_LO_THRESH, 2) == [0x80, 0x00]
    with pytest.raises(OSError) as nack:
        chip.bus.read_byte(0x00)
    assert nack.value.errno == errno.EREMOTEIO


# Our driver against the strict chip: both ends of the oscillator's range, three bus speeds

OSCILLATORS = [0.9, 1.1]
BUS_HZ = [50_000, 100_000, 400_000]


def driver_for(chip: Chip, clock, full_scale_v=4.096, rate=475) -> ADS1115:
    return ADS1115(I2CDevice(chip.bus, ADDRESS, "ADS1115"), full_scale_v, rate, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize("bus_hz", BUS_HZ)
@pytest.mark.parametrize("oscillator", OSCILLATORS)
@pytest.mark.parametrize("rate", [8, 128, 860])
def test_read_single_shot_reads_every_channel_true(make_chip, clock, oscillator, bus_hz, rate):
    driver = driver_for(make_chip(oscillator=oscillator, bus_hz=bus_hz), clock, rate=rate)
    for channel, volts in VOLTS.items():
        assert driver.read_single_shot(channel) == pytest.approx(volts, abs=LSB_4V / 2)


class Accelerometer:
    """Stands in for the incline chip, so a tick carries the incline's 6-byte burst read too."""

    def on_write(self, data: bytes) -> None:
        pass

    def on_read(self, length: int) -> bytes:
        return bytes(length)


def pipelined_ticks(chip: Chip, driver: ADS1115, clock, rate_hz: float, ticks: int) -> list[tuple[int, float] | None]:
    """The sampler's rails step (sampling/sensors.py) on the loop's deadlines (sampling/loop.py):
    collect the conversion the previous tick started and start the other channel, then read the
    incline. Per tick, (channel, volts) of a fresh conversion, or None when it was not ready."""
    chip.bus.attach(0x53, Accelerometer())
    period = 1.0 / rate_hz
    deadline = clock()
    pending = None
    fresh: list[tuple[int, float] | None] = []
    for _ in range(ticks):
        deadline += period
        chip.at(deadline)  # the tick before fitted in its period
        if pending is None:
            pending = 1
        elif driver.conversion_ready():
            fresh.append((pending, driver.read_volts()))
        else:
            fresh.append(None)
            chip.bus.read_i2c_block_data(0x53, 0x32, 6)
            continue  # as sensors.py: one more tick of grace before the same conversion is a fault
        pending = 1 - pending
        driver.start_conversion(pending)
        chip.bus.read_i2c_block_data(0x53, 0x32, 6)
    return fresh


def config_allows(rate_hz: float, rate: int, bus_hz: int) -> bool:
    try:
        parse_config(f"[sampling]\nrate_hz = {rate_hz}\n[rails]\ndata_rate_sps = {rate}\n[i2c]\nbus_hz = {bus_hz}\n",
                     "test.toml")
    except ConfigError:
        return False
    return True


ALLOWED = [(rate_hz, rate, bus_hz, oscillator)
           for rate_hz in (100, 200) for rate in sorted(DATA_RATE_SPS) for bus_hz in BUS_HZ
           for oscillator in OSCILLATORS if config_allows(rate_hz, rate, bus_hz)]


@pytest.mark.parametrize("rate_hz, rate, bus_hz, oscillator", ALLOWED)
def test_the_pipeline_gets_a_fresh_conversion_every_tick_at_every_data_rate_the_config_allows(
        make_chip, clock, rate_hz, rate, bus_hz, oscillator):
    chip = make_chip(oscillator=oscillator, bus_hz=bus_hz)
    fresh = pipelined_ticks(chip, driver_for(chip, clock, rate=rate), clock, rate_hz, ticks=40)
    assert None not in fresh
    assert [channel for channel, _ in fresh[:4]] == [0, 1, 0, 1]
    assert all(volts == pytest.approx(VOLTS[channel], abs=LSB_4V / 2) for channel, volts in fresh)


@pytest.mark.parametrize("rate_hz, rate", [(100, 64), (200, 128)])  # 1/DR alone is longer than the period
@pytest.mark.parametrize("bus_hz", BUS_HZ)
@pytest.mark.parametrize("oscillator", OSCILLATORS)
def test_the_pipeline_misses_ticks_at_a_data_rate_the_config_refuses(make_chip, clock, rate_hz, rate, bus_hz,
                                                                      oscillator):
    assert not config_allows(rate_hz, rate, bus_hz)
    chip = make_chip(oscillator=oscillator, bus_hz=bus_hz)
    fresh = pipelined_ticks(chip, driver_for(chip, clock, rate=rate), clock, rate_hz, ticks=40)
    assert fresh.count(None) >= len(fresh) // 3
