"""Session export (`GET /api/sessions/{id}/export`): a history written by the real writer
(the sampler's SessionLog and HistoryWriter over the rule engine), exported through the HTTP
API, read back by parsers nobody here wrote: the FIT by fitdecode, the TCX by xml.etree, the
CSV by `replay`. Their distance, duration and record count are the session's."""

import io
import json
import sqlite3
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import fitdecode
import pytest
from fastapi.testclient import TestClient

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.sample import Sample
from pi_service.sampling.session_log import SessionLog
from pi_service.storage.history import SCHEMA, HistoryWriter
from pi_service.web.app import create_app
from tests.conftest import run_cli
from tests.test_web_api import HOSTS, Source

RATE_HZ = 10
WALK_S = 240  # then the belt stops, and the session ends 60 s later


def reading(t: float) -> Sample:
    """A walk at 5 km/h, 8 % from 60 s to 120 s, leaning on the rails (60 N a side) from 150 s
    to 165 s, 110 footstrikes a minute; then the belt stops."""
    walking = t < WALK_S
    leaning = 150 <= t < 165
    return Sample(1000.0 + t, 5 / 3.6 if walking else 0.0, 8.0 if 60 <= t < 120 else 1.0,
                  60.0 if leaning else 2.0, 60.0 if leaning else 2.0, 110.0 if walking else 0.0,
                  0.4 if walking else 0.0)


def write_history(folder, seconds: float):
    """The history the daemon writes for `seconds` of `reading`, as its sampler writes it."""
    config = Config()
    writer = HistoryWriter(folder / "history.sqlite3")
    engine, log = RuleEngine(config), SessionLog(config, writer)
    for i in range(int(seconds * RATE_HZ) + 1):
        sample = reading(i / RATE_HZ)
        events = engine.update(sample)
        log.follow(engine, sample)
        for event in events:
            log.event(event)
    writer.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    write_history(folder, WALK_S + 70)
    client = TestClient(create_app(Source(), Config(), sim=True, hosts=HOSTS, folder=folder))
    detail = client.get("/api/sessions/1").json()
    files = {}
    for format in ("fit", "tcx", "csv"):
        response = client.get(f"/api/sessions/1/export?format={format}")
        assert response.status_code == 200, response.text
        files[format] = response
    return client, detail, files


def test_the_history_keeps_the_session_ended_with_its_readings_once_a_second(exported):
    _, detail, _ = exported
    session, records = detail["session"], detail["records"]
    assert session["ended_at"] is not None and not session["interrupted"]
    assert session["duration_s"] == pytest.approx(WALK_S, abs=0.2)  # ended where the belt stopped
    assert session["distance_m"] == pytest.approx(WALK_S * 5 / 3.6, abs=1)
    # 8 % over 60 s at 5 km/h (83.3 m: 6.67 m) and 1 % over the other 180 s (250 m: 2.5 m).
    assert session["elevation_gain_m"] == pytest.approx(6.67 + 2.5, abs=0.05)
    # ACSM walking, 70 kg (0.35 kcal a minute per mL/kg/min): 3 min at 1 % (3.5 + 8.33 + 1.5 =
    # 13.33: 4.67 kcal/min) and 1 min at 8 % (3.5 + 8.33 + 12 = 23.83: 8.34 kcal/min), less the
    # lean: 15 s with 120 N on the rails, 17.5 % of 686 N, off the 9.83 above rest (0.15 kcal).
    assert session["energy_kcal"] == pytest.approx(3 * 4.667 + 8.34 - 0.15, abs=0.15)
    assert len(records) == pytest.approx(WALK_S, abs=1)
    steps = [b["t_s"] - a["t_s"] for a, b in zip(records, records[1:])]
    assert 0 < steps[0] <= 1.0 and min(steps[1:]) > 0.9 and max(steps) < 1.1  # then on the session's whole seconds
    assert records[-1]["distance_m"] == pytest.approx(session["distance_m"], abs=1.5)
    assert set(records[0]) == {"t_s", "speed_mps", "incline_pct", "rail_left_n", "rail_right_n", "cadence_spm",
                               "distance_m"}


def test_each_export_is_an_attachment_named_for_the_sessions_start(exported):
    _, detail, files = exported
    started = datetime.fromisoformat(detail["session"]["started_at"])
    for format, response in files.items():
        assert response.headers["content-disposition"] == \
            f'attachment; filename="treadmill-{started:%Y-%m-%d-%H%M%S}.{format}"'
    assert files["fit"].headers["content-type"] == "application/vnd.ant.fit"
    assert files["csv"].headers["content-type"].startswith("text/csv")


def fit_messages(data: bytes) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    with fitdecode.FitReader(io.BytesIO(data), check_crc=fitdecode.CrcCheck.ENABLED) as reader:
        for frame in reader:
            if frame.frame_type == fitdecode.FIT_FRAME_DATA:
                found.setdefault(frame.name, []).append({f.name: f.value for f in frame.fields})
    return found


def test_the_fit_file_decodes_to_the_sessions_distance_duration_and_records(exported):
    _, detail, files = exported
    session, records = detail["session"], detail["records"]
    messages = fit_messages(files["fit"].content)
    assert messages["file_id"][0]["type"] == "activity"
    (fit_session,) = messages["session"]
    assert (fit_session["sport"], fit_session["sub_sport"]) == ("running", "treadmill")
    assert fit_session["total_elapsed_time"] == pytest.approx(session["duration_s"], abs=0.001)
    assert fit_session["total_distance"] == pytest.approx(session["distance_m"], abs=0.01)
    assert fit_session["total_calories"] == round(session["energy_kcal"])
    assert fit_session["total_ascent"] == round(session["elevation_gain_m"])
    (lap,) = messages["lap"]
    assert lap["total_distance"] == pytest.approx(session["distance_m"], abs=0.01)
    assert messages["activity"][0]["num_sessions"] == 1
    fit_records = messages["record"]
    assert len(fit_records) == len(records)
    started = datetime.fromisoformat(session["started_at"])
    assert fit_records[0]["timestamp"] == started + timedelta(seconds=int(records[0]["t_s"]))
    assert (fit_records[-1]["timestamp"] - fit_records[0]["timestamp"]).total_seconds() == \
        pytest.approx(records[-1]["t_s"] - records[0]["t_s"], abs=1)
    assert fit_records[-1]["distance"] == pytest.approx(records[-1]["distance_m"], abs=0.01)
    walking = fit_records[10]
    assert walking["speed"] == pytest.approx(5 / 3.6, abs=0.001)
    # 110 footstrikes a minute: 55 strides a minute, FIT's running cadence.
    assert walking["cadence"] + walking["fractional_cadence"] == pytest.approx(55)
    assert fit_records[int(90 - records[0]["t_s"])]["grade"] == pytest.approx(8.0)


def test_the_tcx_parses_to_the_sessions_distance_duration_and_trackpoints(exported):
    _, detail, files = exported
    session, records = detail["session"], detail["records"]
    ns = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2",
          "x": "http://www.garmin.com/xmlschemas/ActivityExtension/v2"}
    root = ET.fromstring(files["tcx"].content)
    activity = root.find("t:Activities/t:Activity", ns)
    assert activity.get("Sport") == "Running"
    lap = activity.find("t:Lap", ns)
    assert float(lap.find("t:TotalTimeSeconds", ns).text) == pytest.approx(session["duration_s"], abs=0.05)
    assert float(lap.find("t:DistanceMeters", ns).text) == pytest.approx(session["distance_m"], abs=0.05)
    assert int(lap.find("t:Calories", ns).text) == round(session["energy_kcal"])
    points = lap.findall("t:Track/t:Trackpoint", ns)
    assert len(points) == len(records)
    last = points[-1]
    assert float(last.find("t:DistanceMeters", ns).text) == pytest.approx(records[-1]["distance_m"], abs=0.01)
    first_time = datetime.fromisoformat(points[0].find("t:Time", ns).text.replace("Z", "+00:00"))
    last_time = datetime.fromisoformat(last.find("t:Time", ns).text.replace("Z", "+00:00"))
    assert (last_time - first_time).total_seconds() == pytest.approx(records[-1]["t_s"] - records[0]["t_s"], abs=0.01)
    walking = points[10]
    assert walking.find("t:Cadence", ns).text == "55"
    assert float(walking.find("t:Extensions/x:TPX/x:Speed", ns).text) == pytest.approx(5 / 3.6, abs=0.001)


def test_the_csv_is_a_recording_that_replay_runs_the_rules_over_again(exported, tmp_path):
    _, detail, files = exported
    lines = files["csv"].text.splitlines()
    assert lines[0] == "t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,cadence_spm,footstrike_g"
    assert len(lines) - 1 == len(detail["records"])
    path = tmp_path / "session.csv"
    path.write_bytes(files["csv"].content)
    result = run_cli("replay", str(path))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # The lean the live rules saw (15 s at 120 N, past the 5 s hold) is found again at 1 Hz.
    assert any(e["kind"] == "rail_lean" and e["phase"] == "start" for e in events), events
    assert any(e["kind"] == "rail_lean" and e["phase"] == "start" for e in detail["events"])


def test_a_missing_session_is_404_and_a_bad_format_422(exported):
    client = exported[0]
    assert client.get("/api/sessions/99/export?format=fit").status_code == 404
    for query in ("?format=gpx", "?format=", "", "?format=FIT"):
        response = client.get(f"/api/sessions/1/export{query}")
        assert response.status_code == 422, (query, response.text)
    assert client.get("/api/sessions/0/export?format=csv").status_code == 422


def test_a_history_older_than_the_records_exports_its_summary_without_readings(tmp_path):
    db = sqlite3.connect(tmp_path / "history.sqlite3")  # the first schema: no records, no added columns
    db.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS records")[0].replace(
        "interrupted INTEGER NOT NULL DEFAULT 0, -- 1: the daemon died mid-session; ended at its last save\n"
        "    cadence_avg_spm REAL               -- spm while walking, time-weighted; NULL: no footstrike felt",
        "interrupted INTEGER NOT NULL DEFAULT 0"))
    db.execute("INSERT INTO sessions (started_at, ended_at, started_t, duration_s, distance_m, steep_s, max_speed_mps,"
               " rules) VALUES ('2025-03-01T07:00:00+00:00', '2025-03-01T07:20:00+00:00', 5.0, 1200, 1500, 0, 1.4,"
               " '{}')")
    db.commit()
    db.close()
    client = TestClient(create_app(Source(), Config(), sim=True, hosts=HOSTS, folder=tmp_path))
    detail = client.get("/api/sessions/1").json()
    assert detail["records"] == [] and detail["session"]["energy_kcal"] is None
    messages = fit_messages(client.get("/api/sessions/1/export?format=fit").content)
    assert "record" not in messages and messages["session"][0]["total_distance"] == 1500
    assert "total_calories" not in messages["session"][0] or messages["session"][0]["total_calories"] is None
    root = ET.fromstring(client.get("/api/sessions/1/export?format=tcx").content)
    assert root.find(".//{*}Lap/{*}DistanceMeters").text == "1500.0"
    assert client.get("/api/sessions/1/export?format=csv").text.count("\n") == 1  # the header alone
