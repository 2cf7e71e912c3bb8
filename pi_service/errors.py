"""The project's one exception root and its narrow subclasses.

Every error a person can cause or fix (a bad config, a miswired sensor) is a
CompanionError whose message is one line that says what is wrong and where; the CLI
prints it without a traceback and exits 2.
"""


class CompanionError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(CompanionError):
    """A config or scenario file is unreadable or holds a bad value."""


class HardwareError(CompanionError):
    """A device is missing, miswired or answering wrongly."""


class BusFault(HardwareError):
    """An I2C transfer failed (NACK, timeout, EIO) even after its retry."""

    def __init__(self, device: str, reason: str, timeout: bool = False):
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason
        self.timeout = timeout  # the bus itself hung: other devices on it will hang too


class WiringError(HardwareError):
    """A device answered, but not as the part we expect: check the wiring."""


class ConversionTimeout(HardwareError):
    """An ADC conversion did not complete before its deadline."""
