"""Treadmill Companion: the Raspberry Pi daemon, its drivers, the virtual treadmill, the web app and the CLI."""

__version__ = "0.1.0"
