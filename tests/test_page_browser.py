"""The phone page in real headless Chromium (Debian's package, driven by Playwright), against
the daemon on the virtual treadmill, and (for the belt alarm's banner, which needs 20 s of
nobody on a moving belt in a daemon) against the web app alone, fed snapshots the test
sets. Screenshots are saved to test-artifacts/."""

import json
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from pi_service.config import Config
from pi_service.pairing import PairingStore
from pi_service.web.app import create_app
from tests.conftest import free_port
from tests.test_daemon import start, stop
from tests.test_web import snapshot
from tests.test_web_api import HOSTS, Source

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if Path(p).exists()), None)

CONFIG = """
[rules.speed_jump]
rise_kmh = 10   # starting the belt is not the jump this test is about
[rules.rail_lean]
session_grace_s = 1
hold_s = 1
"""
SCENARIO = """
name = "page"
[[step]]
duration_s = 5
speed_kmh = 4
note = "walking"
[[step]]
duration_s = 30
rail_left_n = 60
rail_right_n = 60
note = "leaning on the rails"
[[step]]
duration_s = 60
rail_left_n = 0
rail_right_n = 0
note = "walking tall"
"""


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as response:
        return json.loads(response.read())


@pytest.fixture
def daemon(tmp_path):
    assert CHROMIUM, "chromium is needed for the browser tests (make test installs Debian's package)"
    (tmp_path / "config.toml").write_text(CONFIG)
    (tmp_path / "page.toml").write_text(SCENARIO)
    state = tmp_path / "state"
    token = PairingStore(state / "sim").new_token("browser test")  # run --sim keeps its state in sim/
    process, port, _ = start("--config", str(tmp_path / "config.toml"), "--scenario", str(tmp_path / "page.toml"),
                             state=state)
    yield port, token
    stop(process)


def launch(playwright):
    """Debian's Chromium, as the page tests run it (root in a container: no sandbox, no GPU)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def test_the_page_on_a_phone_live_numbers_a_nudge_pairing_and_snooze(daemon, browser):
    port, token = daemon
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                            has_touch=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    requests_out = []
    page.on("request", lambda request: requests_out.append(request.url))

    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'", timeout=10_000)

    # Live numbers change as the sim plays.
    first = page.inner_text("#elapsed"), page.inner_text("#speed")
    page.wait_for_function(f"() => document.getElementById('elapsed').textContent !== {json.dumps(first[0])}",
                           timeout=5_000)
    assert page.inner_text("#speed") not in ("–", "")
    assert page.locator(".uplot").count() == 4  # three live charts and the weekly one

    # A nudge appears with its message when rail_lean fires.
    lean = ".alert-card[data-kind=rail_lean]"
    page.wait_for_selector(lean, timeout=15_000)
    assert "rails" in page.inner_text(f"{lean} .alert-message")
    assert page.inner_text(f"{lean} .alert-kind").lower().startswith("leaning")
    # (Waited for, not read once: a tick whose bus work missed its deadline on a loaded machine
    # publishes the rails as unknown, and the page shows "– N" until the next snapshot.)
    page.wait_for_function("() => parseInt(document.getElementById('rail-total').textContent) > 80", timeout=5_000)
    assert errors == [], errors

    # Fits a phone: nothing wider than the screen, at 390 and at 360 px.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "page-390.png"), full_page=True)

    # Unpaired, snooze is refused and says so; nothing changes.
    page.click(f"{lean} .snooze")
    page.wait_for_selector("#toast:not([hidden])")
    assert "Pair" in page.inner_text("#toast")
    assert status(port)["nudges"]["rail_lean"]["snoozed_s"] == 0

    # Pairing through the link, then snoozing works.
    page.goto(f"http://127.0.0.1:{port}/#token={token}")
    page.wait_for_function("() => document.getElementById('pair-state').dataset.paired === 'yes'", timeout=5_000)
    assert "#token" not in page.url  # the token leaves the address bar
    page.wait_for_selector(f"{lean}[data-quiet=no]", timeout=5_000)
    page.click(f"{lean} .snooze")
    page.wait_for_selector(f"{lean}[data-quiet=yes]", timeout=5_000)  # still shown (it is active), quietly
    assert status(port)["nudges"]["rail_lean"]["snoozed_s"] > 500

    page.set_viewport_size({"width": 360, "height": 740})
    time.sleep(0.3)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    page.click("#theme")
    page.screenshot(path=str(ARTIFACTS / "page-360-theme.png"), full_page=True)

    # Everything came from the Pi itself.
    assert all(url.startswith(f"http://127.0.0.1:{port}/") or url.startswith("data:") for url in requests_out), \
        [u for u in requests_out if "127.0.0.1" not in u]
    unexpected = [e for e in errors if "status of 401" not in e]  # the unpaired snooze, on purpose
    assert unexpected == [], unexpected


class SetBoard:
    """A snapshot board that is always fresh (so the page stays "live") and holds what the test set."""

    def __init__(self, **overrides):
        self.overrides = overrides

    def read(self, wait_s=None):
        return snapshot(**self.overrides)


@pytest.fixture
def web_alone(tmp_path):
    assert CHROMIUM, "chromium is needed for the browser tests (make test installs Debian's package)"
    source = Source()
    source.board = SetBoard(cadence_spm=112.0, footstrike_g=0.42, faults=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(source, Config(), hosts=HOSTS, folder=tmp_path),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the web app did not start within 5 s"
    yield port, source.board
    server.should_exit = True
    thread.join(timeout=5)


UNATTENDED = {"kind": "unattended_belt", "since_t": 1.0, "detail": {},
              "message": "The belt is running and nobody is walking on it: stop the belt now with the safety key "
                         "(or the STOP button) before anyone steps on."}
OVERSTRIDE = {"kind": "overstride", "since_t": 1.0, "detail": {},
              "message": "Long, slow strides at this speed land hard: take shorter, quicker steps."}


def test_the_belt_alarm_banner_comes_and_goes_with_the_alert_and_cadence_shows(web_alone, browser):
    port, board = web_alone
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                            has_touch=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => document.getElementById('cadence').textContent === '112'", timeout=10_000)
    assert page.inner_text("#footstrike") == "0.42"
    assert page.locator("#alarm").is_hidden()

    board.overrides.update(alerts=[UNATTENDED], cadence_spm=0.0, footstrike_g=0.0)
    page.wait_for_selector("#alarm:not([hidden])", timeout=5_000)
    assert "stop the belt with the safety key" in page.inner_text("#alarm")
    assert page.inner_text("#cadence") == "0"  # nobody stepping reads 0, not "unknown"
    box = page.locator("#alarm").bounding_box()
    assert box["x"] == 0 and box["y"] == 0 and box["width"] == 390  # the whole width, at the top
    assert page.locator(".alert-card").count() == 0  # no card, no snooze button, for the alarm
    page.evaluate("window.scrollTo(0, 600)")
    assert page.locator("#alarm").bounding_box()["y"] == 0  # stays in view
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "page-alarm-390-light.png"))
    page.set_viewport_size({"width": 844, "height": 390})  # phone landscape: the banner is one line
    speed = page.locator("#speed").bounding_box()
    assert speed["y"] >= page.locator("#alarm").bounding_box()["height"] and speed["y"] + speed["height"] <= 390
    page.screenshot(path=str(ARTIFACTS / "page-alarm-844x390-light.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "page-alarm-390-dark.png"))

    # The alarm over, an overstride: the banner goes, the overstride is an ordinary nudge.
    board.overrides.update(alerts=[OVERSTRIDE], cadence_spm=None, footstrike_g=None)
    page.wait_for_selector("#alarm", state="hidden", timeout=5_000)
    page.wait_for_selector(".alert-card[data-kind=overstride]", timeout=5_000)
    assert page.inner_text(".alert-card[data-kind=overstride] .alert-kind").lower() == "overstriding"
    assert page.inner_text("#cadence") == "–" and page.inner_text("#footstrike") == "–"  # unknown
    assert errors == [], errors
