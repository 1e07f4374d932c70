"""Running an emulator under uvicorn, in the foreground (CLI) or a background thread (tests)."""

import gc
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .asgi import ASGIApp


def _config(app: ASGIApp, loop: str, http: str) -> uvicorn.Config:
    # Hung requests end when the client leaves, so a short graceful shutdown suffices.
    return uvicorn.Config(
        app,
        access_log=False,
        log_level="warning",
        loop=loop,
        http=http,
        ws="none",  # no websocket routes; skips importing a websocket library
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


def run(app: ASGIApp, host: str, port: int) -> None:
    """Serve until interrupted."""
    # What the app built up front (a generated panel is a million objects) lives
    # as long as the process: keep it out of every garbage collection pass.
    gc.freeze()
    sock = _bind(host, port)
    uvicorn.Server(_config(app, loop="uvloop", http="httptools")).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """Serve an app on a free port in a daemon thread: `with BackgroundServer(app) as url:`."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = _bind(host, port)
        self._server = uvicorn.Server(_config(app, loop="auto", http="auto"))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("emulator server did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
