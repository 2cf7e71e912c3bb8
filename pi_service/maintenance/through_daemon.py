"""`calibrate` and `doctor` while the daemon runs: one owner of the hardware.

`open_rig` looks in the state folder: when a daemon holds it, the rig is a `DaemonRig`
that asks the daemon's sampling process (`sampling/service_port.py`) for averaged raw
readings instead of opening the bus and pins under it; when none does, it is the `Rig`
that opens them itself. A daemon that holds the folder but does not answer is an error,
never a reason to open the bus anyway.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from pi_service.config import Config
from pi_service.errors import CompanionError
from pi_service.maintenance.calibrate import SETTLE_S, Progress, Reading, Rig, _quiet, rails_at
from pi_service.storage.state_folder import running_daemon, socket_path
from pi_service.units import mps_to_kmh

CONNECT_TIMEOUT_S = 2.0


class DaemonUnreachable(CompanionError):
    """A daemon holds the state folder but does not answer on its socket."""


class DaemonClient:
    def __init__(self, path: Path, pid: int):
        self.path = path
        self.pid = pid

    def ask(self, request: dict, progress=None, timeout_s: float = 5.0) -> dict:
        """Send one request; progress lines go to `progress(fraction)`; the result, or CompanionError."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                raise DaemonUnreachable(
                    f"the daemon (PID {self.pid}) owns the hardware but does not answer on {self.path} "
                    f"({exc.strerror or exc}): wait for it to finish starting, or stop it "
                    f"(systemctl stop treadmill-companion) and run this again") from None
            sock.settimeout(timeout_s)
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as answers:
                for line in answers:
                    message = json.loads(line)
                    if "progress" in message:
                        if progress is not None:
                            progress(message["progress"])
                        continue
                    if "error" in message:
                        raise CompanionError(f"the daemon (PID {self.pid}): {message['error']}")
                    return message["result"]
        except TimeoutError:
            raise CompanionError(f"the daemon (PID {self.pid}) did not answer within {timeout_s:g} s") from None
        finally:
            sock.close()
        raise CompanionError(f"the daemon (PID {self.pid}) closed the connection without an answer")


class DaemonRig:
    """The Rig's interface, carried out by the running daemon."""

    through_daemon = True

    def __init__(self, config: Config, client: DaemonClient):
        self.config = config
        self.client = client
        status = self.status()
        self.sim = bool(status["sim"])
        self.chips = status["chips"]
        self.treadmill = None
        if self.sim:
            self._sim({"speed_kmh": 0.0})  # a person steps off and stops the belt before calibrating
            self._wait(lambda answer: answer["speed_mps"] == 0.0, {"speed_kmh": 0.0}, 90)

    @property
    def pid(self) -> int:
        return self.client.pid

    def status(self) -> dict:
        return self.client.ask({"op": "status"})

    def snapshot(self) -> dict:
        snapshot = self.status().get("snapshot")
        if snapshot is None:
            raise CompanionError(f"the daemon (PID {self.pid}) has published no snapshot yet")
        return snapshot

    def measure(self, quantity: str, seconds: float, what: str, progress: Progress = _quiet) -> Reading:
        answer = self.client.ask({"op": "measure", "seconds": seconds},
                                 lambda fraction: progress(what, fraction), timeout_s=seconds + 10)
        progress(what, 1.0)
        reading = answer["readings"][quantity]
        if reading["count"] < 3:
            faults = [f"{f['device']}: {f['reason']}" for f in self.snapshot().get("faults", [])]
            raise CompanionError(f"the daemon read no {quantity} in {seconds:g} s"
                                 + (f" ({'; '.join(faults)})" if faults else ""))
        return Reading(reading["mean"], reading["stdev"], reading["count"])

    def measure_all(self, seconds: float) -> dict:
        return self.client.ask({"op": "measure", "seconds": seconds}, timeout_s=seconds + 10)

    def probe_rails(self) -> None:
        self._no_fault(self.chips["rails"])

    def pitch_deg(self) -> float:
        self._no_fault(self.chips["incline"])
        return self.measure("pitch_deg", 0.2, "deck pitch").mean

    def _no_fault(self, device: str) -> None:
        for fault in self.snapshot().get("faults", []):
            if fault["device"] == device:
                raise CompanionError(f"{device} (the daemon's reading): {fault['reason']}")

    def pulses(self) -> int:
        return int(self.status()["belt_pulses"])

    def speed_mps(self) -> float:
        return self.snapshot().get("speed_mps") or 0.0

    def beep(self, seconds: float) -> None:
        self.client.ask({"op": "beep", "seconds": seconds})

    # The person's part: the virtual treadmill's when the daemon runs one.
    def load_rails(self, left_n: float, right_n: float) -> None:
        if self.sim:  # the hands (or weight) on the rails, as the tick sees them, then the sensor's settling
            target = [left_n, right_n]
            self._wait(lambda answer: rails_at(answer["rails_n"], target), {"rails_n": target}, 10)
            time.sleep(SETTLE_S / 2)

    def run_belt(self, kmh: float) -> None:
        if self.sim:
            self._wait(lambda answer: abs(mps_to_kmh(answer["speed_mps"]) - kmh) <= 0.01, {"speed_kmh": kmh}, 60)
            time.sleep(SETTLE_S)

    def tilt(self, pct: float) -> None:
        if self.sim:
            self._wait(lambda answer: abs(answer["incline_pct"] - pct) <= 0.2, {"incline_pct": pct}, 40)
            time.sleep(SETTLE_S)

    def close(self) -> None:
        if self.sim:
            self._sim({"resume": True})  # the scenario walks on

    def _sim(self, control: dict) -> dict:
        return self.client.ask({"op": "sim", **control})

    def _wait(self, arrived, control: dict, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not arrived(self._sim(control)) and time.monotonic() < deadline:
            time.sleep(0.1)


def open_rig(config: Config, folder: Path, sim: bool = False, notice=None):
    """The daemon's rig when one runs on `folder`, else one that opens the hardware (or the sim) itself;
    `notice(text)` is told which, when it is the daemon."""
    pid = running_daemon(folder)
    if pid is None:
        return Rig(config, sim=sim)
    if notice is not None:
        notice(f"Measuring through the running daemon (PID {pid}), which owns the hardware"
               + (" (its virtual treadmill's belt is stopped first)." if sim else "."))
    return DaemonRig(config, DaemonClient(socket_path(folder), pid))
