"""The chat page: one bot per process serves every visitor; the index is swapped in when rebuilt."""
from __future__ import annotations

import html
import logging
import os
import re
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from bot import BackCareBot, Settings, messages  # noqa: E402
from bot.build import fresh_bot  # noqa: E402
from bot.errors import BackCareError, BuildLockedError, InvalidHistoryError  # noqa: E402

from .render import (NOTES_IN_FULL, ask_link, banner_html, chunk_ids, reply_html, to_markdown,  # noqa: E402
                     link, urgent_flags, urgent_mark, user_text)

TITLE = "Back-care assistant"
INTRO = (
    "Ask about back care and back exercises. Every answer quotes trusted back-care content and "
    "numbers its sources, so you can check where each sentence comes from. It is not a doctor: "
    "for new, severe or worrying symptoms, seek medical care."
)
CSS = """
html { scroll-padding-bottom: 210px; }
html { scroll-padding-top: calc(var(--banner-h, 0px) + 16px); }
body .gradio-container { padding-top: var(--banner-h, 0px) !important; }
.gradio-container { max-width: 900px !important; margin: auto; padding-bottom: 200px !important; }
header.top h1 { font-size: 1.8em; margin: 0.4em 0 0.2em; }
header.top p { margin: 0.3em 0; }
#chat { height: auto !important; max-height: none !important; }
#chat .panel-wrap, #chat .bubble-wrap { height: auto !important; max-height: none !important; overflow: visible !important; }
#chat .caveats { border-left: 4px solid #92400e; background: #fffbeb; color: #1f2937; padding: 0.4em 0.8em; margin: 0.6em 0; }
#chat .caveats * { color: #1f2937 !important; }
#chat .caveats ul, #chat .caveats-reminder ul { margin: 0.2em 0 0 1.2em; }
#chat .caveats-reminder { border-left: 4px solid #92400e; padding: 0 0.8em; margin: 0.6em 0; }
#chat details summary, details.about > summary { cursor: pointer; display: list-item; padding: 12px 0; line-height: 22px; }
#chat details.source.shown { outline: 3px solid #1d4ed8; outline-offset: 2px; }
#chat mark { background: #fde68a; color: #111827; }
#chat a.cite { font-weight: 600; text-decoration: underline; display: inline-block; box-sizing: border-box;
               min-width: 44px; padding: 10px 6px; margin: -10px 0; text-align: center; line-height: 24px; }
#chat button[aria-label="Clear"], #chat button[title="Clear"] { display: none !important; }
details.about > summary { color: #1d4ed8; text-decoration: underline; font-weight: 600; width: fit-content; }
.dark details.about > summary { color: #bfdbfe; }
details.about[open] { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0 1em 0.5em; margin: 0.5em 0; }
details.about h2 { font-size: 1.15em; margin: 0.8em 0 0.2em; }
#chat .reply-tools { margin: 0.4em 0 0; }
#chat button.copy-reply, #chat .message-buttons button, #chat button[aria-label="Like"], #chat button[aria-label="Dislike"],
#chat button[aria-label="Undo"], #composer button, #examples .ask-example {
  min-width: 44px !important; min-height: 44px !important; }
#chat button.copy-reply { border: 1px solid currentColor; border-radius: 6px; padding: 0 0.9em; background: transparent;
                          color: inherit; font: inherit; cursor: pointer; }
#chat .typing { font-style: italic; }
#chat .bot-row:has(.typing) button { display: none !important; }  /* nothing to rate or undo yet */
#chat .typing .dots span { display: inline-block; width: 0.5em; height: 0.5em; margin-right: 0.2em; border-radius: 50%;
                           background: currentColor; animation: backcare-blink 1.2s infinite; }
#chat .typing .dots span:nth-child(2) { animation-delay: 0.2s; }
#chat .typing .dots span:nth-child(3) { animation-delay: 0.4s; }
@keyframes backcare-blink { 0%, 80%, 100% { opacity: 0.25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { #chat .typing .dots span { animation: none; } }
#urgent-banner:empty, #urgent-banner:has(> div:empty) { display: none; }
.urgent-banner { position: fixed; top: 0; left: 0; right: 0; z-index: 1000; background: #991b1b; color: #ffffff;
                 padding: 0.8em 1.2em; box-shadow: 0 2px 8px rgba(0,0,0,0.35); }
.urgent-banner p, .urgent-banner h2 { color: #ffffff !important; margin: 0.2em auto; max-width: 900px; }
.urgent-banner .urgent-title { font-size: 1.5em; font-weight: 700; }
#examples .ask-example { display: inline-flex; align-items: center; margin: 0.25em 0.4em 0.25em 0; padding: 0.35em 0.9em;
                         border: 1px solid #1d4ed8; border-radius: 999px; color: #1d4ed8; background: #ffffff; text-decoration: none; }
#examples .ask-example:focus-visible, #chat a:focus-visible, #chat button:focus-visible, details.about > summary:focus-visible,
#chat summary:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
#question textarea { min-height: 44px !important; }
#question textarea:focus-visible, #question textarea:focus { outline: 3px solid #1d4ed8 !important; outline-offset: 1px; }
#privacy .privacy { font-size: 0.9em; margin: 0.5em 0 0; }
#composer { position: fixed; left: 0; right: 0; bottom: 0; z-index: 900; background: var(--body-background-fill);
            border-top: 1px solid var(--border-color-primary); padding: 6px 8px 8px; gap: 4px; }
#composer > * { max-width: 900px; width: 100%; margin-left: auto; margin-right: auto; }
#toolbar { gap: 6px; flex-wrap: nowrap; }
#toolbar button { flex: 1 1 0; }
#page-status { margin: 0; font-size: 0.9em; }
#page-status:empty { display: none; }
textarea::placeholder { color: #4b5563 !important; opacity: 1; }
.dark #chat .caveats { background: #2b1d05; border-left-color: #fbbf24; }
.dark #chat .caveats * { color: #fef3c7 !important; }
.dark #chat .caveats-reminder { border-left-color: #fbbf24; }
.dark #examples .ask-example { color: #bfdbfe; border-color: #93c5fd; background: transparent; }
.dark textarea::placeholder { color: #d1d5db !important; }
.dark #examples .ask-example:focus-visible, .dark #chat a:focus-visible, .dark #chat button:focus-visible,
.dark #question textarea:focus-visible, .dark #question textarea:focus, .dark details.about > summary:focus-visible,
.dark #chat summary:focus-visible { outline-color: #93c5fd !important; }
@media (max-width: 600px) { .gradio-container { padding: 0 4px 210px !important; } #chat .message { max-width: 100% !important; } }
@media print {
  #composer, #examples, #privacy, #urgent-banner, .reply-tools, #chat .message-buttons, details.about { display: none !important; }
  .gradio-container { padding-bottom: 0 !important; }
}
"""
# Sends example questions on click (or Enter), opens and highlights a cited source, and brings the
# start of each new reply into view.
HEAD = r"""
<script>
(() => {
  const box = () => document.querySelector('#question textarea');
  function send(question) {
    const input = box();
    if (!input) return;
    input.value = question;
    input.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => {
      const button = document.querySelector('#question button.submit-button, #question button[aria-label="Send"]');
      if (button) button.click();
      else input.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true}));
    }, 60);
  }
  function showSource(link) {
    const reply = link.closest('.message-row, .message') || document;
    const number = (link.getAttribute('href') || '').replace('#source-', '');
    const source = reply.querySelector('details.source-' + number);
    if (!source) return;
    document.querySelectorAll('#chat details.source.shown').forEach(d => d.classList.remove('shown'));
    source.open = true;
    source.classList.add('shown');
    source.scrollIntoView({block: 'center'});
    const summary = source.querySelector('summary');
    if (summary) { summary.setAttribute('tabindex', '0'); summary.focus({preventScroll: true}); }
  }
  // Text for a markdown file: characters markdown or HTML would act on are escaped.
  const md = (text) => text.replace(/([\\`*_\[\]<>#|])/g, '\\$1');
  // A reply as text: what it says, then its sources with their addresses, without the page's
  // controls; `escape` makes each piece safe for a markdown file. The copy is laid out (off screen)
  // so that its text keeps the reply's lines and bullets.
  function replyText(content, escape = (t) => t) {
    const clone = content.cloneNode(true);
    clone.querySelectorAll('.sources, .reply-tools, .typing').forEach(e => e.remove());
    clone.querySelectorAll('details').forEach(d => { d.open = true; });
    clone.querySelectorAll('li').forEach(li => li.insertAdjacentText('afterbegin', '- '));
    clone.style.cssText = 'position:absolute; left:-10000px; top:0; width:800px; white-space:normal;';
    document.body.appendChild(clone);
    const text = clone.innerText.replace(/\n{3,}/g, '\n\n').trim();
    clone.remove();
    const lines = [escape(text)];
    const sources = content.querySelectorAll('details.source');
    if (sources.length) {
      lines.push('', 'Sources:');
      sources.forEach(d => {
        const next = d.nextElementSibling;
        const link = next && next.classList.contains('source-link') ? next.querySelector('a') : null;
        const address = link && /^https?:/.test(link.href) ? ' <' + link.href.replace(/[<>\s]/g, encodeURIComponent) + '>' : '';
        lines.push('- ' + escape(d.querySelector('summary').innerText.trim()) + address);
      });
    }
    return lines.join('\n');
  }
  // One status line under the question box, there from the start so screen readers announce it.
  function statusLine() {
    let live = document.getElementById('page-status');
    const composer = document.querySelector('#composer');
    if (!live && composer) {
      live = document.createElement('p');
      live.id = 'page-status'; live.className = 'status'; live.setAttribute('role', 'status');
      composer.appendChild(live);
    }
    return live;
  }
  function say(text) { const live = statusLine(); if (live) live.textContent = text; }
  window.backcareSay = say;
  async function copyReply(button) {
    const content = button.closest('.message-content') || button.closest('[data-testid="bot"]');
    if (!content) return;
    const text = replyText(content);
    try { await navigator.clipboard.writeText(text); }
    catch (e) {
      const area = document.createElement('textarea');
      area.value = text; document.body.appendChild(area); area.select(); document.execCommand('copy'); area.remove();
    }
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy reply'; }, 2000);
  }
  window.backcareConversation = () => {
    const out = ['# Back-care assistant: a conversation', '', 'Saved ' + new Date().toLocaleString() + '.', ''];
    document.querySelectorAll('#chat .message-row').forEach(row => {
      const content = row.querySelector('.message-content');
      if (!content || content.querySelector('.typing')) return;
      if (row.classList.contains('user-row')) out.push('**You:** ' + md(content.innerText.trim()), '');
      else out.push('**Assistant:** ' + replyText(content, md), '');
    });
    return out.join('\n');
  };
  window.backcareExport = () => {
    if (!document.querySelector('#chat .message-row')) { say('There is nothing to export yet.'); return; }
    const blob = new Blob([window.backcareConversation()], {type: 'text/markdown'});
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'back-care-conversation.md';
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    say('Conversation saved as back-care-conversation.md.');
  };
  window.backcarePrint = () => {
    document.querySelectorAll('#chat details').forEach(d => { d.open = true; });
    window.print();
  };
  window.backcareShowUrgent = () => {
    // Once the restored banner has its size (fonts, wrapping), and again in case it changed.
    [300, 900].forEach(ms => setTimeout(() => { if (document.querySelector('.urgent-banner')) window.backcareShowReply(); }, ms));
  };
  document.addEventListener('click', (event) => {
    const copy = event.target.closest('button.copy-reply');
    if (copy) { event.preventDefault(); event.stopPropagation(); copyReply(copy); return; }
    const example = event.target.closest('a.ask-example');
    if (example) { event.preventDefault(); event.stopPropagation(); send(example.innerText.trim()); return; }
    const cite = event.target.closest('a.cite');
    if (cite) { event.preventDefault(); event.stopPropagation(); showSource(cite); }
  }, true);
  // The page starts below the urgent banner, whatever its height, so it never covers the header.
  function fitBanner() {
    const banner = document.querySelector('.urgent-banner');
    document.documentElement.style.setProperty('--banner-h', (banner ? banner.offsetHeight : 0) + 'px');
  }
  window.addEventListener('resize', fitBanner);
  // Screen readers get a reply's text, not the markup the chat widget puts in its label.
  new MutationObserver(() => {
    fitBanner();
    statusLine();
    document.querySelectorAll('#chat [data-testid="bot"][aria-label]').forEach((m) => {
      const label = 'Reply: ' + (m.innerText || '').slice(0, 300);
      if (m.getAttribute('aria-label') !== label) m.setAttribute('aria-label', label);
    });
  }).observe(document.documentElement, {subtree: true, childList: true});
  window.backcareShowReply = () => {
    const replies = document.querySelectorAll('#chat .message-row.bot-row, #chat .bot-row, #chat [data-testid="bot"]');
    const last = replies[replies.length - 1];
    if (!last) return;
    const banner = document.querySelector('.urgent-banner');
    const offset = (banner ? banner.getBoundingClientRect().height : 0) + 16;
    window.scrollTo({top: Math.max(0, window.scrollY + last.getBoundingClientRect().top - offset)});
  };
})();
</script>
"""
WATCH_SECONDS = 2.0
# Two cores: more answers at once would only queue inside torch.
CONCURRENCY = 2


class IndexWatcher:
    """Polls the index pointer and swaps in a newly published build without a restart.

    It survives every error (a damaged build, a half-written pointer, running out of file handles):
    each distinct error is logged at most once a minute, polling goes on, and `health()` tells."""

    def __init__(self, bot: BackCareBot, every: float = WATCH_SECONDS, log_every: float = 60.0):
        self.bot, self.every, self.log_every = bot, every, log_every
        self._stop = threading.Event()
        self._logged: dict[str, float] = {}
        self.last_error = ""
        self.last_check = 0.0
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)

    def start(self) -> "IndexWatcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One poll; never raises."""
        try:
            if self.bot.reload_if_changed():
                print(f"Switched to index build {self.bot.build_name}", flush=True)
            self.last_error = ""
        except BaseException as e:  # noqa: BLE001 - the watcher must outlive anything a poll meets
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            self._log(self.last_error)
        finally:
            self.last_check = time.time()

    def _log(self, message: str) -> None:
        now = time.monotonic()
        if now - self._logged.get(message, -self.log_every) >= self.log_every:
            self._logged[message] = now
            print(f"Index not reloaded (still serving {self.bot.build_name}): {message}", flush=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.check()

    def health(self) -> dict:
        return {
            "build": self.bot.build_name,
            "watcher_alive": self.thread.is_alive(),
            "watcher_last_check": self.last_check,
            "watcher_last_error": self.last_error,
            "watcher_errors": self.errors,
        }


# The reply's place while it is on its way, and what it says when answering failed.
TYPING = ('<p class="typing"><span class="dots" aria-hidden="true"><span></span><span></span><span></span>'
          "</span> Looking through the pages…</p>")
FAILED = "Sorry, something went wrong while answering. Please ask again."


def _text(message) -> str | None:
    """A chat message's text (newer Gradio gives content as a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


def _settled(chat) -> list[dict]:
    """A chat as the browser sent it back, without a reply still on its way (or anything not a message)."""
    return [m for m in (chat if isinstance(chat, list) else []) if isinstance(m, dict) and _text(m) != TYPING]


_BLOCK = re.compile(r"<(?:/?(?:p|li|ul|ol|div|section|details|summary|h[1-6])|br)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


def history_for_bot(chat: list[dict]) -> list[dict]:
    """The page's messages back to plain text turns: user text unescaped, a reply's HTML as its
    text, a paragraph per block (so the bot can tell which sentences it quoted)."""
    turns = []
    for m in chat or []:
        content = _text(m)
        if isinstance(m, dict) and m.get("role") in ("user", "assistant") and content is not None and content != TYPING:
            if m["role"] == "assistant":
                content = _TAG.sub("", _BLOCK.sub("\n\n", content))
            turns.append({"role": m["role"], "content": html.unescape(content)})
    return turns


def _examples_html(examples: list[str]) -> str:
    if not examples:
        return ""
    links = "".join(ask_link(q) for q in examples)
    return f'<h2 class="examples-title">Example questions</h2><p>{links}</p>'


def _question_before(chat: list[dict], index: int) -> str:
    """The visitor's message that the reply at `index` answers."""
    for m in reversed(history_for_bot(chat[:index])):
        if m["role"] == "user":
            return m["content"]
    return ""


def privacy_notice(bot: BackCareBot) -> str:
    serving = bot.settings.serving
    return messages.PRIVACY_KEPT.format(days=serving.gap_log_keep_days) if bot.gaps.path else messages.PRIVACY_NONE




def about_html(bot: BackCareBot) -> str:
    """The "About these answers" view: what the assistant is and is not, every document it quotes
    (with its link), what is stored and for how long, and the emergency number it gives."""
    docs = [f"<li>{link(d.url, d.title or d.doc_id) or html.escape(d.title or d.doc_id)}</li>" for d in bot.documents()]
    number = html.escape(bot.settings.triage.emergency_number)
    return (
        '<details id="about" class="about"><summary>About these answers</summary>'
        "<h2>What this assistant is</h2>"
        "<p>It answers questions about back care by quoting the pages listed below, word for word, and numbering "
        "each source so you can check it. No program writes the answers, so it cannot make advice up.</p>"
        "<h2>What it is not</h2>"
        "<p>It is not a doctor and cannot examine you or know your history. When the pages do not cover a "
        "question, it says so. For new, severe or worrying symptoms, get medical care; in an emergency call "
        f"{number}.</p>"
        f"<h2>Its sources ({len(docs)})</h2><ul class=\"about-sources\">{''.join(docs)}</ul>"
        f"<h2>What is stored</h2><p>{html.escape(privacy_notice(bot))} Your conversation is kept only in this "
        "browser, so a reload keeps it; Clear removes it (Undo clear brings it back until you ask again).</p>"
        "</details>"
    )


def header_html(bot: BackCareBot) -> str:
    return f'<header class="top"><h1>{TITLE}</h1><p>{html.escape(INTRO)}</p>{about_html(bot)}</header>'


def build_app(bot: BackCareBot) -> gr.Blocks:
    def banner_of(chat: list[dict]) -> str:
        """The urgent banner while the conversation's last reply is urgent, else nothing."""
        known = {f.name for f in bot.index.triage.flags}
        texts = [{"role": m.get("role"), "content": _text(m)} for m in (chat or []) if isinstance(m, dict)]
        return banner_html(urgent_flags(texts, known), bot.settings.triage.emergency_number)

    def waiting(busy: bool):
        """While a reply is on its way the box and Clear wait too: nothing can change the chat under it."""
        return gr.update(interactive=not busy), gr.update(interactive=not busy)

    def show_question(message: str, chat: list[dict]):
        """Your question shows at once, with a typing indicator; an empty send changes nothing. A
        conversation cleared before it can no longer come back."""
        if not isinstance(message, str) or not message.strip():
            return (gr.skip(),) * 6
        if chat and _text(chat[-1]) == TYPING:  # a second Enter before the first reply: one question at a time
            return (gr.skip(),) * 6
        chat = list(chat or []) + [{"role": "user", "content": user_text(message)},
                                   {"role": "assistant", "content": TYPING}]
        box, clear_control = waiting(True)
        return {**box, "value": ""}, chat, clear_control, [], gr.update(visible=False), gr.update(interactive=False)

    def answer_last(chat: list[dict]):
        """The typing indicator becomes the reply to the question before it; and the banner."""
        chat = list(chat or [])
        if len(chat) < 2 or _text(chat[-1]) != TYPING:
            return gr.skip(), gr.skip(), gr.skip(), *waiting(False)
        question = html.unescape(_text(chat[-2]) or "")
        earlier = chat[:-2]
        try:
            answer = bot.ask(question, history=history_for_bot(earlier))
            shown = any(NOTES_IN_FULL in (_text(m) or "") for m in earlier if m.get("role") == "assistant")
            # Quoted list items are marked as the build being served split them (an older build may not have).
            split = bot.index.manifest.get("chunker", {}).get("list_item_words", 0)
            reply = reply_html(answer, bot.examples, notes_in_full=not shown, list_item_words=split) + urgent_mark(answer)
        except InvalidHistoryError:
            reply = "Sorry, I lost track of this conversation. Please clear the chat and ask again."
        except Exception:  # noqa: BLE001 - the visitor gets a reply, never a typing indicator for good
            logging.getLogger("backcare.page").exception("answering failed")
            reply = FAILED
        chat[-1] = {"role": "assistant", "content": reply}
        return chat, banner_of(chat), chat, *waiting(False)

    def failed(chat: list[dict]):
        """The request itself failed (a full queue, a lost connection): the indicator says so."""
        chat = [m if _text(m) != TYPING else {"role": "assistant", "content": FAILED} for m in (chat or [])]
        return chat, *waiting(False)

    def undo(chat: list[dict], undo_data: gr.UndoData):
        chat = list(chat or [])
        question = history_for_bot(chat[undo_data.index:undo_data.index + 1])
        chat = chat[:undo_data.index]
        return (question[0]["content"] if question else ""), chat, banner_of(chat), chat

    def rate(chat: list[dict], like: gr.LikeData):
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        chat = list(chat or [])
        if not isinstance(index, int) or not 0 <= index < len(chat):
            return
        try:
            bot.feedback(_question_before(chat, index), bool(like.liked), chunk_ids(_text(chat[index])))
        except BackCareError:  # a reply whose passages the live build no longer has (or made up)
            return

    def clear(chat: list[dict]):
        """Clears the conversation; until the next question, Undo clear brings it back (the copy is
        kept in this browser, like the conversation itself)."""
        chat = _settled(chat)
        if not chat:
            return (gr.skip(),) * 5
        return [], "", [], chat, gr.update(visible=True)

    def undo_clear(kept: list[dict]):
        kept = _settled(kept)
        if not kept:
            return (gr.skip(),) * 4 + (gr.update(visible=False),)
        return kept, banner_of(kept), kept, [], gr.update(visible=False)

    def restore(chat: list[dict], kept: list[dict]):
        """A reload: the conversation kept in this browser, the banner if its last reply was urgent,
        Undo clear if a cleared one can still come back, and the live build's documents."""
        chat = _settled(chat)
        return chat, banner_of(chat), gr.update(visible=bool(kept) and not chat), header_html(bot)

    def chat_api(message: str) -> str:
        """For programs: a question in, the reply markdown out."""
        return to_markdown(bot.ask(message if isinstance(message, str) else ""))

    with gr.Blocks(title=TITLE, fill_height=False) as demo:
        header = gr.HTML(header_html(bot), elem_id="header", padding=False)
        banner = gr.HTML("", elem_id="urgent-banner", padding=False)
        saved = gr.BrowserState([], storage_key="backcare-conversation")
        cleared = gr.BrowserState([], storage_key="backcare-cleared")
        chatbot = gr.Chatbot(
            label="Conversation", show_label=False, elem_id="chat", height=None, min_height=320, autoscroll=False,
            layout="panel", sanitize_html=True, render_markdown=True, buttons=[],
            feedback_options=("Like", "Dislike"), placeholder="Ask a question below, or pick an example.",
        )
        gr.HTML(_examples_html(bot.examples), elem_id="examples", padding=False)
        gr.HTML(f'<p class="privacy">{html.escape(privacy_notice(bot))}</p>', elem_id="privacy", padding=False)
        with gr.Column(elem_id="composer"):
            box = gr.Textbox(
                label="Your question", placeholder="e.g. How can I prevent slouching?", elem_id="question",
                autofocus=True, max_lines=4, submit_btn="Send",
            )
            with gr.Row(elem_id="toolbar"):
                clear_button = gr.Button("Clear", size="sm", variant="secondary", elem_id="clear", min_width=44)
                undo_clear_button = gr.Button("Undo clear", size="sm", variant="secondary", elem_id="undo-clear",
                                              visible=False, min_width=44)
                export_button = gr.Button("Export", size="sm", variant="secondary", elem_id="export", min_width=44)
                print_button = gr.Button("Print", size="sm", variant="secondary", elem_id="print", min_width=44)

        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        asked = box.submit(show_question, [box, chatbot],
                           [box, chatbot, clear_button, cleared, undo_clear_button, export_button], queue=False, **quiet)
        asked.then(None, None, None, js="() => { if (!document.querySelector('#chat .typing')) return;"
                                        " window.backcareSay('Looking through the pages…'); window.backcareShowReply(); }")
        answered = asked.then(answer_last, [chatbot], [chatbot, banner, saved, box, clear_button], **quiet)
        answered.then(lambda: gr.update(interactive=True), None, export_button, **quiet).then(
            None, None, None, js="() => { window.backcareSay && window.backcareSay('');"
                                 " window.backcareShowReply && window.backcareShowReply(); }")
        answered.failure(failed, [chatbot], [chatbot, box, clear_button], **quiet)
        chatbot.undo(undo, [chatbot], [box, chatbot, banner, saved], **quiet)
        chatbot.like(rate, [chatbot], None, **quiet)
        clear_button.click(clear, [chatbot], [chatbot, banner, saved, cleared, undo_clear_button], **quiet).then(
            None, None, None, js="() => window.backcareSay && window.backcareSay("
                                 "document.querySelector('#undo-clear') ? 'Conversation cleared. Undo clear brings it back.' : '')")
        undo_clear_button.click(undo_clear, [cleared], [chatbot, banner, saved, cleared, undo_clear_button], **quiet).then(
            None, None, None, js="() => { window.backcareSay && window.backcareSay('Conversation restored.');"
                                 " const box = document.querySelector('#question textarea'); if (box) box.focus(); }")
        export_button.click(None, None, None, js="() => window.backcareExport && window.backcareExport()")
        print_button.click(None, None, None, js="() => window.backcarePrint && window.backcarePrint()")
        # Not queued: a restore waiting behind other visitors' answers would land after a first question
        # and wipe it (and its reply) from the chat. The page marks itself restored for scripts and tests.
        demo.load(restore, [saved, cleared], [chatbot, banner, undo_clear_button, header], queue=False, **quiet).then(
            None, None, None, js="() => { document.documentElement.dataset.restored = 'true';"
                                 " window.backcareShowUrgent && window.backcareShowUrgent(); }")
        gr.api(chat_api, api_name="chat")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def load_bot(index_dir=None, corpus_dir=None, wait_seconds: float = 600.0, onnx: bool = True,
             gap_log: bool = True, keep_days: float = 90.0, emergency_number: str | None = None,
             asks_per_minute: int | None = None) -> BackCareBot:
    """Rebuilds a stale index if it can; otherwise starts on the last good build (with a warning).
    With no build at all while another replica is building, waits for that build."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return fresh_bot(index_dir=index_dir, corpus_dir=corpus_dir, rebuild=True, allow_stale=True,
                             settings=Settings().but(onnx=onnx, gap_log=gap_log, gap_log_keep_days=keep_days,
                                                     **({"emergency_number": emergency_number.strip()}
                                                        if emergency_number else {}),
                                                     **({"ask_per_minute": asks_per_minute} if asks_per_minute else {})))
        except BuildLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def create_server_app(bot: BackCareBot, watcher: IndexWatcher):
    """The page mounted on a FastAPI app of ours, which also serves the JSON API (ui/api.py). File
    uploads are off: the page takes text only."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from .api import add_api

    app = FastAPI(title=TITLE, version="1", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  description="Answers back-care questions with quoted, cited sentences from trusted content.")
    add_api(app, bot, watcher)

    @app.api_route("/gradio_api/upload", methods=["GET", "POST", "PUT"], include_in_schema=False)
    @app.api_route("/gradio_api/upload_progress", methods=["GET", "POST"], include_in_schema=False)
    def no_uploads() -> JSONResponse:
        return JSONResponse({"detail": "Uploads are off: this page takes typed questions only."}, status_code=403)

    return gr.mount_gradio_app(app, build_app(bot), path="/", server_name="127.0.0.1", footer_links=[],
                               show_error=False, ssr_mode=False, css=CSS, head=HEAD)


def launch(host: str = "127.0.0.1", port: int = 7860, bot: BackCareBot | None = None,
           index_dir=None, corpus_dir=None, onnx: bool = True, gap_log: bool = True, keep_days: float = 90.0,
           emergency_number: str | None = None, asks_per_minute: int | None = None) -> None:
    """Serves the page until SIGTERM or Ctrl-C (answers in flight get a few seconds to finish)."""
    from .serving import configure_logging, serve

    t0 = time.perf_counter()
    configure_logging()
    bot = bot or load_bot(index_dir=index_dir, corpus_dir=corpus_dir, onnx=onnx, gap_log=gap_log, keep_days=keep_days,
                          emergency_number=emergency_number, asks_per_minute=asks_per_minute)
    bot.warm_up()
    watcher = IndexWatcher(bot).start()
    app = create_server_app(bot, watcher)
    serve(app, host, port, on_ready=lambda: print(
        f"Serving on http://{host}:{port} (ready in {time.perf_counter() - t0:.1f}s)", flush=True))
    watcher.stop()
