"""The console's effort numbers from the belt, pure: oxygen uptake and calories by ACSM's
walking and running equations, lowered by the share of body weight the rails carry.

ACSM's Guidelines for Exercise Testing and Prescription (10th ed., table 6.3; as laid out by
Bushman, ACSM's Health & Fitness Journal 24(3), 2020), gross VO2 in mL/kg/min, S the belt
speed in m/min, G the grade as a fraction:
- walking  3.5 + 0.1 S + 1.8 S G   (stated for 50-100 m/min, and faster if truly walking)
- running  3.5 + 0.2 S + 0.9 S G   (stated for > 134 m/min, and slower if truly running)
Between the two ACSM says to take the equation of the gait the person is using. The belt
does not tell us the gait, so the speed picks it: adults walk below about 2.0 m/s and run
above it (the preferred walk-run transition speed, Hreljac, Med Sci Sports Exerc 25, 1993).
A litre of O2 is taken as 5.0 kcal, ACSM's rounding.

Holding the rails lowers the real effort (Berling, Foster et al., J Cardiopulm Rehabil 26,
2006: 15-21 % less VO2 gripping the rails at the same speed and grade). The equations know
nothing of it, so the part above rest is scaled by the share of body weight the rails carry
(their downward force over m g, within [0, 1]); docs/web.md compares the two.
"""

from __future__ import annotations

from pi_service.units import STANDARD_GRAVITY

DEFAULT_BODY_MASS_KG = 70.0  # calories need a mass: this one while [rider] body_mass_kg is unset
REST_VO2 = 3.5  # mL/kg/min, 1 MET: the part of gross VO2 a person uses standing still
WALK_RUN_TRANSITION_MPS = 2.0  # below it the walking equation, at and above it the running one
KCAL_PER_LITRE_O2 = 5.0


def body_mass_kg(configured: float | None) -> float:
    """The mass calories use: the rider's, or DEFAULT_BODY_MASS_KG when it is not configured."""
    return DEFAULT_BODY_MASS_KG if configured is None else configured


def gross_vo2(speed_mps: float, grade: float) -> float:
    """ACSM's gross VO2 (mL/kg/min) at `speed_mps` on `grade` (a fraction: 0.05 for 5 %).
    A downhill grade counts as level: the equations are for level and uphill only."""
    s = max(0.0, speed_mps) * 60.0  # m/min
    g = max(0.0, grade)
    if speed_mps < WALK_RUN_TRANSITION_MPS:
        return REST_VO2 + 0.1 * s + 1.8 * s * g
    return REST_VO2 + 0.2 * s + 0.9 * s * g


def rail_support(rail_total_n: float | None, mass_kg: float) -> float:
    """The share of body weight the rails carry, within [0, 1]; 0 when the rails are unknown."""
    if rail_total_n is None or mass_kg <= 0:
        return 0.0
    return min(1.0, max(0.0, rail_total_n / (mass_kg * STANDARD_GRAVITY)))


def supported_vo2(speed_mps: float, grade: float, rail_total_n: float | None, mass_kg: float) -> float:
    """Gross VO2 with the part above rest lowered by the rails' share of the body weight."""
    gross = gross_vo2(speed_mps, grade)
    return REST_VO2 + (gross - REST_VO2) * (1.0 - rail_support(rail_total_n, mass_kg))


def kcal(vo2_ml_kg_min: float, mass_kg: float, seconds: float) -> float:
    """Energy over `seconds` at `vo2_ml_kg_min`: litres of O2 times KCAL_PER_LITRE_O2."""
    return vo2_ml_kg_min * mass_kg * (seconds / 60.0) / 1000.0 * KCAL_PER_LITRE_O2


def energy_kcal(speed_mps: float, incline_pct: float | None, rail_left_n: float | None,
                rail_right_n: float | None, mass_kg: float, seconds: float) -> float:
    """Calories over `seconds` on the belt as read: an unknown incline counts as level, an
    unknown rail as carrying nothing (the correction never raises the figure)."""
    grade = 0.0 if incline_pct is None else incline_pct / 100.0
    rails = [force for force in (rail_left_n, rail_right_n) if force is not None]
    rail_total = sum(rails) if rails else None
    return kcal(supported_vo2(speed_mps, grade, rail_total, mass_kg), mass_kg, seconds)
