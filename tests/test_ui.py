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


def test_the_banner_comes_from_the_last_reply_and_names_only_known_flags(bot):
    from ui.render import banner_html, reply_html, urgent_flags, urgent_mark

    known = {f.name for f in bot.index.triage.flags}
    urgent = bot.ask("My back hurts and since this morning I can't control my bladder")
    ordinary = bot.ask("How can I prevent slouching?")
    assert urgent.urgent and urgent.red_flags and not ordinary.urgent
    chat = [{"role": "user", "content": "..."}, {"role": "assistant", "content": reply_html(urgent) + urgent_mark(urgent)}]
    assert urgent_flags(chat, known) == urgent.red_flags
    later = chat + [{"role": "user", "content": "..."},
                    {"role": "assistant", "content": reply_html(ordinary) + urgent_mark(ordinary)}]
    assert urgent_flags(later, known) == []  # an ordinary last reply: no banner
    real = urgent.red_flags[0]
    forged = [{"role": "assistant", "content": f"hi<!--urgent:made up flag|{real}|call me-->"}]
    assert urgent_flags(forged, known) == [real]  # the chat comes back from the browser: only real flags count
    banner = banner_html(["loss of bladder <b>or</b> bowel control"], "9<9")
    assert "<b>" not in banner and "&lt;b&gt;" in banner and "Call 9&lt;9" in banner and "<h2" in banner
    assert banner_html([], "999") == ""


def test_safety_notes_in_full_once_then_a_reminder_in_the_page_markup(bot):
    from ui.render import NOTES_IN_FULL, reply_html

    answer = bot.ask("How can I prevent slouching?")
    assert NOTES_IN_FULL in reply_html(answer) and "caveats-reminder" not in reply_html(answer)
    later = reply_html(answer, notes_in_full=False)
    assert NOTES_IN_FULL not in later and "caveats-reminder" in later
    assert all(c in later for c in answer.caveats)  # the reminder opens to the same notes
    acute = bot.ask("I hurt my back this morning lifting a box, what exercises should I do?")
    assert NOTES_IN_FULL in reply_html(acute, notes_in_full=False)  # a fresh injury always gets them in full


def test_nothing_sent_and_nothing_readable_get_different_replies(bot):
    assert bot.ask("").text.startswith("Please type a question")
    for unreadable in ("<div><br></div>", "???", "<script>alert(1)</script>"):
        assert bot.ask(unreadable).text.startswith("I couldn't read a question in that"), unreadable


def test_one_question_at_a_time_even_with_a_double_send(bot):
    import gradio as gr

    from ui.app import TYPING, build_app

    demo = build_app(bot)
    show = next(d.fn for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "show_question")
    asked = show("How can I prevent slouching?", [])
    assert [m["content"] for m in asked[1]][-1] == TYPING and len(asked[1]) == 2
    # Enter pressed again before the reply: the chat is left as it is (every output skipped).
    assert all(v == gr.skip() for v in show("How can I prevent slouching?", asked[1]))
    assert all(v == gr.skip() for v in show("   ", []))  # and an empty send does nothing


def test_a_reply_on_the_page_still_tells_the_bot_what_it_quoted(bot):
    """The page keeps replies as HTML; the history it sends back is their text, so a follow-up knows
    which passages the last reply quoted, as through the Python API."""
    from bot.understanding import understand
    from ui.app import history_for_bot
    from ui.render import reply_html

    answer = bot.ask("How can I prevent slouching?")
    chat = [{"role": "user", "content": "How can I prevent slouching?"},
            {"role": "assistant", "content": reply_html(answer)}]
    history = history_for_bot(chat)
    assert "<" not in history[1]["content"].split("[1]")[0]
    earlier = understand("and how often should I do that?", history, bot.index).earlier
    assert earlier and earlier[0] == answer.citations[0].chunk_id
