"""The index on disk: versioned build folders, a CURRENT pointer swapped atomically, checksummed files."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, IndexMissingError

FORMAT_VERSION = 9
# Format 6 had no page column: its passages are on no page. Formats before 8 have no passage
# vectors: the re-ranker reads a passage's closest sentence for them, until the build is made again.
READABLE_FORMATS = (6, 7, 8, 9)
POINTER = "CURRENT"
BUILDS = "builds"
LOCK = ".build.lock"
MANIFEST = "manifest.json"
CHUNKS = "chunks.json"
SENTENCES = "sentences.npy"
SENTENCE_COUNTS = "sentence_counts.npy"
DENSE = "dense.faiss"
LEXICAL = "lexical"
VOCABULARY = "vocabulary.json"  # the content's words with their counts: scope and spelling
# The build's stored texts: every text besides the passages that it embedded once (the off-topic
# bank, the example questions, the content's words and the red-flag phrasings), by text hash.
TEXT_VECTORS = "texts.npy"
PASSAGE_VECTORS = "passages.npy"  # one vector per chunk, of the passage read whole (format 8 on)
# Each passage's word pieces as the model read them whole (format 9 on): their vectors, passage
# after passage, and how many each passage has.
PIECE_VECTORS = "pieces.npy"
PIECE_COUNTS = "piece_counts.npy"
TEXT_KEYS = "texts.json"
WORD_VECTORS = "words.npy"  # vectors of the content's words, in the order of WORD_LIST
WORD_LIST = "words.json"
KEEP_BUILDS = 2  # the current build and the one before, which a reader may still be opening

REBUILD_HINT = "run `python build_index.py --force`"


def current_build(index_dir: Path) -> Path:
    """The folder of the live build; raises when there is none."""
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise IndexMissingError(f"no index in {index_dir}: run `python build_index.py`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (UnicodeDecodeError, OSError):
        raise IndexCorruptError(f"index pointer {pointer} is unreadable: {REBUILD_HINT}") from None
    folder = index_dir / BUILDS / name
    if not name or "/" in name or not folder.is_dir():
        raise IndexCorruptError(f"index pointer {pointer} names a missing build {name!r}: {REBUILD_HINT}")
    return folder


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"index manifest missing in {folder}: {REBUILD_HINT}") from None
    except (ValueError, UnicodeDecodeError):
        raise IndexCorruptError(f"index manifest in {folder} is unreadable: {REBUILD_HINT}") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise IndexCorruptError(f"index in {folder} has an unknown format: {REBUILD_HINT}")
    return manifest


def file_checksums(folder: Path) -> dict[str, dict]:
    """sha256 and size of every file of a build except the manifest, by relative path."""
    sums = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            sums[path.relative_to(folder).as_posix()] = {"sha256": h.hexdigest(), "bytes": path.stat().st_size}
    return sums


def verify_checksums(folder: Path, manifest: dict) -> None:
    """A truncated or altered file is caught here, before FAISS or numpy ever read it."""
    expected = manifest.get("index_files")
    if not isinstance(expected, dict) or not expected:
        raise IndexCorruptError(f"index manifest in {folder} lists no files: {REBUILD_HINT}")
    for rel, meta in expected.items():
        path = Path(folder) / rel
        if not path.is_file():
            raise IndexCorruptError(f"index file {rel} is missing: {REBUILD_HINT}")
        if path.stat().st_size != meta.get("bytes"):
            raise IndexCorruptError(f"index file {rel} is truncated or altered: {REBUILD_HINT}")
    actual = file_checksums(folder)
    for rel, meta in expected.items():
        if actual.get(rel, {}).get("sha256") != meta.get("sha256"):
            raise IndexCorruptError(f"index file {rel} is corrupted (checksum mismatch): {REBUILD_HINT}")


_CHUNK_COLUMNS = ("chunk_id", "doc_id", "title", "paragraph", "start", "end", "text", "url", "section", "page")


def write_chunks(folder: Path, chunks: list) -> None:
    """Column-wise: one JSON of lists and one array of sentence spans, so loading builds no objects."""
    columns = {name: [getattr(c, name) for c in chunks] for name in _CHUNK_COLUMNS}
    (Path(folder) / CHUNKS).write_text(json.dumps(columns, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    spans = np.array([span for c in chunks for span in c.sentences], dtype=np.int32).reshape(-1, 2)
    np.save(Path(folder) / SENTENCES, spans, allow_pickle=False)
    np.save(Path(folder) / SENTENCE_COUNTS, np.array([len(c.sentences) for c in chunks], dtype=np.int32),
            allow_pickle=False)


class ChunkTable:
    """The chunks of one build, read column-wise; a Chunk object is made only for a passage asked for."""

    def __init__(self, columns: dict, spans: np.ndarray, counts: np.ndarray):
        self.columns, self.spans, self.sentence_counts = columns, spans, counts
        self.first_sentence = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
        self.owner = np.repeat(np.arange(len(counts)), counts)  # sentence row of the dense index → chunk

    def __len__(self) -> int:
        return len(self.sentence_counts)

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self._rows

    @cached_property
    def _sentence_owners(self) -> dict[str, tuple[int, ...]]:
        """A sentence's words → the chunks that have it, in index order (built on first use)."""
        from .lexical import words

        owners: dict[str, list[int]] = {}
        for o, sentence in zip(self.owner.tolist(), self.sentence_texts()):
            key = " ".join(words(sentence))
            if key and o not in owners.get(key, ()):
                owners.setdefault(key, []).append(o)
        return {key: tuple(rows) for key, rows in owners.items()}

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.columns["chunk_id"])}

    def row_of(self, chunk_id: str) -> int | None:
        return self._rows.get(chunk_id)

    def quoting(self, sentence: str) -> tuple[int, ...]:
        """The chunks that have a quoted sentence ("Symptoms include:" may stand in many), or none."""
        from .lexical import words

        key = " ".join(words(sentence))
        return self._sentence_owners.get(key, ()) if key else ()

    def __getitem__(self, i: int):
        from .chunking import Chunk

        first, count = int(self.first_sentence[i]), int(self.sentence_counts[i])
        sentences = tuple((int(a), int(b)) for a, b in self.spans[first:first + count])
        return Chunk(**{name: self.columns[name][i] for name in _CHUNK_COLUMNS}, sentences=sentences)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def sentence_texts(self) -> list[str]:
        """Every sentence of every chunk, in index order (the rows of the dense index)."""
        texts = self.columns["text"]
        return [texts[o][a:b] for o, (a, b) in zip(self.owner.tolist(), self.spans.tolist())]

    def passage_texts(self) -> list[str]:
        """What the model read for each passage whole (Chunk.passage_text)."""
        from .chunking import passage_text

        c = self.columns
        return [passage_text(t, s, x) for t, s, x in zip(c["title"], c["section"], c["text"])]

    def embedded_texts(self) -> list[str]:
        """What the model read for each row of the dense index (Chunk.embedded_texts)."""
        from .chunking import in_context

        titles, sections = self.columns["title"], self.columns["section"]
        return [in_context(titles[o], sections[o], s) for o, s in zip(self.owner.tolist(), self.sentence_texts())]


def read_chunks(folder: Path) -> ChunkTable:
    try:
        columns = json.loads((Path(folder) / CHUNKS).read_text(encoding="utf-8"))
        spans = np.load(Path(folder) / SENTENCES, allow_pickle=False)
        counts = np.load(Path(folder) / SENTENCE_COUNTS, allow_pickle=False)
        n = len(counts)
        if isinstance(columns, dict) and "page" not in columns:  # a format-6 build
            columns["page"] = [0] * n
        if (not isinstance(columns, dict) or any(len(columns.get(k, ())) != n for k in _CHUNK_COLUMNS)
                or spans.ndim != 2 or len(spans) != int(counts.sum())):
            raise ValueError("inconsistent chunk table")
        return ChunkTable(columns, spans, counts)
    except (ValueError, TypeError, KeyError, OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"chunk metadata in {folder} is unreadable: {REBUILD_HINT}") from None


def write_vocabulary(folder: Path, words: dict[str, int]) -> None:
    (Path(folder) / VOCABULARY).write_text(json.dumps(words, ensure_ascii=False, sort_keys=True), encoding="utf-8")


def read_vocabulary(folder: Path) -> dict[str, int]:
    try:
        words = json.loads((Path(folder) / VOCABULARY).read_text(encoding="utf-8"))
        if not isinstance(words, dict):
            raise ValueError("not a word table")
        return {str(k): int(v) for k, v in words.items()}
    except (ValueError, TypeError, OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"vocabulary in {folder} is unreadable: {REBUILD_HINT}") from None


def write_text_vectors(folder: Path, keys: list[str], vectors: np.ndarray) -> None:
    np.save(Path(folder) / TEXT_VECTORS, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    (Path(folder) / TEXT_KEYS).write_text(json.dumps(keys), encoding="utf-8")


def write_passage_vectors(folder: Path, vectors: np.ndarray) -> None:
    np.save(Path(folder) / PASSAGE_VECTORS, np.asarray(vectors, dtype=np.float32), allow_pickle=False)


def write_passage_pieces(folder: Path, pieces: list[np.ndarray], dimensions: int) -> None:
    """Each passage's salient pieces as `matching.stored` keeps them (int8), passage after passage."""
    total = sum(len(p) for p in pieces)
    if not total:
        np.save(Path(folder) / PIECE_VECTORS, np.zeros((0, dimensions), dtype=np.int8), allow_pickle=False)
    else:
        _write_rows(Path(folder) / PIECE_VECTORS, pieces, total, dimensions)
    np.save(Path(folder) / PIECE_COUNTS, np.array([len(p) for p in pieces], dtype=np.int64), allow_pickle=False)


def _write_rows(path: Path, parts: list[np.ndarray], total: int, dimensions: int) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int8, shape=(total, dimensions))
    row = 0
    for p in parts:  # written in place: no second copy of them all
        out[row:row + len(p)] = p
        row += len(p)
    out.flush()
    del out


def read_passage_pieces(folder: Path, chunks: int, dimensions: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(every passage's piece vectors, where each passage's start), or None for a build that kept
    none (made before they were kept, or larger than `pieces_max_chunks`)."""
    vectors_path, counts_path = Path(folder) / PIECE_VECTORS, Path(folder) / PIECE_COUNTS
    if not vectors_path.exists() and not counts_path.exists():
        return None
    try:  # memory-mapped: a question reads only its top passages' pieces
        vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
        counts = np.load(counts_path, allow_pickle=False)
    except (ValueError, OSError):
        raise IndexCorruptError(f"passage pieces in {folder} are unreadable: {REBUILD_HINT}") from None
    if vectors.ndim != 2 or vectors.dtype != np.int8 or (dimensions is not None and vectors.shape[1] != dimensions) \
            or counts.ndim != 1 or len(counts) != chunks or int(counts.sum()) != len(vectors) \
            or (len(counts) and int(counts.min()) < 0):
        raise IndexCorruptError(f"passage pieces in {folder} do not match its chunk list: {REBUILD_HINT}")
    return vectors, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def read_passage_vectors(folder: Path, chunks: int) -> np.ndarray | None:
    """One vector per chunk of the passage read whole, or None for a build made before they were kept."""
    path = Path(folder) / PASSAGE_VECTORS
    if not path.exists():
        return None
    try:  # memory-mapped: a question reads only its candidates' rows
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        raise IndexCorruptError(f"passage vectors in {folder} are unreadable: {REBUILD_HINT}") from None
    if vectors.ndim != 2 or len(vectors) != chunks:
        raise IndexCorruptError(f"passage vectors in {folder} do not match its chunk list: {REBUILD_HINT}")
    return vectors


def read_text_vectors(folder: Path) -> dict[str, np.ndarray]:
    """text hash → vector of the build's stored texts (bank, examples, content words, red-flag phrasings)."""
    try:
        keys = json.loads((Path(folder) / TEXT_KEYS).read_text(encoding="utf-8"))
        vectors = np.load(Path(folder) / TEXT_VECTORS, allow_pickle=False)
    except (ValueError, OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"cached vectors in {folder} are unreadable: {REBUILD_HINT}") from None
    return dict(zip(keys, vectors)) if len(keys) == len(vectors) else {}


def write_word_vectors(folder: Path, words: list[str], vectors: np.ndarray) -> None:
    np.save(Path(folder) / WORD_VECTORS, np.asarray(vectors, dtype=np.float32).reshape(len(words), -1), allow_pickle=False)
    (Path(folder) / WORD_LIST).write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")


def read_word_vectors(folder: Path) -> tuple[list[str], np.ndarray]:
    try:
        words = json.loads((Path(folder) / WORD_LIST).read_text(encoding="utf-8"))
        vectors = np.load(Path(folder) / WORD_VECTORS, allow_pickle=False)
        if not isinstance(words, list) or len(words) != len(vectors):
            raise ValueError("word list and vectors differ")
        return words, vectors
    except (ValueError, TypeError, OSError, UnicodeDecodeError):
        raise IndexCorruptError(f"word vectors in {folder} are unreadable: {REBUILD_HINT}") from None


def write_dense(folder: Path, index) -> None:
    import faiss

    faiss.write_index(index, str(Path(folder) / DENSE))


def read_dense(folder: Path, mmap: bool = True):
    import faiss

    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    try:
        return faiss.read_index(str(Path(folder) / DENSE), flags)
    except RuntimeError:
        try:  # not every index type can be memory-mapped
            return faiss.read_index(str(Path(folder) / DENSE))
        except RuntimeError:
            raise IndexCorruptError(f"dense index in {folder} is unreadable: {REBUILD_HINT}") from None


def _live_build_of(index_dir: Path, model: dict) -> tuple[Path, dict] | None:
    """The live build's folder and manifest, checked whole, when it used the same model (its
    identity); None when it used another. Raises when there is none or it is damaged."""
    from .embedding import same_model

    folder = current_build(index_dir)
    manifest = read_manifest(folder)
    verify_checksums(folder, manifest)
    return (folder, manifest) if same_model(manifest.get("model"), model) else None


def previous_vectors(index_dir: Path, model: dict) -> dict[str, np.ndarray]:
    """text hash → vector from the live build when it used the same model (its identity): the
    embedding cache, for its sentences and its stored texts."""
    try:
        live = _live_build_of(index_dir, model)
        if live is None:
            return {}
        folder = live[0]
        from .chunking import text_hash

        chunks = read_chunks(folder)
        keys = [text_hash(s) for s in chunks.embedded_texts()]
        index = read_dense(folder, mmap=False)
        if index.ntotal != len(keys):
            return {}
        vectors = index.reconstruct_n(0, index.ntotal)
        cache = dict(zip(keys, vectors))
        cache.update(read_text_vectors(folder))
        passages = read_passage_vectors(folder, len(chunks))
        if passages is not None:
            cache.update(zip((text_hash(t) for t in chunks.passage_texts()), passages))
    except Exception:  # noqa: BLE001 - any unreadable old build just means no cache
        return {}
    return cache


def previous_pieces(index_dir: Path, model: dict, recipe: str) -> dict[str, np.ndarray]:
    """passage text hash → its stored pieces (memory-mapped), from the live build when it used the
    same model and kept them the same way (`recipe`: `build.pieces_recipe`, in its manifest): a
    rebuild reads again only the passages that changed."""
    try:
        live = _live_build_of(index_dir, model)
        if live is None or live[1].get("pieces") != recipe:
            return {}
        folder = live[0]
        from .chunking import text_hash

        chunks = read_chunks(folder)
        found = read_passage_pieces(folder, len(chunks))
        if found is None:
            return {}
        vectors, starts = found
        return {text_hash(t): vectors[starts[i]:starts[i + 1]] for i, t in enumerate(chunks.passage_texts())}
    except Exception:  # noqa: BLE001 - any unreadable old build just means no cache
        return {}


def new_build_folder(index_dir: Path) -> Path:
    folder = Path(index_dir) / BUILDS / f".tmp-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def publish(index_dir: Path, tmp_folder: Path) -> Path:
    """Makes a finished build live in one atomic step; readers see the old or the new, never half."""
    index_dir = Path(index_dir)
    for path in tmp_folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 1_000_000_000:09d}"
    final = index_dir / BUILDS / name
    os.rename(tmp_folder, final)
    pointer_tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex[:6]}"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    with open(pointer_tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / POINTER)
    _fsync_dir(index_dir)
    prune(index_dir, keep=name)
    return final


CHECKPOINTS = ".embed-checkpoints"


def _checkpoint_dir(index_dir: Path, model: dict) -> Path:
    from .embedding import model_key

    return Path(index_dir) / CHECKPOINTS / hashlib.sha256(model_key(model).encode("utf-8")).hexdigest()[:16]


def write_checkpoint(index_dir: Path, model: dict, keys: list[str], vectors: list) -> None:
    """One finished slice of embedding, written atomically, so a stopped build resumes after it."""
    folder = _checkpoint_dir(index_dir, model)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".part-{uuid.uuid4().hex[:8]}.npz"
    with open(tmp, "wb") as f:
        np.savez(f, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32))
    os.replace(tmp, folder / f"{time.time_ns()}.npz")


def read_checkpoints(index_dir: Path, model: dict) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    folder = _checkpoint_dir(index_dir, model)
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else ():
        try:
            with np.load(path, allow_pickle=False) as data:
                out.update(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            continue  # a damaged slice is embedded again
    return out


def remove_checkpoints(index_dir: Path) -> None:
    shutil.rmtree(Path(index_dir) / CHECKPOINTS, ignore_errors=True)


def remove_unfinished(index_dir: Path) -> None:
    """Removes the temporary folders and pointer files of builds that did not finish."""
    builds = Path(index_dir) / BUILDS
    if builds.is_dir():
        for path in builds.iterdir():
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)
    for path in Path(index_dir).glob(f".{POINTER}.*"):
        try:
            path.unlink()
        except OSError:
            pass


def prune(index_dir: Path, keep: str) -> None:
    """Removes unfinished builds and all but the newest finished ones."""
    builds = Path(index_dir) / BUILDS
    if not builds.is_dir():
        return
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    for path in [p for p in finished if p.name != keep][: max(0, len(finished) - KEEP_BUILDS)]:
        shutil.rmtree(path, ignore_errors=True)
    remove_unfinished(index_dir)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
