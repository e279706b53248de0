"""Draw a screenshot of the explorer page with Playwright and the system's chromium (never a downloaded one).

    python docs/screenshot.py RUN [--out docs/explorer.png] [--data FILE]

The page is driven as a user would: a slider moved, two examples picked for an interpolation.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from vaekit.explore import open_explorer
from vaekit.explore.server import create_app
from vaekit.explore.serving import RunningServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder, saved model or anomaly detector")
    parser.add_argument("--out", default="docs/explorer.png")
    parser.add_argument("--data", default=None)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH")
    server = RunningServer(create_app(open_explorer(args.run, args.data))).start(stop_after=120)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            canvas = page.locator("#map")
            box = canvas.bounding_box()
            page.locator("#mode-a").click()
            canvas.click(position={"x": 0.3 * box["width"], "y": 0.35 * box["height"]})
            canvas.click(position={"x": 0.7 * box["width"], "y": 0.65 * box["height"]})
            page.wait_for_selector("#strip img")
            slider = page.locator("#sliders input").first
            slider.focus()
            for _ in range(60):
                page.keyboard.press("ArrowRight")
            page.wait_for_timeout(500)
            canvas.hover(position={"x": 0.5 * box["width"], "y": 0.5 * box["height"]})
            page.wait_for_timeout(300)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
