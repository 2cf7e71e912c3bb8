"""The firmware's end of the console link: frames from the Pi in, ACKs and STATUS out.

Pure: bytes and the time in milliseconds go in, bytes to write come out; the board's
main.py moves them to and from the UART, and the virtual treadmill to and from a
pseudo-terminal.
"""

try:  # see controller.py
    from firmware.protocol import (ACK, COMMANDS, DUPLICATE, HEARTBEAT_MS, HELLO, INFO, OLD, RAMP,
                                   RESULT_REFUSED_ARGS, STATUS, STOP_RAMP, Parser, SequenceFilter, Sender,
                                   pack_ack, pack_info, pack_status, unpack_ramp)
except ImportError:
    from protocol import (ACK, COMMANDS, DUPLICATE, HEARTBEAT_MS, HELLO, INFO, OLD, RAMP, RESULT_REFUSED_ARGS,
                          STATUS, STOP_RAMP, Parser, SequenceFilter, Sender, pack_ack, pack_info, pack_status,
                          unpack_ramp)


FIRMWARE = "incline-1.0.0"  # reported to the Pi in INFO


class PiLink:
    def __init__(self, controller, firmware_version, now_ms=0):
        self.controller = controller
        self.firmware = firmware_version
        self.parser = Parser()
        self.seqs = SequenceFilter()
        self.sender = Sender()
        self.results = {}  # seq -> ACK result of the last few commands, to answer a retry again
        self.out = [self.sender.frame(HELLO)]  # a reboot restarts the conversation
        self.next_status_ms = now_ms
        self.last_status = None
        self.dropped = 0  # frames out of order

    def receive(self, data, now_ms):
        for seq, kind, payload in self.parser.feed(data):
            if kind in COMMANDS and seq in self.results:
                # A retry of a command already carried out (its ACK was lost; the Pi's
                # heartbeats may have moved the sequence on since): ACK again, do not act twice.
                self.controller.heard(now_ms)
                self.out.append(self.sender.frame(ACK, pack_ack(seq, self.results[seq])))
                continue
            verdict = self.seqs.check(seq, kind)
            if verdict == OLD or (verdict == DUPLICATE and kind in COMMANDS):
                self.dropped += 1
                continue
            self.controller.heard(now_ms)
            if kind == HELLO:
                self.results = {}  # a new conversation: its seqs start again
                self.out.append(self.sender.frame(INFO, pack_info(self.firmware)))
            elif kind in COMMANDS:
                result = self._execute(kind, payload, now_ms)
                self.results[seq] = result
                if len(self.results) > 8:
                    del self.results[max(self.results, key=lambda s: (seq - s) & 0xFF)]  # the oldest
                self.out.append(self.sender.frame(ACK, pack_ack(seq, result)))

    def _execute(self, kind, payload, now_ms):
        if kind == RAMP:
            args = unpack_ramp(payload)
            if args is None:
                return RESULT_REFUSED_ARGS
            return self.controller.ramp(args[0], args[1], now_ms)
        if kind == STOP_RAMP:
            return self.controller.stop_ramp()
        return RESULT_REFUSED_ARGS

    def poll(self, now_ms):
        """Bytes to send now: replies, and STATUS on a change or every HEARTBEAT_MS."""
        c = self.controller
        status = pack_status(c.position, c.motion, c.mode, c.ramp_state, c.presses, c.flags())
        changed = self.last_status is None or status[2:] != self.last_status[2:]  # anything but the position
        if changed or now_ms >= self.next_status_ms:
            self.out.append(self.sender.frame(STATUS, status))
            self.last_status = status
            self.next_status_ms = now_ms + HEARTBEAT_MS
        if not self.out:
            return b""
        data = b"".join(self.out)
        self.out = []
        return data
