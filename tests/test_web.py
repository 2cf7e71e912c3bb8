import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pi_service.config import Config
from pi_service.sampling.board import SnapshotBoard
from pi_service.web.app import create_app


class Source:
    def __init__(self):
        self.board = SnapshotBoard()
        self.restarts = 0
        self.running = True

    def alive(self):
        return self.running


def snapshot(t=None, **overrides):
    base = {
        "t": time.monotonic() if t is None else t, "speed_mps": 2.5, "incline_pct": 3.5,
        "rail_left_n": 12.0, "rail_right_n": None, "cadence_spm": 112.5, "footstrike_g": 0.42,
        "session": {"started_t": 1.0, "elapsed_s": 65.0, "distance_m": 120.5, "cadence_spm": 110.2}, "alerts": [],
        "faults": [{"channel": "rail_right", "device": "ADS1115", "reason": "no acknowledge (NACK)",
                    "since_t": time.monotonic() - 1.0}],
        "loop": {"target_hz": 100.0, "rate_hz": 100.0, "late_p50_ms": 0.05, "late_p99_ms": 0.2,
                 "late_max_ms": 0.5, "overruns": 0, "missed_periods": 0, "ticks": 1234, "work_max_ms": 0.8,
                 "started_t": 0.0, "realtime": "SCHED_FIFO 50", "device_errors": {"ADS1115": 3, "ADXL345": 0},
                 "belt_pulses": 10, "belt_glitches": 0, "recording_dropped": 0,
                 "footstrikes": {"fifo_rate_hz": 400.0, "measured_rate_hz": 399.8, "samples": 26000, "overruns": 0,
                                 "past_watermark": 0, "footstrikes": 120, "off": None}},
        "sim": None,
    }
    base.update(overrides)
    return base


# A steep climb raised and its ramp-down under way: acknowledging it and stopping the ramp are
# real commands (202), not the no-ops that answer 409.
STEEP_RAISED = [{"kind": "steep_incline", "since_t": 1.0, "message": "Steep for a while", "level": "warning",
                 "detail": {}}]
RAMP_UNDER_WAY = {"state": "ramping", "reason": "on its way to 0 % at 0.5 %/s", "since_t": 1.0, "target_pct": 0.0,
                  "rate_pct_s": 0.5, "due_t": 1.0, "announce_s": 30.0}


@pytest.fixture
def source():
    return Source()


def client(source, toml_units="km/h"):
    folder = Path(tempfile.mkdtemp(prefix="tc-web-"))
    return TestClient(create_app(source, Config(units=toml_units), hosts=["testserver"], folder=folder))


def test_status_has_the_fields_the_spec_fixes(source):
    source.board.publish(snapshot())
    body = client(source).get("/api/status").json()
    assert body["speed_kmh"] == 9.0
    assert body["incline_pct"] == 3.5
    assert body["rail_left_n"] == 12.0 and body["rail_right_n"] is None
    # elevation_gain_m and energy_kcal: 0 when the snapshot has none (this one is written without them).
    assert body["session"] == {"elapsed_s": 65.0, "distance_m": 120.5, "cadence_spm": 110.2,
                               "elevation_gain_m": 0.0, "energy_kcal": 0.0}
    assert body["cadence_spm"] == 112.5 and body["footstrike_g"] == 0.42
    assert body["alerts"] == []
    assert body["faults"][0]["channel"] == "rail_right" and body["faults"][0]["for_s"] == pytest.approx(1, abs=0.2)
    for key in ("rate_hz", "late_p99_ms", "late_max_ms", "overruns"):
        assert key in body["loop"]
    assert body["loop"]["device_errors"] == {"ADS1115": 3, "ADXL345": 0}
    assert body["loop"]["footstrikes"]["fifo_rate_hz"] == 400.0 and body["loop"]["footstrikes"]["overruns"] == 0


def test_status_speed_in_mph_when_configured(source):
    source.board.publish(snapshot())
    body = client(source, "mph").get("/api/status").json()
    assert body["units"] == "mph"
    assert body["speed"] == pytest.approx(5.59, abs=0.01)
    assert body["speed_kmh"] == 9.0


def test_healthz_200_while_fresh_503_when_stale_dead_or_empty(source):
    web = client(source)
    assert web.get("/healthz").status_code == 503
    source.board.publish(snapshot())
    assert web.get("/healthz").status_code == 200
    source.board.publish(snapshot(t=time.monotonic() - 2))
    response = web.get("/healthz")
    assert response.status_code == 503 and "old" in response.json()["reason"]
    source.board.publish(snapshot())
    source.running = False
    assert web.get("/healthz").status_code == 503


def test_status_before_first_snapshot_is_503_not_500(source):
    assert client(source).get("/api/status").status_code == 503


def test_openapi_describes_every_endpoint(source):
    spec = client(source).get("/openapi.json").json()
    assert {"/healthz", "/api/status"} <= set(spec["paths"])
    assert "Status" in spec["components"]["schemas"]


class _Adapter:
    def __init__(self, *ips):
        self.ips = list(ips)


class _IP:
    def __init__(self, ip, prefix):
        self.ip, self.network_prefix = ip, prefix
        self.is_IPv4 = isinstance(ip, str)


def test_the_host_allow_list_follows_the_pis_addresses_as_they_come_and_go():
    from pi_service.web.guard import REFRESH_S, HostAllowList

    adapters = [_Adapter(_IP("127.0.0.1", 8))]
    now = [0.0]
    allow = HostAllowList(Config(), adapters=lambda: adapters, clock=lambda: now[0], routes=lambda: [])
    assert not allow.allows_host("192.168.1.40")
    # DHCP gives the Wi-Fi an address after start: accepted once the refresh interval has passed.
    adapters.append(_Adapter(_IP("192.168.1.40", 24), _IP(("2a02:8108:1:2::40", 0, 0), 64)))
    assert not allow.allows_host("192.168.1.40")  # refreshed at start, less than REFRESH_S ago
    now[0] += REFRESH_S
    assert allow.allows_host("192.168.1.40") and allow.allows_host("[2a02:8108:1:2::40]")
    # A phone on the home network's global IPv6 prefix may connect; one elsewhere may not.
    assert allow.allows_peer("2a02:8108:1:2::99") and not allow.allows_peer("2a02:8108:9:9::1")
    assert allow.allows_peer("192.168.7.7") and allow.allows_peer("fe80::1%wlan0") and allow.allows_peer("::1")
    assert not allow.allows_peer("8.8.8.8")
    assert allow.allows_peer("::ffff:192.168.7.7") and not allow.allows_peer("::ffff:8.8.8.8")  # dual-stack
    # The lease moves: the old address is dropped at the next refresh.
    adapters[1] = _Adapter(_IP("192.168.1.41", 24))
    now[0] += REFRESH_S
    assert allow.allows_host("192.168.1.41") and not allow.allows_host("192.168.1.40")


def test_an_ipv6_host_header_and_a_far_away_client_over_http(tmp_path):
    from fastapi.testclient import TestClient
    from pi_service.web.app import create_app
    from pi_service.web.guard import host_of

    assert host_of("[fe80::1]:8080") == "[fe80::1]" and host_of("pi.local:8080") == "pi.local"
    app = create_app(None, Config(), hosts=["testserver", "[2a02::40]"], folder=tmp_path)
    client = TestClient(app)
    # (a path that does not exist: 404 once the guard lets the request through)
    assert client.get("/nowhere", headers={"Host": "[2a02::40]:8080"}).status_code == 404
    assert client.get("/nowhere", headers={"Host": "evil.example"}).status_code == 400
    far = TestClient(app, client=("203.0.113.9", 5000))
    assert far.get("/nowhere").status_code == 403


def test_a_dhcpv6_address_is_a_128_and_the_lans_prefix_comes_from_the_routes(tmp_path):
    from pi_service.web.guard import HostAllowList, _on_link_ipv6_routes

    routes = tmp_path / "ipv6_route"
    zero = "0" * 32
    routes.write_text(
        f"2a020810000100020000000000000000 40 {zero} 00 {zero} 00000100 00000001 00000000 00000001 wlan0\n"
        f"{zero} 00 {zero} 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003 wlan0\n"
        f"fe800000000000000000000000000000 40 {zero} 00 {zero} 00000100 00000002 00000000 00000001 wlan0\n")
    found = _on_link_ipv6_routes(str(routes))
    assert [str(n) for n in found] == ["2a02:810:1:2::/64"]  # not the default route, not link-local
    allow = HostAllowList(Config(), adapters=lambda: [_Adapter(_IP(("2a02:810:1:2::40", 0, 0), 128))],
                          routes=lambda: found)
    assert allow.allows_peer("2a02:810:1:2::99") and not allow.allows_peer("2a02:810:9::1")


def test_wildcards_in_allowed_hosts_as_before(tmp_path):
    from pi_service.web.guard import HostAllowList

    config = Config.model_validate({"web": {"allowed_hosts": ["*.gym.example"]}})
    allow = HostAllowList(config, adapters=lambda: [], routes=lambda: [])
    assert allow.allows_host("treadmill-3.gym.example") and not allow.allows_host("gym.example.evil")
    assert HostAllowList(Config(), fixed=["*"]).allows_host("anything")


def test_the_apps_lifespan_stops_the_stream_broadcaster_at_shutdown(source, tmp_path):
    import asyncio

    source.board.publish(snapshot())
    app = create_app(source, Config(), hosts=["testserver"], folder=tmp_path)
    broadcaster = app.state.broadcaster

    async def serve_and_stop():
        async with app.router.lifespan_context(app):
            broadcaster.subscribe()  # a client: the broadcaster task runs while anyone listens
            await asyncio.sleep(0)
            task = broadcaster.task
            assert task is not None and not task.done()
        return task

    task = asyncio.run(serve_and_stop())
    assert task.done() and task.cancelled()
    assert broadcaster.task is None
