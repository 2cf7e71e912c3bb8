"""`GET /api/recent`: the last minutes at 1 Hz from a ring the web process keeps, so a page
opened mid-session (or a second phone) draws its charts at once. Against the app fed
snapshots the test publishes, and through a real daemon on the virtual treadmill."""

import asyncio
import time

import pytest
from fastapi.testclient import TestClient

from pi_service.config import Config
from pi_service.web.app import create_app
from pi_service.web.recent import KEPT_S, RecentRing
from tests.test_daemon import get, start, stop
from tests.test_web_api import HOSTS, Source
from tests.test_web import snapshot


def wait_for(condition, within_s=10.0):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {within_s} s")


def test_the_ring_keeps_one_sample_per_new_snapshot_in_si_and_drops_the_oldest():
    source = Source()
    ring = RecentRing(source, kept_s=3)
    ring.take()
    assert list(ring.samples) == []  # nothing published yet
    for i in range(6):
        source.board.publish(snapshot(t=100.0 + i, speed_mps=1.0 + i))
        ring.take()
        ring.take()  # the same snapshot again (the loop stalled): not kept twice
    assert [(k.t, k.speed_mps) for k in ring.samples] == [(102.0, 3.0), (103.0, 4.0), (104.0, 5.0), (105.0, 6.0)]
    assert [k.t for k in ring.since(104.0)] == [104.0, 105.0]
    assert RecentRing(source).samples.maxlen == KEPT_S + 1


def test_the_feeder_takes_a_snapshot_each_second_and_stops_with_the_app():
    source = Source()
    ring = RecentRing(source, period_s=0.05)

    async def run():
        ring.start()
        for i in range(8):
            source.board.publish(snapshot(t=200.0 + i))
            await asyncio.sleep(0.06)
        await ring.close()
        kept = len(ring.samples)
        source.board.publish(snapshot(t=300.0))
        await asyncio.sleep(0.15)
        return kept

    kept = asyncio.run(run())
    assert kept >= 5 and len(ring.samples) == kept  # nothing taken once closed
    assert ring.task is None


@pytest.mark.parametrize("units,speed", [("km/h", 9.0), ("mph", 5.59)])
def test_recent_answers_the_ring_oldest_first_in_display_units_within_the_span(units, speed, tmp_path):
    source = Source()
    app = create_app(source, Config(units=units), hosts=HOSTS, folder=tmp_path)
    with TestClient(app) as client:
        now = time.monotonic()
        for age in (400, 250, 100, 1):
            source.board.publish(snapshot(t=now - age, speed_mps=2.5))
            app.state.recent.take()
        source.board.publish(snapshot(t=now, speed_mps=2.5, rail_right_n=4.25))
        app.state.recent.take()
        body = client.get("/api/recent").json()
        assert body["t"] == now and body["units"] == units
        assert [round(now - s["t"]) for s in body["samples"]] == [250, 100, 1, 0]  # the default 300 s
        last = body["samples"][-1]
        assert last == {"t": now, "speed": speed, "incline_pct": 3.5, "rail_left_n": 12.0, "rail_right_n": 4.2,
                        "cadence_spm": 112.5}
        assert len(client.get("/api/recent?seconds=3600").json()["samples"]) == 5
        assert len(client.get("/api/recent?seconds=1").json()["samples"]) == 2
        for bad in ("0", "3601", "soon", "1.5"):
            answer = client.get(f"/api/recent?seconds={bad}")
            assert answer.status_code == 422, bad


def test_recent_before_the_first_snapshot_is_503(tmp_path):
    with TestClient(create_app(Source(), Config(), hosts=HOSTS, folder=tmp_path)) as client:
        assert client.get("/api/recent").status_code == 503


def test_a_running_daemon_keeps_the_last_seconds_at_1_hz_for_every_client():
    process, port, _ = start()
    ready = time.monotonic()  # the same clock as the snapshots' t (CLOCK_MONOTONIC is the machine's)
    try:
        wait_for(lambda: len(get(port, "/api/recent")[1]["samples"]) >= 6, within_s=20)
        first = get(port, "/api/recent")[1]
        second = get(port, "/api/recent")[1]  # another client, right after: the same ring
        samples = first["samples"]
        times = [s["t"] for s in samples]
        assert times == sorted(times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(0.8 <= gap <= 1.2 for gap in gaps), gaps
        assert samples[:-1] == second["samples"][:len(samples) - 1]  # the same samples, perhaps one more
        assert first["units"] == "km/h" and first["t"] >= times[-1]
        status = get(port, "/api/status")[1]
        assert 0 <= status["t"] - times[-1] <= 1.5  # on the status's clock
        # One sample a second since the daemon was healthy (and one or two from before).
        assert (times[-1] - ready) - 1 <= len(samples) <= (times[-1] - ready) + 3
        assert samples[-1]["speed"] is not None
    finally:
        stop(process)
