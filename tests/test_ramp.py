"""The ramp-down decision (actions/ramp.py), fed by hand: when it is asked, and what it
believes about the deck afterwards (spec 7's actions)."""

from dataclasses import replace

from firmware import protocol as p
from pi_service.actions.ramp import ACK_WAIT_S, SETTLE_S, InclineRamp
from pi_service.console.link import CommandResult, ConsoleState
from tests.conftest import make_config

ACTIONS = make_config("[actions]\nramp_after_s = 300\nramp_to_pct = 5\nramp_rate_pct_s = 0.5\n").actions
PAYLOAD = p.pack_ramp(5, 0.5)
LIVE = ConsoleState("/dev/x", connected=True, receiving=True, console_hears_pi=True, alive=True,
                    protocol=p.VERSION, position_pct=12.0, heard_t=0.0)


def step(ramp, t, incline=12.0, steep=0.0, acked=False, problem=None, console=LIVE):
    return ramp.update(t, steep, acked, incline, problem, console)


def started(t=300.0):
    """A ramp asked for at `t`, after its 30 s announcement."""
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, t - 30) is None and ramp.state == "announced"
    command = step(ramp, t)
    assert command is not None and command.action == "ramp"
    return ramp


def acknowledged(ack_t, state=p.RAMP_RUNNING, status_t=None, result="ok"):
    """The console's state once the ramp's ACK (at `ack_t`) and a STATUS after it arrived."""
    return replace(LIVE, last_result=CommandResult("ramp", result, ack_t, PAYLOAD), ramp=state,
                   heard_t=ack_t + 0.05 if status_t is None else status_t)


def stop_acked(console, t):
    return replace(console, last_result=CommandResult("stop_ramp", "ok", t))


def results(ramp):
    return [(e.phase, e.detail.get("result")) for e in ramp.take_events()]


def test_waits_announces_30_s_ahead_then_ramps_to_the_set_target_and_rate():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 269.9) is None and ramp.state == "waiting"
    assert step(ramp, 270.0) is None and ramp.state == "announced"
    assert ramp.status()["due_t"] == 300.0 and ramp.status()["announce_s"] == 30
    command = step(ramp, 300.0)
    assert (command.action, command.target_pct, command.rate_pct_s) == ("ramp", 5, 0.5)
    assert ramp.state == "ramping"
    (event,) = ramp.take_events()
    assert (event.kind, event.phase, event.t) == ("incline_ramp", "start", 300.0)
    assert event.detail == {"from_pct": 12.0, "target_pct": 5, "rate_pct_s": 0.5}


def test_the_rate_is_capped_at_one_percent_a_second_whatever_the_config():
    ramp = InclineRamp(ACTIONS.model_copy(update={"ramp_rate_pct_s": 3.0}))
    step(ramp, 270)
    assert step(ramp, 300).rate_pct_s == 1.0


def test_only_acknowledge_defers_it_until_the_climb_ends():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 280, acked=True) is None and ramp.state == "deferred"
    assert step(ramp, 400, acked=True) is None and ramp.state == "deferred"
    assert ramp.take_events() == []  # never asked: no incline_ramp interval
    step(ramp, 970, steep=700)
    assert step(ramp, 1000, steep=700).action == "ramp"  # the next climb


def test_a_faulty_incline_sensor_or_a_dead_link_blocks_it_and_says_why():
    ramp = InclineRamp(ACTIONS)
    assert step(ramp, 301, problem="the incline sensor is faulty") is None
    assert ramp.state == "blocked" and "incline sensor is faulty" in ramp.reason
    assert step(ramp, 302, incline=None) is None and ramp.state == "blocked"
    down = replace(LIVE, alive=False, error="the console does not hear the Pi")
    assert step(ramp, 303, console=down) is None and "does not hear the Pi" in ramp.reason
    assert step(ramp, 304, console=None) is None and ramp.state == "blocked"
    # Unblocked, still steep: announced for its full 30 s first, then asked for.
    assert step(ramp, 305) is None and ramp.state == "announced" and ramp.status()["due_t"] == 335.0
    assert step(ramp, 334.9) is None and ramp.state == "announced"
    assert step(ramp, 335).action == "ramp"


def test_a_ramp_blocked_through_its_announcement_still_gets_its_whole_warning():
    ramp = InclineRamp(ACTIONS)
    down = replace(LIVE, alive=False, error="nothing valid from the console")
    for t in range(260, 302):
        assert step(ramp, float(t), console=down) is None
    states = []
    for k in range(0, 3200):
        t = 302 + k * 0.02
        command = step(ramp, t)
        states.append(ramp.state)
        if command is not None:
            break
    assert command.action == "ramp" and t >= 332.0 and states[0] == "announced"


def test_one_glitch_reading_neither_cancels_nor_fails_a_ramp():
    ramp = InclineRamp(ACTIONS)
    for k in range(0, 1501):  # announced, at 50 Hz, with one -6 % reading at the due time
        t = 270 + k * 0.02
        command = step(ramp, t, incline=-6.0 if abs(t - 300) < 0.01 else 12.0)
    assert command is not None and command.action == "ramp" and ramp.state == "ramping"
    console = acknowledged(300.2)
    for k in range(1, 100):  # coming down, with one 46 % (out of range) and one 20 % glitch
        t = 300 + k * 0.02
        incline = 12 - 0.5 * max(0.0, t - 300.5)
        glitch = {30: 46.0, 60: 20.0}.get(k)
        assert step(ramp, t, incline=glitch or incline, console=console) is None, ramp.reason
    assert ramp.state == "ramping"


def test_a_short_gap_in_the_incline_does_not_fail_a_ramp():
    ramp = started(300)
    console = acknowledged(300.2)
    for k in range(1, 60):
        t = 300 + k * 0.02
        assert step(ramp, t, incline=None if 20 <= k < 40 else 12 - 0.1 * k * 0.02, console=console) is None
    assert ramp.state == "ramping"


def falling(ramp, console, until, t0=300.0, rate=0.5, start=12.0, since=None):
    """Tick every 0.5 s from `since` (default `t0`) with the sensor following a deck that
    started down from `start` at `t0`; the last command."""
    command, t = None, t0 if since is None else since
    while t < until:
        t += 0.5
        command = step(ramp, t, incline=max(5.0, start - rate * (t - t0 - 0.5)), console=console) or command
    return command


def test_done_only_when_the_console_says_so_and_the_sensor_reads_within_half_a_percent():
    ramp = started(300)
    console = acknowledged(300.2)
    assert falling(ramp, console, 314.0) is None and ramp.state == "ramping", ramp.reason
    done = replace(console, ramp=p.RAMP_DONE, heard_t=314.6)
    assert step(ramp, 314.5, incline=5.4, console=done) is None
    assert ramp.state == "done" and "5.4 %" in ramp.reason
    assert results(ramp)[-1] == ("end", "done")
    assert step(ramp, 400, incline=5.0, console=done) is None  # one ramp per climb


def test_the_console_saying_done_while_the_sensor_reads_11_8_is_a_failure_not_done():
    ramp = started(300)
    console = acknowledged(300.2)
    step(ramp, 300.5, incline=11.9, console=console)
    claimed = replace(console, ramp=p.RAMP_DONE, heard_t=301.0)
    assert step(ramp, 301.0, incline=11.8, console=claimed) is None and ramp.state == "ramping"
    assert step(ramp, 301.0 + SETTLE_S + 0.1, incline=11.8, console=claimed) is None
    assert ramp.state == "failed" and "stopped short" in ramp.reason and "11.8 %" in ramp.reason
    assert results(ramp)[-1] == ("end", "failed")


def test_an_earlier_ramps_done_heard_before_this_ramps_ack_is_not_taken_for_this_one():
    ramp = started(300)
    stale = acknowledged(300.2, state=p.RAMP_DONE, status_t=300.1)  # STATUS from before the ACK
    for k in range(1, 6):
        assert step(ramp, 300 + k * 0.5, incline=12 - 0.25 * k, console=stale) is None
    assert ramp.state == "ramping"


def test_a_deck_that_does_not_come_down_is_stopped_and_reported_failed():
    ramp = started(300)
    console = acknowledged(300.2)
    command = None
    t = 300.0
    while command is None and t < 320:
        t += 0.5
        command = step(ramp, t, incline=12.0, console=console)
    assert command.action == "stop" and ramp.state == "stopping" and "not coming down" in ramp.reason
    assert 306 <= t <= 307.5  # within the progress time
    assert step(ramp, t + 0.2, incline=12.0, console=stop_acked(console, t + 0.1)) is None
    assert ramp.state == "failed" and results(ramp)[-1] == ("end", "failed")


def test_a_deck_stopping_short_mid_way_is_stopped_and_failed():
    ramp = started(300)
    console = acknowledged(300.2)
    falling(ramp, console, 306.0)  # down to about 9.3 %
    command = None
    t = 306.0
    while command is None and t < 330:
        t += 0.5
        command = step(ramp, t, incline=9.3, console=console)
    assert command.action == "stop" and "not coming down" in ramp.reason


def test_the_sensor_seeing_the_deck_rise_or_fall_too_fast_stops_it():
    ramp = started(300)
    console = acknowledged(300.2)
    step(ramp, 301, incline=11.5, console=console)
    # A rise judged over a stride's median: one reading up is a footstrike's rock, not the deck.
    assert step(ramp, 302, incline=12.1, console=console) is None and ramp.state == "ramping"
    step(ramp, 302.1, incline=11.5, console=console)
    assert step(ramp, 302.2, incline=11.6, console=console) is None and ramp.state == "ramping"
    assert step(ramp, 302.5, incline=12.1, console=console) is None  # half the stride's readings up
    assert step(ramp, 302.8, incline=12.1, console=console).action == "stop" and "go up" in ramp.reason
    ramp = started(300)
    assert step(ramp, 302, incline=9.0, console=acknowledged(300.2)).action == "stop" and "faster" in ramp.reason


def test_a_console_key_cancels_and_a_refusal_fails_without_a_stop():
    ramp = started(300)
    step(ramp, 301, incline=11.6, console=acknowledged(300.2))
    assert step(ramp, 302, incline=11.2, console=acknowledged(300.2, p.RAMP_CANCELLED, status_t=301.9)) is None
    assert ramp.state == "cancelled" and "console wins" in ramp.reason
    assert results(ramp) == [("start", None), ("end", "cancelled")]

    ramp = started(300)
    refused = acknowledged(300.1, result=p.RESULT_NAMES[p.RESULT_REFUSED_RAISE])
    assert step(ramp, 300.2, console=refused) is None and ramp.state == "failed" and "raise" in ramp.reason


def test_an_unanswered_ramp_fails_and_is_told_to_stop():
    ramp = started(300)
    assert step(ramp, 300 + ACK_WAIT_S / 2) is None
    command = step(ramp, 300 + ACK_WAIT_S + 0.01)
    assert command.action == "stop" and ramp.state == "stopping"
    ramp = started(300)
    no_answer = replace(LIVE, last_result=CommandResult("ramp", "no answer", 300.6, PAYLOAD))
    assert step(ramp, 300.7, console=no_answer).action == "stop"
    ramp = started(300)
    not_sent = replace(LIVE, last_result=CommandResult("ramp", "not sent: the console link was down", 300.0, PAYLOAD))
    assert step(ramp, 300.1, console=not_sent) is None and ramp.state == "failed" and "not sent" in ramp.reason


def test_the_page_can_stop_it_and_it_is_stopped_once_the_console_acknowledges():
    ramp = started(300)
    console = acknowledged(300.2)
    step(ramp, 301, incline=11.6, console=console)
    assert ramp.stop(302, console).action == "stop" and ramp.state == "stopping"
    assert ramp.stop(302.1, console) is None  # once
    assert step(ramp, 302.2, incline=11.2, console=console) is None and ramp.state == "stopping"
    assert step(ramp, 302.4, incline=11.2, console=stop_acked(console, 302.3)) is None
    assert ramp.state == "stopped" and results(ramp)[-1] == ("end", "stopped")


def test_a_stop_the_console_does_not_acknowledge_is_a_failure_that_says_what_to_do():
    ramp = started(300)
    console = acknowledged(300.2)
    ramp.stop(302, console)
    assert step(ramp, 302 + ACK_WAIT_S + 0.1, incline=11.0, console=console) is None
    assert ramp.state == "failed" and "press any key on the console" in ramp.reason


def test_acknowledged_mid_ramp_it_is_stopped_where_it_is_and_deferred():
    ramp = started(300)
    console = acknowledged(300.2)
    step(ramp, 301, incline=11.6, console=console)
    assert step(ramp, 302, incline=11.2, acked=True, console=console).action == "stop"
    step(ramp, 302.3, incline=11.2, acked=True, console=stop_acked(console, 302.2))
    assert ramp.state == "deferred" and results(ramp)[-1] == ("end", "deferred")


def test_the_link_lost_mid_ramp_the_sensor_still_tells_whether_the_console_finished():
    ramp = started(300)
    console = acknowledged(300.2)
    falling(ramp, console, 303.0)
    down = replace(console, alive=False, receiving=False, error="nothing valid from the console")
    assert ramp.stop(303.2, down) is None  # the Pi cannot reach it: the reason says a key stops it
    assert falling(ramp, down, 318.0 + SETTLE_S, since=303.0) is None
    assert ramp.state == "done" and "while the link was down" in ramp.reason


def test_a_faulty_sensor_mid_ramp_stops_it():
    ramp = started(300)
    console = acknowledged(300.2)
    step(ramp, 301, incline=11.6, console=console)
    command = step(ramp, 302, incline=11.2, problem="the console's deck position and the incline sensor disagree",
                   console=console)
    assert command.action == "stop" and "disagree" in ramp.reason


def test_a_new_climb_gets_a_new_ramp():
    ramp = started(300)
    ramp.stop(301, acknowledged(300.2))
    step(ramp, 301.2, console=stop_acked(acknowledged(300.2), 301.1))
    assert step(ramp, 302, steep=None) is None and ramp.state == "stopped"  # its result on show
    assert step(ramp, 1270, steep=1000) is None and ramp.state == "announced"
    assert step(ramp, 1300, steep=1000).action == "ramp"


def test_the_result_stays_on_show_a_minute_after_the_climb_ends_during_the_ramp():
    ramp = started(300)
    console = acknowledged(300.2)
    falling(ramp, console, 314.0)
    # The climb ended on the way down (below 9 % for 2 s): the ramp goes on to its target.
    done = replace(console, ramp=p.RAMP_DONE, heard_t=314.6)
    ramp.update(314.5, None, False, 5.3, None, done)
    assert ramp.state == "done"
    ramp.update(330.0, None, False, 5.1, None, done)
    assert ramp.state == "done" and ramp.status()["state"] == "done"
    ramp.update(374.6, None, False, 5.1, None, done)
    assert ramp.state == "idle"
    # ...and a new climb clears it at once.
    ramp = started(300)
    ramp.stop(301, console)
    step(ramp, 301.2, console=stop_acked(console, 301.1))
    assert ramp.state == "stopped"
    assert step(ramp, 305, steep=304) is None and ramp.state == "waiting"
