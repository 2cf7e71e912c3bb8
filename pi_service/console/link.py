"""The Pi's end of the console link: owns the serial port on its own thread.

- Opens the port with pyserial; if it cannot, or the device vanishes, or the console goes
  quiet (nothing valid for `DEAD_S`), it closes it and tries again with a doubling back-off
  (0.25 s up to 4 s).
- Sends HELLO on every (re)connection, HEARTBEAT every 100 ms, and commands with ACK and
  bounded retries (firmware/protocol.py).
- Publishes what it knows as one immutable `ConsoleState`, replaced whole: the sampling
  loop reads `link.state` (an attribute read) and queues commands with `ramp_down()` /
  `stop_ramp()` (a deque append); neither ever waits on the serial port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import serial

from firmware import protocol as p

log = logging.getLogger(__name__)

DEAD_S = 0.5  # nothing valid heard for this long: the link is down (noticed well within 1 s)
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 4.0
READ_TIMEOUT_S = 0.02
WRITE_TIMEOUT_S = 0.1
HELLO_AGAIN_S = 1.0  # a console whose STATUS says it does not hear us gets a new HELLO this often  # a stuck peer (flow control) cannot hold the thread longer than this


@dataclass(frozen=True)
class ConsoleState:
    port: str
    connected: bool = False  # the port is open
    alive: bool = False  # a valid frame within DEAD_S
    since_t: float = 0.0  # when `alive` last changed
    firmware: str | None = None
    position_pct: float | None = None
    motion: int = 0
    mode: int = p.MODE_IDLE
    ramp: int = p.RAMP_NONE
    presses: int = 0  # console button presses (wraps at 65536)
    flags: int = 0
    heard_t: float | None = None
    last_result: tuple[str, str, float] | None = None  # (command, result, t) of the last ACK or failure
    reconnects: int = 0
    error: str | None = None  # why the port is closed

    def to_dict(self) -> dict:
        return {"port": self.port, "connected": self.connected, "alive": self.alive, "firmware": self.firmware,
                "position_pct": self.position_pct, "motion": self.motion,
                "ramp": p.RAMP_NAMES[self.ramp] if 0 <= self.ramp < len(p.RAMP_NAMES) else f"state {self.ramp}",
                "presses": self.presses, "error": self.error, "reconnects": self.reconnects,
                "last_result": None if self.last_result is None else
                {"command": self.last_result[0], "result": self.last_result[1], "t": round(self.last_result[2], 3)}}


class ConsoleLink:
    def __init__(self, port: str, baud: int = 115200, clock: Callable[[], float] = time.monotonic,
                 open_port: Callable[..., serial.Serial] = serial.Serial):
        self.port = port
        self.baud = baud
        self.clock = clock
        self.open_port = open_port
        self.state = ConsoleState(port, since_t=clock())
        self._commands: deque[tuple[int, bytes]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heard = False  # the current connection has heard a valid frame
        self._hello_t = 0.0

    # -- for the sampling loop: never blocks ---------------------------------------

    def ramp_down(self, target_pct: float, rate_pct_s: float) -> None:
        self._commands.append((p.RAMP, p.pack_ramp(target_pct, rate_pct_s)))

    def stop_ramp(self) -> None:
        self._commands.append((p.STOP_RAMP, b""))

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

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            try:
                port = self.open_port(self.port, self.baud, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._down(f"cannot open {self.port}: {exc}")
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            self._publish(connected=True, error=None, reconnects=self.state.reconnects + 1)
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
        if self.state.alive or self.state.connected or self.state.error != reason:
            if self.state.alive:
                log.warning("console link down: %s", reason)
            self._publish(connected=False, alive=False, error=reason,
                          since_t=self.clock() if self.state.alive else self.state.since_t)

    def _converse(self, port) -> str | None:
        """Talk until the console goes quiet (returns why) or we are asked to stop (None)."""
        parser, seqs, sender = p.Parser(), p.SequenceFilter(), p.Sender()
        names = {p.RAMP: "ramp", p.STOP_RAMP: "stop_ramp"}
        opened = self.clock()
        heard = None
        self._heard = False
        port.write(sender.frame(p.HELLO))
        self._hello_t = opened
        next_beat = opened + p.HEARTBEAT_MS / 1000
        while not self._stop.is_set():
            now = self.clock()
            now_ms = int(now * 1000)
            data = port.read(max(1, port.in_waiting))
            for seq, kind, payload in parser.feed(data):
                if seqs.check(seq, kind) != p.NEW:
                    continue
                heard = now
                self._heard = True
                self._receive(kind, payload, now, sender, names, port)
            if not self.state.alive and heard is not None and now - heard < DEAD_S:
                log.info("console link up on %s", self.port)
                self._publish(alive=True, since_t=now)
            if (heard if heard is not None else opened) < now - DEAD_S:
                if self.state.alive:
                    self._publish(alive=False, since_t=now)
                return f"{self.port}: nothing valid from the console for {DEAD_S:g} s"
            while self._commands:
                kind, payload = self._commands.popleft()
                port.write(sender.command(kind, payload, now_ms))
                next_beat = now + p.HEARTBEAT_MS / 1000
            resend = sender.due(now_ms)
            if resend is not None:
                port.write(resend)
            while sender.failed:
                kind = sender.failed.pop()
                log.warning("console did not acknowledge %s", names[kind])
                self._publish(last_result=(names[kind], "no answer", now))
            # While a command waits for its ACK, its resends stand in for the heartbeat, so
            # no later frame overtakes it in the console's sequence check.
            if now >= next_beat and sender.pending is None:
                port.write(sender.frame(p.HEARTBEAT))
                next_beat = now + p.HEARTBEAT_MS / 1000
        return None

    def _receive(self, kind: int, payload: bytes, now: float, sender: p.Sender, names: dict, port=None) -> None:
        if kind == p.STATUS:
            status = p.unpack_status(payload)
            if status is not None:
                position, motion, mode, ramp, presses, flags = status
                self._publish(position_pct=position, motion=motion, mode=mode, ramp=ramp, presses=presses,
                              flags=flags, heard_t=now)
                if not flags & p.FLAG_LINK_OK and port is not None and now - self._hello_t > HELLO_AGAIN_S:
                    # The console does not hear us (our HELLO lost?): start the conversation again.
                    port.write(sender.frame(p.HELLO))
                    self._hello_t = now
        elif kind == p.ACK:
            ack = p.unpack_ack(payload)
            if ack is not None:
                command = sender.acked(ack[0])
                if command is not None:
                    result = p.RESULT_NAMES[ack[1]] if ack[1] < len(p.RESULT_NAMES) else f"result {ack[1]}"
                    self._publish(last_result=(names[command], result, now))
        elif kind == p.INFO:
            info = p.unpack_info(payload)
            if info is not None:
                self._publish(firmware=info[1])
