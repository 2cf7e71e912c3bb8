"""signals/incline.py: the incline from the low-passed gravity vector, which footstrike jolts
average out of, a fault when no reading is near 1 g for half a second."""

import math

import pytest

from pi_service.config import Config
from pi_service.errors import HardwareError
from pi_service.signals.incline import IMPLAUSIBLE_FAULT_S, SETTLE_S, InclineEstimate
from pi_service.units import STANDARD_GRAVITY


def gravity(grade_pct):
    pitch = math.atan(grade_pct / 100)
    return (STANDARD_GRAVITY * math.sin(pitch), 0.0, STANDARD_GRAVITY * math.cos(pitch))


def test_a_deck_at_rest_reads_its_grade_through_the_calibration():
    incline = Config().incline.model_copy(update={"smoothing_s": 0.0})
    estimate = InclineEstimate(0.0)
    assert estimate.update(0.0, gravity(8.0), incline) == pytest.approx(8.0, abs=1e-9)
    spanned = incline.model_copy(update={"span": 1.1})
    assert estimate.update(0.01, gravity(8.0), spanned) == pytest.approx(8.8, abs=1e-9)


def test_footstrike_jolts_average_out_of_the_vector_and_only_half_a_second_of_misreadings_is_a_fault():
    incline = Config().incline
    estimate = InclineEstimate(0.5)
    assert estimate.update(0.0, (0.0, 0.0, 3 * STANDARD_GRAVITY), incline) is None  # no vector to start from
    x, y, z = gravity(5.0)
    t = 0.0
    for k in range(4000):  # 10 s at 400 Hz, a zero-mean jolt of +2 g then -1 g every 0.4 s
        phase = k % 160
        bump = 2.0 if phase == 0 else -1.0 if phase in (1, 2) else 0.0
        t = k / 400
        reading = estimate.update(t, (x, y, z + bump * STANDARD_GRAVITY), incline)
    assert reading == pytest.approx(5.0, abs=0.05)
    with pytest.raises(HardwareError, match=r"reads 3\.00 g, not about 1 g"):
        start = t
        while t < start + IMPLAUSIBLE_FAULT_S + 0.02:
            t += 0.01
            estimate.update(t, (0.0, 0.0, 3 * STANDARD_GRAVITY), incline)
    assert t >= start + IMPLAUSIBLE_FAULT_S - 1e-9


def test_a_reading_of_a_tilted_vector_after_a_jolt_is_not_held_at_the_jolt():
    incline = Config().incline
    estimate = InclineEstimate(0.0)  # no smoothing: each reading is the vector
    estimate.update(0.0, gravity(5.0), incline)
    assert estimate.update(0.02, gravity(6.0), incline) == pytest.approx(6.0)


def test_the_low_pass_follows_a_step_with_its_time_constant_and_starts_afresh_after_a_reset():
    incline = Config().incline
    estimate = InclineEstimate(1.0)
    estimate.update(0.0, gravity(0.0), incline)
    # Each axis low-passed, then the grade of the vector: x and z each move 1 - 1/e of the way.
    alpha = 1 - math.exp(-1)
    (x0, _, z0), (x1, _, z1) = gravity(0.0), gravity(10.0)
    expected = 100 * (x0 + alpha * (x1 - x0)) / (z0 + alpha * (z1 - z0))
    assert estimate.update(1.0, gravity(10.0), incline) == pytest.approx(expected, rel=1e-6)
    estimate.reset()
    # Afresh: nothing until the readings cover SETTLE_S (one may be a jolt), then their mean.
    assert estimate.update(2.0, gravity(10.0), incline) is None
    assert estimate.update(2.0 + SETTLE_S, gravity(12.0), incline) == pytest.approx(11.0, abs=0.02)
