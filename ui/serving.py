"""Bounded HTTP for the page: a body limit on every route, timeouts for slow headers and bodies (a
gap between pieces and a deadline for the whole), a cap on one client's bodies in flight, per-client
rate limits, one log line (no traceback) for a request the app fails on, logging that cannot flood,
and a graceful stop on SIGTERM. The page itself is the Gradio app."""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter, OrderedDict, deque

from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.safe_text import for_terminal

BODY_LIMIT = 64 * 1024  # bytes: a question, its history and Gradio's own envelope fit many times over
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive
BODY_TIMEOUT = 10.0  # seconds between two pieces of a request's body
BODY_DEADLINE = 20.0  # seconds for a whole request body, however it trickles
BODIES_PER_CLIENT = 16  # requests of one client address sending their body at once; more get 429
KEEP_ALIVE = 5.0  # seconds an idle connection stays open
GRACEFUL_STOP = 5.0  # seconds in-flight answers get to finish after SIGTERM
MAX_CONNECTIONS = 512  # beyond this, new requests get 503 instead of taking the process down
LOG_REPEAT_SECONDS = 60.0  # the same log line is written at most once in this time
LOG_LINES_PER_MINUTE = 60  # and one logger writes at most this many lines a minute
_log = logging.getLogger("ui.serving")


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
    (413), one whose pieces stop coming or that is not whole by the deadline (408), and one more than
    `per_client` of a client address already sending (429). A request the app fails on is one log
    line, never a traceback, and gets a 500 if nothing was sent yet."""

    def __init__(self, app, max_body: int = BODY_LIMIT, body_timeout: float = BODY_TIMEOUT,
                 body_deadline: float = BODY_DEADLINE, per_client: int = BODIES_PER_CLIENT):
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout
        self.body_deadline, self.per_client = body_deadline, per_client
        self._sending: Counter = Counter()  # client address → bodies being read

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await _respond(send, 413, f"Request body too large: the limit is {self.max_body} bytes.")
        client = client_address(scope)
        has_body = (declared not in (None, b"0")) or b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if has_body and self._sending[client] >= self.per_client:
            return await _respond(send, 429, "Too many requests sending at once from your address.",
                                  retry_after=self.body_timeout)
        self._sending[client] += has_body
        try:
            body = await self._read_body(receive)
        finally:
            self._sending[client] -= has_body
            if self._sending[client] <= 0:
                del self._sending[client]
        if isinstance(body, int):
            return None if body == 0 else await _respond(
                send, body, "Request body too slow." if body == 408 else
                f"Request body too large: the limit is {self.max_body} bytes.")
        return await self._run(scope, body, receive, send)

    async def _read_body(self, receive) -> bytes | int:
        """The whole body, or the status that ends the request (0: the client went away)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_deadline
        body, more = b"", True
        while more:
            left = min(self.body_timeout, deadline - loop.time())
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), left)
            except asyncio.TimeoutError:
                return 408
            if message["type"] == "http.disconnect":
                return 0
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return 413
        return body

    async def _run(self, scope, body: bytes, receive, send):
        replayed, started = False, False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def sending(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            return await self.app(scope, replay, sending)
        except Exception as e:  # noqa: BLE001 - one line for the log, not a traceback per bad request
            _log.warning("%s %s failed: %s: %s", for_terminal(scope.get("method", "?"))[:10],
                         for_terminal(str(scope.get("path", "?"))[:100]), type(e).__name__,
                         for_terminal(str(e).splitlines()[0][:200]) if str(e) else "")
            if not started:
                await _respond(send, 500, "The server could not handle this request.")
            return None


def client_address(scope) -> str:
    """The client's address; an IPv6 one by its /64 network (one household or host can have many)."""
    client = scope.get("client")
    address = str(client[0]) if client else "?"
    return ":".join(address.split(":")[:4]) + "::/64" if ":" in address else address


class RateLimit:
    """At most `per_minute` events per key in any minute (a sliding window); thread-safe. The least
    recently seen keys are forgotten beyond `keys`."""

    def __init__(self, per_minute: int, keys: int = 10_000):
        self.per_minute, self.keys = per_minute, keys
        self._seen: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 when the event may happen now (and it is counted), else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.pop(key, None) or deque()
            self._seen[key] = seen  # now the most recent
            while len(self._seen) > self.keys:
                self._seen.popitem(last=False)
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(0.0, 60.0 - (now - seen[0]))
            seen.append(now)
            return 0.0


async def _respond(send, status: int, text: str, retry_after: float | None = None) -> None:
    payload = ('{"detail": "%s"}' % text).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RepeatFilter(logging.Filter):
    """Lets each distinct log line (as written, with its values) through at most once per
    LOG_REPEAT_SECONDS, so a fault that repeats thousands of times a second (running out of file
    handles) writes one line a minute, while a second, different fault is still written; and each
    logger at most LOG_LINES_PER_MINUTE lines a minute, so varied lines cannot flood the log."""

    def __init__(self, every: float = LOG_REPEAT_SECONDS, per_minute: int = LOG_LINES_PER_MINUTE):
        super().__init__()
        self.every = every
        self._last: dict[tuple[str, str], float] = {}
        self._budget = RateLimit(per_minute)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            said = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is still one line
            said = str(record.msg)
        key = (record.name, said[:200])
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            return False
        if self._budget.wait(record.name) > 0:
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        if record.exc_info and record.exc_info[1] is not None:  # one line, no traceback: what failed
            error = record.exc_info[1]
            record.msg, record.args = f"{said} ({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''})", None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
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
