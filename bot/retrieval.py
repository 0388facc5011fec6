"""Question → ranked passages: dense search over passage sentences fused with BM25 over passages."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import store
from .chunking import Chunk
from .errors import IndexCorruptError
from .scope import Calibration
from .settings import Settings
from .vocabulary import Vocabulary, domain_words


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score, for ordering
    dense: float  # cosine similarity of the question and the passage's closest sentence
    lexical: float  # BM25 score of the passage
    sentence_scores: tuple[float, ...] = ()  # cosine similarity per sentence of the passage


@dataclass(frozen=True)
class Query:
    """What to search for: one vector and weighted term lists (a follow-up adds the earlier question)."""
    vector: np.ndarray
    terms: tuple[tuple[tuple[str, ...], float], ...]


class Retriever:
    """Holds one build's chunks, FAISS index and BM25 state; read-only, so safe across threads."""

    def __init__(self, folder: Path, manifest: dict, settings: Settings):
        import bm25s

        self.folder = Path(folder)
        self.manifest = manifest
        self.settings = settings
        self.chunks = store.read_chunks(folder)
        self.dense = store.read_dense(folder)
        self.owner = self.chunks.owner  # sentence row → chunk
        try:
            self.lexical = bm25s.BM25.load(str(self.folder / store.LEXICAL), mmap=False, load_vocab=True,
                                           show_progress=False, verbosity=0)
        except Exception:  # noqa: BLE001 - bm25s raises many kinds on a damaged folder
            raise IndexCorruptError(f"lexical index in {folder} is unreadable: {store.REBUILD_HINT}") from None
        if self.dense.ntotal != len(self.owner) or self.dense.d != manifest.get("dimensions"):
            raise IndexCorruptError(f"index in {folder} does not match its chunk list: {store.REBUILD_HINT}")
        if hasattr(self.dense, "hnsw"):
            self.dense.hnsw.efSearch = settings.hnsw_ef_search
        self.vocabulary = Vocabulary(store.read_vocabulary(folder), settings.salient_zipf, domain_words())
        self.calibration = Calibration.from_manifest(manifest, settings)
        self.content_words, self.word_vectors = store.read_word_vectors(folder)
        self._word_rows = {w: i for i, w in enumerate(self.content_words)}
        self.fixed_vectors = store.read_question_vectors(folder)
        self.triage_calibration = manifest.get("triage") or {}
        self.examples: list[str] = [q for q in manifest.get("examples", []) if isinstance(q, str)]

    def word_vectors_of(self, words: list[str]) -> np.ndarray:
        """The stored vectors of those words the content uses (rows in the order given)."""
        rows = [self._word_rows[w] for w in words if w in self._word_rows]
        return self.word_vectors[rows] if rows else np.zeros((0, self.word_vectors.shape[1]), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.chunks)

    def sentence_similarities(self, i: int, vector: np.ndarray) -> np.ndarray:
        start, count = int(self.chunks.first_sentence[i]), int(self.chunks.sentence_counts[i])
        return self.dense.reconstruct_n(start, count) @ vector

    def dense_scores(self, vector: np.ndarray, k: int) -> dict[int, float]:
        """Best sentence similarity per passage, over the k passages with the closest sentences."""
        n = min(self.dense.ntotal, k * 8)
        if n == 0:
            return {}
        scores, rows = self.dense.search(vector.reshape(1, -1).astype(np.float32), n)
        best: dict[int, float] = {}
        for row, score in zip(rows[0], scores[0]):
            if row >= 0:
                i = int(self.owner[row])
                if i not in best:
                    best[i] = float(score)
        return dict(list(best.items())[:k])

    def lexical_scores(self, terms: tuple[tuple[tuple[str, ...], float], ...]) -> np.ndarray:
        total = np.zeros(len(self.chunks), dtype=np.float32)
        for words, weight in terms:
            if words:
                total += weight * self.lexical.get_scores(list(words))
        return total

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        """Passages best first. Fusion adds BM25, scaled to the best passage's, to the cosine similarity:
        the cosine carries meaning and stays comparable across questions (scope checks use it), while
        BM25 lifts passages that share the question's exact or everyday words."""
        s = self.settings
        k = k or s.candidates
        dense = self.dense_scores(query.vector, k)
        lexical_all = self.lexical_scores(query.terms)
        top_lexical = float(lexical_all.max()) if len(lexical_all) else 0.0
        candidates = set(dense)
        if top_lexical > 0:  # the k best of the passages that share a word (few, in a large corpus)
            sharing = np.flatnonzero(lexical_all > 0)
            if len(sharing) > k:
                sharing = sharing[np.argpartition(-lexical_all[sharing], k - 1)[:k]]
            candidates.update(int(i) for i in sharing)
        for i in candidates - dense.keys():  # exact similarity for passages found by BM25 alone
            dense[i] = float(self.sentence_similarities(i, query.vector).max())
        # Scaling by the best BM25 (but at least lexical_floor) keeps one weak shared word from counting fully.
        lexical_norm = lexical_all / max(top_lexical, s.lexical_floor) if top_lexical > 0 else lexical_all
        fused = {i: dense[i] + s.lexical_weight * float(lexical_norm[i]) for i in candidates}
        order = sorted(fused, key=lambda i: (-fused[i], -dense[i]))[: s.max_hits]
        return [
            Hit(self.chunks[i], fused[i], dense[i], float(lexical_all[i]),
                tuple(float(x) for x in self.sentence_similarities(i, query.vector)))
            for i in order
        ]
