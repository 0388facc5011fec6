"""Bounded HTTP on the real page process: body limits on every route, slow clients timed out,
a graceful stop on SIGTERM, and logging that a repeating fault cannot flood."""
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import PROJECT, free_port
from ui.serving import BODY_LIMIT, HEADER_TIMEOUT, RepeatFilter


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/ask", "/gradio_api/queue/join", "/gradio_api/call/chat"])
def test_body_over_the_limit_is_refused_on_every_route(page, path):
    _, url, _ = page
    assert post(url + path, b"x" * (BODY_LIMIT + 1)) == 413


def test_small_body_still_reaches_the_page(page):
    _, url, _ = page
    assert post(url + "/gradio_api/call/chat", b'{"data": ["How can I prevent slouching?"]}') == 200


def test_slow_headers_and_slow_bodies_are_cut_off(page):
    _, _, port = page
    results = {}

    def slow_headers():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            s.settimeout(HEADER_TIMEOUT * 3)
            try:
                while s.recv(1024):
                    pass
            except OSError:
                pass
            results["headers"] = time.monotonic() - t0

    def slow_body():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /gradio_api/call/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"data\":")
            s.settimeout(HEADER_TIMEOUT * 3)
            results["body"] = s.recv(1024)

    threads = [threading.Thread(target=slow_headers), threading.Thread(target=slow_body)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=HEADER_TIMEOUT * 4)
    assert results["headers"] < HEADER_TIMEOUT * 2
    assert results["body"].startswith(b"HTTP/1.1 408")


def test_repeated_log_lines_are_written_once_a_minute():
    records = []
    logger = logging.getLogger("test.flood")
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(RepeatFilter())
    logger.addHandler(handler)
    try:
        for _ in range(1000):
            logger.error("accept failed: Too many open files")
        logger.error("another fault")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["accept failed: Too many open files", "another fault"]


def test_sigterm_stops_accepting_finishes_in_flight_and_exits_zero(page):
    proc, url, _ = page
    answers = []

    def ask():
        answers.append(post(url + "/gradio_api/call/chat", b'{"data": ["Which muscles support the spine?"]}'))

    asking = threading.Thread(target=ask)
    asking.start()
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    asking.join(timeout=30)
    assert proc.wait(timeout=30) == 0
    assert answers == [200]
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/api/health", timeout=2)


@pytest.mark.slow
def test_running_out_of_file_handles_recovers_and_logs_little(settings, tmp_path):
    """Opt-in (pytest -m slow): the page with 64 file handles, held open by 150 idle connections."""
    import resource

    port = free_port()
    log = tmp_path / "page.log"

    def few_handles():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port), "--index", str(settings.index_dir),
                                 "--corpus", str(settings.corpus_dir)], cwd=PROJECT, stdout=out, stderr=out,
                                preexec_fn=few_handles)
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        held = []
        for _ in range(150):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        time.sleep(5)
        for s in held:
            s.close()
        time.sleep(HEADER_TIMEOUT)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        assert log.stat().st_size < 100_000
    finally:
        proc.terminate()
        proc.wait(timeout=30)
