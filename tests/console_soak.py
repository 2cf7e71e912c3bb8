"""The console link soak: the Pi's real `ConsoleLink` (pyserial on a pseudo-terminal)
against the firmware's logic (tests/soak_board.py, under CPython in a thread or under real
MicroPython in Node.js), through a line that can drop and corrupt bytes, across many
sequence-number wraps, with at random moments: ramps, stops and console keys, watched
episodes (a ramp, time for the deck to show it, a stop, time to show that), sampling-loop
stalls (the Pi falls silent) and console reboots.

Afterwards each command's one outcome on the Pi is paired, in order and in time, with the
firmware's own log of what it carried out. Every acknowledged command must have been
carried out exactly then (the same seq, type, payload and result, between its first send
and its ACK), and the deck must have done what it said: a RAMP accepted above its target
set the motor going down within 1 s, a STOP accepted mid-ramp left the motor off from the
next tick on (unless a key or another command came first). `verify` returns the failures.

The heartbeat runs at `heartbeat_s` (2 ms here, 100 ms in the product) so that twenty
wraps take seconds; nothing else about the protocol changes with it.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from firmware import protocol as p
from pi_service.console.link import CommandResult, ConsoleLink
from tests.soak_board import Board

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = ROOT / ".node/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"
RUNNER = ROOT / "tests/soak_micropython.mjs"
TICK_S = 0.005
WATCH_S = 1.1  # a watched command is left alone this long, for the deck to show what it did (1 s)


class Line:
    """What happens to bytes on the wire: each byte dropped or flipped with its probability."""

    def __init__(self, drop: float = 0.0, corrupt: float = 0.0, seed: int = 0):
        self.drop, self.corrupt = drop, corrupt
        self.rng = random.Random(seed)
        self.dropped = self.corrupted = 0

    def carry(self, data: bytes) -> bytes:
        if not (self.drop or self.corrupt) or not data:
            return data
        out = bytearray()
        for byte in data:
            roll = self.rng.random()
            if roll < self.drop:
                self.dropped += 1
            elif roll < self.drop + self.corrupt:
                self.corrupted += 1
                out.append(byte ^ (1 << self.rng.randrange(8)))
            else:
                out.append(byte)
        return bytes(out)


@dataclass
class FirmwareLog:
    executed: list[tuple] = field(default_factory=list)  # (ms, seq, kind, payload, result, before, after, ramp, %)
    retries: list[tuple] = field(default_factory=list)  # (ms, seq)
    motor: list[tuple] = field(default_factory=list)  # (ms, direction, position)
    keys: list[tuple] = field(default_factory=list)  # (ms, key)

    def add(self, text: str) -> None:
        for entry in filter(None, text.split(";")):
            kind, *fields = entry.split(",")
            if kind == "x":
                ms, seq, command, payload, result, before, after, ramp, position = fields
                self.executed.append((int(ms), int(seq), int(command), bytes.fromhex(payload), int(result),
                                      int(before), int(after), int(ramp), float(position)))
            elif kind == "r":
                self.retries.append((int(fields[0]), int(fields[1])))
            elif kind == "m":
                self.motor.append((int(fields[0]), int(fields[1]), float(fields[2])))
            elif kind == "k":
                self.keys.append((int(fields[0]), fields[1]))


class CPythonFirmware:
    """The board's main loop in a thread of this process, on the pty's master side."""

    name = "cpython"
    clock_error_s = 0.01  # the board's milliseconds are this process's monotonic clock

    def __init__(self, master: int, line_in: Line, line_out: Line, position_pct: float, board=Board):
        self.master, self.line_in, self.line_out = master, line_in, line_out
        self.board_class = board
        self.board = board(position_pct)
        self.log = FirmwareLog()
        self.reboots = 0
        self._keys: list[str] = []
        self._reboot = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-firmware", daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def press(self, key: str) -> None:
        with self._lock:
            self._keys.append(key)

    def reboot(self) -> None:
        with self._lock:
            self._reboot = True

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            with self._lock:
                keys, self._keys = self._keys, []
                reboot, self._reboot = self._reboot, False
            if reboot:  # the watchdog resets the MCU: all but the deck's position starts again
                self.board = self.board_class(self.board.motor.position)
                self.reboots += 1
            for key in keys:
                self.board.press(key)
            out = self.board.step(int((time.monotonic() - self.t0) * 1000), self.line_in.carry(data))
            self.log.add(self.board.take_log())
            if out:
                try:
                    os.write(self.master, self.line_out.carry(out))
                except (BlockingIOError, OSError):
                    pass  # nobody reading: lost, as on a wire

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class MicroPythonFirmware:
    """The board's main loop in real MicroPython under Node.js; this process pumps the pty."""

    name = "micropython"
    clock_error_s = 0.1  # Node's milliseconds start when it says READY, read here a little later

    def __init__(self, master: int, line_in: Line, line_out: Line, position_pct: float):
        assert shutil.which("node"), "Node.js is needed for the MicroPython soak (make test installs it)"
        assert MICROPYTHON.exists(), f"{MICROPYTHON} missing: run `make test`, which installs it with npm"
        self.master, self.line_in, self.line_out = master, line_in, line_out
        self.log = FirmwareLog()
        self.reboots = 0
        self.process = subprocess.Popen(["node", str(RUNNER), str(MICROPYTHON), str(position_pct)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, bufsize=1)
        first = self.process.stdout.readline()
        self.t0 = time.monotonic()
        assert first.strip() == "READY", first + self.process.stderr.read()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._to_board, daemon=True),
                         threading.Thread(target=self._from_board, daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self.process.stdin.write(line + "\n")
            except (BrokenPipeError, ValueError):
                return  # Node has exited (at the end, or it crashed: its missing log then fails the run)

    def press(self, key: str) -> None:
        self._send("K " + key)

    def reboot(self) -> None:
        self._send("R")
        self.reboots += 1

    def _to_board(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = self.line_in.carry(os.read(self.master, 4096))
            except (BlockingIOError, OSError):
                continue
            if data:
                self._send("D " + data.hex())

    def _from_board(self) -> None:
        for line in self.process.stdout:
            if line.startswith("D "):
                try:
                    os.write(self.master, self.line_out.carry(bytes.fromhex(line[2:].strip())))
                except (BlockingIOError, OSError):
                    continue  # nobody reading the pty: lost, as on a wire
            elif line.startswith("L "):
                self.log.add(line[2:].strip())

    def stop(self) -> None:
        self._stop.set()
        self._send("Q")
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for thread in self._threads:
            thread.join(timeout=2)


@dataclass
class SoakReport:
    firmware: str
    seconds: float
    frames: int
    wraps: int
    commands: int
    acknowledged: int
    ramps_acked: int
    stops_acked: int
    unanswered: int
    not_sent: int
    retries_answered: int
    keys: int
    stalls: int
    reboots: int
    dropped_bytes: int
    corrupted_bytes: int
    ramps_watched: int  # accepted ramps whose motor response was checked
    stops_watched: int  # accepted stops mid-ramp whose motor response was checked
    failures: list[str]
    log: FirmwareLog = field(default_factory=FirmwareLog, repr=False)

    def summary(self) -> str:
        return (f"{self.firmware}: {self.seconds:.0f} s, {self.frames} Pi frames ({self.wraps} sequence wraps), "
                f"{self.commands} commands ({self.ramps_acked} ramps and {self.stops_acked} stops acknowledged, "
                f"{self.unanswered} unanswered, {self.not_sent} not sent), {self.retries_answered} retries answered "
                f"again, {self.keys} console keys, {self.stalls} loop stalls, {self.reboots} console reboots, "
                f"{self.dropped_bytes} bytes dropped and {self.corrupted_bytes} corrupted on the line; the deck "
                f"checked after {self.ramps_watched} ramps and {self.stops_watched} stops: "
                f"{len(self.failures)} failures")


# Pauses between commands: mostly short (commands overtaking each other and their ACKs),
# sometimes over a second (so the deck shows what an acknowledged command did).
PAUSES_S = (0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 1.1)


def soak(firmware: str = "cpython", wraps: int = 20, min_commands: int = 200, drop: float = 0.0,
         corrupt: float = 0.0, seed: int = 1, heartbeat_s: float = 0.002, max_seconds: float = 240.0,
         board=None, pauses: tuple[float, ...] = PAUSES_S, episodes: bool = True) -> SoakReport:
    """Run the soak until `wraps` sequence wraps and `min_commands` commands; the report.
    `board`: a Board class to run instead of the firmware's (CPython only; a test's
    deliberately broken link). `episodes`: also watched ramps, loop stalls and reboots."""
    rng = random.Random(seed)
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    path = os.ttyname(slave)
    line_in, line_out = Line(drop, corrupt, seed * 2 + 1), Line(drop, corrupt, seed * 2 + 2)
    start_pct = 12.0
    if firmware == "micropython":
        fw = MicroPythonFirmware(master, line_in, line_out, start_pct)
    else:
        fw = CPythonFirmware(master, line_in, line_out, start_pct, board or Board)
    results: list[CommandResult] = []
    link = ConsoleLink(path, heartbeat_s=heartbeat_s, read_timeout_s=0.002, on_result=results.append)
    ticking = threading.Event()
    ticking.set()
    stop_loop = threading.Event()

    def sampling_loop():
        while not stop_loop.is_set():
            if ticking.is_set():
                link.loop_ticked()
            time.sleep(0.01)

    loop = threading.Thread(target=sampling_loop, daemon=True)
    fw.start()
    loop.start()
    link.start()
    started = time.monotonic()
    commands = stalls = 0

    def wait_alive(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not link.state.alive:
            assert time.monotonic() < deadline, f"the link never came up: {link.state.error}"
            time.sleep(0.01)

    try:
        wait_alive(15)
        while (link.frames_sent < 256 * wraps or commands < min_commands) and \
                time.monotonic() - started < max_seconds:
            position = link.state.position_pct
            roll = rng.random()
            if position is not None and position < 4.0 and roll < 0.5:
                fw.press(str(rng.choice([11, 12, 13, 14])))  # take the deck back up for more ramps
                time.sleep(0.3)
                continue
            if episodes and roll < 0.06 and position is not None and position > 4.0:
                # Watched: a ramp, left alone to show itself, then a stop, left alone too.
                link.ramp_down(round(rng.uniform(0.0, position - 3.0), 1), rng.choice([0.3, 0.5, 0.8, 1.0]))
                time.sleep(WATCH_S)
                link.stop_ramp()
                time.sleep(WATCH_S)
                commands += 2
                continue
            if episodes and 0.06 <= roll < 0.08:
                ticking.clear()  # the sampling loop hangs in a driver call: the Pi falls silent
                stalls += 1
                time.sleep(rng.choice([0.3, 0.7]))
                ticking.set()
                wait_alive(5)
                continue
            if episodes and 0.08 <= roll < 0.095:
                fw.reboot()
                time.sleep(0.2)
                wait_alive(5)
                continue
            time.sleep(rng.choice(pauses))
            if roll < 0.125:
                fw.press(rng.choice(["stop", "up", "down"]))  # the console wins
            elif roll < 0.6 and position is not None:
                link.ramp_down(round(rng.uniform(0.0, max(0.0, position - 0.5)), 1),
                               rng.choice([0.2, 0.5, 0.8, 1.0, 1.5]))
                commands += 1
            else:
                link.stop_ramp()
                commands += 1
        time.sleep(1.5)  # the last answers, and a second for the deck to show what it did
    finally:
        link.close()
        stop_loop.set()
        fw.stop()
        os.close(master)
        os.close(slave)
    checks = EffectChecks()
    failures = verify(results, fw.log, fw.t0, fw.clock_error_s, checks)
    return SoakReport(
        firmware=fw.name, seconds=time.monotonic() - started, frames=link.frames_sent,
        wraps=link.frames_sent // 256, commands=commands,
        acknowledged=sum(r.acknowledged for r in results),
        ramps_acked=sum(r.acknowledged and r.command == "ramp" for r in results),
        stops_acked=sum(r.acknowledged and r.command == "stop_ramp" for r in results),
        unanswered=sum(r.result.startswith("no answer") for r in results),
        not_sent=sum(r.result.startswith("not sent") for r in results),
        retries_answered=len(fw.log.retries), keys=len(fw.log.keys), stalls=stalls, reboots=fw.reboots,
        dropped_bytes=line_in.dropped + line_out.dropped, corrupted_bytes=line_in.corrupted + line_out.corrupted,
        ramps_watched=checks.ramps, stops_watched=checks.stops, failures=failures, log=fw.log)


KINDS = {"ramp": p.RAMP, "stop_ramp": p.STOP_RAMP}
IN_FLIGHT_S = 1.0  # an unanswered command may still arrive and be carried out this long after its outcome


@dataclass
class EffectChecks:
    ramps: int = 0
    stops: int = 0


def verify(results: list[CommandResult], log: FirmwareLog, t0: float = 0.0, clock_error_s: float = 0.01,
           checks: EffectChecks | None = None) -> list[str]:
    """Every acknowledged command was carried out, once, and the deck did what it said.

    Each command the Pi sent has exactly one outcome, published in the order sent, and the
    firmware acts on commands in the order they arrive, so its executions pair off, in
    order, with the commands sent: the same seq, type and payload, carried out (on the
    firmware's clock, `t0` + its milliseconds) after the command was first sent and, if it
    was acknowledged, before its ACK arrived. A command whose every copy was lost has no
    execution; an acknowledgement with none, or an execution left unpaired, is a failure."""
    checks = checks if checks is not None else EffectChecks()
    failures = []
    executed = log.executed
    sent = [r for r in results if r.seq is not None]

    def claims(result: CommandResult, execution: tuple) -> bool:
        at = t0 + execution[0] / 1000
        latest = result.t + (clock_error_s if result.acknowledged else IN_FLIGHT_S)
        return (execution[1:4] == (result.seq, KINDS[result.command], result.payload)
                and result.sent_t - clock_error_s <= at <= latest)

    k = 0
    for i, result in enumerate(sent):
        here = executed[k] if k < len(executed) else None
        if here is not None and claims(result, here):
            # An unanswered command gives way to a later acknowledged one of the same frame
            # (a seq come round again) whose window holds this execution too.
            if not result.acknowledged and any(
                    later.acknowledged and claims(later, here) for later in sent[i + 1:]
                    if later.sent_t - clock_error_s <= t0 + here[0] / 1000):
                continue
            if result.acknowledged and p.RESULT_NAMES[here[4]] != result.result:
                failures.append(f"{result.command} seq {result.seq} acknowledged '{result.result}' but the "
                                f"firmware's result was '{p.RESULT_NAMES[here[4]]}'")
            if result.acknowledged:
                failures += check_effect(executed, k, log, checks)
            k += 1
        elif result.acknowledged:
            failures.append(f"{result.command} seq {result.seq} acknowledged '{result.result}' at {result.t:.3f} "
                            f"(sent {result.sent_t:.3f}) but the firmware never carried it out then (next "
                            f"execution: {here and (round(t0 + here[0] / 1000, 3), *here[1:5])})")
    for extra in executed[k:]:
        failures.append(f"the firmware carried out seq {extra[1]} at {extra[0]} ms, which the Pi did not send then")
    return failures


def check_effect(executed: list[tuple], k: int, log: FirmwareLog, checks: EffectChecks) -> list[str]:
    """The deck did what an accepted command says, within 1 s (unless overtaken first)."""
    ms, seq, kind, payload, result, before, after, ramp_state, position = executed[k]
    if result not in (p.RESULT_OK, p.RESULT_RATE_CAPPED):
        return []
    horizon = ms + 1000
    overtaken = min([e[0] for e in executed[k + 1:] if e[0] > ms] + [m for m, _ in log.keys if m >= ms] + [horizon])
    motor_after = [(m, d) for m, d, _ in log.motor if ms <= m <= min(horizon, overtaken)]
    direction_before = next((d for m, d, _ in reversed(log.motor) if m <= ms), 0)
    if kind == p.RAMP:
        if after != p.MODE_RAMP and ramp_state != p.RAMP_DONE:
            return [f"RAMP seq {seq} at {ms} ms accepted but the firmware is in mode {after}, ramp {ramp_state}"]
        target = p.unpack_ramp(payload)[0]
        if ramp_state == p.RAMP_DONE or overtaken < horizon or position <= target + 0.5:
            return []
        checks.ramps += 1
        if not any(d == p.MOTION_DOWN for _, d in motor_after) and direction_before != p.MOTION_DOWN:
            rate = p.unpack_ramp(payload)[1]
            near = [e for e in log.motor if ms - 2000 <= e[0] <= ms + 2000]
            return [f"RAMP seq {seq} at {ms} ms from {position} % to {target} % at {rate} %/s accepted, the motor "
                    f"did not go down within 1 s (motor: {near})"]
        return []
    if kind == p.STOP_RAMP:
        if after == p.MODE_RAMP:
            return [f"STOP seq {seq} at {ms} ms accepted but the firmware is still ramping"]
        if before == p.MODE_RAMP and overtaken >= horizon:
            # Stopped: off from the controller's next tick, and never driven again in the second.
            checks.stops += 1
            later = [(m, d) for m, d in motor_after if m > ms + 20]
            off = next((d for m, d, _ in reversed(log.motor) if m <= ms + 20), 0) == p.MOTION_STOPPED
            if not off or any(d != p.MOTION_STOPPED for _, d in later):
                return [f"STOP seq {seq} at {ms} ms accepted mid-ramp, the motor ran on: {motor_after}"]
    return []
