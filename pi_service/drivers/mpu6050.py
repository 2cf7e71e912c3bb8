"""MPU-6050 6-axis motion sensor (InvenSense), register-level over I2C, used as the deck accelerometer.

The other chip `[incline] chip` may name (see `drivers/accelerometer.py`); only its
accelerometer is used, the gyro runs because the recommended clock source is its PLL.
Register and bit names follow the Register Map RM-MPU-6000A-00 Rev 4.2 (section numbers
below); timing and scale factors the Product Specification PS-MPU-6000A-00 Rev 3.4.
"""

from __future__ import annotations

from dataclasses import dataclass

from pi_service.drivers.fifo import FifoRead, FifoStream
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import WiringError
from pi_service.units import STANDARD_GRAVITY

# Register map (RM section 3)
REG_SELF_TEST_X = 0x0D  # [7:5] XA_TEST[4:2] (factory trim)
REG_SELF_TEST_Y = 0x0E  # [7:5] YA_TEST[4:2]
REG_SELF_TEST_Z = 0x0F  # [7:5] ZA_TEST[4:2]
REG_SELF_TEST_A = 0x10  # [5:4] XA_TEST[1:0], [3:2] YA_TEST[1:0], [1:0] ZA_TEST[1:0]
REG_SMPLRT_DIV = 0x19  # Sample Rate = Gyroscope Output Rate / (1 + SMPLRT_DIV)
REG_CONFIG = 0x1A  # [5:3] EXT_SYNC_SET, [2:0] DLPF_CFG
REG_GYRO_CONFIG = 0x1B  # [4:3] FS_SEL
REG_ACCEL_CONFIG = 0x1C  # [7:5] XA_ST YA_ST ZA_ST, [4:3] AFS_SEL
REG_FIFO_EN = 0x23  # which sensor data registers are written to the FIFO
REG_INT_PIN_CFG = 0x37  # bit 4 INT_RD_CLEAR
REG_INT_ENABLE = 0x38
REG_INT_STATUS = 0x3A  # read-only, cleared by reading it
REG_ACCEL_XOUT_H = 0x3B  # ACCEL_XOUT_H .. ACCEL_ZOUT_L: six bytes, big-endian, two's complement
REG_TEMP_OUT_H = 0x41
REG_GYRO_XOUT_H = 0x43
REG_SIGNAL_PATH_RESET = 0x68  # [2:0] GYRO_RESET ACCEL_RESET TEMP_RESET
REG_USER_CTRL = 0x6A
REG_PWR_MGMT_1 = 0x6B  # reset value 0x40: asleep
REG_PWR_MGMT_2 = 0x6C  # [7:6] LP_WAKE_CTRL, [5:0] STBY_XA .. STBY_ZG
REG_FIFO_COUNTH = 0x72  # reading it loads both count registers (RM 4.30)
REG_FIFO_COUNTL = 0x73
REG_FIFO_R_W = 0x74
REG_WHO_AM_I = 0x75  # [6:1] of the I2C address, whatever AD0 says: 0x68

WHO_AM_I = 0x68
# WHO_AM_I answers of chips sold on "MPU-6050" breakouts that are not one: the MPU-6500
# family has another sample-rate and filter register layout, so it is refused, not guessed at.
LOOKALIKES = {0x70: "an MPU-6500", 0x71: "an MPU-9250", 0x72: "an MPU-6500-family clone",
              0x73: "an MPU-9255", 0x98: "an MPU-6500-family clone (ICM-20689 ID)"}

# CONFIG (RM 4.3)
DLPF_CFG_MASK = 0b111
# DLPF_CFG -> accelerometer bandwidth in Hz (RM 4.3 table). 0 and 7 leave the gyro at 8 kHz.
ACCEL_BANDWIDTH_HZ = {0: 260, 1: 184, 2: 94, 3: 44, 4: 21, 5: 10, 6: 5}
GYRO_OUTPUT_HZ_DLPF_OFF = 8000  # DLPF_CFG = 0 or 7
GYRO_OUTPUT_HZ_DLPF_ON = 1000  # DLPF_CFG = 1..6
ACCEL_OUTPUT_HZ = 1000  # the accelerometer's own rate: above it a sample repeats (RM 4.2)

# ACCEL_CONFIG (RM 4.5): AFS_SEL -> LSB per g
ACCEL_CONFIG_XA_ST, ACCEL_CONFIG_YA_ST, ACCEL_CONFIG_ZA_ST = 1 << 7, 1 << 6, 1 << 5
AFS_SEL_SHIFT = 3
AFS_SEL_2G, AFS_SEL_4G, AFS_SEL_8G, AFS_SEL_16G = 0, 1, 2, 3
LSB_PER_G = {AFS_SEL_2G: 16384, AFS_SEL_4G: 8192, AFS_SEL_8G: 4096, AFS_SEL_16G: 2048}
# +-16 g, as on the ADXL345: footstrikes shake the deck well beyond 2 g, and at 2048 LSB/g
# (0.49 mg) the step is still far below the chip's own noise (400 ug/sqrt(Hz), PS 6.2).
AFS_SEL_DECK = AFS_SEL_16G

# FIFO_EN (RM 4.6)
FIFO_EN_TEMP, FIFO_EN_XG, FIFO_EN_YG, FIFO_EN_ZG, FIFO_EN_ACCEL = 1 << 7, 1 << 6, 1 << 5, 1 << 4, 1 << 3
# INT_PIN_CFG (RM 4.15), INT_ENABLE (RM 4.16), INT_STATUS (RM 4.17)
INT_PIN_CFG_INT_RD_CLEAR = 1 << 4
INT_FIFO_OFLOW = 1 << 4  # FIFO_OFLOW_EN / FIFO_OFLOW_INT
INT_I2C_MST = 1 << 3
INT_DATA_RDY = 1 << 0  # DATA_RDY_EN / DATA_RDY_INT
# USER_CTRL (RM 4.27)
USER_CTRL_FIFO_EN = 1 << 6
USER_CTRL_FIFO_RESET = 1 << 2  # works only while FIFO_EN is 0; clears itself
USER_CTRL_SIG_COND_RESET = 1 << 0
# PWR_MGMT_1 (RM 4.28)
PWR_MGMT_1_DEVICE_RESET = 1 << 7
PWR_MGMT_1_SLEEP = 1 << 6
PWR_MGMT_1_CYCLE = 1 << 5
PWR_MGMT_1_TEMP_DIS = 1 << 3
CLKSEL_MASK = 0b111
CLKSEL_INTERNAL_8MHZ = 0
CLKSEL_PLL_XGYRO = 1  # "highly recommended" over the internal oscillator for stability (RM 4.28)
CLKSEL_STOP = 7
LP_WAKE_CTRL_HZ = (1.25, 5.0, 20.0, 40.0)  # PWR_MGMT_2 [7:6], in CYCLE mode (RM 4.29)

FIFO_SIZE = 1024  # bytes (PS 7.17)
ACCEL_FRAME = 6  # ACCEL_XOUT_H .. ACCEL_ZOUT_L, the only data this driver puts in the FIFO
SMBUS_CHUNK = 30  # whole frames in one read, within the kernel's 32-byte SMBus block
FIFO_FRAMES_MAX = FIFO_SIZE // ACCEL_FRAME  # 170 whole samples; the 171st overflows it
# The chip has no watermark; a drain that finds 3/4 of the FIFO filled (128 samples, 0.26 s at
# 500 Hz) came far later than its period, with a quarter left before samples are lost: the
# same share as the ADXL345's watermark (drivers/adxl345.py).
FIFO_WATERMARK_BYTES = FIFO_SIZE * 3 // 4


def counts_to_mps2(counts: int, afs_sel: int = AFS_SEL_DECK) -> float:
    return counts / LSB_PER_G[afs_sel] * STANDARD_GRAVITY


def decode_acceleration(data: bytes, afs_sel: int = AFS_SEL_DECK) -> tuple[float, float, float]:
    """(x, y, z) m/s^2 from the six data bytes: each axis high byte first, two's complement."""
    return tuple(counts_to_mps2(int.from_bytes(data[i:i + 2], "big", signed=True), afs_sel)
                 for i in (0, 2, 4))  # type: ignore[return-value]


def gyro_output_hz(dlpf_cfg: int) -> int:
    return GYRO_OUTPUT_HZ_DLPF_OFF if dlpf_cfg in (0, 7) else GYRO_OUTPUT_HZ_DLPF_ON


@dataclass(frozen=True)
class SampleRate:
    smplrt_div: int
    dlpf_cfg: int

    @property
    def hz(self) -> float:
        return gyro_output_hz(self.dlpf_cfg) / (1 + self.smplrt_div)


def sample_rate_for(rate_hz: float) -> SampleRate:
    """The lowest Sample Rate at or above `rate_hz` (at most 1 kHz, the accelerometer's own
    rate), and the widest accelerometer filter below half of it, so nothing aliases.

    The filter on (DLPF_CFG 1..6) puts the gyro output at 1 kHz, the base SMPLRT_DIV divides.
    """
    divider = max(0, min(255, int(GYRO_OUTPUT_HZ_DLPF_ON // max(rate_hz, 1e-9)) - 1))
    rate = GYRO_OUTPUT_HZ_DLPF_ON / (1 + divider)
    dlpf_cfg = next((cfg for cfg in range(1, 7) if ACCEL_BANDWIDTH_HZ[cfg] <= rate / 2), 6)
    return SampleRate(divider, dlpf_cfg)


class MPU6050:
    def __init__(self, device: I2CDevice, afs_sel: int = AFS_SEL_DECK):
        self.device = device
        self.afs_sel = afs_sel
        self.sample_rate: SampleRate | None = None

    @staticmethod
    def fifo_stream(rate_hz: float) -> FifoStream:
        """The FIFO stream `start(rate_hz)` and `start_fifo()` give: the Sample Rate `start` picks."""
        return FifoStream(sample_rate_for(rate_hz).hz, FIFO_FRAMES_MAX)

    @staticmethod
    def fifo_reads(entries: int) -> tuple[int, ...]:
        """The register reads (bytes each) of a drain of `entries` samples: INT_STATUS,
        FIFO_COUNTH/L, then the frames in SMBus-sized chunks of FIFO_R_W."""
        remaining = entries * ACCEL_FRAME
        chunks = []
        while remaining:
            chunks.append(min(remaining, SMBUS_CHUNK))
            remaining -= chunks[-1]
        return (1, 2, *chunks)

    def start(self, rate_hz: float = 200) -> None:
        """Check WHO_AM_I, configure range, Sample Rate and filter while asleep, then wake on the gyro's PLL.

        Every register the driver relies on is written, so a start after a fault (the chip
        reset, or it never lost power) ends in the same state without a DEVICE_RESET and its wait.
        """
        who_am_i = self.device.read_u8(REG_WHO_AM_I)
        if who_am_i != WHO_AM_I:
            raise WiringError(self._wrong_chip(who_am_i))
        rate = sample_rate_for(rate_hz)
        write = self.device.write_u8
        write(REG_PWR_MGMT_1, PWR_MGMT_1_SLEEP | CLKSEL_PLL_XGYRO)
        write(REG_PWR_MGMT_2, 0)  # no axis in standby
        write(REG_USER_CTRL, 0)  # FIFO off until start_fifo()
        write(REG_FIFO_EN, 0)
        write(REG_CONFIG, rate.dlpf_cfg)
        write(REG_SMPLRT_DIV, rate.smplrt_div)
        write(REG_ACCEL_CONFIG, self.afs_sel << AFS_SEL_SHIFT)
        write(REG_INT_PIN_CFG, 0)  # status bits clear only when INT_STATUS is read
        write(REG_INT_ENABLE, INT_FIFO_OFLOW | INT_DATA_RDY)
        write(REG_PWR_MGMT_1, CLKSEL_PLL_XGYRO)  # SLEEP cleared: samples from one period on
        self.sample_rate = rate

    def _wrong_chip(self, who_am_i: int) -> str:
        where = f"{self.device.name} at 0x{self.device.address:02x}"
        if who_am_i in LOOKALIKES:
            return (f"{where} answered WHO_AM_I 0x{who_am_i:02x}: it is {LOOKALIKES[who_am_i]}, not an MPU-6050 "
                    f"(0x{WHO_AM_I:02X}); its registers differ, so fit a genuine MPU-6050 or an ADXL345 "
                    f"(incline.chip = \"adxl345\")")
        return (f"{where} answered WHO_AM_I 0x{who_am_i:02x}, not the MPU-6050's 0x{WHO_AM_I:02X}: check that "
                f"SDA/SCL are not swapped, VCC is 3.3 V, the AD0 pin matches the configured address (low 0x68, "
                f"high 0x69), and that no other chip (a DS3231/DS1307 clock) sits at that address")

    def read_acceleration(self) -> tuple[float, float, float]:
        """(x, y, z) in m/s^2, from one six-byte burst: the chip latches all axes of one sample for it."""
        return decode_acceleration(self.device.read(REG_ACCEL_XOUT_H, 6), self.afs_sel)

    def data_ready(self) -> bool:
        """Whether a sample came since the last look (reading INT_STATUS clears it)."""
        return bool(self.device.read_u8(REG_INT_STATUS) & INT_DATA_RDY)

    def start_fifo(self) -> None:
        """Stream every sample's accelerations into the FIFO, from empty."""
        self._reset_fifo()
        # An overflow flagged before the reset (a full FIFO until FIFO_EN went 0) is no news now.
        self.device.read_u8(REG_INT_STATUS)
        self.device.write_u8(REG_FIFO_EN, FIFO_EN_ACCEL)
        self.device.write_u8(REG_USER_CTRL, USER_CTRL_FIFO_EN)

    def _reset_fifo(self) -> None:
        # FIFO_RESET only acts while FIFO_EN is 0 (RM 4.27): stop, reset, and let the caller restart it.
        self.device.write_u8(REG_USER_CTRL, 0)
        self.device.write_u8(REG_USER_CTRL, USER_CTRL_FIFO_RESET)

    def fifo_count(self) -> int:
        """Bytes in the FIFO: FIFO_COUNTH first, which loads both count registers, in one burst."""
        high, low = self.device.read(REG_FIFO_COUNTH, 2)
        return (high << 8) | low

    def read_fifo(self) -> FifoRead:
        """Every whole sample in the FIFO, oldest first.

        After an overflow the oldest bytes were overwritten, and as 1024 is no multiple of
        six the stream no longer starts at a sample: its contents are dropped and the FIFO
        restarted, and the read says samples were lost.
        """
        if self.device.read_u8(REG_INT_STATUS) & INT_FIFO_OFLOW:
            self.start_fifo()
            return FifoRead([], True, True)
        count = self.fifo_count()
        frames = count // ACCEL_FRAME
        data = bytearray()
        for chunk in self.fifo_reads(frames)[2:]:
            data += self.device.read(REG_FIFO_R_W, chunk)  # FIFO_R_W does not advance the pointer
        samples = [decode_acceleration(data[i:i + ACCEL_FRAME], self.afs_sel)
                   for i in range(0, len(data), ACCEL_FRAME)]
        return FifoRead(samples, False, count >= FIFO_WATERMARK_BYTES)
