"""The console link's wire protocol: one definition, run unchanged by the firmware
(MicroPython) and the Pi (CPython). See PROTOCOL.md for the frame layout and timing.

Written in the subset of Python both run: no f-strings with `=`, no dataclasses, no
typing at run time, no str.removeprefix, nothing from the standard library beyond struct.
Times are integers in milliseconds, passed in by the caller (ticks on the MCU).
"""

import struct

VERSION = 2  # protocol version, sent in INFO (2: ACKs name the command frame by its CRC)

SYNC = 0xA5
MAX_PAYLOAD = 32
HEADER_LEN = 4  # SYNC, length, seq, type
CRC_LEN = 2

# Pi -> console
HELLO = 0x01  # (re)start of a conversation: the receiver takes this frame's seq as its base
HEARTBEAT = 0x02  # nothing to say, still here (at least every HEARTBEAT_MS)
RAMP = 0x10  # ramp the incline down: target (int16, 0.1 %), rate (uint16, 0.001 %/s)
STOP_RAMP = 0x11  # stop an automatic ramp where it is

# console -> Pi
ACK = 0x80  # seq of the command (uint8), result (uint8, RESULT_*), CRC of the command frame (uint16)
STATUS = 0x81  # see pack_status; at least every HEARTBEAT_MS, so it is also the console's heartbeat
INFO = 0x82  # answer to HELLO: protocol version (uint8), firmware version (ASCII)

COMMANDS = (RAMP, STOP_RAMP)
NAMES = {HELLO: "HELLO", HEARTBEAT: "HEARTBEAT", RAMP: "RAMP", STOP_RAMP: "STOP_RAMP",
         ACK: "ACK", STATUS: "STATUS", INFO: "INFO"}

# ACK results
RESULT_OK = 0
RESULT_RATE_CAPPED = 1  # accepted at the firmware's highest rate
RESULT_REFUSED_RAISE = 2  # the target is above the incline: the Pi may never raise it
RESULT_REFUSED_ARGS = 3  # out of range
RESULT_REFUSED_BUSY = 4  # the console is being used (a button move under way)
RESULT_NAMES = ("ok", "rate capped", "refused: would raise the incline", "refused: bad arguments",
                "refused: console in use")

# Timing
HEARTBEAT_MS = 100  # each side sends something at least this often
LINK_TIMEOUT_MS = 500  # the console's deadline for hearing a valid frame from the Pi
ACK_TIMEOUT_MS = 150  # a command not acknowledged by then is sent again ...
MAX_RETRIES = 3  # ... this many times, then reported as failed
# The console answers a frame again (without acting again) only if it is the very frame it
# accepted last, arriving within this long of it: the sender's retries all fall inside it.
RETRY_WINDOW_MS = ACK_TIMEOUT_MS * (MAX_RETRIES + 1) + 400

# STATUS fields
MOTION_DOWN, MOTION_STOPPED, MOTION_UP = -1, 0, 1
MODE_IDLE, MODE_MANUAL, MODE_RAMP = 0, 1, 2
RAMP_NONE, RAMP_RUNNING, RAMP_DONE, RAMP_CANCELLED, RAMP_STOPPED, RAMP_FAULT = 0, 1, 2, 3, 4, 5
RAMP_NAMES = ("none", "running", "done", "cancelled by the console", "stopped by the Pi", "stopped: fault")
FLAG_LINK_OK = 1  # the console hears the Pi
FLAG_STALL = 2  # the motor was driven and the position did not move
FLAG_LOW_LIMIT = 4  # at the soft lower limit
FLAG_HIGH_LIMIT = 8  # at the soft upper limit

_STATUS = ">hbBBHB"  # position (0.1 %), motion, mode, ramp state, button presses (wraps), flags
_RAMP = ">hH"
_ACK = ">BBH"


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): 0x29B1 for b"123456789"."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def frame_crc(seq, kind, payload):
    """The CRC field of the frame (seq, kind, payload): what an ACK names its command by."""
    return crc16(bytes((len(payload), seq & 0xFF, kind)) + bytes(payload))


def encode(seq, kind, payload=b""):
    """One frame: SYNC, length, seq, type, payload, CRC-16 (big-endian) over length..payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long")
    body = bytes((len(payload), seq & 0xFF, kind)) + bytes(payload)
    crc = crc16(body)
    return bytes((SYNC,)) + body + bytes((crc >> 8, crc & 0xFF))


class Parser:
    """Bytes in, whole valid frames out, in any pieces (one byte at a time is fine).

    A frame whose length is impossible or whose CRC fails costs only its SYNC byte: the
    search starts again at the next byte, so the parser finds its way back after garbage,
    a truncated frame or a corrupt one. The buffer never holds more than one frame.
    """

    def __init__(self):
        self.buf = b""
        self.frames = 0
        self.corrupt = 0  # frames dropped for a bad CRC or length
        self.skipped = 0  # bytes skipped looking for SYNC

    def feed(self, data):
        """The (seq, type, payload) of each valid frame completed by `data`."""
        buf = self.buf + bytes(data)
        out = []
        start = 0
        end = len(buf)
        while start < end:
            if buf[start] != SYNC:
                start += 1
                self.skipped += 1
                continue
            if end - start < HEADER_LEN:
                break
            length = buf[start + 1]
            if length > MAX_PAYLOAD:
                start += 1
                self.corrupt += 1
                continue
            total = HEADER_LEN + length + CRC_LEN
            if end - start < total:
                break
            body = buf[start + 1:start + HEADER_LEN + length]
            got = (buf[start + total - 2] << 8) | buf[start + total - 1]
            if crc16(body) != got:
                start += 1
                self.corrupt += 1
                continue
            out.append((body[1], body[2], bytes(body[3:])))
            self.frames += 1
            start += total
        self.buf = buf[start:]
        return out


NEW, DUPLICATE, OLD = 0, 1, 2


class SequenceFilter:
    """Which received frames are new: seq counts up modulo 256 on each side.

    A HELLO (or the first frame heard) sets the base; then a frame is new if its seq is
    ahead of the last one by 1..127, a duplicate if equal, and old otherwise (dropped).
    A duplicate is only a candidate retry: the receiver decides (see firmware/link.py).
    """

    def __init__(self):
        self.last = None

    def check(self, seq, kind):
        if kind == HELLO or self.last is None:
            self.last = seq
            return NEW
        ahead = (seq - self.last) & 0xFF
        if ahead == 0:
            return DUPLICATE
        if ahead < 128:
            self.last = seq
            return NEW
        return OLD


class Sender:
    """Numbers outgoing frames and keeps at most one command waiting for its ACK,
    resending the same frame every ACK_TIMEOUT_MS, at most MAX_RETRIES times.

    The owner sends nothing else while a command waits (its resends stand in for the
    heartbeat), so the receiver's last accepted frame is the command until it is answered.
    """

    def __init__(self):
        self.seq = 0
        self.pending = None  # [seq, frame, tries, sent_ms, kind]
        self.failed = []  # kinds of commands that ran out of retries, for the owner to read

    def frame(self, kind, payload=b""):
        self.seq = (self.seq + 1) & 0xFF
        return encode(self.seq, kind, payload)

    def command(self, kind, payload, now_ms):
        """The frame to send now; a newer command replaces one still waiting."""
        frame = self.frame(kind, payload)
        self.pending = [self.seq, frame, 1, now_ms, kind]
        return frame

    def acked(self, seq, crc):
        """The kind of the command this ACK answers, or None: it must name the waiting
        command by both its seq and its frame's CRC."""
        pending = self.pending
        if pending is not None and pending[0] == seq and ((pending[1][-2] << 8) | pending[1][-1]) == crc:
            kind = self.pending[4]
            self.pending = None
            return kind
        return None

    def due(self, now_ms):
        """The frame to resend now, if any."""
        pending = self.pending
        if pending is None or now_ms - pending[3] < ACK_TIMEOUT_MS:
            return None
        if pending[2] > MAX_RETRIES:
            self.failed.append(pending[4])
            self.pending = None
            return None
        pending[2] += 1
        pending[3] = now_ms
        return pending[1]


def pack_ramp(target_pct, rate_pct_s):
    return struct.pack(_RAMP, int(round(target_pct * 10)), int(round(rate_pct_s * 1000)))


def unpack_ramp(payload):
    """(target %, rate %/s) or None if the payload is malformed."""
    if len(payload) != struct.calcsize(_RAMP):
        return None
    target, rate = struct.unpack(_RAMP, payload)
    return target / 10, rate / 1000


def pack_ack(seq, result, crc):
    return struct.pack(_ACK, seq & 0xFF, result, crc & 0xFFFF)


def unpack_ack(payload):
    """(command seq, result, command frame CRC) or None."""
    if len(payload) != struct.calcsize(_ACK):
        return None
    return struct.unpack(_ACK, payload)


def pack_status(position_pct, motion, mode, ramp, buttons, flags):
    return struct.pack(_STATUS, int(round(position_pct * 10)), motion, mode, ramp, buttons & 0xFFFF, flags)


def unpack_status(payload):
    """(position %, motion, mode, ramp state, button presses, flags) or None."""
    if len(payload) != struct.calcsize(_STATUS):
        return None
    position, motion, mode, ramp, buttons, flags = struct.unpack(_STATUS, payload)
    return position / 10, motion, mode, ramp, buttons, flags


def pack_info(firmware):
    return bytes((VERSION,)) + firmware.encode()[:MAX_PAYLOAD - 1]  # (ASCII names: no cut characters)


def unpack_info(payload):
    if len(payload) < 1:
        return None
    try:
        return payload[0], bytes(payload[1:]).decode()
    except UnicodeError:  # cut mid-character, or not text: keep what can be read
        return payload[0], "".join(chr(b) if 32 <= b < 127 else "?" for b in payload[1:])
