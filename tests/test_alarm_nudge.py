"""The belt alarm on the buzzer: `unattended_belt` sounds round after round while it lasts,
stops the moment it ends, holds the other nudges back, and cannot be snoozed or
acknowledged (from the policy, the sampler's answers, or the web); `overstride` is an
ordinary nudge with its own rhythm."""

import time

import pytest
from fastapi.testclient import TestClient

from pi_service.actions.nudges import ALARMS, PATTERNS, NudgePolicy, duration_s
from pi_service.actions.responses import Responses
from pi_service.config import Config
from pi_service.core.events import Event
from pi_service.drivers.buzzer import BuzzerDriver
from pi_service.pairing import PairingStore
from pi_service.sim.pins import sim_pin_factory
from pi_service.web.app import create_app
from tests.test_web_api import HOSTS, Source

SIREN = PATTERNS["unattended_belt"]
ROUND_S = duration_s(SIREN)


def alarm(t, phase="start"):
    return Event(t, "unattended_belt", phase, "stop the belt", level="alarm")


def run_ticks(policy, start, end, period=0.01):
    """The sampler's ticks from `start` to `end`: each nudge with its time."""
    played = []
    for i in range(round((end - start) / period) + 1):
        now = start + i * period
        played += [(now, nudge) for nudge in policy.tick(now)]
    return played


def test_the_alarm_plays_round_after_round_while_it_lasts_and_stops_at_its_end():
    policy = NudgePolicy(repeat_s=60)
    first = policy.on_event(alarm(100.0), 100.0)
    assert first.pattern == SIREN and first.kind == "unattended_belt"
    played = run_ticks(policy, 100.0, 110.0)
    times = [now for now, _ in played]
    # Back to back: each round starts within one 10 ms tick of the last one's end, not a minute later.
    gaps = [b - a for a, b in zip([100.0] + times, times)]
    assert len(played) == int(10.0 / ROUND_S)
    assert all(ROUND_S <= gap < ROUND_S + 0.011 for gap in gaps), gaps
    assert {nudge.pattern for _, nudge in played} == {SIREN}  # loud from the first round: no escalation
    # A round mostly sounds: it is a siren, not a chirp.
    assert sum(on for on, _ in SIREN) / ROUND_S >= 0.7

    silence = policy.on_event(alarm(110.0, "end"), 110.0)
    assert silence is not None and silence.pattern == ()  # the buzzer stops at once, mid-round
    assert run_ticks(policy, 110.0, 200.0, period=0.5) == []


def test_the_alarm_holds_other_nudges_back_until_it_ends():
    policy = NudgePolicy(repeat_s=60)
    policy.on_event(alarm(0.0), 0.0)
    assert policy.on_event(Event(1.0, "rail_hold", "start"), 1.0) is None
    assert policy.on_event(Event(2.0, "speed_jump", "instant"), 2.0) is None
    assert {nudge.kind for _, nudge in run_ticks(policy, 0.0, 5.0)} == {"unattended_belt"}
    policy.on_event(alarm(5.0, "end"), 5.0)
    # The raised interval is nudged as soon as the alarm is over, at its first level.
    (held_back,) = policy.tick(5.01)
    assert held_back.kind == "rail_hold" and held_back.level == 1


@pytest.mark.parametrize("answer", ["snooze", "acknowledge"])
def test_the_alarm_cannot_be_snoozed_or_acknowledged(answer):
    policy = NudgePolicy(repeat_s=60)
    policy.on_event(alarm(0.0), 0.0)
    with pytest.raises(ValueError, match="safety key"):
        if answer == "snooze":
            policy.snooze("unattended_belt", until=600.0)
        else:
            policy.acknowledge("unattended_belt")
    assert policy.answer("unattended_belt") == (float("-inf"), False)
    assert [nudge.kind for _, nudge in run_ticks(policy, 0.0, ROUND_S + 0.01)] == ["unattended_belt"]


class RecordingBuzzer:
    def __init__(self):
        self.played = []

    def play(self, pattern):
        self.played.append(tuple(pattern))

    def stop(self):
        self.played.append(())


def test_the_sampler_refuses_to_silence_the_alarm_and_the_buzzer_plays_on():
    buzzer = RecordingBuzzer()
    responses = Responses(Config(), buzzer)
    responses.on_event(alarm(0.0), 0.0)
    for answer in ("snooze", "acknowledge"):
        with pytest.raises(ValueError, match="safety key"):
            responses.answer(answer, "unattended_belt", 600.0, 0.5)
    assert buzzer.played == [SIREN]  # no stop() for the refused answers
    responses.repeat_nudges(ROUND_S)
    responses.on_event(alarm(2.0, "end"), 2.0)
    assert buzzer.played == [SIREN, SIREN, ()]


def test_on_the_buzzer_pin_the_siren_has_no_pause_between_rounds_and_stops_with_the_interval():
    factory = sim_pin_factory()
    buzzer = BuzzerDriver(factory, 18)
    pin = factory.pin(18)
    responses = Responses(Config(), buzzer)
    try:
        pin.clear_states()
        start = time.monotonic()
        responses.on_event(alarm(start), start)
        now = start
        while now - start < 2 * ROUND_S + 0.3:  # the sampler's 100 Hz ticks, into a third round
            time.sleep(0.01)
            now = time.monotonic()
            responses.repeat_nudges(now)
        responses.on_event(alarm(now, "end"), now)
        deadline = time.monotonic() + 0.1
        while buzzer.is_sounding and time.monotonic() < deadline:
            time.sleep(0.002)
        assert not buzzer.is_sounding  # silent within 0.1 s of the end, mid-round
        states = list(pin.states)
        # Each entry's timestamp is the time since the change before it: a True entry's is a silence.
        silences = [s.timestamp for s in states[2:] if s.state]
        assert len(silences) >= 2 * len(SIREN)  # two whole rounds and the start of a third
        assert max(silences) < 0.2, silences  # 50 ms between tones (a busy machine wakes late), none between rounds
    finally:
        buzzer.close()


@pytest.fixture
def web(tmp_path):
    source = Source()
    client = TestClient(create_app(source, Config(), hosts=HOSTS, folder=tmp_path))
    return client, source, {"Authorization": f"Bearer {PairingStore(tmp_path).new_token('test')}"}


@pytest.mark.parametrize("path,body", [("/api/nudges/unattended_belt/snooze", {"minutes": 10}),
                                       ("/api/nudges/unattended_belt/acknowledge", None)])
def test_the_web_answers_409_to_silencing_the_alarm_and_says_what_to_do(web, path, body):
    client, source, auth = web
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 409
    assert "stop the belt with the safety key" in response.json()["detail"]
    assert source.commands.sent == []
    assert client.post(path, json=body).status_code == 401  # unpaired, the token comes first


def test_overstride_is_an_ordinary_nudge_with_its_own_rhythm(web):
    assert "overstride" not in ALARMS
    assert PATTERNS["overstride"] not in [p for kind, p in PATTERNS.items() if kind != "overstride"]
    policy = NudgePolicy(repeat_s=60)
    first = policy.on_event(Event(0.0, "overstride", "start"), 0.0)
    assert first.pattern == PATTERNS["overstride"]
    assert policy.tick(30.0) == []
    (again,) = policy.tick(60.0)
    assert again.level == 2  # escalates while ignored, as the others do
    client, source, auth = web
    assert client.post("/api/nudges/overstride/snooze", json={"minutes": 5}, headers=auth).status_code == 202
    assert source.commands.sent == [("snooze", "overstride", 300.0)]
