import json
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


def test_replay_prints_only_event_lines_on_stdout(tmp_path):
    recording = tmp_path / "r.csv"
    rows = ["t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,heart_rate"]
    for i in range(6000):  # 60 s at 100 Hz: walk, then jump from 5 to 9 km/h at 40 s
        t = i * 0.01
        rows.append(f"{t:.2f},{(9 if t >= 40 else 5) / 3.6:.4f},1.0,0,0,{120 + i % 3}")
    recording.write_text("\n".join(rows) + "\n")
    result = run_cli("replay", str(recording))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["kind"], e["phase"]) for e in events] == [("speed_jump", "instant"), ("no_warmup", "instant")]
    assert events[0]["t"] == pytest.approx(40.0, abs=0.011)
    assert events[1]["t"] == pytest.approx(40.0, abs=0.011)
    assert all({"t", "kind", "phase", "message"} <= set(e) for e in events)


@pytest.mark.parametrize("content, expected", [
    ("", "empty file"),
    ("time,speed\n1,2\n", ":1: header must begin t_s,speed_mps,incline_pct,rail_left_n,rail_right_n"),
    ("t_s,speed_mps,incline_pct,rail_left_n,rail_right_n\n0,1,2,3,4\n1,1,2,x3,4\n",
     ":3: column 4 (rail_left_n): 'x3' is not a number"),
    ("t_s,speed_mps,incline_pct,rail_left_n,rail_right_n\n0,1,2,3\n", ":2: 4 columns, expected at least 5"),
    ("t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,cadence_spm,footstrike_g\n0,1,2,3,4,110,0.5\n"
     "0.01,1,2,3,4,110 spm,0.5\n", ":3: column 6 (cadence_spm): '110 spm' is not a number"),
])
def test_malformed_recording_is_one_line_naming_line_and_column(tmp_path, content, expected):
    recording = tmp_path / "bad.csv"
    recording.write_text(content)
    result = run_cli("replay", str(recording))
    assert result.stdout == ""
    assert expected in one_error_line(result)
