"""Question → ranked passages: dense FAISS search fused with BM25 by reciprocal rank."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import store
from .chunking import Chunk
from .errors import IndexCorruptError
from .settings import Settings


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused rank score, for ordering
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 score


@dataclass(frozen=True)
class Query:
    """What to search for: weighted texts' vectors and terms (a follow-up adds the earlier question)."""
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
        try:
            self.lexical = bm25s.BM25.load(str(self.folder / store.LEXICAL), mmap=False, load_vocab=True,
                                           show_progress=False, verbosity=0)
        except Exception:  # noqa: BLE001 - bm25s raises many kinds on a damaged folder
            raise IndexCorruptError(f"lexical index in {folder} is unreadable: {store.REBUILD_HINT}") from None
        if self.dense.ntotal != len(self.chunks) or self.dense.d != manifest.get("dimensions"):
            raise IndexCorruptError(f"index in {folder} does not match its chunk list: {store.REBUILD_HINT}")
        if hasattr(self.dense, "hnsw"):
            self.dense.hnsw.efSearch = settings.hnsw_ef_search

    def __len__(self) -> int:
        return len(self.chunks)

    def dense_scores(self, vector: np.ndarray, k: int) -> dict[int, float]:
        k = min(k, len(self.chunks))
        scores, ids = self.dense.search(vector.reshape(1, -1).astype(np.float32), k)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}

    def lexical_scores(self, terms: tuple[tuple[tuple[str, ...], float], ...]) -> np.ndarray:
        total = np.zeros(len(self.chunks), dtype=np.float32)
        for words, weight in terms:
            if words:
                total += weight * self.lexical.get_scores(list(words))
        return total

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        s = self.settings
        k = k or s.candidates
        dense = self.dense_scores(query.vector, k)
        lexical_all = self.lexical_scores(query.terms)
        n_lex = min(k, len(self.chunks))
        lex_top = np.argpartition(-lexical_all, n_lex - 1)[:n_lex] if n_lex else []
        lexical = {int(i): float(lexical_all[i]) for i in lex_top if lexical_all[i] > 0}

        fused: dict[int, float] = {}
        for weight, scores in ((s.dense_weight, dense), (s.lexical_weight, lexical)):
            for rank, i in enumerate(sorted(scores, key=scores.get, reverse=True)):
                fused[i] = fused.get(i, 0.0) + weight / (s.rrf_k + rank + 1)
        missing = [i for i in fused if i not in dense]
        if missing:  # exact similarity for lexical-only candidates, so scope checks see true numbers
            vectors = self.dense.reconstruct_batch(np.array(missing, dtype=np.int64))
            for i, v in zip(missing, vectors):
                dense[i] = float(v @ query.vector)
        order = sorted(fused, key=lambda i: (-fused[i], -dense[i]))
        return [Hit(self.chunks[i], fused[i], dense[i], float(lexical_all[i])) for i in order]
