import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from pi_service.config import DEMO_CONFIG, Config, load_config, parse_config
from pi_service.errors import ConfigError

EXAMPLE = Path(__file__).parents[1] / "pi_service" / "config" / "example.toml"


def test_no_file_means_the_documented_defaults():
    config = load_config(None)
    assert config.sampling.rate_hz == 100
    assert config.belt.gpio == 17 and config.buzzer.gpio == 18
    assert config.rails.address == 0x48 and config.incline.address == 0x53
    assert config.console.port == "/dev/serial0"
    assert config.web.port == 8080 and config.web.host == "::"
    assert config.rules.rail_lean.force_n == 80 and config.rules.steep_incline.hold_s == 900


def test_example_file_lists_exactly_the_built_in_defaults():
    assert load_config(EXAMPLE) == Config()


def test_demo_config_shortens_only_rule_timings_and_says_so():
    demo = load_config(DEMO_CONFIG)
    assert demo.demo is True
    assert demo.rules.steep_incline.hold_s < Config().rules.steep_incline.hold_s
    assert demo.rules.rail_lean == Config().rules.rail_lean
    assert demo.web.host == "127.0.0.1"


def test_pulses_per_metre_from_roller_geometry_unless_calibrated():
    config = parse_config("[belt]\nmagnets = 4\nroller_diameter_m = 0.06\n", "t.toml")
    assert config.belt.effective_pulses_per_m() == pytest.approx(4 / (math.pi * 0.06))
    calibrated = parse_config("[belt]\npulses_per_m = 12.5\n", "t.toml")
    assert calibrated.belt.effective_pulses_per_m() == 12.5


@pytest.mark.parametrize("toml, expected", [
    ("[rails]\nfoo = 1\n", "t.toml:2: rails.foo: unknown key"),
    ("colour = 'red'\n", "t.toml:1: colour: unknown key"),
    ("[sampling]\nrate_hz = 500\n", "t.toml:2: sampling.rate_hz: Input should be less than or equal to 200 (got 500)"),
    ("[belt]\n# magnets\n\nmagnets = 0\n", "t.toml:4: belt.magnets: Input should be greater than or equal to 1 (got 0)"),
    ("units = 'furlongs'\n", "t.toml:1: units: Input should be 'km/h' or 'mph' (got 'furlongs')"),
    ("[rails]\ndata_rate_sps = 100\n", "t.toml:2: rails.data_rate_sps: Input should be 8, 16, 32, 64, 128, 250,"),
    ("[rails]\nright_channel = 0\n", "t.toml:2: rails.right_channel: AIN0 is already left_channel"),
    ("[incline]\naddress = 0x68\n", "t.toml:2: incline.address: must be 0x53 (SDO low) or 0x1D (SDO high), not 0x68"),
    ("[rules.rail_lean]\nhold_s = 'long'\n", "t.toml:2: rules.rail_lean.hold_s: Input should be a valid number"),
    ("[sampling]\nrate_hz = '150'\n", "t.toml:2: sampling.rate_hz: Input should be a valid number (got '150')"),
    ("[belt]\npull_up = 'yes'\n", "t.toml:2: belt.pull_up: Input should be a valid boolean (got 'yes')"),
    ("[rules.sensor_fault]\nrail_n_max = nan\n", "t.toml:2: rules.sensor_fault.rail_n_max: Input should be a finite"),
    ("[rules.sensor_fault]\nincline_pct_max = -10\n",
     "t.toml:2: rules.sensor_fault.incline_pct_max: must be above incline_pct_min (-5)"),
    ("[buzzer]\ngpio = 17\n", "t.toml:1: buzzer: gpio 17 is already belt.gpio"),
    ("[sampling]\nrate_hz = 200\n[rails]\ndata_rate_sps = 128\n[footstrikes]\nenabled = false\n",
     "t.toml:4: rails.data_rate_sps: at 100 kHz the rails' transfers take 1.49 ms, then the ADS1115 needs up to 8.71 ms"),
    ("[belt]\nmagnets = 64\nroller_diameter_m = 0.02\n", "t.toml:1: belt: glitch_s 0.002 s would drop real pulses"),
])
def test_bad_values_are_one_line_naming_file_line_key_and_reason(toml, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(toml, "t.toml")
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_broken_toml_names_the_line():
    with pytest.raises(ConfigError, match=r"t.toml: not valid TOML: .*line 2"):
        parse_config("[belt]\nmagnets = = 2\n", "t.toml")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_config_is_immutable_once_loaded():
    config = Config()
    with pytest.raises(ValidationError, match="frozen"):
        config.sampling.rate_hz = 5  # type: ignore[misc]


def test_the_accelerometer_chip_defaults_to_the_adxl345_at_0x53():
    incline = parse_config("", "t.toml").incline
    assert (incline.chip, incline.address) == ("adxl345", 0x53)


@pytest.mark.parametrize("toml, address", [
    ("[incline]\nchip = \"mpu6050\"\n", 0x68),  # no address key: the MPU-6050's AD0-low address
    ("[incline]\nchip = \"mpu6050\"\naddress = 0x69\n", 0x69),
    ("[incline]\nchip = \"adxl345\"\naddress = 0x1D\n", 0x1D),
])
def test_the_address_defaults_to_the_chips_own_and_is_always_an_int(toml, address):
    incline = parse_config(toml, "t.toml").incline
    assert incline.address == address and type(incline.address) is int


@pytest.mark.parametrize("toml, expected", [
    ("[incline]\nchip = \"mpu6050\"\naddress = 0x53\n",
     "t.toml:3: incline.address: must be 0x68 (AD0 low) or 0x69 (AD0 high), not 0x53: the MPU-6050's addresses "
     "(chip = \"mpu6050\"); 0x53 is an ADXL345's: set chip = \"adxl345\""),
    ("[incline]\naddress = 0x69\n", "t.toml:2: incline.address: must be 0x53 (SDO low) or 0x1D (SDO high), not 0x69: "
     "the ADXL345's addresses (chip = \"adxl345\"); 0x69 is an MPU-6050's: set chip = \"mpu6050\""),
    ("[incline]\nchip = \"mpu6050\"\naddress = 0x1E\n", "t.toml:3: incline.address: must be 0x68 (AD0 low) or 0x69 "
     "(AD0 high), not 0x1E: the MPU-6050's addresses"),
    ("[incline]\nchip = \"mpu9250\"\n", "t.toml:2: incline.chip: Input should be 'adxl345' or 'mpu6050' (got 'mpu9250')"),
])
def test_a_wrong_chip_or_address_names_the_chip_and_its_addresses(toml, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(toml, "t.toml")
    assert str(caught.value).startswith(expected)


def test_the_example_config_names_the_chip_it_documents():
    text = EXAMPLE.read_text()
    assert '\nchip = "adxl345"' in text
    incline = parse_config(text, "example.toml").incline
    assert (incline.chip, incline.address) == ("adxl345", 0x53)
