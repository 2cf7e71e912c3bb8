"""Ask Linux to treat the sampling loop as real-time work, and carry on where it says no."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29
MCL_CURRENT = 1
MCL_FUTURE = 2
M_ARENA_MAX = -8  # glibc malloc.h

_libc_handle = None


def _libc():
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc_handle


def _prctl(option: int, value: int) -> bool:
    try:
        return _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _mlockall() -> bool:
    try:
        return _libc().mlockall(MCL_CURRENT | MCL_FUTURE) == 0
    except (OSError, AttributeError):
        return False


def _one_malloc_arena() -> None:
    """glibc gives each new thread a malloc arena of its own, a 64 MiB reservation each: six
    helper threads are 400 MB of address space, all of it counted as locked memory once
    mlockall has run, far past the unit's LimitMEMLOCK. The loop's threads allocate
    little, so they share the main one."""
    try:
        _libc().mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator's own reservations apply


def die_with_parent() -> None:
    """Have the kernel send SIGTERM if the parent process dies, even by kill -9."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def enter_realtime(priority: int, cpu: int | None) -> str:
    """Set up the calling thread for the loop; returns a one-line description of what took.

    Call it before the process starts its helper threads (pin callbacks, the buzzer,
    the recorder, the simulated roller) with `priority - 1`, so they inherit a real-time
    policy just below the loop's: a helper holding the interpreter lock must not be
    pushed off the CPU by ordinary processes while the loop waits for that lock. Then
    `loop_priority` lifts the loop's own thread above them.

    - timer slack 1 ns: the kernel otherwise lets a sleep run up to 50 us late to batch wake-ups;
    - a short GIL switch interval, so a helper thread in this process hands the
      interpreter back within 0.5 ms instead of 5 ms;
    - SCHED_FIFO at `priority` when allowed (root, CAP_SYS_NICE, or systemd's
      LimitRTPRIO), so web traffic and other processes cannot delay a wake-up;
    - memory locked in RAM where allowed, so a page fault never waits for the SD card, with
      one malloc arena and small thread stacks so that what is locked fits LimitMEMLOCK;
    - optionally one CPU core to itself.
    """
    notes = []
    # Locked memory includes every thread's stack: the helpers need far less than 8 MiB.
    threading.stack_size(256 * 1024)
    _one_malloc_arena()
    _prctl(PR_SET_TIMERSLACK, 1)
    sys.setswitchinterval(0.0005)
    if _mlockall():
        notes.append("memory locked")
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
            notes.append(f"cpu {cpu}")
        except OSError as exc:
            notes.append(f"cpu {cpu} refused ({exc.strerror})")
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            notes.insert(0, f"SCHED_FIFO {priority}")
        except (PermissionError, OSError) as exc:
            notes.insert(0, f"normal scheduling (SCHED_FIFO refused: {exc.strerror})")
    else:
        notes.insert(0, "normal scheduling")
    return ", ".join(notes)


def loop_priority(priority: int) -> None:
    """Raise the calling thread (the loop) to `priority`, if it already runs SCHED_FIFO."""
    try:
        if os.sched_getscheduler(0) == os.SCHED_FIFO:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        pass  # the loop keeps the helpers' priority: still real-time, just not above them


def helper_priority(priority: int) -> int:
    """The helper threads' SCHED_FIFO priority: one below the loop's (see `enter_realtime`)."""
    return priority - 1 if priority > 1 else priority


def lift_loop(description: str, priority: int) -> str:
    """Once the helpers have started: lift the loop's thread above them (`loop_priority`) and
    return `enter_realtime`'s description with the loop's priority in it."""
    if not description.startswith("SCHED_FIFO"):
        return description
    loop_priority(priority)
    return description.replace(f"SCHED_FIFO {helper_priority(priority)}", f"SCHED_FIFO {priority}", 1)
