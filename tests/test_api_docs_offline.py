"""/docs (Swagger UI) and /redoc render the API from the Pi's own files: in Debian's Chromium
(Playwright), against a daemon on the virtual treadmill, the endpoints' names show and not
one request goes anywhere but the daemon's 127.0.0.1 address (spec 5.5: nothing loaded from
outside the Pi, the API docs pages included), with no CSP violation."""

import pytest
from playwright.sync_api import sync_playwright

from tests.test_daemon import start, stop
from tests.test_page_browser import CHROMIUM


@pytest.fixture  # (conftest ends every daemon a test leaves: one each)
def daemon():
    process, port, _ = start()
    yield port
    stop(process)


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "chromium is needed for the browser tests (make test installs Debian's package)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.mark.parametrize("path,shown", [
    ("/docs", ".opblock-summary-path"),  # Swagger UI's row per operation
    ("/redoc", "[data-section-id^='tag/'], [data-section-id^='operation/']"),  # ReDoc's menu entries
])
def test_the_api_docs_render_from_the_pi_alone(daemon, browser, path, shown):
    port = daemon
    origin = f"http://127.0.0.1:{port}"
    page = browser.new_page()
    attempted, fetched, failed, problems = [], [], {}, []
    page.on("request", lambda request: attempted.append(request.url))
    page.on("requestfailed", lambda request: failed.__setitem__(request.url, request.failure))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    def network(route):  # every request that reaches the network; anything not the daemon's is cut off
        fetched.append(route.request.url)
        route.continue_() if route.request.url.startswith(origin + "/") else route.abort()

    page.route("**/*", network)
    page.goto(origin + path, wait_until="networkidle")
    page.wait_for_selector(shown, timeout=20_000)
    text = page.inner_text("body")
    if path == "/docs":
        for endpoint in ("/api/status", "/api/recent", "/api/sim", "/api/ramp/stop"):
            assert endpoint in text, endpoint
    else:
        for summary in ("the last minutes at 1 Hz", "sim mode only"):
            assert summary in text, summary
    page.wait_for_load_state("networkidle")
    assert [url for url in fetched if not url.startswith(origin + "/")] == []
    assert any("/static-offline-docs/" in url for url in fetched)  # the scripts came from the Pi
    # ReDoc's footer links to Redocly with a logo from its CDN, in its bundle unconditionally:
    # the docs' policy refuses it in the browser, so it never reaches the network (above).
    outside = [url for url in attempted if not url.startswith((origin + "/", "blob:", "data:"))]
    assert all(failed.get(url) == "csp" for url in outside), (outside, failed)  # Chromium: blocked by CSP
    assert outside == ([] if path == "/docs" else ["https://cdn.redoc.ly/redoc/logo-mini.svg"])
    refused = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert all("cdn.redoc.ly" in p for p in refused), refused
    page.close()
