"""The piezo buzzer, through gpiozero's `Buzzer`, playing rhythm patterns off the sampling loop.

`play` only hands the pattern to the buzzer's own thread and returns at once, so the
sampling loop never waits for a beep. A new pattern replaces the one playing; `stop`
silences it. A pattern is a sequence of (on seconds, off seconds) pairs.
"""

from __future__ import annotations

import queue
import threading
from typing import Sequence

from gpiozero import Buzzer

Pattern = Sequence[tuple[float, float]]

_STOP = ()


class BuzzerDriver:
    def __init__(self, pin_factory, gpio: int, active_high: bool = True):
        self.device = Buzzer(gpio, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        self._patterns: queue.SimpleQueue = queue.SimpleQueue()
        self._interrupt = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="buzzer", daemon=True)
        self._thread.start()

    def play(self, pattern: Pattern) -> None:
        """Start `pattern` now, replacing whatever is playing. Never blocks."""
        self._patterns.put(tuple(pattern))
        self._interrupt.set()

    def stop(self) -> None:
        self.play(_STOP)

    @property
    def is_sounding(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._patterns.put(None)
        self._interrupt.set()
        self._thread.join(timeout=1)
        self.device.close()

    def _run(self) -> None:
        while True:
            pattern = self._patterns.get()
            self._interrupt.clear()
            # Only the newest pattern matters: skip any queued behind it.
            while not self._patterns.empty():
                pattern = self._patterns.get()
            if pattern is None:
                self.device.off()
                return
            for on_s, off_s in pattern:
                self.device.on()
                if self._interrupt.wait(on_s):
                    break
                self.device.off()
                if self._interrupt.wait(off_s):
                    break
            self.device.off()
