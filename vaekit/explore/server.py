"""The explorer's web server: a FastAPI app over one :class:`~vaekit.explore.explorer.Explorer`.

Security rules (the server is meant for one user on their own machine):

* It listens on 127.0.0.1 unless the command line asks for another host explicitly (:mod:`.serving`).
* Static files are read from the package once, at start-up, into memory; a request names an asset
  only by a key of that table, so no path from a request reaches the filesystem.
* Requests carry numbers only (indices, latents, settings), validated with bounds; no request
  names a model or a file, and nothing is unpickled.
* On the loopback address, only requests whose ``Host`` is a loopback name are answered (no DNS rebinding).
* Request bodies are bounded (:attr:`Limits.max_body`) and each client's request rate is
  bounded by a token bucket (:attr:`Limits.rate`, :attr:`Limits.burst`): over it, 413 and 429.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vaekit.explore.explorer import ExploreError, Explorer

STATIC_PACKAGE = "vaekit.explore.static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
# The page loads nothing from elsewhere: scripts, styles and connections only from this server;
# pictures also as data: URLs (the views send PNGs inline).
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass
class Limits:
    """Bounds on what one client may ask of the server.

    Attributes:
        max_body: largest request body in bytes (a latent of a few thousand numbers fits).
        rate: sustained requests per second per client (a dragged slider sends tens).
        burst: requests a client may send at once above the rate.
    """

    max_body: int = 256 * 1024
    rate: float = 100.0
    burst: int = 200


def static_assets() -> dict[str, tuple[bytes, str]]:
    """Every shipped static file, by name: (content, media type). Read once from the package data."""
    assets = {}
    for entry in resources.files(STATIC_PACKAGE).iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in MEDIA_TYPES:
            assets[entry.name] = (entry.read_bytes(), MEDIA_TYPES[suffix])
    return assets


class RateLimiter:
    """A token bucket per client address: ``rate`` tokens a second, at most ``burst`` saved up.

    ``clock`` gives the time in seconds (``time.monotonic``; tests pass their own).
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 1024, clock: Any = time.monotonic):
        self.rate, self.burst, self.max_clients, self.clock = rate, burst, max_clients, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Take one token for ``client``; False when its bucket is empty."""
        now = self.clock()
        with self._lock:
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()  # bounded memory; forgetting buckets only lets clients start full again
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return False
            self._buckets[client] = (tokens - 1.0, now)
            return True


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_body`` bytes (413), by header and while they stream."""

    def __init__(self, app: Any, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _plain_response(send, 413, "request body too large")
            return
        received, too_large = 0, False

        async def bounded_receive() -> dict:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    return {"type": "http.disconnect"}  # the app stops reading; the 413 below answers
            return message

        async def guarded_send(message: dict) -> None:
            if not too_large:
                await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await _plain_response(send, 413, "request body too large")


async def _plain_response(send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ requests: numbers only, bounded
class Strict(BaseModel):
    """Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class DecodeRequest(Strict):
    z: list[float] = Field(min_length=1, max_length=65536)
    label: int | None = Field(default=None, ge=0, le=100_000)


class PointRequest(Strict):
    x: float = Field(allow_inf_nan=False, ge=-1e4, le=1e4)
    y: float = Field(allow_inf_nan=False, ge=-1e4, le=1e4)
    label: int | None = Field(default=None, ge=0, le=100_000)


class InterpolateRequest(Strict):
    a: int = Field(ge=0)
    b: int = Field(ge=0)
    steps: int = Field(default=8, ge=2, le=Explorer.MAX_STEPS)
    method: str = Field(default="lerp", pattern="^(lerp|slerp)$")
    label: int | None = Field(default=None, ge=0, le=100_000)


class SampleRequest(Strict):
    n: int = Field(default=16, ge=1, le=Explorer.MAX_SAMPLES)
    temperature: float = Field(default=1.0, gt=0.0, le=5.0, allow_inf_nan=False)
    label: int | None = Field(default=None, ge=0, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


def create_app(explorer: Explorer, limits: Limits | None = None, allowed_hosts: list[str] | None = None) -> Any:
    """The FastAPI application serving ``explorer`` (see the module docstring for its rules).

    Args:
        explorer: what to serve.
        limits: request size and rate bounds.
        allowed_hosts: accepted ``Host`` headers (without port), e.g. ``serving.LOOPBACK_NAMES`` for a
            server on 127.0.0.1, so that a web page cannot reach it through a DNS name rebound to this
            machine. None accepts any.
    """
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    limits = limits or Limits()
    assets = static_assets()
    limiter = RateLimiter(limits.rate, limits.burst)
    app = FastAPI(title="vaekit explorer", docs_url=None, redoc_url=None, openapi_url=None)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            return JSONResponse({"detail": "too many requests"}, status_code=429, headers={"Retry-After": "1"})
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def run(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except ExploreError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None

    def asset(name: str) -> Response:
        if name not in assets:  # a key of the in-memory table, never a path
            raise HTTPException(status_code=404, detail="not found")
        content, media_type = assets[name]
        return Response(content, media_type=media_type)

    @app.get("/")
    async def index() -> Response:
        return asset("index.html")

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        return asset(name)

    # The quick calls (one decode is well under a millisecond for small models) run on the event loop:
    # a hop to the thread pool costs more than the call on a busy machine (p50 6.4 -> 2.0 ms measured).
    # The slower ones (interpolation, samples, anomaly scores) stay in the thread pool.
    @app.get("/api/info")
    async def info() -> dict:
        return explorer.info()

    @app.get("/api/map")
    async def latent_map() -> dict:
        return explorer.map()

    @app.get("/api/example/{index}")
    async def example(index: int) -> dict:
        return run(explorer.example, index)

    @app.post("/api/decode")
    async def decode(request: DecodeRequest) -> dict:
        if not all(math.isfinite(v) and abs(v) <= 1e4 for v in request.z):
            raise HTTPException(status_code=422, detail="latent values must be finite numbers within ±1e4")
        return run(explorer.decode, request.z, request.label)

    @app.post("/api/decode_point")
    async def decode_point(request: PointRequest) -> dict:
        return run(explorer.decode_point, request.x, request.y, request.label)

    @app.post("/api/interpolate")
    def interpolate(request: InterpolateRequest) -> dict:
        return run(explorer.interpolate, request.a, request.b, request.steps, request.method, request.label)

    @app.post("/api/samples")
    def samples(request: SampleRequest) -> dict:
        return run(explorer.samples, request.n, request.temperature, request.label, request.seed)

    @app.get("/api/anomaly")
    def anomaly() -> dict:
        return run(explorer.anomaly)

    @app.get("/api/anomaly/explain/{index}")
    def explain(index: int) -> dict:
        return run(explorer.explain, index)

    return BodyLimit(app, limits.max_body)
