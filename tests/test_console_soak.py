"""The console link soak (tests/console_soak.py): the Pi's real link over a pseudo-terminal
against the firmware's logic, across at least 20 sequence wraps with hundreds of ramps and
stops at random moments; every acknowledged command must have been carried out."""

import pytest

from firmware import protocol as p
from tests.console_soak import soak
from tests.soak_board import Board, LoggedLink

LOSSY = {"drop": 0.005, "corrupt": 0.005}  # per byte, each way: about one frame in ten damaged


@pytest.mark.timeout(300)
@pytest.mark.parametrize("firmware,line", [("cpython", {}), ("cpython", LOSSY), ("micropython", LOSSY)],
                         ids=["cpython-clean-line", "cpython-lossy-line", "micropython-lossy-line"])
def test_every_acknowledged_command_was_carried_out_across_20_sequence_wraps(firmware, line):
    report = soak(firmware, wraps=20, min_commands=300, seed=7, **line)
    print(report.summary())
    assert report.firmware == firmware
    assert report.wraps >= 20 and report.commands >= 300
    assert report.ramps_acked >= 100 and report.stops_acked >= 50
    if line:
        assert report.dropped_bytes > 100 and report.corrupted_bytes > 100
    assert report.failures == [], "\n".join(report.failures[:20])


class OldCacheLink(LoggedLink):
    """The firmware link as it was: results cached by seq alone and looked up before the
    sequence filter, so a new command whose seq came round again is answered from an old one."""

    def __init__(self, controller, log):
        LoggedLink.__init__(self, controller, log)
        self.results = {}

    def receive(self, data, now_ms):
        for seq, kind, payload in self.parser.feed(data):
            if kind in p.COMMANDS and seq in self.results:
                self.controller.heard(now_ms)
                self.out.append(self.sender.frame(p.ACK, p.pack_ack(seq, self.results[seq],
                                                                    p.frame_crc(seq, kind, payload))))
                continue
            verdict = self.seqs.check(seq, kind)
            if verdict != p.NEW:
                continue
            self.controller.heard(now_ms)
            if kind == p.HELLO:
                self.results = {}
                self.out.append(self.sender.frame(p.INFO, p.pack_info(self.firmware)))
            elif kind in p.COMMANDS:
                result = self._execute(kind, payload, now_ms)
                self.results[seq] = result
                if len(self.results) > 8:
                    del self.results[max(self.results, key=lambda s: (seq - s) & 0xFF)]
                self.out.append(self.sender.frame(p.ACK, p.pack_ack(seq, result, p.frame_crc(seq, kind, payload))))


class OldBoard(Board):
    def __init__(self, position_pct):
        Board.__init__(self, position_pct)
        self.link = OldCacheLink(self.controller, self.log)


@pytest.mark.timeout(300)
def test_the_soak_catches_the_old_firmwares_acknowledgement_from_a_cache():
    # Commands sparse against the wraps, as in the product (a heartbeat every 100 ms, a
    # command now and then), so the old cache holds seqs from many wraps back: about one
    # command in 35 then meets a cached seq, about 15 in this run.
    report = soak("cpython", wraps=20, min_commands=500, seed=3, board=OldBoard, pauses=(0.03, 0.06, 0.1, 0.15))
    print(report.summary())
    false_acks = [failure for failure in report.failures if "never carried it out" in failure]
    assert len(false_acks) >= 2, report.summary()
