"""A tick's I2C transfers on one bus, in a thread of their own, waited for up to a deadline:
where the kernel's 10 ms adapter timeout is more than two periods, a stuck transfer costs
the tick its deadline instead.

Linux bounds a transfer by the adapter timeout (`drivers/i2c.py`, `open_bus`), whose unit is
10 ms: at 200 Hz (5 ms period) one stuck transfer alone is two periods. Where that bound is
not enough (`needs_deadline`), `sampling/sensors.py` hands each bus's work for the tick, one
job per device, to that bus's `BusWorker` and waits at most `bus_deadline_s`. Past it, the
device whose job is under way is given up on exactly as the kernel's timeout would
(`I2CDevice.abandon`: a BusFault "bus timeout", counted once), the devices after it on that
bus are not tried (the bus hangs), and until the stuck transfer comes back the bus is busy:
later ticks queue nothing on it and are told so at once. Where the kernel's bound is enough,
`run_inline` runs the same jobs in the loop's thread, with the same outcomes.

The worker's thread starts with its first job, in the loop's thread, so it inherits the
loop's SCHED_FIFO priority (`sampling/run.py` lifts the loop before the first tick): it does
the loop's own work while the loop waits for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.drivers.i2c import ADAPTER_TIMEOUT_S, I2CDevice
from pi_service.errors import BusFault, HardwareError
from pi_service.sampling.bus_budget import tick_bus_budget

# How long a tick waits for its transfers, in periods. The read is the tick's first step
# (after the page's commands and a calibration check, microseconds), so half a period is
# left for the rest (rules, actions, record, publish): 2.5 ms at 200 Hz, against about
# 1 ms at p99 measured (docs/sampling-loop.md, "What one tick costs"). A healthy tick's
# transfers take under one period (the config's bus budget), so the deadline cuts one only
# when the machine keeps the bus thread from a CPU for that long.
DEADLINE_PERIODS = 1.5


def bus_deadline_s(rate_hz: float) -> float:
    """How long a tick at `rate_hz` waits for its bus work before giving it up."""
    return DEADLINE_PERIODS / rate_hz


def needs_deadline(rate_hz: float, rails_data_rate_sps: int, bus_hz: float, fifo_chip: str | None = None) -> bool:
    """Whether a transfer stuck for the kernel's whole adapter timeout, after a healthy tick's
    other transfers, would run past the deadline: then the tick needs the worker's deadline
    (200 Hz: 10 + 2.4 ms > 7.5 ms); if not, the kernel's bound is tighter and the hand-off to
    a thread would cost every tick something for nothing (100 Hz: 12.4 ms < 15 ms). With
    footstrikes streaming (`fifo_chip`), the FIFO drain is among the healthy transfers: at
    100 Hz and 100 kHz its 6.8 ms and a timeout pass the 15 ms deadline."""
    healthy_s = tick_bus_budget(rate_hz, rails_data_rate_sps, bus_hz, fifo_chip=fifo_chip).bus_s
    return ADAPTER_TIMEOUT_S + healthy_s > bus_deadline_s(rate_hz)


class BusHung(HardwareError):
    """A device was not tried this tick: its bus hung on another device, or is still busy
    with a transfer stuck in the kernel."""


@dataclass(frozen=True, slots=True)
class BusJob:
    """One device's transfers for a tick: `run` returns its readings or raises."""

    device: I2CDevice
    run: Callable[[], object]


def _hangs_the_bus(outcome: object) -> bool:
    return isinstance(outcome, BusFault) and outcome.timeout


def run_inline(number: int, jobs: list[BusJob]) -> list[object]:
    """Each job's outcome (what it returned, or the HardwareError or OSError it raised), in the
    caller's thread; after a timeout the rest are not tried: the bus hangs."""
    outcomes: list[object] = []
    for job in jobs:
        if outcomes and _hangs_the_bus(outcomes[-1]):
            outcomes += _hung(number, len(jobs) - len(outcomes))
            break
        try:
            outcomes.append(job.run())
        except (HardwareError, OSError) as exc:
            outcomes.append(exc)
    return outcomes


def _hung(number: int, count: int) -> list[object]:
    return [BusHung(f"I2C bus {number} hung this tick") for _ in range(count)]


def _raise_bugs(outcomes: list[object]) -> list[object]:
    """A job that failed other than as hardware does is a bug: raised in the tick, as inline."""
    for outcome in outcomes:
        if isinstance(outcome, Exception) and not isinstance(outcome, (HardwareError, OSError)):
            raise outcome
    return outcomes


class BusWorker:
    """The thread that does one bus's jobs, and the tick's wait for them."""

    def __init__(self, number: int):
        self.number = number
        self._lock = threading.Lock()  # the hand-off: jobs, outcomes, whether the tick gave up
        self._go = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._jobs: list[BusJob] = []
        self._outcomes: list[object] = []
        self._given_up: I2CDevice | None = None  # the device whose transfer the tick stopped waiting for
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """A transfer given up on by an earlier tick is still stuck in the kernel."""
        return not self._idle.is_set()

    def run(self, jobs: list[BusJob], deadline_s: float) -> list[object]:
        """`submit`, then `collect` within `deadline_s`."""
        if not self.submit(jobs):
            return self.still_busy(jobs)
        return self.collect(time.monotonic() + deadline_s)

    def submit(self, jobs: list[BusJob]) -> bool:
        """Hand the tick's jobs to the thread; False (and nothing queued) while the bus is busy."""
        if self.busy:
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=f"i2c-{self.number}", daemon=True)
            self._thread.start()
        with self._lock:
            self._jobs, self._outcomes, self._given_up = jobs, [], None
        self._idle.clear()
        self._go.set()
        return True

    def still_busy(self, jobs: list[BusJob]) -> list[object]:
        return [BusHung(f"I2C bus {self.number} still busy: a transfer is stuck in the kernel") for _ in jobs]

    def collect(self, until: float) -> list[object]:
        """The outcomes of the jobs submitted, waiting until `until` (time.monotonic()) at most.
        Past it, the job under way is given up on as a bus timeout and the rest are not tried."""
        self._idle.wait(max(0.0, until - time.monotonic()))
        with self._lock:
            outcomes = list(self._outcomes)
            if len(outcomes) == len(self._jobs):  # done just now: the thread has yet to say so
                return _raise_bugs(outcomes)
            stuck = self._jobs[len(outcomes)].device
            self._given_up = stuck
            outcomes.append(stuck.abandon())
        return _raise_bugs(outcomes + _hung(self.number, len(self._jobs) - len(outcomes)))

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait for a stuck transfer to come back; True once the bus is usable (for tests and closing)."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        self._closing = True
        self._go.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * ADAPTER_TIMEOUT_S)  # a stuck transfer ends by then; daemon thread if not

    def _serve(self) -> None:
        while True:
            self._go.wait()
            self._go.clear()
            if self._closing:
                return
            self._do_jobs()
            with self._lock:
                if self._given_up is not None:
                    self._given_up.reclaim()
                self._idle.set()

    def _do_jobs(self) -> None:
        for job in self._jobs:
            if self._given_up is not None:
                return
            try:
                outcome = job.run()
            except Exception as exc:  # noqa: BLE001 - handed to the tick, which raises what is not a fault
                outcome = exc
            with self._lock:
                if self._given_up is not None:
                    return  # too late: the tick has gone on without it
                self._outcomes.append(outcome)
                if _hangs_the_bus(outcome):
                    self._outcomes += _hung(self.number, len(self._jobs) - len(self._outcomes))
                    return
