"""Adafruit's CircuitPython ADS1x15 driver as an oracle for the ADS1115 model: written by other
people from the same datasheet, over busio.I2C on the virtual bus (tests/busio_adapter.py), it
must read back the voltages the simulation puts on the pins at every gain, data rate, input
(single-ended and differential) and mode, and drive ALERT/RDY through its comparator settings.

Adafruit's driver sleeps and polls in real time, so the chip runs on time.monotonic and the
bus holds the caller with time.sleep for each transfer's wire time.

Adafruit 3.0.5 never selects a channel in continuous mode: `_write_config` takes the mux the
chip already holds (a known bug, e.g. ori-platform/ori-runtime#500). The model keeps what was
written, so a continuous read here first selects its channel with a single-shot read, as the
chip would need on a bench too; one test pins the bug's effect as the chip shows it.
"""

import time

import pytest
from adafruit_ads1x15 import ads1115 as adafruit
from adafruit_ads1x15.ads1x15 import Comp_Latch, Comp_Mode, Comp_Polarity, Mode
from adafruit_ads1x15.analog_in import AnalogIn

from pi_service.sim.ads1115_model import ADS1115Model
from pi_service.sim.i2c_bus import SimI2CBus
from tests.busio_adapter import BusioI2C

pytestmark = pytest.mark.timeout(30)  # Adafruit polls for conversion-ready without a deadline

FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}  # Adafruit's gain: the PGA range
FAST_RATES = [128, 250, 475, 860]
SLOW_RATES = [8, 16, 32, 64]
SINGLE_ENDED = [(pin, None) for pin in range(4)]
DIFFERENTIAL = [(0, 1), (0, 3), (1, 3), (2, 3)]
INPUTS = SINGLE_ENDED + DIFFERENTIAL
FRACTION = {0: 0.71, 1: 0.29, 2: 0.05, 3: 0.93}  # of the full scale on each AINx: every pair stays in range


class Pins:
    """The voltages on AIN0..AIN3, a fixed fraction of the full scale under test, for `input_volts`."""

    def __init__(self, full_scale_v: float = 4.096):
        self.full_scale_v = full_scale_v
        self.scale = 1.0

    def __call__(self, ain: int, t: float) -> float:
        return FRACTION[ain] * self.full_scale_v * self.scale

    def expected(self, positive: int, negative: int | None) -> float:
        return self(positive, 0) - (0.0 if negative is None else self(negative, 0))


@pytest.fixture
def make_rig():
    def make(input_volts):
        model = ADS1115Model(input_volts)  # on time.monotonic; the bus sleeps with time.sleep
        bus = SimI2CBus(1)
        bus.attach(0x48, model)
        return model, bus, BusioI2C(bus)
    return make


@pytest.fixture
def rig(make_rig):
    pins = Pins()
    return (pins, *make_rig(pins))


def wait_powered_down(bus, timeout_s=0.2):
    """Poll OS (our own read, not Adafruit's) until the conversion under way has finished."""
    deadline = time.monotonic() + timeout_s
    while not bus.read_i2c_block_data(0x48, 0x01, 2)[0] & 0x80:
        assert time.monotonic() < deadline, "the chip never powered down"


def read_volts(ads, positive, negative):
    return AnalogIn(ads, positive, negative).voltage


def assert_reads_true(ads, pins, positive, negative, gain):
    lsb = FULL_SCALE_V[gain] / 32768
    volts = read_volts(ads, positive, negative)
    error_lsb = abs(volts - pins.expected(positive, negative)) / lsb
    assert error_lsb <= 1, f"AIN{positive}-{negative or 'GND'} at gain {gain}: {error_lsb:.2f} LSB off"


def single_shot_matrix(rate):
    """Every gain and input at the fast rates; at the slow ones (up to 125 ms a read) every gain on
    one input and every input at one gain."""
    if rate in FAST_RATES:
        return [(gain, positive, negative) for gain in FULL_SCALE_V for positive, negative in INPUTS]
    return ([(gain, 0, 1) for gain in FULL_SCALE_V]
            + [(1, positive, negative) for positive, negative in INPUTS if (positive, negative) != (0, 1)])


@pytest.mark.parametrize("rate", FAST_RATES + SLOW_RATES)
def test_single_shot_reads_back_the_simulated_volts(rig, rate):
    pins, _, _, i2c = rig
    ads = adafruit.ADS1115(i2c, data_rate=rate)
    for gain, positive, negative in single_shot_matrix(rate):
        ads.gain = gain
        pins.full_scale_v = FULL_SCALE_V[gain]
        assert_reads_true(ads, pins, positive, negative, gain)


def continuous_matrix(rate):
    if rate >= 250:
        return [(gain, positive, negative) for gain in FULL_SCALE_V for positive, negative in INPUTS]
    if rate == 128:
        return single_shot_matrix(8)
    return [(1, 0, None), (4, 1, 3)]


def select_then_go_continuous(i2c, gain, rate, positive, negative):
    """A single-shot read selects the input; a continuous-mode object then inherits the chip's mux."""
    read_volts(adafruit.ADS1115(i2c, gain=gain, data_rate=rate), positive, negative)
    return adafruit.ADS1115(i2c, gain=gain, data_rate=rate, mode=Mode.CONTINUOUS)


@pytest.mark.parametrize("rate", FAST_RATES + SLOW_RATES)
def test_continuous_mode_reads_back_the_simulated_volts_and_follows_them(rig, rate):
    pins, model, bus, i2c = rig
    for gain, positive, negative in continuous_matrix(rate):
        pins.full_scale_v, pins.scale = FULL_SCALE_V[gain], 1.0
        ads = select_then_go_continuous(i2c, gain, rate, positive, negative)
        channel = AnalogIn(ads, positive, negative)
        assert_reads_true(ads, pins, positive, negative, gain)
        assert not model.single_shot
        pins.scale = 0.5  # the chip keeps converting: two periods later the register has the new value
        time.sleep(2.5 / rate)
        lsb = FULL_SCALE_V[gain] / 32768
        assert abs(channel.voltage - pins.expected(positive, negative)) <= lsb
        ads.mode = Mode.SINGLE  # MODE=1: power down once the conversion under way is done
        wait_powered_down(bus)


def test_adafruits_first_single_shot_after_continuous_mode_can_return_the_last_continuous_result(rig):
    # 9.4.2.1: OS=1 has no effect while a conversion is under way, and a continuous conversion is
    # still under way just after MODE=1 is written. Adafruit writes MODE=1, then OS=1 at once.
    pins, model, _, i2c = rig
    ads = select_then_go_continuous(i2c, 1, 8, 0, None)
    time.sleep(1 / 8 + 0.02)  # just past the end of the first continuous conversion, on AIN0
    ads.mode = Mode.SINGLE
    volts = read_volts(ads, 3, None)  # asks for AIN3: its start lands in the second conversion
    assert volts == pytest.approx(pins.expected(0, None), abs=4.096 / 32768)
    assert read_volts(ads, 3, None) == pytest.approx(pins.expected(3, None), abs=4.096 / 32768)  # powered down now


def test_adafruits_continuous_mode_reads_the_mux_the_chip_holds_not_the_pin_asked_for(rig):
    pins, model, _, i2c = rig
    ads = adafruit.ADS1115(i2c, data_rate=860, mode=Mode.CONTINUOUS)
    volts = read_volts(ads, 3, None)  # asks for AIN3 against GND
    assert model.mux == 0b000  # still the power-on AIN0 - AIN1
    assert volts == pytest.approx(pins.expected(0, 1), abs=4.096 / 32768)


def test_adafruits_reads_reach_the_chip_as_i2c_messages(rig):
    _, model, _, i2c = rig
    ads = adafruit.ADS1115(i2c, data_rate=860)
    read_volts(ads, 2, None)
    assert model.config_writes[-1] & 0x8000  # a single shot started with OS=1
    assert {"writeto", "writeto_then_readfrom"} <= set(i2c.calls)


# ALERT/RDY through Adafruit's comparator settings

def comparator_rig(make_rig, **settings):
    """Adafruit's comparator on AIN0 at +-4.096 V with Lo_thresh at 1.0 V and Hi_thresh at 2.0 V."""
    pins = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}
    model, _, i2c = make_rig(lambda ain, t: pins[ain])
    ads = adafruit.ADS1115(i2c, gain=1, data_rate=860, comparator_low_threshold=round(1.0 / 4.096 * 32768),
                           comparator_high_threshold=round(2.0 / 4.096 * 32768), **settings)
    return pins, model, ads


def test_adafruits_traditional_comparator_drives_alert_low_above_the_high_threshold(make_rig):
    pins, model, ads = comparator_rig(make_rig, comparator_queue_length=1)
    assert model.alert_rdy
    for volts, pin_high in ((2.5, False), (1.5, False), (0.5, True)):
        pins[0] = volts
        read_volts(ads, 0, None)
        assert model.alert_rdy is pin_high, volts


def test_adafruits_window_comparator_active_high_asserts_outside_the_thresholds(make_rig):
    pins, model, ads = comparator_rig(make_rig, comparator_queue_length=2, comparator_mode=Comp_Mode.WINDOW,
                                      comparator_polarity=Comp_Polarity.ACTIVE_HIGH)
    for volts, pin_high in ((0.5, False), (0.5, True), (1.5, False), (2.5, False), (2.5, True)):
        pins[0] = volts
        read_volts(ads, 0, None)
        assert model.alert_rdy is pin_high, volts  # queue of two: the second conversion outside asserts


def test_adafruits_latching_comparator_asserts_until_its_read_clears_it(make_rig):
    pins, model, ads = comparator_rig(make_rig, comparator_queue_length=1, comparator_latch=Comp_Latch.LATCHING)
    pins[0] = 2.5
    read_volts(ads, 0, None)
    # The conversion asserted it; Adafruit's read of the Conversion register released it.
    (asserted_at, low), (released_at, high) = model.alert_rdy_history[-2:]
    assert (low, high) == (False, True) and asserted_at < released_at
    assert model.alert_rdy


def test_adafruits_thresholds_can_set_the_conversion_ready_pin(rig):
    pins, model, _, i2c = rig
    ads = adafruit.ADS1115(i2c, data_rate=128, comparator_queue_length=1, comparator_high_threshold=-32768,
                           comparator_low_threshold=0)  # Hi_thresh MSB 1, Lo_thresh MSB 0
    assert model.conversion_ready_mode
    read_volts(ads, 1, None)
    (started, high), (done, low) = model.alert_rdy_history[-2:]
    assert (high, low) == (True, False)  # released while converting, low when done
    assert done - started == pytest.approx(25e-6 + 1 / 128)
    went = time.monotonic()
    ads.mode = Mode.CONTINUOUS
    time.sleep(0.05)
    assert model.alert_rdy  # between the 8-us pulses
    elapsed = time.monotonic() - went
    pulses = [t for t, level in model.alert_rdy_history if not level and t > done]
    assert abs(len(pulses) - elapsed * 128) <= 2
