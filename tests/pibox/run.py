"""The Pi in a box: boot Debian 12's kernel and systemd under QEMU, install the companion
with `systemd/install.sh` and check it against the kernel's own GPIO and I2C simulations
and a real UART (see docs/install.md).

    .venv/bin/python tests/pibox/run.py      (or `make test-pi`)

The guest is the host's own Debian system, shared read-only over 9p under a tmpfs overlay,
so nothing is downloaded and the guest never changes the host. Its second UART (ttyS1) is
a pseudo-terminal on this side, served by the console firmware's own logic (SimConsole).
The guest writes its results to .pibox/guest/results.json and powers off; this side adds
the timings, writes test-artifacts/pi-in-a-box.json and prints `pi-in-a-box: N passed, M failed`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import build  # noqa: E402  (tests/pibox/build.py)

ARTIFACT = REPO / "test-artifacts" / "pi-in-a-box.json"
RESULTS = build.GUEST / "results.json"
CONSOLE_LOG = build.BOX / "console.log"
UNIT_OVERRIDE = build.GUEST / "unit-override.service"
# Under TCG (no KVM here) the guest runs ~15x slower than the host: boot ~40 s, the
# install ~60 s, the checks ~60 s. The deadline only ends a guest that hangs.
DEADLINE_S = 900


def qemu_command(parts: dict, firmware_tty: str, cpus: int) -> list[str]:
    shares = [("hostusr", "/usr", True), ("hostetc", "/etc", True), ("hostvar", "/var", True),
              ("hostopt", "/opt", True), ("src", str(REPO), True), ("box", str(build.GUEST), False)]
    command = [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg" + (",thread=multi" if cpus > 1 else ""),
        "-cpu", "max", "-smp", str(cpus), "-m", "1536",
        "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
        "-kernel", str(parts["vmlinuz"]), "-initrd", str(parts["initramfs"]),
        "-append", "console=ttyS0 panic=-1 systemd.unit=pibox.target " + os.environ.get(
            "PIBOX_APPEND", "quiet systemd.show_status=0 systemd.log_level=warning"),
        "-serial", f"file:{CONSOLE_LOG}",
        "-chardev", f"serial,id=firmware,path={firmware_tty}", "-serial", "chardev:firmware",
    ]
    for tag, path, readonly in shares:
        command += ["-fsdev", f"local,id={tag},path={path},security_model=none" + (",readonly=on" if readonly else ""),
                    "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpus", type=int, default=2, help="guest CPUs (TCG runs one host thread per CPU)")
    parser.add_argument("--unit", type=Path, help="install this unit file instead of the project's "
                        "(to see what the checks catch in another unit)")
    args = parser.parse_args(argv)

    from pi_service.sim.console import SimConsole

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        parts = build.build()
    except build.BuildError as exc:
        print(f"pi-in-a-box: {exc}", file=sys.stderr)
        return 2
    timings["build_s"] = round(time.monotonic() - t0, 1)
    RESULTS.unlink(missing_ok=True)
    CONSOLE_LOG.unlink(missing_ok=True)
    UNIT_OVERRIDE.unlink(missing_ok=True)
    if args.unit:
        UNIT_OVERRIDE.write_bytes(args.unit.read_bytes())

    console = SimConsole()
    console.start()
    tty = os.path.realpath(console.path)
    t_boot = time.monotonic()
    # QEMU shares the host's /etc (shadow, gshadow: useradd in the guest reads them) and reads
    # /boot/vmlinuz-* (0600): as root, like apt here, with sudo when this is not root.
    command = qemu_command(parts, tty, args.cpus)
    if os.geteuid() != 0:
        command = ["sudo", "--preserve-env=PATH", *command]
    qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        try:
            qemu_output, _ = qemu.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu_output, _ = qemu.communicate()
            qemu_output += f"\n(the guest did not power off within {DEADLINE_S} s)"
    finally:
        console.stop()
    timings["guest_s"] = round(time.monotonic() - t_boot, 1)

    if RESULTS.exists():
        report = json.loads(RESULTS.read_text())
    else:
        tail = CONSOLE_LOG.read_text(errors="replace").splitlines()[-30:] if CONSOLE_LOG.exists() else []
        report = {"kernel": parts["kernel"], "systemd": None,
                  "checks": [{"name": "guest", "ok": False,
                              "detail": "no results from the guest; qemu: " + qemu_output.strip()[-500:]
                              + " | console: " + " | ".join(tail)}]}
    report["timings"] = {**timings, **report.get("timings", {})}
    if args.unit:
        report["unit"] = str(args.unit)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
    passed = sum(1 for check in report["checks"] if check["ok"])
    failed = len(report["checks"]) - passed
    for check in report["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    print(f"  timings: {json.dumps(report['timings'])}")
    print(f"pi-in-a-box: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
