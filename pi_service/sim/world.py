"""The physical treadmill and the walker on it: belt speed, deck incline, hands on the rails,
and what shakes the deck (the walker's footstrikes, the belt drive's vibration).

The walker follows the scenario; the world moves toward what the scenario asks at the
rates real machines manage. The belt is driven as a console drives it: from standstill it
starts at its lowest speed (about 1 km/h) and holds it for a moment, then changes speed
at the step's `accel_kmh_s` (0.6 km/h per second unless a step says otherwise, e.g. a
quick-speed key). The incline motor moves about 0.6 %/s. Scenario time runs `speedup`
times faster than the clock; the belt's speed itself is always real m/s, so the roller's
pulses stay physical, and so do the walker's footstrikes (sim/walker.py): they land in
clock time, at the step's cadence, whatever the speedup.

The deck's vertical acceleration beyond gravity is the footstrikes' jolts, plus, while the
belt moves, the drive's vibration: the front roller's imbalance at its rotation frequency
(belt speed / (pi x roller diameter)) and the motor's at `MOTOR_PULLEY_RATIO` times that,
together `DRIVE_G + DRIVE_G_PER_MPS x speed` g at the roller's, with or without a walker;
the roller's pull also shakes the deck to and fro, a quarter turn later. With noise, the
accelerometer adds its own white noise (vertical, as before: a still deck with the belt
stopped does not dither the chip's other axes). The accelerometer's FIFO samples lag the
world's latest state, so the last `KEPT_S` of states are kept to answer for those times.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from pi_service.sim.scenario import DEFAULT_ACCEL_KMH_S, Scenario, Step
from pi_service.sim.walker import Footstrike, Walker
from pi_service.units import STANDARD_GRAVITY, kmh_to_mps, mps_to_kmh

BELT_START_KMH = 1.0  # a console starts the belt at its lowest speed ...
BELT_START_HOLD_S = 2.0  # ... and holds it this long before it speeds up
INCLINE_RATE_PCT_S = 0.6
HAND_RATE_N_S = 400.0  # hands land on and leave the rails in a fraction of a second
INTEGRATION_STEP_S = 0.01
ROLLER_DIAMETER_M = 0.05  # the config's default front roller
DRIVE_G, DRIVE_G_PER_MPS = 0.02, 0.01  # the roller's vibration, in g, grows with the belt's speed
MOTOR_PULLEY_RATIO = 2.5  # the motor turns this many times per turn of the roller ...
MOTOR_SHARE = 0.5  # ... and shakes the deck half as much
MOTOR_PHASE_RAD = 1.0
FORE_AFT_SHARE = 0.5  # the deck's mounts are stiffer along the belt than up and down
NOISE_G = 0.01  # the accelerometer's white noise, vertical (the ADXL345's z: 1.1 LSB rms at 100 Hz, twice at 400 Hz)
BELT_RIPPLE = 0.01  # each footstrike brakes the belt slightly
RAIL_SWAY = 0.08  # walking, the weight shifts left and right with each stride
KEPT_S = 1.5  # a FIFO sample is up to 33 periods old: 1.3 s at 25 Hz


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
    roller_turns: float = 0.0  # turns of the front roller since the start


def _approach(value: float, target: float, max_change: float) -> float:
    if value < target:
        return min(target, value + max_change)
    return max(target, value - max_change)


class World:
    def __init__(self, scenario: Scenario, clock: Callable[[], float], speedup: float = 1.0,
                 noise: bool = True, seed: int | None = None, roller_diameter_m: float = ROLLER_DIAMETER_M):
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
        self.roller_circumference_m = math.pi * roller_diameter_m
        # The walker has its own random source: its steps do not shift the rails' noise, and a seed repeats both.
        self.walker = Walker(scenario.walker_mass_kg,
                             random.Random(f"walker {seed}" if seed is not None else None) if noise else None)
        self._recent: deque[WorldState] = deque([self._state])
        # The page's sim controls, over the scenario until resumed: its next step or loop changes none of them.
        self.override_speed_kmh: float | None = None
        self.override_incline_pct: float | None = None
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
                before, state = state, self._advance(state, dt)
                self.walker.walk(before.t, state.t, state.speed_mps, not state.step.off_belt, state.step.cadence_spm)
                self._recent.append(state)
            while self._recent[0].t < state.t - KEPT_S:
                self._recent.popleft()
            self._state = state
            return state

    def _advance(self, s: WorldState, dt: float) -> WorldState:
        scenario_dt = dt * self.speedup
        scenario_t = s.scenario_t + scenario_dt
        step = self.scenario.step_at(scenario_t)
        target_kmh = step.speed_kmh if self.override_speed_kmh is None else self.override_speed_kmh
        rails = (step.rail_left_n, step.rail_right_n) if self.override_rails_n is None else self.override_rails_n
        held_incline = self.override_incline_pct
        if self._incline_motor is not None:
            # A held incline: the walker presses no key for the scenario's next step.
            if held_incline is None and step is not s.step and step.incline_pct != s.step.incline_pct:
                self._console_key(step.incline_pct)
            incline = self._incline_motor()
        else:
            target_pct = step.incline_pct if held_incline is None else held_incline
            incline = _approach(s.incline_pct, target_pct, INCLINE_RATE_PCT_S * scenario_dt)
        speed_kmh, held_until = mps_to_kmh(s.speed_mps), s.belt_held_until
        if speed_kmh == 0.0 and target_kmh > 0.0:
            speed_kmh, held_until = min(target_kmh, BELT_START_KMH), scenario_t + BELT_START_HOLD_S
        elif scenario_t >= held_until or target_kmh < speed_kmh:
            accel = step.accel_kmh_s if self.override_speed_kmh is None else DEFAULT_ACCEL_KMH_S
            speed_kmh = _approach(speed_kmh, target_kmh, accel * scenario_dt)
        speed_mps = kmh_to_mps(speed_kmh)
        return WorldState(
            t=s.t + dt,
            scenario_t=scenario_t,
            speed_mps=speed_mps,
            incline_pct=incline,
            rail_left_n=_approach(s.rail_left_n, rails[0], HAND_RATE_N_S * scenario_dt),
            rail_right_n=_approach(s.rail_right_n, rails[1], HAND_RATE_N_S * scenario_dt),
            step=step,
            belt_held_until=held_until,
            roller_turns=s.roller_turns + 0.5 * (s.speed_mps + speed_mps) * dt / self.roller_circumference_m,
        )

    # What the sensors see: the physical state plus the walker's footstrikes.

    def belt_speed_mps(self, t: float | None = None) -> float:
        s = self.state_at(t)
        if not self.noise or s.speed_mps <= 0 or not self.walker.walking:
            return s.speed_mps
        # A ripple at the cadence: the belt slows as a foot lands and the motor catches it up.
        return s.speed_mps * (1 + BELT_RIPPLE * math.sin(2 * math.pi * self.walker.steps))

    def rail_forces_n(self, t: float | None = None) -> tuple[float, float]:
        s = self.state_at(t)
        if not self.noise:
            return s.rail_left_n, s.rail_right_n
        # A stride is two steps, one on each side; standing, the weight does not shift.
        sway = RAIL_SWAY * math.sin(math.pi * self.walker.steps) if self.walker.walking else 0.0
        noise = self._random.gauss
        return (max(0.0, s.rail_left_n * (1 + sway) + noise(0, 0.8)),
                max(0.0, s.rail_right_n * (1 - sway) + noise(0, 0.8)))

    def deck_pitch_deg(self, t: float | None = None) -> float:
        return math.degrees(math.atan(self.state_at(t).incline_pct / 100.0))

    def deck_vibration_mps2(self, t: float | None = None) -> float:
        """The deck's vertical acceleration beyond gravity at clock time `t` (now by default), in
        m/s^2: the footstrikes, the belt drive and, with noise, the accelerometer's own noise."""
        t = self.clock() if t is None else t
        self.state_at(t)
        with self._lock:
            vertical_g, _ = self._drive_vibration_g(t)
            shaking = self.walker.deck_jolt_mps2(t) + vertical_g * STANDARD_GRAVITY
        if self.noise:
            shaking += self._random.gauss(0.0, NOISE_G * STANDARD_GRAVITY)
        return shaking

    def deck_fore_aft_mps2(self, t: float | None = None) -> float:
        """The deck's acceleration along the belt at clock time `t`, in m/s^2: the roller's
        imbalance pulls it to and fro as well as up and down. (It also dithers the chip's 3.9 mg
        steps while the belt runs, so a low-passed tilt resolves finer than one step.)"""
        t = self.clock() if t is None else t
        self.state_at(t)
        with self._lock:
            _, fore_aft_g = self._drive_vibration_g(t)
        return fore_aft_g * STANDARD_GRAVITY

    def _drive_vibration_g(self, t: float) -> tuple[float, float]:
        """The roller's and the motor's vibration at `t`, (vertical, fore-aft) in g, from the last
        state kept at or before `t` (or the oldest kept, for a time older still)."""
        for s in reversed(self._recent):
            if s.t <= t:
                break
        if s.speed_mps <= 0:
            return 0.0, 0.0
        turns = s.roller_turns + s.speed_mps * (t - s.t) / self.roller_circumference_m
        roller = 2 * math.pi * turns
        motor = MOTOR_SHARE * math.sin(MOTOR_PULLEY_RATIO * roller + MOTOR_PHASE_RAD)
        amplitude = DRIVE_G + DRIVE_G_PER_MPS * s.speed_mps
        # An unbalanced roller's pull turns with it: up and down, and a quarter turn later to and fro.
        return amplitude * (math.sin(roller) + motor), amplitude * FORE_AFT_SHARE * math.cos(roller)

    # The walker's truth: what the footstrike detector should find.

    def cadence_spm(self) -> float:
        """The walker's true cadence at the world's latest state: 0 standing or off the belt."""
        with self._lock:
            return self.walker.cadence_spm

    def footstrikes_between(self, t0: float, t1: float) -> list[Footstrike]:
        """The footstrikes that landed in clock time [t0, t1), of the last few hundred, up to now."""
        self.state_at()
        with self._lock:
            return self.walker.strikes_between(t0, t1)
