"""The board: an RP2040 (e.g. a Raspberry Pi Pico) in the console. MicroPython only.

Pins (see ../hw/README.md):
    GP0 / GP1   UART0 TX / RX to the Pi (115200 8N1, 3.3 V)
    GP14        motor relay / driver input "up"   (high = drive)
    GP15        motor relay / driver input "down" (high = drive)
    GP26 (ADC0) position potentiometer wiper (ends on 3V3 and GND)
    GP10 / GP11 / GP12  console buttons up / down / stop, to GND (internal pull-ups)
"""

import machine

DEBOUNCE_MS = 30


class Board:
    def __init__(self):
        # Outputs off before anything else, so a reset (watchdog included) stops the motor.
        self.up = machine.Pin(14, machine.Pin.OUT, value=0)
        self.down = machine.Pin(15, machine.Pin.OUT, value=0)
        self.adc = machine.ADC(26)
        self.keys = (("up", machine.Pin(10, machine.Pin.IN, machine.Pin.PULL_UP)),
                     ("down", machine.Pin(11, machine.Pin.IN, machine.Pin.PULL_UP)),
                     ("stop", machine.Pin(12, machine.Pin.IN, machine.Pin.PULL_UP)))
        self.pressed = {}  # name -> time the press began, for debouncing
        self.uart = machine.UART(0, baudrate=115200, tx=machine.Pin(0), rx=machine.Pin(1), timeout=0)

    def drive(self, direction):
        # Never both on: switch the other side off first.
        if direction > 0:
            self.down.value(0)
            self.up.value(1)
        elif direction < 0:
            self.up.value(0)
            self.down.value(1)
        else:
            self.up.value(0)
            self.down.value(0)

    def position_raw(self):
        return self.adc.read_u16()

    def buttons(self):
        import time

        now = time.ticks_ms()
        presses = []
        for name, pin in self.keys:
            if pin.value() == 0:  # held down
                began = self.pressed.get(name)
                if began is None:
                    self.pressed[name] = now
                elif began >= 0 and time.ticks_diff(now, began) >= DEBOUNCE_MS:
                    presses.append(name)
                    self.pressed[name] = -1  # counted; wait for the release
            else:
                self.pressed.pop(name, None)
        return presses
