"""The rules' contract (core/rules/contract.py), for every rule the engine runs, each alone:
replay's fast path over blocks of samples gives exactly the events of feeding every sample.

Each rule runs in an engine of its own, so no other rule's watches or wakes can cover for
one it forgot; only the session tracker every engine has is beside it (the rules read its
start), so a rule's watch that is the session's own (rail_lean's "belt moving", which is
by design the session's start speed) is covered in every engine and cannot be told
forgotten here. The rules are taken from the engine's own list, so a new rule is checked
without anyone adding it here, under each config that changes what it watches. The
samples sit at, just either side of, and anywhere around the rule's thresholds and every
other one, with noise, unknown values, blank stretches, gaps and repeated times."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_service.core.advice import MESSAGES
from pi_service.core.engine import RuleEngine, standard_rules
from pi_service.core.events import INTERVAL_KINDS
from pi_service.core.fastforward import FastForward
from pi_service.core.rules.contract import QUANTITIES, Rule, WindowedRule
from pi_service.core.sample import Sample
from tests.test_rules_properties import FAST

KINDS = [rule.kind for rule in standard_rules(FAST)]
# A rider's mass sets rail_lean's threshold from body weight instead of the config's force.
HEAVY = FAST.model_copy(update={"rider": FAST.rider.model_copy(update={"body_mass_kg": 95.0})})
CONFIGS = {"fast": FAST, "heavy": HEAVY}
CASES = [("fast", kind) for kind in KINDS] + [
    ("heavy", rule.kind) for rule, plain in zip(standard_rules(HEAVY), standard_rules(FAST))
    if rule.watches() != plain.watches()]
CHANNELS = ("speed_mps", "incline_pct", "rail_left_n", "rail_right_n", "cadence_spm")
SPREAD = {"speed_mps": (0.0, 9.0), "incline_pct": (-2.0, 20.0), "rail_left_n": (-5.0, 120.0),
          "rail_right_n": (-5.0, 120.0), "cadence_spm": (0.0, 200.0)}


def alone(kind: str, config=FAST) -> RuleEngine:
    return RuleEngine(config, rules=[rule for rule in standard_rules(config) if rule.kind == kind])


def levels(kind: str, config=FAST) -> dict[str, list[float]]:
    """Per channel: the values at and a hair either side of each threshold, the rule's own
    watches first (listed twice, so they come up more often), then every watch in the engine."""
    own = [pair for rule in alone(kind, config).rules for pair in rule.watches()]
    out: dict[str, list[float]] = {channel: [] for channel in CHANNELS}
    for quantity, value in own + own + RuleEngine(config).watches():
        for level in (value - 1e-3, value, value + 1e-3):
            if quantity == "total_n":
                out["rail_left_n"].append(level / 2)
                out["rail_right_n"].append(level / 2)
            else:
                out[quantity].append(level)
    return out


def ride(kind: str, seed: int, rate_hz: float, segments: int, config=FAST) -> tuple[np.ndarray, ...]:
    """(t, speed, incline, left, right, cadence), NaN for unknown."""
    rng = random.Random(seed)
    near = levels(kind, config)
    rows: list[list[float]] = []
    t = 100.0
    for _ in range(segments):
        seconds = rng.choice([0.15, 0.3, 0.45, 0.55, 1.0, 2.0, 4.0, 7.0, 12.0, 25.0])
        level = {}
        for channel in CHANNELS:
            choices = near[channel]
            if choices and rng.random() < 0.6:
                level[channel] = rng.choice(choices)
            else:
                level[channel] = rng.uniform(*SPREAD[channel])
        noise = rng.choice([0.0, 0.0, 0.001, 0.3, 2.0])
        unknown = rng.choice([0.0, 0.0, 0.05, 0.6])
        blank = rng.choice([(), (), (), ("speed_mps",), ("incline_pct",), ("rail_left_n",), ("cadence_spm",),
                            CHANNELS])
        if rng.random() < 0.1:
            t += rng.choice([0.3, 0.6, 3.0])  # no samples at all for a while
        end = t + seconds
        while t < end:
            t += rng.uniform(0.5, 1.5) / rate_hz if rng.random() > 0.02 else 0.0  # repeated times too
            row = [t]
            for channel in CHANNELS:
                if channel in blank or rng.random() < unknown:
                    row.append(float("nan"))
                else:
                    row.append(level[channel] + rng.gauss(0, noise))
            rows.append(row)
    table = np.array(rows)
    return tuple(np.ascontiguousarray(table[:, i]) for i in range(1 + len(CHANNELS)))


def every_sample(kind: str, columns, config=FAST) -> list[dict]:
    engine = alone(kind, config)
    events = []
    for row in zip(*(column.tolist() for column in columns)):
        events += engine.update(Sample(row[0], *(None if v != v else v for v in row[1:])))
    return [e.to_dict() for e in events]


def fast_forwarded(kind: str, columns, cuts: list[int], handover_at: int | None, config=FAST) -> list[dict]:
    """Fed in blocks that end at `cuts`; from block `handover_at` on, sample by sample."""
    engine = alone(kind, config)
    fast = FastForward(engine)
    events = []
    n = len(columns[0])
    bounds = [0] + sorted({min(cut, n) for cut in cuts}) + [n]
    handed_over = False
    for number, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        if start == stop:
            continue
        block = tuple(column[start:stop] for column in columns)
        if handover_at is not None and number >= handover_at:
            if not handed_over:
                fast.handover()
                handed_over = True
            for row in zip(*(column.tolist() for column in block)):
                events += engine.update(Sample(row[0], *(None if v != v else v for v in row[1:])))
        else:
            events += fast.feed(*block)
    return [e.to_dict() for e in events]


def test_every_rule_the_engine_runs_is_typed_by_the_contract():
    engine = RuleEngine(FAST)
    # One rule per kind, and one for every kind the nudges and the page have words for.
    assert sorted(rule.kind for rule in engine.rules) == sorted(set(KINDS)) == sorted(MESSAGES)
    assert [kind for name, kind in CASES if name == "heavy"] == ["rail_lean"]
    for rule in engine.rules:
        assert isinstance(rule, Rule), rule
        assert all(quantity in QUANTITIES and value == value for quantity, value in rule.watches()), rule.kind
    windowed = [rule for rule in engine.rules if isinstance(rule, WindowedRule)]
    assert [rule.kind for rule in windowed] == ["speed_jump"] and engine.windowed is windowed[0]
    # Found by its type, wherever it is in the list.
    assert RuleEngine(FAST, rules=list(reversed(standard_rules(FAST)))).windowed.kind == "speed_jump"


@pytest.mark.parametrize("config, kind", CASES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), rate_hz=st.sampled_from([10.0, 50.0, 200.0]), segments=st.integers(1, 14),
       cuts=st.lists(st.integers(0, 4000), max_size=6), handover_at=st.none() | st.integers(0, 6))
def test_each_rule_alone_fast_forwards_to_the_events_of_every_sample(config, kind, seed, rate_hz, segments, cuts,
                                                                    handover_at):
    config = CONFIGS[config]
    columns = ride(kind, seed, rate_hz, segments, config)
    assert fast_forwarded(kind, columns, cuts, handover_at, config) == every_sample(kind, columns, config)


@pytest.mark.parametrize("config, kind", CASES)
def test_each_rule_alone_raises_its_events_on_a_long_ride_and_fast_forward_agrees(config, kind):
    config = CONFIGS[config]
    columns = ride(kind, 11, 100.0, 120, config)
    expected = every_sample(kind, columns, config)
    # The comparison below is not vacuous: the rule starts and ends intervals, or fires.
    phases = {"start", "end"} if kind in INTERVAL_KINDS else {"instant"}
    assert {(e["kind"], e["phase"]) for e in expected} == {(kind, phase) for phase in phases}
    n = len(columns[0])
    assert fast_forwarded(kind, columns, [n // 7 * k for k in range(1, 7)], None, config) == expected


def test_a_climb_confirmed_before_the_belt_starts_is_not_lost_by_fast_forward():
    """Found by the test above: no_warmup said it could not change before a session, so the
    fast path skipped the sample that confirmed the climb, and the session that began while
    the incline was unreadable got no warning."""
    t = np.round(np.arange(100.0, 105.0, 0.02), 3)
    before = t < 104.0
    nan = np.full(len(t), np.nan)
    speed = np.where(before, np.nan, 1.0)  # the belt sensor unreadable, then the belt running
    incline = np.where(before, 7.0, np.nan)  # steep, then the incline unreadable
    columns = (t, speed, incline, nan.copy(), nan.copy())
    expected = every_sample("no_warmup", columns)
    assert [(e["kind"], e["t"]) for e in expected] == [("no_warmup", 104.0)]
    assert fast_forwarded("no_warmup", columns, [], None) == expected
