"""`pair` links to the port the daemon serves on: the running daemon's (it writes where it
serves into its state folder), else `--port`/`--host` and the config as `run` takes them;
and `run --pair` (what `make demo` runs) prints the link itself, on the port it serves."""

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pi_service.pairing import read_serving
from tests.conftest import ROOT, free_port
from tests.test_daemon import STARTED, children, get, start, stop


def pair(state, *args):
    done = subprocess.run([sys.executable, "-m", "pi_service", "pair", "--sim", "--json", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, env=dict(os.environ, STATE_DIRECTORY=str(state)))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)["url"]


def check(port, url):
    token = url.split("#token=")[1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/pair/check",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=2) as response:
        return response.status


def test_pair_links_to_the_port_the_running_daemon_serves_and_the_config_once_it_stops(tmp_path):
    state = tmp_path / "state"
    process, port, _ = start(state=state)
    try:
        assert port != 8080
        assert read_serving(state / "sim").port == port
        url = pair(state)
        assert url.startswith(f"http://127.0.0.1:{port}/#token=")  # the daemon serves on 127.0.0.1 only
        assert check(port, url) == 200
        assert pair(state, "--port", "9999").startswith("http://127.0.0.1:9999/")  # as asked
        assert pair(state, "--address", "pi.local").startswith(f"http://pi.local:{port}/")
    finally:
        stop(process)
    assert read_serving(state / "sim") is None and not (state / "sim" / "serving.json").exists()
    assert re.match(r"http://[^/]+:8080/#token=", pair(state))  # nobody serves: the config's port


def test_a_serving_file_a_killed_daemon_left_is_not_believed(tmp_path):
    state = tmp_path / "state"
    process, port, _ = start(state=state)
    sampling = children(process.pid)
    process.kill()
    process.wait(timeout=5)
    for pid in sampling:
        os.kill(pid, 9)
    assert (state / "sim" / "serving.json").exists()  # left behind by kill -9
    deadline = time.monotonic() + 5
    while read_serving(state / "sim") is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # (until its sampling process, which shares the lock, is gone too)
    assert read_serving(state / "sim") is None
    assert ":8080/" in pair(state)
    assert pair(state, "--host", "192.0.2.7", "--port", "8123").startswith("http://192.0.2.7:8123/")
    assert pair(state, "--host", "::1", "--port", "8123").startswith("http://[::1]:8123/")


def test_run_pair_prints_the_link_with_a_fresh_token_on_the_port_it_serves():
    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="tc-state-"))
    process = subprocess.Popen([sys.executable, "-m", "pi_service", "run", "--sim", "--config",
                                "pi_service/config/demo.toml", "--host", "127.0.0.1", "--port", str(port), "--pair"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=dict(os.environ, STATE_DIRECTORY=str(state)), start_new_session=True)
    STARTED.append(process)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "no pairing link printed within 15 s"
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/#token=\S+", line)
        assert found and int(found[1]) == port, line
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        assert check(port, found[0]) == 200  # the token works on that daemon
    finally:
        stop(process)


def test_make_demo_passes_the_port_and_asks_for_the_link():
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)[1]
    assert "--port $(PORT)" in demo and "--pair" in demo
