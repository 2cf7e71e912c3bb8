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
    report = soak(firmware, wraps=20, min_commands=250, seed=7, **line)
    print(report.summary())
    assert report.firmware == firmware
    assert report.wraps >= 20 and report.commands >= 250
    assert report.ramps_acked >= 60 and report.stops_acked >= 50
    # The deck was seen to respond, and the hard days happened: stalls and reboots.
    assert report.ramps_watched >= 10 and report.stops_watched >= 8
    assert report.stalls >= 2 and report.reboots >= 1
    if line:
        assert report.dropped_bytes > 100 and report.corrupted_bytes > 100 and report.retries_answered >= 1
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
    report = soak("cpython", wraps=20, min_commands=500, seed=3, board=OldBoard, pauses=(0.03, 0.06, 0.1, 0.15),
                  episodes=False)
    print(report.summary())
    false_acks = [failure for failure in report.failures if "never carried it out" in failure]
    assert len(false_acks) >= 2, report.summary()


def test_the_verifier_pairs_an_acknowledgement_with_its_execution_in_time_not_by_seq_alone():
    from pi_service.console.link import CommandResult
    from tests.console_soak import FirmwareLog, verify

    log = FirmwareLog()
    log.add("x,10600,5,17,,0,2,0,4,8.000")  # a STOP with seq 5, carried out at 10.6 s
    # An ACKed STOP that never ran, then a later, unanswered STOP with the same seq that did.
    false_ack = [CommandResult("stop_ramp", "ok", 10.0, b"", 5, 9.9),
                 CommandResult("stop_ramp", "no answer", 10.7, b"", 5, 10.55)]
    failures = verify(false_ack, log, t0=0.0)
    assert failures and "never carried it out" in failures[0]
    honest = [CommandResult("stop_ramp", "no answer", 10.0, b"", 5, 9.9),
              CommandResult("stop_ramp", "ok", 10.61, b"", 5, 10.55)]
    assert verify(honest, log, t0=0.0) == []


def test_the_verifier_checks_that_a_stop_mid_ramp_left_the_motor_off():
    from pi_service.console.link import CommandResult
    from tests.console_soak import FirmwareLog, verify

    log = FirmwareLog()
    log.add("m,900,-1,10.000;x,1000,9,17,,0,2,0,4,9.800;m,1005,0,9.790;m,1300,-1,9.700")
    acked = [CommandResult("stop_ramp", "ok", 1.01, b"", 9, 0.99)]
    assert "ran on" in verify(acked, log, t0=0.0)[0]
    log.motor.pop()  # without the motor starting again
    assert verify(acked, log, t0=0.0) == []
