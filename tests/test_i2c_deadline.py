"""A stuck I2C transfer costs a tick its bus deadline, not the kernel's 10 ms adapter timeout
(issue 15, spec 10: "I2C faults never stall the loop more than two periods"): the deadline
mechanism on a fake bus, then a timeout storm at 200 Hz through the real loop and sampler.
Measured figures are printed (pytest -s)."""

import errno
import gc
import os
import sys
import threading
import time

import pytest

from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import BusFault
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.bus_worker import BusHung, BusJob, BusWorker, bus_deadline_s, needs_deadline
from pi_service.sampling.loop import FixedRateLoop
from pi_service.sampling.sampler import Sampler
from pi_service.sampling.sensors import Sensors
from pi_service.sampling.stats import LoopStats
from pi_service.sim.scenario import parse_scenario
from pi_service.sim.treadmill import VirtualTreadmill
from tests.conftest import make_config

RATE_HZ = 200
PERIOD = 1.0 / RATE_HZ
RAILS, INCLINE = 0x48, 0x53
WALK = """
name = "walk"
[[step]]
duration_s = 600
speed_kmh = 4
incline_pct = 3
rail_left_n = 20
rail_right_n = 20
"""


class HeldBus:
    """A bus whose transfers wait until the test lets them go: a transfer stuck in the kernel."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.answer: OSError | None = None  # what the held transfer ends with; None = it succeeds
        self.calls = 0

    def read_byte_data(self, address: int, register: int) -> int:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10), "the test never released the held transfer"
        if self.answer is not None:
            raise self.answer
        return 0x5A


class QuickBus:
    def __init__(self):
        self.calls = 0

    def read_byte_data(self, address: int, register: int) -> int:
        self.calls += 1
        return 0x11


def test_the_deadline_applies_only_where_the_kernels_timeout_would_break_two_periods():
    # 10 ms adapter timeout plus the healthy tick's bus time (2.4 ms at 100 kHz) against 1.5 periods.
    assert not needs_deadline(100, 475, 100_000)  # 12.4 ms < 15 ms: the kernel's bound is enough
    assert needs_deadline(200, 475, 100_000)  # 12.4 ms > 7.5 ms
    assert bus_deadline_s(200) == pytest.approx(0.0075)


def test_a_held_transfer_is_given_up_at_the_deadline_and_the_bus_stays_busy_until_it_returns():
    held, quick = HeldBus(), QuickBus()
    first, second = I2CDevice(held, RAILS, "ADS1115"), I2CDevice(held, INCLINE, "ADXL345")
    worker = BusWorker(1)
    try:
        # Nothing in the test moves on by the clock but the deadline itself: the transfer is
        # held until the test releases it, long after the deadline has passed.
        outcomes = worker.run([BusJob(first, lambda: first.read_u8(0)), BusJob(second, lambda: second.read_u8(0))],
                              deadline_s=0.02)
        assert held.entered.is_set()
        stuck, untried = outcomes
        assert isinstance(stuck, BusFault) and stuck.timeout and "bus timeout" in str(stuck)
        assert "ADS1115 at 0x48" in str(stuck)
        assert isinstance(untried, BusHung) and "I2C bus 1 hung this tick" in str(untried)
        assert first.errors == 1 and first.last_error == "bus timeout" and second.errors == 0
        assert worker.busy
        # A later tick queues nothing on the busy bus: it is told at once.
        again = worker.run([BusJob(second, lambda: second.read_u8(0))], deadline_s=5.0)
        assert isinstance(again[0], BusHung) and "still busy" in str(again[0]) and held.calls == 1

        held.answer = OSError(errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT))
        held.release.set()  # the kernel's adapter timeout ends the stuck transfer
        assert worker.wait_idle(5.0)
        assert first.errors == 1, "the timeout given up on is counted once, not again when it returns"
        # The bus is usable again, the device that was given up on too.
        first.bus = second.bus = quick
        assert worker.run([BusJob(first, lambda: first.read_u8(0)), BusJob(second, lambda: second.read_u8(0))],
                          deadline_s=5.0) == [0x11, 0x11]
    finally:
        held.release.set()
        worker.close()


def test_a_held_transfer_that_succeeds_late_is_not_taken_as_this_or_a_later_ticks_reading():
    held = HeldBus()
    device = I2CDevice(held, RAILS, "ADS1115")
    after = []
    worker = BusWorker(1)
    try:
        def procedure():
            value = device.read_u8(0)
            after.append(value)  # what a driver would go on with: must not run on a given-up reading
            return value

        (outcome,) = worker.run([BusJob(device, procedure)], deadline_s=0.02)
        assert isinstance(outcome, BusFault) and outcome.timeout
        held.release.set()  # it answers after all, too late
        assert worker.wait_idle(5.0)
        assert after == [] and device.errors == 1
        device.bus = QuickBus()
        assert worker.run([BusJob(device, procedure)], deadline_s=5.0) == [0x11] and after == [0x11]
    finally:
        held.release.set()
        worker.close()


def test_a_job_that_raises_gives_its_error_and_the_next_device_is_still_read():
    quick = QuickBus()
    device = I2CDevice(quick, INCLINE, "ADXL345")
    worker = BusWorker(1)
    try:
        def nack():
            raise BusFault("ADS1115 at 0x48", "no acknowledge (NACK)")

        first, second = worker.run([BusJob(device, nack), BusJob(device, lambda: device.read_u8(0))], deadline_s=5.0)
        assert isinstance(first, BusFault) and not first.timeout and second == 0x11
    finally:
        worker.close()


class RunQueueWait:
    """How long the calling thread has waited, runnable, for a CPU (the kernel's schedstat):
    time the machine took from a tick, which no bus mechanism can give back."""

    def __init__(self):
        self._fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)

    def __call__(self) -> float:
        return int(os.pread(self._fd, 100, 0).split()[1]) / 1e9

    def close(self) -> None:
        os.close(self._fd)


class WorkTimes(LoopStats):
    """The loop's own measurement of every tick's work (waking to the tick's end), kept whole."""

    def __init__(self):
        super().__init__()
        self.works: list[float] = []

    def record_work(self, work_s: float) -> None:
        self.works.append(work_s)
        super().record_work(work_s)


def test_an_i2c_timeout_storm_at_200_hz_keeps_every_tick_within_two_periods():
    # The storm is about the rails' and the incline's reads: the footstrikes' drain does not fit 200 Hz at 100 kHz.
    config = make_config(f"[sampling]\nrate_hz = {RATE_HZ}\n[footstrikes]\nenabled = false\n")
    treadmill = VirtualTreadmill(config, parse_scenario(WALK, "walk"), noise=False)
    if treadmill.console is not None:
        treadmill.console.stop()
    treadmill.world.state_at(time.monotonic() + 30)
    sensors = Sensors(config, treadmill.open_bus, treadmill.pin_factory)
    stats = WorkTimes()
    sampler = Sampler(config, sensors, SnapshotBoard(), stats, treadmill=treadmill)
    bus = treadmill.buses[1]
    # Seconds from the first tick: the ADS1115 alone hangs the bus (the accelerometer is not
    # tried after it), then the accelerometer alone (after the rails' three transfers), then
    # both, then one transfer in every 0.1 s, then none.
    phases = {"rails": 0.5, "incline": 1.1, "both": 1.7, "intermittent": 2.3, "clear": 3.3}
    marks: dict[str, int] = {}  # phase -> index of its first tick
    events, samples = [], []
    queued, faulted = [], []  # per tick: seconds waiting for a CPU; whether a transfer failed
    queue_wait = RunQueueWait()
    start: list[float] = []
    add = sampler.alerts.add

    def add_and_keep(event):
        if event.kind == "sensor_fault":
            events.append(event)
        add(event)

    sampler.alerts.add = add_and_keep

    def tick(t):
        if not start:
            start.append(t)
        elapsed = t - start[0]
        due = [phase for phase, at in phases.items() if elapsed >= at and phase not in marks]
        for phase in due:
            marks[phase] = len(samples)
            bus.clear(RAILS)
            bus.clear(INCLINE)
            if phase in ("rails", "both"):
                bus.inject(RAILS, "timeout")  # every transfer to it hangs the bus, until cleared
            if phase in ("incline", "both"):
                bus.inject(INCLINE, "timeout")
        if "intermittent" in marks and "clear" not in marks and len(samples) % 20 == 0:
            bus.inject(RAILS if len(samples) % 40 else INCLINE, "timeout", count=1)
        waited, errors = queue_wait(), sum(sensors.device_errors().values())
        sampler.tick(t)
        queued.append(queue_wait() - waited)
        faulted.append(sum(sensors.device_errors().values()) > errors)
        samples.append(sampler.last_sample)

    def done() -> bool:
        if start and time.monotonic() - start[0] > 15.0:
            return True  # the recovery is checked below; this only bounds the test
        if "clear" not in marks or len(samples) - marks["clear"] < RATE_HZ // 2:
            return False
        last = samples[-RATE_HZ // 2:]  # half a second of whole readings, no fault left
        return (not sensors.faults() and not sampler.alerts.faulty_channels()
                and all(s.rail_left_n is not None and s.incline_pct is not None for s in last))

    # As the daemon's loop: real-time scheduling (the test runs as root, as CI does), so the
    # figures are the fault's cost, not how busy the machine is; and the daemon's interpreter
    # switch interval (sampling/realtime.py), so a helper thread hands the interpreter back in
    # 0.5 ms, and its gc.freeze() (sampling/run.py), so no collection walks the test session's heap.
    policy, switch = (os.sched_getscheduler(0), os.sched_getparam(0)), sys.getswitchinterval()
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()
    treadmill.roller.start()
    try:
        FixedRateLoop(RATE_HZ, tick, stats).run(done)
    finally:
        gc.unfreeze()
        os.sched_setscheduler(0, *policy)
        sys.setswitchinterval(switch)
        treadmill.roller.stop()
        sensors.close()
        queue_wait.close()
    works = stats.works  # the loop's own measurement: waking to the tick's end
    timeouts = sensors.device_errors()
    # The ticks in which a transfer hung, and what each cost less any time the kernel kept the
    # loop's thread from a CPU (other real-time work on this shared 2-core machine): the fault's
    # own cost. Before the deadline they were 10.6-13.1 ms (the 10 ms adapter timeout, after the
    # rails' transfers when the accelerometer hung, then the rest of the tick).
    hung = [works[i] - queued[i] for i in range(len(works)) if faulted[i]]
    storm = works[marks["rails"]:marks["clear"]]
    print(f"\n200 Hz timeout storm: {len(storm)} ticks, {len(hung)} with a transfer hung "
          f"({timeouts}): longest of those {max(hung) * 1000:.2f} ms; longest tick in the storm "
          f"{max(storm) * 1000:.2f} ms, p99 {sorted(storm)[int(0.99 * len(storm))] * 1000:.2f} ms; "
          f"longest overall {max(works) * 1000:.2f} ms; most waited for a CPU in a tick {max(queued) * 1000:.2f} ms")
    assert min(timeouts.values()) >= 1 and len(hung) >= 6, "the storm hung too few transfers to prove much"
    assert max(hung) <= 2 * PERIOD, f"ticks with a hung transfer over two periods (s): {sorted(hung)[-5:]}"
    # Every other tick too, but for the odd one the machine took (a hypervisor can take a vCPU
    # away for tens of ms, which no guest scheduling prevents).
    assert sum(w > 2 * PERIOD for w in works) <= len(works) // 200, f"ticks over two periods: {sorted(works)[-5:]}"
    # sensor_fault is raised for each channel and ends once the chips answer again.
    for channel in ("rail_left", "rail_right", "incline"):
        phases_seen = [e.phase for e in events if e.detail.get("channel") == channel]
        assert phases_seen[:1] == ["start"] and phases_seen[-1] == "end", (channel, phases_seen)
    assert sensors.faults() == []
    last = samples[-1]
    assert last.rail_left_n == pytest.approx(20, abs=0.5) and last.rail_right_n == pytest.approx(20, abs=0.5)
    assert last.incline_pct == pytest.approx(3, abs=0.3)
