"""The chat page: one bot per process serves every visitor; the index is swapped in when rebuilt."""
from __future__ import annotations

import html
import logging
import os
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from bot import BackCareBot, Settings, messages  # noqa: E402
from bot.build import fresh_bot  # noqa: E402
from bot.errors import BackCareError, BuildLockedError, InvalidHistoryError  # noqa: E402

from .render import ask_link, banner_html, chunk_ids, reply_html, to_markdown, user_text  # noqa: E402

TITLE = "Back-care assistant"
INTRO = (
    "Ask about back care and back exercises. Every answer quotes trusted back-care content and "
    "numbers its sources, so you can check where each sentence comes from. It is not a doctor: "
    "for new, severe or worrying symptoms, seek medical care."
)
CSS = """
.gradio-container { max-width: 900px !important; margin: auto; }
#chat { padding-top: 2.6em; height: auto !important; max-height: none !important; }
#chat .panel-wrap, #chat .bubble-wrap { height: auto !important; max-height: none !important; overflow: visible !important; }
#chat .caveats { border-left: 4px solid #92400e; background: #fffbeb; color: #1f2937; padding: 0.4em 0.8em; margin: 0.6em 0; }
#chat .caveats ul { margin: 0.2em 0 0 1.2em; }
#chat details.source { margin: 0.2em 0; }
#chat details.source summary { cursor: pointer; }
#chat details.source.shown { outline: 3px solid #1d4ed8; outline-offset: 2px; }
#chat mark { background: #fde68a; color: #111827; }
#chat a.cite { font-weight: 600; text-decoration: underline; }
#urgent-banner:empty, #urgent-banner:has(> div:empty) { display: none; }
.urgent-banner { position: fixed; top: 0; left: 0; right: 0; z-index: 1000; background: #991b1b; color: #ffffff;
                 padding: 0.8em 1.2em; box-shadow: 0 2px 8px rgba(0,0,0,0.35); }
.urgent-banner p { color: #ffffff !important; margin: 0.2em auto; max-width: 900px; }
.urgent-banner .urgent-title { font-size: 1.5em; font-weight: 700; }
#examples .ask-example { display: inline-block; margin: 0.25em 0.4em 0.25em 0; padding: 0.35em 0.7em; border: 1px solid #1d4ed8;
                         border-radius: 999px; color: #1d4ed8; background: #ffffff; text-decoration: none; }
#examples .ask-example:focus-visible, #chat a:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
#privacy .privacy { font-size: 0.9em; margin: 0.5em 0 0; }
textarea::placeholder { color: #4b5563 !important; opacity: 1; }
@media (max-width: 600px) { .gradio-container { padding: 0 4px !important; } #chat .message { max-width: 100% !important; } }
"""
# Sends example questions on click (or Enter), opens and highlights a cited source, and brings the
# start of each new reply into view.
HEAD = """
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
  document.addEventListener('click', (event) => {
    const example = event.target.closest('a.ask-example');
    if (example) { event.preventDefault(); event.stopPropagation(); send(example.innerText.trim()); return; }
    const cite = event.target.closest('a.cite');
    if (cite) { event.preventDefault(); event.stopPropagation(); showSource(cite); }
  }, true);
  // Screen readers get a reply's text, not the markup the chat widget puts in its label.
  new MutationObserver(() => {
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


def _text(message) -> str | None:
    """A chat message's text (newer Gradio gives content as a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


def history_for_bot(chat: list[dict]) -> list[dict]:
    """The page's messages back to plain text turns (the page shows user text escaped)."""
    turns = []
    for m in chat or []:
        content = _text(m)
        if isinstance(m, dict) and m.get("role") in ("user", "assistant") and content is not None:
            turns.append({"role": m["role"], "content": html.unescape(content) if m["role"] == "user" else content})
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


def build_app(bot: BackCareBot) -> gr.Blocks:
    def answer_turn(message: str, chat: list[dict]):
        """One question in: the chat with the question and the whole reply, and the banner."""
        message = message if isinstance(message, str) else ""
        chat = list(chat or [])
        history = history_for_bot(chat)
        chat.append({"role": "user", "content": user_text(message)})
        try:
            answer = bot.ask(message, history=history)
            reply = reply_html(answer, bot.examples)
        except InvalidHistoryError:
            answer, reply = None, "Sorry, I lost track of this conversation. Please clear the chat and ask again."
        chat.append({"role": "assistant", "content": reply})
        return chat, banner_html(answer)

    def respond(message: str, chat: list[dict]):
        chat, banner = answer_turn(message, chat)
        return "", chat, banner, chat

    def retry(chat: list[dict], retry_data: gr.RetryData):
        chat = list(chat or [])
        question = history_for_bot(chat[retry_data.index:retry_data.index + 1])
        question = question[0]["content"] if question else ""
        chat, banner = answer_turn(question, chat[:retry_data.index])
        return chat, banner, chat

    def undo(chat: list[dict], undo_data: gr.UndoData):
        chat = list(chat or [])
        question = history_for_bot(chat[undo_data.index:undo_data.index + 1])
        chat = chat[:undo_data.index]
        return (question[0]["content"] if question else ""), chat, "", chat

    def rate(chat: list[dict], like: gr.LikeData):
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        chat = list(chat or [])
        if not isinstance(index, int) or not 0 <= index < len(chat):
            return
        try:
            bot.feedback(_question_before(chat, index), bool(like.liked), chunk_ids(_text(chat[index])))
        except BackCareError:  # a reply whose passages the live build no longer has (or made up)
            return

    def clear():
        return "", [], "", []

    def chat_api(message: str) -> str:
        """For programs: a question in, the reply markdown out."""
        return to_markdown(bot.ask(message if isinstance(message, str) else ""))

    with gr.Blocks(title=TITLE, fill_height=False) as demo:
        banner = gr.HTML("", elem_id="urgent-banner", padding=False)
        gr.Markdown(f"# {TITLE}\n\n{INTRO}")
        saved = gr.BrowserState([], storage_key="backcare-conversation")
        chatbot = gr.Chatbot(
            label="Conversation", elem_id="chat", height=None, min_height=320, autoscroll=False, layout="panel",
            sanitize_html=True, render_markdown=True, buttons=[], feedback_options=("Like", "Dislike"),
            placeholder="Ask a question below, or pick an example.",
        )
        box = gr.Textbox(
            label="Your question", placeholder="e.g. How can I prevent slouching?", elem_id="question",
            autofocus=True, max_lines=4, submit_btn="Send",
        )
        gr.HTML(_examples_html(bot.examples), elem_id="examples", padding=False)
        gr.HTML(f'<p class="privacy">{html.escape(privacy_notice(bot))}</p>', elem_id="privacy", padding=False)

        show_reply = "() => window.backcareShowReply && window.backcareShowReply()"
        box.submit(respond, [box, chatbot], [box, chatbot, banner, saved], api_visibility="private").then(
            None, None, None, js=show_reply)
        chatbot.retry(retry, [chatbot], [chatbot, banner, saved], api_visibility="private").then(
            None, None, None, js=show_reply)
        chatbot.undo(undo, [chatbot], [box, chatbot, banner, saved], api_visibility="private")
        chatbot.like(rate, [chatbot], None, api_visibility="private")
        chatbot.clear(clear, None, [box, chatbot, banner, saved], api_visibility="private")
        demo.load(lambda kept: kept or [], [saved], [chatbot], api_visibility="private")
        gr.api(chat_api, api_name="chat")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def load_bot(index_dir=None, corpus_dir=None, wait_seconds: float = 600.0, onnx: bool = True,
             gap_log: bool = True, keep_days: float = 90.0) -> BackCareBot:
    """Rebuilds a stale index if it can; otherwise starts on the last good build (with a warning).
    With no build at all while another replica is building, waits for that build."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return fresh_bot(index_dir=index_dir, corpus_dir=corpus_dir, rebuild=True, allow_stale=True,
                             settings=Settings().but(onnx=onnx, gap_log=gap_log, gap_log_keep_days=keep_days))
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
           index_dir=None, corpus_dir=None, onnx: bool = True, gap_log: bool = True, keep_days: float = 90.0) -> None:
    """Serves the page until SIGTERM or Ctrl-C (answers in flight get a few seconds to finish)."""
    from .serving import configure_logging, serve

    t0 = time.perf_counter()
    configure_logging()
    bot = bot or load_bot(index_dir=index_dir, corpus_dir=corpus_dir, onnx=onnx, gap_log=gap_log, keep_days=keep_days)
    bot.warm_up()
    watcher = IndexWatcher(bot).start()
    app = create_server_app(bot, watcher)
    serve(app, host, port, on_ready=lambda: print(
        f"Serving on http://{host}:{port} (ready in {time.perf_counter() - t0:.1f}s)", flush=True))
    watcher.stop()
