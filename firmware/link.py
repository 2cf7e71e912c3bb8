"""The firmware's end of the console link: frames from the Pi in, ACKs and STATUS out.

Pure: bytes and the time in milliseconds go in, bytes to write come out; the board's
main.py moves them to and from the UART, and the virtual treadmill to and from a
pseudo-terminal.
"""

try:  # see controller.py
    from firmware.protocol import (ACK, COMMANDS, DUPLICATE, HEARTBEAT_MS, HELLO, INFO, NEW, RAMP,
                                   RESULT_REFUSED_ARGS, RETRY_WINDOW_MS, STATUS, STOP_RAMP, Parser, SequenceFilter,
                                   Sender, frame_crc, pack_ack, pack_info, pack_status, unpack_ramp)
except ImportError:
    from protocol import (ACK, COMMANDS, DUPLICATE, HEARTBEAT_MS, HELLO, INFO, NEW, RAMP, RESULT_REFUSED_ARGS,
                          RETRY_WINDOW_MS, STATUS, STOP_RAMP, Parser, SequenceFilter, Sender, frame_crc, pack_ack,
                          pack_info, pack_status, unpack_ramp)


FIRMWARE = "incline-1.1.0"  # reported to the Pi in INFO


class PiLink:
    """An acknowledged command is a command carried out, exactly once:

    - the sequence filter decides first: a new frame is acted on; an old one is dropped;
    - a duplicate (the seq of the last frame accepted) is answered again, without acting,
      only if it is the very same command frame (type and payload too) and arrives within
      RETRY_WINDOW_MS of it: the Pi's retry of a command whose ACK was lost. Anything else
      is dropped unanswered, so the Pi reports it as not acknowledged.
    The record of that last command is forgotten as soon as any newer frame is accepted,
    so no sequence number coming round again can ever meet it.
    """

    def __init__(self, controller, firmware_version, now_ms=0):
        self.controller = controller
        self.firmware = firmware_version
        self.parser = Parser()
        self.seqs = SequenceFilter()
        self.sender = Sender()
        self.last_command = None  # (seq, type, payload, ms, result) of the last frame accepted, if a command
        self.out = [self.sender.frame(HELLO)]  # a reboot restarts the conversation
        self.next_status_ms = now_ms
        self.last_status = None
        self.dropped = 0  # frames out of order, and duplicates that were not retries
        self.retries = 0  # retries answered again without acting

    def receive(self, data, now_ms):
        for seq, kind, payload in self.parser.feed(data):
            verdict = self.seqs.check(seq, kind)
            if verdict == NEW:
                self.controller.heard(now_ms)
                self.last_command = None
                if kind == HELLO:
                    self.out.append(self.sender.frame(INFO, pack_info(self.firmware)))
                elif kind in COMMANDS:
                    result = self._execute(kind, payload, now_ms)
                    self.last_command = (seq, kind, payload, now_ms, result)
                    self.out.append(self.sender.frame(ACK, pack_ack(seq, result, frame_crc(seq, kind, payload))))
            elif verdict == DUPLICATE and self._is_retry(seq, kind, payload, now_ms):
                self.controller.heard(now_ms)
                self.retries += 1
                result = self.last_command[4]
                self.out.append(self.sender.frame(ACK, pack_ack(seq, result, frame_crc(seq, kind, payload))))
            else:
                self.dropped += 1

    def _is_retry(self, seq, kind, payload, now_ms):
        last = self.last_command
        return (last is not None and last[0] == seq and last[1] == kind and last[2] == payload
                and now_ms - last[3] <= RETRY_WINDOW_MS)

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
