"""The sampling loop in its own process, so web traffic and the web process's garbage
collection cannot delay it; and a supervisor that restarts it if it dies.

The child reports "ready" or a one-line startup error over a pipe; afterwards it talks
only through the snapshot board. It ignores Ctrl-C (the parent stops it in order) and
stops on SIGTERM or when its parent dies. Nothing it waits on is a lock shared with the
parent, so a parent killed at any instant cannot leave it hanging.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

from pi_service.config import Config
from pi_service.errors import CompanionError
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.carry_over import SIZE as CARRY_SIZE
from pi_service.sampling.run import SamplerOptions, run_sampler

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
# A child that exits 0 was told to stop (SIGTERM). When the whole unit is stopped, systemd
# sends SIGTERM to every process at once and the child may finish first: give the daemon
# this long to say it is stopping before calling it a failure and restarting the child.
STOP_GRACE_S = 2.0


def _child_main(config: Config, options: SamplerOptions, board: SnapshotBoard, parent_pid: int, conn,
                commands, carry_board: SnapshotBoard) -> None:
    from pi_service.sampling.realtime import die_with_parent

    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    def should_stop() -> bool:
        return stop.is_set() or os.getppid() != parent_pid

    def tell_parent(message: tuple) -> None:
        try:
            conn.send(message)
        except OSError:
            pass  # the parent stopped waiting (it is shutting down): nothing to tell

    try:
        run_sampler(config, options, board, should_stop, lambda realtime: tell_parent(("ready", realtime)), commands,
                    carry_board)
    except CompanionError as exc:
        tell_parent(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - tell the parent why, then die loudly
        tell_parent(("error", f"sampling process failed: {type(exc).__name__}: {exc}"))
        raise


class CommandPipe:
    """The web process's side of the command pipe: snooze and acknowledge, sent to the sampler."""

    def __init__(self, ctx):
        self._ctx = ctx
        self._lock = threading.Lock()
        self.receiver, self._sender = ctx.Pipe(duplex=False)

    def renew(self) -> None:
        with self._lock:
            self.receiver, self._sender = self._ctx.Pipe(duplex=False)

    def send(self, name: str, kind: str, seconds: float = 0.0) -> None:
        with self._lock:
            self._sender.send((name, kind, seconds))


class SamplerProcess:
    def __init__(self, config: Config, options: SamplerOptions):
        self.config = config
        self.options = options
        self._ctx = multiprocessing.get_context("spawn")
        self.board = SnapshotBoard(self._ctx)
        # The rules' state, for a restarted child to go on with (sampling/carry_over.py).
        self.carry_board = SnapshotBoard(self._ctx, size=CARRY_SIZE)
        self.realtime = ""
        self.restarts = 0
        self.commands = CommandPipe(self._ctx)
        self._process = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the child and wait until it samples; raises CompanionError with its reason."""
        self._spawn(timeout_s)
        self._watcher = threading.Thread(target=self._watch, name="sampler-watch", daemon=True)
        self._watcher.start()

    def _spawn(self, timeout_s: float) -> None:
        receive, send = self._ctx.Pipe(duplex=False)
        if self._process is not None:
            self.commands.renew()  # a restarted child gets a fresh pipe
        self._process = self._ctx.Process(target=_child_main, name="treadmill-sampler",
                                          args=(self.config, self.options, self.board, os.getpid(), send,
                                                self.commands.receiver, self.carry_board))
        # The child inherits an ignored SIGINT, so a Ctrl-C to the whole terminal's process
        # group while its interpreter starts cannot kill it mid-import; the parent stops it.
        # (Only the main thread may change signal handling; the watcher's restarts need not.)
        # A SIGTERM while start() runs waits until it is done: its handler stopping the parent
        # half-way would close the pipe before the child has read what it runs (the child then
        # dies in multiprocessing's spawn_main with a traceback: "EOFError: Ran out of input").
        main = threading.current_thread() is threading.main_thread()
        deferred: list[int] = []
        if main:
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: deferred.append(signum))
        try:
            self._process.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous_int)
                signal.signal(signal.SIGTERM, previous_term)
                if deferred:
                    os.kill(os.getpid(), signal.SIGTERM)  # delivered now, to the handler it was meant for
        send.close()
        if not receive.poll(timeout_s):
            self._kill()
            raise CompanionError(f"the sampling process did not start within {timeout_s:g} s")
        try:
            kind, detail = receive.recv()
        except EOFError:
            self._kill()
            raise CompanionError(f"the sampling process exited at start (code {self._process.exitcode})") from None
        receive.close()
        if kind == "error":
            self._kill()
            raise CompanionError(detail)
        self.realtime = detail

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _watch(self) -> None:
        attempt = 0
        while not self._stopping.wait(0.2):
            if self.alive():
                continue
            code = self._process.exitcode if self._process else None
            if code == 0 and self._stopping.wait(STOP_GRACE_S):
                return  # it stopped on the SIGTERM systemd sends the whole unit: the daemon is stopping too
            delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
            why = "stopped by a SIGTERM of its own" if code == 0 else f"exited (code {code})"
            log.error("sampling process %s; restarting in %g s", why, delay)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn(timeout_s=10.0)
                self.restarts += 1
                attempt = 0
                log.warning("sampling process restarted")
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one failed restart
                attempt += 1
                log.error("restart failed: %s", exc)

    def stop(self, timeout_s: float = 1.5) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=1)
        self._kill(timeout_s)

    def _kill(self, timeout_s: float = 0.5) -> None:
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()  # SIGTERM: the child finishes its tick and closes its devices
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join(0.5)


class SamplerThread:
    """The benchmark's naive baseline: the same sampler, as a thread inside the web process."""

    def __init__(self, config: Config, options: SamplerOptions):
        self.config = config
        self.options = options
        self.board = SnapshotBoard()
        self.realtime = ""
        self.restarts = 0
        self.commands = CommandPipe(multiprocessing.get_context("spawn"))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def body():
            try:
                run_sampler(self.config, self.options, self.board, self._stop.is_set, lambda _: ready.set(),
                            self.commands.receiver)
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=body, name="naive-sampler", daemon=True)
        self._thread.start()
        ready.wait(timeout_s)
        if failure:
            raise failure[0]
        self.realtime = "naive baseline thread"

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 1.5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
