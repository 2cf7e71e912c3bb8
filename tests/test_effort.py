"""The console's effort numbers (core/effort.py, core/summary.py): ACSM's equations against
figures worked by hand, the walk-run switch, the rail-support correction, and the metres
climbed and calories a session's summary adds up."""

import pytest

from pi_service.core import effort
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.units import STANDARD_GRAVITY, kmh_to_mps


def test_walking_at_5_kmh_on_the_flat_for_70_kg_is_about_248_kcal_an_hour():
    # S = 5000 m / 60 min = 83.33 m/min; VO2 = 3.5 + 0.1 x 83.33 = 11.83 mL/kg/min;
    # x 70 kg = 828.3 mL/min = 0.8283 L/min x 5 kcal/L = 4.14 kcal/min x 60 = 248.5 kcal/h.
    assert effort.gross_vo2(kmh_to_mps(5), 0.0) == pytest.approx(11.833, abs=0.001)
    assert effort.energy_kcal(kmh_to_mps(5), 0.0, None, None, 70.0, 3600) == pytest.approx(248.5, abs=0.1)


def test_acsm_textbook_walk_at_3_5_mph_up_10_percent():
    # ACSM's worked example: 3.5 mph = 93.8 m/min, 10 %: 3.5 + 9.38 + 1.8 x 93.8 x 0.10 (16.88) = 29.76.
    assert effort.gross_vo2(93.8 / 60, 0.10) == pytest.approx(29.76, abs=0.01)


def test_running_at_10_kmh_on_the_flat_for_70_kg_is_about_774_kcal_an_hour():
    # S = 166.67 m/min; VO2 = 3.5 + 0.2 x 166.67 = 36.83; x 70 / 1000 x 5 x 60 = 773.5 kcal/h.
    assert effort.gross_vo2(kmh_to_mps(10), 0.0) == pytest.approx(36.833, abs=0.001)
    assert effort.energy_kcal(kmh_to_mps(10), 0.0, None, None, 70.0, 3600) == pytest.approx(773.5, abs=0.1)
    # Uphill the running equation's grade term is half the walking one's: 0.9 x 166.67 x 0.05 = 7.5.
    assert effort.gross_vo2(kmh_to_mps(10), 0.05) == pytest.approx(36.833 + 7.5, abs=0.001)


def test_the_walking_equation_below_2_m_s_and_the_running_one_from_it():
    assert effort.gross_vo2(1.99, 0.0) == pytest.approx(3.5 + 0.1 * 1.99 * 60)
    assert effort.gross_vo2(2.0, 0.0) == pytest.approx(3.5 + 0.2 * 2.0 * 60)


def test_a_downhill_grade_counts_as_level_and_a_stopped_belt_as_rest():
    assert effort.gross_vo2(1.2, -0.03) == effort.gross_vo2(1.2, 0.0)
    assert effort.gross_vo2(0.0, 0.10) == effort.REST_VO2


def test_the_rails_carry_a_share_of_body_weight_that_lowers_the_effort_above_rest():
    mass = 80.0
    weight = mass * STANDARD_GRAVITY
    gross = effort.gross_vo2(1.4, 0.05)
    assert effort.rail_support(weight / 4, mass) == pytest.approx(0.25)
    assert effort.supported_vo2(1.4, 0.05, weight / 4, mass) == pytest.approx(3.5 + 0.75 * (gross - 3.5))
    assert effort.supported_vo2(1.4, 0.05, 2 * weight, mass) == effort.REST_VO2  # all of it: capped at 1
    assert effort.supported_vo2(1.4, 0.05, -30.0, mass) == pytest.approx(gross)  # a rail's tare below zero
    assert effort.supported_vo2(1.4, 0.05, None, mass) == pytest.approx(gross)  # rails unknown: no correction
    # Both rails count; an unknown one carries nothing.
    both = effort.energy_kcal(1.4, 5.0, weight / 8, weight / 8, mass, 60)
    assert both == pytest.approx(effort.kcal(effort.supported_vo2(1.4, 0.05, weight / 4, mass), mass, 60))
    assert effort.energy_kcal(1.4, 5.0, weight / 4, None, mass, 60) == pytest.approx(both)


def test_the_mass_is_the_riders_or_70_kg():
    assert effort.body_mass_kg(None) == effort.DEFAULT_BODY_MASS_KG == 70.0
    assert effort.body_mass_kg(82.5) == 82.5


def feed(builder, samples):
    builder.start(samples[0].t)
    for sample in samples:
        builder.add_sample(sample)
    return builder.current


def test_a_session_climbs_its_distance_times_the_grade_uphill_only():
    # 100 s at 1.5 m/s on 10 % (150 m, 15 m up), then 100 s down 5 % (nothing), at 10 Hz.
    samples = [Sample(i / 10, 1.5, 10.0 if i < 1000 else -5.0, 0.0, 0.0) for i in range(2001)]
    summary = feed(SummaryBuilder(10.0), samples)
    assert summary.distance_m == pytest.approx(300.0)
    assert summary.elevation_gain_m == pytest.approx(15.0)
    assert summary.to_dict()["elevation_gain_m"] == 15.0


def test_a_session_adds_up_its_calories_while_the_belt_moves_with_the_riders_mass():
    # 60 s walking at 5 km/h on the flat (4.14 kcal/min for 70 kg, 4.73 for 80 kg), then 60 s
    # standing on the stopped belt (nothing), an unknown incline as level.
    samples = [Sample(i / 10, kmh_to_mps(5) if i < 600 else 0.0, None, 0.0, 0.0) for i in range(1201)]
    for mass, per_min in ((70.0, 4.1417), (80.0, 4.7333)):
        summary = feed(SummaryBuilder(10.0, body_mass_kg=mass), samples)
        assert summary.energy_kcal == pytest.approx(per_min, abs=0.001)
        assert summary.to_dict()["energy_kcal"] == round(per_min, 1)


def test_leaning_on_the_rails_with_half_the_body_weight_halves_the_calories_above_rest():
    mass = 70.0
    free = feed(SummaryBuilder(10.0), [Sample(i / 10, 1.4, 5.0, 0.0, 0.0) for i in range(601)])
    leaning = feed(SummaryBuilder(10.0), [Sample(i / 10, 1.4, 5.0, mass * STANDARD_GRAVITY / 4,
                                                 mass * STANDARD_GRAVITY / 4) for i in range(601)])
    rest = effort.kcal(effort.REST_VO2, mass, 60)
    assert leaning.energy_kcal - rest == pytest.approx((free.energy_kcal - rest) / 2)
