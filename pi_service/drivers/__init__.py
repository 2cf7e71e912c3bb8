"""Drivers for the real parts, each shaped like its datasheet.

They talk to hardware only through objects passed in: an smbus2-style bus for I2C and a
gpiozero pin factory for GPIO. On a Pi those are `smbus2.SMBus` and gpiozero's lgpio
factory; under `run --sim` they are the virtual treadmill's bus and MockFactory pins.
"""
