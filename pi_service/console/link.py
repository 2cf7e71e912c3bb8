"""The Pi's end of the console link: owns the serial port on its own thread.

- Opens the port with pyserial; if it cannot, or the device vanishes, or the console goes
  quiet (nothing valid for `DEAD_S`), it closes it and tries again with a doubling back-off
  (0.25 s up to 4 s).
- Alive means both directions work: frames arrive from the console, and the console's
  STATUS says it hears the Pi. A console that does not hear us, or whose INFO has not
  come, gets a new HELLO once a second; the link is reported down meanwhile.
- Speaks only for a sampling loop that is alive: HELLO, HEARTBEAT and commands go out only
  while the loop has ticked within `loop_deadline_s`, so a loop stuck in a driver call
  falls silent and the firmware's 500 ms safety acts.
- Commands are sent with ACK and bounded retries (firmware/protocol.py); one queued while
  the link is down, or older than `COMMAND_MAX_AGE_S` when its turn comes, is dropped and
  reported as not sent, never replayed late.
- Publishes what it knows as one immutable `ConsoleState`, replaced whole: the sampling
  loop reads `link.state` (an attribute read), calls `loop_ticked()` and queues commands
  with `ramp_down()` / `stop_ramp()` (a deque append); none of them waits on the port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import serial

from firmware import protocol as p

log = logging.getLogger(__name__)

DEAD_S = 0.5  # nothing valid heard for this long: the link is down (noticed well within 1 s)
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 4.0
READ_TIMEOUT_S = 0.02
WRITE_TIMEOUT_S = 0.1  # a stuck peer (flow control) cannot hold the thread longer than this
HELLO_AGAIN_S = 1.0  # a console that does not hear us, or whose INFO has not come, gets a new HELLO this often
LOOP_DEADLINE_S = 0.2  # the sampling loop silent this long: send nothing (two periods at its slowest, 10 Hz)
COMMAND_MAX_AGE_S = 0.5  # a command that waited this long to go out is stale: dropped
NAMES = {p.RAMP: "ramp", p.STOP_RAMP: "stop_ramp"}


class CommandResult(NamedTuple):
    command: str  # "ramp" or "stop_ramp"
    result: str  # an ACK's result name (p.RESULT_NAMES), "no answer", or "not sent: <why>"
    t: float  # when it was known, on the link's clock
    payload: bytes = b""  # the command's payload, to tell two commands apart
    seq: int | None = None  # the frame's seq, once it had one
    sent_t: float | None = None  # when it was first sent (None: never sent)

    @property
    def acknowledged(self) -> bool:
        return self.result in p.RESULT_NAMES


@dataclass(frozen=True)
class ConsoleState:
    port: str
    connected: bool = False  # the port is open
    receiving: bool = False  # a valid frame from the console within DEAD_S
    console_hears_pi: bool = False  # the console's last STATUS said it hears the Pi
    alive: bool = False  # both directions work and the firmware speaks our protocol
    since_t: float = 0.0  # when `alive` last changed
    firmware: str | None = None
    protocol: int | None = None
    position_pct: float | None = None
    motion: int = 0
    mode: int = p.MODE_IDLE
    ramp: int = p.RAMP_NONE
    presses: int = 0  # console button presses (wraps at 65536)
    flags: int = 0
    heard_t: float | None = None  # when the last STATUS arrived (it follows the ACKs sent before it)
    last_result: CommandResult | None = None
    reconnects: int = 0
    error: str | None = None  # why the link is down

    def to_dict(self) -> dict:
        return {"port": self.port, "connected": self.connected, "alive": self.alive, "receiving": self.receiving,
                "console_hears_pi": self.console_hears_pi, "firmware": self.firmware,
                "position_pct": self.position_pct, "motion": self.motion,
                "ramp": p.RAMP_NAMES[self.ramp] if 0 <= self.ramp < len(p.RAMP_NAMES) else f"state {self.ramp}",
                "presses": self.presses, "error": self.error, "reconnects": self.reconnects,
                "last_result": None if self.last_result is None else
                {"command": self.last_result.command, "result": self.last_result.result,
                 "t": round(self.last_result.t, 3)}}


class ConsoleLink:
    def __init__(self, port: str, baud: int = 115200, clock: Callable[[], float] = time.monotonic,
                 open_port: Callable[..., serial.Serial] = serial.Serial,
                 loop_deadline_s: float | None = LOOP_DEADLINE_S, heartbeat_s: float = p.HEARTBEAT_MS / 1000,
                 read_timeout_s: float = READ_TIMEOUT_S, on_result: Callable[[CommandResult], None] | None = None):
        """`loop_deadline_s`: send only while `loop_ticked()` was called within it (None: always,
        for a link without a sampling loop). `heartbeat_s` and `read_timeout_s`: the protocol's
        100 ms and the port's 20 ms, shortened only by the soak test to cross many sequence
        wraps quickly. `on_result`: called on the link's thread with every command's outcome."""
        self.port = port
        self.baud = baud
        self.clock = clock
        self.open_port = open_port
        self.loop_deadline_s = loop_deadline_s
        self.heartbeat_s = heartbeat_s
        self.read_timeout_s = read_timeout_s
        self.on_result = on_result
        self.state = ConsoleState(port, since_t=clock())
        self.frames_sent = 0
        self._commands: deque[tuple[int, bytes, float]] = deque()
        self._loop_t: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heard = False  # the current connection has heard a valid frame

    # -- for the sampling loop: never blocks ---------------------------------------

    def loop_ticked(self) -> None:
        """The sampling loop is alive: the link may speak for it until `loop_deadline_s` from now."""
        self._loop_t = self.clock()

    def ramp_down(self, target_pct: float, rate_pct_s: float) -> None:
        self._commands.append((p.RAMP, p.pack_ramp(target_pct, rate_pct_s), self.clock()))

    def stop_ramp(self) -> None:
        self._commands.append((p.STOP_RAMP, b"", self.clock()))

    # -- the thread ------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="console-link", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _publish(self, **changes) -> None:
        self.state = replace(self.state, **changes)

    def _result(self, kind: int, result: str, payload: bytes = b"", pending: list | None = None) -> None:
        """Publish a command's one outcome; `pending` is the Sender's record of it, if it was sent."""
        seq, sent_t = (None, None) if pending is None else (pending[0], pending[5])
        outcome = CommandResult(NAMES[kind], result, self.clock(), payload, seq, sent_t)
        self._publish(last_result=outcome)
        if self.on_result is not None:
            self.on_result(outcome)

    def _loop_alive(self, now: float) -> bool:
        if self.loop_deadline_s is None:
            return True
        return self._loop_t is not None and now - self._loop_t <= self.loop_deadline_s

    def _write(self, port, frame: bytes) -> None:
        port.write(frame)
        self.frames_sent += 1

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            self._drop_queued("not sent: the console link was down")
            try:
                port = self.open_port(self.port, self.baud, timeout=self.read_timeout_s, write_timeout=WRITE_TIMEOUT_S)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._down(f"cannot open {self.port}: {exc}")
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            self._publish(connected=True, reconnects=self.state.reconnects + 1)
            try:
                reason = self._converse(port)
                if reason is None:
                    return  # asked to stop
                if self._heard:
                    backoff = BACKOFF_FIRST_S  # it worked for a while: start the back-off again
            except (serial.SerialException, OSError) as exc:
                reason = f"{self.port}: {exc}"
            except Exception as exc:  # noqa: BLE001 - a bug here must not leave the link looking alive
                log.exception("console link: unexpected error")
                reason = f"{self.port}: unexpected {type(exc).__name__}: {exc}"
            finally:
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    pass  # already gone with the device
            self._down(reason)
            self._stop.wait(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    def _down(self, reason: str) -> None:
        state = self.state
        if state.alive or state.connected or state.receiving or state.error != reason:
            if state.alive:
                log.warning("console link down: %s", reason)
            self._publish(connected=False, receiving=False, console_hears_pi=False, alive=False, error=reason,
                          since_t=self.clock() if state.alive else state.since_t)

    def _drop_queued(self, why: str) -> None:
        while self._commands:
            kind, payload, _queued = self._commands.popleft()
            log.warning("console link: %s %s", NAMES[kind], why)
            self._result(kind, why, payload)

    def _converse(self, port) -> str | None:
        """Talk until the console goes quiet (returns why) or we are asked to stop (None)."""
        sender = p.Sender()
        try:
            return self._talk(port, sender)
        finally:
            # However the conversation ended, a command still waiting gets its outcome.
            self._abandon(sender, "no answer (the link went down)")

    def _abandon(self, sender: p.Sender, why: str) -> None:
        pending, sender.pending = sender.pending, None
        if pending is not None:
            self._result(pending[4], why, pending[1][p.HEADER_LEN:-p.CRC_LEN], pending)

    def _talk(self, port, sender: p.Sender) -> str | None:
        parser, seqs = p.Parser(), p.SequenceFilter()
        opened = self.clock()
        heard = None
        hello_t = None  # no HELLO yet on this connection
        self._heard = False
        self._publish(firmware=None, protocol=None, console_hears_pi=False, error="waiting for the console")
        next_beat = opened
        while not self._stop.is_set():
            now = self.clock()
            data = port.read(max(1, port.in_waiting))
            for seq, kind, payload in parser.feed(data):
                if seqs.check(seq, kind) != p.NEW:
                    continue
                heard = now
                self._heard = True
                self._receive(kind, payload, now, sender)
            if (heard if heard is not None else opened) < now - DEAD_S:
                return f"{self.port}: nothing valid from the console for {DEAD_S:g} s"
            self._update_liveness(now, heard is not None and now - heard < DEAD_S)

            if not self._loop_alive(now):
                # The sampling loop is stuck: say nothing, so the firmware's own timeout acts.
                self._abandon(sender, "no answer (the sampling loop stalled)")
                self._drop_queued("not sent: the sampling loop stalled")
                continue
            if hello_t is None or ((not self.state.console_hears_pi or self.state.protocol is None)
                                   and now - hello_t > HELLO_AGAIN_S):
                # A new conversation, the console does not hear us (our HELLO lost?), or its
                # INFO has not come (lost on the way back): start again.
                self._write(port, sender.frame(p.HELLO))
                hello_t = now
                next_beat = now + self.heartbeat_s
            while self._commands:
                kind, payload, queued = self._commands.popleft()
                if not self.state.alive:
                    self._result(kind, f"not sent: {self.state.error or 'the console link is down'}", payload)
                elif now - queued > COMMAND_MAX_AGE_S:
                    self._result(kind, f"not sent: stale ({now - queued:.1f} s old)", payload)
                else:
                    # A command still waiting is replaced: its ACK may yet come but will not
                    # be matched, so say so now.
                    self._abandon(sender, "no answer (a newer command replaced it)")
                    self._write(port, sender.command(kind, payload, int(now * 1000)))
                    sender.pending.append(self.clock())  # [5]: when it was first sent
                    next_beat = now + self.heartbeat_s
            pending = sender.pending
            resend = sender.due(int(now * 1000))
            if resend is not None:
                self._write(port, resend)
            while sender.failed:
                kind = sender.failed.pop()
                log.warning("console did not acknowledge %s", NAMES[kind])
                self._result(kind, "no answer", pending[1][p.HEADER_LEN:-p.CRC_LEN], pending)
            # While a command waits for its ACK, its resends stand in for the heartbeat, so
            # no later frame overtakes it in the console's sequence check.
            if now >= next_beat and sender.pending is None:
                self._write(port, sender.frame(p.HEARTBEAT))
                next_beat = now + self.heartbeat_s
        return None

    def _update_liveness(self, now: float, receiving: bool) -> None:
        state = self.state
        protocol_ok = state.protocol == p.VERSION
        alive = receiving and state.console_hears_pi and protocol_ok
        if not receiving:
            error = f"nothing valid from the console for {DEAD_S:g} s"
        elif state.protocol is None:
            error = "waiting for the console's INFO"
        elif not protocol_ok:
            error = (f"the console's firmware ({state.firmware}) speaks protocol {state.protocol}, this Pi "
                     f"{p.VERSION}: flash the firmware from this version (firmware/PROTOCOL.md#flashing)")
        elif not state.console_hears_pi:
            error = "the console does not hear the Pi (check the wire from the Pi's TX to the console's RX)"
        else:
            error = None
        if (alive, receiving, error) != (state.alive, state.receiving, state.error):
            if alive != state.alive:
                log.log(logging.INFO if alive else logging.WARNING, "console link %s on %s%s",
                        "up" if alive else "down", self.port, "" if alive else f": {error}")
            self._publish(alive=alive, receiving=receiving, error=error,
                          since_t=now if alive != state.alive else state.since_t)

    def _receive(self, kind: int, payload: bytes, now: float, sender: p.Sender) -> None:
        if kind == p.STATUS:
            status = p.unpack_status(payload)
            if status is not None:
                position, motion, mode, ramp, presses, flags = status
                self._publish(position_pct=position, motion=motion, mode=mode, ramp=ramp, presses=presses,
                              flags=flags, heard_t=now, console_hears_pi=bool(flags & p.FLAG_LINK_OK))
        elif kind == p.ACK:
            ack = p.unpack_ack(payload)
            if ack is not None:
                pending = sender.pending
                command = sender.acked(ack[0], ack[2])
                if command is not None:
                    result = p.RESULT_NAMES[ack[1]] if ack[1] < len(p.RESULT_NAMES) else f"result {ack[1]}"
                    self._result(command, result, pending[1][p.HEADER_LEN:-p.CRC_LEN], pending)
        elif kind == p.INFO:
            info = p.unpack_info(payload)
            if info is not None:
                self._publish(protocol=info[0], firmware=info[1])
