"""What the page shows of the events: the alerts active now and the last 20 events.

Both change only when an event arrives, so their JSON is kept from then and spliced into
every snapshot (`sampling/snapshot.py`): it is most of a snapshot's bytes."""

from __future__ import annotations

import json

from pi_service.core.events import ACTION_KINDS, Event

RECENT_EVENTS = 20


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


class AlertBoard:
    def __init__(self, recent_events: int = RECENT_EVENTS):
        self.recent_events = recent_events
        self.active: dict[tuple[str, str | None], dict] = {}  # (kind, channel) -> the alert
        self.recent: list[dict] = []
        self.active_json = "[]"
        self.recent_json = "[]"

    def add(self, event: Event) -> None:
        """A rule's event starts or ends an alert; an action's (`incline_ramp`) is only shown
        among the events: the snapshot's "ramp" says what the ramp-down is doing."""
        if event.kind not in ACTION_KINDS:
            key = (event.kind, event.detail.get("channel"))
            if event.phase == "start":
                self.active[key] = {"kind": event.kind, "since_t": event.t, "message": event.message,
                                    "level": event.level, "detail": event.detail}
            elif event.phase == "end":
                self.active.pop(key, None)
        self.recent = (self.recent + [event.to_dict()])[-self.recent_events:]
        self.active_json = _compact(list(self.active.values()))
        self.recent_json = _compact(self.recent)

    def since(self, kind: str) -> float | None:
        """When the alert of `kind` (one without a channel) started, or None if it is not active."""
        alert = self.active.get((kind, None))
        return None if alert is None else alert["since_t"]

    def faulty_channels(self) -> set[str]:
        """The channels with a `sensor_fault` active."""
        return {channel for kind, channel in self.active if kind == "sensor_fault"}
