"""The companion's configuration: one TOML file, validated at load against typed bounds.

Every key has a built-in default (the models below), so an empty file, or none, is a
valid configuration for the reference wiring in `hw/`. Values are in the units their
names end with (`_m`, `_s`, `_n`, `_pct`, `_kmh`); speeds in km/h are converted to m/s by
the code that uses them. An unknown key or a value out of range is refused with one line
that names the file, the line (config/toml_lines.py finds it), the key and the reason. A
UTF-8 byte-order mark (as Windows editors write) is read past; whatever the parser cannot
take (nesting too deep, an integer too long) is one line too, never a traceback.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from pi_service.config.toml_lines import failing_line, line_of
from pi_service.drivers.accelerometer import CHIP_NAMES
from pi_service.drivers.i2c_timing import DEFAULT_BUS_HZ
from pi_service.errors import ConfigError
from pi_service.sampling.bus_budget import tick_bus_budget
from pi_service.units import kmh_to_mps, mps_to_kmh

CONFIG_DIR = Path(__file__).parent
DEMO_CONFIG = CONFIG_DIR / "demo.toml"


class Section(BaseModel):
    """A config table: unknown keys are errors, values are immutable once loaded."""

    # strict: "150" is not a number and "yes" is not a boolean; nan and inf are not values.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class SamplingConfig(Section):
    rate_hz: float = Field(100.0, ge=10, le=200, description="sampling loop rate")
    realtime_priority: int = Field(
        50, ge=0, le=99, description="SCHED_FIFO priority for the loop; 0 = normal scheduling"
    )
    cpu: int | None = Field(None, ge=0, le=255, description="pin the loop to this CPU core")


class I2CConfig(Section):
    bus_hz: int = Field(
        DEFAULT_BUS_HZ, ge=10_000, le=1_000_000,
        description="the speed set by dtparam=i2c_arm_baudrate in /boot/firmware/config.txt; "
                    "the same for every bus used",
    )


TOP_SPEED_MPS = kmh_to_mps(30)  # the fastest belt the sensor must follow (spec 7's speed range)


class BeltConfig(Section):
    gpio: int = Field(17, ge=0, le=53, description="BCM number of the Hall/reed sensor input")
    pull_up: bool = Field(True, description="sensor pulls the line low when a magnet passes")
    magnets: int = Field(2, ge=1, le=64, description="magnets on the front roller")
    roller_diameter_m: float = Field(0.05, gt=0.01, le=0.3)
    pulses_per_m: float | None = Field(
        None, gt=0, le=1000, description="measured calibration; overrides the roller geometry"
    )
    glitch_s: float = Field(0.002, ge=0, le=0.05, description="edges closer than this are bounce")
    zero_speed_timeout_s: float = Field(2.0, ge=0.2, le=10)

    @model_validator(mode="after")
    def _glitch_below_pulse_interval(self) -> "BeltConfig":
        interval = 1.0 / (self.effective_pulses_per_m() * TOP_SPEED_MPS)
        if self.glitch_s >= interval / 2:
            raise ValueError(f"glitch_s {self.glitch_s:g} s would drop real pulses: at {mps_to_kmh(TOP_SPEED_MPS):g} km/h "
                             f"they come every {interval * 1000:.2f} ms")
        return self

    def effective_pulses_per_m(self) -> float:
        if self.pulses_per_m is not None:
            return self.pulses_per_m
        return self.magnets / (math.pi * self.roller_diameter_m)


FullScale = Literal[6.144, 4.096, 2.048, 1.024, 0.512, 0.256]
DataRate = Literal[8, 16, 32, 64, 128, 250, 475, 860]


class RailsConfig(Section):
    i2c_bus: int = Field(1, ge=0, le=31)
    address: int = Field(0x48, ge=0x48, le=0x4B, description="ADS1115 ADDR pin: GND 0x48 .. SCL 0x4B")
    left_channel: int = Field(0, ge=0, le=3)
    right_channel: int = Field(1, ge=0, le=3)
    full_scale_v: FullScale = Field(4.096, description="PGA full-scale range")
    data_rate_sps: DataRate = Field(475)
    # Linear map volts -> newtons per rail until `calibrate rails` measures it.
    left_zero_v: float = Field(0.5, ge=-6.144, le=6.144)
    left_n_per_v: float = Field(600.0, ge=-100000, le=100000)
    right_zero_v: float = Field(0.5, ge=-6.144, le=6.144)
    right_n_per_v: float = Field(600.0, ge=-100000, le=100000)

    @field_validator("right_channel")
    @classmethod
    def _channels_differ(cls, value: int, info: ValidationInfo) -> int:
        if value == info.data.get("left_channel"):
            raise ValueError(f"AIN{value} is already left_channel")
        return value

    @field_validator("left_n_per_v", "right_n_per_v")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("must not be zero")
        return value


# The deck accelerometers `[incline] chip` may name: their part names and the addresses
# their address pin gives (ADXL345: SDO/ALT ADDRESS; MPU-6050: AD0), the first the default.
ACCELEROMETERS = {
    "adxl345": (CHIP_NAMES["adxl345"], ((0x53, "SDO low"), (0x1D, "SDO high"))),
    "mpu6050": (CHIP_NAMES["mpu6050"], ((0x68, "AD0 low"), (0x69, "AD0 high"))),
}


class InclineConfig(Section):
    i2c_bus: int = Field(1, ge=0, le=31)
    chip: Literal["adxl345", "mpu6050"] = Field("adxl345", description="the deck accelerometer: ADXL345 or MPU-6050")
    address: int = Field(0x53, description="ADXL345: 0x53 (SDO low) or 0x1D; MPU-6050: 0x68 (AD0 low) or 0x69; "
                         "without the key, the chip's first")
    forward_axis: Literal["x", "-x", "y", "-y"] = Field(
        "x", description="the accelerometer axis that points to the front of the deck"
    )
    zero_deg: float = Field(0.0, ge=-30, le=30, description="deck pitch read on a flat deck")
    span: float = Field(1.0, ge=0.5, le=2.0, description="grade correction from a known incline")
    smoothing_s: float = Field(0.5, ge=0, le=5, description="low-pass time constant for footstrike vibration")

    @model_validator(mode="before")
    @classmethod
    def _address_for_chip(cls, data):
        # No address key: the configured chip's default, so `address` is always an int.
        if isinstance(data, dict) and "address" not in data:
            chip = data.get("chip", "adxl345")
            if isinstance(chip, str) and chip in ACCELEROMETERS:
                data = {**data, "address": ACCELEROMETERS[chip][1][0][0]}
        return data

    @field_validator("address")
    @classmethod
    def _chip_address(cls, value: int, info: ValidationInfo) -> int:
        chip = info.data.get("chip")
        if chip is None:
            return value  # the chip itself is wrong, and reported
        name, addresses = ACCELEROMETERS[chip]
        if value not in [address for address, _ in addresses]:
            valid = " or ".join(f"0x{address:02X} ({pin})" for address, pin in addresses)
            others = [(key, other) for key, (other, pins) in ACCELEROMETERS.items()
                      if key != chip and value in [address for address, _ in pins]]
            hint = "".join(f"; 0x{value:02X} is an {other}'s: set chip = \"{key}\"" for key, other in others)
            raise ValueError(f"must be {valid}, not 0x{value:02X}: the {name}'s addresses (chip = \"{chip}\"){hint}")
        return value


class BuzzerConfig(Section):
    gpio: int = Field(18, ge=0, le=53)
    active_high: bool = True


class ConsoleConfig(Section):
    enabled: bool = Field(True, description="false if no incline controller is wired: no link, no automatic ramp")
    port: str = Field("/dev/serial0", min_length=1)
    baud: int = Field(115200, ge=1200, le=1000000)


class WebConfig(Section):
    host: str = Field("::", min_length=1, description="'::' every interface, IPv4 and IPv6; '0.0.0.0' IPv4 only")
    port: int = Field(8080, ge=1, le=65535)
    allowed_hosts: list[str] = Field(default_factory=list, description="names to answer to besides this Pi's "
                                     "own host name, addresses and localhost (e.g. a DNS name you gave it)")


class RiderConfig(Section):
    body_mass_kg: float | None = Field(None, ge=20, le=300)


class RailLeanRule(Section):
    force_n: float = Field(80, gt=0, le=2000)
    body_fraction: float = Field(0.10, gt=0, le=1, description="used instead of force_n when body_mass_kg is set")
    hold_s: float = Field(5, gt=0, le=600)
    release_n: float = Field(50, ge=0, le=2000)
    release_s: float = Field(2, gt=0, le=60)
    session_grace_s: float = Field(30, ge=0, le=600)


class RailHoldRule(Section):
    force_n: float = Field(5, gt=0, le=2000)
    hold_s: float = Field(60, gt=0, le=3600)
    release_s: float = Field(2, gt=0, le=60)


class SteepInclineRule(Section):
    grade_pct: float = Field(10, gt=0, le=45)
    hold_s: float = Field(900, gt=0, le=7200)
    dip_pct: float = Field(9, gt=0, le=45, description="a streak survives dips down to this grade")
    very_steep_pct: float = Field(15, gt=0, le=45)
    very_steep_hold_s: float = Field(300, gt=0, le=7200)
    very_steep_dip_pct: float = Field(14, gt=0, le=45)
    release_pct: float = Field(9, gt=0, le=45)
    release_s: float = Field(2, gt=0, le=60)


class SpeedJumpRule(Section):
    rise_kmh: float = Field(2.5, gt=0, le=30)
    within_s: float = Field(3, gt=0, le=60)
    min_gap_s: float = Field(10, ge=0, le=600)


class NoWarmupRule(Section):
    window_s: float = Field(300, gt=0, le=3600)
    max_kmh: float = Field(6.5, gt=0, le=30)
    max_incline_pct: float = Field(4, ge=-5, le=45)


class AbruptStopRule(Section):
    stop_kmh: float = Field(0.5, gt=0, le=30)
    from_kmh: float = Field(6, gt=0, le=30)
    lookback_s: float = Field(180, gt=0, le=3600)


class SensorFaultRule(Section):
    fault_s: float = Field(0.5, gt=0, le=60)
    recover_s: float = Field(2, gt=0, le=60)
    speed_kmh_min: float = Field(0, ge=0, le=60)
    speed_kmh_max: float = Field(30, gt=0, le=60)
    incline_pct_min: float = Field(-5, ge=-45, le=45)
    incline_pct_max: float = Field(45, ge=-45, le=60)
    rail_n_min: float = Field(-20, ge=-5000, le=5000)
    rail_n_max: float = Field(2000, ge=-5000, le=5000)
    incline_check_pct: float = Field(2, gt=0, le=45, description="console's deck position vs the incline sensor")
    incline_check_s: float = Field(5, gt=0, le=600, description="... disagreeing that long: sensor_fault")

    @field_validator("speed_kmh_max", "incline_pct_max", "rail_n_max")
    @classmethod
    def _above_min(cls, value: float, info: ValidationInfo) -> float:
        low_key = info.field_name.removesuffix("_max") + "_min"
        if low_key in info.data and value <= info.data[low_key]:
            raise ValueError(f"must be above {low_key} ({info.data[low_key]:g})")
        return value


class UnattendedBeltRule(Section):
    hold_s: float = Field(20, gt=0, le=600, description="belt moving and no footstrike this long: alarm")
    release_s: float = Field(2, gt=0, le=60, description="footstrikes, or the belt stopped, this long ends it")


class OverstrideRule(Section):
    speed_kmh: float = Field(8, gt=0, le=30)
    cadence_spm: float = Field(150, gt=0, le=300, description="below this at speed_kmh or faster ...")
    hold_s: float = Field(60, gt=0, le=3600, description="... this long: overstride")
    release_cadence_spm: float = Field(155, gt=0, le=300)
    release_cadence_s: float = Field(10, gt=0, le=600)
    release_speed_kmh: float = Field(7.5, gt=0, le=30)
    release_speed_s: float = Field(2, gt=0, le=60)


class RulesConfig(Section):
    min_duration_s: float = Field(0.2, ge=0, le=5, description="conditions shorter than this are noise")
    session_start_kmh: float = Field(0.5, gt=0, le=10)
    session_end_s: float = Field(60, gt=0, le=3600)
    rail_lean: RailLeanRule = RailLeanRule()
    rail_hold: RailHoldRule = RailHoldRule()
    steep_incline: SteepInclineRule = SteepInclineRule()
    speed_jump: SpeedJumpRule = SpeedJumpRule()
    no_warmup: NoWarmupRule = NoWarmupRule()
    abrupt_stop: AbruptStopRule = AbruptStopRule()
    sensor_fault: SensorFaultRule = SensorFaultRule()
    unattended_belt: UnattendedBeltRule = UnattendedBeltRule()
    overstride: OverstrideRule = OverstrideRule()


class FootstrikesConfig(Section):
    """The footstrike detector on the deck accelerometer's FIFO (spec 7.2, signals/footstrikes.py)."""
    enabled: bool = Field(True, description="false: no FIFO stream, cadence unknown, footstrike rules silent")
    vertical_axis: Literal["z", "-z"] = Field("z", description="the accelerometer axis pointing up out of the deck")
    min_peak_g: float = Field(0.12, gt=0, le=8, description="the smallest jolt that counts as a footstrike")
    refractory_s: float = Field(0.25, ge=0.1, le=1.0, description="after a footstrike, none for this long")


class ActionsConfig(Section):
    nudge_repeat_s: float = Field(60, ge=5, le=3600, description="a nudge repeats at most this often per kind")
    ramp_after_s: float = Field(300, ge=0, le=7200, description="steep_incline unanswered this long -> ramp down")
    ramp_to_pct: float = Field(5, ge=0, le=45)
    ramp_rate_pct_s: float = Field(0.5, gt=0, le=1.0)
    ramp_announce_s: float = Field(30, ge=0, le=600, description="the page counts down to a ramp this long ahead")


class SimConfig(Section):
    scenario: str = Field("default", min_length=1, description="a bundled scenario name or a path")
    speedup: float = Field(1.0, gt=0, le=100, description="scenario time runs this many times faster")
    noise: bool = Field(True, description="sensor noise and footstrike ripple")


# A device id and topic levels: what MQTT and Home Assistant's unique ids take without quoting.
DEVICE_ID = r"^[A-Za-z0-9_-]{1,64}$"


class MqttConfig(Section):
    """Publishing to an MQTT broker with Home Assistant discovery (spec 11, fleet/)."""
    enabled: bool = Field(False, description="publish this treadmill's state, events and sessions to an MQTT broker")
    host: str = Field("localhost", min_length=1, description="the broker's host name or address")
    port: int | None = Field(None, ge=1, le=65535, description="the broker's port; without it 1883, or 8883 with "
                             "tls_ca_file")
    username: str = Field("", description="the broker login's user name; empty: no login")
    password_file: str = Field("", description="a file holding the login's password (one line), readable by the "
                               "service only; the password is never written in this config")
    tls_ca_file: str = Field("", description="the CA certificate (PEM) the broker's certificate is checked against; "
                             "set: TLS, and the broker's name must match its certificate")
    device_id: str = Field("", description="this treadmill's id in topics and Home Assistant; empty: the host name")
    base_topic: str = Field("", description="where this treadmill publishes; empty: treadmill-companion/<device_id>")
    discovery_prefix: str = Field("homeassistant", min_length=1, description="Home Assistant's discovery prefix")
    keepalive_s: int = Field(15, ge=2, le=600, description="MQTT keepalive: the broker says `offline` for this "
                             "treadmill about 1.5 times this long after it goes silent")
    queue_max: int = Field(10_000, ge=10, le=1_000_000, description="events and session summaries kept on disk "
                           "while the broker is away; beyond this the oldest go (and are counted)")

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if value and not re.match(DEVICE_ID, value):
            raise ValueError("letters, digits, '-' and '_' only, at most 64")
        return value

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _topic(cls, value: str) -> str:
        if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("a topic without wildcards (+ #), NUL, or an empty level")
        return value

    def effective_port(self) -> int:
        return self.port or (8883 if self.tls_ca_file else 1883)


class MaintenanceConfig(Section):
    """When the belt wants lubricating: whichever of the two comes first (storage/usage.py)."""
    lubricate_every_h: float = Field(50, gt=0, le=10_000, description="belt hours between lubrications")
    lubricate_every_km: float = Field(500, gt=0, le=100_000, description="belt distance between lubrications")


class Config(Section):
    units: Literal["km/h", "mph"] = "km/h"
    demo: bool = Field(False, description="shortened rule timings: the page says so")
    state_dir: str = Field("", description="history database folder; empty: $STATE_DIRECTORY or ~/.local/state")
    sampling: SamplingConfig = SamplingConfig()
    i2c: I2CConfig = I2CConfig()  # before the sections on the buses, for validators that need it
    belt: BeltConfig = BeltConfig()
    rails: RailsConfig = RailsConfig()
    incline: InclineConfig = InclineConfig()
    buzzer: BuzzerConfig = BuzzerConfig()
    console: ConsoleConfig = ConsoleConfig()
    web: WebConfig = WebConfig()
    rider: RiderConfig = RiderConfig()
    rules: RulesConfig = RulesConfig()
    footstrikes: FootstrikesConfig = FootstrikesConfig()
    actions: ActionsConfig = ActionsConfig()
    sim: SimConfig = SimConfig()
    mqtt: MqttConfig = MqttConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()

    @model_validator(mode="after")
    def _bus_time_delivers_every_sample(self) -> "Config":
        # The rate, the rails' data rate and the bus speed together decide whether every tick gets a
        # fresh rail conversion (sampling/bus_budget.py). The error is raised at one of those keys so
        # that the message names it and its line: the first the file sets of the ones that can fix it.
        # With footstrikes on, the tick drains the accelerometer's FIFO instead of one read.
        fifo_chip = self.incline.chip if self.footstrikes.enabled else None
        budget = tick_bus_budget(self.sampling.rate_hz, self.rails.data_rate_sps, self.i2c.bus_hz,
                                 fifo_chip=fifo_chip)
        problems = budget.problems()
        if fifo_chip is not None:
            from pi_service.drivers.accelerometer import CHIP_NAMES, footstrike_stream

            stream = footstrike_stream(fifo_chip)
            if self.sampling.rate_hz < stream.loop_rate_min_hz():
                problems.append(
                    f"{self.sampling.rate_hz:g} Hz is too slow for the {CHIP_NAMES[fifo_chip]}'s FIFO at "
                    f"{stream.data_rate_hz:g} Hz (it holds {stream.holds_s() * 1000:.0f} ms; a late tick would lose "
                    f"footstrike samples): at least {math.ceil(stream.loop_rate_min_hz())} Hz, or set "
                    f"footstrikes.enabled = false")
        if not problems:
            return self
        keys = [("i2c", "bus_hz"), ("sampling", "rate_hz")]
        if budget.conversion_slack_s < 0:
            keys.insert(0, ("rails", "data_rate_sps"))
        written = [key for key in keys if key[0] in self.model_fields_set
                   and key[1] in getattr(self, key[0]).model_fields_set]
        section, name = (written or keys)[0]
        reason = PydanticCustomError("bus_time", "{reason}", {"reason": ". Also ".join(problems)})
        raise ValidationError.from_exception_data(type(self).__name__, [
            InitErrorDetails(type=reason, loc=(section, name), input=getattr(getattr(self, section), name))])

    @field_validator("buzzer")
    @classmethod
    def _pins_differ(cls, buzzer: BuzzerConfig, info: ValidationInfo) -> BuzzerConfig:
        belt = info.data.get("belt")
        if belt is not None and buzzer.gpio == belt.gpio:
            raise ValueError(f"gpio {buzzer.gpio} is already belt.gpio")
        return buzzer



def load_config(path: str | Path | None) -> Config:
    """The configuration from `path`, or the built-in defaults when `path` is None."""
    if path is None:
        return Config()
    return parse_config(read_text(path, "config file"), str(path))


def parse_config(text: str, source: str) -> Config:
    return validate_toml(Config, text, source)


Model = TypeVar("Model", bound=BaseModel)


MAX_FILE_BYTES = 1 << 20  # a config or scenario file takes a few kilobytes


def read_text(path: str | Path, what: str) -> str:
    """A UTF-8 file's text, or a ConfigError that names the file and what is wrong."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB: not a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: cannot read: not UTF-8 text ({exc.reason})") from None


def validate_toml(model: type[Model], text: str, source: str) -> Model:
    """Parse TOML `text` into `model`; any problem is one ConfigError line naming `source`."""
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the TOML
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(_where(source, failing_line(text, RecursionError)) +
                          ": not valid TOML: arrays or tables nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 (anything else tomllib cannot take, e.g. a 5000-digit integer)
        raise ConfigError(f"{_where(source, failing_line(text, type(exc)))}: not valid TOML: "
                          f"{str(exc).split(';')[0]}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, text, source)) from None
    except RecursionError:
        raise ConfigError(f"{source}: values nested too deeply") from None


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def describe_validation_error(exc: ValidationError, text: str, source: str) -> str:
    """One line for the first problem pydantic found: file, line, dotted key, reason."""
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    key = ".".join(str(part) for part in err["loc"] if not isinstance(part, int)) or "(top level)"
    if err["type"] == "extra_forbidden":
        reason = "unknown key"
    else:
        reason = err["msg"].removeprefix("Value error, ")
        if "input" in err and err["type"] != "missing" and not isinstance(err["input"], dict):
            got = repr(err["input"])
            reason += f" (got {got if len(got) <= 80 else got[:77] + '...'})"
    return f"{_where(source, find_key_line(text, loc))}: {key}: {reason}"


def find_key_line(text: str, keys: list[str]) -> int | None:
    """The 1-based line where the key path `keys` is set (an array element's index is part of
    the path, as pydantic reports it), or its nearest written parent's; None if neither is."""
    if not keys:
        return None
    try:
        return line_of(text, keys)
    except (ValueError, IndexError, AttributeError, tomllib.TOMLDecodeError):
        return None  # text tomllib did not read: no line rather than a wrong one
