"""The piezo buzzer, through gpiozero's `Buzzer`, playing rhythm patterns off the sampling loop.

`play` only hands the pattern to the buzzer's own thread and returns at once, so the
sampling loop never waits for a beep. A new pattern replaces the one playing; `stop`
silences it. A pattern is a sequence of (on seconds, off seconds) pairs.
"""

from __future__ import annotations

import threading
from typing import Sequence

from gpiozero import Buzzer

Pattern = Sequence[tuple[float, float]]


class BuzzerDriver:
    def __init__(self, pin_factory, gpio: int, active_high: bool = True):
        self.device = Buzzer(gpio, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        # The newest request, handed over under a lock: the thread takes it and clears the
        # signal in one step, so a request made after that always interrupts what plays.
        self._lock = threading.Lock()
        self._request: tuple | None = None
        self._signal = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="buzzer", daemon=True)
        self._thread.start()

    def play(self, pattern: Pattern) -> None:
        """Start `pattern` now, replacing whatever is playing. Never blocks for long."""
        with self._lock:
            self._request = tuple(pattern)
            self._signal.set()

    def stop(self) -> None:
        self.play(())

    @property
    def is_sounding(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._request = None
            self._signal.set()
        self._thread.join(timeout=1)
        self.device.close()

    def _run(self) -> None:
        while True:
            self._signal.wait()
            with self._lock:
                pattern, self._request = self._request, ()
                self._signal.clear()
            if pattern is None:  # closing
                self.device.off()
                return
            replaced = False
            for on_s, off_s in pattern:
                self.device.on()
                if self._signal.wait(on_s):
                    replaced = True
                    break
                self.device.off()
                if self._signal.wait(off_s):
                    replaced = True
                    break
            if not replaced:
                self.device.off()
            # Replaced: the next request decides the pin, so a tone replaced by a tone (a second
            # channel's sensor_fault a tick later) sounds on without a gap; a stop switches it off.
