"""The fleet link against a real broker: Debian's Mosquitto on 127.0.0.1, read with Debian's
`mosquitto_sub`, and the daemon run as a user runs it (`run --sim`, real signals)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from pi_service.config import Config, MqttConfig, parse_config
from pi_service.fleet.broker import probe
from pi_service.fleet.cli import set_enabled
from pi_service.fleet.discovery import discovery_messages
from pi_service.fleet.publisher import FleetPublisher
from pi_service.fleet.state import state_payload
from pi_service.fleet.topics import topics_for
from pi_service.storage import outbox
from pi_service.storage.history import History
from tests.conftest import run_cli
from tests.mosquitto import Broker, make_ca, payload
from tests.test_daemon import get, start, stop
from tests.test_page_browser import ARTIFACTS, browser  # noqa: F401 - the Chromium fixture

# Home Assistant's documented discovery fields (MQTT Sensor and MQTT Binary sensor pages,
# and the shared availability/device options) and the device classes used here, with the
# units Home Assistant accepts for each.
COMMON = {"name", "unique_id", "state_topic", "value_template", "availability_topic", "payload_available",
          "payload_not_available", "device", "origin", "icon", "entity_category", "availability",
          "availability_mode", "expire_after", "json_attributes_topic", "json_attributes_template", "qos",
          "enabled_by_default", "force_update", "object_id", "default_entity_id", "encoding"}
FIELDS = {"sensor": COMMON | {"unit_of_measurement", "device_class", "state_class", "suggested_display_precision",
                              "last_reset_value_template", "options"},
          "binary_sensor": COMMON | {"payload_on", "payload_off", "device_class", "off_delay"}}
SENSOR_UNITS = {"speed": {"km/h", "m/s", "mph", "ft/s", "kn"}, "distance": {"km", "m", "cm", "mm", "mi", "yd", "in"},
                "duration": {"d", "h", "min", "s", "ms"}, None: None}
BINARY_CLASSES = {"problem", "safety", "running", "moving", "connectivity"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
DEVICE_FIELDS = {"identifiers", "connections", "name", "manufacturer", "model", "sw_version", "hw_version",
                 "configuration_url", "suggested_area", "via_device", "serial_number", "model_id"}


def check_discovery(topic: str, config: dict, topics) -> None:
    prefix, component, node, object_id, last = topic.split("/")
    assert (prefix, node, last) == (topics.prefix, topics.device_id, "config"), topic
    assert set(config) <= FIELDS[component], (topic, set(config) - FIELDS[component])
    assert config["availability_topic"] == topics.availability and config["state_topic"].startswith(topics.base)
    assert set(config["device"]) <= DEVICE_FIELDS and config["device"]["identifiers"]
    if component == "sensor":
        assert config["state_class"] in STATE_CLASSES
        units = SENSOR_UNITS[config.get("device_class")]
        assert units is None or config["unit_of_measurement"] in units, topic
    else:
        assert config["device_class"] in BINARY_CLASSES and (config["payload_on"], config["payload_off"]) == ("ON", "OFF")


def render(template: str, value_json: dict) -> str:
    """Home Assistant's templates are Jinja; the ones used here are one expression each, which
    Python evaluates alike once Jinja's `value_json.x` is made attribute access on dicts."""
    class Obj(dict):
        __getattr__ = lambda self, key: wrap(self[key])  # noqa: E731

    def wrap(value):
        return Obj(value) if isinstance(value, dict) else value

    expression = template.strip()
    assert expression.startswith("{{") and expression.endswith("}}"), template
    expression = expression[2:-2].replace(" none", " None")
    return str(eval(expression, {}, {"value_json": wrap(value_json)}))  # noqa: S307 - our own templates


def write_config(folder: Path, broker: Broker, extra: str = "", keepalive: int = 2) -> Path:
    path = folder / "config.toml"
    path.write_text(f"""demo = true
[mqtt]
enabled = true
host = "{'localhost' if broker.tls else '127.0.0.1'}"
port = {broker.port}
device_id = "tm1"
keepalive_s = {keepalive}
{extra}
""")
    return path


def sim_snapshot(t: float) -> dict:
    return {"t": t, "speed_mps": 1.5, "incline_pct": 3.0, "rail_left_n": 10.0, "rail_right_n": 12.0,
            "cadence_spm": 110.0, "alerts": [{"kind": "rail_lean"}], "events": [{"t": t - 5, "kind": "speed_jump"}],
            "session": {"elapsed_s": 61.0, "distance_m": 90.0}, "faults": []}


class Board:
    def read(self, wait_s=None):
        return sim_snapshot(time.monotonic())


# -- pure parts -------------------------------------------------------------------------------

def test_every_discovery_config_has_home_assistants_fields_and_its_template_renders_the_state():
    topics = topics_for(MqttConfig(device_id="tm1"))
    messages = discovery_messages(topics)
    state = state_payload(sim_snapshot(100.0), 0.14, 0.0)
    idle = state_payload({**sim_snapshot(100.0), "session": None, "speed_mps": None, "alerts": [], "events": []},
                         0.14, 0.0)
    usage = {"belt_hours": 1.5, "distance_km": 9.0, "sessions": 3, "lubrication_due": True}
    assert len({c["unique_id"] for _, c in messages}) == len(messages)
    rendered = {}
    for topic, config in messages:
        check_discovery(topic, config, topics)
        source = usage if config["state_topic"] == topics.usage else state
        rendered[topic.split("/")[3]] = render(config["value_template"], source)
        if config["state_topic"] == topics.state:
            render(config["value_template"], idle)  # an unknown reading renders, as None (unknown)
    assert rendered["speed"] == "5.4" and rendered["rail_force"] == "22.0" and rendered["session_time"] == "61.0"
    assert rendered["rail_lean"] == "ON" and rendered["speed_jump"] == "ON" and rendered["steep_incline"] == "OFF"
    assert rendered["belt_running"] == "ON" and rendered["lubrication_due"] == "ON"
    assert render("{{ value_json.speed_kmh }}", idle) == "None"


def test_the_outbox_keeps_order_and_bounds_itself_counting_what_it_dropped(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    for n in range(15):
        outbox.put(history.db, "event", {"n": n}, limit=10)
    history.commit()
    box = outbox.Outbox(tmp_path / "h.sqlite3")
    rows = box.after(0, 100)
    assert [json.loads(text)["n"] for _, _, text in rows] == list(range(5, 15)) and box.dropped() == 5
    box.remove([seq for seq, _, _ in rows[:3]])
    assert box.waiting() == 7 and box.after(rows[2][0], 1)[0][0] == rows[3][0]


def test_mqtt_off_edits_only_the_enabled_line_and_keeps_comments():
    text = "# mine\n[mqtt]\nenabled = true   # on for the gym\nhost = \"broker\"\n"
    assert set_enabled(text, False) == "# mine\n[mqtt]\nenabled = false   # on for the gym\nhost = \"broker\"\n"
    assert parse_config(set_enabled("[mqtt]\nhost = \"b\"\n", True), "x").mqtt.enabled
    assert not parse_config(set_enabled("units = \"mph\"", False), "x").mqtt.enabled


# -- against Mosquitto ------------------------------------------------------------------------

def test_the_daemon_announces_itself_publishes_state_at_1_hz_and_is_offline_after_kill_9(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    topics = topics_for(MqttConfig(device_id="tm1"))
    live = broker.subscriber(f"{topics.base}/#")
    process, port, _ = start("--config", str(write_config(tmp_path, broker)), state=tmp_path / "state")
    try:
        live.wait_for(lambda m: len([x for x in m if x["topic"] == topics.state and payload(x)["session"]]) >= 6,
                      timeout_s=40, what="six state messages in a session")
        retained = broker.subscriber("homeassistant/#", f"{topics.base}/availability", f"{topics.base}/usage")
        expected = {topic for topic, _ in discovery_messages(topics)}
        got = retained.wait_for(lambda m: {x["topic"] for x in m} >= expected | {topics.availability} and m,
                                timeout_s=20, what="every retained discovery config")
        for message in got:
            assert message["retain"] == 1, message["topic"]
            if message["topic"] in expected:
                check_discovery(message["topic"], payload(message), topics)
        assert payload(retained.on(topics.availability)[-1]) == "online"
        in_session = [payload(m)["t"] for m in live.on(topics.state) if payload(m)["session"]]
        gaps = [b - a for a, b in zip(in_session, in_session[1:])]
        assert 0.9 <= statistics.median(gaps) <= 1.1, gaps
        status = get(port, "/api/status")[1]
        assert status["mqtt"]["connected"] and status["mqtt"]["sent"]["discovery"] == len(expected)
        os.killpg(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        live.wait_for(lambda m: payload(m[-1]) == "offline" and m[-1]["topic"] == topics.availability,
                      timeout_s=15, what="the last will")
        # The broker's keepalive rule: offline within 1.5 keepalives (2 s) of the last packet.
        assert time.monotonic() - killed <= 2 * 1.5 + 1.5
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        live.stop()
        broker.stop()


def test_every_event_arrives_once_through_a_30_s_broker_outage_and_a_daemon_restart(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    topics = topics_for(MqttConfig(device_id="tm1"))
    events = broker.subscriber(topics.event, topics.session, client_id="fleet-test")  # a session: QoS 1 kept
    config = write_config(tmp_path, broker, keepalive=5)
    state = tmp_path / "state"
    process, port, _ = start("--config", str(config), "--speedup", "10", state=state)
    try:
        events.wait_for(lambda m: len(m) >= 2, timeout_s=60, what="two events")
        broker.stop()
        time.sleep(12)  # events raised while the broker is away
        assert get(port, "/api/status")[1]["mqtt"]["waiting"] >= 1
        assert any(f["channel"] == "mqtt" for f in get(port, "/api/status")[1]["faults"])
        assert stop(process)[0] == 0
        process, port, _ = start("--config", str(config), "--speedup", "10", state=state)
        time.sleep(18)  # the outage is 30 s in all, across the restart
        broker.start()
        events.stop()
        events.start()  # mosquitto_sub gives up when its broker goes: its session brings the rest
        deadline = time.monotonic() + 30
        while get(port, "/api/status")[1]["mqtt"]["waiting"] > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stop(process)[0] == 0
        with sqlite3.connect(state / "sim" / "history.sqlite3") as db:
            stored = sorted((round(t, 3), kind, phase) for t, kind, phase in
                            db.execute("SELECT t, kind, phase FROM events"))
        def arrived(messages):
            got = sorted((payload(m)["t"], payload(m)["kind"], payload(m)["phase"]) for m in messages
                         if m["topic"] == topics.event)
            return got if len(got) >= len(stored) else None
        got = events.wait_for(arrived, timeout_s=20, what=f"all {len(stored)} stored events")
        assert got == stored  # each once, none lost, none twice
        seqs = [payload(m)["seq"] for m in events.messages if m["topic"] == topics.event]
        assert seqs == sorted(seqs)  # in order
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        events.stop()
        broker.stop()


def test_tls_with_a_test_ca_and_a_certificate_not_trusted(tmp_path):
    ca = make_ca(tmp_path / "ca")
    broker = Broker(tmp_path / "broker", tls=ca).start()
    try:
        good = MqttConfig(enabled=True, host="localhost", port=broker.port, tls_ca_file=str(ca.ca), device_id="tm1")
        ok, detail = probe(good, topics_for(good))
        assert ok and "TLS, certificate checked" in detail
        other = make_ca(tmp_path / "other")
        bad = good.model_copy(update={"tls_ca_file": str(other.ca)})
        ok, detail = probe(bad, topics_for(bad))
        assert not ok and "not trusted" in detail and "mqtt.tls_ca_file" in detail
        plain = good.model_copy(update={"tls_ca_file": ""})
        assert not probe(plain, topics_for(plain))[0]
        # The publisher over TLS: state reaches a subscriber that checks the same CA.
        sub = broker.subscriber("treadmill-companion/tm1/state")
        publisher = FleetPublisher(Config(mqtt=good), Board(), tmp_path / "h.sqlite3")
        publisher.start()
        try:
            sub.wait_for(lambda m: m, timeout_s=20, what="a state message over TLS")
            assert publisher.connected and publisher.error is None
        finally:
            publisher.close()
            sub.stop()
    finally:
        broker.stop()


def test_a_wrong_password_is_a_fault_on_the_page_and_in_doctor_and_the_loop_runs_on(tmp_path, browser):
    broker = Broker(tmp_path / "broker", users={"tm1": "right horse"}).start()
    (tmp_path / "password").write_text("wrong horse\n")
    config = write_config(tmp_path, broker, f'username = "tm1"\npassword_file = "{tmp_path / "password"}"')
    process, port, _ = start("--config", str(config), state=tmp_path / "state")
    try:
        deadline = time.monotonic() + 20
        while True:
            status = get(port, "/api/status")[1]
            faults = [f for f in status["faults"] if f["channel"] == "mqtt"]
            if faults or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert faults and "refused the login" in faults[0]["reason"] and "password_file" in faults[0]["reason"]
        assert not status["mqtt"]["connected"] and not status["alerts"]
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => !document.getElementById('notices').hidden", timeout=15000)
        notice = page.inner_text("#notices")
        page.screenshot(path=str(ARTIFACTS / "fleet-wrong-password.png"), full_page=True)
        assert "Home Assistant link" in notice and "refused the login" in notice, notice
        page.close()
        time.sleep(1.0)
        later = get(port, "/api/status")[1]
        assert later["loop"]["ticks"] - status["loop"]["ticks"] >= 80 and get(port, "/healthz")[0] == 200
    finally:
        stop(process)
    doctor = run_cli("doctor", "--sim", "--config", str(config), "--json", timeout=120,
                     env=dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state")))
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert doctor.returncode == 1 and checks["MQTT broker"]["result"] == "FAIL"
    assert "refused the login" in checks["MQTT broker"]["detail"]
    (tmp_path / "password").write_text("right horse\n")
    assert probe(parse_config(config.read_text(), "c").mqtt, topics_for(MqttConfig(device_id="tm1")))[0]
    broker.stop()


def test_mqtt_off_removes_the_entities_and_turns_the_config_off(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    config_path = write_config(tmp_path, broker)
    config = parse_config(config_path.read_text(), "c")
    publisher = FleetPublisher(config, Board(), tmp_path / "h.sqlite3")
    publisher.start()
    topics = topics_for(config.mqtt)
    count = len(discovery_messages(topics))
    try:
        seen = broker.subscriber("homeassistant/+/tm1/+/config")
        seen.wait_for(lambda m: len(m) >= count, timeout_s=20, what="the discovery")
        # Home Assistant restarts and says so: every config is sent again (live, not from the retained store).
        subprocess.run(["mosquitto_pub", *broker.sub_args(), "-t", "homeassistant/status", "-m", "online"],
                       check=True, timeout=10)
        again = seen.wait_for(lambda m: [x for x in m if not x["retain"]] if len(m) >= 2 * count else None,
                              timeout_s=20, what="the discovery sent again")
        assert {m["topic"] for m in again} == {topic for topic, _ in discovery_messages(topics)}
        seen.stop()
    finally:
        publisher.close()
    done = run_cli("mqtt", "off", "--config", str(config_path), env=dict(os.environ, STATE_DIRECTORY=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout and not parse_config(config_path.read_text(), "c").mqtt.enabled
    after = broker.subscriber("homeassistant/#", f"{topics.base}/#")
    time.sleep(1.5)  # what is retained arrives at once on subscribing: nothing should
    assert [m["topic"] for m in after.messages if m["payloadlen"]] == []
    after.stop()
    broker.stop()


def test_usage_counts_the_history_and_the_lubrication_hint_comes_due_and_resets(tmp_path):
    from pi_service.config import MaintenanceConfig
    from pi_service.maintenance.doctor import WARN, PASS, service_checks
    from pi_service.storage.usage import read_usage

    path = tmp_path / "sim" / "history.sqlite3"
    history = History(path)
    for n in range(3):  # three sessions of 20 min at 9 km/h: 1 h, 9 km
        history.save_session(None, {"started_t": 1000.0 * n, "ended_t": 1000.0 * n + 1200, "duration_s": 1200.0,
                                    "distance_m": 3000.0, "steep_s": 0.0, "max_speed_mps": 2.5, "rules": {}}, 0.0)
    history.commit()
    history.close()
    maintenance = MaintenanceConfig(lubricate_every_h=50, lubricate_every_km=8)
    usage = read_usage(path, maintenance)
    assert (usage.belt_hours, usage.distance_km, usage.sessions, usage.lubrication_due) == (1.0, 9.0, 3, True)
    assert "belt lubrication due" in usage.hint() and "usage --lubricated" in usage.hint()
    config = parse_config("demo = true\n[maintenance]\nlubricate_every_km = 8\n", "c")
    assert service_checks(config, path)[-1].result == WARN
    config_file = tmp_path / "c.toml"
    config_file.write_text("demo = true\n[maintenance]\nlubricate_every_km = 8\n")
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path))
    done = run_cli("usage", "--config", str(config_file), "--lubricated", "--json", env=env)
    after = json.loads(done.stdout)
    assert done.returncode == 0 and after["lubricated_at"] and not after["lubrication_due"] and after["hint"] is None
    assert (after["belt_hours"], after["sessions"], after["km_since_lubrication"]) == (1.0, 3, 0.0)
    assert service_checks(config, path)[-1].result == PASS
