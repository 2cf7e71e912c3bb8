"""Property tests: the rules do not depend on sample rate or jitter, and replay takes any valid file."""

import io
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_service.replay import RecordingError, replay_file
from tests.conftest import make_config
from tests.rules_helpers import run, timeline

# Shortened timings so short timelines exercise every rule. Segments last multiples of
# 3 s and no timing below is one, so no comparison sits exactly on a boundary.
FAST = make_config("""
[rules]
session_end_s = 10
[rules.rail_lean]
session_grace_s = 5
[rules.rail_hold]
hold_s = 10
[rules.steep_incline]
hold_s = 20
very_steep_hold_s = 10
[rules.no_warmup]
window_s = 31
[rules.abrupt_stop]
lookback_s = 20
[rules.unattended_belt]
hold_s = 8
[rules.overstride]
hold_s = 10
release_cadence_s = 4
""")

segment = st.tuples(
    st.integers(1, 4).map(lambda k: 3.0 * k),
    st.fixed_dictionaries({
        "speed_kmh": st.sampled_from([0.0, 3.0, 5.0, 8.0, 11.0, None]),
        "incline": st.sampled_from([0.0, 3.0, 9.5, 12.0, 16.0, None]),
        "left": st.sampled_from([0.0, 3.0, 30.0, 60.0, None]),
        "right": st.sampled_from([0.0, 3.0, 30.0, 60.0]),
    }),
)


def signature(events):
    return [(e.kind, e.phase, e.detail.get("channel")) for e in events]


def by_kind(events):
    """Events of different kinds at the same instant may come in either order: compare per kind."""
    return sorted(events, key=lambda e: (e.kind, e.detail.get("channel") or "", e.t))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=2, max_size=7), st.integers(0, 10_000))
def test_events_do_not_depend_on_sample_rate_or_jitter(segments, seed):
    slow = by_kind(run(timeline(segments, rate_hz=20), FAST))
    fast = by_kind(run(timeline(segments, rate_hz=100, jitter=0.3, seed=seed), FAST))
    assert signature(slow) == signature(fast)
    period = 1 / 20
    for a, b in zip(slow, fast):
        assert abs(a.t - b.t) <= period + 0.01, (a, b)


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
cell = st.one_of(st.just(""), finite.map(repr))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.5), cell, cell, cell, cell, st.booleans()), max_size=300))
def test_replay_never_crashes_on_a_valid_file(rows):
    lines = ["t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,extra"]
    t = 1000.0
    for step, *fields, extra in rows:
        t += step
        lines.append(",".join([repr(t), *fields] + (["x"] if extra else [])))
    out = io.StringIO()
    with tempfile.NamedTemporaryFile("w", suffix=".csv") as file:
        file.write("\n".join(lines) + "\n")
        file.flush()
        replay_file(file.name, make_config(""), out)
    for line in out.getvalue().splitlines():
        assert line.startswith('{"t": ')


def test_replay_rejects_time_going_backwards(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("t_s,speed_mps,incline_pct,rail_left_n,rail_right_n\n1.0,1,1,1,1\n0.5,1,1,1,1\n")
    with pytest.raises(RecordingError) as caught:
        replay_file(str(path), make_config(""), io.StringIO())
    assert str(caught.value).startswith(f"{path}:3: column t_s: 0.5 is earlier than the row before")
