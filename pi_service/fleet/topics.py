"""The topic tree (spec 11): everything under `<base>`, Home Assistant's under its prefix."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from pi_service.config import MqttConfig


def default_device_id(hostname: str | None = None) -> str:
    """The host name, made a valid id: anything but letters, digits, '-' and '_' becomes '-'."""
    name = (hostname if hostname is not None else socket.gethostname()).split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64] or "treadmill"


@dataclass(frozen=True)
class Topics:
    device_id: str
    base: str
    prefix: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def session(self) -> str:
        return f"{self.base}/session"

    @property
    def usage(self) -> str:
        return f"{self.base}/usage"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant says `online` when it (re)starts: discovery is sent again then."""
        return f"{self.prefix}/status"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.device_id}/{object_id}/config"


def topics_for(mqtt: MqttConfig, hostname: str | None = None) -> Topics:
    device_id = mqtt.device_id or default_device_id(hostname)
    return Topics(device_id=device_id, base=mqtt.base_topic or f"treadmill-companion/{device_id}",
                  prefix=mqtt.discovery_prefix)
