"""unattended_belt and overstride (spec 7, 7.1) on recordings: their timing, their releases,
unknown and absent footstrike columns, and replay's fast path giving the same events."""

import numpy as np
import pytest

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.fastforward import FastForward
from tests.rules_helpers import kinds, run, timeline

FOOTSTRIKE_KINDS = ("unattended_belt", "overstride")


def footstrike_events(samples, config=None):
    return [e for e in run(samples, config) if e.kind in FOOTSTRIKE_KINDS]


def fast_forwarded(samples, config=None, with_columns=True, block=997):
    """The same samples through replay's fast path, in blocks, as replay feeds a recording."""
    engine = RuleEngine(config or Config())
    fast = FastForward(engine)
    nan = float("nan")
    columns = [np.array([nan if v is None else v for v in values], dtype=float) for values in zip(*(
        (s.t, s.speed_mps, s.incline_pct, s.rail_left_n, s.rail_right_n, s.cadence_spm, s.footstrike_g)
        for s in samples))]
    events = []
    for start in range(0, len(samples), block):
        part = [column[start:start + block] for column in columns]
        if with_columns:
            events += fast.feed(*part[:5], cadence=part[5], footstrike=part[6])
        else:
            events += fast.feed(*part[:5])
    return events


def test_a_moving_belt_without_footstrikes_for_20_s_raises_the_alarm_dated_when_they_stopped():
    samples = timeline([(10, {"speed_kmh": 5.0, "cadence": 112.0}), (40, {"cadence": 0.0}),
                        (10, {"cadence": 115.0})])
    events = footstrike_events(samples)
    assert kinds(events) == [("unattended_belt", "start", 30.0), ("unattended_belt", "end", 52.0)]
    assert events[0].level == "alarm"
    assert "safety key" in events[0].message


def test_the_alarm_ends_when_the_belt_stops_even_with_nobody_back_on_it():
    samples = timeline([(5, {"speed_kmh": 6.0, "cadence": 120.0}), (30, {"cadence": 0.0}),
                        (10, {"speed_kmh": 0.0})])
    assert kinds(footstrike_events(samples)) == [("unattended_belt", "start", 25.0), ("unattended_belt", "end", 37.0)]


def test_no_alarm_while_the_belt_is_stopped_or_someone_walks_or_nobody_for_under_20_s():
    stopped = timeline([(60, {"speed_kmh": 0.0, "cadence": 0.0})])
    walking = timeline([(120, {"speed_kmh": 4.0, "cadence": 110.0})])
    brief = timeline([(5, {"speed_kmh": 4.0, "cadence": 110.0}), (19.5, {"cadence": 0.0}),
                      (10, {"cadence": 110.0}), (19.5, {"cadence": 0.0}), (5, {"cadence": 110.0})])
    for samples in (stopped, walking, brief):
        assert footstrike_events(samples) == []


def test_a_recording_without_the_footstrike_columns_raises_neither_rule():
    # Belt running at 10 km/h for 10 minutes: cadence None throughout is never evidence.
    samples = timeline([(600, {"speed_kmh": 10.0})], rate_hz=20)
    assert samples[0].cadence_spm is None
    assert footstrike_events(samples) == []
    assert [e for e in fast_forwarded(samples, with_columns=False) if e.kind in FOOTSTRIKE_KINDS] == []


def test_unknown_cadence_shorter_than_the_fault_time_is_bridged_and_a_longer_one_restarts_the_clock():
    bridged = timeline([(5, {"speed_kmh": 5.0, "cadence": 110.0}), (10, {"cadence": 0.0}),
                        (0.4, {"cadence": None}), (15, {"cadence": 0.0})])
    assert kinds(footstrike_events(bridged)) == [("unattended_belt", "start", 25.0)]
    broken = timeline([(5, {"speed_kmh": 5.0, "cadence": 110.0}), (10, {"cadence": 0.0}),
                       (1.0, {"cadence": None}), (21, {"cadence": 0.0})])
    # The clock builds up again from the first known sample after the gap, at 16 s.
    assert kinds(footstrike_events(broken)) == [("unattended_belt", "start", 36.0)]


def test_no_gap_ends_an_active_alarm():
    samples = timeline([(5, {"speed_kmh": 5.0, "cadence": 110.0}), (25, {"cadence": 0.0}),
                        (5, {"cadence": None}), (10, {"cadence": 0.0})])
    assert kinds(footstrike_events(samples)) == [("unattended_belt", "start", 25.0)]


def test_an_out_of_range_cadence_is_unknown_not_a_footstrike():
    samples = timeline([(5, {"speed_kmh": 5.0, "cadence": 110.0}), (25, {"cadence": 0.0}),
                        (5, {"cadence": 999.0})])
    # 999 spm is no reading: it neither ends the alarm nor counts as a step.
    assert kinds(footstrike_events(samples)) == [("unattended_belt", "start", 25.0)]


def test_long_slow_strides_at_running_speed_for_a_minute_raise_overstride():
    samples = timeline([(10, {"speed_kmh": 9.0, "cadence": 160.0}), (70, {"cadence": 140.0}),
                        (15, {"cadence": 158.0})])
    events = footstrike_events(samples)
    assert kinds(events) == [("overstride", "start", 70.0), ("overstride", "end", 90.0)]
    assert events[0].level == "warning" and "quicker steps" in events[0].message


def test_overstride_ends_after_2_s_below_7_5_km_h_before_quick_steps_complete_10_s():
    samples = timeline([(65, {"speed_kmh": 10.0, "cadence": 140.0}), (1, {"cadence": 160.0}),
                        (5, {"speed_kmh": 7.0})])
    assert kinds(footstrike_events(samples)) == [("overstride", "start", 60.0), ("overstride", "end", 68.0)]


def test_overstride_needs_both_speed_and_slow_cadence_and_a_cadence_of_0_is_not_a_stride():
    slow_walk = timeline([(120, {"speed_kmh": 7.9, "cadence": 120.0})])
    quick_run = timeline([(120, {"speed_kmh": 12.0, "cadence": 150.0})])
    nobody = timeline([(120, {"speed_kmh": 12.0, "cadence": 0.0})])
    assert footstrike_events(slow_walk) == footstrike_events(quick_run) == []
    assert {e.kind for e in footstrike_events(nobody)} == {"unattended_belt"}


def test_a_cadence_between_150_and_155_neither_starts_nor_ends_overstride():
    samples = timeline([(70, {"speed_kmh": 9.0, "cadence": 140.0}), (60, {"cadence": 152.0})])
    assert kinds(footstrike_events(samples)) == [("overstride", "start", 60.0)]
    assert footstrike_events(timeline([(120, {"speed_kmh": 9.0, "cadence": 152.0})])) == []


@pytest.mark.parametrize("rate_hz, jitter", [(100.0, 0.0), (37.0, 0.4), (200.0, 0.3)])
def test_fast_forward_gives_the_events_of_every_sample_on_a_run_with_both_rules(rate_hz, jitter):
    samples = timeline([(5, {"speed_kmh": 3.0, "cadence": 105.0}), (40, {"speed_kmh": 9.5, "cadence": 145.0}),
                        (30, {"cadence": 148.0}), (0.3, {"cadence": None}), (12, {"cadence": 160.0}),
                        (3, {"cadence": 153.0}), (70, {"cadence": 140.0}), (25, {"cadence": 0.0}),
                        (0.1, {"cadence": 130.0}), (24, {"cadence": 0.0}), (4, {"speed_kmh": 0.0})],
                       rate_hz=rate_hz, jitter=jitter, seed=3)
    every = run(samples)
    assert {e.kind for e in every} >= set(FOOTSTRIKE_KINDS)
    assert [e.to_dict() for e in fast_forwarded(samples)] == [e.to_dict() for e in every]
