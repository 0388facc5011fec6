"""The chat page in a real browser (Debian chromium), at desktop and phone widths, in light and dark
themes, on the real page process: the urgent banner (and after a reload), replies opening at their
start, clickable citations, examples that send, safety notes once per conversation, the waiting
state, undo/like, clear with undo, copy/export/print, the About view, the pinned question box, tap
targets, and accessibility (axe-core). Each test saves screenshots to tests/screenshots/."""
import json
import sqlite3
from pathlib import Path

import pytest

from bot.gaps import FILE_NAME

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"  # make test installs it
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
URGENT = "My back hurts and since this morning I can't control my bladder"
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


WALKING = "https://example.org/walking?for=back&lang=en"  # a source page's address, with a query


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The seed page and a second page that names its web address, built as an owner would."""
    import shutil

    from bot.build import build_index
    from bot.settings import Settings
    from conftest import CORPUS

    root = tmp_path_factory.mktemp("site")
    shutil.copytree(CORPUS, root / "corpus")
    (root / "corpus" / "walking.md").write_text(
        f"---\ntitle: Walking for a healthy back\nsource: {WALKING}\n---\n# Walking for a healthy back\n\n"
        "## How far to walk\n\nBrisk walking is a gentle aerobic exercise that strengthens the legs and the "
        "core. Start with ten minutes of brisk walking a day and add a few minutes each week.\n", encoding="utf-8")
    s = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    build_index(s, progress=False, log=lambda *_: None)
    return s


@pytest.fixture(scope="module")
def page(site):
    """The real page process on that site, with the emergency number set as a site would set it."""
    from conftest import running_page

    with running_page(site, "--emergency-number", "999") as running:
        yield running


def open_tab(browser, url: str, width: str, theme: str = "light", **options):
    context = browser.new_context(viewport=VIEWPORTS[width], color_scheme=theme, **options)
    tab = context.new_page()
    tab.goto(url + "/")
    tab.wait_for_selector("#question textarea")
    tab.wait_for_selector("html[data-restored]", state="attached")  # a kept conversation is back: asking is safe
    SHOTS.mkdir(exist_ok=True)
    tab.shot = lambda name: tab.screenshot(path=str(SHOTS / f"{name}-{width}{'-dark' if theme == 'dark' else ''}.png"))
    tab.size = VIEWPORTS[width]
    return context, tab


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, browser, page):
    context, tab = open_tab(browser, page[1], request.param)
    yield tab
    context.close()


@pytest.fixture(params=[(width, theme) for theme in ("light", "dark") for width in VIEWPORTS],
                ids=lambda p: "-".join(p))
def themed(request, browser, page):
    """A tab at each width in each theme, for what the theme could change (notes, banner, the pinned box)."""
    context, tab = open_tab(browser, page[1], *request.param)
    yield tab
    context.close()


def replied(tab, before: int) -> None:
    """Waits for a reply beyond `before`, typed out (the typing indicator gone) and scrolled to."""
    tab.wait_for_function(f"document.querySelectorAll('#chat .bot-row').length > {before}"
                          " && !document.querySelector('#chat .typing')", timeout=60_000)
    tab.wait_for_timeout(400)  # the scroll after the reply


def ask(tab, question: str, replies_before: int | None = None):
    before = tab.locator("#chat .bot-row").count() if replies_before is None else replies_before
    box = tab.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    replied(tab, before)
    return tab.locator("#chat .bot-row").last


def axe_violations(tab) -> list:
    tab.add_script_tag(path=str(AXE))
    return tab.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.map(v => [v.id, v.impact, v.nodes.length, v.nodes[0].target.join(' ')])""", AXE_RULES)


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
    ask(screen, URGENT)
    banner = screen.locator(".urgent-banner")
    assert banner.is_visible() and in_view(screen, banner)
    title = banner.locator("h2.urgent-title")  # a real heading
    assert "seek medical care now" in title.inner_text().lower()  # words carry the meaning, not an emoji
    assert "call 999" in banner.inner_text().lower()  # the emergency number the site set
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


def test_undo_dislike_history_and_clear_with_undo(screen, site):
    question = "How can I prevent slouching?"
    ask(screen, question)
    screen.get_by_role("button", name="Dislike").last.click()
    screen.wait_for_timeout(800)
    with sqlite3.connect(site.index_dir / FILE_NAME) as con:
        kind, asked, ids = con.execute("SELECT kind, question, chunk_ids FROM events ORDER BY id DESC LIMIT 1").fetchone()
    assert (kind, asked) == ("disliked", question) and json.loads(ids)
    # The bot answers the same question the same way: no retry that would change nothing.
    assert screen.get_by_role("button", name="Retry").count() == 0

    screen.reload()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 1", timeout=30_000)
    assert "slouching" in screen.locator("#chat .user-row").first.inner_text()  # the conversation survived

    screen.get_by_role("button", name="Undo").last.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    assert screen.locator("#question textarea").input_value() == question  # back in the box to edit

    ask(screen, question, replies_before=0)
    ask(screen, "Which muscles support the spine?")
    clear = screen.get_by_role("button", name="Clear", exact=True)
    assert clear.count() == 1 and screen.get_by_text("Clear chat").count() == 0
    clear.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    undo = screen.get_by_role("button", name="Undo clear")
    assert undo.is_visible()
    screen.wait_for_function("(document.querySelector('#page-status[role=status]') || {}).textContent"
                             " && document.querySelector('#page-status').textContent.includes('cleared')")
    screen.shot("cleared")
    undo.click()  # one tap never loses a conversation
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 2", timeout=30_000)
    assert "spine" in screen.locator("#chat .user-row").last.inner_text()
    screen.wait_for_function("document.activeElement === document.querySelector('#question textarea')")
    assert not undo.is_visible()

    clear.click()  # cleared, then a new question: the old conversation can no longer come back
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    ask(screen, "What does stretching do?", replies_before=0)
    assert not screen.get_by_role("button", name="Undo clear").is_visible()
    screen.reload()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 1", timeout=30_000)
    assert not screen.get_by_role("button", name="Undo clear").is_visible()

    stored = screen.evaluate("localStorage.getItem('backcare-conversation')")
    clear.click()
    screen.wait_for_function("document.querySelectorAll('#chat .bot-row').length == 0", timeout=30_000)
    # The chat empties at once in the browser; the stored copy changes when the server's reply to
    # the clear arrives. Reload after that, as a visitor would.
    screen.wait_for_function(f"localStorage.getItem('backcare-conversation') !== {json.dumps(stored)}", timeout=30_000)
    screen.reload()
    screen.wait_for_selector("html[data-restored]", state="attached")  # what was kept is back by now
    screen.wait_for_timeout(500)
    assert screen.locator("#chat .bot-row").count() == 0


def test_question_box_stays_in_view_and_never_hides_a_reply(themed):
    screen = themed
    questions = ["Which muscles support the spine?", "How can I prevent slouching?", "Why do strong thighs help when lifting?",
                 "How can exercise help my lower back pain?", "What does stretching do?"]
    for question in questions:
        ask(screen, question)
        box = screen.locator("#question textarea")
        assert in_view(screen, box) and box.bounding_box()["y"] + box.bounding_box()["height"] <= screen.size["height"]
        assert in_view(screen, screen.get_by_role("button", name="Clear", exact=True))  # the toolbar too
    screen.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
    screen.wait_for_timeout(300)
    composer = screen.locator("#composer").bounding_box()
    last = screen.locator("#chat .bot-row").last.bounding_box()
    assert last["y"] + last["height"] <= composer["y"] + 1  # the end of the last reply is not under the box
    screen.shot("pinned")


def test_every_tap_target_is_at_least_44_px(screen):
    ask(screen, "How can I prevent slouching?")
    ask(screen, "and how often?")
    small = screen.evaluate("""() => [...document.querySelectorAll(
            'button, summary, a.cite, a.ask-example, #question textarea')]
        .filter(e => e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect();
                    return [(e.getAttribute('aria-label') || e.innerText || e.tagName).slice(0, 30), r.width, r.height]; })
        .filter(([, w, h]) => w < 44 || h < 44)""")
    assert small == []
    screen.shot("targets")


def test_safety_notes_in_full_once_then_a_one_line_reminder(themed):
    screen = themed
    first = ask(screen, "How can I prevent slouching?")
    assert first.locator(".caveats").count() == 1 and first.locator(".caveats-reminder").count() == 0
    second = ask(screen, "Which muscles support the spine?")
    assert second.locator(".caveats").count() == 0
    reminder = second.locator("details.caveats-reminder")
    summary = reminder.locator("summary")
    assert reminder.count() == 1 and summary.bounding_box()["height"] < 100  # one line, not the full notes
    assert not reminder.locator("li").first.is_visible()
    summary.click()
    note = reminder.locator("li").first
    assert note.is_visible() and "acute low back pain" in note.inner_text()  # the same notes, opened
    acute = ask(screen, "I hurt my back this morning lifting a box, what exercises should I do?")
    assert acute.locator(".caveats").count() == 1  # an acute message gets them in full again
    screen.shot("notes")


def test_your_question_shows_at_once_while_the_reply_is_on_its_way(screen):
    # A slow connection: the answer is held back until the checks are done; the question and a
    # typing indicator do not wait for it.
    held = []
    screen.route("**/gradio_api/queue/join**", lambda route: held.append(route))
    box = screen.locator("#question textarea")
    box.fill("How can I prevent slouching?")
    box.press("Enter")
    # The reply is held back, so however long a busy machine takes to show it, the indicator cannot be
    # the reply's doing: the wait is generous.
    screen.wait_for_selector("#chat .typing", timeout=20_000)
    assert "slouching" in screen.locator("#chat .user-row").last.inner_text()
    assert box.input_value() == "" and box.is_disabled()  # nothing can change the chat under the reply
    assert screen.get_by_role("button", name="Clear", exact=True).is_disabled()
    # No framework spinner or timer covers the title or the question box.
    spinners = screen.evaluate("""() => [...document.querySelectorAll('.eta-bar, .progress-text, .timer, .meta-text, .loader')]
        .filter(e => { for (let p = e; p; p = p.parentElement) { const s = getComputedStyle(p);
                         if (s.opacity === '0' || s.visibility === 'hidden' || s.display === 'none') return false; }
                       return e.getClientRects().length > 0 && (e.innerText || '').trim() !== ''; })
        .map(e => e.className)""")
    assert spinners == []
    assert screen.locator("#chat .typing").count() == 1  # still waiting: the checks above saw the waiting state
    assert screen.locator("#chat .bot-row").last.get_by_role("button", name="Like", exact=True).count() == 0  # nothing to rate yet
    screen.shot("waiting")
    screen.wait_for_function("1", timeout=1000)
    assert held, "the reply's request never left the page"
    for route in held:
        route.continue_()
    screen.unroute("**/gradio_api/queue/join**")
    replied(screen, 0)
    assert screen.locator("#chat .bot-row").count() == 1 and screen.locator("#chat .typing").count() == 0
    assert box.is_enabled()
    keys = screen.evaluate("""() => { const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n; (n = walk.nextNode());) { const t = n.textContent.trim();
            if (/^[a-z_]+\\.[a-z_]+$/.test(t) && !['SCRIPT', 'STYLE'].includes(n.parentElement.tagName)) out.push(t); }
        return out; }""")
    assert keys == []  # no untranslated framework key ("common.complete") in the page, even hidden


def test_empty_sends_are_ignored_and_markup_alone_is_said_to_be_unreadable(screen):
    box = screen.locator("#question textarea")
    box.fill("   ")
    box.press("Enter")
    screen.wait_for_timeout(1200)
    assert screen.locator("#chat .message-row").count() == 0  # no empty bubbles
    reply = ask(screen, "<div><br></div>", replies_before=0)
    assert "couldn't read a question in that" in reply.inner_text()


def test_copy_export_and_print_a_conversation(browser, page):
    context, tab = open_tab(browser, page[1], "desktop", permissions=["clipboard-read", "clipboard-write"],
                            accept_downloads=True)
    try:
        reply = ask(tab, "How far should I walk each day for my back?")
        reply.get_by_role("button", name="Copy reply").click()
        tab.wait_for_timeout(300)
        copied = tab.evaluate("navigator.clipboard.readText()")
        assert "ten minutes of brisk walking" in copied and "Sources:" in copied
        assert "<a" not in copied and "Copy reply" not in copied
        assert "Walking for a healthy back \u203a How far to walk" in copied and WALKING in copied  # with its address
        assert "\n- " in copied.split("Sources:")[0]  # the safety notes stay a list, not one run-on line
        ask(tab, "How can I prevent slouching?")
        ask(tab, "<img src=x> how do I stop slouching?")  # markup typed by a visitor
        with tab.expect_download() as download:
            tab.get_by_role("button", name="Export").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert download.value.suggested_filename.endswith(".md")
        assert "**You:** How can I prevent slouching?" in text
        assert "**You:** \\<img src=x\\> how do I stop slouching?" in text  # kept as text in the file
        assert text.count("Sources:") == 3 and "Safety notes" in text and f"<{WALKING}>" in text
        assert "**You:** How far should I walk each day for my back?" in text
        tab.evaluate("window.print = () => { window.printed = true; }")  # the print dialog itself is the browser's
        tab.get_by_role("button", name="Print").click()
        tab.wait_for_function("window.printed === true", timeout=10_000)
        assert tab.evaluate("[...document.querySelectorAll('#chat details.source')].every(d => d.open)")
        tab.emulate_media(media="print")
        assert not tab.locator("#composer").is_visible() and tab.locator("#chat .bot-row").last.is_visible()
        tab.shot("print")
    finally:
        context.close()


def test_about_view_names_every_source_what_is_stored_and_the_emergency_number(screen):
    about = screen.locator("details#about")
    about.locator("summary").click()
    text = about.inner_text()
    assert "Back Exercises Pictures" in text and "Walking for a healthy back" in text
    link = about.get_by_role("link", name="Walking for a healthy back")
    assert link.get_attribute("href") == WALKING
    assert "not a doctor" in text and "90 days" in text and "999" in text
    screen.shot("about")


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_axe_finds_no_violations_in_either_theme_before_and_after_an_urgent_reply(browser, page, theme, width):
    if not AXE.is_file():
        pytest.skip("axe-core is not installed (make test installs it with npm)")
    context, tab = open_tab(browser, page[1], width, theme)
    try:
        assert axe_violations(tab) == []  # the empty page
        ask(tab, "How can I prevent slouching?")
        ask(tab, "Which muscles support the spine?")
        tab.locator("details#about summary").click()
        assert axe_violations(tab) == []
        ask(tab, URGENT)
        assert axe_violations(tab) == []
        tab.shot("axe")
    finally:
        context.close()


def test_a_reload_after_an_urgent_reply_shows_the_banner_and_the_advice(themed):
    screen = themed
    ask(screen, "Why do strong thighs help when lifting?")
    ask(screen, URGENT)
    screen.evaluate("window.scrollTo(0, 0)")
    screen.wait_for_timeout(200)
    heading = screen.locator("header.top h1").bounding_box()
    assert heading["y"] >= screen.locator(".urgent-banner").bounding_box()["height"] - 1  # the banner covers nothing
    ask(screen, "How can I prevent slouching?")
    assert screen.locator(".urgent-banner").count() == 0
    screen.get_by_role("button", name="Undo").last.click()  # the urgent reply is the last one again
    screen.wait_for_selector(".urgent-banner h2", timeout=30_000)
    screen.reload()
    screen.wait_for_selector(".urgent-banner h2", timeout=30_000)
    screen.wait_for_timeout(1500)
    banner = screen.locator(".urgent-banner")
    assert in_view(screen, banner) and "bladder" in banner.inner_text().lower()
    advice = screen.locator("#chat .bot-row").last.locator(".message-content").first
    assert "emergency department" in advice.inner_text()
    top = advice.bounding_box()["y"]
    assert banner.bounding_box()["height"] - 2 <= top < screen.size["height"] / 2  # the advice is in view, under the banner
    screen.shot("urgent-reload")


def test_accessible_names_contrast_and_heading_order(screen):
    ask(screen, "Why do strong thighs help when lifting?")
    unnamed = screen.evaluate("""() => [...document.querySelectorAll('button, a[href], textarea, input, select')]
        .filter(e => e.offsetParent !== null && e.checkVisibility())
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
    screen.locator("#question textarea").focus()
    ring = screen.evaluate("() => { const s = getComputedStyle(document.querySelector('#question textarea'));"
                           " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert ring[0] != "none" and ring[1] >= 2  # a visible focus ring on the question box
    screen.shot("accessibility")
