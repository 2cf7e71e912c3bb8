"""Opening the hardware the sampling process reads: a Pi's I2C buses and GPIO pins
(gpiozero's LGPIOFactory), or the virtual treadmill's; and, when the pins cannot be had,
a hint that says what failed."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import TYPE_CHECKING

from pi_service.config import Config
from pi_service.errors import HardwareError

if TYPE_CHECKING:
    from pi_service.sampling.run import SamplerOptions

log = logging.getLogger(__name__)


def lgpio_folder() -> str:
    """lgpio makes its notification pipe in the working directory and opens it by a relative
    name, so that directory must be writable: under the unit it is the runtime folder; for
    `sudo -u treadmill-companion ... doctor` run from a clone it is not, and this process
    moves to a private temporary folder first (a relative path given to it would have named
    a place in a folder this user cannot write to anyway)."""
    if os.access(".", os.W_OK | os.X_OK):
        return os.getcwd()
    folder = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if not folder or not os.access(folder, os.W_OK | os.X_OK):
        folder = tempfile.mkdtemp(prefix="treadmill-companion-lgpio-")
    log.info("working directory %s is not writable for lgpio's pipe: using %s", os.getcwd(), folder)
    os.chdir(folder)
    return folder


def gpio_failure(exc: BaseException) -> str:
    """What failed when the pin factory could not start, and what to do about it."""
    text = str(exc) or type(exc).__name__
    filename = getattr(exc, "filename", None) or ""
    if isinstance(exc, ImportError):
        return f"{text} (install the 'pi' extra: pip install '.[pi]'; without a Pi use --sim)"
    if ".lgd-nfy" in str(filename) or ".lgd-nfy" in text:
        return (f"lgpio could not make its notification pipe in the working directory {os.getcwd()} "
                f"({getattr(exc, 'strerror', None) or text}): start it from a writable folder "
                "(the unit's WorkingDirectory=)")
    if (type(exc).__name__ in ("PinUnknownPi", "BadPinFactory") or str(filename).startswith("/proc/")
            or "revision" in text.lower()):
        return (f"gpiozero could not tell which Raspberry Pi this is ({text}); it reads "
                "/proc/device-tree/system/linux,revision or /proc/cpuinfo, which must be readable "
                "(under systemd: no ProcSubset=pid)")
    if "gpiochip" in text.lower() or isinstance(exc, PermissionError):
        return f"{text} (is /dev/gpiochip* there, and is this user in the gpio group?)"
    return f"{type(exc).__name__}: {text}"


def open_hardware(config: Config, options: SamplerOptions):
    """(open_bus, pin_factory, treadmill): a Pi's buses and pins, or the virtual treadmill's."""
    if options.sim:
        from pi_service.sim.scenario import load_scenario
        from pi_service.sim.treadmill import VirtualTreadmill

        scenario = load_scenario(options.scenario or config.sim.scenario)
        treadmill = VirtualTreadmill(config, scenario, speedup=options.speedup)
        return treadmill.open_bus, treadmill.pin_factory, treadmill
    lgpio_folder()
    try:
        from gpiozero.pins.lgpio import LGPIOFactory

        pin_factory = LGPIOFactory()
    except Exception as exc:  # noqa: BLE001 - lgpio and gpiozero raise several kinds; each is told apart below
        raise HardwareError(f"no GPIO: {gpio_failure(exc)}") from None
    from pi_service.drivers.i2c import open_bus

    return open_bus, pin_factory, None
