"""BackCareBot: the one entry point. Holds one opened build (an Index) and answers questions from it."""
from __future__ import annotations

import threading
from pathlib import Path

from . import answer, gaps, messages, retrieval, scope, store
from .answer import Answer
from .errors import IndexCorruptError, IndexMissingError, InvalidFeedbackError
from .index import DocumentEntry, Index
from .settings import Settings
from .understanding import understand


class BackCareBot:
    """Answers back-care questions with the content's own sentences; safe to share across threads.

    `index` is replaced whole when a newer build is published, so a question in flight keeps the
    build it started with and no lock is needed to read it."""

    def __init__(self, index: Index, record_gaps: bool = True):
        self.index = index
        self.settings = index.settings
        log = Path(self.settings.index_dir) / gaps.FILE_NAME
        serving = self.settings.serving
        self.gaps = gaps.GapLog(log if serving.gap_log and record_gaps else None,
                                keep_days=serving.gap_log_keep_days, max_bytes=serving.gap_log_max_bytes)
        self._reload = threading.Lock()  # one reload at a time; answering reads `index` without it

    @classmethod
    def load(cls, index_dir: str | Path | None = None, corpus_dir: str | Path | None = None,
             settings: Settings | None = None) -> "BackCareBot":
        """Opens the live build of the index (by default the project's index/). Keeping it fresh is
        `python build_index.py`'s job; `bot.build.fresh_bot` also rebuilds a stale one first."""
        return cls(Index.open(resolve(settings, index_dir, corpus_dir)))

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """understand → query → search → judge scope → reply → note gaps; one build serves it all."""
        index = self.index  # even if a reload happens meanwhile
        message = understand(question, history, index)
        if message.reply:
            template, kind = messages.FIXED_REPLIES[message.reply]
            reply = answer.fixed_reply(template, kind, index.examples, message.notice)
        else:
            hits = index.search(retrieval.query_for(message, index))
            verdict = scope.judge(message, hits, index)
            reply = answer.reply(message, hits, verdict, index)
            gaps.note(self.gaps, message, verdict, reply, index.vocabulary)
        triage = index.settings.triage
        return answer.with_crisis(answer.with_cautions(reply, message.cautions), message.crisis,
                                  triage.emergency_number, triage.crisis_line)

    def feedback(self, question: str, helpful: bool, chunk_ids: list[str] | tuple[str, ...] = ()) -> bool:
        """A visitor's like or dislike of an answer (the passages it quoted: its citations' chunk ids),
        kept in the gap log. False when the log is off or could not be written. Chunk ids the live
        build does not have are refused (InvalidFeedbackError): they would show up as passages."""
        unknown = [str(c) for c in chunk_ids if not self.index.has_chunk(str(c))]
        if unknown:
            raise InvalidFeedbackError(f"chunk_ids not in the live build: {', '.join(repr(c[:80]) for c in unknown[:3])}; "
                                       "send the chunk_id of each citation of the rated answer")
        question = str(question)[: self.settings.serving.max_question_chars]
        return self.gaps.record("liked" if helpful else "disliked", question,
                                gaps.topic(question, self.index.vocabulary), tuple(map(str, chunk_ids)))

    def reload_if_changed(self) -> bool:
        """Switches to a newer build when build_index.py has published one; the old one serves until then."""
        with self._reload:
            newer = self.index.newer()
            if newer is None:
                return False
            self.index = newer
            return True

    def warm_up(self) -> None:
        """Loads what the first red-flag message would otherwise wait for (medspaCy's pipeline)."""
        self.index.triage.warm_up()

    @property
    def examples(self) -> list[str]:
        """Example questions the content answers (checked by the build), for pages and replies."""
        return list(self.index.examples)

    def documents(self) -> list[DocumentEntry]:
        """The documents answers are quoted from (doc_id, title, url), in the order they were read."""
        return self.index.documents()

    def index_counts(self) -> dict:
        """Documents and passages in the live build."""
        return self.index.counts()

    @property
    def build_name(self) -> str:
        return self.index.name


def resolve(settings: Settings | None, index_dir=None, corpus_dir=None) -> Settings:
    """Settings for an index folder: its corpus is the one it was built from, unless one is given."""
    from dataclasses import replace

    settings = settings or Settings()
    if index_dir is not None:
        settings = replace(settings, index_dir=Path(index_dir))
        if corpus_dir is None:
            settings = replace(settings, corpus_dir=_recorded_corpus(Path(index_dir), settings.corpus_dir))
    if corpus_dir is not None:
        settings = replace(settings, corpus_dir=Path(corpus_dir))
    return settings


def _recorded_corpus(index_dir: Path, default: Path) -> Path:
    """The corpus an index was built from, so a rebuild of index_dir reads the right folder."""
    try:
        recorded = store.read_manifest(store.current_build(index_dir)).get("corpus_dir")
    except (IndexMissingError, IndexCorruptError):
        return default
    return Path(recorded) if recorded and Path(recorded).is_dir() else default
