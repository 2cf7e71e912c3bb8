"""/api/status's console numbers: the pace in the display unit's distance, the rider's mass the
calories use (and whether it is the default), and the rail force at which leaning starts."""

import pytest
from fastapi.testclient import TestClient

from pi_service.core.effort import DEFAULT_BODY_MASS_KG
from pi_service.web.app import create_app
from tests.conftest import make_config
from tests.test_web_api import HOSTS, Source
from tests.test_web import snapshot


def status(tmp_path, toml="", **overrides):
    source = Source()
    source.board.publish(snapshot(**overrides))
    return TestClient(create_app(source, make_config(toml), hosts=HOSTS, folder=tmp_path)).get("/api/status").json()


@pytest.mark.parametrize("toml,speed_mps,pace", [
    ("", 2.5, 400.0),  # 9 km/h: 6:40 min/km
    ('units = "mph"', 2.5, 643.7),  # 5.59 mph: 10:44 min/mi
    ("", 0.27, None),  # below 1 km/h: no pace
    ("", None, None),
])
def test_pace_is_seconds_per_km_or_mile_and_null_when_slow_or_unknown(tmp_path, toml, speed_mps, pace):
    assert status(tmp_path, toml, speed_mps=speed_mps)["pace_s"] == pace


def test_without_a_rider_mass_the_default_is_assumed_and_leaning_starts_at_the_rules_force(tmp_path):
    body = status(tmp_path)
    assert body["body_mass_kg"] == DEFAULT_BODY_MASS_KG == 70.0 and body["body_mass_assumed"] is True
    assert body["rail_lean_n"] == 80.0


def test_a_rider_mass_is_used_and_leaning_starts_at_its_share_of_the_weight(tmp_path):
    body = status(tmp_path, "[rider]\nbody_mass_kg = 90\n[rules.rail_lean]\nbody_fraction = 0.12\n")
    assert body["body_mass_kg"] == 90.0 and body["body_mass_assumed"] is False
    assert body["rail_lean_n"] == pytest.approx(0.12 * 90 * 9.80665, abs=0.05)


def test_the_sim_status_carries_what_is_held(tmp_path):
    sim = {"scenario": "s", "step": "walk", "scenario_t": 1.0, "speedup": 1.0, "controlled": True,
           "held": {"speed_kmh": 3.0, "incline_pct": None, "lean": True}}
    assert status(tmp_path, sim=sim)["sim"]["held"] == {"speed_kmh": 3.0, "incline_pct": None, "lean": True}
