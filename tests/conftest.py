from pathlib import Path

import pytest

from pi_service.config import Config, parse_config


class FakeClock:
    """A monotonic clock that only moves when told; `sleep` moves it."""

    def __init__(self, t: float = 1000.0):
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def config() -> Config:
    return Config()


ROOT = Path(__file__).resolve().parent.parent


def make_config(toml: str) -> Config:
    return parse_config(toml, "test.toml")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args, timeout=30, env=None):
    """`python -m pi_service ARGS` from the repository root, as a user runs it."""
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([sys.executable, "-m", "pi_service", *args], cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test():
    """A test that fails before stopping its daemon must not leave it (and its sampling
    process) running for the rest of the suite."""
    yield
    import os
    import signal

    from tests.test_daemon import STARTED

    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended just now
            process.wait(timeout=5)



def pytest_sessionfinish(session, exitstatus):
    import sys

    background = sys.modules.get("tests.pibox.background")
    if background is not None:
        background.stop()
