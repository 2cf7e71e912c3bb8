"""The MPU-6050 driver against the register-level model on the virtual I2C bus, on a fake clock."""

import itertools
import math
import time

import pytest

from pi_service.drivers.adxl345 import grade_pct, output_rate_hz, pitch_deg
from pi_service.drivers.i2c import I2CDevice
from pi_service.drivers.i2c_timing import register_read_s
from pi_service.drivers.mpu6050 import (AFS_SEL_2G, AFS_SEL_8G, AFS_SEL_16G, LSB_PER_G, MPU6050, REG_ACCEL_CONFIG,
                                        REG_ACCEL_XOUT_H, REG_CONFIG, REG_FIFO_COUNTH, REG_FIFO_COUNTL, REG_FIFO_EN,
                                        REG_FIFO_R_W, REG_INT_ENABLE, REG_INT_STATUS, REG_PWR_MGMT_1, REG_SMPLRT_DIV,
                                        REG_USER_CTRL, REG_WHO_AM_I, sample_rate_for)
from pi_service.errors import BusFault, WiringError
from pi_service.sim.adxl345_model import gravity_on_deck
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.sim.mpu6050_model import FIFO_SIZE, MPU6050Model, factory_trim_lsb
from pi_service.units import STANDARD_GRAVITY
from tests.conftest import make_config
from tests.test_sensors import hub, tick

G = STANDARD_GRAVITY


def make_chip(clock, acceleration=lambda t: (0.0, 0.0, G), who_am_i=0x68, afs_sel=AFS_SEL_16G, address=0x68):
    model = MPU6050Model(acceleration, clock, who_am_i=who_am_i)
    bus = SimI2CBus(1, clock, clock.sleep)
    bus.attach(address, model)
    return MPU6050(I2CDevice(bus, address, "MPU-6050"), afs_sel), model, bus


def grade_to_pitch(grade: float) -> float:
    return math.degrees(math.atan(grade / 100))


# identity and power


def test_wrong_who_am_i_is_a_wiring_error_naming_chip_address_answer_and_ad0(clock):
    chip, _, _ = make_chip(clock, who_am_i=0x00, address=0x69)
    with pytest.raises(WiringError, match=r"MPU-6050 at 0x69 answered WHO_AM_I 0x00, not the MPU-6050's 0x68: "
                                          r"check that SDA/SCL .* AD0 pin .* \(low 0x68, high 0x69\)"):
        chip.start()


@pytest.mark.parametrize("who_am_i, part", [(0x70, "MPU-6500"), (0x71, "MPU-9250"), (0x72, "MPU-6500-family clone"),
                                            (0x98, "MPU-6500-family clone")])
def test_a_look_alike_chip_is_named_as_such(clock, who_am_i, part):
    chip, _, _ = make_chip(clock, who_am_i=who_am_i)
    with pytest.raises(WiringError, match=rf"answered WHO_AM_I 0x{who_am_i:02x}: it is an {part}.*, not an MPU-6050"):
        chip.start()


def test_who_am_i_is_0x68_at_either_address(clock):
    for address in (0x68, 0x69):
        chip, _, _ = make_chip(clock, address=address)
        assert chip.device.read_u8(REG_WHO_AM_I) == 0x68


def test_it_powers_up_asleep_and_samples_nothing_until_woken(clock):
    chip, model, _ = make_chip(clock)
    assert chip.device.read_u8(REG_PWR_MGMT_1) == 0x40  # SLEEP
    clock.advance(1.0)
    assert chip.read_acceleration() == (0.0, 0.0, 0.0)
    assert model.samples == 0 and not chip.data_ready()


def test_start_wakes_it_on_the_gyro_x_pll_at_16_g_and_reads_gravity(clock):
    chip, model, _ = make_chip(clock)
    chip.start(200)
    assert model.registers[REG_PWR_MGMT_1] == 0x01  # SLEEP clear, CLKSEL 1: PLL with the X gyro
    assert model.registers[REG_ACCEL_CONFIG] == 0b11 << 3  # AFS_SEL 3, self-test off
    assert (model.registers[REG_SMPLRT_DIV], model.registers[REG_CONFIG]) == (4, 2)  # 1 kHz / 5, 94 Hz filter
    clock.advance(0.01)
    assert chip.read_acceleration() == pytest.approx((0.0, 0.0, G), abs=1 / 2048 * G)


def test_device_reset_restores_power_on_values_and_clears_itself(clock):
    chip, model, _ = make_chip(clock)
    chip.start(200)
    chip.device.write_u8(REG_PWR_MGMT_1, 0x80)  # DEVICE_RESET
    assert chip.device.read_u8(REG_PWR_MGMT_1) == 0x40
    assert chip.device.read_u8(REG_ACCEL_CONFIG) == 0 and chip.device.read_u8(REG_SMPLRT_DIV) == 0


def test_read_only_registers_ignore_writes_and_absent_ones_read_zero(clock):
    chip, _, _ = make_chip(clock)
    chip.device.write_u8(REG_WHO_AM_I, 0x12)
    chip.device.write_u8(REG_ACCEL_XOUT_H, 0x7F)
    chip.device.write_u8(0x1F, 0x55)  # MOT_THR of older maps: not in Rev 4.2
    assert chip.device.read_u8(REG_WHO_AM_I) == 0x68
    assert chip.device.read_u8(REG_ACCEL_XOUT_H) == 0
    assert chip.device.read_u8(0x1F) == 0


# scale and sign


@pytest.mark.parametrize("afs_sel", [0, 1, 2, 3])
@pytest.mark.parametrize("grade", [0.0, 5.0, 15.0, -3.0])
def test_every_range_reads_the_tilt_as_percent_grade(clock, afs_sel, grade):
    chip, _, _ = make_chip(clock, lambda t: gravity_on_deck(grade_to_pitch(grade)), afs_sel=afs_sel)
    chip.start(100)
    clock.advance(0.02)
    acceleration = chip.read_acceleration()
    assert acceleration == pytest.approx(gravity_on_deck(grade_to_pitch(grade)), abs=G / LSB_PER_G[afs_sel])
    assert grade_pct(pitch_deg(acceleration)) == pytest.approx(grade, abs=0.05)


def test_data_is_big_endian_twos_complement_per_axis(clock):
    chip, _, _ = make_chip(clock, lambda t: (-G, 0.5 * G, -0.25 * G), afs_sel=AFS_SEL_16G)
    chip.start(200)
    clock.advance(0.01)
    raw = chip.device.read(REG_ACCEL_XOUT_H, 6)
    assert raw == bytes([0xF8, 0x00, 0x04, 0x00, 0xFE, 0x00])  # -2048, +1024, -512 counts at 2048 LSB/g
    assert chip.read_acceleration() == pytest.approx((-G, 0.5 * G, -0.25 * G))


def test_beyond_the_range_it_saturates(clock):
    chip, _, _ = make_chip(clock, lambda t: (3 * G, -3 * G, G), afs_sel=AFS_SEL_2G)
    chip.start(200)
    clock.advance(0.01)
    x, y, _ = chip.read_acceleration()
    assert x == pytest.approx(32767 / 16384 * G) and y == pytest.approx(-2 * G)


def test_self_test_adds_the_factory_trim_response(clock):
    chip, model, _ = make_chip(clock, afs_sel=AFS_SEL_8G)
    chip.start(200)
    clock.advance(0.01)
    before = chip.read_acceleration()
    chip.device.write_u8(REG_ACCEL_CONFIG, 0b111 << 5 | AFS_SEL_8G << 3)  # XA_ST, YA_ST, ZA_ST at +-8 g
    clock.advance(0.01)
    after = chip.read_acceleration()
    response = [(a - b) / G * 4096 for a, b in zip(after, before)]
    assert response == pytest.approx([factory_trim_lsb(16)] * 3, abs=1)  # change from factory trim: 0 %


# sample rate and data ready


@pytest.mark.parametrize("loop_hz", [10, 50, 100, 150, 200])
def test_output_rate_is_at_least_twice_the_loop_rate_with_its_filter_below_nyquist(loop_hz):
    rate = sample_rate_for(output_rate_hz(loop_hz))
    assert rate.hz >= 2 * loop_hz
    assert {1: 184, 2: 94, 3: 44, 4: 21, 5: 10, 6: 5}[rate.dlpf_cfg] <= rate.hz / 2


def test_samples_come_at_the_sample_rate_and_data_ready_clears_when_read(clock):
    state = {"z": G}
    chip, model, _ = make_chip(clock, lambda t: (0.0, 0.0, state["z"]))
    chip.start(200)  # 5 ms a sample
    clock.advance(0.006)
    assert chip.data_ready() and not chip.data_ready()  # cleared by reading INT_STATUS
    state["z"] = 0.5 * G
    assert chip.read_acceleration()[2] == pytest.approx(G)  # no new sample yet: the latched one
    clock.advance(0.005)
    assert chip.data_ready() and chip.read_acceleration()[2] == pytest.approx(0.5 * G)
    start = model.samples
    clock.advance(1.0)
    chip.read_acceleration()
    assert model.samples - start == pytest.approx(200, abs=1)


@pytest.mark.parametrize("loop_hz", [100, 200])
@pytest.mark.parametrize("bus_hz", [50_000, 100_000, 400_000])
@pytest.mark.parametrize("clock_error", [-0.10, 0.10])
def test_our_driver_reads_a_new_sample_every_tick_at_the_clocks_extremes_and_any_bus_speed(clock, loop_hz, bus_hz,
                                                                                          clock_error):
    origin = clock()  # x is the time since then at 1 g per second: a sample says when it was taken
    model = MPU6050Model(lambda t: (G * (t - origin), 0.0, G), clock, clock_error=clock_error)
    bus = SimI2CBus(1, clock, clock.sleep, bus_hz=bus_hz)
    bus.attach(0x68, model)
    chip = MPU6050(I2CDevice(bus, 0x68, "MPU-6050"))
    chip.start(output_rate_hz(loop_hz))
    period = 1 / loop_hz
    clock.advance(0.05)
    previous, t0 = None, clock()
    for n in range(1, 2 * loop_hz + 1):  # two seconds of ticks on the loop's grid
        while clock() < t0 + n * period:
            clock.advance(min(period, t0 + n * period - clock()))
        x = chip.read_acceleration()[0]
        sampled_at = origin + x / G  # to the 0.5 ms of one count at +-16 g
        # No older than one sample period (plus the accelerometer's own 1 kHz step) when the read
        # began, plus the read's own wire time and half a count.
        age = 1 / model.sample_rate_hz() + 1e-3 + register_read_s(6, bus_hz) + 0.25e-3
        assert clock() - sampled_at <= age, "a stale sample"
        assert previous is None or x > previous, "the same sample twice"
        previous = x


def test_data_ready_is_raised_only_when_enabled(clock):
    chip, _, _ = make_chip(clock)
    chip.start(200)
    chip.device.write_u8(REG_INT_ENABLE, 0)
    clock.advance(0.02)
    assert not chip.data_ready()


def test_above_1_khz_the_accelerometer_repeats_its_samples(clock):
    chip, model, _ = make_chip(clock, lambda t: (0.0, 0.0, (t - 1000.0) * 100.0))
    chip.start(1000)
    chip.device.write_u8(REG_CONFIG, 0)  # DLPF off: the gyro at 8 kHz, SMPLRT_DIV 0: 8 kHz samples
    assert model.sample_rate_hz() == 8000
    chip.start_fifo()  # (start_fifo leaves CONFIG as it is)
    clock.advance(0.004)
    z = [sample[2] for sample in chip.read_fifo().samples]
    assert len(z) >= 24
    runs = [len(list(group)) for _, group in itertools.groupby(z)]
    assert max(runs) == 8 and all(run <= 8 for run in runs)


# FIFO


def test_fifo_holds_every_sample_in_order(clock):
    chip, _, _ = make_chip(clock, lambda t: (0.0, (t - 1000.0) * 10.0, G))
    chip.start(200)
    chip.start_fifo()
    clock.advance(0.1)
    assert chip.fifo_count() == pytest.approx(20 * 6, abs=6)
    read = chip.read_fifo()
    ramp = [sample[1] for sample in read.samples]
    assert not read.overflowed and len(ramp) >= 20
    assert ramp == sorted(ramp) and ramp[1] - ramp[0] == pytest.approx(10.0 / 200, abs=0.01)


def test_fifo_count_is_loaded_by_reading_the_high_byte(clock):
    chip, model, _ = make_chip(clock)
    chip.start(200)
    chip.start_fifo()
    clock.advance(0.1)
    assert chip.device.read_u8(REG_FIFO_COUNTL) == 0  # not loaded yet
    high = chip.device.read_u8(REG_FIFO_COUNTH)
    count = high << 8 | chip.device.read_u8(REG_FIFO_COUNTL)
    assert count == len(model.fifo) or count + 6 == len(model.fifo)  # (a sample may land between the reads)


def test_fifo_reset_needs_fifo_en_clear_and_an_empty_fifo_repeats_its_last_byte(clock):
    chip, model, _ = make_chip(clock)
    chip.start(200)
    chip.start_fifo()
    clock.advance(0.05)
    chip.device.write_u8(REG_USER_CTRL, 0b0100_0100)  # FIFO_RESET with FIFO_EN still 1: no effect
    assert len(model.fifo) > 0
    chip.device.write_u8(REG_USER_CTRL, 0b0000_0100)  # FIFO_RESET alone: emptied, and the bit clears itself
    assert len(model.fifo) == 0 and chip.device.read_u8(REG_USER_CTRL) == 0
    chip.device.write_u8(REG_FIFO_R_W, 0xAB)  # the host may write the FIFO too
    assert chip.device.read(REG_FIFO_R_W, 3) == bytes([0xAB, 0xAB, 0xAB])


def test_fifo_overflow_overwrites_the_oldest_data_and_the_driver_restarts_it(clock):
    chip, model, _ = make_chip(clock, lambda t: (0.0, 0.0, (t - 1000.0)))
    chip.start(1000)
    chip.start_fifo()
    clock.advance(1.0)  # 6000 bytes into 1024
    chip.device.write_u8(REG_USER_CTRL, 0)  # stop it to look inside
    assert len(model.fifo) == FIFO_SIZE
    assert model.registers[REG_INT_STATUS] & 0x10  # FIFO_OFLOW_INT
    latest = bytes(list(model.fifo)[-6:])
    assert latest == chip.device.read(REG_ACCEL_XOUT_H, 6)  # the newest sample is kept ...
    assert FIFO_SIZE % 6 == 4  # ... and the oldest frame is cut: frames no longer start at byte 0
    chip.device.write_u8(REG_USER_CTRL, 0x40)
    read = chip.read_fifo()
    assert read.overflowed and read.samples == []
    clock.advance(0.01)
    after = chip.read_fifo()
    assert not after.overflowed and len(after.samples) >= 10
    assert [z for _, _, z in after.samples] == sorted(z for _, _, z in after.samples)
    assert model.registers[REG_FIFO_EN] == 0x08  # ACCEL_FIFO_EN only


# faults


def test_a_vanished_chip_is_a_bus_fault_and_comes_back_asleep_from_power_on(clock):
    chip, model, bus = make_chip(clock)
    chip.start(200)
    clock.advance(0.01)
    bus.inject(0x68, "vanish", count=2)  # both tries of one read fail
    with pytest.raises(BusFault, match="MPU-6050 at 0x68"):
        chip.read_acceleration()
    clock.advance(0.01)
    assert chip.read_acceleration() == (0.0, 0.0, 0.0)  # back from power-on: asleep, data registers 0
    assert model.registers[REG_PWR_MGMT_1] == 0x40
    chip.start(200)
    clock.advance(0.01)
    assert chip.read_acceleration()[2] == pytest.approx(G, abs=0.01)


MPU = "[incline]\nchip = \"mpu6050\"\nsmoothing_s = 0\n"


def test_the_sensor_hub_reads_the_incline_from_an_mpu6050(clock):
    sensors, treadmill = hub(clock, make_config(MPU))
    assert isinstance(treadmill.accelerometer, MPU6050Model)
    assert treadmill.buses[1].devices[0x68] is treadmill.accelerometer
    assert tick(sensors, clock, 4).incline_pct == pytest.approx(8, abs=0.05)
    assert sensors.device_errors() == {"ADS1115": 0, "MPU-6050": 0}


def test_the_hub_reinitialises_a_vanished_mpu6050_and_names_it_in_the_fault(clock):
    sensors, treadmill = hub(clock, make_config(MPU))
    tick(sensors, clock, 2)
    treadmill.buses[1].inject(0x68, "vanish", duration_s=0.2)
    assert tick(sensors, clock).incline_pct is None
    assert [(fault.channel, fault.device) for fault in sensors.faults()] == [("incline", "MPU-6050")]
    assert tick(sensors, clock, 150).incline_pct == pytest.approx(8, abs=0.05)
    assert sensors.faults() == []


@pytest.mark.parametrize("footstrikes, reason", [
    ("false", "not about 1 g"),  # one reading per tick: the data registers read 0 g
    ("true", "FIFO empty for 0.5 s"),  # the FIFO: asleep, the chip adds nothing to it
])
def test_the_hub_sets_up_a_reset_mpu6050_again(clock, footstrikes, reason):
    sensors, treadmill = hub(clock, make_config(MPU + f"[footstrikes]\nenabled = {footstrikes}\n"))
    tick(sensors, clock, 2)
    treadmill.accelerometer.reset()  # a brown-out: asleep, data registers 0
    for _ in range(100):
        if tick(sensors, clock).incline_pct is None:
            break
    else:
        pytest.fail("no fault while the chip reads no gravity")
    assert reason in sensors.faults()[0].reason
    assert tick(sensors, clock, 150).incline_pct == pytest.approx(8, abs=0.05)


# the demo


DEMO_SCENARIO = """
name = "mpu6050 check"
[[step]]
duration_s = 600
speed_kmh = 4
incline_pct = 6
note = "a steady walk up a 6 % grade"
"""


def test_the_daemon_on_the_virtual_treadmill_reads_its_incline_from_an_mpu6050(tmp_path):
    from tests.test_daemon import get, start, stop

    (tmp_path / "walk.toml").write_text(DEMO_SCENARIO)
    config = tmp_path / "mpu6050.toml"
    config.write_text(f'[incline]\nchip = "mpu6050"\n[sim]\nscenario = "{tmp_path / "walk.toml"}"\n')
    process, port, _ = start("--config", str(config))
    try:
        inclines = []
        for _ in range(20):
            status, body = get(port, "/api/status")
            assert status == 200
            if body["incline_pct"] is not None:
                inclines.append(body["incline_pct"])
            time.sleep(0.05)
        assert inclines and inclines[-1] == pytest.approx(6.0, abs=0.3)
        assert body["faults"] == []
        assert body["loop"]["device_errors"] == {"ADS1115": 0, "MPU-6050": 0}
    finally:
        assert stop(process)[0] == 0
