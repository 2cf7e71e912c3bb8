from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli

ROOT = Path(__file__).parents[1]


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("treadmill-companion: error: ")
    return lines[0].removeprefix("treadmill-companion: error: ")


def test_help_lists_run():
    result = run_cli("--help")
    assert result.returncode == 0 and "run" in result.stdout


def test_bad_config_value_names_file_line_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sampling]\nrate_hz = 1000\n")
    assert one_error_line(run_cli("run", "--sim", "--config", str(bad))) == (
        f"{bad}:2: sampling.rate_hz: Input should be less than or equal to 200 (got 1000)")


def test_missing_config_file(tmp_path):
    assert "no such config file" in one_error_line(run_cli("run", "--config", str(tmp_path / "x.toml")))


@pytest.mark.parametrize("args, fragment", [
    (("run", "--bogus"), "No such option '--bogus'"),
    (("run", "--port", "99999"), "--port"),
    (("run", "--speedup", "3"), "--scenario and --speedup need --sim"),
    (("frobnicate",), "No such command 'frobnicate'"),
])
def test_bad_arguments_are_one_line(args, fragment):
    assert fragment in one_error_line(run_cli(*args))


def test_bad_scenario_file_names_its_line(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text("[[step]]\nduration_s = -1\n")
    assert one_error_line(run_cli("run", "--sim", "--scenario", str(scenario))) == (
        f"{scenario}:2: step.duration_s: Input should be greater than 0 (got -1)")


def test_recording_path_that_cannot_be_written(tmp_path):
    message = one_error_line(run_cli("run", "--sim", "--host", "127.0.0.1", "--port", str(free_port()), "--record", str(tmp_path / "no" / "r.csv")))
    assert "cannot write the recording" in message


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "run", "--config", str(tmp_path / "x.toml"))
    assert result.returncode != 0 and "Traceback" in result.stderr
