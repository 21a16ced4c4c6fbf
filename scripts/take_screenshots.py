"""Regenerate the README's screenshots (assets/screenshots/*.png) from the running app.

    python scripts/take_screenshots.py

Starts `streamlit run app.py` on a free port, drives Debian's Chromium with Playwright: trains a
short run on the Train page, draws a 3 on the Draw page, and opens Look inside.
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.app_server import launch_chromium, running_app  # noqa: E402

OUT = ROOT / "assets" / "screenshots"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_app() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/train?epochs=3&lr=0.002")
        page.get_by_role("button", name="▶ Start").click()
        page.wait_for_timeout(6000)
        page.screenshot(path=str(OUT / "train.png"))
        page.get_by_text("finished", exact=False).first.wait_for(timeout=180_000)
        page.get_by_role("link", name="Draw a digit").click()
        canvas = page.locator("canvas").last
        canvas.wait_for()
        page.wait_for_timeout(1500)
        box = canvas.bounding_box()
        x0, y0 = box["x"], box["y"]
        page.mouse.move(x0 + 90, y0 + 70)
        page.mouse.down()
        for x, y in [(140, 50), (190, 75), (150, 135), (195, 185), (140, 225), (85, 205)]:
            page.mouse.move(x0 + x, y0 + y, steps=8)
        page.mouse.up()
        page.wait_for_timeout(2500)
        page.screenshot(path=str(OUT / "draw.png"))
        page.get_by_role("link", name="Look inside").click()
        page.wait_for_timeout(6000)
        page.screenshot(path=str(OUT / "look_inside.png"), full_page=True)
        browser.close()
    print("wrote", *sorted(p.name for p in OUT.glob("*.png")))


if __name__ == "__main__":
    main()
