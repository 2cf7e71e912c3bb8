"""signals/incline.py: the incline from a gravity vector, held through jolts, a fault when no
reading is near 1 g for half a second."""

import math

import pytest

from pi_service.config import Config
from pi_service.errors import HardwareError
from pi_service.signals.incline import IMPLAUSIBLE_FAULT_S, InclineEstimate
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


def test_a_footstrike_jolt_holds_the_last_incline_and_only_half_a_second_of_them_is_a_fault():
    incline = Config().incline
    estimate = InclineEstimate(0.0)
    estimate.update(0.0, gravity(5.0), incline)
    jolt = (0.0, 0.0, 3 * STANDARD_GRAVITY)
    assert estimate.update(0.01, jolt, incline) == pytest.approx(5.0)
    assert estimate.update(0.02, gravity(6.0), incline) == pytest.approx(6.0)  # the jolt forgotten
    t = 0.03
    with pytest.raises(HardwareError, match=r"reads 3\.00 g, not about 1 g"):
        while t < 0.03 + IMPLAUSIBLE_FAULT_S + 0.02:
            assert estimate.update(t, jolt, incline) == pytest.approx(6.0)
            t += 0.01
    assert t >= 0.03 + IMPLAUSIBLE_FAULT_S - 1e-9


def test_the_low_pass_follows_a_step_with_its_time_constant_and_starts_afresh_after_a_reset():
    incline = Config().incline
    estimate = InclineEstimate(1.0)
    estimate.update(0.0, gravity(0.0), incline)
    assert estimate.update(1.0, gravity(10.0), incline) == pytest.approx(10.0 * (1 - math.exp(-1)), rel=1e-6)
    estimate.reset()
    assert estimate.update(2.0, gravity(10.0), incline) == pytest.approx(10.0)
