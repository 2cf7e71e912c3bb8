"""Scenario files: what the simulated walker does, step by step.

A scenario is TOML with optional `name`, `description`, `loop` and `walker_mass_kg` (the
walker's weight, 75 kg unless it says: the footstrikes' size follows it), and an array of
`[[step]]` tables. Each step lasts `duration_s` and sets the console's speed (`speed_kmh`),
the incline the walker asks for (`incline_pct`), the force of each hand on the rails
(`rail_left_n`, `rail_right_n`) and the walker's steps per minute (`cadence_spm`, 40-240;
until a step sets it, the cadence follows the belt's speed: sim/walker.py); a value a step
leaves out carries over from the step before. Two settings hold for their own step only
and are not carried over: `accel_kmh_s`, how fast the console changes the belt's speed
during that step (default 0.6 km/h per second, as a console's speed keys), so a "sudden
speed jump" step says so with a quick key's rate; and `off_belt = true`, the walker
standing on the side rails beside the belt (no footstrikes, even with the belt running),
so the next step is back on the belt unless it says otherwise. `note` says what the step
shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from pi_service.config import read_text, validate_toml
from pi_service.sim.walker import DEFAULT_MASS_KG

DEFAULT_ACCEL_KMH_S = 0.6  # a console's speed keys: gentle enough that starting the belt is no speed jump


# strict, as the config is: "5" is not a speed and "yes" is not a boolean; nan and inf are not values.
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _Step(BaseModel):
    model_config = _STRICT
    duration_s: float = Field(gt=0, le=86400)
    speed_kmh: float | None = Field(None, ge=0, le=30)
    incline_pct: float | None = Field(None, ge=-5, le=45)
    rail_left_n: float | None = Field(None, ge=0, le=2000)
    rail_right_n: float | None = Field(None, ge=0, le=2000)
    cadence_spm: float | None = Field(None, ge=40, le=240)
    accel_kmh_s: float = Field(DEFAULT_ACCEL_KMH_S, gt=0, le=10)
    off_belt: bool = False
    note: str = ""


class _ScenarioFile(BaseModel):
    model_config = _STRICT
    name: str = "scenario"
    description: str = ""
    loop: bool = False
    walker_mass_kg: float = Field(DEFAULT_MASS_KG, ge=20, le=250)
    step: list[_Step] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Step:
    start_s: float
    duration_s: float
    speed_kmh: float
    incline_pct: float
    rail_left_n: float
    rail_right_n: float
    note: str
    accel_kmh_s: float = DEFAULT_ACCEL_KMH_S
    cadence_spm: float | None = None  # None: the walker's cadence follows the belt's speed
    off_belt: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    loop: bool
    steps: tuple[Step, ...]
    walker_mass_kg: float = DEFAULT_MASS_KG

    @property
    def duration_s(self) -> float:
        last = self.steps[-1]
        return last.start_s + last.duration_s

    def step_at(self, t: float) -> Step:
        """The step in force `t` seconds into the scenario (the last one holds after the end)."""
        if self.loop and t >= 0:
            t %= self.duration_s
        for step in self.steps:
            if t < step.start_s + step.duration_s:
                return step
        return self.steps[-1]


def parse_scenario(text: str, source: str) -> Scenario:
    parsed = validate_toml(_ScenarioFile, text, source)
    steps, start = [], 0.0
    carried: dict[str, float | None] = {"speed_kmh": 0.0, "incline_pct": 0.0, "rail_left_n": 0.0,
                                        "rail_right_n": 0.0, "cadence_spm": None}
    for raw in parsed.step:
        for key in carried:
            value = getattr(raw, key)
            if value is not None:
                carried[key] = value
        steps.append(Step(start, raw.duration_s, note=raw.note, accel_kmh_s=raw.accel_kmh_s, off_belt=raw.off_belt,
                          **carried))
        start += raw.duration_s
    return Scenario(parsed.name, parsed.description, parsed.loop, tuple(steps), parsed.walker_mass_kg)


def load_scenario(name_or_path: str) -> Scenario:
    """A bundled scenario by name (`default`), or a scenario file by path."""
    bundled = resources.files("pi_service.sim") / "scenarios" / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and bundled.is_file():
        return parse_scenario(bundled.read_text(encoding="utf-8"), f"scenario {name_or_path}")
    names = sorted(p.name.removesuffix(".toml") for p in (resources.files("pi_service.sim") / "scenarios").iterdir()
                   if p.name.endswith(".toml"))
    text = read_text(name_or_path, f"scenario file (bundled scenarios: {', '.join(names)})")
    return parse_scenario(text, name_or_path)
