"""The maintenance commands' way in while the daemon runs: `calibrate` and `doctor` ask the
sampling process, which owns the bus and the pins, instead of opening them under it
(a second program starting conversions on the ADS1115 the loop converts on spoils both).

A Unix socket in the state folder (`daemon.sock`, owner and group only) takes one request
at a time, one JSON object per line, and answers with `{"progress": f}` lines and one
`{"result": ...}` or `{"error": "..."}`:

- `{"op": "status"}`: the loop's latest snapshot, the chips it talks to, the belt's pulse count.
- `{"op": "measure", "seconds": s}`: every fresh raw reading over `s` seconds of ticks,
  averaged: each rail's volts (a new conversion every other tick, per rail), the deck's
  pitch in degrees, the belt's pulses and speed. The raw values calibration needs.
- `{"op": "beep", "seconds": s}`: a short beep on the buzzer (doctor's check).
- `{"op": "sim", "rails_n": [l, r]}` / `"speed_kmh"` / `"incline_pct"` / `"resume"`: the
  person's part of a calibration, played by the virtual treadmill; refused on hardware.

This thread only talks; the tick does all the touching: a request for the hardware or
the sim waits in `pending` and the tick carries it out. A tick with no request costs one
attribute test; during a measurement, a few appends.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pi_service.drivers.adxl345 import pitch_deg

log = logging.getLogger(__name__)

MAX_MEASURE_S = 120.0
REQUEST_TIMEOUT_S = 5.0  # a client that sends nothing for this long is let go
PROGRESS_EVERY_S = 0.25
SIM_CONTROLS = ("rails_n", "speed_kmh", "incline_pct", "resume")


class BadRequest(ValueError):
    """A request the port cannot carry out; its text goes back as the error."""


@dataclass
class Measurement:
    seconds: float
    forward_axis: str
    started_t: float | None = None
    last_t: float | None = None
    pulses_at_start: int = 0
    pulses: int = 0
    values: dict[str, list[float]] = field(default_factory=lambda: {"rail_left_v": [], "rail_right_v": [],
                                                                    "pitch_deg": []})
    speeds: list[float] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def feed(self, t: float, sensors, speed_mps: float | None) -> None:
        """One tick's fresh raw readings."""
        if self.started_t is None:
            self.started_t, self.pulses_at_start = t, sensors.belt.pulses
        fresh = sensors.fresh_rail
        if fresh is not None:
            index, volts = fresh
            self.values["rail_left_v" if index == 0 else "rail_right_v"].append(volts)
        if sensors.fresh_acceleration is not None:
            self.values["pitch_deg"].append(pitch_deg(sensors.fresh_acceleration, self.forward_axis))
        if speed_mps is not None:
            self.speeds.append(speed_mps)
        self.last_t = t
        self.pulses = sensors.belt.pulses - self.pulses_at_start
        if t - self.started_t >= self.seconds:
            self.done.set()

    @property
    def fraction(self) -> float:
        if self.started_t is None or self.last_t is None:
            return 0.0
        return min(1.0, (self.last_t - self.started_t) / self.seconds)

    def result(self) -> dict:
        readings = {name: {"mean": statistics.fmean(v) if v else None,
                           "stdev": statistics.pstdev(v) if v else None, "count": len(v)}
                    for name, v in self.values.items()}
        elapsed = (self.last_t or 0.0) - (self.started_t or 0.0)
        return {"readings": readings, "belt_pulses": self.pulses, "seconds": round(elapsed, 4),
                "speed_mps": statistics.fmean(self.speeds) if self.speeds else None}


@dataclass
class _Action:
    """Something only the tick may do (the buzzer, the sim); the port waits for it."""
    carry_out: Callable[[], object]
    done: threading.Event = field(default_factory=threading.Event)
    answer: object = None
    error: str | None = None


class ServicePort:
    def __init__(self, path: Path, sensors, buzzer, board, treadmill=None, chips: dict | None = None,
                 forward_axis: str = "x"):
        self.path = path
        self.sensors = sensors
        self.buzzer = buzzer
        self.board = board
        self.treadmill = treadmill
        self.chips = chips or {}
        self.forward_axis = forward_axis
        self.busy = False  # the tick's one test: is there anything for it?
        self._measurement: Measurement | None = None
        self._actions: queue.SimpleQueue[_Action] = queue.SimpleQueue()
        self._busy_lock = threading.Lock()  # `busy` never cleared over a request just made (held for microseconds)
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- the sampling loop's side -------------------------------------------------------

    def on_tick(self, t: float, speed_mps: float | None) -> None:
        """Called by the tick while `busy`: carry out what waits, feed the measurement."""
        while True:
            try:
                action = self._actions.get_nowait()
            except queue.Empty:
                break
            try:
                action.answer = action.carry_out()
            except (ValueError, OSError) as exc:
                action.error = str(exc)
            action.done.set()
        measurement = self._measurement
        if measurement is not None and not measurement.done.is_set():
            measurement.feed(t, self.sensors, speed_mps)
        with self._busy_lock:
            measurement = self._measurement
            self.busy = (measurement is not None and not measurement.done.is_set()) or not self._actions.empty()

    # -- the port's thread ----------------------------------------------------------------

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # a socket left by a process that was killed: the folder's lock says we own it
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))  # connecting needs write permission: the umask leaves others none
        os.chmod(self.path, 0o660)  # owner and group (the service's) only
        listener.listen(4)
        listener.settimeout(0.5)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="service-port", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()
            self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._answer(conn)
                except OSError as exc:
                    log.info("maintenance client gone: %s", exc)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(REQUEST_TIMEOUT_S)
        line = conn.makefile("rb").readline(4096)
        conn.settimeout(None)

        def send(message: dict) -> None:
            conn.sendall(json.dumps(message).encode() + b"\n")

        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise BadRequest("a request is a JSON object")
            send({"result": self._carry_out(request, send)})
        except (json.JSONDecodeError, UnicodeDecodeError):
            send({"error": "a request is one line of JSON"})
        except BadRequest as exc:
            send({"error": str(exc)})

    def _carry_out(self, request: dict, send: Callable[[dict], None]) -> dict:
        op = request.get("op")
        if op == "status":
            return {"pid": os.getpid(), "sim": self.treadmill is not None, "chips": self.chips,
                    "belt_pulses": self.sensors.belt.pulses, "snapshot": self.board.read()}
        if op == "measure":
            return self._measure(_seconds(request, MAX_MEASURE_S), send)
        if op == "beep":
            seconds = _seconds(request, 1.0)
            return self._in_tick(lambda: self.buzzer.play(((seconds, 0.0),)) or {"played_s": seconds})
        if op == "sim":
            return self._in_tick(lambda: self._sim(request))
        raise BadRequest(f"unknown op {op!r}: status, measure, beep or sim")

    def _measure(self, seconds: float, send: Callable[[dict], None]) -> dict:
        measurement = Measurement(seconds, self.forward_axis)
        with self._busy_lock:
            self._measurement = measurement
            self.busy = True
        deadline = time.monotonic() + seconds + 5.0
        try:
            while not measurement.done.wait(PROGRESS_EVERY_S):
                if time.monotonic() > deadline:
                    raise BadRequest(f"the sampling loop did not run the {seconds:g} s measurement")
                send({"progress": round(measurement.fraction, 3)})
        finally:
            self._measurement = None
        return measurement.result()

    def _in_tick(self, carry_out: Callable[[], object]) -> dict:
        action = _Action(carry_out)
        with self._busy_lock:
            self._actions.put(action)
            self.busy = True
        if not action.done.wait(2.0):
            raise BadRequest("the sampling loop did not take the request within 2 s")
        if action.error is not None:
            raise BadRequest(action.error)
        return action.answer if isinstance(action.answer, dict) else {}

    def _sim(self, request: dict) -> dict:
        if self.treadmill is None:
            raise ValueError("sim controls need the virtual treadmill: this daemon drives real hardware")
        world = self.treadmill.world
        if "rails_n" in request:
            left, right = (float(v) for v in request["rails_n"])
            if not all(math.isfinite(v) and 0 <= v <= 2000 for v in (left, right)):
                raise ValueError("rails_n: two forces of 0..2000 N")
            world.override_rails_n = (left, right)
        elif "speed_kmh" in request:
            self.treadmill.control("speed_kmh", float(request["speed_kmh"]))
        elif "incline_pct" in request:
            if self.treadmill.console is None:
                raise ValueError("incline_pct: this virtual treadmill has no console")
            self.treadmill.control("incline_pct", float(request["incline_pct"]))
        elif request.get("resume"):
            self.treadmill.control("resume", 1.0)
        else:
            raise ValueError(f"sim: one of {', '.join(SIM_CONTROLS)}")
        state = world.state_at()
        console = self.treadmill.console
        return {"speed_mps": state.speed_mps, "incline_pct": console.position_pct() if console else state.incline_pct,
                "rails_n": [state.rail_left_n, state.rail_right_n]}


def _seconds(request: dict, limit: float) -> float:
    seconds = request.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= limit:
        raise BadRequest(f"seconds: a number of more than 0 and at most {limit:g}")
    return float(seconds)
