"""The virtual treadmill: hardware models that sit *below* the real drivers.

Register-level I2C device models behind an smbus2-style bus, gpiozero MockFactory pins
driven by a simulated roller, and a walker that follows a scenario. The drivers above
run unchanged, as they would on a Pi.
"""
