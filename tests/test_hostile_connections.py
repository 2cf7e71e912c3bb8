"""Clients that connect and never finish, against the server the daemon runs (web/server.py's
`build_server`, in a subprocess so its descriptors, RSS and stderr are its own): a flood of
half-sent requests, a request head that never completes, streams that are never read,
streams that end. `python -m tests.test_hostile_connections --help` runs that server.

Figures (connection drop times, RSS, /healthz latency) are printed: run with -s.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ["127.0.0.1", "localhost"]
HALF_SENT = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # and then nothing: no blank line
SYSTEMD_DEFAULT_NOFILE = 1024


class Server:
    """The companion's web server over a fake sampler, in its own process."""

    def __init__(self, tmp_path: Path, *args: str):
        self.log_path = tmp_path / "server.stderr"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.test_hostile_connections", *args], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=self._log, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.process.kill()
            raise AssertionError(f"server did not start: {line!r} {self.log_path.read_text()}")
        self.port = int(line)

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def tcp_connections(self) -> tuple[int, int]:
        """The server side's connections on its port that still hold something (established,
        or closed with data queued: not the listener, and not those closed whose client has
        not closed its end, which hold nothing), and their kernel send queue, bytes."""
        count = queued = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state = int(fields[1].split(":")[1], 16), fields[3]
            # 0A listening, 05 FIN_WAIT2, 06 TIME_WAIT, 07 CLOSE
            if local_port == self.port and state not in ("0A", "05", "06", "07"):
                count += 1
                queued += int(fields[4].split(":")[0], 16)
        return count, queued

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> str:
        """SIGTERM, as systemd stops the daemon; the whole stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.log_path.read_text()


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(*args):
        server = Server(tmp_path, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def many_descriptors():
    """This test process holds 1,100 sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= 2500, f"the test needs RLIMIT_NOFILE >= 2500 (hard limit {hard})"
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def healthz(port: int) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    finally:
        connection.close()
    return status, time.monotonic() - started


def closed_by_server(sock: socket.socket) -> bool:
    """The server closed or reset it (never blocks)."""
    poll = select.poll()  # not select(): the flood's descriptors go past 1024
    poll.register(sock, select.POLLIN)
    if not poll.poll(0):
        return False
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def wait_for(predicate, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline_s} s: {what}")


def assert_quiet(log: str) -> None:
    for bad in ("Traceback", "Too many open files", "out of system resource", "ASGI callable returned",
                "Exception in ASGI application"):
        assert bad not in log, log[-3000:]


def test_a_flood_of_half_sent_requests_leaves_healthz_answering(start_server, many_descriptors):
    from pi_service.web.server import connection_cap

    # systemd's default limit, and a header timeout longer than the test: the cap alone holds.
    server = start_server("--nofile", str(SYSTEMD_DEFAULT_NOFILE), "--header-timeout", "120", "--warn-every", "3")
    cap = connection_cap(512, SYSTEMD_DEFAULT_NOFILE)
    flood, latencies = [], []
    try:
        began = time.monotonic()
        for i in range(1100):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(HALF_SENT)
            flood.append(sock)
            if i % 100 == 99:
                status, seconds = healthz(server.port)
                assert status == 200
                latencies.append(seconds)
        peak_files = server.open_files()
        for _ in range(5):
            status, seconds = healthz(server.port)
            assert status == 200
            latencies.append(seconds)
        flood_s = time.monotonic() - began  # every connection that could push one out made by now
        closed: set[int] = set()

        def evicted():
            closed.update(i for i, sock in enumerate(flood) if i not in closed and closed_by_server(sock))
            return len(closed) >= 1100 - cap

        # The oldest half-sent requests made room for the newest and for every /healthz.
        wait_for(evicted, 10, f"at least {1100 - cap} half-sent requests pushed out")
        assert peak_files < SYSTEMD_DEFAULT_NOFILE
        # The flood may outlast one warning's window (connect() waits out a full listen queue
        # with the kernel's 1 s SYN retry): one WARNING per window, each closed by its summary.
        summary = r"(\d+) idle connections closed, (\d+) refused"

        def summed():
            log = server.log()
            found = [(int(a), int(b)) for a, b in re.findall(summary, log)]
            warned = log.count("connection limit reached")
            return found if found and len(found) == warned else None
        windows = wait_for(summed, 10, "a summary for every warning of the burst")
        assert sum(e for e, _ in windows) >= 1100 - cap and sum(r for _, r in windows) == 0, windows
        assert len(windows) <= flood_s // 3 + 1, (len(windows), flood_s)  # at most one WARNING per 3 s
        log = server.log()
        assert_quiet(log)
        print(f"\nflood of 1,100 half-sent requests (cap {cap}) in {flood_s:.1f} s: /healthz max "
              f"{max(latencies) * 1000:.1f} ms, median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms over "
              f"{len(latencies)} requests; {sum(e for e, _ in windows)} evicted over {len(windows)} warning windows; "
              f"server files at peak {peak_files}")
    finally:
        for sock in flood:
            sock.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_out_of_descriptors_the_accept_loop_pauses_instead_of_spinning(start_server):
    # A cap the descriptors cannot hold (as if something else had used them up): accept()
    # fails with EMFILE. Python 3.11's asyncio alone logged ~10,000 tracebacks a second here.
    server = start_server("--starve", "48", "--warn-every", "2")
    flood = []
    for _ in range(60):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(HALF_SENT)
        flood.append(sock)
    wait_for(lambda: "out of file descriptors" in server.log(), 5, "the warning")
    cpu_before, started = cpu_s(server.process.pid), time.monotonic()
    summary = wait_for(lambda: re.search(r"(\d+) accept failures in the last", server.log()), 10, "the summary")
    cpu_share = (cpu_s(server.process.pid) - cpu_before) / (time.monotonic() - started)
    for sock in flood:
        sock.close()
    assert wait_for(lambda: healthz(server.port)[0] == 200, 10, "/healthz once the descriptors are back")
    log = server.stop()
    assert int(summary.group(1)) <= 10, log  # about one retry a second, not one per failed accept
    assert log.count("out of file descriptors") <= 3 and "Traceback" not in log, log  # one per 2 s window
    print(f"\nout of descriptors: {summary.group(1)} failed accepts in 2 s, server CPU {cpu_share:.0%}")


def test_a_request_head_not_finished_in_time_is_dropped(start_server):
    from pi_service.web.server import ConnectionLimits

    # The default, as docs/web.md says it; a short one here.
    assert f"within {ConnectionLimits().header_timeout_s:g} s\n  of connecting" in (ROOT / "docs/web.md").read_text()
    server = start_server("--header-timeout", "1")
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(HALF_SENT)
    trickle = socket.create_connection(("127.0.0.1", server.port))
    trickle.sendall(HALF_SENT)
    started = time.monotonic()

    def trickled_out():
        """A header line every 50 ms: bytes trickling in do not extend the deadline."""
        try:
            trickle.sendall(b"X-Slow: 1\r\n")
        except (ConnectionResetError, BrokenPipeError):
            return True
        return closed_by_server(trickle)

    wait_for(trickled_out, 10, "the trickling request dropped")
    wait_for(lambda: closed_by_server(half), 10, "the half-sent request dropped")
    dropped_after = time.monotonic() - started
    assert dropped_after >= 0.9  # never before its time
    # A head after a response has the same deadline, counted from the response.
    again = socket.create_connection(("127.0.0.1", server.port))
    again.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = wait_for(lambda: again.recv(65536), 5, "the first answer")
    assert answer.startswith(b"HTTP/1.1 200")
    again.sendall(HALF_SENT)
    wait_for(lambda: closed_by_server(again), 10, "the second, half-sent request dropped")
    assert_quiet(server.stop())
    print(f"\nheader timeout 1 s: a half-sent request dropped after {dropped_after:.2f} s")


def open_stream(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert wait_for(lambda: sock.recv(4096), 5, "the stream under way").startswith(b"HTTP/1.1 200")
    return sock


def test_connections_beyond_the_cap_are_refused_when_every_one_is_busy(start_server):
    server = start_server("--max-connections", "3", "--warn-every", "1")
    streams = [open_stream(server.port) for _ in range(3)]  # every connection busy with a request
    newcomer = socket.create_connection(("127.0.0.1", server.port))
    newcomer.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    wait_for(lambda: closed_by_server(newcomer), 5, "the newcomer refused")
    for sock in streams:
        sock.close()
    assert wait_for(lambda: healthz(server.port)[0] == 200, 5, "/healthz once the streams are gone")
    summary = wait_for(lambda: re.search(r"(\d+) idle connections closed, (\d+) refused", server.log()), 5, "summary")
    assert summary.groups() == ("0", "1")
    assert_quiet(server.stop())


def test_never_reading_stream_clients_are_dropped_and_their_memory_returns(start_server):
    from pi_service.web import stream

    # The defaults, as docs/web.md says them; this test runs with them.
    docs = (ROOT / "docs/web.md").read_text()
    assert f"takes over {stream.SEND_TIMEOUT_S:g} s to accept a message (`SEND_TIMEOUT_S`)" in docs
    assert f"At most {stream.MAX_CLIENTS} streams at once (`MAX_CLIENTS`)" in docs
    server = start_server()
    url = f"http://127.0.0.1:{server.port}/api/stream"
    with httpx.stream("GET", url, timeout=5) as response:
        next(line for line in response.iter_lines() if line.startswith("data: "))  # warm up the stream
    wait_for(lambda: server.tcp_connections()[0] == 0, 5, "the warm-up stream closed")
    baseline_kb = server.rss_kb()
    clients = []
    try:
        for _ in range(100):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # a tiny window, and never read
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            clients.append(sock)
        connected = time.monotonic()

        def refused():
            with httpx.stream("GET", url, timeout=5) as response:
                return response if response.status_code == 503 else None

        full = wait_for(refused, 10, f"a 503 once {stream.MAX_CLIENTS} streams are open")
        assert int(full.headers["retry-after"]) > 0
        time.sleep(5)  # the figure "during": what 100 stalled clients hold while they are held
        during_kb, (during_connections, during_queue) = server.rss_kb(), server.tcp_connections()
        wait_for(lambda: server.tcp_connections()[0] == 0, 30, "every stalled client dropped")
        dropped_s = time.monotonic() - connected
    finally:
        for sock in clients:
            sock.close()
    after_kb = server.rss_kb()
    assert after_kb < baseline_kb + 8 * 1024
    log = server.stop()
    assert_quiet(log)
    timed_out = log.count("accepted nothing for")
    assert 1 <= timed_out <= stream.MAX_CLIENTS
    print(f"\n100 never-reading stream clients: all dropped {dropped_s:.1f} s after connecting "
          f"({timed_out} by the send timeout, the rest 503 then idle); RSS {baseline_kb / 1024:.1f} MB before, "
          f"{during_kb / 1024:.1f} during, {after_kb / 1024:.1f} after; during: {during_connections} connections, "
          f"{during_queue / 1024:.0f} KiB in the kernel's send queues")


def test_a_stream_client_that_leaves_and_a_server_stop_log_nothing(start_server):
    server = start_server()
    url = f"http://127.0.0.1:{server.port}/api/stream"
    with httpx.stream("GET", url, timeout=5) as response:
        lines = response.iter_lines()
        assert sum(1 for _, line in zip(range(20), lines) if line.startswith("data: ")) >= 3
    reset = open_stream(server.port)
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()  # a reset, as a phone leaving the Wi-Fi's range might
    wait_for(lambda: server.tcp_connections()[0] == 0, 5, "both streams gone")
    # Streams still open when the server stops end properly too.
    open_streams = [open_stream(server.port) for _ in range(2)]
    log = server.stop()
    for sock in open_streams:
        sock.close()
    assert log.strip() == "", log


# The server itself: `python -m tests.test_hostile_connections [--nofile N] ...` prints its port.

class Source:
    """A sampler that is always healthy: a thread publishes a fresh snapshot every 50 ms."""

    def __init__(self):
        from pi_service.sampling.board import SnapshotBoard
        from tests.test_web import snapshot

        self.board = SnapshotBoard()
        self.restarts = 0
        self.commands = None
        self._snapshot = snapshot
        threading.Thread(target=self._publish, daemon=True).start()

    def alive(self):
        return True

    def _publish(self):
        while True:
            self.board.publish(self._snapshot())
            time.sleep(0.05)


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.test_hostile_connections")
    parser.add_argument("--nofile", type=int, help="RLIMIT_NOFILE, soft and hard, as a unit's LimitNOFILE=")
    parser.add_argument("--header-timeout", type=float, default=None)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--warn-every", type=float, default=None)
    parser.add_argument("--starve", type=int, help="lower the soft RLIMIT_NOFILE to this once the server is built, "
                        "as if something else had used the descriptors up")
    args = parser.parse_args(argv)
    if args.nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pi_service.config import Config
    from pi_service.daemon import bind
    from pi_service.web.app import create_app
    from pi_service.web.server import ConnectionLimits, build_server, raise_open_file_limit

    overrides = {key: value for key, value in (("header_timeout_s", args.header_timeout),
                                               ("max_connections", args.max_connections),
                                               ("warn_every_s", args.warn_every)) if value is not None}
    app = create_app(Source(), Config(), hosts=HOSTS, folder=Path(tempfile.mkdtemp(prefix="tc-hostile-")))
    raise_open_file_limit()  # as the daemon does
    server = build_server(app, ConnectionLimits(**overrides))
    sock = bind("127.0.0.1", 0)
    if args.starve:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.starve, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print(sock.getsockname()[1], flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    serve(sys.argv[1:])


def test_garbage_requests_in_a_loop_log_one_line_a_minute_with_a_count():
    """uvicorn logs a WARNING per malformed request: 1,000 garbage requests were 1,000 lines."""
    import logging

    from pi_service.web.server import OncePerInterval

    now = [0.0]
    quiet = OncePerInterval(60.0, clock=lambda: now[0])
    records = [logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "Invalid HTTP request received.",
                                 (), None) for _ in range(1000)]
    passed = [r for r in records if quiet.filter(r)]
    assert len(passed) == 1
    now[0] = 61.0
    again = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "Invalid HTTP request received.", (), None)
    assert quiet.filter(again) and "999 more" in again.getMessage()
    other = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "something else", (), None)
    assert quiet.filter(other) and quiet.filter(other)  # everything else passes
