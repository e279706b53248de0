"""The explorer page in a real browser: Playwright driving Debian's chromium, headless.

Playwright never downloads a browser here: it is pointed at the system's ``chromium``. Without
Playwright or chromium these tests skip and say which is missing.
"""

from __future__ import annotations

import shutil

import pytest

from vaekit.explore import open_explorer
from vaekit.explore.server import create_app
from vaekit.explore.serving import RunningServer

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium); browser tests skipped"
)


@pytest.fixture(scope="module")
def server(digits_run):
    running = RunningServer(create_app(open_explorer(digits_run))).start(stop_after=300)  # stops by itself
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        except sync_api.Error as error:  # e.g. a chromium that cannot start in this container
            pytest.skip(f"chromium at {CHROMIUM} does not start: {str(error).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()


def decoded_src(page) -> str:
    return page.locator("#decoded img").get_attribute("src")


def test_page_loads_without_console_errors(page):
    assert page.problems == []
    assert page.locator("#status").inner_text() == "ready"
    assert page.locator("#sliders input").count() == 4
    assert page.locator("#samples img").count() == 16
    assert page.locator("#legend span").count() == 10


def test_moving_a_slider_changes_the_image(page):
    before = decoded_src(page)
    slider = page.locator("#sliders input").first
    slider.focus()
    page.keyboard.press("End")  # the slider's maximum, as a user would move it
    page.wait_for_function("before => document.querySelector('#decoded img').src !== before", arg=before)
    assert decoded_src(page) != before and page.problems == []
    assert "decoded in" in page.locator("#latency").inner_text()


def test_a_click_on_the_map_decodes_that_point(page, server):
    import json
    import urllib.request

    canvas = page.locator("#map")
    box = canvas.bounding_box()
    fx, fy = 0.3, 0.6
    with page.expect_response("**/api/decode_point") as answer:
        canvas.click(position={"x": fx * box["width"], "y": fy * box["height"]})
    request = json.loads(answer.value.request.post_data)
    bounds = {k: float(canvas.get_attribute(f"data-{k}")) for k in ("x0", "x1", "y0", "y1")}
    # The decoded latent is the one under the clicked pixel (the map's y axis points up).
    assert request["x"] == pytest.approx(bounds["x0"] + fx * (bounds["x1"] - bounds["x0"]), rel=0.02, abs=1e-3)
    assert request["y"] == pytest.approx(bounds["y1"] - fy * (bounds["y1"] - bounds["y0"]), rel=0.02, abs=1e-3)
    body = json.dumps({"x": request["x"], "y": request["y"]}).encode()
    post = urllib.request.Request(server.url + "api/decode_point", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=10) as response:
        expected = json.load(response)["payload"]["png"]
    page.wait_for_function("png => document.querySelector('#decoded img').src === png", arg=expected)


def test_hovering_a_point_shows_the_example(page):
    canvas = page.locator("#map")
    x0, x1, y0, y1 = (float(canvas.get_attribute(f"data-{k}")) for k in ("x0", "x1", "y0", "y1"))
    point = page.evaluate("fetch('/api/example/0').then(r => r.json()).then(e => e.point)")
    box = canvas.bounding_box()
    canvas.hover(
        position={"x": (point[0] - x0) / (x1 - x0) * box["width"], "y": (y1 - point[1]) / (y1 - y0) * box["height"]}
    )
    page.wait_for_selector("#tooltip:not(.hidden) img")
    assert page.locator("#tooltip").inner_text().startswith("#")


def test_the_interpolation_strip_appears(page):
    canvas = page.locator("#map")
    box = canvas.bounding_box()
    page.locator("#mode-a").click()
    canvas.click(position={"x": 0.25 * box["width"], "y": 0.5 * box["height"]})
    canvas.click(position={"x": 0.75 * box["width"], "y": 0.5 * box["height"]})  # picking A moves on to B
    page.wait_for_function("() => document.querySelectorAll('#strip img').length === 8")
    page.locator("#interp-method").select_option("slerp")
    page.locator("#interp-steps").fill("5")
    page.locator("#interp-go").click()
    page.wait_for_function("() => document.querySelectorAll('#strip img').length === 5")
    assert page.problems == []


def test_a_path_outside_the_run_is_refused(page, server):
    for path in ("static/..%2f..%2fconfig.yaml", "static/%2e%2e%2fmodel%2fconfig.json", "config.yaml"):
        response = page.request.get(server.url + path)
        assert response.status == 404, path
    status = page.evaluate("fetch('/static/..%2F..%2F..%2Fetc%2Fpasswd').then(r => r.status)")
    assert status == 404


def test_a_text_run_shows_sentences_and_a_slider_changes_the_sentence(browser, text_run):
    running = RunningServer(create_app(open_explorer(text_run))).start(stop_after=300)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(running.url)
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#samples .sentence").count() == 16
        slider = page.locator("#sliders input").first
        slider.focus()
        with page.expect_response("**/api/decode") as response:
            page.keyboard.press("End")  # the slider's maximum: the page asks the server to decode it
        sentence = response.value.json()["payload"]["text"]
        page.wait_for_function(
            "text => document.querySelector('#decoded .sentence').textContent === text", arg=sentence or "(empty)"
        )
        assert problems == []
    finally:
        context.close()
        running.stop()
