"""Runs the firmware's logic tests under whichever Python runs this file: CPython
(`python firmware/tests/run.py`) or MicroPython (tests/test_firmware.py drives both).
Prints one line per test and exits 1 if any failed."""

import sys

try:
    from firmware.tests import test_controller, test_protocol_logic
except ImportError:
    import test_controller
    import test_protocol_logic


def main():
    failed = 0
    count = 0
    for module in (test_protocol_logic, test_controller):
        for name in sorted(dir(module)):
            if not name.startswith("test_"):
                continue
            count += 1
            try:
                getattr(module, name)()
                print("ok " + name)
            except Exception as exc:  # report every failure, then fail the run
                failed += 1
                print("FAIL " + name + ": " + type(exc).__name__ + ": " + str(exc))
    print("%d tests, %d failed, on %s" % (count, failed, sys.implementation.name))
    if failed:
        sys.exit(1)


main()
