"""The web API: pairing and who may change what, the history, the stream, and a schemathesis
run of every endpoint from /openapi.json."""

import asyncio
import json
import threading
import time

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_service.config import Config
from pi_service.core.events import Event
from pi_service.pairing import PairingStore
from pi_service.sampling.board import SnapshotBoard
from pi_service.storage.history import History
from pi_service.web.app import create_app
from pi_service.web.stream import CLIENT_QUEUE, Broadcaster
from tests.conftest import free_port
from tests.test_hostile_web import hostile_json
from tests.test_web import RAMP_UNDER_WAY, STEEP_RAISED, snapshot

HOSTS = ["testserver", "localhost", "127.0.0.1"]


class Commands:
    def __init__(self):
        self.sent = []

    def send(self, name, kind, value=0.0):
        self.sent.append((name, kind, value))


class Source:
    def __init__(self):
        self.board = SnapshotBoard()
        self.restarts = 0
        self.commands = Commands()

    def alive(self):
        return True


def make_history(folder):
    history = History(folder / "history.sqlite3")
    ids = []
    for i in range(25):
        ids.append(history.save_session(None, {"started_t": 100.0 * i, "ended_t": 100.0 * i + 60, "duration_s": 60.0,
                                               "distance_m": 80.0, "steep_s": 0.0, "max_speed_mps": 1.5,
                                               "rules": {"rail_lean": {"count": 1, "seconds": 6.0}},
                                               "cadence_avg_spm": None if i % 2 else 100.0 + i},
                                        wall_offset=time.time() - 10_000))
    history.add_event(ids[-1], Event(2460.0, "rail_lean", "start", "Stand tall", "warning", {}), time.time() - 10_000)
    history.commit()
    history.close()
    return ids


@pytest.fixture
def api(tmp_path):
    source = Source()
    source.board.publish(snapshot(nudges={"rail_lean": {"snoozed_s": 0, "acknowledged": False, "repeats": 1}},
                                  alerts=STEEP_RAISED, ramp=RAMP_UNDER_WAY))
    ids = make_history(tmp_path)
    app = create_app(source, Config(), sim=True, hosts=HOSTS, folder=tmp_path)
    token = PairingStore(tmp_path).new_token("test")
    return TestClient(app), source, token, ids, tmp_path


CHANGES = [("/api/nudges/rail_lean/snooze", {"minutes": 10}), ("/api/nudges/steep_incline/acknowledge", None),
           ("/api/ramp/stop", None), ("/api/sim", {"speed_kmh": 3})]


def test_every_endpoint_is_in_the_openapi_schema(api):
    client = api[0]
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/", "/healthz", "/api/status", "/api/stream", "/api/sessions", "/api/sessions/{session_id}",
                          "/api/weekly", "/api/nudges/{kind}/snooze", "/api/nudges/{kind}/acknowledge",
                          "/api/ramp/stop", "/api/sim", "/api/pair/check", "/api/recent",
                          "/api/sessions/{session_id}/export", "/session/{session_id}", "/manifest.webmanifest",
                          "/sw.js"}
    status = client.get("/openapi.json").json()["components"]["schemas"]["Status"]["properties"]
    assert {"speed_kmh", "incline_pct", "rail_left_n", "rail_right_n", "session", "alerts", "faults", "loop",
            "nudges", "console", "ramp"} <= set(status)


@pytest.mark.parametrize("path,body", CHANGES)
def test_without_a_token_every_change_is_refused_and_nothing_changes(api, path, body):
    client, source, token, _, _ = api
    assert client.post(path, json=body).status_code == 401
    assert client.post(path, json=body, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post(path, json=body, headers={"X-Pairing-Token": token + "x"}).status_code == 403
    assert source.commands.sent == []


def test_with_the_token_the_changes_reach_the_sampler(api):
    client, source, token, _, _ = api
    auth = {"Authorization": f"Bearer {token}"}
    for path, body in CHANGES:
        assert client.post(path, json=body, headers=auth).status_code == 202, path
    assert source.commands.sent == [("snooze", "rail_lean", 600.0), ("acknowledge", "steep_incline", 0.0),
                                    ("stop_ramp", "", 0.0), ("sim", "speed_kmh", 3.0)]
    assert client.get("/api/pair/check", headers=auth).status_code == 200


def test_a_revoked_token_is_refused_at_once(api):
    client, source, token, _, folder = api
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/pair/check", headers=auth).status_code == 200
    assert PairingStore(folder).revoke_all() == 1
    assert client.get("/api/pair/check", headers=auth).status_code == 403
    assert client.post("/api/ramp/stop", headers=auth).status_code == 403 and source.commands.sent == []
    assert "sha256" in (folder / "pairing.json").read_text() and token not in (folder / "pairing.json").read_text()


def test_a_foreign_host_or_origin_is_refused(api):
    client, source, token, _, _ = api
    assert client.get("/api/status", headers={"Host": "evil.example"}).status_code == 400
    auth = {"Authorization": f"Bearer {token}"}
    refused = client.post("/api/ramp/stop", headers={**auth, "Origin": "http://evil.example"})
    assert refused.status_code == 403 and source.commands.sent == []
    own = {"Host": "localhost:8080", "Origin": "http://localhost:8080"}  # exactly this server's origin
    assert client.post("/api/ramp/stop", headers={**auth, **own}).status_code == 202


def test_malformed_input_is_a_4xx(api):
    client, source, token, _, _ = api
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/nudges/rail_lean/snooze", json={"minutes": "soon"}, headers=auth).status_code == 422
    assert client.post("/api/nudges/rail_lean/snooze", json={"minutes": 0}, headers=auth).status_code == 422
    assert client.post("/api/nudges/walking/snooze", headers=auth).status_code == 422
    assert client.post("/api/sim", json={"speed_kmh": 99}, headers=auth).status_code == 422
    assert client.post("/api/sim", content=b"{nope", headers={**auth, "Content-Type": "application/json"}
                       ).status_code == 422
    assert client.get("/api/sessions?limit=0").status_code == 422
    assert client.get("/api/sessions/abc").status_code == 422
    assert source.commands.sent == []


def test_sim_controls_exist_only_in_sim_mode(tmp_path):
    source = Source()
    client = TestClient(create_app(source, Config(), sim=False, hosts=HOSTS, folder=tmp_path))
    token = PairingStore(tmp_path).new_token()
    response = client.post("/api/sim", json={"speed_kmh": 12}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409 and source.commands.sent == []


def test_sessions_are_paged_newest_first_with_their_events(api):
    client, _, _, ids, _ = api
    first = client.get("/api/sessions?limit=10").json()
    assert first["total"] == 25 and len(first["sessions"]) == 10 and first["sessions"][0]["id"] == ids[-1]
    last = client.get("/api/sessions?limit=10&offset=20").json()
    assert [s["id"] for s in last["sessions"]] == list(reversed(ids[:5]))
    assert [s["cadence_avg_spm"] for s in last["sessions"]] == [104.0, None, 102.0, None, 100.0]
    detail = client.get(f"/api/sessions/{ids[-1]}").json()
    assert detail["session"]["rules"]["rail_lean"]["count"] == 1
    assert [(e["kind"], e["phase"]) for e in detail["events"]] == [("rail_lean", "start")]
    assert client.get("/api/sessions/99999").status_code == 404
    weeks = client.get("/api/weekly?weeks=4").json()
    assert len(weeks) == 4 and sum(w["minutes"] for w in weeks) == pytest.approx(25.0)


def test_history_is_empty_not_an_error_before_the_first_session(tmp_path):
    client = TestClient(create_app(Source(), Config(), hosts=HOSTS, folder=tmp_path / "new"))
    assert client.get("/api/sessions").json() == {"sessions": [], "total": 0, "limit": 20, "offset": 0}
    assert all(w["minutes"] == 0 for w in client.get("/api/weekly").json())


def test_the_page_and_its_assets_ship_with_the_package(api):
    client = api[0]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/app.css", "/static/vendor/uplot/uPlot.iife.min.js"):
        assert client.get(asset).status_code == 200, asset
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text


def test_the_broadcaster_serialises_once_per_tick_and_a_slow_client_only_loses_its_own_oldest():
    class App:
        class state:  # noqa: N801 - the shape of app.state
            source = Source()
            config = Config()
            fleet = usage = None  # no MQTT, no history

    async def scenario():
        broadcaster = Broadcaster(App)
        fast, slow = [broadcaster.subscribe() for _ in range(2)]
        others = [broadcaster.subscribe() for _ in range(8)]
        broadcaster.task.cancel()
        for i in range(CLIENT_QUEUE + 5):
            broadcaster._publish(snapshot(t=1000.0 + i))
            fast.get_nowait()
        assert broadcaster.serialised == CLIENT_QUEUE + 5  # one per tick, for ten clients
        assert slow.qsize() == CLIENT_QUEUE and others[0].qsize() == CLIENT_QUEUE
        newest = [slow.get_nowait() for _ in range(CLIENT_QUEUE)]
        assert b'"t":1012.0' in newest[-1] and b'"t":1005.0' in newest[0]  # the oldest were dropped
        event = {"t": 1013.0, "kind": "speed_jump", "phase": "instant", "message": "m", "level": "warning",
                 "detail": {}}
        broadcaster._publish(snapshot(t=1013.0, events=[event]))
        assert fast.get_nowait().startswith(b"event: rule")
        assert fast.get_nowait().startswith(b"event: status")

    asyncio.run(scenario())


def test_the_stream_over_a_real_server(tmp_path):
    source = Source()
    source.board.publish(snapshot())
    app = create_app(source, Config(), hosts=HOSTS, folder=tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        statuses = []
        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/stream", timeout=5) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    statuses.append(json.loads(line[6:]))
                    source.board.publish(snapshot(speed_mps=2.5 + len(statuses)))
                if len(statuses) == 3:
                    break
        assert [s["speed_kmh"] for s in statuses] == [9.0, 12.6, 16.2]
    finally:
        server.should_exit = True
        thread.join(timeout=5)


class FreshBoard:
    """A board whose snapshot is always new, so /healthz is 200 whenever the fuzzer calls it."""

    def read(self, wait_s=None):
        return snapshot(nudges={"rail_lean": {"snoozed_s": 0, "acknowledged": False, "repeats": 1}})


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    source = Source()
    source.board = FreshBoard()
    make_history(folder)
    app = create_app(source, Config(), sim=True, hosts=HOSTS, folder=folder)
    app.state.fuzz_token = PairingStore(folder).new_token()
    return app


def test_no_input_makes_a_server_error_and_every_answer_matches_the_schema(fuzzed_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/stream":
            continue  # never ends: tested above
        # Schemathesis draws only finite numbers and never a lone surrogate (it cannot send
        # one as JSON), so half the POSTs carry a raw body with NaN, infinities, 1e400 or
        # "\ud800" in place of the one it drew.
        @given(case=operation.as_strategy(), raw=st.none() | hostile_json())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case, raw):
            auth = {"Authorization": f"Bearer {fuzzed_app.state.fuzz_token}"} if case.method == "POST" else {}
            hostile = raw is not None and case.method == "POST"
            if hostile:
                case.body, case.media_type = raw, "application/json"
            response = case.call(headers=auth)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:200])
            # (a raw body is neither the positive nor the negative case schemathesis drew)
            case.validate_response(response, excluded_checks=[negative_data_rejection] if hostile else None)

        check()
        checked.append(f"{operation.method.upper()} {operation.path}")
    # Every operation but the stream's, however many endpoints there are now.
    every = [f"{method.upper()} {path}" for path, methods in fuzzed_app.openapi()["paths"].items()
             for method in methods if path != "/api/stream"]
    assert len(checked) >= 11 and sorted(checked) == sorted(every), checked
