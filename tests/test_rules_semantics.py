"""Spec 7.1, "how the table reads": the noise rule on every condition, hysteresis on
confirmed states, unknown gaps, out-of-range values, sessions, and the rider's weight."""

from dataclasses import replace

from tests.conftest import make_config
from tests.rules_helpers import kinds, run, timeline

WALK = {"speed_kmh": 5.0, "incline": 1.0, "left": 0.0, "right": 0.0}
STEEP = make_config("[rules.steep_incline]\nhold_s = 60\nvery_steep_hold_s = 60\n")


def walk_then(*segments, lead=40.0):
    return timeline([(lead, WALK), *segments])


def with_sample(samples, t, **values):
    """`samples` with the sample nearest `t` changed: one noisy reading."""
    index = min(range(len(samples)), key=lambda i: abs(samples[i].t - t))
    samples = list(samples)
    samples[index] = replace(samples[index], **values)
    return samples


# Hysteresis switches on the confirmed state, never on one raw sample.

def test_one_noisy_sample_below_9_pct_in_a_dip_to_9_4_does_not_break_a_streak():
    samples = walk_then((30, {"incline": 11}), (10, {"incline": 9.4}), (40, {"incline": 11}), (5, {"incline": 2}))
    samples = with_sample(samples, 75.0, incline_pct=8.7)
    assert kinds(run(samples, STEEP), "steep_incline")[0] == ("steep_incline", "start", 100.0)


def test_a_dip_below_9_pct_that_lasts_breaks_the_streak():
    samples = walk_then((30, {"incline": 11}), (0.5, {"incline": 8.7}), (80, {"incline": 11}), (5, {"incline": 2}))
    assert kinds(run(samples, STEEP), "steep_incline")[0] == ("steep_incline", "start", 70.5 + 60)


def test_one_sample_above_10_pct_on_a_9_5_climb_starts_no_streak():
    samples = walk_then((20, {"incline": 9.5}), (80, {"incline": 9.5}), (5, {"incline": 2}))
    samples = with_sample(samples, 60.0, incline_pct=10.6)
    assert kinds(run(samples, STEEP), "steep_incline") == []


def test_the_noise_rule_holds_for_each_comparison_of_the_lean_on_its_own():
    # The belt blips to a stop for one sample mid-lean: the lean goes on.
    samples = walk_then((8, {"left": 50, "right": 50}), (5, {"left": 0, "right": 0}))
    samples = with_sample(samples, 42.0, speed_mps=0.0)
    assert kinds(run(samples), "rail_lean")[0] == ("rail_lean", "start", 45.0)


# Unknown is not evidence.

def test_120_n_for_1_s_then_20_s_of_empty_rails_raises_no_lean():
    samples = walk_then((1, {"left": 60, "right": 60}), (20, {"left": None, "right": None}),
                        (5, {"left": 0, "right": 0}))
    events = run(samples)
    assert kinds(events, "rail_lean") == []
    assert [e.detail["channel"] for e in events if e.kind == "sensor_fault" and e.phase == "start"] == \
        ["rail_left", "rail_right"]


def test_a_gap_under_0_5_s_is_bridged_and_its_time_counts():
    samples = walk_then((4.6, {"left": 60, "right": 60}), (0.45, {"left": None}), (3, {"left": 60}),
                        (5, {"left": 0, "right": 0}))
    assert kinds(run(samples), "rail_lean")[0] == ("rail_lean", "start", 45.0)


def test_a_gap_of_0_5_s_or_more_builds_the_clock_up_again_from_the_next_valid_sample():
    samples = walk_then((4.6, {"left": 60, "right": 60}), (0.6, {"left": None}), (8, {"left": 60}),
                        (5, {"left": 0, "right": 0}))
    assert kinds(run(samples), "rail_lean")[0] == ("rail_lean", "start", 50.2)


def test_no_gap_ends_an_active_interval():
    samples = walk_then((8, {"left": 60, "right": 60}), (20, {"left": None, "right": None}),
                        (1.5, {"left": 0, "right": 0}), (0.4, {"left": None, "right": None}),
                        (3, {"left": 0, "right": 0}))
    lean = kinds(run(samples), "rail_lean")
    # Raised at 45; the empty rails end nothing; release needs 2 s of valid low force: from
    # 68 s, bridging the short gap at 69.5 s (its time counts).
    assert lean == [("rail_lean", "start", 45.0), ("rail_lean", "end", 70.0)]


def test_a_long_gap_restarts_a_release_under_way():
    samples = walk_then((8, {"left": 60, "right": 60}), (1.5, {"left": 0, "right": 0}),
                        (0.6, {"left": None}), (3, {"left": 0}))
    assert kinds(run(samples), "rail_lean") == [("rail_lean", "start", 45.0), ("rail_lean", "end", 52.1)]


def test_a_value_out_of_range_is_unknown_for_every_rule():
    # 2500 N is beyond the rail's 2000 N range: no lean and no hold, but a sensor fault.
    samples = walk_then((70, {"left": 2500, "right": 2500}), (5, {"left": 0, "right": 0}))
    events = run(samples)
    assert kinds(events, "rail_lean") == [] and kinds(events, "rail_hold") == []
    assert {e.detail["channel"] for e in events if e.kind == "sensor_fault"} == {"rail_left", "rail_right"}
    # 40 km/h is beyond the speed range: it starts no session and makes no jump.
    fast = run(timeline([(10, {"speed_kmh": 40.0}), (5, {"speed_kmh": 0.0})]))
    assert [e.kind for e in fast if e.kind != "sensor_fault"] == []


# Sessions: the noise rule at start and end.

def sessions_of(samples, config=None):
    from pi_service.config import Config
    from pi_service.core.engine import RuleEngine

    engine = RuleEngine(config or Config())
    started = []
    for sample in samples:
        engine.update(sample)
        current = engine.sessions.current
        if current is not None and (not started or started[-1] != current.started_t):
            started.append(current.started_t)
    return started, engine


def test_one_glitch_sample_at_walking_speed_starts_no_session():
    samples = with_sample(timeline([(20, {"speed_kmh": 0.0})]), 10.0, speed_mps=1.0 / 3.6)
    started, engine = sessions_of(samples)
    assert started == [] and engine.sessions.current is None


def test_a_session_begins_at_the_first_sample_of_a_run_of_0_2_s():
    started, _ = sessions_of(timeline([(5, {"speed_kmh": 0.0}), (0.15, {"speed_kmh": 1.0}),
                                       (3, {"speed_kmh": 0.0}), (0.25, {"speed_kmh": 1.0}), (5, {})]))
    assert started == [8.15]


def test_a_blip_of_speed_in_a_stop_does_not_restart_the_end_clock():
    samples = timeline([(30, WALK), (70, {"speed_kmh": 0.0})])
    samples = with_sample(samples, 60.0, speed_mps=2.0)
    _, engine = sessions_of(samples)
    assert engine.sessions.current is None  # ended at 90 s: 60 s below, the blip was noise
    assert [(s.started_t, s.ended_t) for s in engine.ended] == [(0.0, 30.0)]


def test_a_long_speed_gap_stops_the_end_clock_and_ends_no_session():
    samples = timeline([(30, WALK), (5, {"speed_kmh": 0.0}), (100, {"speed_kmh": None}),
                        (30, {"speed_kmh": 0.0})])
    _, engine = sessions_of(samples)
    assert engine.sessions.current is not None  # 35 s below, of which only 30 after the gap
    _, engine = sessions_of(samples + timeline([(31, {"speed_kmh": 0.0})], start=165.0))
    assert engine.sessions.current is None


# The rider's weight.

def test_a_45_kg_riders_lean_raises_once_and_does_not_flap():
    light = make_config("[rider]\nbody_mass_kg = 45\n")  # 10 % of 45 kg: 44.1 N; release 27.6 N
    events = run(walk_then((60, {"left": 24, "right": 23}), (5, {"left": 15, "right": 10}),
                           (5, {"left": 0, "right": 0})), light)
    assert kinds(events, "rail_lean") == [("rail_lean", "start", 45.0), ("rail_lean", "end", 102.0)]


def test_the_release_scales_with_a_heavier_riders_threshold():
    heavy = make_config("[rider]\nbody_mass_kg = 120\n")  # 117.7 N; release 73.5 N
    events = run(walk_then((8, {"left": 65, "right": 65}), (5, {"left": 40, "right": 38}),
                           (5, {"left": 30, "right": 30})), heavy)
    # 78 N is above the scaled 73.5 N release, so the lean stands until 60 N.
    assert kinds(events, "rail_lean") == [("rail_lean", "start", 45.0), ("rail_lean", "end", 55.0)]


# speed_jump keeps the noise and gap rules too.

def test_one_speed_sample_after_a_short_gap_is_no_sustained_speed_and_no_jump():
    samples = walk_then((5, {"speed_kmh": 3.0}), (0.25, {"speed_kmh": None}), (0.01, {"speed_kmh": 6.0}),
                        (5, {"speed_kmh": 3.0}))
    assert kinds(run(samples), "speed_jump") == []


def test_no_speed_jump_is_measured_across_a_long_gap():
    samples = walk_then((5, {"speed_kmh": 3.0}), (2, {"speed_kmh": None}), (5, {"speed_kmh": 6.0}))
    assert kinds(run(samples), "speed_jump") == []
    # ...while across a short one the rise is a jump, dated when the speed got there.
    samples = walk_then((5, {"speed_kmh": 3.0}), (0.3, {"speed_kmh": None}), (5, {"speed_kmh": 6.0}))
    assert kinds(run(samples), "speed_jump") == [("speed_jump", "instant", 45.3)]
