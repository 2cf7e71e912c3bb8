"""Fast-forward replay (core/fastforward.py) must give exactly the events of feeding every sample."""

import io
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_service import replay as replay_module
from pi_service.core.fastforward import running_extreme
from pi_service.core.rules.speed import WindowExtreme
from pi_service.recording import HEADER
from pi_service.replay import read_samples, replay, replay_lines
from tests.test_rules_properties import FAST


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1, 0.2, 0.7]), st.floats(-5, 5)), min_size=1,
                max_size=200),
       st.sampled_from([0.2, 0.35, 3.2]), st.booleans())
def test_running_extreme_is_the_window_extreme_of_every_sample(steps, span, maximum):
    t, values, now = [], [], 100.0
    for step, value in steps:
        now += step
        t.append(now)
        values.append(value)
    window = WindowExtreme(span, maximum=maximum)
    expected = [window.update(a, b) for a, b in zip(t, values)]
    assert running_extreme(np.array(t), np.array(values), span, maximum).tolist() == expected


# Levels around the FAST config's thresholds (km/h, %, N), so that noise flips them.
SPEEDS = [0.0, 0.3, 0.5, 3.0, 5.9, 6.0, 6.5, 6.6, 9.0, 31.0]
INCLINES = [0.0, 4.0, 4.2, 8.9, 9.0, 9.5, 10.0, 14.0, 15.2, 46.0]
RAILS = [0.0, 2.5, 2.6, 25.0, 40.0, 45.0, -30.0]

segment = st.fixed_dictionaries({
    "seconds": st.sampled_from([0.15, 0.3, 0.45, 0.5, 0.55, 2.0, 4.0, 7.0, 12.0]),
    "speed": st.sampled_from(SPEEDS), "incline": st.sampled_from(INCLINES),
    "left": st.sampled_from(RAILS), "right": st.sampled_from(RAILS),
    "noise": st.sampled_from([0.0, 0.0, 0.3, 2.0]), "unknown": st.sampled_from([0.0, 0.0, 0.05, 0.6]),
    # A channel empty for the whole segment: gaps either side of the 0.5 s that 7.1 draws.
    "blank": st.sampled_from([(), (), (), ("speed",), ("incline",), ("left", "right"), ("left",),
                              ("speed", "incline", "left", "right")]),
})



def recording(segments, rate_hz: float, seed: int) -> str:
    rng = random.Random(seed)
    lines, t = [HEADER], 50.0
    for seg in segments:
        end = t + seg["seconds"]
        while t < end:
            t += rng.uniform(0.5, 1.5) / rate_hz if rng.random() > 0.02 else 0.0  # repeated times too
            cells = [f"{t:.4f}"]
            for name, scale in (("speed", 1 / 3.6), ("incline", 1.0), ("left", 1.0), ("right", 1.0)):
                if name in seg.get("blank", ()) or rng.random() < seg["unknown"]:
                    cells.append("")
                else:
                    cells.append(f"{(seg[name] + rng.gauss(0, seg['noise'])) * scale:.3f}")
            lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def every_sample(text: str, config) -> list[dict]:
    return [e.to_dict() for e in replay(read_samples(io.StringIO(text), "x.csv"), config)]


def fast_forwarded(text: str, config) -> list[dict]:
    return [e.to_dict() for e in replay_lines(io.StringIO(text), "x.csv", config)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=1, max_size=14), st.sampled_from([10.0, 50.0, 200.0]),
       st.integers(0, 10**6), st.sampled_from([300, 4000, 1 << 22]))
def test_fast_forward_gives_the_events_of_every_sample(segments, rate_hz, seed, block_bytes):
    text = recording(segments, rate_hz, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BLOCK_BYTES", block_bytes)
        assert fast_forwarded(text, FAST) == every_sample(text, FAST)


def test_a_long_noisy_ride_gives_every_rule_and_the_same_events(tmp_path):
    rng = random.Random(7)
    segments = [{"seconds": rng.choice([3.0, 8.0, 25.0]), "speed": rng.choice(SPEEDS[:-1]),
                 "incline": rng.choice(INCLINES), "left": rng.choice(RAILS), "right": rng.choice(RAILS[:-1]),
                 "noise": rng.choice([0.0, 0.3, 1.0]), "unknown": rng.choice([0.0, 0.0, 0.0, 0.02, 0.9]),
                 "blank": rng.choice([(), (), (), ("left",), ("speed",), ("incline",)])}
                for _ in range(150)]
    text = recording(segments, 100.0, 1)
    expected = every_sample(text, FAST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BLOCK_BYTES", 64 << 10)
        assert fast_forwarded(text, FAST) == expected
    kinds = {(e["kind"], e["phase"]) for e in expected}
    assert {k for k, _ in kinds} == {"rail_lean", "rail_hold", "steep_incline", "speed_jump", "no_warmup",
                                     "abrupt_stop", "sensor_fault"}, kinds


def test_rows_that_are_not_plain_numbers_hand_over_to_the_row_reader_mid_file():
    rng = random.Random(3)
    segments = [{"seconds": 6.0, "speed": rng.choice(SPEEDS[:-1]), "incline": rng.choice(INCLINES),
                 "left": rng.choice(RAILS), "right": rng.choice(RAILS), "noise": 0.3, "unknown": 0.0}
                for _ in range(60)]
    lines = recording(segments, 50.0, 2).splitlines()
    # Past the first blocks: a quoted number, a literal nan and a blank line.
    third = len(lines) // 3
    fields = lines[third].split(",")
    lines[third] = ",".join([fields[0], f'"{fields[1]}"', *fields[2:]])
    lines[third + 1] = ",".join(lines[third + 1].split(",")[:2] + ["nan"] + lines[third + 1].split(",")[3:])
    lines.insert(third + 5, "")
    text = "\n".join(lines) + "\n"
    expected = every_sample(text, FAST)
    assert expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BLOCK_BYTES", 2000)
        assert fast_forwarded(text, FAST) == expected


def test_an_error_after_fast_blocks_names_its_line():
    lines = [HEADER] + [f"{i / 100:.2f},1.2,0,0,0" for i in range(5000)]
    lines[4321] = "43.20,1.2,zero,0,0"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BLOCK_BYTES", 10_000)
        with pytest.raises(replay_module.RecordingError, match=r"x\.csv:4322: column 3 \(incline_pct\): 'zero'"):
            fast_forwarded("\n".join(lines) + "\n", FAST)
