"""The live page as a workout display, in Debian's Chromium (Playwright) against one real sim
daemon for the whole module: the sim controls drive it through the demo's states (warm-up,
two alerts at once, the ramp's countdown, the ramp, stale) and at phone portrait, phone
landscape and tablet, light and dark, speed, incline and time must be inside the first
screen and uncovered, the speed the largest number. Also: the stale banner within 2 s of
the daemon stopping, charts drawn at once from /api/recent, the Wake Lock during a session,
the service worker's offline page, axe-core, and no request leaving the Pi. Screenshots go
to test-artifacts/page/<state>-<viewport>-<theme>.png."""

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from pi_service.pairing import PairingStore
from tests.test_daemon import STARTED, start
from tests.test_page_browser import CHROMIUM, launch

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "page"
AXE = ROOT / ".node" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": (390, 844), "landscape": (844, 390), "tablet": (1180, 820)}
THEMES = ("light", "dark")

# Timings that reach each state within seconds: the lean raises rail_lean and rail_hold
# together; a 5 % climb is "steep" after 2 s and its ramp-down is announced 15 s before it
# is due, then runs slowly (0.1 %/s) so that it is still running while it is looked at.
CONFIG = """
demo = true
[rules]
session_end_s = 3
[rules.rail_lean]
session_grace_s = 1
hold_s = 1
[rules.rail_hold]
hold_s = 2
[rules.steep_incline]
grade_pct = 3
dip_pct = 2.5
release_pct = 2.5
hold_s = 2
[rules.speed_jump]
rise_kmh = 10
[rules.no_warmup]
max_incline_pct = 20
[actions]
ramp_after_s = 17
ramp_announce_s = 15
ramp_to_pct = 1
ramp_rate_pct_s = 0.1
"""
SCENARIO = """
name = "layouts"
[[step]]
duration_s = 3600
speed_kmh = 4
note = "walking"
"""


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
        return json.loads(response.read())


def wait_status(port, check, what, timeout=30.0):
    """The daemon's status once `check` holds for it, or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        status = get(port, "/api/status")
        if check(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s: {what}; last status: alerts "
                                 f"{[a['kind'] for a in status['alerts']]}, ramp {status.get('ramp')}, "
                                 f"incline {status['incline_pct']}, session {status['session']}")
        time.sleep(0.1)


class Daemon:
    def __init__(self, tmp):
        (tmp / "config.toml").write_text(CONFIG)
        (tmp / "layouts.toml").write_text(SCENARIO)
        state = tmp / "state"
        self.token = PairingStore(state / "sim").new_token("layout test")
        self.process, self.port, _ = start("--config", str(tmp / "config.toml"), "--scenario",
                                           str(tmp / "layouts.toml"), state=state)
        # One daemon for the module: conftest's per-test clean-up must leave it; the fixture stops it.
        STARTED.remove(self.process)
        self.base = f"http://127.0.0.1:{self.port}"

    def sim(self, **body):
        """A sim control, and once the sampler has taken it (the status says it holds it)."""
        request = urllib.request.Request(f"{self.base}/api/sim", data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=3) as response:
            assert response.status == 202
        (name, value), = body.items()
        name = {"lean": "lean"}.get(name, name)
        wait_status(self.port, lambda s: s["sim"]["held"][name] == value, f"the sim holding {body}", timeout=3)

    def kill(self, sig=signal.SIGKILL):
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)  # its own process group: the sampler too
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    assert CHROMIUM, "chromium is needed for the browser tests (make test installs Debian's package)"
    running = Daemon(tmp_path_factory.mktemp("layouts"))
    yield running
    running.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def open_page(browser, daemon, path="/", **context_args):
    context = browser.new_context(viewport={"width": 390, "height": 844}, **context_args)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(f"page error: {error}"))
    page.on("console", lambda m: page.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.goto(daemon.base + path)
    return page


def live(page):
    page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'", timeout=10_000)


FIRST_SCREEN = """() => {
  const figures = ["speed", "incline", "elapsed"].map((id) => {
    const e = document.getElementById(id), r = e.getBoundingClientRect();
    // covered: what the browser finds at the centre and near the corners of the number is the number
    const points = [[0.5, 0.5], [0.15, 0.2], [0.85, 0.2], [0.15, 0.8], [0.85, 0.8]];
    const covered = points.filter(([fx, fy]) => {
      const hit = document.elementFromPoint(r.left + fx * r.width, r.top + fy * r.height);
      return !(hit && (hit === e || e.contains(hit)));
    }).length > 0;
    return { id, left: r.left, top: r.top, right: r.right, bottom: r.bottom, height: r.height, covered,
      font: parseFloat(getComputedStyle(e).fontSize), text: e.textContent };
  });
  const fonts = [...document.querySelectorAll(".live .num")].map((e) => parseFloat(getComputedStyle(e).fontSize));
  return { figures, fonts, width: innerWidth, height: innerHeight, scrollWidth: document.scrollingElement.scrollWidth,
    background: getComputedStyle(document.body).backgroundColor };
}"""


def settle(page):
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def check_first_screen(page, state, speed_tops=None):
    """At each viewport and theme: speed, incline and time inside the screen, uncovered, the
    speed the largest; a screenshot of each. Returns the speed's top edge per viewport."""
    tops = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            settle(page)
            seen = page.evaluate(FIRST_SCREEN)
            where = f"{state} at {width}x{height} {theme}"
            for figure in seen["figures"]:
                assert figure["left"] >= 0 and figure["top"] >= 0, (where, figure)
                assert figure["right"] <= width and figure["bottom"] <= height, (where, figure)
                assert not figure["covered"], (where, figure)
            speed = seen["figures"][0]
            assert speed["font"] > max(seen["fonts"]) and speed["height"] > max(f["height"] for f in seen["figures"][1:]), \
                (where, speed, seen["fonts"])
            assert seen["scrollWidth"] <= width, (where, "wider than the screen", seen["scrollWidth"])
            dark = sum(int(c) for c in seen["background"][4:-1].split(",")[:3]) < 200
            assert dark == (theme == "dark"), (where, seen["background"])
            tops[name] = speed["top"]
            page.screenshot(path=str(SHOTS / f"{state}-{width}x{height}-{theme}.png"))
    if speed_tops is not None:  # cards appearing beside the numbers never move them
        for name, top in tops.items():
            assert abs(top - speed_tops[name]) <= 1, (state, name, "the speed moved", top, speed_tops[name])
    return tops


def test_every_state_keeps_speed_incline_and_time_on_the_first_screen(daemon, browser):
    page = open_page(browser, daemon)
    live(page)

    # Warm-up: walking, no alert.
    wait_status(daemon.port, lambda s: s["session"] and s["session"]["elapsed_s"] > 2 and (s["speed_kmh"] or 0) > 1
                and not s["alerts"], "a session walking with no alert")
    page.wait_for_function("() => document.getElementById('elapsed').textContent !== '–'", timeout=5_000)
    assert page.locator(".alert-card").count() == 0 and page.locator("#calm").is_visible()
    tops = check_first_screen(page, "warmup")

    # Two alerts at once, each with a time that ticks on the page's clock.
    daemon.sim(lean=True)
    wait_status(daemon.port, lambda s: {"rail_lean", "rail_hold"} <= {a["kind"] for a in s["alerts"]},
                "rail_lean and rail_hold raised together")
    page.wait_for_selector(".alert-card[data-kind=rail_lean]", timeout=5_000)
    page.wait_for_selector(".alert-card[data-kind=rail_hold]", timeout=5_000)
    ticking = page.inner_text(".alert-card[data-kind=rail_lean] .alert-for")
    assert ticking.startswith("for 0:0"), ticking
    page.wait_for_function("(was) => document.querySelector('.alert-card[data-kind=rail_lean] .alert-for')"
                           ".textContent !== was", arg=ticking, timeout=3_000)
    check_first_screen(page, "two-alerts", tops)
    # The gauge's lean mark sits where leaning starts (80 N of a 160 N scale here) and the total passes it.
    mark = page.evaluate("() => document.getElementById('lean-mark').style.left")
    assert mark == "50%", mark
    assert page.get_attribute("#rail-gauge", "data-leaning") == "yes"

    # The ramp announced: a countdown to its due time, ticking, and the one button that defers it.
    daemon.sim(lean=False)
    daemon.sim(incline_pct=5)
    status = wait_status(daemon.port, lambda s: s["ramp"]["state"] == "announced", "the ramp-down announced")
    page.wait_for_selector("#ramp[data-state=announced]", timeout=5_000)
    countdown = page.inner_text("#ramp-countdown")
    minutes, seconds = countdown.split(":")
    left = int(minutes) * 60 + int(seconds)
    assert 0 < left <= 15 and abs(left - (status["ramp"]["due_t"] - status["t"])) < 3, (countdown, status["ramp"])
    page.wait_for_function("(was) => document.getElementById('ramp-countdown').textContent !== was",
                           arg=countdown, timeout=3_000)
    assert "no ramp-down" in page.inner_text("#ramp-leave").lower() and page.is_visible("#ramp-leave")
    assert page.locator(".alert-card[data-kind=steep_incline] .ack").count() == 0  # the one button is the ramp's
    check_first_screen(page, "ramp-countdown", tops)

    # The ramp under way.
    wait_status(daemon.port, lambda s: s["ramp"]["state"] == "ramping", "the ramp-down under way", timeout=30)
    page.wait_for_selector("#ramp[data-state=ramping]", timeout=5_000)
    assert page.is_visible("#ramp-stop")
    check_first_screen(page, "ramp", tops)
    assert page.errors == [], page.errors
    page.context.close()


def test_a_refused_command_shows_the_companions_reason(daemon, browser):
    page = open_page(browser, daemon, f"/#token={daemon.token}")
    live(page)
    page.wait_for_function("() => document.getElementById('pair-state').dataset.paired === 'yes'", timeout=5_000)
    # Acknowledging an instant rule does nothing (its moment has passed): 409, and the page says why.
    page.evaluate("() => post('/api/nudges/speed_jump/acknowledge')")  # the page's own helper
    page.wait_for_selector("#toast:not([hidden])", timeout=3_000)
    text = page.inner_text("#toast")
    assert "409" not in text and "instant rule" in text, text
    page.context.close()


def test_the_sim_sliders_follow_the_treadmill_and_a_refused_change_goes_back(daemon, browser):
    paired = open_page(browser, daemon, f"/#token={daemon.token}")
    live(paired)
    paired.wait_for_function("() => document.getElementById('pair-state').dataset.paired === 'yes'", timeout=5_000)
    # Changed from elsewhere (another phone, the API): the slider shows what the treadmill holds.
    daemon.sim(speed_kmh=3)
    paired.wait_for_function("() => document.getElementById('sim-speed').value === '3' && "
                             "document.getElementById('sim-speed-out').textContent === '3'", timeout=5_000)
    # Moved here and taken: it stays where it was put while the snapshots catch up, then follows them.
    paired.fill("#sim-speed", "5")
    wait_status(daemon.port, lambda s: s["sim"]["held"]["speed_kmh"] == 5.0, "the slider's 5 km/h held", timeout=5)
    paired.wait_for_timeout(2_000)  # past the page's 1.5 s hold of the person's value
    assert paired.evaluate("() => document.getElementById('sim-speed').value") == "5"
    # Refused (this page is not paired): back to the treadmill's value at once, and it says why.
    stranger = open_page(browser, daemon)
    live(stranger)
    stranger.wait_for_function("() => document.getElementById('sim-speed').value === '5'", timeout=5_000)
    stranger.fill("#sim-speed", "9")
    stranger.wait_for_selector("#toast:not([hidden])", timeout=3_000)
    stranger.wait_for_function("() => document.getElementById('sim-speed').value === '5' && "
                               "document.getElementById('sim-speed-out').textContent === '5'", timeout=2_000)
    assert get(daemon.port, "/api/status")["sim"]["held"]["speed_kmh"] == 5.0  # nothing changed
    stranger.context.close()
    paired.context.close()
    daemon.sim(speed_kmh=4)


def test_a_reload_draws_the_last_minutes_at_once(daemon, browser):
    # The daemon has run for a while (the states above): its last minutes are drawn before
    # the stream could have brought more than a point or two.
    page = open_page(browser, daemon)
    started = time.monotonic()
    page.wait_for_function("() => window.treadmillPage && window.treadmillPage.charts.length === 3 && "
                           "window.treadmillPage.charts[0].data[0].length > 10", timeout=3_000)
    assert time.monotonic() - started < 3
    points = page.evaluate("() => window.treadmillPage.charts.map((c) => c.data[0].length)")
    assert min(points) > 10, points
    # The time axis says minutes ago, each label once.
    labels = page.evaluate("() => window.treadmillPage.charts[0].axes[0]._values")  # (uPlot draws them on a canvas)
    assert labels and len(labels) == len(set(labels)) and labels[-1] == "now", labels
    page.context.close()


WAKE_RECORDER = """
window.__wake = { requests: [], released: 0, real: null };
if (navigator.wakeLock) {
  const real = navigator.wakeLock.request.bind(navigator.wakeLock);
  navigator.wakeLock.request = (type) => {
    window.__wake.requests.push(type);
    const asked = real(type);
    asked.then((lock) => {
      window.__wake.real = "granted:" + lock.type;
      lock.addEventListener("release", () => { window.__wake.released += 1; });
    }, (error) => { window.__wake.real = "refused:" + error.name; });
    return asked;
  };
}
"""


def test_the_screen_is_kept_awake_during_a_session_and_let_go_after(daemon, browser):
    wait_status(daemon.port, lambda s: s["session"] is not None, "a session")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(WAKE_RECORDER)
    page = context.new_page()
    page.goto(daemon.base + "/")
    live(page)
    page.wait_for_function("() => window.__wake.requests.length > 0 && window.__wake.real !== null", timeout=5_000)
    wake = page.evaluate("() => window.__wake")
    assert wake["requests"][0] == "screen"
    # Headless Chromium grants it (a visible page in a secure context: 127.0.0.1 is one).
    assert wake["real"] == "granted:screen", wake
    assert page.evaluate("() => window.treadmillPage.wakeLock !== null && !window.treadmillPage.wakeLock.released")

    # The session ends (the belt stopped past session_end_s): the lock is let go, and the
    # history list shows the session closed, without a reload.
    daemon.sim(speed_kmh=0)
    wait_status(daemon.port, lambda s: s["session"] is None, "the session over", timeout=30)
    page.wait_for_function("() => window.__wake.released > 0", timeout=5_000)
    deadline = time.monotonic() + 10
    while get(daemon.port, "/api/sessions?limit=1")["sessions"][0]["ended_at"] is None:
        assert time.monotonic() < deadline, "the session is not closed in the history 10 s after it ended"
        time.sleep(0.2)
    page.wait_for_function("() => { const first = document.querySelector('#sessions li');"
                           " return first && !first.textContent.includes('(now)'); }", timeout=5_000)
    assert page.evaluate("() => window.treadmillPage.wakeLock") is None
    context.close()


def test_the_session_page_shows_its_charts_events_and_exports(daemon, browser):
    sessions = get(daemon.port, "/api/sessions?limit=5")["sessions"]
    closed = [s for s in sessions if s["ended_at"]]
    assert closed, sessions
    session = closed[0]
    requests_out = []
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.on("request", lambda request: requests_out.append(request.url))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{daemon.base}/session/{session['id']}")
    page.wait_for_selector("#summary-card:not([hidden])", timeout=5_000)
    page.wait_for_function("() => window.treadmillSession && window.treadmillSession.charts.length === 4", timeout=5_000)
    points = page.evaluate("() => window.treadmillSession.charts.map((c) => c.data[0].length)")
    assert min(points) > 5, points
    assert page.locator("#events li").count() > 0  # the lean, the climb, the ramp
    summary = page.inner_text("#summary")
    assert "distance" in summary and "calories" in summary
    for format in ("fit", "tcx", "csv"):
        href = page.get_attribute(f"#export-{format}", "href")
        assert href == f"/api/sessions/{session['id']}/export?format={format}"
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename.endswith(".csv")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "session-390x844-light.png"), full_page=True)
    page.set_viewport_size({"width": 1180, "height": 820})
    page.emulate_media(color_scheme="dark")
    settle(page)
    page.screenshot(path=str(SHOTS / "session-1180x820-dark.png"), full_page=True)
    # A session that is not there says so.
    page.goto(f"{daemon.base}/session/999999")
    page.wait_for_function("() => document.getElementById('state').textContent.includes('no session')", timeout=5_000)
    assert errors == [], errors
    assert all(url.startswith(daemon.base + "/") for url in requests_out), requests_out
    context.close()


def test_without_the_wake_lock_a_tap_starts_the_video_that_keeps_the_screen_on(daemon, browser):
    # A phone on http://<pi>:8080 is not a secure context: no navigator.wakeLock. As there,
    # the page falls back to NoSleep.js's silent looping video, which needs a tap to start.
    daemon.sim(speed_kmh=4)
    wait_status(daemon.port, lambda s: s["session"] is not None, "a session again")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script("delete Navigator.prototype.wakeLock;")
    page = context.new_page()
    page.goto(daemon.base + "/")
    live(page)
    assert page.evaluate("() => 'wakeLock' in navigator") is False
    page.wait_for_selector("#screen-tap:not([hidden])", timeout=5_000)  # the page asks for the tap
    assert page.evaluate("() => window.treadmillPage.screenVideo") == {"on": False, "paused": True}
    check_first_screen(page, "screen-tap")  # the hint beside the numbers, not over them
    page.set_viewport_size({"width": 390, "height": 844})
    page.click(".brand")  # a tap anywhere
    page.wait_for_function("() => window.treadmillPage.screenVideo.on", timeout=5_000)
    assert page.evaluate("() => window.treadmillPage.screenVideo.paused") is False  # Chromium plays it
    assert page.locator("#screen-tap").is_hidden()
    daemon.sim(speed_kmh=0)
    wait_status(daemon.port, lambda s: s["session"] is None, "the session over", timeout=30)
    page.wait_for_function("() => !window.treadmillPage.screenVideo.on", timeout=5_000)
    assert page.evaluate("() => window.treadmillPage.screenVideo.paused") is True  # the screen may sleep again
    assert page.locator("#screen-tap").is_hidden()
    context.close()


def test_axe_finds_no_serious_violation_at_any_viewport_or_theme(daemon, browser):
    assert AXE.exists(), "axe-core is installed into .node by `make test` (npm, Makefile NODE_STAMP)"
    daemon.sim(speed_kmh=4)
    daemon.sim(lean=True)
    wait_status(daemon.port, lambda s: {"rail_lean", "rail_hold"} <= {a["kind"] for a in s["alerts"]},
                "two alerts again, for their cards")
    page = open_page(browser, daemon)
    live(page)
    page.wait_for_selector(".alert-card[data-kind=rail_lean]", timeout=5_000)
    # (Evaluated through the DevTools protocol: the page's own policy refuses an inline <script>.)
    page.evaluate(AXE.read_text() + "\n;0")
    assert page.evaluate("() => typeof axe.run") == "function"
    found = {}
    for name, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            settle(page)
            result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
            bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
            found[f"{name}-{theme}"] = bad
    assert all(not bad for bad in found.values()), found
    daemon.sim(lean=False)
    page.context.close()


def test_no_request_leaves_the_pi_on_the_page_or_the_api_docs(daemon, browser):
    context = browser.new_context(viewport={"width": 1180, "height": 820})
    page = context.new_page()
    reached = []

    def network(route):  # every request that reaches the network; anything not the daemon's is cut off
        reached.append(route.request.url)
        route.continue_() if route.request.url.startswith(daemon.base + "/") else route.abort()

    page.route("**/*", network)
    sessions = get(daemon.port, "/api/sessions?limit=1")["sessions"]
    pages = [("/", "#speed"), ("/docs", ".swagger-ui .opblock"), ("/redoc", "[data-section-id^='operation/']")]
    if sessions:
        pages.append((f"/session/{sessions[0]['id']}", "#summary-card:not([hidden])"))
    for path, ready in pages:
        page.goto(daemon.base + path)
        page.wait_for_selector(ready, timeout=10_000)
    page.wait_for_timeout(300)  # (not an assertion: lets a late image or font ask, if any would)
    outside = [url for url in reached if not url.startswith(daemon.base + "/")]
    assert reached and outside == [], outside
    context.close()


def test_the_service_worker_serves_the_page_offline(daemon, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(daemon.base + "/")
    live(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null || "
                           "navigator.serviceWorker.ready.then(() => false)", timeout=10_000)
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10_000)
    cached = page.evaluate("async () => (await (await caches.open('treadmill-companion-v1')).keys())"
                           ".map((r) => new URL(r.url).pathname)")
    assert "/" in cached and "/static/app.js" in cached and not any(p.startswith("/api/") for p in cached), cached
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#speed", timeout=10_000)
    assert page.locator(".uplot").count() == 4  # the shell and its scripts came from the cache
    page.wait_for_selector("#stale:not([hidden])", timeout=5_000)  # and it says there is no live data
    page.goto(daemon.base + "/session/1")
    page.wait_for_function("() => document.getElementById('state').textContent.includes('No connection')",
                           timeout=10_000)
    context.close()


def test_the_stale_banner_shows_within_two_seconds_of_the_daemon_stopping(daemon, browser):
    daemon.sim(speed_kmh=4)
    wait_status(daemon.port, lambda s: s["session"] is not None and (s["speed_kmh"] or 0) > 1, "walking again")
    page = open_page(browser, daemon)
    live(page)
    assert page.locator("#stale").is_hidden()
    page.wait_for_function("() => document.getElementById('speed').textContent !== '–'", timeout=5_000)
    daemon.kill(signal.SIGKILL)
    stopped = time.monotonic()
    page.wait_for_selector("#stale:not([hidden])", timeout=2_000)
    took = time.monotonic() - stopped
    print(f"stale banner {took:.2f} s after SIGKILL")
    assert took < 2
    assert "No live data" in page.inner_text("#stale") and page.inner_text("#conn") == "no live data"
    greyed = page.evaluate("() => [getComputedStyle(document.getElementById('speed')).color, "
                           "getComputedStyle(document.getElementById('incline')).color]")
    normal = page.evaluate("() => getComputedStyle(document.querySelector('.brand')).color")
    assert greyed[0] == greyed[1] != normal, (greyed, normal)
    check_first_screen(page, "stale")
    page.context.close()
