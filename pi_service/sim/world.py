"""The physical treadmill and the walker on it: belt speed, deck incline, hands on the rails.

The walker follows the scenario; the world moves toward what the scenario asks at the
rates real machines manage (a belt accelerates at about 1.4 km/h per second, an incline
motor moves about 0.6 %/s). Scenario time runs `speedup` times faster than the clock;
the belt's speed itself is always real m/s, so the roller's pulses stay physical.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Callable

from pi_service.sim.scenario import Scenario, Step

BELT_ACCEL_MPS2 = 0.4
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
        self._state = WorldState(self._t0, 0.0, first.speed_kmh / 3.6, first.incline_pct,
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
        return WorldState(
            t=s.t + dt,
            scenario_t=scenario_t,
            speed_mps=_approach(s.speed_mps, target_kmh / 3.6, BELT_ACCEL_MPS2 * scenario_dt),
            incline_pct=incline,
            rail_left_n=_approach(s.rail_left_n, rails[0], HAND_RATE_N_S * scenario_dt),
            rail_right_n=_approach(s.rail_right_n, rails[1], HAND_RATE_N_S * scenario_dt),
            step=step,
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
