"""Draws the web app's PNG icons (192 and 512 px) from static/icons/icon.svg with Debian's
Chromium through Playwright, the same browser the page's tests use. Run once after changing
the SVG: `.venv/bin/python tools/make_icons.py`; the PNGs are committed."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parents[1] / "pi_service" / "web" / "static" / "icons"
SIZES = (192, 512)


def main() -> None:
    chromium = next(p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if p and Path(p).exists())
    svg = (ICONS / "icon.svg").read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for size in SIZES:
            page = browser.new_page(viewport={"width": size, "height": size})
            page.set_content(f"<style>html,body{{margin:0}}svg{{display:block;width:{size}px;height:{size}px}}</style>{svg}")
            page.screenshot(path=str(ICONS / f"icon-{size}.png"), omit_background=False)
            page.close()
        browser.close()
    for size in SIZES:
        print(ICONS / f"icon-{size}.png")


if __name__ == "__main__":
    main()
