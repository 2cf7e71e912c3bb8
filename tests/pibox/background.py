"""The Pi in a box run from the suite (tests/test_pi_in_a_box.py), and ended at the session's
end if a run is cut short (tests/conftest.py). Started in the background beside the rest of
the suite (one guest CPU), it saved minutes but its load made the console soak, the live
footstrike run and the guest's own buzzer and doctor checks flaky: for now it runs alone."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "test-artifacts" / "pi-in-a-box.json"

_box: tuple[subprocess.Popen, object] | None = None


def start(cpus: int = 2) -> None:
    """Start tests/pibox/run.py in the background, once; its output goes to a temporary file."""
    global _box
    if _box is not None:
        return
    ARTIFACT.unlink(missing_ok=True)  # never a previous run's results
    output = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, str(REPO / "tests/pibox/run.py"), "--cpus", str(cpus)],
                               stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    _box = process, output


def wait(timeout_s: float) -> tuple[int, str]:
    """The box's exit code and output, starting it now if the suite did not."""
    if _box is None:
        start()
    process, output = _box
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    output.seek(0)
    return code, output.read()


def stop() -> None:
    """At the end of the session: a box still running (the run was cut short) is ended."""
    if _box is not None and _box[0].poll() is None:
        _box[0].kill()
        _box[0].wait()
