"""The physical treadmill and the walker on it: belt speed, deck incline, hands on the rails.

The walker follows the scenario; the world moves toward what the scenario asks at the
rates real machines manage. The belt is driven as a console drives it: from standstill it
starts at its lowest speed (about 1 km/h) and holds it for a moment, then changes speed
at the step's `accel_kmh_s` (0.6 km/h per second unless a step says otherwise, e.g. a
quick-speed key). The incline motor moves about 0.6 %/s. Scenario time runs `speedup`
times faster than the clock; the belt's speed itself is always real m/s, so the roller's
pulses stay physical.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Callable

from pi_service.sim.scenario import DEFAULT_ACCEL_KMH_S, Scenario, Step
from pi_service.units import kmh_to_mps, mps_to_kmh

BELT_START_KMH = 1.0  # a console starts the belt at its lowest speed ...
BELT_START_HOLD_S = 2.0  # ... and holds it this long before it speeds up
INCLINE_RATE_PCT_S = 0.6
HAND_RATE_N_S = 400.0  # hands land on and leave the rails in a fraction of a second
CADENCE_HZ = 1.6  # footstrikes per second
INTEGRATION_STEP_S = 0.01


@dataclass(frozen=True, slots=True)
class WorldState:
    t: float  # the clock's time
    scenario_t: float
    speed_mps: float
    incline_pct: float
    rail_left_n: float
    rail_right_n: float
    step: Step
    belt_held_until: float = 0.0  # scenario time until which a just-started belt stays at its lowest speed


def _approach(value: float, target: float, max_change: float) -> float:
    if value < target:
        return min(target, value + max_change)
    return max(target, value - max_change)


class World:
    def __init__(self, scenario: Scenario, clock: Callable[[], float], speedup: float = 1.0,
                 noise: bool = True, seed: int | None = None):
        self.scenario = scenario
        self.clock = clock
        self.speedup = speedup
        self.noise = noise
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._t0 = clock()
        first = scenario.step_at(0.0)
        self._state = WorldState(self._t0, 0.0, kmh_to_mps(first.speed_kmh), first.incline_pct,
                                 first.rail_left_n, first.rail_right_n, first)
        self.override_speed_kmh: float | None = None  # the page's sim controls, over the scenario
        self.override_rails_n: tuple[float, float] | None = None
        self._incline_motor: Callable[[], float] | None = None
        self._console_key: Callable[[float], None] | None = None

    def attach_console(self, incline_motor: Callable[[], float], console_key: Callable[[float], None]) -> None:
        """The deck's incline comes from the console's motor from now on, and the walker's
        incline changes are presses of the console's preset keys."""
        self._incline_motor = incline_motor
        self._console_key = console_key

    def state_at(self, t: float | None = None) -> WorldState:
        """The world at clock time `t` (now by default); time only moves forward."""
        t = self.clock() if t is None else t
        with self._lock:
            state = self._state
            while state.t < t:
                dt = min(INTEGRATION_STEP_S, t - state.t)
                state = self._advance(state, dt)
            self._state = state
            return state

    def _advance(self, s: WorldState, dt: float) -> WorldState:
        scenario_dt = dt * self.speedup
        scenario_t = s.scenario_t + scenario_dt
        step = self.scenario.step_at(scenario_t)
        target_kmh = step.speed_kmh if self.override_speed_kmh is None else self.override_speed_kmh
        rails = (step.rail_left_n, step.rail_right_n) if self.override_rails_n is None else self.override_rails_n
        if self._incline_motor is not None:
            if step is not s.step and step.incline_pct != s.step.incline_pct:
                self._console_key(step.incline_pct)
            incline = self._incline_motor()
        else:
            incline = _approach(s.incline_pct, step.incline_pct, INCLINE_RATE_PCT_S * scenario_dt)
        speed_kmh, held_until = mps_to_kmh(s.speed_mps), s.belt_held_until
        if speed_kmh == 0.0 and target_kmh > 0.0:
            speed_kmh, held_until = min(target_kmh, BELT_START_KMH), scenario_t + BELT_START_HOLD_S
        elif scenario_t >= held_until or target_kmh < speed_kmh:
            accel = step.accel_kmh_s if self.override_speed_kmh is None else DEFAULT_ACCEL_KMH_S
            speed_kmh = _approach(speed_kmh, target_kmh, accel * scenario_dt)
        return WorldState(
            t=s.t + dt,
            scenario_t=scenario_t,
            speed_mps=kmh_to_mps(speed_kmh),
            incline_pct=incline,
            rail_left_n=_approach(s.rail_left_n, rails[0], HAND_RATE_N_S * scenario_dt),
            rail_right_n=_approach(s.rail_right_n, rails[1], HAND_RATE_N_S * scenario_dt),
            step=step,
            belt_held_until=held_until,
        )

    # What the sensors see: the physical state plus the walker's footstrikes.

    def belt_speed_mps(self, t: float | None = None) -> float:
        s = self.state_at(t)
        if not self.noise or s.speed_mps <= 0:
            return s.speed_mps
        # Each footstrike brakes the belt slightly: a 1 % ripple at the cadence.
        return s.speed_mps * (1 + 0.01 * math.sin(2 * math.pi * CADENCE_HZ * s.t))

    def rail_forces_n(self, t: float | None = None) -> tuple[float, float]:
        s = self.state_at(t)
        if not self.noise:
            return s.rail_left_n, s.rail_right_n
        # Walking, the weight shifts left/right with each stride; standing, it does not.
        sway = 0.08 * math.sin(2 * math.pi * CADENCE_HZ / 2 * s.t) if s.speed_mps > 0 else 0.0
        noise = self._random.gauss
        return (max(0.0, s.rail_left_n * (1 + sway) + noise(0, 0.8)),
                max(0.0, s.rail_right_n * (1 - sway) + noise(0, 0.8)))

    def deck_pitch_deg(self, t: float | None = None) -> float:
        return math.degrees(math.atan(self.state_at(t).incline_pct / 100.0))

    def deck_vibration_mps2(self) -> float:
        """Vertical jolt of the deck at a footstrike, for the accelerometer's noise."""
        if not self.noise:
            return 0.0
        return self._random.gauss(0, 0.3)
