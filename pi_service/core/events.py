"""Events the rules return: what happened, when (the recording's seconds), and what to tell the person."""

from __future__ import annotations

from dataclasses import dataclass, field

INTERVAL_KINDS = ("rail_lean", "rail_hold", "steep_incline", "sensor_fault", "unattended_belt", "overstride")  # the rest are instant
ACTION_KINDS = ("incline_ramp",)  # events of what the daemon did, not of a rule (an interval too)


@dataclass(frozen=True, slots=True)
class Event:
    t: float
    kind: str
    phase: str  # "start" / "end" for interval rules, "instant" for instant rules
    message: str = ""
    level: str = "warning"
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {"t": round(self.t, 3), "kind": self.kind, "phase": self.phase}
        if self.message:
            data["message"] = self.message
        data["level"] = self.level
        if self.detail:
            data["detail"] = self.detail
        return data
