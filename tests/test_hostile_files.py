"""Hostile files (issue 15): recordings that never end a line or hold values no sensor gives,
configs nested past the parser's recursion or written with a BOM or dotted keys, `--record`
over an existing recording, and `calibrate` on a full disk. Each is one clear line and exit 2
(or, for values, unknown to every rule), never a traceback or memory without bound."""

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import pytest

from pi_service.config import Config
from pi_service.config.toml_lines import key_lines
from pi_service.maintenance.calibration import CalibrationStore
from pi_service.recording import HEADER
from pi_service import replay as replay_module
from pi_service.replay import (LineReader, RecordingError, read_samples, replay,
                               replay_lines)
from tests.conftest import ROOT, run_cli
from tests.test_cli import one_error_line
from tests.test_daemon import start, stop

MB = 1 << 20


# --- replay -------------------------------------------------------------------------------

# `replay` in a child that caps its own memory, so a replay without a bound fails here with a
# MemoryError instead of taking the machine, and reports its own peak RSS (VmHWM) on the way
# out. (Not wait4's ru_maxrss: Linux counts into it the RSS of the process it was forked
# from, at exec, which under the whole suite is pytest's own 130 MB.)
MEASURED_REPLAY = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
report = sys.argv.pop(1)
try:
    from pi_service.cli import main
    main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
"""


def replay_with_peak_rss(path: str, timeout_s: float = 40) -> tuple[int, str, int]:
    """`replay PATH` in a child process: its exit code, stderr and peak RSS in bytes."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        done = subprocess.run([sys.executable, "-c", MEASURED_REPLAY, report.name, "replay", path], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s)
        peak_kb = int(report.read() or 0)
    return done.returncode, done.stderr.decode(errors="replace"), peak_kb * 1024


def one_line(code: int, stderr: str) -> str:
    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines[:5]
    return lines[0]


@pytest.mark.parametrize("what", ["/dev/zero", "a 50 MB line"])
def test_a_file_without_line_ends_is_one_line_error_in_bounded_memory(tmp_path, what):
    path = "/dev/zero"
    if what != "/dev/zero":
        path = str(tmp_path / "long.csv")
        with open(path, "w") as file:
            file.write(f"{HEADER}\n0,1,1,1,1\n")
            file.write("1" * (50 * MB) + "\n")
    code, stderr, peak = replay_with_peak_rss(path)
    line = one_line(code, stderr)
    assert f"{path}:{1 if what == '/dev/zero' else 3}: line longer than 4096 characters" in line
    print(f"replay {what}: peak RSS {peak / MB:.0f} MB")
    assert peak < 100 * MB, f"peak RSS {peak / MB:.0f} MB"


@pytest.mark.parametrize("chunk", [7, 61, 4096, 1 << 22])
def test_lines_are_the_same_whatever_the_chunk_they_are_read_in(monkeypatch, chunk):
    text = HEADER + "\r\n" + "".join(f"{i / 10},1,1,1,1" + ("\r\n", "\n", "\r")[i % 3] for i in range(300))
    monkeypatch.setattr(replay_module, "BLOCK_BYTES", chunk)
    assert list(LineReader(io.StringIO(text, newline=""), "x.csv")) == text.splitlines(keepends=True)
    long = f"{HEADER}\n0,1,1,1,1\n{'1' * 5000}\n0.1,1,1,1,1\n"
    handed_out = []
    with pytest.raises(RecordingError, match="^x.csv:3: line longer than 4096 characters"):
        for line in LineReader(io.StringIO(long), "x.csv"):
            handed_out.append(line)
    assert handed_out == [f"{HEADER}\n", "0,1,1,1,1\n"]  # the lines before it, then the error


def strict_json(line: str) -> dict:
    def refuse(name):
        raise AssertionError(f"not JSON: {name} in {line}")
    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("t", ["inf", "-inf", "1e400", "nan"])
def test_a_time_that_is_not_finite_is_one_line_naming_it(tmp_path, t):
    # 1e400 is plain digits (the block parser's way, which reads it as inf); inf the row reader's.
    path = tmp_path / "t.csv"
    path.write_text(f"{HEADER}\n0,2.5,1,1,1\n0.1,2.5,1,1,1\n{t},2.5,1,1,1\n")
    result = run_cli("replay", str(path))
    assert f"t.csv:4: column t_s: '{t}' is not a time" in one_error_line(result)
    for line in result.stdout.splitlines():
        strict_json(line)  # what came before the bad row, if anything, is JSON
    assert "no_warmup" not in result.stdout  # a 0.1 s of speed was never held for infinity


# Per channel (speed m/s, incline %, left and right rail N): values no sensor gives, outside
# spec 7's ranges (0-30 km/h, -5..45 %, -20..2000 N), and the ones no number is.
NOT_FINITE = ["inf", "-inf", "nan", "1e400", "-1e400", ""]
OUT_OF_RANGE = [["1e9", "-500", "8.4", "-0.1"], ["-500", "46", "-6", "1e9"], ["-21", "2001", "1e9", "-500"],
                ["-21", "2001", "1e9", "-500"]]


def hostile_recording(rows: int = 6000, seed: int = 7) -> tuple[str, str]:
    """A ride at a walk (1 m/s, 1 %: nothing to raise) with stretches of a channel holding
    values no sensor gives; and the same ride with those values left empty."""
    import random

    rng = random.Random(seed)
    hostile, blank = [HEADER], [HEADER]
    good = ["1.0", "1", "1", "1"]
    cells = list(good)
    for i in range(rows):
        if i % 25 == 0:
            cells = [rng.choice(NOT_FINITE + OUT_OF_RANGE[k]) if rng.random() < 0.5 else good[k] for k in range(4)]
        t = f"{i / 20:.2f}"
        hostile.append(",".join([t] + cells))
        blank.append(",".join([t] + [c if c == g else "" for c, g in zip(cells, good)]))
    return "\n".join(hostile) + "\n", "\n".join(blank) + "\n"


def test_values_out_of_range_are_unknown_alike_sample_by_sample_and_fast_forwarded():
    text, blanked = hostile_recording()
    config = Config()
    every = [e.to_dict() for e in replay(read_samples(io.StringIO(text), "x.csv"), config)]
    fast = [e.to_dict() for e in replay_lines(io.StringIO(text), "x.csv", config)]
    as_empty = [e.to_dict() for e in replay(read_samples(io.StringIO(blanked), "x.csv"), config)]
    assert every == fast == as_empty
    kinds = {e["kind"] for e in every}
    assert kinds == {"sensor_fault"}, kinds  # never no_warmup, speed_jump or a rail rule


def test_replay_prints_strict_json_for_a_file_full_of_non_finite_values(tmp_path):
    text, _ = hostile_recording(rows=3000)
    path = tmp_path / "hostile.csv"
    path.write_text(text)
    result = run_cli("replay", str(path))
    assert result.returncode == 0, result.stderr
    events = [strict_json(line) for line in result.stdout.splitlines()]
    assert events and {e["kind"] for e in events} == {"sensor_fault"}


# --- config -------------------------------------------------------------------------------

@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "ride.csv"
    path.write_text(f"{HEADER}\n0,1,1,1,1\n0.1,1,1,1,1\n")
    return path


@pytest.mark.parametrize("toml,line,words", [
    ("a = " + "[" * 100_000, 1, "nested too deeply"),
    ("units = 'km/h'\na = " + "{b = " * 50_000 + "1" + "}" * 50_000 + "\n", 2, "nested too deeply"),
    ("[rules]\nsession_end_s = " + "1" * 5000 + "\n", 2, "not valid TOML"),
    ("\ufeff[rules]\nmin_duration_s = -3\n", 2, "rules.min_duration_s: Input should be greater than or equal to 0"),
    ("units = 'km/h'\n\nrules.steep_incline.hold_s = -1\n", 3, "rules.steep_incline.hold_s"),
    ("[rules]\n# a comment\nsteep_incline . hold_s = -1\n", 3, "rules.steep_incline.hold_s"),
    ("[rules.steep_incline]\nhold_s = 5\n\"grade_pct\" = -1\n", 3, "rules.steep_incline.grade_pct"),
    ("units = 'km/h'\nrules = { steep_incline = { hold_s = -1 } }\n", 2, "rules.steep_incline.hold_s"),
    ("sim.scenario = '''\n[rules]\nsession_end_s = -1\n'''\n[rules]\nsession_end_s = -1\n", 6, "rules.session_end_s"),
    ("[web]\nallowed_hosts = [\n  'pi.local',\n  # a phone\n  2,\n]\n", 5, "web.allowed_hosts"),
    ("[rules]\nsteep_incline.bogus = 1\n", 2, "rules.steep_incline.bogus: unknown key"),
])
def test_every_config_error_is_one_line_with_the_file_and_line(tmp_path, recording, toml, line, words):
    config = tmp_path / "bad.toml"
    config.write_text(toml, encoding="utf-8")
    message = one_error_line(run_cli("replay", str(recording), "--config", str(config)))
    assert message.startswith(f"{config}:{line}: "), message
    assert words in message and len(message) < 300, message


def test_a_config_with_a_byte_order_mark_is_read(tmp_path, recording):
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbf[rules]\r\nmin_duration_s = 0.3\r\n")
    result = run_cli("replay", str(recording), "--config", str(config))
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_doctor_names_the_line_of_a_config_nested_too_deeply(tmp_path):
    config = tmp_path / "deep.toml"
    config.write_text("[web]\nport = 8080\nallowed_hosts = " + "[" * 100_000 + "\n")
    result = run_cli("doctor", "--sim", "--config", str(config), "--seconds", "0.5")
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    assert f"{config}:3: not valid TOML: arrays or tables nested too deeply" in result.stdout + result.stderr


def leaves(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, path + (key,))
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        for index, value in enumerate(data):
            yield from leaves(value, path + (str(index),))
    else:
        yield path


@pytest.mark.parametrize("path", ["pi_service/config/example.toml", "pi_service/config/demo.toml",
                                  "pi_service/sim/scenarios/default.toml"])
def test_every_key_of_the_shipped_files_is_found_on_its_own_line(path):
    text = (ROOT / path).read_text()
    found = key_lines(text)
    rows = text.split("\n")
    for key in leaves(tomllib.loads(text)):
        assert key in found, key
        assert key[-1] in rows[found[key] - 1], (key, found[key])


# --- run --record ---------------------------------------------------------------------------

def test_run_refuses_to_overwrite_a_recording_without_force(tmp_path):
    path = tmp_path / "ride.csv"
    path.write_text(f"{HEADER}\n0,1,1,1,1\n")
    message = one_error_line(run_cli("run", "--sim", "--host", "127.0.0.1", "--port", "1", "--record", str(path)))
    assert str(path) in message and "--force" in message
    assert path.read_text() == f"{HEADER}\n0,1,1,1,1\n"
    assert "--force goes with --record" in one_error_line(run_cli("run", "--sim", "--force"))
    assert "--force" in run_cli("run", "--help").stdout


def test_run_with_force_starts_a_new_recording_over_the_old(tmp_path):
    path = tmp_path / "ride.csv"
    path.write_text("an old ride\n" * 1000)
    process, _, _ = start("--record", str(path), "--force", state=tmp_path / "state")
    try:
        assert path.read_text().split("\n", 1)[0] == HEADER
    finally:
        code, _ = stop(process)
    assert code == 0 and "an old ride" not in path.read_text()


# --- calibrate on a full disk ------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"this test mounts a small tmpfs (root needed): {done.stderr}"
    try:
        CalibrationStore(mount / "sim").save("rails", {"left_zero_v": 0.45})  # a calibration in force
        with open(mount / "filler", "wb", buffering=0) as file:
            try:
                while True:
                    file.write(b"\0" * 4096)
            except OSError:
                pass  # the disk is full
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_calibrate_on_a_full_disk_names_the_file_and_the_reason(full_disk):
    sim = full_disk / "sim"
    before = (sim / "calibration.json").read_text()
    # A fresh state folder: no daemon runs for it, so calibrate measures and writes by itself.
    result = subprocess.run([sys.executable, "-m", "pi_service", "calibrate", "rails", "--sim", "--left-kg", "10",
                             "--right-kg", "12", "--seconds", "0.5", "--yes"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, STATE_DIRECTORY=str(full_disk)))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    # The readings are reported as they are measured; the error is the one line after them.
    message = result.stderr.strip().splitlines()[-1].removeprefix("treadmill-companion: error: ")
    # The file named is the one that could not be written: the new calibration, or the copy of
    # the one it replaces, kept for `calibrate undo`, which is written first.
    assert re.match(rf"{re.escape(str(sim))}/(calibration\.json|calibration-history/\d+\.json): cannot write: "
                    "no space left on device", message), message
    assert (sim / "calibration.json").read_text() == before
    left = sorted(str(p.relative_to(sim)) for p in sim.rglob("*") if p.is_file())
    assert left == ["calibration.json"]  # no temporary file, no history entry
