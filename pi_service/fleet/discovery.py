"""Home Assistant MQTT discovery for one treadmill (spec 11): one device, its sensors, a
binary sensor per safety rule, the belt, the usage counters; every entity tied to the
availability topic, so Home Assistant greys them out when the companion goes `offline`.

Pure: `discovery_messages` gives (topic, config) pairs, published retained; `removal_topics`
the same topics, which an empty retained message deletes (and with them the entities).
The fields are Home Assistant's documented ones (MQTT sensor and binary sensor
integrations); values the state cannot give are rendered `None`, which Home Assistant
takes as unknown.
"""

from __future__ import annotations

from pi_service import __version__
from pi_service.fleet.state import INSTANT_KINDS, RULE_KINDS
from pi_service.fleet.topics import Topics

RULE_NAMES = {
    "rail_lean": "Leaning on the rails", "rail_hold": "Holding the rails", "steep_incline": "Steep incline held",
    "speed_jump": "Speed jump", "no_warmup": "No warm-up", "abrupt_stop": "Abrupt stop",
    "sensor_fault": "Sensor fault", "unattended_belt": "Belt running unattended", "overstride": "Overstriding",
}
# `safety`: someone may get hurt now; `problem`: a habit or a part to see to.
SAFETY_RULES = ("unattended_belt", "rail_lean")

# object id -> (name, value template, unit, device class, state class, extra)
STATE_SENSORS = {
    "speed": ("Belt speed", "{{ value_json.speed_kmh }}", "km/h", "speed", "measurement",
              {"suggested_display_precision": 1}),
    "incline": ("Incline", "{{ value_json.incline_pct }}", "%", None, "measurement",
                {"icon": "mdi:slope-uphill", "suggested_display_precision": 1}),
    "rail_force": ("Rail force", "{{ value_json.rail_total_n }}", "N", None, "measurement",
                   {"icon": "mdi:hand-back-left", "suggested_display_precision": 0}),
    "rail_left": ("Left rail force", "{{ value_json.rail_left_n }}", "N", None, "measurement",
                  {"icon": "mdi:hand-back-left", "suggested_display_precision": 0, "entity_category": "diagnostic"}),
    "rail_right": ("Right rail force", "{{ value_json.rail_right_n }}", "N", None, "measurement",
                   {"icon": "mdi:hand-back-right", "suggested_display_precision": 0,
                    "entity_category": "diagnostic"}),
    "cadence": ("Cadence", "{{ value_json.cadence_spm }}", "steps/min", None, "measurement",
                {"icon": "mdi:shoe-print", "suggested_display_precision": 0}),
    "session_time": ("Session time", "{{ value_json.session.elapsed_s if value_json.session else 0 }}", "s",
                     "duration", "measurement", {}),
    "session_distance": ("Session distance", "{{ value_json.session.distance_m if value_json.session else 0 }}",
                         "m", "distance", "measurement", {"suggested_display_precision": 0}),
}
USAGE_SENSORS = {
    "belt_hours": ("Belt hours", "{{ value_json.belt_hours }}", "h", "duration", "total_increasing",
                   {"suggested_display_precision": 1, "entity_category": "diagnostic"}),
    "belt_distance": ("Belt distance", "{{ value_json.distance_km }}", "km", "distance", "total_increasing",
                      {"suggested_display_precision": 1, "entity_category": "diagnostic"}),
    "sessions": ("Sessions", "{{ value_json.sessions }}", None, None, "total_increasing",
                 {"icon": "mdi:counter", "entity_category": "diagnostic"}),
}


def device(topics: Topics) -> dict:
    return {"identifiers": [f"treadmill-companion-{topics.device_id}"], "name": f"Treadmill {topics.device_id}",
            "manufacturer": "Treadmill Companion", "model": "Treadmill Companion on a Raspberry Pi",
            "sw_version": __version__}


def _entity(topics: Topics, object_id: str, name: str, state_topic: str, template: str) -> dict:
    return {"name": name, "unique_id": f"treadmill-companion-{topics.device_id}-{object_id}",
            "state_topic": state_topic, "value_template": template,
            "availability_topic": topics.availability, "payload_available": "online",
            "payload_not_available": "offline", "device": device(topics),
            "origin": {"name": "Treadmill Companion", "sw_version": __version__}}


def _sensor(topics: Topics, object_id: str, state_topic: str, spec: tuple) -> tuple[str, dict]:
    name, template, unit, device_class, state_class, extra = spec
    config = _entity(topics, object_id, name, state_topic, template)
    if unit is not None:
        config["unit_of_measurement"] = unit
    if device_class is not None:
        config["device_class"] = device_class
    config["state_class"] = state_class
    return topics.config("sensor", object_id), {**config, **extra}


def _binary(topics: Topics, object_id: str, name: str, state_topic: str, condition: str, device_class: str,
            extra: dict | None = None) -> tuple[str, dict]:
    config = _entity(topics, object_id, name, state_topic, "{{ 'ON' if " + condition + " else 'OFF' }}")
    config.update(payload_on="ON", payload_off="OFF", device_class=device_class, **(extra or {}))
    return topics.config("binary_sensor", object_id), config


def discovery_messages(topics: Topics) -> list[tuple[str, dict]]:
    messages = [_sensor(topics, object_id, topics.state, spec) for object_id, spec in STATE_SENSORS.items()]
    messages += [_sensor(topics, object_id, topics.usage, spec) for object_id, spec in USAGE_SENSORS.items()]
    messages.append(_binary(topics, "belt_running", "Belt running", topics.state, "value_json.belt_running",
                            "running"))
    for kind in RULE_KINDS:
        extra = {"icon": "mdi:alert-decagram"} if kind in INSTANT_KINDS else {}
        messages.append(_binary(topics, kind, RULE_NAMES[kind], topics.state, f"value_json.rules.{kind}",
                                "safety" if kind in SAFETY_RULES else "problem", extra))
    messages.append(_binary(topics, "lubrication_due", "Belt lubrication due", topics.usage,
                            "value_json.lubrication_due", "problem", {"entity_category": "diagnostic",
                                                                      "icon": "mdi:oil"}))
    return messages


def removal_topics(topics: Topics) -> list[str]:
    """Every retained topic this treadmill publishes: its discovery configs, availability, usage."""
    return [topic for topic, _ in discovery_messages(topics)] + [topics.availability, topics.usage]
