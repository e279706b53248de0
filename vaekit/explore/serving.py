"""Running the explorer's app with uvicorn on a socket bound before it starts (so port 0 works and the
URL is known), in the foreground (the command line) or in a background thread (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from typing import Any

LOCAL_HOST = "127.0.0.1"
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]


class RunningServer:
    """A uvicorn server on an already-bound socket, run in a background thread (tests, benchmarks) or in
    the foreground (the command line).

    Args:
        app: the ASGI app (:func:`create_app`).
        host: address to listen on.
        port: port; 0 picks a free one (see :attr:`url`).
    """

    def __init__(self, app: Any, host: str = LOCAL_HOST, port: int = 0):
        import socket

        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it,
        # Nagle's algorithm and delayed ACKs hold every keep-alive response back by ~40 ms.
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(128)  # connections wait in the backlog from the moment the URL is printed
        bound_host, bound_port = self.socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"
        config = uvicorn.Config(app, log_level="warning", access_log=False, limit_concurrency=64, timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def serve_forever(self, stop_after: float | None = None) -> None:
        """Serve in this thread until interrupted (Ctrl-C), or for ``stop_after`` seconds."""
        timer = None
        if stop_after is not None:
            timer = threading.Timer(stop_after, self._request_exit)
            timer.daemon = True
            timer.start()
        try:
            self.server.run(sockets=[self.socket])
        finally:
            if timer is not None:
                timer.cancel()

    def _request_exit(self) -> None:
        self.server.should_exit = True

    def start(self, timeout: float = 30.0, stop_after: float | None = None) -> RunningServer:
        """Serve in a daemon thread; return once it accepts connections.

        Args:
            timeout: seconds to wait for the server to start.
            stop_after: stop by itself after this many seconds (a bound for tests).
        """
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the explorer server did not start")
            time.sleep(0.02)
        if stop_after is not None:
            timer = threading.Timer(stop_after, self.stop)
            timer.daemon = True
            timer.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self.socket.close()
