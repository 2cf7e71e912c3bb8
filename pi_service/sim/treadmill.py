"""The whole virtual treadmill: the world, its I2C buses and devices, its GPIO pins, its roller.

The drivers get `open_bus(number)` and `pin_factory` from here instead of from smbus2
and lgpio; nothing above them knows the difference.
"""

from __future__ import annotations

import time
from typing import Callable

from pi_service.config import Config
from pi_service.sim.ads1115_model import ADS1115Model
from pi_service.sim.adxl345_model import ADXL345Model, gravity_on_deck
from pi_service.sim.console import SimConsole
from pi_service.sim.i2c_bus import SimI2CBus
from pi_service.sim.mpu6050_model import MPU6050Model
from pi_service.sim.pins import sim_pin_factory
from pi_service.sim.roller import Roller
from pi_service.sim.scenario import Scenario, load_scenario
from pi_service.sim.world import World


LEAN_N = 60.0  # per rail, when the page's "lean" control is on


class VirtualTreadmill:
    def __init__(self, config: Config, scenario: Scenario | None = None, speedup: float | None = None,
                 noise: bool | None = None, clock: Callable[[], float] = time.monotonic, seed: int | None = None,
                 rail_truth: tuple[tuple[float, float], tuple[float, float]] | None = None,
                 roller_diameter_m: float | None = None, deck_zero_deg: float = 0.0,
                 sleep: Callable[[float], None] | None = None):
        """`rail_truth` ((zero V, N per V) left and right), `roller_diameter_m` and
        `deck_zero_deg` (the accelerometer's mounting tilt) make the machine differ from
        what the config says, for calibration to find; by default it is as the config says."""
        self.config = config
        self.clock = clock
        # A transfer holds its caller as long as it holds the wire: on a test's fake clock, that clock's sleep.
        self.sleep = sleep or getattr(clock, "sleep", time.sleep)
        self.scenario = scenario or load_scenario(config.sim.scenario)
        self.roller_diameter_m = roller_diameter_m or config.belt.roller_diameter_m
        self.world = World(self.scenario, clock, config.sim.speedup if speedup is None else speedup,
                           config.sim.noise if noise is None else noise, seed, self.roller_diameter_m)
        self.buses: dict[int, SimI2CBus] = {}
        rails = config.rails
        # The rail sensors behave as the config's calibration says, so the demo reads true.
        (left_zero, left_gain), (right_zero, right_gain) = rail_truth or (
            (rails.left_zero_v, rails.left_n_per_v), (rails.right_zero_v, rails.right_n_per_v))
        self._rail_sensor = {rails.left_channel: (left_zero, left_gain, 0), rails.right_channel: (right_zero, right_gain, 1)}
        self.deck_zero_deg = deck_zero_deg
        self.rails_adc = ADS1115Model(self._ain_volts, clock)
        self._bus(rails.i2c_bus).attach(rails.address, self.rails_adc)
        if config.incline.chip == "mpu6050":
            self.accelerometer = MPU6050Model(self._acceleration, clock)
        else:
            self.accelerometer = ADXL345Model(self._acceleration, clock)
        self._bus(config.incline.i2c_bus).attach(config.incline.address, self.accelerometer)
        self.pin_factory = sim_pin_factory()
        belt = config.belt
        self.belt_pin = self.pin_factory.pin(belt.gpio)
        self.roller = Roller(self.belt_pin, self.world.belt_speed_mps, belt.magnets,
                             self.roller_diameter_m,
                             active_low=belt.pull_up, clock=clock)
        self.buzzer_pin = self.pin_factory.pin(config.buzzer.gpio)
        self.console = None
        if config.console.enabled:
            self.console = SimConsole(self.scenario.step_at(0.0).incline_pct, clock)
            self.world.attach_console(self.console.position_pct, self.console.press)

    @property
    def console_port(self) -> str | None:
        """Where the Pi finds the console: a pseudo-terminal instead of the UART."""
        return None if self.console is None else self.console.path

    def _bus(self, number: int) -> SimI2CBus:
        if number not in self.buses:
            self.buses[number] = SimI2CBus(number, self.clock, self.sleep, bus_hz=self.config.i2c.bus_hz)
        return self.buses[number]

    def open_bus(self, number: int) -> SimI2CBus:
        """What `smbus2.SMBus(number)` is on a Pi; a bus nothing is wired to has no devices."""
        return self._bus(number)

    def _ain_volts(self, ain: int, t: float) -> float:
        if ain not in self._rail_sensor:
            return 0.0
        zero_v, n_per_v, side = self._rail_sensor[ain]
        return zero_v + self.world.rail_forces_n(t)[side] / n_per_v

    def _acceleration(self, t: float) -> tuple[float, float, float]:
        """What the deck accelerometer feels at `t`: gravity on the tilted deck, and the deck's
        shaking (footstrikes, the belt drive, noise): vertical along the chip's z axis, normal to
        the deck, and to and fro along its forward axis."""
        forward_axis = self.config.incline.forward_axis
        x, y, z = gravity_on_deck(self.world.deck_pitch_deg(t) + self.deck_zero_deg, forward_axis)
        fore_aft = self.world.deck_fore_aft_mps2(t)
        if forward_axis.endswith("x"):
            x += fore_aft
        else:
            y += fore_aft
        return x, y, z + self.world.deck_vibration_mps2(t)

    def start(self) -> None:
        self.roller.start()
        if self.console is not None:
            self.console.start()

    def stop(self) -> None:
        self.roller.stop()
        if self.console is not None:
            self.console.stop()

    def control(self, name: str, value: float) -> None:
        """The page's sim controls: hold a belt speed, hold an incline (a press of the console's
        preset key), lean on the rails or hold the hands off them, or resume the scenario. Each
        holds until `resume`: the scenario's next step or loop changes none of them. What is held
        is what the treadmill took (a speed within the belt's 0-20 km/h, an incline within the
        console's end limits), never the value asked; ValueError for an unknown control, which
        changes nothing."""
        world = self.world
        if name == "speed_kmh":
            world.override_speed_kmh = min(20.0, max(0.0, value))
        elif name == "incline_pct":
            low, high = self.incline_limits()
            taken = min(high, max(low, value))
            if self.console is not None:
                self.console.press(taken)
            world.override_incline_pct = taken
        elif name == "lean":
            world.override_rails_n = (LEAN_N, LEAN_N) if value else (0.0, 0.0)
        elif name == "resume":
            held_incline = world.override_incline_pct
            world.override_speed_kmh = world.override_incline_pct = world.override_rails_n = None
            if held_incline is not None and self.console is not None:
                # Back to the scenario's incline: the walker presses its key, as at a step's change.
                self.console.press(world.state_at().step.incline_pct)
        else:
            raise ValueError(f"unknown sim control {name!r}")

    def incline_limits(self) -> tuple[float, float]:
        """The inclines the deck can be set to: the console's soft end limits (0-15 % without one)."""
        if self.console is None:
            return 0.0, 15.0
        settings = self.console.controller.s
        return settings.min_pct, settings.max_pct

    def held(self) -> dict:
        """What the sim controls hold now (None: the scenario drives it)."""
        world = self.world
        rails = world.override_rails_n
        return {"speed_kmh": world.override_speed_kmh, "incline_pct": world.override_incline_pct,
                "lean": rails is not None and any(force > 0 for force in rails)}

    def describe(self) -> dict:
        state = self.world.state_at()
        world = self.world
        controlled = any(x is not None for x in (world.override_speed_kmh, world.override_incline_pct,
                                                 world.override_rails_n))
        return {"scenario": self.scenario.name, "step": state.step.note, "scenario_t": round(state.scenario_t, 2),
                "speedup": self.world.speedup, "controlled": controlled, "held": self.held(),
                "walker_cadence_spm": round(self.world.cadence_spm(), 1), "off_belt": state.step.off_belt,
                "buzzer_on": bool(self.buzzer_pin.state)}
