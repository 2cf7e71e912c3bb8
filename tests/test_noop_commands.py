"""A command that would do nothing answers 409 with why, and reaches no sampler: acknowledging
a kind not raised now (an instant rule never is), stopping a ramp not under way, and
`POST /api/sim {}`. Real commands still answer 202."""

import pytest
from fastapi.testclient import TestClient

from pi_service.config import Config
from pi_service.pairing import PairingStore
from pi_service.web.app import create_app
from tests.test_web import RAMP_UNDER_WAY, STEEP_RAISED, snapshot
from tests.test_web_api import HOSTS, Source


@pytest.fixture
def web(tmp_path):
    source = Source()
    client = TestClient(create_app(source, Config(), sim=True, hosts=HOSTS, folder=tmp_path))
    auth = {"Authorization": f"Bearer {PairingStore(tmp_path).new_token('test')}"}
    return client, source, auth


def refused(client, path, auth, json=None):
    answer = client.post(path, json=json, headers=auth)
    assert answer.status_code == 409, answer.text
    return answer.json()["detail"]


def test_acknowledging_an_instant_rule_or_a_kind_not_raised_is_409_and_reaches_no_sampler(web):
    client, source, auth = web
    source.board.publish(snapshot(alerts=STEEP_RAISED))
    assert "speed_jump is an instant rule" in refused(client, "/api/nudges/speed_jump/acknowledge", auth)
    assert "rail_lean is not raised now" in refused(client, "/api/nudges/rail_lean/acknowledge", auth)
    assert source.commands.sent == []
    assert client.post("/api/nudges/steep_incline/acknowledge", headers=auth).status_code == 202
    assert client.post("/api/nudges/speed_jump/snooze", headers=auth).status_code == 202  # a snooze still holds
    assert source.commands.sent == [("acknowledge", "steep_incline", 0.0), ("snooze", "speed_jump", 600.0)]


@pytest.mark.parametrize("ramp,console,why", [
    (None, None, "no console link is configured"),
    (dict(RAMP_UNDER_WAY, state="idle"), None, "no ramp-down under way to stop (it is idle)"),
    (dict(RAMP_UNDER_WAY, state="announced"), None, "acknowledge steep_incline"),
    (dict(RAMP_UNDER_WAY, state="done"), None, "(it is done)"),
    (RAMP_UNDER_WAY, {"alive": False}, "any console key stops it"),
])
def test_stopping_a_ramp_not_under_way_is_409_with_why(web, ramp, console, why):
    client, source, auth = web
    source.board.publish(snapshot(ramp=ramp, **({"console": console} if console else {})))
    assert why in refused(client, "/api/ramp/stop", auth)
    assert source.commands.sent == []


def test_stopping_a_ramp_under_way_is_202(web):
    client, source, auth = web
    source.board.publish(snapshot(ramp=RAMP_UNDER_WAY))
    assert client.post("/api/ramp/stop", headers=auth).status_code == 202
    assert source.commands.sent == [("stop_ramp", "", 0.0)]


@pytest.mark.parametrize("body", [{}, {"resume": False}, {"speed_kmh": None, "lean": None}])
def test_a_sim_body_asking_for_nothing_is_409(web, body):
    client, source, auth = web
    source.board.publish(snapshot())
    assert "nothing to do" in refused(client, "/api/sim", auth, json=body)
    assert source.commands.sent == []


def test_before_the_first_snapshot_a_check_that_needs_one_is_503_not_a_guess(web):
    client, source, auth = web
    assert client.post("/api/ramp/stop", headers=auth).status_code == 503
    assert client.post("/api/nudges/steep_incline/acknowledge", headers=auth).status_code == 503
    assert source.commands.sent == []


def test_the_openapi_schema_documents_the_409s(web):
    paths = web[0].get("/openapi.json").json()["paths"]
    for path in ("/api/nudges/{kind}/acknowledge", "/api/ramp/stop", "/api/sim"):
        assert "409" in paths[path]["post"]["responses"], path
