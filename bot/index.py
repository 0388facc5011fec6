"""One opened build, as one frozen object: its folder and manifest, the passage search, the embedder
that reads questions for it, and what the build calibrated and stored (vocabulary, scope
calibration, the content's word vectors, the stored texts' vectors, triage, example questions, the
content's own acute-pain note). A newer build is a new Index, swapped in whole."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import intents, messages, retrieval, store
from .chunking import text_hash
from .embedding import WithPieces, same_model
from .errors import IndexCorruptError, IndexMissingError
from .retrieval import Hit, PassageSearch, Query
from .scope import Calibration
from .settings import Settings
from .triage import Triage
from .vocabulary import Vocabulary, domain_words


def identity_cache(settings: Settings) -> Path:
    """Where the model's identity (a hash of its weights) is kept between runs: beside the exports."""
    from .onnx_export import MODELS

    return Path(settings.index_dir) / MODELS


def current_model(settings: Settings) -> dict:
    """The identity of the model these settings answer with."""
    from .embedding import model_identity

    return model_identity(settings.resolved_model(), identity_cache(settings))


@dataclass(frozen=True)
class DocumentEntry:
    """One document of the content, as its citations name it (its title and source address)."""
    doc_id: str  # its path within the corpus
    title: str
    url: str = ""  # its source address, when its front matter names one


@dataclass(frozen=True)
class Index:
    folder: Path
    manifest: dict
    settings: Settings
    passages: PassageSearch
    embedder: object  # embedding.Embedder or OnnxEmbedder
    vocabulary: Vocabulary
    calibration: Calibration
    content_words: tuple[str, ...]
    word_vectors: np.ndarray  # rows in the order of content_words
    text_vectors: dict  # text hash → vector of the build's stored texts (store.TEXT_VECTORS)
    triage: Triage
    examples: tuple[str, ...]  # questions the content answers (checked by the build), for pages and replies
    acute_note: Hit | None = None  # the content's own note on acute pain, cited first for a fresh injury
    _word_rows: dict = field(default_factory=dict, repr=False, compare=False)

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings) -> "Index":
        """The live build of settings.index_dir, checked whole; raises when there is none or it is damaged."""
        folder = store.current_build(settings.index_dir)
        manifest = store.read_manifest(folder)
        store.verify_checksums(folder, manifest)
        if not same_model(manifest.get("model"), current_model(settings)):
            raise IndexCorruptError(f"index was built with another model ({_model_name(manifest)}): "
                                    "run `python build_index.py --force`")
        return cls.open_folder(folder, manifest, settings)

    @classmethod
    def open_folder(cls, folder: Path, manifest: dict, settings: Settings, building: bool = False) -> "Index":
        """One build folder; `building`: not yet published (the build asks it its example questions),
        so it answers with sentence-transformers and leaves the process's BLAS threads alone."""
        from .embedding import limit_blas, say_once, shared_embedder
        from .onnx_export import verified_export

        serving = settings.serving
        onnx_folder = None
        if serving.onnx and not building:
            onnx_folder = verified_export(settings.index_dir, manifest.get("model") or {})
            if onnx_folder is None:
                say_once("no verified ONNX export of the model in the index folder: answering with "
                         "sentence-transformers on torch (run `python build_index.py` to make one)")
        embedder = shared_embedder(settings.resolved_model(), serving, onnx_folder=onnx_folder)
        if embedder.dim != manifest.get("dimensions"):
            raise IndexCorruptError(
                f"index has {manifest.get('dimensions')}-dimensional vectors but the model gives "
                f"{embedder.dim}: run `python build_index.py --force`")
        text_vectors = store.read_text_vectors(folder)
        words, word_vectors = store.read_word_vectors(folder)

        def encode_many(texts: list[str]) -> np.ndarray:
            """Stored texts' vectors from the build (kept in the query cache, for the steps that read
            them again); the rest in one model pass."""
            keys = {t: text_hash(t) for t in texts}
            # A text whose pieces are wanted is encoded whatever the build stored, and sent on as one
            # (an equal plain text, a clause read for red flags, may have come first).
            pieces = {t: t for t in texts if isinstance(t, WithPieces)}
            missing = [pieces.get(t, t) for t, key in keys.items() if key not in text_vectors or t in pieces]
            found = dict(zip(missing, embedder.encode_queries(missing))) if missing else {}
            for t, key in keys.items():
                if t not in found:
                    found[t] = embedder.remember(t, text_vectors[key])
            return np.stack([found[t] for t in texts]).astype(np.float32)

        index = cls(
            folder=Path(folder), manifest=manifest, settings=settings,
            passages=PassageSearch(folder, manifest, settings.retrieval),
            embedder=embedder,
            vocabulary=Vocabulary(store.read_vocabulary(folder), settings.scope, domain_words()),
            calibration=Calibration.from_manifest(manifest, settings.scope),
            content_words=tuple(words), word_vectors=word_vectors, text_vectors=text_vectors,
            triage=Triage(encode_many, manifest.get("triage") or {}, settings.triage),
            examples=tuple(q for q in manifest.get("examples", []) if isinstance(q, str)),
            _word_rows={w: i for i, w in enumerate(words)},
        )
        if not building:  # after FAISS and the model have loaded their BLAS libraries, which it limits
            limit_blas(serving.blas_threads)
        return replace(index, acute_note=index._find_acute_note())

    def newer(self) -> "Index | None":
        """The build published since this one was opened (same model), or None."""
        try:
            folder = store.current_build(self.settings.index_dir)
        except (IndexMissingError, IndexCorruptError):
            return None
        if folder.name == self.name:
            return None
        fresh = Index.open(self.settings)
        return fresh if same_model(fresh.manifest.get("model"), self.manifest.get("model")) else None

    # ---- reading -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.folder.name

    def counts(self) -> dict:
        """Documents and passages in this build."""
        counts = self.manifest.get("counts", {})
        return {"documents": int(counts.get("documents", 0)), "passages": int(counts.get("chunks", 0))}

    def documents(self) -> list[DocumentEntry]:
        """Every document of this build that has passages, once each, in the order they were read."""
        table, seen = self.passages.chunks.columns, {}
        for doc_id, title, url in zip(table["doc_id"], table["title"], table["url"]):
            seen.setdefault(doc_id, DocumentEntry(doc_id, title, url))
        return list(seen.values())

    def has_chunk(self, chunk_id: str) -> bool:
        """Whether this build has a passage of that id (a rated answer's citation)."""
        return self.passages.chunks.has(chunk_id)

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        return self.passages.search(query, k)

    def intent_of(self, text: str) -> str:
        """"question", or the small talk it is (intents.py); a question when no model is shipped."""
        model = intents.load(self.settings.serving.intents, self.embedder.dim, frozenset(messages.FIXED_REPLIES)) \
            if self.settings.serving.intents else None
        return model.intent(self.embedder.encode_query(text)) if model is not None else intents.QUESTION

    def word_vectors_of(self, words: list[str]) -> np.ndarray:
        """The stored vectors of those words the content uses (rows in the order given)."""
        rows = [self._word_rows[w] for w in words if w in self._word_rows]
        return self.word_vectors[rows] if rows else np.zeros((0, self.word_vectors.shape[1]), dtype=np.float32)

    def _find_acute_note(self) -> Hit | None:
        """The passage closest to the acute-pain note, when the content has one (a strong match)."""
        found = self.search(retrieval.query(messages.ACUTE_NOTE_QUERY, (), self), k=self.settings.retrieval.acute_note_hits)
        top = found[0] if found else None
        return top if top and top.dense >= self.calibration.strong else None


def _model_name(manifest: dict) -> str:
    model = manifest.get("model")
    return model.get("name", "?") if isinstance(model, dict) else str(model)
