"""The web layer against hostile input: malformed JSON, huge and endless bodies without a
token, framing by another page, foreign origins and token guessing. 127.0.0.1 only; the
RSS figures are printed (run with -s), the asserts have a wide margin."""

import asyncio
import http.server
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi_service.config import Config
from pi_service.pairing import PairingStore
from pi_service.sampling.board import SnapshotBoard
from pi_service.web.app import create_app
from pi_service.web.errors import strict_json
from pi_service.web.guard import same_origin
from pi_service.web.headers import PAGE_POLICY
from pi_service.web.limits import BODY_LIMIT_BYTES
from pi_service.web.throttle import FAILURES, LOG_EVERY_S, MAX_BLOCK_S
from tests.conftest import FakeClock, free_port
from tests.test_web import RAMP_UNDER_WAY, snapshot

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ["testserver", "localhost", "127.0.0.1"]
POSTS = ["/api/nudges/rail_lean/snooze", "/api/nudges/rail_lean/acknowledge", "/api/ramp/stop", "/api/sim"]
MB = 1024 * 1024


class Commands:  # (as tests/test_web_api.py's, which imports this file's raw bodies: a copy, not a cycle)
    def __init__(self):
        self.sent = []

    def send(self, name, kind, value=0.0):
        self.sent.append((name, kind, value))


class Source:
    def __init__(self):
        self.board = SnapshotBoard()
        self.board.publish(snapshot(ramp=RAMP_UNDER_WAY))  # so /api/ramp/stop is a real command
        self.restarts = 0
        self.commands = Commands()

    def alive(self):
        return True


def make_app(folder, clock=time.monotonic):
    return create_app(Source(), Config(), sim=True, hosts=HOSTS, folder=Path(folder), clock=clock)


@pytest.fixture
def api(tmp_path):
    app = make_app(tmp_path)
    token = PairingStore(tmp_path).new_token("test")
    return TestClient(app, raise_server_exceptions=False), app, token


# -- 1. malformed JSON: a 4xx that serialises, and the body never in the log ------------------

MARKER = "BODY-MARKER-7f3a"
HOSTILE_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, '"\\ud800"', '"a\\udfffb"',
                  '"\\u0000"', "[" * 40 + "]" * 40]


def hostile_json():
    """Raw JSON-ish bodies with what Python's json module takes and JSON does not: NaN,
    infinities, out-of-range numbers, lone surrogates, deep nesting; the controls' own keys,
    so the bad values land where the models look."""
    surrogate_text = st.text(st.characters(categories=["Cs", "Lu", "Nd", "Po"]), max_size=6).map(json.dumps)
    value = (st.sampled_from(HOSTILE_TOKENS) | st.floats().map(json.dumps) | surrogate_text
             | st.integers(-10 ** 400, 10 ** 400).map(str) | st.sampled_from(["true", "null", "{}", "[]"]))
    key = st.sampled_from(["minutes", "speed_kmh", "incline_pct", "lean", "resume"]) | surrogate_text.map(json.loads)
    obj = st.dictionaries(key, value, max_size=4).map(
        lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}")
    top = obj | value | st.lists(value, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    return top.map(lambda text: text.encode("utf-8"))


@pytest.mark.parametrize("body", [
    b'{"minutes": NaN}', b'{"minutes": Infinity}', b'{"minutes": -Infinity}', b'{"minutes": 1e400}',
    b'{"speed_kmh": 1e400}', b'{"minutes": "\\ud800"}', b'{"\\ud800": 1}', b'{"speed_kmh": "x\\udc00"}',
    b'[' * 5000 + b']' * 5000, b'{"a":' * 2000 + b'1' + b'}' * 2000, b'[1, 2]', b'"minutes"', b'12',
    b'[{"minutes": 5}]',
    b'\xff\xfe{}', b'{"minutes": 1' + b'0' * 5000 + b'}'], ids=lambda b: repr(b[:24]))
def test_malformed_json_is_a_4xx_whose_answer_serialises_and_the_body_is_not_logged(api, body, caplog):
    client, app, token = api
    caplog.set_level(logging.DEBUG)
    padded = body if len(body) > 2000 else body.replace(b"{", b'{"' + MARKER.encode() + b'": 0, ', 1)
    for path in ("/api/nudges/rail_lean/snooze", "/api/sim"):
        response = client.post(path, content=padded, headers={"Authorization": f"Bearer {token}",
                                                               "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
        strict_json(response.content)  # the answer itself is strict JSON
        assert response.content.isascii() and len(response.content) < 2000
    assert app.state.source.commands.sent == []
    assert not [r for r in caplog.records if MARKER in r.getMessage() or "udc00" in r.getMessage()]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return TestClient(make_app(folder), raise_server_exceptions=False), PairingStore(folder).new_token()


@given(body=hostile_json(), path=st.sampled_from(POSTS))
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_hostile_json_body_makes_a_server_error(fuzzed, body, path):
    client, token = fuzzed
    response = client.post(path, content=body, headers={"Authorization": f"Bearer {token}",
                                                        "Content-Type": "application/json"})
    assert response.status_code < 500, (body[:80], response.text[:200])
    strict_json(response.content)


# -- 2. body size, and the token checked before the body is read -----------------------------

def _call(app, method, path, headers, body_chunks):
    """One request straight into the ASGI app; returns (status, headers, how many body
    messages the app asked for)."""
    asked, answer = [], {}
    chunks = list(body_chunks)

    async def receive():
        asked.append(1)
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}

    async def run():
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
    asyncio.run(run())
    return answer["status"], answer["headers"], len(asked)


def test_a_change_is_refused_before_a_byte_of_its_body_is_read(api):
    _, app, token = api
    host = {"Host": "127.0.0.1:8080"}
    body = {"Content-Type": "application/json", "Content-Length": "12"}
    status, headers, asked = _call(app, "POST", "/api/ramp/stop", {**host, **body}, [b'{"minutes":1}'])
    assert (status, asked) == (401, 0) and headers["connection"] == "close"
    status, _, asked = _call(app, "POST", "/api/sim", {**host, **body, "Authorization": "Bearer nope"}, [b"{}"])
    assert (status, asked) == (403, 0)
    foreign = {**host, **body, "Authorization": f"Bearer {token}", "Origin": "http://127.0.0.1:9999"}
    assert _call(app, "POST", "/api/sim", foreign, [b"{}"])[::2] == (403, 0)
    huge = {**host, "Authorization": f"Bearer {token}", "Content-Length": str(100 * MB)}
    assert _call(app, "POST", "/api/sim", huge, [b"x"])[::2] == (413, 0)
    assert _call(app, "GET", "/api/status", {**host, "Content-Length": str(100 * MB)}, [b"x"])[::2] == (413, 0)
    # Chunked, with the token: read as it comes and cut off just past the limit.
    chunked = {**host, "Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"}
    status, _, asked = _call(app, "POST", "/api/sim", chunked, [b"x" * 4096] * 1000)
    assert status == 413 and asked == BODY_LIMIT_BYTES // 4096 + 1
    assert app.state.source.commands.sent == []
    # Within the limit, in pieces: the app gets it whole.
    ok = {**host, "Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked",
          "Content-Type": "application/json"}
    assert _call(app, "POST", "/api/sim", ok, [b'{"speed_', b'kmh": 3}'])[0] == 202
    assert app.state.source.commands.sent == [("sim", "speed_kmh", 3.0)]


SERVER = """
import sys
sys.path.insert(0, {root!r})
import uvicorn
from tests.test_hostile_web import make_app
uvicorn.run(make_app({folder!r}), host="127.0.0.1", port={port}, log_level="warning")
"""


def _memory_kb(pid):
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _upload(port, head: bytes, chunks, timeout=20.0):
    """Send `head`, then `chunks` from a second thread while reading the answer; returns
    (status line, bytes of body sent before the server stopped taking them)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(head)
    sent = [0]

    def pump():
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the server answered and closed: what this test wants
    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    answer = b""
    try:
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError as exc:
        answer = answer or f"no answer ({exc})".encode()
    try:
        sock.shutdown(socket.SHUT_RDWR)  # stops the pump if the server has not closed already
    except OSError:
        pass  # it had: nothing left to stop
    pumping.join(timeout=timeout)
    sock.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent[0]


def _fixed(total, piece=b"x" * 65536):
    for _ in range(total // len(piece)):
        yield piece


def _chunked(total, piece=b"x" * 65536):
    framed = b"%x\r\n" % len(piece) + piece + b"\r\n"
    for _ in range(total // len(piece)):
        yield framed
    yield b"0\r\n\r\n"


def test_100_mb_bodies_without_a_token_are_refused_and_the_server_does_not_grow(tmp_path):
    token = PairingStore(tmp_path).new_token("test")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), folder=str(tmp_path), port=port)],
                              cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass  # not up yet: try again until the deadline
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.05)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(3):  # warm every path the uploads take
            httpx.post(f"http://127.0.0.1:{port}/api/sim", json={"speed_kmh": 3}, headers=auth)
            httpx.post(f"http://127.0.0.1:{port}/api/sim", content=b"x" * (BODY_LIMIT_BYTES + 1), headers=auth)
            httpx.post(f"http://127.0.0.1:{port}/api/sim", content=b"{}")
        rss_before, peak_before = _memory_kb(server.pid)

        cases = [
            ("Content-Length, no token", f"Content-Length: {100 * MB}\r\n", _fixed(100 * MB), "413"),
            ("chunked, no token", "Transfer-Encoding: chunked\r\n", _chunked(100 * MB), "401"),
            ("chunked, with the token", f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {token}\r\n",
             _chunked(100 * MB), "413"),
        ]
        for name, extra, body, status in cases:
            head = (f"POST /api/sim HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                    f"{extra}\r\n").encode()
            started = time.monotonic()
            line, sent = _upload(port, head, body)
            took = time.monotonic() - started
            rss, peak = _memory_kb(server.pid)
            print(f"{name}: {line!r} after {took * 1000:.0f} ms, {sent / MB:.1f} MB sent before the close, "
                  f"server RSS {rss_before / 1024:.1f} -> {rss / 1024:.1f} MB (peak {peak_before / 1024:.1f} -> "
                  f"{peak / 1024:.1f} MB)")
            assert line.startswith(f"HTTP/1.1 {status}"), (name, line)
            assert sent < 10 * MB, (name, sent)  # the server closed the connection; it did not read on
            assert (peak - peak_before) < 5 * 1024, (name, rss_before, peak_before, rss, peak)
        assert httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- 3. security headers, and the page framed by another page --------------------------------

def test_every_answer_carries_the_security_headers(api):
    client, _, token = api
    answers = [client.get("/"), client.get("/static/app.js"), client.get("/api/status"), client.get("/openapi.json"),
               client.get("/nowhere"), client.get("/api/status", headers={"Host": "evil.example"}),
               client.post("/api/ramp/stop"), client.post("/api/sim", content=b"{NaN", headers={
                   "Authorization": f"Bearer {token}", "Content-Type": "application/json"}),
               client.post("/api/sim", content=b"x" * (BODY_LIMIT_BYTES + 1))]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 400, 401, 422, 413]
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert {"default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
                "object-src 'none'"} <= {p.strip() for p in policy.split(";")}, answer.url
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in PAGE_POLICY and "unsafe" not in PAGE_POLICY
    docs = client.get("/docs").headers["content-security-policy"]  # the docs' own files, from the Pi only
    assert "http" not in docs and "frame-ancestors 'none'" in docs


def test_the_page_needs_nothing_its_policy_forbids():
    static = ROOT / "pi_service" / "web" / "static"
    page = (static / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page), "an inline style or handler"
    assert not re.search(r"\bsetAttribute\(\s*['\"]style|\.innerHTML\s*=|\beval\(|new Function",
                         (static / "app.js").read_text())


@pytest.fixture
def served(tmp_path):
    """Our app on one port (requests recorded), another page on another: both 127.0.0.1."""
    app = make_app(tmp_path)
    seen = []

    async def recorded(scope, receive, send):
        if scope["type"] == "http":
            seen.append(f"{scope['method']} {scope['path']}")
        await app(scope, receive, send)
    port, other = free_port(), free_port()
    server = uvicorn.Server(uvicorn.Config(recorded, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    attacker = f"""<!doctype html><title>win a treadmill</title>
<p>Click the big button to win!</p>
<iframe id="victim" src="http://127.0.0.1:{port}/" width="390" height="700"
        onload="document.title = 'framed'"></iframe>""".encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(attacker)))
            self.end_headers()
            self.wfile.write(attacker)

        def log_message(self, *args):
            pass  # the attacker's page server stays quiet in the test's output
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", other), Attacker)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield app, port, other, seen
    evil.shutdown()
    server.should_exit = True
    thread.join(timeout=5)


def test_another_page_on_the_pi_cannot_frame_the_page(served):
    from playwright.sync_api import sync_playwright

    from tests.test_page_browser import CHROMIUM
    app, port, other, seen = served
    assert CHROMIUM, "chromium is needed for the browser tests (make test installs Debian's package)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 500, "height": 800})
            page.goto(f"http://127.0.0.1:{other}/")
            page.wait_for_function("document.title === 'framed'", timeout=15_000)
            frame = page.query_selector("#victim").content_frame()
            box = page.query_selector("#victim").bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 150)  # where the nudge's button would be
            assert frame.url != f"http://127.0.0.1:{port}/", "the page loaded inside another site's frame"
            assert frame.url.startswith("chrome-error://"), frame.url
        finally:
            browser.close()
    assert seen == ["GET /"], seen  # the document was fetched and refused: none of its scripts ran
    assert app.state.source.commands.sent == []


# -- 4. exact origin --------------------------------------------------------------------------

@pytest.mark.parametrize("origin,host,same", [
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True), ("http://127.0.0.1", "127.0.0.1:80", True),
    ("http://127.0.0.1:80", "127.0.0.1", True), ("http://Pi.Local:8080", "pi.local:8080", True),
    ("http://[::1]:8080", "[::1]:8080", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8080", False), ("https://127.0.0.1:8080", "127.0.0.1:8080", False),
    ("null", "127.0.0.1:8080", False), ("http://127.0.0.1", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8080/", "127.0.0.1:8080", False), ("http://x@127.0.0.1:8080", "127.0.0.1:8080", False),
    ("http://localhost:8080", "127.0.0.1:8080", False), ("http://127.0.0.1:8080", "", False)])
def test_origin_is_compared_exactly(origin, host, same):
    assert same_origin(origin, host) is same


def test_a_change_from_another_origin_on_the_same_pi_is_refused(api):
    client, app, token = api
    auth = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1:8080"}
    for origin in ("http://127.0.0.1:9999", "https://127.0.0.1:8080", "null", "http://localhost:8080"):
        response = client.post("/api/ramp/stop", headers={**auth, "Origin": origin})
        assert response.status_code == 403 and "not accepted" in response.json()["detail"], origin
    assert app.state.source.commands.sent == []
    assert client.post("/api/ramp/stop", headers={**auth, "Origin": "http://127.0.0.1:8080"}).status_code == 202


# -- 5. wrong tokens: throttled and logged per address, the owner never locked out ------------

def test_wrong_tokens_are_throttled_per_address_and_the_owner_is_not(tmp_path):
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock)
    token = PairingStore(tmp_path).new_token("owner")
    guesser = TestClient(app, client=("192.168.1.66", 40000))
    owner = TestClient(app, client=("192.168.1.20", 40001))
    good, bad = {"Authorization": f"Bearer {token}"}, {"Authorization": "Bearer guess"}

    for _ in range(FAILURES):
        assert guesser.post("/api/ramp/stop", headers=bad).status_code == 403
    refused = guesser.post("/api/ramp/stop", headers=good)  # the right token too: not looked at
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    assert guesser.get("/api/pair/check", headers=good).status_code == 429  # the check endpoint too
    assert owner.post("/api/ramp/stop", headers=good).status_code == 202  # another address: unaffected
    assert guesser.get("/api/status").status_code == 200  # reading stays open
    clock.advance(5)
    assert guesser.post("/api/ramp/stop", headers=good).status_code == 202  # forgiven after the wait

    blocks = []
    for _ in range(6):  # each further burst is held longer, up to the cap
        for _ in range(FAILURES):
            guesser.post("/api/ramp/stop", headers=bad)
        blocks.append(int(guesser.post("/api/ramp/stop", headers=bad).headers["retry-after"]))
        clock.advance(blocks[-1])
    assert blocks == [5, 10, 20, 40, 60, 60] and max(blocks) == MAX_BLOCK_S
    assert app.state.source.commands.sent == [("stop_ramp", "", 0.0)] * 2


def test_2000_guesses_are_a_few_log_lines_naming_the_address(tmp_path, caplog):
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock)
    PairingStore(tmp_path).new_token("owner")
    caplog.set_level(logging.INFO)
    statuses = []
    with TestClient(app, client=("192.168.1.66", 40000)) as guesser:  # one event loop for all 2,000
        for i in range(2000):
            statuses.append(guesser.post("/api/sim", json={"speed_kmh": 3},
                                         headers={"X-Pairing-Token": f"guess-{i}"}).status_code)
            clock.advance(0.01)  # 2,000 guesses in 20 s
    lines = [r for r in caplog.records if r.name == "pi_service.web.throttle"]
    assert statuses.count(403) < 100 and statuses.count(429) > 1900
    assert 1 <= len(lines) <= 20 / LOG_EVERY_S + 1, [r.getMessage() for r in lines]
    assert all(r.levelno == logging.WARNING and "192.168.1.66" in r.getMessage() for r in lines)
    assert "refused unchecked while throttled" in lines[-1].getMessage()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("pi_service", "uvicorn", "fastapi"))]
    assert len(ours) == len(lines), ours


def test_wrong_tokens_from_many_addresses_are_a_bounded_number_of_lines_and_blocks_hold(caplog):
    """Logging was limited per address only: 200,000 guesses from as many IPv6 addresses were
    201,025 WARNING lines, and 1,024 fresh addresses pushed a throttled one out of the table."""
    import logging

    from pi_service.web.throttle import ADDRESSES, LINES_PER_WINDOW, TokenThrottle

    now = [0.0]
    throttle = TokenThrottle(clock=lambda: now[0])
    for _ in range(FAILURES):
        throttle.wrong_token("192.168.1.66")
    assert throttle.retry_after("192.168.1.66") is not None
    with caplog.at_level(logging.WARNING, logger="pi_service.web.throttle"):
        for i in range(20_000):
            now[0] = i * 0.0001  # 20,000 guesses in 2 s
            throttle.wrong_token(f"fd00::{i:x}")
        assert throttle.retry_after("192.168.1.66") is not None  # still throttled: the flood did not lift it
        now[0] = LOG_EVERY_S + 1
        throttle.wrong_token("fd00::ffff:1")  # the next window: its summary line, then this one
    lines = [r.getMessage() for r in caplog.records if r.name == "pi_service.web.throttle"]
    assert len(lines) <= 2 * LINES_PER_WINDOW + 2, len(lines)
    assert any("not logged one by one" in line for line in lines)
    assert len(throttle._addresses) <= ADDRESSES
