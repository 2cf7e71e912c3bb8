"""When the rules start: once every sensor has answered, not at the sampler's first tick.

Just started, a sampler has read nothing yet: the belt speed is unknown until its sensor has
had the time for two pulses (0.45 s), the rails until the ADC has converted each in turn,
the incline until the FIFO has filled and the gravity vector settled. That is the sensors
starting, not failing; but a rule fed those samples counts them as a channel empty, and a
slow start (a Pi Zero, a loaded machine, the first tick followed by a pause while the
daemon reports ready) makes them add up to the 0.5 s of a `sensor_fault`: a fault tone at
every boot, which also holds back the next real fault's nudge for a minute.

So the tick publishes its readings from the first tick (the page shows them, unknown as
unknown), but the rules, the nudges and the recording begin with the first sample in which
every channel has a value, or `START_UP_S` after the first tick, whichever comes first: a
sensor that never answers is still a `sensor_fault`, 0.5 s after that.
"""

from __future__ import annotations

from pi_service.core.sample import Sample

START_UP_S = 2.0  # the slowest sensor's start (the belt's 0.45 s) with room for a slow machine


class StartUp:
    def __init__(self, allowance_s: float = START_UP_S):
        self.allowance_s = allowance_s
        self.first_t: float | None = None
        self.began_t: float | None = None  # the first sample the rules saw
        self.missing: tuple[str, ...] = ()  # the channels still without a value when they began

    @property
    def done(self) -> bool:
        return self.began_t is not None

    def ready(self, sample: Sample) -> bool:
        """Whether the rules see this sample (and every one after it)."""
        if self.began_t is not None:
            return True
        if self.first_t is None:
            self.first_t = sample.t
        missing = tuple(name for name in ("speed_mps", "incline_pct", "rail_left_n", "rail_right_n")
                        if getattr(sample, name) is None)
        if missing and sample.t - self.first_t < self.allowance_s:
            return False
        self.began_t, self.missing = sample.t, missing
        return True

    def describe(self) -> str:
        """For the log, once begun: how long the sensors took, and which did not answer."""
        waited = self.began_t - self.first_t
        if not self.missing:
            return f"every sensor answered {waited:.2f} s after the first tick"
        return (f"no reading from {', '.join(self.missing)} {waited:.1f} s after the first tick: "
                f"the rules start without (a sensor_fault follows)")
