"""The chat page: one bot per process serves every visitor; the index is swapped in when rebuilt."""
from __future__ import annotations

import html
import logging
import os
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from bot import BackCareBot, Settings  # noqa: E402
from bot.errors import BuildLockedError, InvalidHistoryError  # noqa: E402

from .render import reply_parts, to_markdown, user_text  # noqa: E402

TITLE = "Back-care assistant"
INTRO = (
    "Ask about back care and back exercises. Every answer quotes trusted back-care content and "
    "numbers its sources, so you can check where each sentence comes from. It is not a doctor: "
    "for new, severe or worrying symptoms, seek medical care."
)
CSS = """
.gradio-container { max-width: 900px !important; margin: auto; }
#chat blockquote { border-left: 4px solid #d97706; background: #fffbeb; padding: 0.4em 0.8em; }
#chat details { margin: 0.2em 0; }
#chat details summary { cursor: pointer; }
#chat h3 { color: #b91c1c; }
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


def history_for_bot(chat: list[dict]) -> list[dict]:
    """The page's messages back to plain text turns (the page shows user text escaped)."""
    turns = []
    for m in chat or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # newer Gradio gives content as a list of parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if m.get("role") in ("user", "assistant") and isinstance(content, str):
            turns.append({"role": m["role"], "content": html.unescape(content) if m["role"] == "user" else content})
    return turns


def build_app(bot: BackCareBot) -> gr.Blocks:
    def respond(message: str, chat: list[dict]):
        message = message if isinstance(message, str) else ""
        chat = list(chat or [])
        history = history_for_bot(chat)
        chat.append({"role": "user", "content": user_text(message)})
        try:
            answer = bot.ask(message, history=history)
            parts = reply_parts(answer)
        except InvalidHistoryError:
            parts = ["Sorry, I lost track of this conversation. Please clear the chat and ask again."]
        chat.append({"role": "assistant", "content": ""})
        shown = []
        for part in parts:  # stream the reply piece by piece
            shown.append(part)
            chat[-1] = {"role": "assistant", "content": "\n\n".join(shown)}
            yield "", chat

    def chat_api(message: str) -> str:
        """For programs: a question in, the reply markdown out."""
        return to_markdown(bot.ask(message if isinstance(message, str) else ""))

    with gr.Blocks(title=TITLE, fill_height=True) as demo:
        gr.Markdown(f"# {TITLE}\n\n{INTRO}")
        chatbot = gr.Chatbot(
            label="Conversation", elem_id="chat", height=520, sanitize_html=True, render_markdown=True,
            feedback_options=None, placeholder="Ask a question below, or pick an example.",
        )
        with gr.Row():
            box = gr.Textbox(
                label="Your question", placeholder="e.g. How can I prevent slouching?", elem_id="question",
                scale=5, autofocus=True, max_lines=4, submit_btn=True,
            )
        with gr.Row():
            clear = gr.Button("Clear chat", variant="secondary", elem_id="clear", size="sm")
        if bot.examples:
            gr.Examples(examples=[[q] for q in bot.examples], inputs=[box], label="Example questions")

        box.submit(respond, [box, chatbot], [box, chatbot], api_visibility="private")
        clear.click(lambda: ("", []), None, [box, chatbot], api_visibility="private")
        gr.api(chat_api, api_name="chat")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def load_bot(index_dir=None, corpus_dir=None, wait_seconds: float = 600.0, onnx: bool = True) -> BackCareBot:
    """Rebuilds a stale index if it can; otherwise starts on the last good build (with a warning).
    With no build at all while another replica is building, waits for that build."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return BackCareBot.load(index_dir=index_dir, corpus_dir=corpus_dir, auto_rebuild=True, allow_stale=True,
                                    settings=Settings(onnx_serving=onnx))
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
                               show_error=False, ssr_mode=False, css=CSS)


def launch(host: str = "127.0.0.1", port: int = 7860, bot: BackCareBot | None = None,
           index_dir=None, corpus_dir=None, onnx: bool = True) -> None:
    """Serves the page until SIGTERM or Ctrl-C (answers in flight get a few seconds to finish)."""
    from .serving import configure_logging, serve

    t0 = time.perf_counter()
    configure_logging()
    bot = bot or load_bot(index_dir=index_dir, corpus_dir=corpus_dir, onnx=onnx)
    bot.warm_up()
    watcher = IndexWatcher(bot).start()
    app = create_server_app(bot, watcher)
    serve(app, host, port, on_ready=lambda: print(
        f"Serving on http://{host}:{port} (ready in {time.perf_counter() - t0:.1f}s)", flush=True))
    watcher.stop()
