"""The console's incline-controller firmware (MicroPython). On the host it is imported as a
package so the Pi and the virtual treadmill run the same protocol and logic."""
