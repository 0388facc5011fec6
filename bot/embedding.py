"""Texts → normalized vectors with a sentence-transformers model, loaded only when needed."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

# The weights ship in a package; nothing may be fetched from a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class Embedder:
    """One model per process; query vectors are cached because follow-ups re-use earlier questions."""

    def __init__(self, model_name: str, threads: int = 2, batch_size: int = 64, cache_size: int = 512):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        torch.set_num_threads(max(1, threads))
        self.model_name = model_name
        self.batch_size = batch_size
        self.model = SentenceTransformer(model_name, device="cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # guards the query cache
        # The fast tokenizer refuses concurrent calls ("Already borrowed"), and two cores gain nothing
        # from parallel forward passes, so model calls take turns.
        self._model_lock = threading.Lock()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # sentence-transformers sorts by length inside encode, so padding per batch stays small.
        with self._model_lock:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        with self._model_lock:
            vector = self.model.encode(text, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        vector.setflags(write=False)
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


_SHARED: dict[tuple, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(model_name: str, threads: int = 2, batch_size: int = 64, cache_size: int = 512) -> Embedder:
    """One loaded model per process, so a rebuild followed by a load (or many bots in tests) loads it once."""
    key = (model_name, threads, batch_size, cache_size)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Embedder(model_name, threads, batch_size, cache_size)
        return _SHARED[key]
