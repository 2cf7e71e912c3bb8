"""The systemd unit (verify, security score), the install script (shellcheck, dry run against a
scratch root, idempotence, uninstall) and sd_notify readiness and watchdog pings."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


from tests.conftest import ROOT
from tests.test_daemon import children, start, stop

UNIT = ROOT / "systemd/treadmill-companion.service"
INSTALL = ROOT / "systemd/install.sh"
ANALYZE = shutil.which("systemd-analyze")


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    assert ANALYZE, "systemd-analyze is needed (Debian's systemd package)"
    # The unit names the venv an install creates; verify it against this checkout's program.
    text = UNIT.read_text().replace("/opt/treadmill-companion/venv/bin/treadmill-companion",
                                    str(Path(sys.executable).parent / "treadmill-companion"))
    unit = tmp_path / "treadmill-companion.service"
    unit.write_text(text)
    done = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace("WatchdogSec=5", "WatchdogSecs=5"))
    assert "Unknown key" in subprocess.run([ANALYZE, "verify", str(broken)], capture_output=True, text=True).stderr


def test_the_unit_is_rated_2_5_or_lower_by_systemd_analyze_security():
    done = subprocess.run([ANALYZE, "security", "--offline=yes", str(UNIT)], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for treadmill-companion.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout[-500:] + done.stderr
    assert float(match.group(1)) <= 2.5, done.stdout


def test_the_unit_says_what_the_issue_asks():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StartLimitBurst=", "User=treadmill-companion",
                 "SupplementaryGroups=gpio i2c dialout", "ConfigurationDirectory=treadmill-companion",
                 "StateDirectory=treadmill-companion", "LimitRTPRIO=", "DevicePolicy=closed",
                 "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-i2c rw", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "--config /etc/treadmill-companion/config.toml"):
        assert line in text, line


def test_the_install_script_passes_shellcheck():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    done = subprocess.run([str(shellcheck), "-s", "sh", str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def install(root, *args):
    return subprocess.run(["sh", str(INSTALL), "--root", str(root), "--dry-run", *args], capture_output=True,
                          text=True, timeout=60)


def test_install_dry_run_against_a_scratch_root_is_idempotent_and_uninstalls(tmp_path):
    root = tmp_path / "root"
    first = install(root)
    assert first.returncode == 0, first.stderr
    config = root / "etc/treadmill-companion/config.toml"
    unit = root / "etc/systemd/system/treadmill-companion.service"
    assert config.read_text() == (ROOT / "pi_service/config/example.toml").read_text()
    assert unit.read_text() == UNIT.read_text()
    assert (root / "var/lib/treadmill-companion").is_dir()
    for planned in ("useradd --system", "--groups gpio,i2c,dialout treadmill-companion", "python3 -m venv",
                    "pip install --no-compile --upgrade", "[pi]", "compileall", "systemctl daemon-reload", "systemctl enable",
                    "systemctl restart", "pair --config /etc/treadmill-companion/config.toml"):
        assert planned in first.stdout, planned
    assert "http://" in first.stdout and ":8080/" in first.stdout
    # Plain Debian: the gpio group and the udev rules Raspberry Pi OS has are made here.
    rules = root / "etc/udev/rules.d/60-treadmill-companion.rules"
    gpio_group_missing = subprocess.run(["getent", "group", "gpio"], capture_output=True).returncode != 0
    assert 'KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' in rules.read_text()
    assert "udevadm trigger" in first.stdout
    if gpio_group_missing:
        assert "groupadd --system gpio" in first.stdout
    # Again, after the person edited the config: the config is kept, nothing else changes.
    config.write_text(config.read_text() + "\n# edited\n")
    second = install(root)
    assert second.returncode == 0 and "kept" in second.stdout and "unchanged" in second.stdout
    assert config.read_text().endswith("# edited\n")
    # Uninstall keeps the config and the state; --purge removes them.
    removed = install(root, "--uninstall")
    assert removed.returncode == 0 and not unit.exists() and config.exists() and not rules.exists()
    assert "systemctl disable --now treadmill-companion.service" in removed.stdout
    purged = install(root, "--uninstall", "--purge")
    assert purged.returncode == 0 and not config.exists() and "userdel treadmill-companion" in purged.stdout
    if gpio_group_missing:  # made by the install, so removed with it
        assert "groupdel gpio" in purged.stdout


def test_install_refuses_bad_options_and_a_missing_source(tmp_path):
    assert install(tmp_path, "--frobnicate").returncode == 2
    done = install(tmp_path, "--source", str(tmp_path))
    assert done.returncode == 2 and "not the project folder" in done.stderr


class NotifySocket:
    """A fake systemd: a datagram socket that collects what the daemon sends."""

    def __init__(self, folder: Path):
        self.path = str(folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                pass  # nothing in this 0.2 s: keep listening until the time is up

    def pings(self, since: float = 0.0) -> list[float]:
        return [t for t, m in self.messages if "WATCHDOG=1" in m.split("\n") and t >= since]


def test_readiness_and_watchdog_pings_that_stop_when_the_loop_stalls(tmp_path, monkeypatch):
    fake = NotifySocket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", fake.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # pings every 0.5 s
    process, port, ready_s = start()
    try:
        fake.collect(2.0)
        ready = [m for _, m in fake.messages if "READY=1" in m]
        assert ready and "STATUS=serving" in ready[0]
        assert len(fake.pings()) >= 3
        # Stall the sampling loop (the process stays, so the supervisor does not restart it).
        child = children(process.pid)[0]
        os.kill(child, signal.SIGSTOP)
        stalled = time.monotonic()
        fake.collect(2.5)
        late = fake.pings(since=stalled + 0.8)  # a ping already on its way may still arrive
        assert late == [], "the watchdog was pinged while the loop was stalled"
        assert any("STATUS=unhealthy" in m for _, m in fake.messages)
        os.kill(child, signal.SIGCONT)
        resumed = time.monotonic()
        fake.collect(2.0)
        assert fake.pings(since=resumed), "pings did not resume with the loop"
    finally:
        stop(process)
    fake.collect(0.3)
    assert any("STOPPING=1" in m for _, m in fake.messages)
