"""The chat page in a real browser (Debian chromium), at desktop and phone widths, on the real page
process: the urgent banner, replies opening at their start, clickable citations, examples that send,
retry/undo/like, history across a reload, one clear control, and accessibility. Each test saves
screenshots to tests/screenshots/."""
import json
import sqlite3
from pathlib import Path

import pytest

from bot.gaps import FILE_NAME

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, browser, page):
    _, url, _ = page
    context = browser.new_context(viewport=VIEWPORTS[request.param])
    tab = context.new_page()
    tab.goto(url + "/")
    tab.wait_for_selector("#question textarea")
    SHOTS.mkdir(exist_ok=True)
    tab.shot = lambda name: tab.screenshot(path=str(SHOTS / f"{name}-{request.param}.png"))
    tab.size = VIEWPORTS[request.param]
    yield tab
    context.close()


def ask(tab, question: str, replies_before: int | None = None):
    before = tab.locator("#chat .bot-row").count() if replies_before is None else replies_before
    box = tab.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    tab.wait_for_function(f"document.querySelectorAll('#chat .bot-row').length > {before}", timeout=60_000)
    tab.wait_for_timeout(400)  # the scroll after the reply
    return tab.locator("#chat .bot-row").last


def in_view(tab, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= -1 and box["y"] + min(box["height"], 40) <= tab.size["height"]


def luminance(rgb: str) -> float:
    values = [int(float(v)) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    channel = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in values]
    return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_urgent_reply_shows_a_large_banner_in_view_that_stays(screen):
    ask(screen, "Why do strong thighs help when lifting?")  # an earlier long reply above
    ask(screen, "My back hurts and since this morning I can't control my bladder")
    banner = screen.locator(".urgent-banner")
    assert banner.is_visible() and in_view(screen, banner)
    title = banner.locator(".urgent-title")
    assert "seek medical care now" in title.inner_text().lower()  # words carry the meaning, not an emoji
    style = title.evaluate("e => { const s = getComputedStyle(e); return [s.fontSize, s.color, getComputedStyle(e.closest('.urgent-banner')).backgroundColor]; }")
    assert float(style[0].rstrip("px")) >= 20 and contrast(style[1], style[2]) >= 7
    screen.shot("urgent")
    screen.mouse.wheel(0, 2000)
    screen.wait_for_timeout(300)
    assert in_view(screen, banner)  # still there while the visitor reads on
    ask(screen, "How can I prevent slouching?")
    assert screen.locator(".urgent-banner").count() == 0  # an ordinary reply takes it away


def test_a_new_reply_opens_at_its_start(screen):
    ask(screen, "Which muscles support the spine?")
    reply = ask(screen, "How can exercise help my lower back pain?")
    first_line = reply.locator(".message-content p").first.bounding_box()
    assert 0 <= first_line["y"] < screen.size["height"] / 3  # its first sentence near the top, not its end
    screen.shot("reply-start")


def test_citation_markers_open_the_cited_passage_with_the_quoted_sentences_marked(screen):
    reply = ask(screen, "Why do strong thighs help when lifting?")
    marker = reply.locator("a.cite").first
    number = marker.get_attribute("href").removeprefix("#source-")
    source = reply.locator(f"details.source-{number}")
    assert source.get_attribute("open") is None
    marker.click()
    screen.wait_for_timeout(300)
    assert source.get_attribute("open") is not None and in_view(screen, source.locator("summary"))
    marked = source.locator("mark")
    assert marked.count() >= 1 and marked.first.is_visible()
    assert marked.first.inner_text()[:30] in reply.inner_text().split("Safety notes")[0]
    screen.shot("citation")


def test_examples_send_on_click_including_those_in_a_refusal(screen):
    screen.locator("#examples a.ask-example").first.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length >= 1", timeout=60_000)
    refusal = ask(screen, "What's the capital of Peru?")
    inside = refusal.locator("a.ask-example")
    assert inside.count() >= 1
    asked = inside.first.inner_text()
    inside.first.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length >= 3", timeout=60_000)
    assert screen.locator("#chat .user-row").last.inner_text().strip() == asked
    screen.wait_for_timeout(300)
    assert "Sources" in screen.locator("#chat .bot-row").last.inner_text()
    screen.shot("examples")


def test_keyboard_only_tab_to_an_example_and_enter_sends_it(screen):
    screen.locator("#question textarea").focus()
    for _ in range(40):
        screen.keyboard.press("Tab")
        if screen.evaluate("!!(document.activeElement && document.activeElement.matches('a.ask-example'))"):
            break
    else:
        pytest.fail("Tab never reached an example question")
    asked = screen.evaluate("document.activeElement.innerText.trim()")
    screen.keyboard.press("Enter")
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length >= 1", timeout=60_000)
    assert screen.locator("#chat .user-row").last.inner_text().strip() == asked


def test_retry_undo_dislike_history_and_one_clear_control(screen, settings):
    question = "How can I prevent slouching?"
    reply = ask(screen, question)
    text = reply.inner_text()
    screen.get_by_role("button", name="Dislike").last.click()
    screen.wait_for_timeout(800)
    with sqlite3.connect(settings.index_dir / FILE_NAME) as con:
        kind, asked, ids = con.execute("SELECT kind, question, chunk_ids FROM events ORDER BY id DESC LIMIT 1").fetchone()
    assert (kind, asked) == ("disliked", question) and json.loads(ids)

    screen.get_by_role("button", name="Retry").last.click()
    screen.wait_for_timeout(1500)
    assert screen.locator("#chat .bot-row").count() == 1 and screen.locator("#chat .bot-row").last.inner_text() == text

    screen.reload()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 1", timeout=30_000)
    assert "slouching" in screen.locator("#chat .user-row").first.inner_text()  # the conversation survived

    screen.get_by_role("button", name="Undo").last.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    assert screen.locator("#question textarea").input_value() == question  # back in the box to edit

    ask(screen, question, replies_before=0)
    clear_controls = screen.get_by_role("button", name="Clear")
    assert clear_controls.count() == 1 and screen.get_by_text("Clear chat").count() == 0
    stored = screen.evaluate("localStorage.getItem('backcare-conversation')")
    clear_controls.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    # The chat empties at once in the browser; the stored copy changes when the server's reply to
    # the clear arrives. Reload after that, as a visitor would.
    screen.wait_for_function(f"localStorage.getItem('backcare-conversation') !== {json.dumps(stored)}", timeout=30_000)
    screen.reload()
    screen.wait_for_selector("#question textarea")
    screen.wait_for_timeout(1000)
    assert screen.locator("#chat .bot-row").count() == 0
    screen.shot("cleared")


def test_toolbar_never_covers_text(screen):
    reply = ask(screen, "Which muscles support the spine?")
    toolbar = screen.get_by_role("button", name="Clear").bounding_box()
    for block in screen.locator("#chat .user-row, #chat .bot-row").all():
        box = block.locator(".message-content").first.bounding_box()
        overlap = not (toolbar["x"] + toolbar["width"] <= box["x"] or box["x"] + box["width"] <= toolbar["x"]
                       or toolbar["y"] + toolbar["height"] <= box["y"] or box["y"] + box["height"] <= toolbar["y"])
        assert not overlap
    assert reply.bounding_box()["width"] >= screen.locator("#chat").bounding_box()["width"] * 0.9  # full width
    screen.shot("toolbar")


def test_accessible_names_contrast_and_heading_order(screen):
    ask(screen, "Why do strong thighs help when lifting?")
    unnamed = screen.evaluate("""() => [...document.querySelectorAll('button, a[href], textarea, input, select')]
        .filter(e => e.offsetParent !== null)
        .filter(e => !((e.getAttribute('aria-label') || '').trim() || (e.innerText || '').trim() || (e.title || '').trim()
                       || (e.labels && [...e.labels].some(l => l.innerText.trim()))))
        .map(e => e.outerHTML.slice(0, 120))""")
    assert unnamed == []
    levels = screen.evaluate("() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].filter(h => h.offsetParent !== null).map(h => +h.tagName[1])")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:]))
    pairs = screen.evaluate("""() => {
        const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
            if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
        const out = [];
        const box = document.querySelector('#question textarea');
        out.push(['placeholder', getComputedStyle(box, '::placeholder').color, bg(box)]);
        for (const e of document.querySelectorAll('#chat p, #chat li, #chat summary, #chat a, #examples a, .prose p, label span')) {
            if (e.offsetParent !== null && (e.innerText || '').trim()) out.push([e.innerText.slice(0, 30), getComputedStyle(e).color, bg(e)]);
        }
        return out; }""")
    low = [(t, round(contrast(fg, bg), 2)) for t, fg, bg in pairs if contrast(fg, bg) < 4.5]
    assert len(pairs) > 10 and low == []
    screen.shot("accessibility")
