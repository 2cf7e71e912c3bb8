"""A condition that counts only once it has held for a minimum time, dated from when it began.

The spec's noise rule: "conditions must hold for at least 0.2 s before they count". A
raw change that reverts sooner is ignored; one that lasts is confirmed and backdated to
its first sample, so a rule's timing does not depend on the sample rate. Unknown (None)
carries no evidence either way: the last known state stands.
"""

from __future__ import annotations

INF = float("inf")


class Held:
    __slots__ = ("min_s", "raw", "raw_since", "state", "since")

    def __init__(self, min_s: float, initial: bool = False):
        self.min_s = min_s
        self.raw = initial
        self.raw_since = -INF
        self.state = initial
        self.since = -INF

    def update(self, t: float, raw: bool | None) -> bool:
        """Feed one sample's raw condition; True if the confirmed state changed."""
        if raw is not None and raw != self.raw:
            self.raw = raw
            self.raw_since = t
        if self.raw != self.state and t - self.raw_since >= self.min_s:
            self.state = self.raw
            self.since = self.raw_since
            return True
        return False

    def held_until(self, t: float, duration: float) -> float | None:
        """When the confirmed-true state completed `duration`, once that is certain; else None.

        A raw flip before the completion time is still in doubt until it is confirmed or
        dismissed as noise, so the answer waits for it.
        """
        if not self.state:
            return None
        done = self.since + duration
        if t < done or (not self.raw and self.raw_since < done):
            return None
        return done

    def wake(self, duration: float | None = None) -> float:
        """The earliest time this could change with the raw condition unchanged: its
        confirmation, or (if given) when the confirmed state completes `duration`."""
        if self.raw != self.state:
            return self.raw_since + self.min_s
        if duration is not None and self.state:
            return self.since + duration
        return INF

    def reset(self, state: bool = False) -> None:
        self.raw = self.state = state
        self.raw_since = self.since = -INF
