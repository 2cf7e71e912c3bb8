"""An independent reader of the MPU-6050 model: Adafruit's CircuitPython driver (adafruit_mpu6050)
over busio.I2C's interface on the virtual bus (tests/busio_adapter.py). If it reads back what the
simulation sets, the model answers as the register map says and not only as our driver expects.

Adafruit's start-up, as its driver does it: WHO_AM_I, then DEVICE_RESET by a read-modify-write
of PWR_MGMT_1 polled until the bit clears, 100 ms, SIGNAL_PATH_RESET (written to bits 5:3,
which the register map reserves: the model ignores them), 100 ms, SMPLRT_DIV 0, DLPF_CFG 0
(8 kHz gyro output), +-500 dps, +-2 g, 100 ms, CLKSEL 1, 100 ms, SLEEP cleared, 10 ms; every
range or filter setter sleeps 10 ms more. Its sleeps run on the test's fake clock, so the
chip's sample timing is exact and the whole start costs no real time.
"""

import pytest

import adafruit_mpu6050
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.sim.mpu6050_model import MPU6050Model
from pi_service.units import STANDARD_GRAVITY
from tests.busio_adapter import BusioI2C

G = STANDARD_GRAVITY
LSB_PER_G = [16384, 8192, 4096, 2048]
FULL_SCALE_G = [2, 4, 8, 16]


@pytest.fixture
def sensor(clock, monkeypatch):
    state = {"a": (0.0, 0.0, G)}
    model = MPU6050Model(lambda t: state["a"], clock)
    bus = SimI2CBus(1, clock, clock.sleep)
    bus.attach(0x68, model)
    monkeypatch.setattr(adafruit_mpu6050, "sleep", clock.sleep)
    started = clock()
    mpu = adafruit_mpu6050.MPU6050(BusioI2C(bus))
    return mpu, model, state, clock() - started


def test_adafruit_start_up_resets_and_wakes_the_chip(sensor, clock):
    mpu, model, _, took_s = sensor
    assert model.registers[0x6B] == 0x01  # awake, CLKSEL 1
    assert took_s == pytest.approx(0.41, abs=0.01)  # its four 100 ms waits and one of 10 ms, plus the bus
    assert model.sample_rate_hz() == 8000  # SMPLRT_DIV 0 with DLPF_CFG 0
    clock.advance(0.01)
    assert mpu.acceleration == pytest.approx((0.0, 0.0, G), abs=G / 16384)
    assert mpu.temperature == pytest.approx(25.0, abs=0.01)
    assert mpu.gyro == (0.0, 0.0, 0.0)


def vectors(full_scale_g: float) -> list[tuple[float, float, float]]:
    """Accelerations up to 90 % of the range, each sign on each axis."""
    fs = full_scale_g * G
    return [(0.0, 0.0, G), (0.9 * fs, -0.5 * fs, 0.25 * fs), (-0.9 * fs, 0.33 * fs, -0.7 * fs),
            (0.123 * G, -0.456 * G, 0.789 * G)]


# (SMPLRT_DIV, DLPF_CFG): 8 kHz unfiltered, 1 kHz at 184 Hz, 200 Hz at 94 Hz, 12.5 Hz at 5 Hz
RATES = [(0, 0), (0, 1), (4, 2), (79, 6)]


@pytest.mark.parametrize("divisor, bandwidth", RATES)
@pytest.mark.parametrize("accel_range", [0, 1, 2, 3])
def test_adafruit_reads_back_what_the_simulation_sets(sensor, clock, accel_range, divisor, bandwidth):
    mpu, model, state, _ = sensor
    mpu.accelerometer_range = accel_range
    mpu.filter_bandwidth = bandwidth
    mpu.sample_rate_divisor = divisor
    period = 1 / model.sample_rate_hz()
    assert period == pytest.approx((1 + divisor) / (8000 if bandwidth == 0 else 1000))
    for vector in vectors(FULL_SCALE_G[accel_range]):
        state["a"] = vector
        clock.advance(2 * period)
        # Rounded to the nearest count: within half an LSB on every axis.
        assert mpu.acceleration == pytest.approx(vector, abs=0.5 * G / LSB_PER_G[accel_range] + 1e-9)


def test_adafruit_fifo_read_gives_the_samples_in_order(sensor, clock):
    mpu, model, state, _ = sensor
    mpu.sample_rate_divisor = 9  # 8 kHz / 10 = 800 Hz, from the accelerometer's own 1 kHz samples
    start = clock()
    model.acceleration = lambda t: ((t - start) * 10.0 * G, 0.0, G)  # x climbs 0.01 g a millisecond
    mpu.accel_fifo_en = True
    mpu.fifo_en = True
    clock.advance(0.01)
    count = mpu.fifo_count
    assert count % 6 == 0 and 6 * 7 <= count <= 6 * 9
    data = mpu.read_whole_fifo()  # one burst of `count` bytes from FIFO_R_W, past SMBus's 32
    x = [int.from_bytes(data[i:i + 2], "big", signed=True) / 16384 for i in range(0, len(data), 6)]
    z = [int.from_bytes(data[i + 4:i + 6], "big", signed=True) / 16384 for i in range(0, len(data), 6)]
    steps = [b - a for a, b in zip(x, x[1:])]
    # Every 1.25 ms sample takes the accelerometer's latest 1 kHz sample: 1 or 2 ms on.
    assert all(0.0099 <= step <= 0.0201 for step in steps)
    assert z == pytest.approx([1.0] * len(z), abs=1 / 16384)
    # Emptied: what is there now came during the burst itself (about 5 ms of wire at 100 kHz).
    assert mpu.fifo_count <= 6 * 5
