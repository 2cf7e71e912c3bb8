"""The Pi in a box (tests/pibox/, docs/install.md): Debian 12's kernel and systemd under
QEMU, the README's install steps, and the installed unit checked against gpio-sim,
i2c-stub and a real UART. One boot for every check; each check is its own test here, so
a failure names what failed and why (the detail comes from the guest)."""

import json
from pathlib import Path

import pytest

from tests.pibox import background

ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "test-artifacts" / "pi-in-a-box.json"
CHECKS = ["install", "unit-ready", "console-uart", "i2c-rails", "i2c-incline", "belt-speed-lgpio", "buzzer-gpio",
          "sched-fifo", "memlock", "security-exposure", "host-allowlist-follows-address", "ttyacm-allowed",
          "watchdog-restart", "calibrate-through-daemon", "uninstall"]


@pytest.fixture(scope="module")
def box():
    # The first run also installs QEMU, Debian's kernel and its source and builds the modules
    # (about 3 minutes); later runs reuse .pibox/. The guest itself takes about 5 minutes under TCG.
    code, output = background.wait(timeout_s=1500)
    print(output[-6000:])
    assert code in (0, 1) and ARTIFACT.exists(), output[-4000:]
    report = json.loads(ARTIFACT.read_text())
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return report, last


@pytest.mark.timeout(1500)
def test_the_box_reports_the_kernel_systemd_and_every_check(box):
    report, last = box
    assert report["kernel"].endswith("-amd64") and report["systemd"].startswith("systemd 252"), report
    assert [c["name"] for c in report["checks"]] == CHECKS, [c["name"] for c in report["checks"]]
    passed = sum(c["ok"] for c in report["checks"])
    assert last == f"pi-in-a-box: {passed} passed, {len(CHECKS) - passed} failed"


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", CHECKS)
def test_pi_in_a_box(box, name):
    report, _ = box
    (check,) = [c for c in report["checks"] if c["name"] == name] or [{"ok": False, "detail": "not reported"}]
    assert check["ok"], check["detail"]
