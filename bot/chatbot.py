"""BackCareBot: the one entry point. Loads the index once, then answers questions from it."""
from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import lexical, messages, safety, store
from .answer import Answer, compose, fixed_reply, select_passages
from .build import build_index, check_freshness
from .conversation import check_history, clean_question, context_questions, leans_on_history, small_talk
from .errors import IndexCorruptError, IndexMissingError, IndexStaleError
from .retrieval import Hit, Query, Retriever
from .settings import Settings

_REMIT = re.compile(messages.OUT_OF_REMIT)
_ELSEWHERE = re.compile(messages.OTHER_BODY_PARTS)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SMALL_TALK_TEMPLATES = {
    "empty": (messages.EMPTY, "empty"),
    "greeting": (messages.GREETING, "small_talk"),
    "help": (messages.GREETING, "small_talk"),
    "thanks": (messages.THANKS, "small_talk"),
}


class BackCareBot:
    """Answers back-care questions with the content's own sentences; safe to share across threads."""

    def __init__(self, retriever: Retriever, embedder, settings: Settings):
        self.settings = settings
        self._retriever = retriever
        self._embedder = embedder
        self._acute_note: dict[str, int | None] = {}
        self._reload_lock = threading.Lock()

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, index_dir: str | Path | None = None, corpus_dir: str | Path | None = None,
             settings: Settings | None = None, auto_rebuild: bool = False) -> "BackCareBot":
        """Opens the built index; a missing or stale one raises (or is rebuilt with auto_rebuild=True)."""
        settings = settings or Settings()
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
            if corpus_dir is None:
                settings = replace(settings, corpus_dir=_recorded_corpus(Path(index_dir), settings.corpus_dir))
        if corpus_dir is not None:
            settings = replace(settings, corpus_dir=Path(corpus_dir))

        if Path(settings.corpus_dir).is_dir():
            freshness = check_freshness(settings)
            if freshness.other_model and not auto_rebuild:
                raise IndexCorruptError(f"index was built with another model ({freshness.manifest.get('model')}): "
                                        "run `python build_index.py --force`")
            if not freshness.fresh:
                if auto_rebuild:
                    build_index(settings, progress=False, log=lambda *_: None)
                elif freshness.manifest is None:
                    raise (IndexCorruptError if freshness.corrupt else IndexMissingError)(freshness.reason)
                else:
                    raise IndexStaleError(f"index is out of date ({freshness.reason}): run `python build_index.py`")
        retriever = open_retriever(settings)
        from .embedding import shared_embedder

        embedder = shared_embedder(retriever.manifest["model"], settings.torch_threads, settings.batch_size,
                                   settings.query_cache_size)
        if embedder.dim != retriever.manifest.get("dimensions"):
            raise IndexCorruptError(
                f"index has {retriever.manifest.get('dimensions')}-dimensional vectors but the model gives "
                f"{embedder.dim}: run `python build_index.py --force`"
            )
        return cls(retriever, embedder, settings)

    @property
    def build_name(self) -> str:
        return self._retriever.folder.name

    def reload_if_changed(self) -> bool:
        """Switches to a newer build when build_index.py has published one; the old one serves until then."""
        with self._reload_lock:
            try:
                folder = store.current_build(self.settings.index_dir)
            except (IndexMissingError, IndexCorruptError):
                return False
            if folder.name == self.build_name:
                return False
            retriever = open_retriever(self.settings)
            if retriever.manifest.get("model") != self._retriever.manifest.get("model"):
                return False
            self._retriever = retriever
            self._acute_note = {}
            return True

    # ---- answering -------------------------------------------------------------------------
    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        s = self.settings
        clean = clean_question(question, s.max_question_chars)
        turns = check_history(history, s.history_turns)
        notice = messages.TOO_LONG.format(limit=s.max_question_chars) if clean.truncated else ""
        text = clean.text

        kind = small_talk(text) if _LETTER.search(text) or not text else "empty"
        if kind:
            template, answer_kind = _SMALL_TALK_TEMPLATES[kind]
            return fixed_reply(template, answer_kind, notice)

        retriever = self._retriever  # one build for the whole answer, even if a reload happens meanwhile
        flags = safety.red_flags(text)
        urgent_text = safety.urgent_message(flags) if flags else ""
        if not flags and not self._looks_english(text, retriever):
            return fixed_reply(messages.ENGLISH_ONLY, "language", notice)

        search_text = safety.without_denials(text)
        context = context_questions(turns, s.followup_weight) if leans_on_history(search_text) else []
        query = self._query(search_text, context)
        hits = retriever.search(query)
        query_terms = {t for words, _ in query.terms for t in words}
        outside_remit = bool(_REMIT.search(text.lower()))
        in_scope = not outside_remit and self._covers(hits, query_terms, search_text)
        if in_scope and context and not self._own_words_known(search_text, retriever):
            # "What about pizza?" leans on the last question but asks about something else: its own
            # words are unknown to the content and, alone, it matches no passage.
            own_best = retriever.dense_scores(self._embedder.encode_query(search_text), 3)
            in_scope = max(own_best.values(), default=0.0) >= s.min_dense_score

        if not in_scope:
            if flags:
                lead = "\n\n".join(filter(None, [notice and f"_{notice}_", urgent_text]))
                return Answer(text=lead, urgent=True, red_flags=flags, kind="urgent", lead=lead)
            return fixed_reply(messages.REMIT_REFUSAL if outside_remit else messages.REFUSAL, "refusal", notice)

        acute = safety.describes_acute_pain(text)
        chosen = select_passages(hits, s.max_citations, s.support_ratio)
        if acute:
            chosen = self._acute_first(chosen, hits, retriever)
        return compose(chosen, query_terms, urgent_text=urgent_text, acute=acute, notice=notice, red_flags=flags)

    # ---- internals -------------------------------------------------------------------------
    def _query(self, text: str, context: list[tuple[str, float]]) -> Query:
        vector = self._embedder.encode_query(text).astype(np.float32)
        terms = [(tuple(lexical.query_terms(text)), 1.0)]
        if context:
            vector = vector.copy()
            for ctx, weight in context:
                vector += weight * self._embedder.encode_query(ctx)
                terms.append((tuple(lexical.query_terms(ctx)), weight))
            vector /= np.linalg.norm(vector) or 1.0
        return Query(vector=vector, terms=tuple(terms))

    def _covers(self, hits: list[Hit], terms: set[str], text: str) -> bool:
        """Whether the content answers this: a close passage, or a fair one that shares words with it.

        Cosine similarity alone leaves off-topic questions (about 0.25 at most) too close to
        everyday-worded on-topic ones, so in that grey band we also ask for shared words: two of the
        question's words (or their content equivalents) in the top passages, or one when the match is fair.
        """
        if not hits:
            return False
        s = self.settings
        best_dense = max(h.dense for h in hits[:3])
        if best_dense >= s.strong_dense_score:
            return True
        if best_dense < s.min_dense_score or _ELSEWHERE.search(text.lower()):
            return False
        shared = set()
        for hit in hits[:3]:
            shared |= terms & set(lexical.terms(hit.chunk.text))
        return len(shared) >= s.min_shared_terms or (bool(shared) and best_dense >= s.fair_dense_score)

    @staticmethod
    def _own_words_known(text: str, retriever: Retriever) -> bool:
        """A follow-up's own content words (if any) are words the content or the lay-word table knows."""
        own = lexical.query_terms(text)
        return not own or any(retriever.knows(t) for t in own)

    @staticmethod
    def _looks_english(text: str, retriever: Retriever) -> bool:
        """English words we know (stopwords or the content's vocabulary): otherwise say we answer in English."""
        words = lexical.words(text)
        if not words:
            return False
        known = sum(1 for w in words if w in lexical.STOPWORDS or retriever.knows(lexical.stem(w)))
        return known >= 1 and known >= 0.25 * len(words)

    def _acute_first(self, chosen: list[Hit], hits: list[Hit], retriever: Retriever) -> list[Hit]:
        """For a fresh injury, the content's own acute-pain note leads the citations."""
        key = retriever.folder.name
        if key not in self._acute_note:
            query = Query(self._embedder.encode_query(messages.ACUTE_NOTE_QUERY),
                          ((tuple(lexical.query_terms(messages.ACUTE_NOTE_QUERY)), 1.0),))
            found = retriever.search(query, k=5)
            top = found[0] if found else None
            self._acute_note[key] = top if top and top.dense >= self.settings.strong_dense_score else None
        note = self._acute_note[key]
        if note is None:
            return chosen
        rest = [h for h in chosen if h.chunk.chunk_id != note.chunk.chunk_id]
        return [note] + rest[: self.settings.max_citations - 1]


def open_retriever(settings: Settings) -> Retriever:
    folder = store.current_build(settings.index_dir)
    manifest = store.read_manifest(folder)
    store.verify_checksums(folder, manifest)
    return Retriever(folder, manifest, settings)


def _recorded_corpus(index_dir: Path, default: Path) -> Path:
    """The corpus an index was built from, so load(index_dir=...) checks the right folder."""
    try:
        recorded = store.read_manifest(store.current_build(index_dir)).get("corpus_dir")
    except (IndexMissingError, IndexCorruptError):
        return default
    return Path(recorded) if recorded and Path(recorded).is_dir() else default
