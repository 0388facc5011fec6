"""The chat page on a real Gradio server on localhost, through gradio_client and a real browser."""
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot import BackCareBot, messages
from bot.build import build_index
from conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def server(bot):
    from ui.app import build_app

    port = free_port()
    demo = build_app(bot)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_client_gets_cited_answer_with_both_caveats(server):
    from gradio_client import Client

    reply = Client(server, verbose=False).predict("Why do strong thighs help when lifting?", api_name="/chat")
    assert "[1]" in reply and "Sources" in reply
    assert "Strong quadriceps" in reply
    for caveat in (messages.ACUTE_CAVEAT, messages.GRADUAL_CAVEAT):
        assert caveat in reply


def test_client_gets_refusal_for_uncovered_question(server):
    from gradio_client import Client

    reply = Client(server, verbose=False).predict("What's the capital of Peru?", api_name="/chat")
    assert "don't cover peru" in reply.lower()
    assert "[1]" not in reply


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (.ci/run installs it)")
def test_browser_chat_shows_sources_caveats_and_escapes_user_markup(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone-width screen
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server)
        box = page.get_by_label("Your question")
        box.fill("How can I stop slouching at my desk?")
        box.press("Enter")
        chat = page.locator("#chat")
        expect(chat.get_by_text("Sources")).to_be_visible(timeout=60_000)
        expect(chat.get_by_text("Progress gradually", exact=False).first).to_be_visible()
        expect(chat.get_by_text("Acute pain or a fresh injury", exact=False).first).to_be_visible()
        expect(chat.locator("details summary").first).to_contain_text("[1] Back Exercises Pictures")

        box.fill("<script>alert('x')</script> how do I lift safely?")
        box.press("Enter")
        expect(chat.get_by_text("<script>alert('x')</script>", exact=False)).to_be_visible(timeout=60_000)
        expect(chat.get_by_text("Sources", exact=True)).to_have_count(2, timeout=60_000)  # the second reply landed
        page.wait_for_timeout(500)
        assert dialogs == []
        assert chat.locator("script").count() == 0
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        assert (tmp_path / "chat.png").stat().st_size > 10_000
        browser.close()


def test_running_page_picks_up_a_rebuilt_index(tmp_path):
    from ui.app import IndexWatcher

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "corpus" / "back-exercises.txt", corpus)
    from bot.settings import Settings

    settings = replace(Settings(), corpus_dir=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False, log=lambda *_: None)
    bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=corpus)
    question = "Is swimming with a kickboard good for the back?"
    before = bot.ask(question)
    assert not any("kickboard" in c.text for c in before.citations)

    watcher = IndexWatcher(bot, every=0.1).start()
    try:
        (corpus / "swimming.txt").write_text(
            "Swimming\nSwimming with a kickboard is a gentle aerobic exercise for the back.\n", encoding="utf-8")
        build_index(settings, progress=False, log=lambda *_: None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("kickboard" in c.text for c in bot.ask(question).citations):
            time.sleep(0.1)
        assert any("kickboard" in c.text for c in bot.ask(question).citations)
    finally:
        watcher.stop()
