"""Bounded HTTP for the page: a body limit on every route, timeouts for slow headers and bodies,
logging that cannot flood, and a graceful stop on SIGTERM. The page itself is the Gradio app."""
from __future__ import annotations

import asyncio
import logging
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

BODY_LIMIT = 64 * 1024  # bytes: a question, its history and Gradio's own envelope fit many times over
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive
BODY_TIMEOUT = 10.0  # seconds between two pieces of a request's body
KEEP_ALIVE = 5.0  # seconds an idle connection stays open
GRACEFUL_STOP = 5.0  # seconds in-flight answers get to finish after SIGTERM
MAX_CONNECTIONS = 512  # beyond this, new requests get 503 instead of taking the process down
LOG_REPEAT_SECONDS = 60.0  # the same log line is written at most once in this time


class SlowHeadersProtocol(H11Protocol):
    """Closes a connection whose request headers take longer than HEADER_TIMEOUT to arrive, on the
    first request and on every later one of a kept-alive connection."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _cancel_deadline(self) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:  # a whole request line and headers arrived
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._cancel_deadline()
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)


class BoundedRequests:
    """ASGI middleware: reads each request body before the app sees it, refusing one over the limit
    (413) or one whose pieces stop coming (408)."""

    def __init__(self, app, max_body: int = BODY_LIMIT, body_timeout: float = BODY_TIMEOUT):
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await _respond(send, 413, f"Request body too large: the limit is {self.max_body} bytes.")
        body, more = b"", True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except asyncio.TimeoutError:
                return await _respond(send, 408, "Request body too slow.")
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await _respond(send, 413, f"Request body too large: the limit is {self.max_body} bytes.")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _respond(send, status: int, text: str) -> None:
    payload = ('{"detail": "%s"}' % text).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class RepeatFilter(logging.Filter):
    """Lets each distinct log line through at most once per LOG_REPEAT_SECONDS, so a fault that
    repeats thousands of times a second (running out of file handles) writes one line a minute."""

    def __init__(self, every: float = LOG_REPEAT_SECONDS):
        super().__init__()
        self.every = every
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        return True


def wait_for_health(url: str, timeout: float = 120.0, interval: float = 0.3) -> bool:
    """Polls a starting page's /api/health until it answers (True) or `timeout` seconds pass (False)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url.rstrip("/") + "/api/health", timeout=2)
            return True
        except OSError:
            time.sleep(interval)
    return False


def configure_logging() -> None:
    """One handler on the root logger, with the repeat filter; uvicorn, asyncio and Gradio log through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def _graceful_server_class():
    import contextlib
    import signal
    import threading

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, but a SIGTERM after the graceful stop ends the process with status 0
        (uvicorn re-raises the signal, which a process manager reads as a crash)."""

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return GracefulServer


def serve(app, host: str, port: int, on_ready=None) -> None:
    """Runs the app until SIGTERM or Ctrl-C; then stops accepting and lets answers in flight finish."""
    import uvicorn

    server_class = _graceful_server_class()
    config = uvicorn.Config(
        BoundedRequests(app), host=host, port=port, http=SlowHeadersProtocol, log_config=None,
        access_log=False, timeout_keep_alive=int(KEEP_ALIVE), timeout_graceful_shutdown=int(GRACEFUL_STOP),
        limit_concurrency=MAX_CONNECTIONS, lifespan="on",
    )
    server = server_class(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets=None):
            await original(sockets=sockets)
            on_ready()

        server.startup = startup
    server.run()
