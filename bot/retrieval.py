"""Question → ranked passages: the query (one vector and weighted word lists, with what a follow-up
leans on), and dense search over passage sentences fused with BM25 over passages."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import lexical, matching, ranking, store
from .chunking import Chunk
from .embedding import Pieces
from .errors import IndexCorruptError
from .settings import RetrievalSettings

if TYPE_CHECKING:
    from .index import Index
    from .understanding import Message


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score, for ordering
    dense: float  # cosine similarity of the question and the passage's closest sentence
    lexical: float  # BM25 score of the passage
    sentence_scores: tuple[float, ...] = ()  # cosine similarity per sentence of the passage
    passage: float = 0.0  # cosine similarity of the question and the passage read whole (its headings first)
    alone: float = 0.0  # the same for the message alone, without what a follow-up leans on


@dataclass(frozen=True)
class Query:
    """What to search for: one vector and weighted term lists (a follow-up adds the earlier question)."""
    vector: np.ndarray
    terms: tuple[tuple[tuple[str, ...], float], ...]
    text: str = ""  # what was asked, for the re-ranker's question type
    earlier: ranking.Earlier = ranking.Earlier()  # where the chat's latest answer was, for the re-ranker
    alone: np.ndarray | None = None  # a follow-up's own vector, without what it leans on
    pieces: "Pieces | None" = None  # the word pieces of what is asked, for `matching.each`

    def own_terms(self) -> set[str]:
        """The typed terms of the question and of what it leans on (not the guessed standard words)."""
        return {t for words, _ in self.terms[0::2] for t in words}


# ---- the query ------------------------------------------------------------------------------------

def vector_of(text: str, index: "Index") -> np.ndarray:
    """A question's search vector: the model's vector of what was typed (triage has already encoded
    it), moved towards the stored vectors of the content's standard words for its everyday words
    ("tummy" → abdomen). Encoding the text with those words written in finds the same passages on
    our question sets, at the cost of a second encode."""
    vector = index.embedder.encode_query(text).astype(np.float32)
    extras = index.word_vectors_of(index.vocabulary.standard_additions(text))
    if len(extras):
        vector = vector + index.settings.retrieval.lay_word_weight * extras.mean(axis=0)
        vector = vector / (np.linalg.norm(vector) or 1.0)
    return vector.astype(np.float32)


def written_in(text: str, index: "Index") -> np.ndarray:
    """The vector of a text with the content's standard words written in after its everyday ones:
    for the questions a follow-up leans on, and for how close the follow-up alone comes."""
    return index.embedder.encode_query(index.vocabulary.in_content_words(text))


def query(text: str, context: tuple[tuple[str, float], ...], index: "Index") -> Query:
    """One vector and weighted term lists; a follow-up adds what it leans on, weighted less."""
    s, vocabulary = index.settings.retrieval, index.vocabulary
    vector = alone = vector_of(text, index)
    terms = []
    if context and not lexical.terms(text):
        vector = s.contentless_weight * vector  # "And then what?": what it leans on carries the search
    # A follow-up with a topic of its own ("what about his itchy eyes though") leans on the chat less:
    # each salient word the content knows, after the first, weighs what it leans on down.
    scale = s.followup_own_word ** max(0, len(vocabulary.known_salient_words(text)) - 1) if context else 1.0
    for j, (part, weight) in enumerate(((text, 1.0),) + tuple((p, w * scale) for p, w in context)):
        own, guesses = vocabulary.search_terms(vocabulary.in_content_words(part))
        terms += [(own, weight), (guesses, weight * s.guess_weight)]
        if j:  # what a follow-up leans on
            vector = vector + weight * written_in(part, index)
    if context:
        vector = vector / (np.linalg.norm(vector) or 1.0)
    return Query(vector=vector.astype(np.float32), terms=tuple(terms), text=text, alone=alone if context else None)


def query_for(message: "Message", index: "Index") -> Query:
    """The query for what a message asks, with the earlier questions it leans on and where the
    chat's latest answer was."""
    found = query(message.asked, message.context, index)
    search = index.passages
    if message.asking and search.ranker is not None and search.passage_pieces is not None:
        # Only where the ranker reads them: on the torch path the pieces take a model pass of their
        # own (shared with the answerability model's match, which reads the same text).
        found = replace(found, pieces=index.embedder.query_pieces(message.asking))
    if not message.earlier:
        return found
    chunks = index.passages.chunks
    first = chunks.row_of(message.earlier[0])  # the ids came from this build's chunks
    document = chunks.columns["doc_id"][first] if first is not None else ""
    return replace(found, earlier=ranking.Earlier(document, frozenset(message.earlier), bool(message.context)))


# ---- the search -----------------------------------------------------------------------------------

class PassageSearch:
    """One build's chunks, FAISS index and BM25 state; read-only, so safe across threads."""

    def __init__(self, folder: Path, manifest: dict, settings: RetrievalSettings):
        import bm25s

        self.settings = settings
        self.ranker = ranking.model(str(ranking.MODELS / settings.ranker), ranking.PASSAGE_FEATURES) \
            if settings.ranker else None
        self.chunks = store.read_chunks(folder)
        self.dense = store.read_dense(folder)
        self.owner = self.chunks.owner  # sentence row → chunk
        # Each passage read whole: a build made before they were kept has none, and its closest
        # sentence stands in (rebuilding makes them).
        self.passage_vectors = store.read_passage_vectors(folder, len(self.chunks))
        # Each passage's word pieces (`matching`): a build made before they were kept has none.
        self.passage_pieces = store.read_passage_pieces(folder, len(self.chunks), manifest.get("dimensions"))
        try:
            self.lexical = bm25s.BM25.load(str(Path(folder) / store.LEXICAL), mmap=False, load_vocab=True,
                                           show_progress=False, verbosity=0)
        except Exception:  # noqa: BLE001 - bm25s raises many kinds on a damaged folder
            raise IndexCorruptError(f"lexical index in {folder} is unreadable: {store.REBUILD_HINT}") from None
        if self.dense.ntotal != len(self.owner) or self.dense.d != manifest.get("dimensions"):
            raise IndexCorruptError(f"index in {folder} does not match its chunk list: {store.REBUILD_HINT}")
        if hasattr(self.dense, "hnsw"):
            self.dense.hnsw.efSearch = settings.hnsw_ef_search

    def whole_vectors(self, hits: list[Hit]) -> np.ndarray | None:
        """The found passages each read whole; None for a build made before they were kept."""
        if self.passage_vectors is None:
            return None
        return np.asarray(self.passage_vectors[self._rows(hits)], dtype=np.float32)

    def pieces_of(self, hits: list[Hit]) -> list[np.ndarray] | None:
        """The found passages' word pieces, each read whole; None for a build made before they were kept."""
        if self.passage_pieces is None:
            return None
        vectors, starts = self.passage_pieces
        return [vectors[starts[r]:starts[r + 1]] for r in self._rows(hits)]

    def _rows(self, hits: list[Hit]) -> list[int]:
        """The found passages' rows in this build's chunk table."""
        return [r for r in (self.chunks.row_of(h.chunk.chunk_id) for h in hits) if r is not None]

    def sentence_similarities(self, i: int, vector: np.ndarray) -> np.ndarray:
        start, count = int(self.chunks.first_sentence[i]), int(self.chunks.sentence_counts[i])
        return self.dense.reconstruct_n(start, count) @ vector

    def dense_scores(self, vector: np.ndarray, k: int) -> dict[int, float]:
        """Best sentence similarity per passage, over the k passages with the closest sentences."""
        n = min(self.dense.ntotal, k * self.settings.dense_overfetch)
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

    def closest(self, vector: np.ndarray, k: int) -> float:
        """The cosine of the content's closest sentence among the k closest passages."""
        return max(self.dense_scores(vector, k).values(), default=0.0)

    def lexical_scores(self, terms: tuple[tuple[tuple[str, ...], float], ...]) -> np.ndarray:
        total = np.zeros(len(self.chunks), dtype=np.float32)
        for words, weight in terms:
            if words:
                total += weight * self.lexical.get_scores(list(words))
        return total

    def search(self, query: Query, k: int | None = None) -> list[Hit]:
        """Passages best first: the fused candidates, re-ranked by the learned ranker."""
        hits = self.candidates(query, k)
        return ranking.rerank(hits, query.own_terms(), query.text, self.ranker, query.earlier,
                              self.says(hits, query))[: self.settings.max_hits]

    def says(self, hits: list[Hit], query: Query) -> np.ndarray | None:
        """How much of what is asked each candidate says, word piece by word piece (`matching.each`);
        None where the ranker would not read it."""
        if self.ranker is None or len(hits) < 2:
            return None
        return matching.each(query.pieces, self.pieces_of(hits), len(hits))

    def candidates(self, query: Query, k: int | None = None) -> list[Hit]:
        """The candidates in fused order. Fusion adds BM25, scaled to the best passage's, to the cosine
        similarity: the cosine carries meaning and stays comparable across questions (scope checks use
        it), while BM25 lifts passages that share the question's exact or everyday words."""
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
        lexical_norm = lexical_all / max(top_lexical, s.lexical_floor) if top_lexical > 0 else lexical_all
        fused = {i: dense[i] + s.lexical_weight * float(lexical_norm[i]) for i in candidates}
        order = sorted(fused, key=lambda i: (-fused[i], -dense[i]))[: s.rerank_candidates]
        whole = self.passage_vectors[order] @ query.vector if self.passage_vectors is not None and order else None
        alone = self.passage_vectors[order] @ query.alone \
            if query.alone is not None and self.passage_vectors is not None and order else whole
        return [
            Hit(self.chunks[i], fused[i], dense[i], float(lexical_all[i]),
                tuple(float(x) for x in self.sentence_similarities(i, query.vector)),
                float(whole[j]) if whole is not None else dense[i], float(alone[j]) if alone is not None else dense[i])
            for j, i in enumerate(order)
        ]
