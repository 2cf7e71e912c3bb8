"""The ADXL345 model against Analog Devices' data sheet (Rev. G), through the virtual I2C bus
on a fake clock: Table 19's register map and reset values, the output data rate (Table 7),
INT_SOURCE, DATA_FORMAT (Table 21), the offsets, self-test (Table 1, Table 14), the FIFO
and its modes (Table 22), and what lies past the last register. Our driver is run against
it at the oscillator's extremes and three bus speeds.

Register numbers and bit positions are written out here from the data sheet, not imported
from the model, so that a wrong constant there cannot agree with itself.
"""

import pytest

from pi_service.drivers.adxl345 import ADXL345, output_rate_hz
from pi_service.drivers.i2c import I2CDevice
from pi_service.sim.adxl345_model import ADXL345Model
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.units import STANDARD_GRAVITY as G
from smbus2 import i2c_msg
from tests.conftest import FakeClock

ADDRESS = 0x53
# Table 19
DEVID, OFSX, OFSY, OFSZ, ACT_TAP_STATUS, BW_RATE, POWER_CTL = 0x00, 0x1E, 0x1F, 0x20, 0x2B, 0x2C, 0x2D
INT_SOURCE, DATA_FORMAT, DATAX0, FIFO_CTL, FIFO_STATUS = 0x30, 0x31, 0x32, 0x38, 0x39
MEASURE = 0x08
DATA_READY, WATERMARK, OVERRUN = 0x80, 0x02, 0x01
SELF_TEST, FULL_RES, JUSTIFY = 0x80, 0x08, 0x04
BYPASS, FIFO, STREAM, TRIGGER = 0x00, 0x40, 0x80, 0xC0
FIFO_TRIG = 0x80
LSB_G = 0.0039  # full resolution, Table 1
TURN_ON_S = 1.1e-3  # Table 1 note: turn-on time is about 1/ODR + 1.1 ms
RATE_HZ = {code: 3200 / 2 ** (15 - code) for code in range(16)}  # Table 7
TOLERANCE = 0.10  # the oscillator's error the tests allow for (the data sheet states none)


class Chip:
    """A model on a bus on a fake clock, and the few register helpers the tests need."""

    def __init__(self, acceleration=None, bus_hz=100_000, **model_options):
        self.clock = FakeClock()
        self.value = [0.0, 0.0, G]
        self.model = ADXL345Model(acceleration or (lambda t: tuple(self.value)), self.clock, **model_options)
        self.bus = SimI2CBus(1, self.clock, self.clock.sleep, bus_hz=bus_hz)
        self.bus.attach(ADDRESS, self.model)

    def read(self, register):
        return self.bus.read_byte_data(ADDRESS, register)

    def write(self, register, value):
        self.bus.write_byte_data(ADDRESS, register, value)

    def block(self, register, length):
        return self.bus.read_i2c_block_data(ADDRESS, register, length)

    def counts(self, data=None):
        data = bytes(self.block(DATAX0, 6) if data is None else data)
        return tuple(int.from_bytes(data[i:i + 2], "little", signed=True) for i in (0, 2, 4))

    def measure(self, bw_rate=0x0A, data_format=FULL_RES | 0b11, fifo_ctl=BYPASS):
        self.write(BW_RATE, bw_rate)
        self.write(DATA_FORMAT, data_format)
        self.write(FIFO_CTL, fifo_ctl)
        self.write(POWER_CTL, MEASURE)

    def wait_ready(self, timeout_s=1.0, step_s=1e-4):
        """Poll INT_SOURCE until DATA_READY, as a driver without the interrupt pin would."""
        deadline = self.clock() + timeout_s
        while not self.read(INT_SOURCE) & DATA_READY:
            if self.clock() > deadline:
                raise AssertionError("no DATA_READY")
            self.clock.advance(step_s)


def counts_for(g, lsb_g=LSB_G, bits=13):
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, round(g / lsb_g)))


# 3. Table 19: reset values and read-only registers

def test_power_on_values_are_table_19s():
    chip = Chip()
    registers = chip.block(0x00, 32) + chip.block(0x20, 26)
    expected = [0] * 0x3A
    expected[DEVID], expected[BW_RATE], expected[INT_SOURCE] = 0xE5, 0x0A, 0x02
    assert registers == expected


def test_read_only_registers_keep_their_values_when_written():
    chip = Chip()
    for register in (DEVID, ACT_TAP_STATUS, INT_SOURCE, *range(DATAX0, DATAX0 + 6), FIFO_STATUS):
        before = chip.read(register)
        chip.write(register, 0x5A)
        assert chip.read(register) == before, hex(register)


def test_reserved_registers_read_zero_and_ignore_writes():
    chip = Chip()
    chip.bus.write_i2c_block_data(ADDRESS, 0x01, [0xFF] * 28)
    assert chip.block(0x01, 28) == [0] * 28
    assert chip.read(DEVID) == 0xE5


def test_reset_is_power_on():
    chip = Chip()
    chip.measure(bw_rate=0x0F, fifo_ctl=STREAM | 5)
    chip.write(OFSX, 7)
    chip.wait_ready()
    chip.model.reset()  # what the bus's "vanish" fault does when the chip comes back
    assert chip.block(0x2C, 14) == [0x0A, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert chip.read(OFSX) == 0
    chip.clock.advance(1.0)
    assert chip.counts() == (0, 0, 0)  # standby after power-on: nothing measured


# 9. Past the last register (0x39)

def test_reads_past_the_register_map_answer_every_byte_with_zeros():
    chip = Chip()
    assert chip.block(FIFO_CTL, 8) == [0, 0, 0, 0, 0, 0, 0, 0]
    assert chip.block(0x40, 32) == [0] * 32
    chip.write(0x45, 0x77)  # acknowledged, ignored
    assert chip.read(0x45) == 0


def test_the_register_pointer_wraps_from_0xff_to_devid():
    chip = Chip()
    chip.write(0xFE, 0)  # sets the pointer (and writes nothing that exists)
    read = i2c_msg.read(ADDRESS, 3)
    chip.bus.i2c_rdwr(i2c_msg.write(ADDRESS, bytes([0xFE])), read)
    assert list(read) == [0, 0, 0xE5]


# 1, 4. The output data rate

def time_stamped(t0):
    """x counts = milliseconds since t0 (at 3.9 mg/LSB): each sample says when it was taken."""
    return lambda t: ((t - t0) * 1000 * LSB_G * G, 0.0, G)


@pytest.mark.parametrize("code", range(16))
@pytest.mark.parametrize("low_power", [0, 0x10])
def test_output_data_rate_is_table_7s_for_each_rate_code(code, low_power):
    chip = Chip()
    taken = []
    chip.model.acceleration = lambda t: taken.append(t) or (0.0, 0.0, G)
    period = 1 / RATE_HZ[code]
    chip.write(BW_RATE, code | low_power)  # LOW_POWER saves current, it keeps the rate (Table 8)
    chip.write(FIFO_CTL, STREAM)  # keeps every sample, so each one is seen
    t_measure = chip.clock()
    chip.write(POWER_CTL, MEASURE)
    chip.clock.t = t_measure + TURN_ON_S + 20.5 * period
    assert chip.read(FIFO_STATUS) == 20
    # Each sample is the acceleration at its own time, one period apart.
    assert taken == pytest.approx([t_measure + TURN_ON_S + k * period for k in range(1, 21)], abs=1e-9)


def test_bypass_data_changes_once_per_period_and_reads_alike_within_it():
    chip = Chip()
    chip.measure(bw_rate=0x0A)  # 100 Hz
    chip.model.acceleration = time_stamped(chip.clock())
    chip.wait_ready()
    first = chip.counts()
    assert not chip.read(INT_SOURCE) & DATA_READY  # "cleared by reading the data registers"
    assert chip.counts() == first  # the same period read again
    chip.wait_ready()
    second = chip.counts()
    assert second[0] - first[0] == pytest.approx(10, abs=1)  # 10 ms later


@pytest.mark.parametrize("rate_error", [-TOLERANCE, 0.0, TOLERANCE])
def test_the_oscillator_error_speeds_or_slows_the_rate(rate_error):
    chip = Chip(rate_error=rate_error)
    chip.write(FIFO_CTL, STREAM)
    t_measure = chip.clock()
    chip.write(POWER_CTL, MEASURE)  # at 100 Hz, the reset rate
    chip.clock.t = t_measure + TURN_ON_S + 0.2001  # 20 nominal periods
    assert chip.read(FIFO_STATUS) == int(20 * (1 + rate_error) + 1e-9)


def test_the_first_sample_comes_a_period_and_the_turn_on_time_after_measure():
    chip = Chip()
    chip.write(BW_RATE, 0x0A)
    t_measure = chip.clock()
    chip.write(POWER_CTL, MEASURE)
    chip.clock.t = t_measure + 0.0100
    assert not chip.model.int_source & DATA_READY
    chip.clock.t = t_measure + 0.0100 + TURN_ON_S + 1e-5
    assert chip.model.int_source & DATA_READY


def test_standby_stops_sampling_and_the_data_registers_keep_the_last_sample():
    chip = Chip()
    chip.measure()
    chip.value = [1.0, 2.0, 3.0]
    chip.wait_ready()
    last = chip.counts()
    chip.write(POWER_CTL, 0)
    chip.value = [-5.0, -5.0, -5.0]
    chip.clock.advance(1.0)
    assert not chip.read(INT_SOURCE) & DATA_READY
    assert chip.counts() == last
    chip.write(POWER_CTL, MEASURE)
    chip.wait_ready()
    assert chip.counts() == tuple(counts_for(v / G) for v in chip.value)


# 2. INT_SOURCE: DATA_READY, watermark, overrun

def test_overrun_in_bypass_is_new_data_over_unread_data_and_reading_clears_it():
    chip = Chip()
    chip.measure()
    chip.wait_ready()
    assert chip.read(INT_SOURCE) == DATA_READY | WATERMARK  # samples bits 0: watermark set
    chip.clock.advance(0.011)
    assert chip.read(INT_SOURCE) == DATA_READY | WATERMARK | OVERRUN
    chip.counts()
    assert chip.read(INT_SOURCE) == WATERMARK


def test_watermark_follows_the_entries_against_the_samples_bits():
    chip = Chip()
    chip.measure(bw_rate=0x0C, fifo_ctl=FIFO | 10)  # 400 Hz
    assert not chip.read(INT_SOURCE) & WATERMARK
    while chip.read(FIFO_STATUS) < 10:
        assert not chip.read(INT_SOURCE) & WATERMARK
        chip.clock.advance(0.0005)
    chip.write(POWER_CTL, 0)  # hold the FIFO still while it is read
    assert chip.read(INT_SOURCE) & WATERMARK
    while chip.read(FIFO_STATUS) >= 10:
        chip.counts()
    assert not chip.read(INT_SOURCE) & WATERMARK
    assert chip.read(INT_SOURCE) & DATA_READY  # entries remain


# 5. DATA_FORMAT (Register 0x31, Table 21)

@pytest.mark.parametrize("g_range", [0, 1, 2, 3])
@pytest.mark.parametrize("full_res", [0, FULL_RES])
@pytest.mark.parametrize("justify", [0, JUSTIFY])
def test_data_format_sets_scale_resolution_and_justification(g_range, full_res, justify):
    chip = Chip()
    span_g = 2 << g_range
    chip.value = [0.7 * span_g * G, -0.4 * span_g * G, 3 * span_g * G]  # z beyond the range: clipped
    chip.measure(data_format=full_res | justify | g_range)
    chip.wait_ready()
    bits = 10 + g_range if full_res else 10
    lsb_g = LSB_G if full_res else LSB_G * (1 << g_range)
    expected = [counts_for(v / G, lsb_g, bits) for v in chip.value]
    assert expected[2] == (1 << (bits - 1)) - 1
    words = chip.counts()
    if justify:
        assert words == tuple(c << (16 - bits) for c in expected)  # MSB at DATAx1 bit 7
    else:
        assert words == tuple(expected)  # right-justified, sign-extended


def test_upper_data_rates_zero_the_lsb_in_full_resolution():
    chip = Chip()
    chip.value = [3 * LSB_G * G, -3 * LSB_G * G, 0.0]
    chip.measure(bw_rate=0x0F)  # 3200 Hz
    chip.wait_ready()
    assert chip.counts()[:2] == (2, -4)


# 6. Offset registers

def test_offsets_add_15_6_mg_per_lsb_in_twos_complement():
    chip = Chip()
    chip.value = [0.0, 0.0, G]
    chip.write(OFSX, 10)
    chip.write(OFSY, 0xFB)  # -5
    chip.write(OFSZ, 0x80)  # -128
    chip.measure()
    chip.wait_ready()
    assert chip.counts() == (counts_for(0.156), counts_for(-0.078), counts_for(1 - 1.9968))


# 7. Self-test

# Table 1 (Vs = 2.5 V) limits of the self-test output change, and Table 14's scale at 3.3 V.
SELF_TEST_LIMITS_G = ((0.20, 2.10), (-2.10, -0.20), (0.30, 3.40))
SCALE_3V3 = (1.77, 1.77, 1.47)


def test_self_test_shifts_each_axis_by_the_data_sheet_change_at_the_supply():
    chip = Chip(supply_v=3.3)
    chip.value = [0.0, 0.0, G]
    chip.measure(data_format=FULL_RES | 0b11)
    chip.wait_ready()
    off = chip.counts()
    chip.write(DATA_FORMAT, SELF_TEST | FULL_RES | 0b11)
    chip.clock.advance(0.011)
    chip.wait_ready()
    on = chip.counts()
    for axis, ((low, high), scale) in enumerate(zip(SELF_TEST_LIMITS_G, SCALE_3V3)):
        change_g = (on[axis] - off[axis]) * LSB_G
        assert low * scale <= change_g <= high * scale
        assert change_g == pytest.approx((low + high) / 2 * scale, abs=LSB_G)  # the model's "typical": mid-range


# 8. FIFO

def fifo_chip(mode, samples=0, bw_rate=0x0C):
    """x counts = milliseconds since Measure was set."""
    chip = Chip()
    chip.write(BW_RATE, bw_rate)
    chip.write(DATA_FORMAT, FULL_RES | 0b11)  # 13 bits: 4 s of milliseconds
    chip.write(FIFO_CTL, mode | samples)
    chip.t0 = chip.clock()
    chip.model.acceleration = time_stamped(chip.t0)
    chip.write(POWER_CTL, MEASURE)
    return chip


def test_stream_mode_keeps_the_newest_33_and_overruns_when_full():
    chip = fifo_chip(STREAM)
    chip.clock.advance(0.2)  # 80 samples at 400 Hz
    assert chip.read(FIFO_STATUS) == 33  # 32 in the FIFO and one at the output
    assert chip.read(INT_SOURCE) & OVERRUN
    oldest = chip.counts()[0]
    assert not chip.read(INT_SOURCE) & OVERRUN  # "cleared when the contents of FIFO are read"
    assert oldest == pytest.approx(200 - 32 * 2.5, abs=3)  # the oldest kept is 32 periods before the newest


def test_fifo_mode_stops_collecting_when_full():
    chip = fifo_chip(FIFO)
    chip.clock.advance(0.2)
    assert chip.read(FIFO_STATUS) == 33
    assert chip.read(INT_SOURCE) & OVERRUN
    first = chip.counts()[0]
    assert first == pytest.approx(2.5 + 1.1, abs=0.6)  # the first sample after turn-on, not a newer one


def test_each_burst_pops_one_entry_oldest_first():
    chip = fifo_chip(STREAM)
    chip.clock.advance(0.02)
    chip.write(POWER_CTL, 0)
    entries = chip.read(FIFO_STATUS)
    assert entries == 7
    stamps = [chip.counts()[0] for _ in range(entries)]
    assert stamps == sorted(stamps) and len(set(stamps)) == entries
    assert chip.read(FIFO_STATUS) == 0
    assert not chip.read(INT_SOURCE) & DATA_READY
    assert chip.counts()[0] == stamps[-1]  # the data registers keep the last entry read


def test_a_single_byte_read_of_the_data_pops_the_whole_entry():
    chip = fifo_chip(STREAM)
    chip.clock.advance(0.01)
    chip.write(POWER_CTL, 0)
    entries = chip.read(FIFO_STATUS)
    chip.read(DATAX0)
    assert chip.read(FIFO_STATUS) == entries - 1


def test_a_burst_through_fifo_status_sees_the_pop_at_the_end_of_the_data():
    chip = fifo_chip(STREAM)
    chip.clock.advance(0.01)
    chip.write(POWER_CTL, 0)
    entries = chip.read(FIFO_STATUS)
    burst = chip.block(DATAX0, 8)  # DATAX0..DATAZ1, FIFO_CTL, FIFO_STATUS
    assert burst[6] == STREAM
    assert burst[7] == entries - 1  # popped on the 0x37 -> 0x38 transition


def test_trigger_mode_keeps_the_last_samples_at_the_trigger_then_fills():
    chip = fifo_chip(TRIGGER, samples=4)
    chip.clock.advance(0.2)
    assert chip.read(FIFO_STATUS) == 33  # before the trigger: as stream mode
    t_trigger_ms = (chip.clock() - chip.t0) * 1000
    chip.model.trigger_event()
    assert chip.read(FIFO_STATUS) == FIFO_TRIG | 4
    kept = [chip.counts()[0] for _ in range(4)]
    assert [b - a for a, b in zip(kept, kept[1:])] == pytest.approx([2.5] * 3, abs=1)
    assert t_trigger_ms - 3.5 <= kept[-1] <= t_trigger_ms  # the newest four at the trigger
    chip.clock.advance(0.2)
    assert chip.read(FIFO_STATUS) == FIFO_TRIG | 33  # then as FIFO mode: full, and stopped
    chip.write(FIFO_CTL, BYPASS)  # re-arms the trigger and empties the FIFO
    assert chip.read(FIFO_STATUS) == 0


def test_streaming_400_hz_at_a_100_hz_tick_sees_every_sample_once_in_order():
    chip = fifo_chip(STREAM)
    seen = []
    for tick in range(1, 101):
        chip.clock.t = max(chip.clock.t, chip.t0 + tick * 0.01)  # the reads took part of the last tick
        for _ in range(chip.read(FIFO_STATUS) & 0x3F):
            seen.append(chip.counts()[0])  # one 6-byte read per entry
        assert not chip.read(INT_SOURCE) & OVERRUN
    assert len(seen) == pytest.approx(400, abs=2)
    steps = {round(b - a, 1) for a, b in zip(seen, seen[1:])}
    assert steps <= {2.0, 3.0}  # 2.5 ms apart, in whole milliseconds


# Our driver against the strict model

@pytest.mark.parametrize("loop_hz", [100, 200])
@pytest.mark.parametrize("bus_hz", [50_000, 100_000, 400_000])
@pytest.mark.parametrize("rate_error", [-TOLERANCE, TOLERANCE])
def test_our_driver_sees_a_new_sample_every_tick(loop_hz, bus_hz, rate_error):
    chip = Chip(bus_hz=bus_hz, rate_error=rate_error)
    t0 = chip.clock()
    chip.model.acceleration = lambda t: (0.5 * G, ((t - t0) % 1.0) * G, G)
    driver = ADXL345(I2CDevice(chip.bus, ADDRESS, "ADXL345"))
    driver.start(output_rate_hz(loop_hz))
    previous = None
    for _ in range(2 * loop_hz):
        chip.clock.advance(1 / loop_hz)
        assert chip.model.int_source & DATA_READY
        x, y, z = driver.read_acceleration()
        sample_t = chip.model.sample_t
        assert previous is None or sample_t > previous
        previous = sample_t
        assert (x, y, z) == pytest.approx(chip.model.acceleration(sample_t), abs=LSB_G * G)
