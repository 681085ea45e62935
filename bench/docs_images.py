"""Redraw the README's pictures from the demo's outputs: the map page and a bulletin page.

Run after ``make demo`` and ``.venv/bin/pestcast bulletin``:
``.venv/bin/python bench/docs_images.py``. Both are drawn by Debian's headless Chromium
(``make browser``), the map page at 1200 × 800 with the default view (brown planthopper, 7 days).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from pestcast.flows.bulletin import CHROMIUM, render_page_png

REQUIRES = ["outputs/demo/latest/map.html", "outputs/demo/bulletins"]
ROOT = Path(__file__).parents[1]
IMAGES = ROOT / "docs" / "img"


def map_page_png(page_html: Path, png: Path) -> Path:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(page_html.resolve().as_uri())
        page.wait_for_function("window.pestcastMap && window.pestcastMap.drawnCount() > 0")
        page.screenshot(path=str(png))
        browser.close()
    return png


def main() -> None:
    bulletins = sorted((ROOT / "outputs" / "demo" / "bulletins").iterdir())
    print(map_page_png(ROOT / "outputs/demo/latest/map.html", IMAGES / "demo_map_page.png"))
    print(render_page_png(bulletins[-1] / "bulletin.html", IMAGES / "bulletin_page.png", scale=1.0))


if __name__ == "__main__":
    main()
