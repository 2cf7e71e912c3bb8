"""Every row of spec section 7's table, with its edges."""


from pi_service.config import Config
from tests.conftest import make_config
from tests.rules_helpers import kinds, run, timeline

WALK = {"speed_kmh": 5.0, "incline": 1.0, "left": 0.0, "right": 0.0}


def walk_then(*segments, lead=40.0):
    """A session walking at 5 km/h for `lead` s, then the segments."""
    return timeline([(lead, WALK), *segments])


# rail_lean

def test_lean_of_4_9_s_does_not_fire():
    events = run(walk_then((4.9, {"left": 50, "right": 50}), (10, {"left": 0, "right": 0})))
    assert kinds(events, "rail_lean") == []


def test_lean_of_5_s_fires_at_onset_plus_5_and_ends_2_s_after_release():
    events = run(walk_then((8, {"left": 50, "right": 50}), (10, {"left": 10, "right": 10})))
    assert kinds(events, "rail_lean") == [("rail_lean", "start", 45.0), ("rail_lean", "end", 50.0)]


def test_lean_release_needs_total_below_50_n():
    events = run(walk_then((8, {"left": 50, "right": 50}), (10, {"left": 30, "right": 25})))
    assert kinds(events, "rail_lean") == [("rail_lean", "start", 45.0)]


def test_lean_in_the_first_30_s_of_a_session_does_not_fire():
    events = run(timeline([(20, WALK), (9, {"left": 60, "right": 60}), (20, {"left": 0, "right": 0})]))
    assert kinds(events, "rail_lean") == []


def test_lean_straddling_the_grace_period_counts_from_its_end():
    events = run(timeline([(26, WALK), (12, {"left": 60, "right": 60}), (5, {"left": 0, "right": 0})]))
    assert kinds(events, "rail_lean")[0] == ("rail_lean", "start", 35.0)


def test_lean_while_the_belt_is_stopped_does_not_fire():
    events = run(walk_then((70, {"speed_kmh": 0.0}), (10, {"left": 60, "right": 60})))
    assert kinds(events, "rail_lean") == []


def test_lean_threshold_follows_body_weight_when_set():
    heavy = make_config("[rider]\nbody_mass_kg = 100\n")  # 10 % of 100 kg = 98 N
    lean_90 = walk_then((8, {"left": 45, "right": 45}), (5, {"left": 0, "right": 0}))
    assert kinds(run(lean_90, heavy), "rail_lean") == []
    assert kinds(run(lean_90), "rail_lean")[0] == ("rail_lean", "start", 45.0)


def test_one_sample_900_n_spike_fires_nothing():
    samples = walk_then((30, {}))
    spike = samples[5000]
    samples[5000] = type(spike)(spike.t, spike.speed_mps, spike.incline_pct, 900.0, 900.0)
    assert run(samples) == []


def test_empty_rail_field_is_unknown_not_zero():
    segments = [(40, WALK), (2, {"left": 60, "right": 60}), (0.3, {"left": None}), (5, {"left": 60}),
                (5, {"left": 0, "right": 0})]
    events = run(timeline(segments))
    # A gap shorter than 0.5 s is bridged and its time counts (zero would have broken the lean).
    assert ("rail_lean", "start", 45.0) in kinds(events)
    assert kinds(events, "sensor_fault") == []


def test_an_unknown_gap_of_0_5_s_or_more_restarts_the_clock_and_is_its_own_fault():
    segments = [(40, WALK), (2, {"left": 60, "right": 60}), (1, {"left": None}), (5, {"left": 60}),
                (5, {"left": 0, "right": 0})]
    events = run(timeline(segments))
    # The lean's clock builds up again from the first valid sample after the gap: 43 + 5.
    assert kinds(events, "rail_lean")[0] == ("rail_lean", "start", 48.0)
    # ...and the empty channel is a sensor fault of its own, 0.5 s after it began.
    assert ("sensor_fault", "start", 42.5) in kinds(events)
    assert next(e for e in events if e.kind == "sensor_fault").detail == {"channel": "rail_left"}


# rail_hold

def test_hold_fires_after_60_s_and_ends_after_2_s_below_5_n():
    events = run(walk_then((59.5, {"left": 4, "right": 3}), (5, {"left": 0, "right": 0}),
                           (61, {"left": 3, "right": 3}), (5, {"left": 1, "right": 1})))
    assert kinds(events, "rail_hold") == [("rail_hold", "start", 164.5), ("rail_hold", "end", 167.5)]


# steep_incline

def test_incline_of_10_pct_for_15_min_fires_at_the_15th_minute():
    events = run(walk_then((899, {"incline": 10.5}), (3, {"incline": 2})))
    assert kinds(events, "steep_incline") == []
    events = run(walk_then((910, {"incline": 10.5}), (5, {"incline": 2})))
    assert kinds(events, "steep_incline") == [("steep_incline", "start", 940.0), ("steep_incline", "end", 952.0)]


def test_dips_to_9_5_pct_keep_a_steep_streak():
    dips = [(50, {"incline": 11}), (10, {"incline": 9.5})] * 16
    events = run(walk_then(*dips, (5, {"incline": 0})))
    assert kinds(events, "steep_incline")[0] == ("steep_incline", "start", 940.0)


def test_a_dip_below_9_pct_breaks_the_streak():
    events = run(walk_then((600, {"incline": 11}), (1, {"incline": 8.5}), (905, {"incline": 11})))
    # The streak restarts after the dip: 15 min from 641 s, not from 40 s.
    assert kinds(events, "steep_incline") == [("steep_incline", "start", 641.0 + 900)]


def test_incline_of_15_pct_fires_after_5_min_surviving_dips_to_14_5():
    segments = [(100, {"incline": 16}), (5, {"incline": 14.5}), (200, {"incline": 16}), (5, {"incline": 3})]
    events = run(walk_then(*segments))
    assert kinds(events, "steep_incline") == [("steep_incline", "start", 340.0), ("steep_incline", "end", 347.0)]


def test_steep_release_needs_below_9_pct_for_2_s():
    events = run(walk_then((310, {"incline": 16}), (1.5, {"incline": 8}), (10, {"incline": 9.2})))
    assert kinds(events, "steep_incline") == [("steep_incline", "start", 340.0)]


# speed_jump

def test_speed_jump_fires_once_when_speed_rises_2_5_kmh_within_3_s():
    events = run(walk_then((1, {"speed_kmh": 6.5}), (1, {"speed_kmh": 8.0}), (20, {})))
    assert kinds(events, "speed_jump") == [("speed_jump", "instant", 41.0)]


def test_gradual_speed_increase_is_not_a_jump():
    ramp = [(1, {"speed_kmh": 5 + 0.4 * k}) for k in range(1, 12)]  # 0.4 km/h per second
    assert kinds(run(walk_then(*ramp, (5, {}))), "speed_jump") == []


def test_speed_jump_at_most_one_per_10_s():
    events = run(walk_then((5, {"speed_kmh": 8}), (5, {"speed_kmh": 11}), (5, {"speed_kmh": 5}),
                           (1, {"speed_kmh": 8}), (10, {})))
    assert kinds(events, "speed_jump") == [("speed_jump", "instant", 40.0), ("speed_jump", "instant", 55.0)]


def test_one_sample_speed_spike_or_dropout_is_not_a_jump():
    samples = walk_then((20, {}))
    for index, speed in ((1000, 20 / 3.6), (2500, 0.0)):
        s = samples[index]
        samples[index] = type(s)(s.t, speed, s.incline_pct, s.rail_left_n, s.rail_right_n)
    assert kinds(run(samples), "speed_jump") == []


# no_warmup

def test_no_warmup_fires_once_per_session_within_its_first_5_min():
    events = run(timeline([(60, WALK), (10, {"speed_kmh": 7.5}), (10, {"speed_kmh": 5}),
                           (10, {"incline": 6}), (100, {"incline": 1})]))
    assert kinds(events, "no_warmup") == [("no_warmup", "instant", 60.0)]


def test_no_warmup_not_after_5_min_and_again_in_a_new_session():
    events = run(timeline([(310, WALK), (10, {"speed_kmh": 7.5}), (80, {"speed_kmh": 0}),
                           (10, {"speed_kmh": 7.5}), (5, {})]))
    assert kinds(events, "no_warmup") == [("no_warmup", "instant", 400.0)]


# abrupt_stop

def test_stop_from_a_fast_pace_is_abrupt():
    events = run(walk_then((60, {"speed_kmh": 8}), (10, {"speed_kmh": 0})))
    assert kinds(events, "abrupt_stop") == [("abrupt_stop", "instant", 100.0)]


def test_a_cool_down_prevents_abrupt_stop():
    events = run(walk_then((60, {"speed_kmh": 8}), (181, {"speed_kmh": 4}), (10, {"speed_kmh": 0})))
    assert kinds(events, "abrupt_stop") == []


def test_a_short_cool_down_still_counts_as_abrupt():
    events = run(walk_then((60, {"speed_kmh": 8}), (60, {"speed_kmh": 4}), (10, {"speed_kmh": 0})))
    assert kinds(events, "abrupt_stop") == [("abrupt_stop", "instant", 160.0)]


# sensor_fault

def test_out_of_range_for_0_5_s_is_a_fault_until_valid_for_2_s():
    brief = run(walk_then((0.4, {"speed_kmh": 40}), (5, {"speed_kmh": 5})))
    assert kinds(brief, "sensor_fault") == []
    events = run(walk_then((0.6, {"speed_kmh": 40}), (1.5, {"speed_kmh": 5}), (0.3, {"incline": 50}),
                           (1, {"incline": 1}), (0.8, {"incline": 50}), (5, {"incline": 1})))
    faults = [(e.phase, round(e.t, 2), e.detail["channel"]) for e in events if e.kind == "sensor_fault"]
    # 0.3 s out of range is not a fault; 0.8 s is, from 0.5 s after it began.
    assert faults == [("start", 40.5, "speed"), ("end", 42.6, "speed"),
                      ("start", 43.9, "incline"), ("end", 46.2, "incline")]


def test_thresholds_come_from_the_config():
    config = make_config("[rules.rail_lean]\nforce_n = 40\nhold_s = 2\n")
    events = run(walk_then((3, {"left": 25, "right": 20}), (5, {"left": 0, "right": 0})), config)
    assert kinds(events, "rail_lean")[0] == ("rail_lean", "start", 42.0)
    assert Config().rules.rail_lean.force_n == 80
