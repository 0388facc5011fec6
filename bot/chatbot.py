"""BackCareBot: the one entry point. Loads the index once, then answers questions from it."""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import gaps, lexical, messages, safety, scope, store
from .answer import Answer, compose, fixed_reply, select_passages
from .build import build_index, check_freshness
from .errors import (BuildError, BuildLockedError, CorpusError, IndexCorruptError, IndexMissingError,
                     IndexStaleError)
from .retrieval import Hit, Query, Retriever
from .scope import Verdict
from .settings import Settings
from .triage import Triage
from .understanding import Message, understand

_log = logging.getLogger("bot")

# A message that asks nothing of the content: its fixed reply and the answer kind.
_FIXED_REPLIES = {
    "empty": (messages.EMPTY, "empty"),
    "greeting": (messages.GREETING, "small_talk"),
    "help": (messages.GREETING, "small_talk"),
    "thanks": (messages.THANKS, "small_talk"),
    "language": (messages.ENGLISH_ONLY, "language"),
}


class BackCareBot:
    """Answers back-care questions with the content's own sentences; safe to share across threads."""

    def __init__(self, retriever: Retriever, embedder, settings: Settings, record_gaps: bool = True):
        self.settings = settings
        self.gaps = gaps.GapLog(Path(settings.index_dir) / gaps.FILE_NAME if settings.gap_log and record_gaps else None)
        self._retriever = retriever
        self._embedder = embedder
        self._triage = self._make_triage(retriever)
        self._acute_note: dict[str, int | None] = {}
        self._reload_lock = threading.Lock()

    # ---- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, index_dir: str | Path | None = None, corpus_dir: str | Path | None = None,
             settings: Settings | None = None, auto_rebuild: bool = False, allow_stale: bool = False) -> "BackCareBot":
        """Opens the built index; a missing or stale one raises (or is rebuilt with auto_rebuild=True).

        allow_stale=True opens the newest valid build when the index is out of date and cannot be
        rebuilt now (another build holds the lock, the disk is full or read-only, a corpus file is
        refused), with a warning saying why; a page then picks up the next build when it is published."""
        settings = settings or Settings()
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
            if corpus_dir is None:
                settings = replace(settings, corpus_dir=_recorded_corpus(Path(index_dir), settings.corpus_dir))
        if corpus_dir is not None:
            settings = replace(settings, corpus_dir=Path(corpus_dir))

        if Path(settings.corpus_dir).is_dir():
            try:
                _ensure_fresh(settings, auto_rebuild)
            except (IndexStaleError, BuildLockedError, BuildError, CorpusError) as e:
                if not allow_stale or not _has_valid_build(settings):
                    raise
                _log.warning("serving the last good index build: %s", e)
        return cls._from_retriever(open_retriever(settings), settings)

    @classmethod
    def open(cls, folder: Path, manifest: dict, settings: Settings) -> "BackCareBot":
        """A bot over one build folder, before it is published (the build asks it the example questions)."""
        return cls._from_retriever(Retriever(folder, manifest, settings), settings, building=True)

    @classmethod
    def _from_retriever(cls, retriever: Retriever, settings: Settings, building: bool = False) -> "BackCareBot":
        from .embedding import limit_blas, say_once, shared_embedder
        from .onnx_export import verified_export

        onnx_folder = None
        if settings.onnx_serving and not building:
            onnx_folder = verified_export(settings.index_dir, retriever.manifest["model"])
            if onnx_folder is None:
                say_once("no verified ONNX export of the model in the index folder: answering with "
                         "sentence-transformers on torch (run `python build_index.py` to make one)")
        embedder = shared_embedder(retriever.manifest["model"], settings.torch_threads, settings.batch_size,
                                   settings.query_cache_size, onnx_folder=onnx_folder,
                                   run_tokens=settings.onnx_run_tokens)
        if not building:
            limit_blas(settings.blas_threads)
        if embedder.dim != retriever.manifest.get("dimensions"):
            raise IndexCorruptError(
                f"index has {retriever.manifest.get('dimensions')}-dimensional vectors but the model gives "
                f"{embedder.dim}: run `python build_index.py --force`"
            )
        return cls(retriever, embedder, settings, record_gaps=not building)

    def _make_triage(self, retriever: Retriever) -> Triage:
        """Red-flag reading for one build: its calibrated threshold; phrasings' vectors from the build's cache."""
        from .chunking import text_hash

        def encode_many(texts: list[str]) -> np.ndarray:
            known = retriever.fixed_vectors
            missing = [t for t in dict.fromkeys(texts) if text_hash(t) not in known]
            fresh = dict(zip(missing, self._embedder.encode_queries(missing))) if missing else {}
            return np.stack([fresh[t] if t in fresh else known[text_hash(t)] for t in texts]).astype(np.float32)

        return Triage(encode_many, retriever.triage_calibration, self.settings.triage_threshold_max)

    def warm_up(self) -> None:
        """Loads what the first red-flag message would otherwise wait for (medspaCy's pipeline)."""
        self._triage.warm_up()

    @property
    def examples(self) -> list[str]:
        """Example questions the content answers (checked by the build), for pages and replies."""
        return list(self._retriever.examples)

    def index_counts(self) -> dict:
        """Documents and passages in the live build."""
        counts = self._retriever.manifest.get("counts", {})
        return {"documents": int(counts.get("documents", 0)), "passages": int(counts.get("chunks", 0))}

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
            self._triage = self._make_triage(retriever)
            self._retriever = retriever
            self._acute_note = {}
            return True

    # ---- answering -------------------------------------------------------------------------
    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """understand → retrieve → decide → compose; one build serves the whole answer."""
        retriever, triage = self._retriever, self._triage  # even if a reload happens meanwhile
        message = understand(question, history, retriever.vocabulary, triage, self.settings)
        if message.reply:
            template, kind = _FIXED_REPLIES[message.reply]
            return fixed_reply(template, kind, retriever.examples, message.notice)
        hits, closeness = self._retrieve(message, retriever)
        verdict = self._decide(message, closeness, retriever)
        answer = self._compose(message, hits, verdict, retriever)
        self._record(message, verdict, answer, retriever)
        return answer

    def feedback(self, question: str, helpful: bool, chunk_ids: list[str] | tuple[str, ...] = ()) -> bool:
        """A visitor's like or dislike of an answer (the passages it quoted: its citations' chunk ids),
        kept in the gap log. False when the log is off or could not be written."""
        question = str(question)[: self.settings.max_question_chars]
        return self.gaps.record("liked" if helpful else "disliked", question, _topic(question, self._retriever),
                                tuple(map(str, chunk_ids)))

    def _record(self, message: Message, verdict: Verdict, answer: Answer, retriever: Retriever) -> None:
        """Refusals and red-flag triggers go to the gap log (the question's text only)."""
        if answer.kind == "refusal":
            topic = tuple(dict.fromkeys(verdict.uncovered + _topic(message.asked or message.text, retriever)))
            self.gaps.record("refused", message.text, topic)
        elif answer.urgent:
            self.gaps.record("urgent", message.text, red_flags=tuple(answer.red_flags))

    def _retrieve(self, message: Message, retriever: Retriever) -> tuple[list[Hit], scope.Closeness]:
        """Passages for the message (with what a follow-up leans on), and how close the content comes:
        to the whole query, to the message alone (which must carry any unknown word of its own), and
        to the question a follow-up leans on."""
        query = self._query(message.asked, message.context, retriever)
        hits = retriever.search(query)
        best = max((h.dense for h in hits[:3]), default=0.0)
        own = leaned = best
        if message.context:
            def closest(text: str) -> float:
                vector = self._written_in(text, retriever.vocabulary)
                return max(retriever.dense_scores(vector, 3).values(), default=0.0)
            own = closest(message.asked) if message.words.unknown else best
            leaned = max(closest(text) for text, _ in message.context)  # the chain's topic may be further back
        wanted = set(retriever.vocabulary.search_terms(message.search_text)[0])
        found = set()
        for h in hits[:3]:
            found |= wanted & set(lexical.passage_terms(h.chunk.title, h.chunk.text))
        return hits, scope.Closeness(best, own, leaned, shared=len(found))

    def _decide(self, message: Message, closeness: scope.Closeness, retriever: Retriever) -> Verdict:
        words = scope.known_by_meaning(message.words, self._embedder.encode_queries, retriever.word_vectors,
                                       self.settings.synonym_cosine)
        # How far an unknown word moves the question is measured on the text with the standard words
        # written in, as the scope thresholds were set.
        words = scope.weigh_unknown(message.search_text, words, self._embedder.encode_queries, self.settings)
        return scope.decide(closeness, words, retriever.calibration)

    def _compose(self, message: Message, hits: list[Hit], verdict: Verdict, retriever: Retriever) -> Answer:
        s = self.settings
        if message.red_flags:  # urgent care first, and no exercise advice after it
            urgent_text = safety.urgent_message(self._triage.advice(list(message.red_flags)))
            lead = "\n\n".join(filter(None, [message.notice and f"_{message.notice}_", urgent_text]))
            return Answer(text=lead, urgent=True, red_flags=list(message.red_flags), kind="urgent", lead=lead)
        if not verdict.in_scope:
            template = messages.REFUSAL
            if verdict.uncovered:
                template = messages.NOT_COVERED.replace("{topic}", _name_words(verdict.uncovered))
            return fixed_reply(template, "refusal", retriever.examples, message.notice)
        chosen = select_passages(hits, s.max_citations, s.support_ratio, s.support_dense_gap,
                                 retriever.calibration.floor)
        if message.acute:
            chosen = self._acute_first(chosen, hits, retriever)
        query_terms = set(lexical.query_terms(message.search_text))
        return compose(chosen, query_terms, acute=message.acute, notice=message.notice)

    # ---- internals -------------------------------------------------------------------------
    def _meaning(self, text: str, retriever: Retriever) -> np.ndarray:
        """The question's search vector: the model's vector of what was typed (triage has already
        encoded it), moved towards the stored vectors of the content's standard words for its
        everyday words ("tummy" → abdomen). Encoding the text with those words written in finds the
        same passages on our question sets, at the cost of a second encode."""
        vector = self._embedder.encode_query(text).astype(np.float32)
        extras = retriever.word_vectors_of(retriever.vocabulary.standard_additions(text))
        if len(extras):
            vector = vector + self.settings.lay_word_weight * extras.mean(axis=0)
            vector = vector / (np.linalg.norm(vector) or 1.0)
        return vector.astype(np.float32)

    def _written_in(self, text: str, vocabulary) -> np.ndarray:
        """The vector of a text with the content's standard words written in after its everyday ones:
        for the questions a follow-up leans on, and for how close the follow-up alone comes."""
        return self._embedder.encode_query(vocabulary.in_content_words(text))

    def _query(self, text: str, context: tuple[tuple[str, float], ...], retriever: Retriever) -> Query:
        """One vector and weighted term lists; a follow-up adds what it leans on, weighted less."""
        vocabulary = retriever.vocabulary
        vector = self._meaning(text, retriever)
        terms = []
        if context and not lexical.terms(text):
            # "And then what?" says almost nothing itself: what it leans on carries the search.
            vector = 0.5 * vector
        for part, weight in ((text, 1.0),) + tuple(context):
            own, guesses = vocabulary.search_terms(vocabulary.in_content_words(part))
            terms += [(own, weight), (guesses, weight * self.settings.guess_weight)]
            if part is not text:
                vector = vector + weight * self._written_in(part, vocabulary)
        if context:
            vector = vector / (np.linalg.norm(vector) or 1.0)
        return Query(vector=vector.astype(np.float32), terms=tuple(terms))

    def _acute_first(self, chosen: list[Hit], hits: list[Hit], retriever: Retriever) -> list[Hit]:
        """For a fresh injury, the content's own acute-pain note leads the citations."""
        key = retriever.folder.name
        if key not in self._acute_note:
            query = self._query(messages.ACUTE_NOTE_QUERY, (), retriever)
            found = retriever.search(query, k=5)
            top = found[0] if found else None
            self._acute_note[key] = top if top and top.dense >= retriever.calibration.strong else None
        note = self._acute_note[key]
        if note is None:
            return chosen
        rest = [h for h in chosen if h.chunk.chunk_id != note.chunk.chunk_id]
        return [note] + rest[: self.settings.max_citations - 1]


def _topic(text: str, retriever: Retriever) -> tuple[str, ...]:
    """What a question is about, for the gap log: its salient words, or else its content words."""
    words = retriever.vocabulary.salient_words(text)
    return tuple(words or dict.fromkeys(w for w in lexical.words(text) if w not in lexical.STOPWORDS and len(w) >= 3))


def _name_words(words: tuple[str, ...]) -> str:
    """"glaucoma", "wifi or router": the words a refusal names as not covered."""
    words = tuple(dict.fromkeys(words))[:3]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _ensure_fresh(settings: Settings, auto_rebuild: bool) -> None:
    freshness = check_freshness(settings)
    if freshness.other_model and not auto_rebuild:
        raise IndexCorruptError(f"index was built with another model ({freshness.manifest.get('model')}): "
                                "run `python build_index.py --force`")
    if freshness.fresh:
        return
    if auto_rebuild:
        build_index(settings, progress=False, log=lambda *_: None)
    elif freshness.manifest is None:
        raise (IndexCorruptError if freshness.corrupt else IndexMissingError)(freshness.reason)
    else:
        raise IndexStaleError(f"index is out of date ({freshness.reason}): run `python build_index.py`")


def _has_valid_build(settings: Settings) -> bool:
    """The live build is whole and was made with this model, so it can serve while out of date."""
    try:
        folder = store.current_build(settings.index_dir)
        manifest = store.read_manifest(folder)
        store.verify_checksums(folder, manifest)
    except (IndexMissingError, IndexCorruptError):
        return False
    return manifest.get("model") == settings.resolved_model()


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
