"""The sim controls can raise the virtual belt's speed and incline; nothing must ever let
such a command reach real hardware (spec 5.5, 10). Two walls, each tested: the web app
refuses `/api/sim` unless it runs on the virtual treadmill (tests/test_web_api.py), and the
sampler, the lowest layer, has no path from a "sim" command to anything but the virtual
treadmill: on hardware (no virtual treadmill wired in) the command is refused and neither
the console link nor any driver hears of it."""

import logging
import multiprocessing
import time

from pi_service.console.link import ConsoleLink
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

WALK = """
name = "walk"
[[step]]
duration_s = 600
speed_kmh = 3
incline_pct = 2
"""


class Recorded(ConsoleLink):
    """The real console link, with every command the sampler queues on it written down."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[tuple] = []

    def ramp_down(self, target_pct, rate_pct_s):
        self.asked.append(("ramp_down", target_pct, rate_pct_s))
        super().ramp_down(target_pct, rate_pct_s)

    def stop_ramp(self):
        self.asked.append(("stop_ramp",))
        super().stop_ramp()


def test_a_sim_command_on_hardware_reaches_nothing(caplog):
    config = make_config("")
    # The deck, the rails and a console to talk to, but wired as on a Pi: the sampler is not
    # given the virtual treadmill, so it has nothing a sim control could drive.
    deck = VirtualTreadmill(config, parse_scenario(WALK, "walk"), noise=False, seed=1)
    link = Recorded(deck.console_port)
    receive, send = multiprocessing.Pipe(duplex=False)
    sampler = Sampler(config, Sensors(config, deck.open_bus, deck.pin_factory), SnapshotBoard(), LoopStats(),
                      treadmill=None, console=link, commands=receive)
    deck.start()
    link.start()
    try:
        for _ in range(50):
            sampler.tick(time.monotonic())
            time.sleep(0.01)
        before = deck.world.state_at()
        incline_before = deck.console.position_pct()
        with caplog.at_level(logging.WARNING):
            for name, value in (("speed_kmh", 20.0), ("incline_pct", 15.0), ("lean", 1.0), ("resume", 0.0)):
                send.send(("sim", name, value))
            for _ in range(100):
                sampler.tick(time.monotonic())
                time.sleep(0.01)
    finally:
        link.close()
        deck.stop()
    refused = [r for r in caplog.records if "sim controls need the virtual treadmill" in r.getMessage()]
    assert len(refused) == 4
    assert link.asked == []  # the console link was asked nothing
    assert deck.world.override_speed_kmh is None and deck.world.override_rails_n is None
    assert abs(deck.console.position_pct() - incline_before) < 0.01
    assert deck.world.state_at().step is before.step
    assert sampler.last_sample.speed_mps < 3.5 / 3.6
