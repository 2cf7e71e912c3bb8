"""What the Pi in a box boots, built from Debian's packages and cached under `.pibox/`.

- the guest kernel: Debian 12's own (`linux-image-amd64`), the base of Raspberry Pi OS;
- kernel modules Debian does not ship, built from Debian's `linux-source` for exactly that
  kernel: `gpio-sim` (with its `irq_sim` helper), `i2c-stub` taught one thing (a 16-bit
  register chip such as the ADS1115, see `_patch_i2c_stub`) and `pibox_dt` (a
  /proc/device-tree naming a Raspberry Pi; test scaffolding, see modules/pibox_dt.c);
- a wheelhouse, so the guest's `install.sh` runs pip as on a Pi, with no network;
- a tiny initramfs: busybox, the virtio and 9p modules and `init.sh`.

Each part is rebuilt only when its inputs change (a hash in a stamp file).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOX = REPO / ".pibox"  # ignored by git; survives between runs
GUEST = BOX / "guest"  # shared with the guest read-write as /pibox/box

# command or file -> the Debian package that provides it
PACKAGES = {
    "/usr/bin/qemu-system-x86_64": "qemu-system-x86",
    "/usr/bin/busybox": "busybox-static",
    "/usr/src/linux-source-6.1.tar.xz": "linux-source-6.1",
    "/usr/bin/systemd-analyze": "systemd",
    "/usr/lib/python3.11/ensurepip/__init__.py": "python3-venv",  # install.sh's venv on Debian's python3
    "/usr/sbin/i2cset": "i2c-tools",  # what a Pi user pokes the bus with; the checks use it too
    "/usr/sbin/ip": "iproute2",
    "/usr/bin/xz": "xz-utils",
}
# Loaded by the initramfs, in dependency order, to reach the 9p shares and build the overlay.
INITRAMFS_MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
                     "netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay"]


class BuildError(Exception):
    """A step of the build failed; the message says which and why."""


def log(message: str) -> None:
    print(f"pi-in-a-box: {message}", flush=True)


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        raise BuildError(f"{' '.join(command)} failed ({result.returncode}): " + " | ".join(detail))
    return result.stdout


def _digest(*parts: bytes | str | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:16]


def _fresh(stamp: Path, digest: str) -> bool:
    return stamp.exists() and stamp.read_text() == digest


def ensure_packages() -> None:
    """Debian's packages the box needs, installed when missing (as `make test` does for chromium)."""
    missing = sorted({package for path, package in PACKAGES.items() if not os.path.exists(path)})
    kernels = glob.glob("/boot/vmlinuz-*-amd64")
    if not kernels:
        missing += ["linux-image-amd64", "linux-headers-amd64"]
    elif not any(os.path.isdir(f"/lib/modules/{k.split('vmlinuz-')[1]}/build") for k in kernels):
        missing.append("linux-headers-amd64")
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log(f"installing {' '.join(missing)} (once)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                                    "--no-install-recommends", *missing], env=env)
    if result.returncode != 0:
        raise BuildError(f"apt-get install {' '.join(missing)} failed")


def pick_kernel() -> tuple[str, Path]:
    """(version, vmlinuz) of the newest Debian kernel whose headers and source are installed."""
    source_version = _package_version("linux-source-6.1")
    candidates = []
    for vmlinuz in glob.glob("/boot/vmlinuz-*-amd64"):
        kver = vmlinuz.split("vmlinuz-", 1)[1]
        if not os.path.isdir(f"/lib/modules/{kver}/build"):
            continue
        if _package_version(f"linux-image-{kver}") != source_version:
            continue
        candidates.append((kver, Path(vmlinuz)))
    if not candidates:
        raise BuildError(f"no kernel in /boot matches linux-source-6.1 {source_version} with its headers "
                         "(apt-get install linux-image-amd64 linux-headers-amd64 linux-source-6.1)")
    return max(candidates, key=lambda c: [int(n) if n.isdigit() else 0 for n in re.split(r"[.-]", c[0])])


def _package_version(package: str) -> str | None:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


KERNEL_SOURCES = ["drivers/gpio/gpio-sim.c", "drivers/gpio/gpiolib.h", "kernel/irq/irq_sim.c",
                  "drivers/i2c/i2c-stub.c"]


def _patch_irq_sim(text: str) -> str:
    # irq_sim is built into kernels that select it; Debian's does not, so it is linked into
    # gpio-sim here, where irq_to_desc() (not exported to modules) is not available.
    old = "handle_simple_irq(irq_to_desc(irqnum));"
    if old not in text:
        raise BuildError("irq_sim.c: the line to adapt for a module build is not there")
    return text.replace(old, "generic_handle_irq(irqnum);")


def _patch_i2c_stub(text: str) -> str:
    """Teach i2c-stub a pointer-register chip with 16-bit registers (the ADS1115).

    The stub keeps one byte per register for I2C block transfers, so a 2-byte read of the
    ADS1115's conversion register (pointer 0) would return the config register's first
    byte (pointer 1) as its second. For an address in `word_chip=`, a 2-byte I2C block
    transfer is the whole 16-bit register, most significant byte first, as on the chip.
    SMBus word transfers keep the stub's own meaning (the value as stored).
    """
    param_anchor = "module_param_array(chip_addr, ushort, NULL, S_IRUGO);"
    case_anchor = "\t\tlen = data->block[0];\n\t\tif (read_write == I2C_SMBUS_WRITE) {\n\t\t\tfor (i = 0; i < len; i++) {\n\t\t\t\tchip->words[command + i] &= 0xff00;"
    search_anchor = "\tif (!chip)\n\t\treturn -ENODEV;\n"
    for anchor in (param_anchor, case_anchor, search_anchor):
        if text.count(anchor) != 1:
            raise BuildError("i2c-stub.c: a line the word-register patch needs is not there once")
    text = text.replace(param_anchor, param_anchor + """
static unsigned short word_chip[MAX_CHIPS];
module_param_array(word_chip, ushort, NULL, S_IRUGO);
MODULE_PARM_DESC(word_chip, "Chip addresses with 16-bit registers, MSB first (ADS1115)");""")
    text = text.replace(search_anchor, search_anchor + """
	for (i = 0; i < MAX_CHIPS && word_chip[i]; i++) {
		if (addr == word_chip[i] && size == I2C_SMBUS_I2C_BLOCK_DATA && data->block[0] == 2) {
			if (read_write == I2C_SMBUS_WRITE) {
				chip->words[command] = (data->block[1] << 8) | data->block[2];
			} else {
				data->block[1] = chip->words[command] >> 8;
				data->block[2] = chip->words[command] & 0xff;
			}
			return 0;
		}
	}
""")
    return text


KBUILD = """obj-m := gpio-sim.o i2c-stub.o pibox_dt.o
gpio-sim-y := gpio-sim-main.o irq_sim.o
"""


def build_modules(kver: str) -> Path:
    out = GUEST / "modules"
    own = HERE / "modules" / "pibox_dt.c"
    digest = _digest(kver, Path(__file__), own, _package_version("linux-source-6.1") or "")
    stamp = out / ".stamp"
    if _fresh(stamp, digest):
        return out
    log(f"building gpio-sim, i2c-stub (word registers) and pibox_dt for {kver}")
    work = BOX / "kbuild"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    members = [f"linux-source-6.1/{name}" for name in KERNEL_SOURCES]
    run("tar", "-xJf", "/usr/src/linux-source-6.1.tar.xz", "-C", str(work), *members)
    src = work / "linux-source-6.1"
    (work / "gpio-sim-main.c").write_text((src / "drivers/gpio/gpio-sim.c").read_text())
    shutil.copy(src / "drivers/gpio/gpiolib.h", work / "gpiolib.h")
    (work / "gpio-sim-main.c").write_text((work / "gpio-sim-main.c").read_text().replace('"../gpiolib.h"', '"gpiolib.h"'))
    (work / "irq_sim.c").write_text(_patch_irq_sim((src / "kernel/irq/irq_sim.c").read_text()))
    (work / "i2c-stub.c").write_text(_patch_i2c_stub((src / "drivers/i2c/i2c-stub.c").read_text()))
    shutil.copy(own, work / "pibox_dt.c")
    (work / "Kbuild").write_text(KBUILD)
    run("make", "-C", f"/lib/modules/{kver}/build", f"M={work}", "modules")
    out.mkdir(parents=True, exist_ok=True)
    for module in ("gpio-sim.ko", "i2c-stub.ko", "pibox_dt.ko"):
        shutil.copy(work / module, out / module)
    stamp.write_text(digest)
    return out


def build_wheels() -> Path:
    """Every wheel `pip install .[pi]` needs, so install.sh's pip works without a network."""
    out = GUEST / "wheels"
    pyproject = REPO / "pyproject.toml"
    digest = _digest(pyproject)
    stamp = out / ".stamp"
    if _fresh(stamp, digest):
        return out
    log("collecting the wheels install.sh's pip will ask for")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # setuptools: pip's isolated build of the project; pip: a venv's own copy, should one ask.
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out), f"{REPO}[pi]",
        "setuptools>=77", "pip")
    for own in out.glob("pi_service-*.whl"):
        own.unlink()  # the guest builds the project from its source, as a user's pip does
    stamp.write_text(digest)
    return out


def build_initramfs(kver: str) -> Path:
    out = BOX / f"initramfs-{kver}.cpio.gz"
    init = HERE / "init.sh"
    modules = {name: Path(_module_file(kver, name)) for name in INITRAMFS_MODULES}
    digest = _digest(kver, init, Path("/usr/bin/busybox"), *modules.values())
    stamp = BOX / f"initramfs-{kver}.stamp"
    if out.exists() and _fresh(stamp, digest):
        return out
    log("packing the initramfs")
    files = {"init": (init.read_bytes(), 0o755), "bin/busybox": (Path("/usr/bin/busybox").read_bytes(), 0o755),
             "modules.order": ("\n".join(INITRAMFS_MODULES).encode() + b"\n", 0o644)}
    for name, path in modules.items():
        files[f"mods/{name}.ko"] = (path.read_bytes(), 0o644)
    out.write_bytes(gzip.compress(_cpio(files, dirs=["bin", "mods", "proc", "sys", "dev", "newroot"]), 6))
    stamp.write_text(digest)
    return out


def _module_file(kver: str, name: str) -> str:
    path = run("modinfo", "-k", kver, "-F", "filename", name).strip()
    if not path.endswith(".ko"):
        raise BuildError(f"module {name} for {kver} is {path!r}: the initramfs's busybox insmod needs a plain .ko")
    return path


def _cpio(files: dict[str, tuple[bytes, int]], dirs: list[str]) -> bytes:
    """A newc cpio archive (what the kernel unpacks as an initramfs)."""
    out = io.BytesIO()
    ino = 1

    def entry(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.write(header + name.encode() + b"\0")
        out.write(b"\0" * (-(110 + len(name) + 1) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
        ino += 1

    for d in dirs:
        entry(d, 0o040755, b"")
    for name, (data, mode) in sorted(files.items()):
        entry(name, 0o100000 | mode, data)
    entry("TRAILER!!!", 0, b"")
    return out.getvalue()


def build() -> dict:
    """Everything the run needs: {kernel, vmlinuz, initramfs, modules, wheels}."""
    ensure_packages()
    kver, vmlinuz = pick_kernel()
    GUEST.mkdir(parents=True, exist_ok=True)
    return {"kernel": kver, "vmlinuz": vmlinuz, "initramfs": build_initramfs(kver),
            "modules": build_modules(kver), "wheels": build_wheels()}


if __name__ == "__main__":
    try:
        print(build())
    except BuildError as exc:
        sys.exit(f"pi-in-a-box: {exc}")
