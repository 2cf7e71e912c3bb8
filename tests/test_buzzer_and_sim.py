import time

import pytest

from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.errors import ConfigError
from pi_service.sim.pins import sim_pin_factory
from pi_service.sim.scenario import load_scenario, parse_scenario
from pi_service.sim.world import World


def wait_for(condition, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_buzzer_plays_a_pattern_on_its_pin_without_blocking():
    factory = sim_pin_factory()
    buzzer = BuzzerDriver(factory, 18)
    pin = factory.pin(18)
    try:
        pin.clear_states()
        started = time.monotonic()
        buzzer.play([(0.05, 0.05), (0.15, 0.0)])
        assert time.monotonic() - started < 0.01
        assert wait_for(lambda: len(pin.states) >= 5)
        states = list(pin.states)
        assert [s.state for s in states[:5]] == [False, True, False, True, False]
        durations = [s.timestamp for s in states[1:5]]  # each entry: time since the previous change
        assert durations[1] == pytest.approx(0.05, abs=0.035)  # first beep on for 50 ms
        assert durations[3] == pytest.approx(0.15, abs=0.035)  # second beep on for 150 ms
    finally:
        buzzer.close()


def test_a_tone_replaced_by_a_tone_sounds_on_without_a_gap():
    # Two channels' sensor_fault nudges a tick apart: one continuous tone on the pin, then silence.
    factory = sim_pin_factory()
    buzzer = BuzzerDriver(factory, 18)
    pin = factory.pin(18)
    try:
        pin.clear_states()
        buzzer.play([(0.3, 0.0)])
        assert wait_for(lambda: buzzer.is_sounding)
        time.sleep(0.01)
        buzzer.play([(0.3, 0.0)])
        assert wait_for(lambda: not buzzer.is_sounding, timeout=1.0)
        changes = [s.state for s in pin.states]
        assert changes[-3:] == [False, True, False] and changes.count(True) == 1, changes
    finally:
        buzzer.close()


def test_buzzer_new_pattern_interrupts_and_stop_silences():
    factory = sim_pin_factory()
    buzzer = BuzzerDriver(factory, 18)
    try:
        buzzer.play([(5.0, 0.0)])
        assert wait_for(lambda: buzzer.is_sounding)
        buzzer.stop()
        assert wait_for(lambda: not buzzer.is_sounding, timeout=0.2)
    finally:
        buzzer.close()


def test_default_scenario_plays_every_habit_within_a_few_minutes():
    scenario = load_scenario("default")
    assert scenario.loop
    assert 180 <= scenario.duration_s <= 420
    notes = " ".join(step.note for step in scenario.steps)
    for habit in ("warm-up", "leaning on the rails", "steep climb", "speed jump", "stopped"):
        assert habit in notes
    assert max(step.incline_pct for step in scenario.steps) >= 10
    assert max(step.rail_left_n + step.rail_right_n for step in scenario.steps) >= 80


def test_scenario_values_carry_over_between_steps():
    scenario = parse_scenario("""
[[step]]
duration_s = 10
speed_kmh = 5
incline_pct = 3
[[step]]
duration_s = 5
rail_left_n = 20
""", "s.toml")
    second = scenario.step_at(12)
    assert (second.speed_kmh, second.incline_pct, second.rail_left_n, second.rail_right_n) == (5, 3, 20, 0)


def test_bad_scenario_is_a_one_line_error_with_its_line():
    with pytest.raises(ConfigError, match=r"^s.toml:6: step.speed_kmh: Input should be less than or equal to 30"):
        parse_scenario("[[step]]\nduration_s = 1\nspeed_kmh = 5\n[[step]]\nduration_s = 1\nspeed_kmh = 99\n"
                       "[[step]]\nduration_s = 1\n", "s.toml")
    with pytest.raises(ConfigError, match="bundled scenarios: default"):
        load_scenario("/nonexistent/scenario.toml")


def test_world_moves_at_machine_rates_and_speedup_compresses_scenario_time(clock):
    scenario = parse_scenario("[[step]]\nduration_s = 0.001\n[[step]]\nduration_s = 100\nspeed_kmh = 7.2\n"
                              "incline_pct = 6\n", "s")
    world = World(scenario, clock, speedup=1.0, noise=False)
    clock.advance(1.9)
    state = world.state_at()
    assert state.speed_mps == pytest.approx(1.0 / 3.6)  # the console starts the belt at 1 km/h and holds it
    assert state.incline_pct == pytest.approx(1.14, abs=1e-3)  # 0.6 %/s
    clock.advance(3.101)
    # ...then speeds up at 0.6 km/h per second: 1 + 0.6 * 3 km/h at 5 s, no jump from standstill.
    assert world.state_at().speed_mps == pytest.approx((1 + 0.6 * 3) / 3.6, abs=1e-3)
    fast = World(scenario, clock, speedup=10.0, noise=False)
    clock.advance(1.0)
    assert fast.state_at().scenario_t == pytest.approx(10.0)
    assert fast.state_at().speed_mps == pytest.approx((1 + 0.6 * 8) / 3.6, abs=1e-3)
