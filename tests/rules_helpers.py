"""Build sample timelines for rule tests: segments of held values at a given rate."""

from __future__ import annotations

import random

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.sample import Sample

FIELDS = ("speed_kmh", "incline", "left", "right", "cadence")


def timeline(segments, rate_hz=100.0, jitter=0.0, seed=0, start=0.0):
    """Samples for `segments`: (duration_s, {field: value}), values carrying over.

    Fields: speed_kmh, incline, left, right, cadence (spm; None, the default, as in a recording
    without the footstrike columns); None means an empty field. `jitter` is the
    largest random shift of each sample time, as a fraction of the period.
    """
    rng = random.Random(seed)
    values = {"speed_kmh": 0.0, "incline": 0.0, "left": 0.0, "right": 0.0, "cadence": None}
    period = 1.0 / rate_hz
    samples = []
    t0 = start
    k = 0
    for duration, changes in segments:
        values.update(changes)
        end = t0 + duration
        while True:
            t = start + k * period
            if t >= end - 1e-9:
                break
            if jitter:
                t += rng.uniform(-jitter, jitter) * period
            speed = values["speed_kmh"]
            samples.append(Sample(round(t, 6), None if speed is None else speed / 3.6, values["incline"],
                                  values["left"], values["right"], values["cadence"]))
            k += 1
        t0 = end
    return samples


def run(samples, config: Config | None = None):
    engine = RuleEngine(config or Config())
    events = []
    for sample in samples:
        events.extend(engine.update(sample))
    return events


def kinds(events, kind=None):
    return [(e.kind, e.phase, round(e.t, 3)) for e in events if kind is None or e.kind == kind]
