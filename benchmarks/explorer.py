"""Latency of the explorer (`vaekit explore`): decode requests and building the map.

Serves the default model (`make demo`'s digits VAE, trained here unless --run names a run) with the
real server on 127.0.0.1 and times, over one keep-alive HTTP connection:

* a slider update (`POST /api/decode`, what the page sends as a slider moves) and a map click
  (`POST /api/decode_point`): p50 and p95 over --requests requests, beside the same call made
  in-process (no HTTP), so the server's share is visible;
* building the map for --points examples (the digits repeated): encoding, PCA, KL ranking
  (the Explorer), the `/api/map` response, and, when Playwright and chromium are present, the
  page until it is ready (map drawn, first decode, first samples) in headless chromium, and there
  the page's own time from a slider step to the decoded image drawn (on the 10k-point map).

    python benchmarks/explorer.py                      # trains the default run first (~1-2 min)
    python benchmarks/explorer.py --run runs/demo --requests 500 --points 10000
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, markdown_table  # noqa: E402

from vaekit.explore import Explorer, open_explorer  # noqa: E402
from vaekit.explore.server import Limits, create_app  # noqa: E402
from vaekit.explore.serving import RunningServer  # noqa: E402


def default_run(folder: Path) -> Path:
    from vaekit.config import load_config
    from vaekit.runs import train_run

    config = load_config(None, ["train.progress=false", "evaluate.plots=false"])
    train_run(config, folder, log=lambda line: None)
    return folder


def percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def time_http(url: str, path: str, bodies: list[dict]) -> list[float]:
    host, port = url.split("//")[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    times = []
    for body in bodies:
        data = json.dumps(body).encode()
        start = time.perf_counter()
        connection.request("POST", path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
    connection.close()
    return times


def time_calls(call, arguments: list[tuple]) -> list[float]:
    times = []
    for args in arguments:
        start = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - start)
    return times


def browser_timings(url: str, moves: int = 50) -> tuple[float, list[float]] | None:
    """Seconds until the page is ready in headless chromium, and the page's own time (ms) from a slider
    step to the decoded image drawn, for ``moves`` steps (None without Playwright or chromium)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        ready = time.perf_counter() - start
        slider = page.locator("#sliders input").first
        slider.focus()
        page.keyboard.press("Home")
        steps = []
        for _ in range(moves):
            version = page.locator("#decoded").get_attribute("data-version")
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "v => document.querySelector('#decoded').dataset.version !== v", arg=version, timeout=30_000
            )
            steps.append(float(page.locator("#latency").inner_text().split()[2]))  # "decoded in N ms"
        browser.close()
    return ready, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="run folder (default: train the default config)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else default_run(Path(tmp) / "demo")
        explorer = open_explorer(run)
        rows = []
        # --------------------------------------------------- decode latency
        server = RunningServer(create_app(explorer, Limits(rate=1e6, burst=10**6))).start(stop_after=1800)
        gen = np.random.default_rng(0)
        dims = explorer.means.shape[1]
        start = explorer.info()["start"]
        slider = []
        for i in range(args.requests):  # one slider moved step by step, as a drag sends them
            z = list(start)
            z[explorer.dims[0]] = -3 + 6 * i / max(1, args.requests - 1)
            slider.append({"z": z})
        clicks = [{"x": float(x), "y": float(y)} for x, y in gen.normal(size=(args.requests, 2))]
        time_http(server.url, "/api/decode", slider[:20])  # warm-up
        http_decode = percentiles(time_http(server.url, "/api/decode", slider))
        http_point = percentiles(time_http(server.url, "/api/decode_point", clicks))
        direct_decode = percentiles(time_calls(explorer.decode, [(b["z"],) for b in slider]))
        direct_point = percentiles(time_calls(explorer.decode_point, [(b["x"], b["y"]) for b in clicks]))
        server.stop()
        rows.append(["slider update: POST /api/decode (HTTP)", *http_decode])
        rows.append(["slider update: Explorer.decode (in-process)", *direct_decode])
        rows.append(["map click: POST /api/decode_point (HTTP)", *http_point])
        rows.append(["map click: Explorer.decode_point (in-process)", *direct_point])
        table_latency = markdown_table(["request", "p50 ms", "p95 ms"], rows)
        # ------------------------------------------------------ map of N points
        reps = -(-args.points // len(explorer.x))
        x = explorer.x.repeat(reps, *([1] * (explorer.x.dim() - 1)))[: args.points]
        labels = None if explorer.labels is None else explorer.labels.repeat(reps)[: args.points]
        begin = time.perf_counter()
        big = Explorer(explorer.model, x, explorer.view, labels, explorer.class_names)
        build = time.perf_counter() - begin
        server = RunningServer(create_app(big, Limits(rate=1e6, burst=10**6))).start(stop_after=1800)
        connection = http.client.HTTPConnection(*server.url.split("//")[1].rstrip("/").split(":"), timeout=60)
        begin = time.perf_counter()
        connection.request("GET", "/api/map")
        body = connection.getresponse().read()
        fetch = time.perf_counter() - begin
        connection.close()
        in_browser = browser_timings(server.url)
        server.stop()
        ready = "n/a" if in_browser is None else in_browser[0] * 1000
        map_rows = [
            [f"Explorer built: encode {args.points} examples, PCA, KL ranking", build * 1000],
            [f"GET /api/map ({len(body) / 1e6:.2f} MB JSON)", fetch * 1000],
            ["page ready in headless chromium (map drawn, first decode and samples)", ready],
        ]
        if in_browser is not None:
            p50, p95 = np.percentile(in_browser[1], [50, 95])
            rows.append(
                [f"slider step in chromium: request sent to image drawn ({len(in_browser[1])} steps)", p50, p95]
            )
            table_latency = markdown_table(["request", "p50 ms", "p95 ms"], rows)
        table_map = markdown_table([f"map of {args.points} points", "ms"], map_rows)
    source = run if args.run else "the default config (digits, trained here)"
    note = (
        f"Model: {type(explorer.model).__name__} of {source}, "
        f"{dims}-D latent, {sum(p.numel() for p in explorer.model.parameters()):,} parameters; "
        f"{args.requests} requests per row over one keep-alive connection; torch threads {args.threads}. "
        "Goal: < 100 ms per slider update."
    )
    body = f"{note}\n\n{table_latency}\n\n{table_map}"
    print(body)
    if not args.no_append:
        append_results("Explorer latency (benchmarks/explorer.py)", body)


if __name__ == "__main__":
    main()
