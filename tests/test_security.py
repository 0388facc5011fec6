"""Security and privacy, tried as an attacker would: content and visitors' text is never markup or a
command on any channel; one client cannot stall the server or flood its log; the gap log cannot be
forged or flooded, forgets, and keeps no contact details; bad intake is an error naming the file."""
import json
import logging
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from bot import BackCareBot, gaps
from bot.build import build_index
from bot.conversation import clean_question
from bot.errors import InvalidFeedbackError
from bot.safe_text import for_terminal, markdown_text, redacted, web_url
from bot.settings import Settings
from conftest import CORPUS, PROJECT, running_page
from test_hardening import assert_clean_error, run_build
from ui.serving import BoundedRequests, RateLimit, RepeatFilter

QUIET = {"progress": False, "log": lambda *_: None}
HOSTILE = """---
title: Desk posture <b>tips</b>
source: javascript:alert(5)
---
# Sitting at a desk

Sit tall at your desk with your feet flat <img src=x onerror=alert(1)> and your screen at eye level.

Every half hour stand up <script>alert(2)</script> and stretch your back for a minute.

Read [this guide](javascript:alert(3)) about keeping a **neutral spine** while you sit at a desk.
"""
MARKUP = ("<img", "<script", "<b>", "onerror=alert(1)>")


def has_markup(text: str) -> bool:
    """Live HTML, or a markdown link a renderer would follow (an escaped bracket is text)."""
    import re

    return any(m in text for m in MARKUP) or bool(re.search(r"(?<!\\)\]\(javascript", text))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "back-exercises.txt", corpus / "back-exercises.txt")
    (corpus / "desk.md").write_text(HOSTILE, encoding="utf-8")
    s = replace(Settings(), corpus_dir=corpus, index_dir=root / "index")
    report = build_index(s, **QUIET)
    assert any("desk.md" in w and "not a web address" in w for w in report.warnings), report.warnings
    return s


@pytest.fixture(scope="module")
def hostile_bot(hostile) -> BackCareBot:
    return BackCareBot.load(index_dir=hostile.index_dir, corpus_dir=hostile.corpus_dir)


@pytest.fixture(scope="module")
def server(hostile):
    """The real page process on the hostile corpus, on 127.0.0.1."""
    with running_page(hostile) as running:
        yield running


def post(url: str, path: str, payload, timeout: float = 30.0):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, e.headers, json.loads(body) if body.startswith(b"{") else body


def get(url: str, path: str, timeout: float = 30.0) -> int:
    try:
        with urllib.request.urlopen(url + path, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# ---- injection ----------------------------------------------------------------------------------

def test_safe_text_helpers():
    assert markdown_text("a <b> & [x](javascript:y) *z*") == r"a &lt;b&gt; &amp; \[x\](javascript:y) \*z\*"
    assert web_url("javascript:alert(5)") == "" and web_url("file:///etc/passwd") == ""
    assert web_url(" https://example.org/back ") == "https://example.org/back"
    assert web_url("http://") == "" and web_url("https://exa mple.org") == ""
    for hostile in ("https://a/<img/src=x/onerror=alert(1)>", "https://x.org/[a](javascript:alert(1))"):
        assert not any(c in web_url(hostile) for c in "<>()[]"), web_url(hostile)
    assert for_terminal("a\x1b[2Jb\nRed flags") == "a\\x1b[2Jb\\nRed flags"


def test_content_markup_is_text_in_the_python_api(hostile_bot):
    answer = hostile_bot.ask("How should I sit at my desk?")
    assert answer.in_scope and any(c.doc_id == "desk.md" for c in answer.citations), answer.text
    for field in (answer.text, answer.body):
        assert not has_markup(field), field
    assert "&lt;img" in answer.text or "&lt;script" in answer.text or "\\[this guide\\]" in answer.text
    assert all(c.url == "" for c in answer.citations if c.doc_id == "desk.md")


def test_content_markup_and_bad_links_never_reach_api_clients(server):
    _, url, _ = server
    status, _, body = post(url, "/api/ask", {"question": "How should I sit at my desk?"})
    assert status == 200
    assert not has_markup(body["text"]), body["text"]
    desk = [c for c in body["citations"] if c["source"].startswith("Desk posture")]
    assert desk and all(c["url"] == "" for c in desk)
    assert all(c["url"] == "" or c["url"].startswith(("http://", "https://")) for c in body["citations"])
    # the page's own markdown channel too
    status, _, joined = post(url, "/gradio_api/call/chat", {"data": ["How should I sit at my desk?"]})
    assert status == 200
    with urllib.request.urlopen(f"{url}/gradio_api/call/chat/{joined['event_id']}", timeout=60) as r:
        stream = r.read().decode()
    data = [json.loads(line[5:]) for line in stream.splitlines() if line.startswith("data:")]
    assert data and data[-1] and not has_markup(data[-1][0]), stream


def test_a_zero_width_space_inside_a_word_is_removed_not_a_space(bot):
    assert clean_question("slou\u200bching at my d\u200desk\ufeff", 1000).text == "slouching at my desk"
    answer = bot.ask("How can I stop slou\u200bching?")
    assert answer.in_scope and answer.kind == "answer", answer.text
    assert "ching" not in answer.lead


# ---- one client cannot stall the server ---------------------------------------------------------

def test_trickled_bodies_on_hundreds_of_connections_leave_the_server_answering(server):
    _, url, port = server
    sockets = []
    try:
        for _ in range(300):  # from another loopback address: one client, not the one asking below
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
            s.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{")
            sockets.append(s)
        time.sleep(1.0)
        for s in sockets:  # a byte more on each that is still open
            try:
                s.sendall(b" ")
            except OSError:
                pass
        assert get(url, "/api/health", timeout=10) == 200
        status, _, body = post(url, "/api/ask", {"question": "How can I prevent slouching?"}, timeout=10)
        assert status == 200 and body["in_scope"]
        refused = 0
        for s in sockets:
            s.settimeout(0.2)
            try:
                refused += b" 429 " in s.recv(200)
            except OSError:
                pass
        assert refused >= 250  # all but the few a client may send at once were turned away
    finally:
        for s in sockets:
            s.close()


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def test_a_body_that_trickles_past_the_deadline_gets_408():
    import asyncio

    seen = []

    async def app(scope, receive, send):  # the request never reaches the app
        seen.append(scope)

    async def trickle():
        await asyncio.sleep(0.3)  # each piece well within the gap allowed between pieces
        return {"type": "http.request", "body": b"x", "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    middleware = BoundedRequests(app, body_timeout=1.0, body_deadline=1.5)
    scope = {"type": "http", "method": "POST", "path": "/api/ask", "client": ("127.0.0.1", 1),
             "headers": [(b"content-length", b"1000")]}
    started = time.monotonic()
    _run(asyncio.wait_for(middleware(scope, trickle, send), 10.0))
    assert sent and sent[0]["status"] == 408 and not seen
    assert time.monotonic() - started < 5.0


def test_a_long_made_up_history_is_never_read_whole(bot, monkeypatch):
    from bot.vocabulary import Vocabulary

    words = " ".join(f"zq{i}xv" for i in range(8400))
    history = [{"role": "user", "content": words[i:i + 6000]} for i in range(0, len(words), 6000)]
    history += [{"role": "assistant", "content": "ok"}]
    mended = []
    original = Vocabulary.mend

    def counting(self, text):
        mended.append(len(text))
        return original(self, text)

    monkeypatch.setattr(Vocabulary, "mend", counting)
    answer = bot.ask("and how often?", history=history)
    assert answer.kind in ("answer", "refusal")
    serving = bot.settings.serving
    assert sum(mended) <= serving.history_chars + serving.max_question_chars, mended


def test_malformed_framework_requests_are_one_line_each_without_a_traceback(hostile):
    with running_page(hostile, "--no-gap-log") as (proc, url, _):
        for i in range(50):
            status, _, _ = post(url, "/gradio_api/queue/join", b'{"data": [1, 2], "fn_index": "x' + str(i).encode())
            assert status in (400, 404, 422, 500)
        assert get(url, "/api/health") == 200
        proc.terminate()
        proc.wait(timeout=30)
        out = proc.log.read_text()
    assert "Traceback" not in out, out[-3000:]
    assert len(out.splitlines()) < 30, out[-3000:]


# ---- the gap log --------------------------------------------------------------------------------

def test_the_gap_report_shows_control_characters_escaped(tmp_path):
    path = tmp_path / "index" / gaps.FILE_NAME
    path.parent.mkdir()
    log = gaps.GapLog(path)
    log.record("refused", "\x1b[2J\x1b[Hhow do I\nRed flags reported:\n  fake: 999", ("zzz",))
    result = subprocess.run([sys.executable, "-m", "bot", "gaps", "--index", str(path.parent)], cwd=PROJECT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout
    assert "\n  fake: 999" not in result.stdout and "Red flags reported" not in result.stdout.split("\\n")[0]


def test_feedback_on_passages_the_build_does_not_have_is_refused(hostile_bot, server):
    with pytest.raises(InvalidFeedbackError):
        hostile_bot.feedback("how do I sit?", False, ["no-such-doc.md#9"])
    real = hostile_bot.ask("How should I sit at my desk?").citations[0].chunk_id
    _, url, _ = server
    status, _, body = post(url, "/api/feedback", {"question": "q", "helpful": False, "chunk_ids": ["made/up#1"]})
    assert status == 422 and "made/up#1" in body["detail"]
    status, _, body = post(url, "/api/feedback", {"question": "how do I sit?", "helpful": True, "chunk_ids": [real]})
    assert status == 200 and body["recorded"]


def test_feedback_and_asks_are_rate_limited_per_client(server):
    _, url, _ = server
    statuses, retry = [], None
    for i in range(40):
        status, headers, _ = post(url, "/api/feedback", {"question": f"question {i}", "helpful": True, "chunk_ids": []})
        statuses.append(status)
        retry = retry or headers.get("Retry-After")
    limit = Settings().serving.feedback_per_minute
    assert statuses.count(429) >= 40 - limit - 1 and retry and int(retry) >= 1, statuses
    asks = [post(url, "/api/ask", {"question": "hi"})[0] for _ in range(Settings().serving.ask_per_minute + 5)]
    assert asks.count(429) >= 5 and asks[0] == 200


def test_the_ask_limit_is_the_operators_to_set(hostile):
    with running_page(hostile, "--no-gap-log", "--asks-per-minute", "3") as (_, url, _):
        statuses = [post(url, "/api/ask", {"question": "hi"})[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429], statuses


def test_rate_limit_counts_a_sliding_minute_per_key():
    limit = RateLimit(3)
    assert [limit.wait("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.wait("a") > 50 and limit.wait("b") == 0.0


def test_the_gap_log_keeps_under_its_size_cap_and_forgets_old_events(tmp_path):
    path = tmp_path / gaps.FILE_NAME
    log = gaps.GapLog(path, keep_days=90, max_bytes=300_000)
    log.record("refused", "an old question", ("old",))
    with sqlite3.connect(str(path)) as con:
        con.execute("UPDATE events SET at = at - 91 * 86400")
    for i in range(6000):  # about 1.6 MB without the cap
        assert log.record("disliked", f"question {i} " + "words " * 40, ("w",), ("seed.txt#1",))
    with sqlite3.connect(str(path)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < 450_000, path.stat().st_size  # the cap, and the pages freed for reuse
    kept = log.events()
    assert kept and all(e["question"] != "an old question" for e in kept)
    assert kept[-1]["question"].startswith("question 5999")


def test_a_deleted_gap_log_is_made_again_on_the_next_write(tmp_path):
    path = tmp_path / gaps.FILE_NAME
    log = gaps.GapLog(path)
    assert log.record("refused", "first", ("a",))
    for p in tmp_path.iterdir():
        p.unlink()
    assert log.record("refused", "second", ("b",))
    assert [e["question"] for e in log.events()] == ["second"]


def test_two_different_failures_within_a_minute_are_both_logged():
    records = [logging.LogRecord("bot.gaps", logging.WARNING, __file__, 1, "could not write %s: %s", (p, "error"), None)
               for p in ("a.sqlite3", "b.sqlite3", "a.sqlite3")]
    flt = RepeatFilter()
    kept = [flt.filter(r) for r in records]
    assert kept == [True, True, False]


def test_questions_are_kept_with_contact_details_redacted(tmp_path):
    text = ("I'm Jo, email jo.smith+back@example.co.uk or call 07700 900123 / +1 (555) 010-4477, "
            "I live at SW1A 1AA (or NY 10001), card 4111111111111111. My back hurts")
    out = redacted(text)
    for secret in ("jo.smith", "example.co.uk", "07700", "900123", "555", "4477", "SW1A", "10001", "4111"):
        assert secret not in out, out
    assert "[email]" in out and "[phone]" in out and "[postcode]" in out and "[number]" in out
    for ordinary in ("I do 3 sets of 10 reps, 2-3 times a week at 5pm", "L5 S1 disc pain since 2019",
                     "400mg ibuprofen every 8 hours", "walk 10000 steps a day", "disc bulge at L4 5mm",
                     "pain at L4 5th level", "T12 1st", "S1 2cm", "B12 1mg", "is 10000 steps ok", "in 10000 steps",
                     "sets of 10 12 15 20 25", "on 2019 2020 2021", "from 12/03/2023-01/04/2024"):
        assert redacted(ordinary) == ordinary
    log = gaps.GapLog(tmp_path / gaps.FILE_NAME)
    log.record("refused", text, ("email",))
    stored = log.events()[0]["question"]
    assert "example.co.uk" not in stored and "07700" not in stored


# ---- intake -------------------------------------------------------------------------------------

def test_unclosed_front_matter_is_an_error_naming_the_file(small_corpus):
    (small_corpus.corpus_dir / "broken.md").write_text("---\ntitle: Broken\nsource: https://example.org\n\n"
                                                       "Some text about the back.\n", encoding="utf-8")
    result = run_build(small_corpus)
    assert_clean_error(result, "broken.md", "never closes")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is needed to drop root's capabilities")
def test_an_unreadable_file_or_folder_is_an_error_naming_it(small_corpus):
    folder = small_corpus.corpus_dir / "more"
    folder.mkdir()
    (folder / "extra.md").write_text("# Extra\n\nStand tall.\n", encoding="utf-8")
    for unreadable, named in ((small_corpus.corpus_dir / "walking.md", "walking.md"), (folder, "more/")):
        mode = unreadable.stat().st_mode
        unreadable.chmod(0)
        try:
            result = run_build(small_corpus, drop_caps=True)
        finally:
            unreadable.chmod(mode)
        assert_clean_error(result, named, "permission to read")
        assert "no permission to write" not in result.stderr


def test_the_page_says_what_is_stored_in_one_line(server, hostile_bot):
    from ui.app import privacy_notice

    _, url, _ = server
    with urllib.request.urlopen(url + "/config", timeout=30) as r:
        config = r.read().decode()
    assert "Privacy: questions the content could not answer" in config and "90 days" in config
    assert privacy_notice(BackCareBot(hostile_bot.index, record_gaps=False)) == "Privacy: nothing you type here is stored."
