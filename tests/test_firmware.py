"""The firmware's logic tests, under CPython here and under real MicroPython (its WebAssembly
port in Node.js, installed by `make test` into .node/)."""

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = ROOT / ".node/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"
RUNNER = ROOT / "firmware/tests/micropython.mjs"
MODULES = ("firmware.tests.test_protocol_logic", "firmware.tests.test_controller")

CASES = [(module, name) for module in MODULES for name in sorted(dir(importlib.import_module(module)))
         if name.startswith("test_")]


@pytest.mark.parametrize("module,name", CASES, ids=[name for _, name in CASES])
def test_under_cpython(module, name):
    getattr(importlib.import_module(module), name)()


def micropython(*args, timeout=120):
    assert shutil.which("node"), "Node.js is needed for the MicroPython tests (make test installs it)"
    assert MICROPYTHON.exists(), f"{MICROPYTHON} missing: run `make test`, which installs it with npm"
    return subprocess.run(["node", str(RUNNER), str(MICROPYTHON), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_every_firmware_test_passes_under_micropython():
    result = micropython()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on micropython" in result.stdout
    assert f"{len(CASES)} tests, 0 failed" in result.stdout


def test_a_feature_micropython_lacks_fails_there(tmp_path):
    script = tmp_path / "uses_cpython_only.py"
    script.write_text("print('x'.removeprefix('x'))\n")
    result = micropython(script)
    assert result.returncode != 0
    assert "removeprefix" in result.stderr


def test_a_failing_firmware_test_fails_the_micropython_run(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text("import sys\nprint('FAIL on purpose')\nsys.exit(1)\n")
    assert micropython(script).returncode != 0
