"""The ramp-down decision (actions/ramp.py), fed by hand."""

from dataclasses import replace

from firmware import protocol as p
from pi_service.actions.ramp import CONFIRM_S, InclineRamp
from pi_service.console.link import ConsoleState
from tests.conftest import make_config

NEVER = float("-inf")
ACTIONS = make_config("[actions]\nramp_after_s = 300\nramp_to_pct = 5\nramp_rate_pct_s = 0.5\n").actions
LIVE = ConsoleState("/dev/x", connected=True, alive=True, position_pct=12.0)


def step(ramp, t, incline=12.0, steep=0.0, snoozed=NEVER, acked=False, fault=False, console=LIVE):
    return ramp.update(t, steep, snoozed, acked, incline, fault, console)


def started(t=300.0):
    ramp = InclineRamp(ACTIONS)
    command = step(ramp, t)
    assert command is not None and command.action == "ramp"
    return ramp


def test_waits_for_the_set_time_then_ramps_to_the_set_target_and_rate():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 299.9) is None and ramp.state == "waiting"
    command = step(ramp, 300.0)
    assert (command.action, command.target_pct, command.rate_pct_s) == ("ramp", 5, 0.5)
    assert ramp.state == "ramping"


def test_the_rate_is_capped_at_one_percent_a_second_whatever_the_config():
    ramp = InclineRamp(ACTIONS.model_copy(update={"ramp_rate_pct_s": 3.0}))
    assert step(ramp, 300).rate_pct_s == 1.0


def test_acknowledge_defers_until_the_climb_ends_and_snooze_until_it_is_over():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 301, acked=True) is None and ramp.state == "deferred"
    assert step(ramp, 400, snoozed=500) is None and ramp.state == "deferred"
    assert step(ramp, 500, snoozed=500).action == "ramp"


def test_a_faulty_incline_sensor_or_a_dead_link_blocks_it_and_says_why():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 301, fault=True) is None and ramp.state == "blocked" and "incline sensor" in ramp.reason
    assert step(ramp, 302, incline=None) is None and ramp.state == "blocked"
    assert step(ramp, 303, console=replace(LIVE, alive=False)) is None and "link is down" in ramp.reason
    assert step(ramp, 304, console=None) is None and ramp.state == "blocked"
    assert step(ramp, 305).action == "ramp"  # unblocked, still steep


def acked(ramp, t, state=p.RAMP_RUNNING):
    return replace(LIVE, last_result=("ramp", "ok", t), ramp=state)


def test_confirmed_by_the_sensor_then_done_when_the_console_says_so():
    ramp = started(300)
    console = acked(ramp, 300.2)
    for i in range(1, 30):
        t = 300 + i * 0.5
        assert step(ramp, t, incline=12 - 0.5 * (t - 300.5), console=console) is None, ramp.reason
    assert ramp.state == "ramping"
    assert step(ramp, 316, incline=5.1, console=replace(console, ramp=p.RAMP_DONE)) is None
    assert ramp.state == "done"
    assert step(ramp, 400, incline=5.0, console=console) is None  # one ramp per climb


def test_a_ramp_the_sensor_does_not_confirm_is_stopped_and_reported():
    ramp = started(300)
    console = acked(ramp, 300.2)
    assert step(ramp, 300 + CONFIRM_S - 0.1, incline=12.0, console=console) is None
    command = step(ramp, 300 + CONFIRM_S, incline=11.9, console=console)
    assert command.action == "stop" and ramp.state == "unconfirmed" and "did not see" in ramp.reason


def test_the_sensor_seeing_the_deck_rise_or_fall_too_fast_stops_it():
    ramp = started(300)
    console = acked(ramp, 300.2)
    step(ramp, 301, incline=11.5, console=console)
    assert step(ramp, 302, incline=12.1, console=console).action == "stop" and "go up" in ramp.reason
    ramp = started(300)
    assert step(ramp, 302, incline=9.0, console=acked(ramp, 300.2)).action == "stop" and "faster" in ramp.reason


def test_a_console_key_cancels_and_a_refusal_fails_and_the_page_can_stop_it():
    ramp = started(300)
    step(ramp, 301, incline=11.6, console=acked(ramp, 300.2))
    assert step(ramp, 302, incline=11.2, console=acked(ramp, 300.2, p.RAMP_CANCELLED)) is None
    assert ramp.state == "cancelled" and "console wins" in ramp.reason

    ramp = started(300)
    refused = replace(LIVE, last_result=("ramp", p.RESULT_NAMES[p.RESULT_REFUSED_RAISE], 300.1))
    assert step(ramp, 300.2, console=refused) is None and ramp.state == "failed" and "raise" in ramp.reason

    ramp = started(300)
    assert ramp.stop(301).action == "stop" and ramp.state == "stopped"
    assert ramp.stop(302) is None


def test_the_link_lost_mid_ramp_is_reported_the_console_finishes_it():
    ramp = started(300)
    step(ramp, 301, incline=11.6, console=acked(ramp, 300.2))
    assert step(ramp, 302, incline=11.2, console=replace(LIVE, alive=False)) is None
    assert ramp.state == "failed" and "finishes the ramp" in ramp.reason


def test_a_new_climb_gets_a_new_ramp():
    ramp = started(300)
    ramp.stop(301)
    assert step(ramp, 302, steep=None) is None and ramp.state == "idle"
    assert step(ramp, 2000, steep=1000).action == "ramp"
