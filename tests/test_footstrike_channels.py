"""The footstrike channels (`cadence_spm`, `footstrike_g`) through the recording, replay's
reader, the snapshot, /api/status, the session summary and the history (spec 5.3, 5.5)."""

import io
import random
import sqlite3

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pi_service import replay as replay_module
from pi_service.actions.responses import Responses
from pi_service.config import Config
from pi_service.core.sample import Sample
from pi_service.core.session import Session
from pi_service.core.summary import SummaryBuilder
from pi_service.recording import HEADER, RecordingWriter, create_recording, quantize
from pi_service.replay import Layout, RecordingError, parse_block, read_samples, replay, replay_lines
from pi_service.sampling.alerts import AlertBoard
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.snapshot import SnapshotMaker
from pi_service.sampling.stats import LoopStats
from pi_service.schema import FootstrikeFigures
from pi_service.sim.treadmill import VirtualTreadmill
from pi_service.storage.history import History
from pi_service.web.app import create_app
from tests.test_web import Source, client, snapshot

FIXED = "t_s,speed_mps,incline_pct,rail_left_n,rail_right_n"


def samples_of(text: str) -> list[Sample]:
    return list(read_samples(io.StringIO(text), "x.csv"))


def events_sample_by_sample(text: str, config: Config) -> list[dict]:
    return [e.to_dict() for e in replay(read_samples(io.StringIO(text), "x.csv"), config)]


def events_fast_forwarded(text: str, config: Config) -> list[dict]:
    return [e.to_dict() for e in replay_lines(io.StringIO(text), "x.csv", config)]


# --- the recording and replay's reader ---------------------------------------------------------

def test_recorded_footstrike_channels_read_back_as_recorded(tmp_path):
    rng = random.Random(5)
    written = []
    for i in range(2000):
        cadence = None if i % 97 == 0 else rng.uniform(0, 200)
        footstrike = None if i % 89 == 0 else rng.uniform(0, 3)
        written.append(quantize(Sample(i * 0.01 + rng.uniform(0, 0.004), rng.uniform(0, 4), rng.uniform(-1, 15),
                                       rng.uniform(0, 90), None if i % 50 == 0 else rng.uniform(0, 90),
                                       cadence, footstrike)))
    path = tmp_path / "ride.csv"
    create_recording(path)
    writer = RecordingWriter(path)
    for sample in written:
        writer.add(sample)
    writer.close()
    text = path.read_text()
    assert text.startswith(HEADER + "\n")
    assert samples_of(text) == written
    # The fast path reads the same columns: NaN where the careful reader says None.
    layout = Layout.of(HEADER.split(","), "x.csv")
    block = parse_block(text.splitlines(keepends=True)[1:], -np.inf, layout)
    assert block is not None
    cadence, footstrike = block[5], block[6]
    assert [None if np.isnan(v) else v for v in cadence.tolist()] == [s.cadence_spm for s in written]
    assert [None if np.isnan(v) else v for v in footstrike.tolist()] == [s.footstrike_g for s in written]


def test_a_recording_without_the_columns_gives_unknown_footstrikes():
    text = f"{FIXED}\n0,1.2,1,0,0\n0.01,1.2,1,0,0\n"
    assert [(s.cadence_spm, s.footstrike_g) for s in samples_of(text)] == [(None, None), (None, None)]
    block = parse_block(text.splitlines(keepends=True)[1:], -np.inf, Layout.of(FIXED.split(","), "x.csv"))
    assert block[5] is None and block[6] is None  # FastForward.feed: no such column


def test_empty_fields_and_rows_that_stop_after_the_fixed_five_are_unknown():
    text = f"{HEADER}\n0,1.2,1,0,0,,\n0.01,1.2,1,0,0,112.0,\n0.02,1.2,1,0,0,,0.5\n0.03,1.2,1,0,0\n"
    assert [(s.cadence_spm, s.footstrike_g) for s in samples_of(text)] == [
        (None, None), (112.0, None), (None, 0.5), (None, None)]
    layout = Layout.of(HEADER.split(","), "x.csv")
    lines = text.splitlines(keepends=True)[1:]
    assert parse_block(lines, -np.inf, layout) is None  # rows of uneven width: the careful reader
    short = parse_block(lines[3:], -np.inf, layout)  # all of them five wide: unknown, fast
    assert np.isnan(short[5]).all() and np.isnan(short[6]).all()


def test_the_columns_are_found_by_name_in_any_order_after_the_fixed_five():
    text = (f"{FIXED},footstrike_g,heart_bpm,cadence_spm\n"
            "0,1.2,1,0,0,0.61,128,110.5\n"
            "0.01,1.2,1,0,0,,131,\n")
    assert [(s.cadence_spm, s.footstrike_g) for s in samples_of(text)] == [(110.5, 0.61), (None, None)]
    block = parse_block(text.splitlines(keepends=True)[1:], -np.inf, Layout.of(text.split("\n")[0].split(","), "x"))
    assert block[5][0] == 110.5 and block[6][0] == 0.61 and np.isnan(block[5][1])


@pytest.mark.parametrize("header, row, expected", [
    (HEADER, "0.01,1.2,1,0,0,fast,0.5", r"x\.csv:3: column 6 \(cadence_spm\): 'fast' is not a number"),
    (HEADER, '0.01,1.2,1,0,0,110,"1,5g"', r"x\.csv:3: column 7 \(footstrike_g\): '1,5g' is not a number"),
    (f"{FIXED},note,footstrike_g,cadence_spm", "0.01,1.2,1,0,0,ok,0.4,1l0",
     r"x\.csv:3: column 8 \(cadence_spm\): '1l0' is not a number"),
])
def test_a_bad_footstrike_value_is_one_error_naming_file_line_and_column(header, row, expected):
    text = f"{header}\n0,1.2,1,0,0,110,0.5\n{row}\n"
    with pytest.raises(RecordingError, match=expected):
        samples_of(text)
    with pytest.raises(RecordingError, match=expected):
        events_fast_forwarded(text, Config())


def test_a_footstrike_column_named_twice_is_refused_in_the_header():
    with pytest.raises(RecordingError, match=r"x\.csv:1: column 8: cadence_spm again \(it is column 6\)"):
        samples_of(f"{HEADER},cadence_spm\n0,1,1,1,1,100,0.5,100\n")


def test_the_header_error_still_names_only_the_fixed_five():
    with pytest.raises(RecordingError, match=rf"x\.csv:1: header must begin {FIXED} \("):
        samples_of("time,speed\n1,2\n")


def walker_steps_off(columns: bool) -> str:
    """1 minute walking at 4 km/h and 110 spm, then 40 s on the side rails with the belt
    running (no footstrike), then back on; at 50 Hz, with or without the footstrike columns."""
    rng = random.Random(9)
    lines = [HEADER if columns else FIXED]
    for i in range(130 * 50):
        t = i / 50
        off = 60 <= t < 100
        row = f"{t:.4f},{4 / 3.6 + rng.gauss(0, 0.01):.4f},1.000,{(400.0 if off else 2.0):.2f},2.00"
        if columns:
            row += ",0.0,0.000" if off else f",{110 + rng.gauss(0, 1):.1f},{0.6 + rng.gauss(0, 0.05):.3f}"
        lines.append(row)
    return "\n".join(lines) + "\n"


def test_replay_raises_unattended_belt_from_the_columns_and_stays_silent_without_them():
    config = Config()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "BLOCK_BYTES", 20_000)  # many blocks through FastForward.feed
        with_columns = events_fast_forwarded(walker_steps_off(True), config)
        without = events_fast_forwarded(walker_steps_off(False), config)
    assert with_columns == events_sample_by_sample(walker_steps_off(True), config)
    belt = [(e["phase"], e["t"]) for e in with_columns if e["kind"] == "unattended_belt"]
    assert [phase for phase, _ in belt] == ["start", "end"]
    assert belt[0][1] == pytest.approx(80.0, abs=0.1) and belt[1][1] == pytest.approx(102.0, abs=0.1)
    assert not any(e["kind"] in ("unattended_belt", "overstride") for e in without)
    assert without == events_sample_by_sample(walker_steps_off(False), config)


# --- the snapshot and /api/status ------------------------------------------------------------------

class Belt:
    pulses, glitches = 0, 0


class SensorsWithFootstrikes:
    belt = Belt()

    def __init__(self, figures):
        self.figures = figures

    def faults(self):
        return []

    def device_errors(self):
        return {}

    def footstrike_figures(self):
        return self.figures


FIGURES = {"fifo_rate_hz": 400.0, "measured_rate_hz": 400.1, "samples": 24000, "overruns": 2,
           "past_watermark": 5, "footstrikes": 110, "off": None}


def test_the_snapshot_carries_the_footstrike_channels_the_session_cadence_and_the_fifo_figures():
    config = Config()
    maker = SnapshotMaker(config, LoopStats(), SensorsWithFootstrikes(FIGURES))
    builder = SummaryBuilder(10.0)
    builder.start(0.0)
    for i in range(11):
        builder.add_sample(Sample(i * 1.0, 1.2, 0.0, 0.0, 0.0, 112.0, 0.6))
    session = Session(started_t=0.0, last_t=10.0, distance_m=12.0)
    sample = Sample(10.0, 1.2, 0.0, 0.0, 0.0, 112.0, 0.6)
    made = maker.make(sample, session, AlertBoard(), Responses(config), summary=builder.current)
    assert made["cadence_spm"] == 112.0 and made["footstrike_g"] == 0.6
    assert made["session"]["cadence_spm"] == 112.0
    assert made["loop"]["footstrikes"] == FIGURES
    assert made["faults"] == []  # an overrun is counted, not a fault


def test_unknown_footstrikes_are_null_in_the_snapshot():
    config = Config()
    maker = SnapshotMaker(config, LoopStats(), SensorsWithFootstrikes(None))  # footstrikes off
    session = Session(started_t=0.0, last_t=10.0, distance_m=12.0)
    made = maker.make(Sample(10.0, 1.2, 0.0, 0.0, 0.0), session, AlertBoard(), Responses(config))
    assert made["cadence_spm"] is None and made["footstrike_g"] is None
    assert made["session"]["cadence_spm"] is None and made["loop"]["footstrikes"] is None


def test_api_status_has_the_footstrike_fields_and_null_when_unknown():
    source = Source()
    source.board.publish(snapshot())
    body = client(source).get("/api/status").json()
    assert (body["cadence_spm"], body["footstrike_g"], body["session"]["cadence_spm"]) == (112.5, 0.42, 110.2)
    assert body["loop"]["footstrikes"]["measured_rate_hz"] == 399.8
    unknown = snapshot(cadence_spm=None, footstrike_g=None,
                       session={"started_t": 1.0, "elapsed_s": 65.0, "distance_m": 120.5, "cadence_spm": None})
    unknown["loop"] = dict(unknown["loop"], footstrikes=None)
    source.board.publish(unknown)
    body = client(source).get("/api/status").json()
    assert body["cadence_spm"] is None and body["footstrike_g"] is None
    assert body["session"]["cadence_spm"] is None and body["loop"]["footstrikes"] is None


def test_the_openapi_schema_documents_the_footstrike_fields_with_units():
    schemas = client(Source()).get("/openapi.json").json()["components"]["schemas"]
    status = schemas["Status"]["properties"]
    assert "per minute" in status["cadence_spm"]["description"]
    assert "g above gravity" in status["footstrike_g"]["description"]
    assert "cadence_spm" in schemas["SessionStatus"]["properties"]
    assert "overruns" in schemas["FootstrikeFigures"]["properties"]
    assert "per minute" in schemas["SessionOut"]["properties"]["cadence_avg_spm"]["description"]


# --- the session summary and the history ---------------------------------------------------------

def test_the_sessions_cadence_is_time_weighted_over_the_walking_with_footstrikes():
    builder = SummaryBuilder(steep_pct=10, moving_mps=0.5 / 3.6)
    builder.start(0.0)
    t = 0.0
    # 20 s at 100 spm sampled at 10 Hz, then 10 s at 160 spm at 100 Hz: per sample the
    # average would be near 150, by time it is (20 * 100 + 10 * 160) / 30 = 120.
    while t < 20.0 - 1e-9:
        builder.add_sample(Sample(t, 1.0, 0.0, 0.0, 0.0, 100.0, 0.5))
        t += 0.1
    while t < 30.0 - 1e-9:
        builder.add_sample(Sample(t, 2.0, 0.0, 0.0, 0.0, 160.0, 1.0))
        t += 0.01
    # Left out: nobody stepping (0), unknown cadence, a standing belt, an unknown speed.
    for cadence, speed in ((0.0, 1.0), (None, 1.0), (float("nan"), 1.0), (150.0, 0.0), (150.0, None)):
        for _ in range(100):
            builder.add_sample(Sample(t, speed, 0.0, 0.0, 0.0, cadence, 0.5))
            t += 0.1
    builder.add_sample(Sample(t, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    assert builder.current.cadence_spm == pytest.approx(120.0, abs=0.1)
    assert builder.finish(t).to_dict()["cadence_avg_spm"] == pytest.approx(120.0, abs=0.1)


def test_a_history_from_before_cadence_gains_the_column_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "history.sqlite3"
    old = sqlite3.connect(path)  # the sessions table as the first version wrote it
    old.executescript("""
        CREATE TABLE sessions (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
            started_t REAL NOT NULL, duration_s REAL NOT NULL, distance_m REAL NOT NULL,
            steep_s REAL NOT NULL, max_speed_mps REAL NOT NULL, rules TEXT NOT NULL);
        INSERT INTO sessions VALUES (1, '2024-05-01T10:00:00+00:00', '2024-05-01T10:30:00+00:00', 5.0, 1800.0,
            3000.0, 0.0, 1.5, '{}');
    """)
    old.commit()
    # The page's read-only reader of the old file: no column, and no error.
    app = TestClient(create_app(Source(), Config(), hosts=["testserver"], folder=tmp_path))
    (before,) = app.get("/api/sessions").json()["sessions"]
    assert before["cadence_avg_spm"] is None and before["interrupted"] is False
    old.close()
    history = History(path)
    columns = {row[1] for row in history.db.execute("PRAGMA table_info(sessions)")}
    assert {"interrupted", "cadence_avg_spm"} <= columns
    history.save_session(None, {"started_t": 4000.0, "ended_t": 4600.0, "duration_s": 600.0, "distance_m": 900.0,
                                "steep_s": 0.0, "max_speed_mps": 1.5, "rules": {}, "cadence_avg_spm": 108.3},
                         wall_offset=1_700_000_000.0)
    history.commit()
    history.close()
    new, kept = app.get("/api/sessions").json()["sessions"]
    assert kept["id"] == 1 and kept["cadence_avg_spm"] is None and kept["distance_m"] == 3000.0
    assert new["cadence_avg_spm"] == 108.3
    assert app.get(f"/api/sessions/{new['id']}").json()["session"]["cadence_avg_spm"] == 108.3


def test_the_real_sensors_figures_fit_the_status_schema():
    config = Config()
    treadmill = VirtualTreadmill(config)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    try:
        figures = sensors.footstrike_figures()  # before the first read: the stream's own figures
        assert FootstrikeFigures(**figures).model_dump() == figures
        for i in range(20):
            sensors.read(i * 0.01)
        figures = sensors.footstrike_figures()
        assert FootstrikeFigures(**figures).model_dump() == figures
    finally:
        sensors.close()
        treadmill.stop()
