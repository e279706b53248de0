"""The explorer's HTTP API and its security rules, through FastAPI's in-process test client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vaekit.cli import app as cli_app
from vaekit.explore import open_explorer
from vaekit.explore.server import Limits, RateLimiter, create_app
from vaekit.explore.serving import LOOPBACK_NAMES, RunningServer


@pytest.fixture(scope="module")
def explorer(digits_run):
    return open_explorer(digits_run)


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer))


def test_page_and_its_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("app.js", "style.css", "view-image.js", "view-table.js"):
        assert f"{name}" in page.text or name.startswith("view-")
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 100
    # Nothing is loaded from elsewhere, and the browser is told so.
    assert "http://" not in page.text.replace('"http://www.w3.org', "") and "https://" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_info_map_and_example(client, explorer):
    info = client.get("/api/info").json()
    assert info["latent_dim"] == 4 and info["view"]["kind"] == "image" and info["script"] == "view-image.js"
    assert [s["dim"] for s in info["sliders"]] == explorer.dims and all(s["low"] < s["high"] for s in info["sliders"])
    response = client.get("/api/map")
    points = response.json()
    # four decimals on the wire, not float32's rounding noise (-0.03319999948...)
    assert all(len(repr(v).split(".")[-1]) <= 4 for v in points["x"] + points["y"])
    assert len(response.content) < 300 * 2 * 12 + 2000
    assert len(points["x"]) == len(points["y"]) == len(points["labels"]) == len(explorer.x) == 300
    one = client.get("/api/example/7").json()
    assert one["index"] == 7 and one["payload"]["png"].startswith("data:image/png;base64,")
    assert one["point"] == pytest.approx([points["x"][7], points["y"][7]], abs=1e-3)


def test_generation_endpoints(client):
    decoded = client.post("/api/decode", json={"z": [0.1, 0.2, 0.3, 0.4]})
    assert decoded.status_code == 200 and decoded.json()["z"] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert client.post("/api/decode_point", json={"x": 1.0, "y": -1.0}).json()["point"] == [1.0, -1.0]
    strip = client.post("/api/interpolate", json={"a": 1, "b": 2, "steps": 5, "method": "slerp"}).json()
    assert len(strip["payloads"]) == 5
    grid = client.post("/api/samples", json={"n": 6, "temperature": 0.5, "seed": 1}).json()
    assert len(grid["payloads"]) == 6


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/decode", {"z": [0.0, 1.0]}),  # wrong latent size: 400
        ("/api/decode", {"z": [0.0, 1.0, 2.0, 1e9]}),  # out of bounds
        ("/api/decode", {"z": [0.0] * 4, "path": "/etc/passwd"}),  # unknown field
        ("/api/interpolate", {"a": 0, "b": 1, "steps": 1000}),  # too much work
        ("/api/interpolate", {"a": 0, "b": 1, "method": "../x"}),
        ("/api/samples", {"n": 10_000}),
        ("/api/samples", {"temperature": 0}),
        ("/api/decode_point", {"x": "nan", "y": 0}),
    ],
)
def test_bad_requests_are_refused(client, path, body):
    assert client.post(path, json=body).status_code in (400, 422)


def test_non_finite_latents_are_refused(client):
    body = b'{"z": [NaN, 0, 0, 0]}'
    assert client.post("/api/decode", content=body, headers={"content-type": "application/json"}).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/static/../config.yaml",
        "/static/%2e%2e/config.yaml",
        "/static/..%2fconfig.yaml",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/%2fetc%2fpasswd",
        "/static/__init__.py",
        "/config.yaml",
        "/model/model.safetensors",
        "/api/example/..%2f..%2fconfig.yaml",
        "/api/example/100000",
    ],
)
def test_paths_outside_the_page_are_refused(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404, 422)
    assert b"seed" not in response.content and b"root:" not in response.content


def test_request_bodies_are_bounded(explorer):
    client = TestClient(create_app(explorer, Limits(max_body=1000)))
    assert client.post("/api/decode", json={"z": [0.0] * 4}).status_code == 200
    big = {"z": [0.123456789] * 200}
    assert client.post("/api/decode", json=big).status_code == 413

    def chunks():  # no Content-Length: counted while it streams
        yield b'{"z": ['
        for _ in range(200):
            yield b"0.123456789,"
        yield b"0]}"

    response = client.post("/api/decode", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_request_rate_is_bounded(explorer):
    client = TestClient(create_app(explorer, Limits(rate=0.001, burst=5)))
    codes = [client.get("/api/info").status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    limiter = RateLimiter(rate=10.0, burst=2, clock=lambda: now[0])
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")  # buckets are per client
    now[0] = 0.05  # half a token's worth at 10/s
    assert not limiter.allow("a")
    now[0] = 0.11  # one token
    assert limiter.allow("a") and not limiter.allow("a")
    now[0] = 10.0  # a long pause saves up no more than the burst
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")


def test_an_anomaly_detector_serves_scores_and_heat_maps(detector):
    folder, data = detector
    client = TestClient(create_app(open_explorer(folder, data=str(data))))
    summary = client.get("/api/anomaly").json()
    assert summary["top"] and sum(summary["counts"]) + summary["overflow"] == 50
    worst = summary["top"][0]["index"]
    heat = client.get(f"/api/anomaly/explain/{worst}").json()
    assert heat["index"] == worst and heat["heat"]["heat"].startswith("data:image/png")
    assert client.get("/api/info").json()["anomaly"] is True


def test_a_model_without_a_detector_has_no_anomaly_endpoint(client):
    assert client.get("/api/anomaly").status_code == 400


def test_server_listens_on_loopback_and_stops(explorer):
    import socket
    import urllib.request

    server = RunningServer(create_app(explorer)).start(stop_after=60)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        # A TCP socket, so that asyncio turns Nagle's algorithm off on its connections (else ~40 ms per request).
        assert server.socket.proto == socket.IPPROTO_TCP
        with urllib.request.urlopen(server.url + "api/info", timeout=10) as response:
            assert response.status == 200
    finally:
        server.stop()
    assert not server.thread.is_alive()


def test_cli_refuses_another_host_without_the_flag(digits_run):
    result = CliRunner().invoke(cli_app, ["explore", str(digits_run), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-remote" in result.output


def test_cli_warns_when_it_listens_beyond_loopback(digits_run):
    # 127.0.0.2 is on this machine, but not the default address: it takes the flag and gets the warning.
    options = ["--host", "127.0.0.2", "--allow-remote", "--port", "0", "--stop-after", "0.5"]
    result = CliRunner().invoke(cli_app, ["explore", str(digits_run), *options])
    assert result.exit_code == 0, result.output
    assert "warning: listening on 127.0.0.2" in result.output and "http://127.0.0.2:" in result.output


def test_cli_names_a_missing_run(tmp_path):
    result = CliRunner().invoke(cli_app, ["explore", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such run" in result.output


@pytest.mark.slow
def test_the_command_prints_its_url_and_serves_until_stopped(digits_run):
    import json
    import os
    import re
    import subprocess
    import sys
    import threading
    import urllib.request

    command = [sys.executable, "-m", "vaekit.cli", "explore", str(digits_run), "--port", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    killer = threading.Timer(120, process.kill)  # bounded, whatever happens
    killer.start()
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        with urllib.request.urlopen(url.group(0) + "api/info", timeout=30) as response:
            assert json.load(response)["latent_dim"] == 4
    finally:
        process.terminate()
        process.wait(30)
        killer.cancel()
    assert process.returncode is not None


def test_a_loopback_server_answers_only_loopback_host_names(explorer):
    client = TestClient(create_app(explorer, allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8765")
    assert client.get("/api/info").status_code == 200
    assert client.get("/api/info", headers={"host": "localhost:8765"}).status_code == 200
    # A page on another site whose DNS name was rebound to 127.0.0.1 still sends its own name.
    assert client.get("/api/info", headers={"host": "evil.example:8765"}).status_code == 400
