"""The index on disk: versioned build folders, a CURRENT pointer swapped atomically, checksummed files."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, IndexMissingError

FORMAT_VERSION = 1
POINTER = "CURRENT"
BUILDS = "builds"
LOCK = ".build.lock"
MANIFEST = "manifest.json"
CHUNKS = "chunks.json"
DENSE = "dense.faiss"
LEXICAL = "lexical"
KEEP_BUILDS = 2  # the current build and the one before, which a reader may still be opening

REBUILD_HINT = "run `python build_index.py --force`"


def current_build(index_dir: Path) -> Path:
    """The folder of the live build; raises when there is none."""
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise IndexMissingError(f"no index in {index_dir}: run `python build_index.py`")
    name = pointer.read_text(encoding="utf-8").strip()
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
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
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


def write_chunks(folder: Path, chunks: list) -> None:
    rows = [vars(c) for c in chunks]  # flat dataclasses: vars() is asdict() without its deep copies
    (Path(folder) / CHUNKS).write_text(json.dumps(rows, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def read_chunks(folder: Path) -> list:
    from .chunking import Chunk

    try:
        rows = json.loads((Path(folder) / CHUNKS).read_text(encoding="utf-8"))
        return [Chunk(**{**r, "sentences": tuple(tuple(s) for s in r["sentences"])}) for r in rows]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise IndexCorruptError(f"chunk metadata in {folder} is unreadable: {REBUILD_HINT}") from None


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


def previous_vectors(index_dir: Path, model: str) -> dict[str, np.ndarray]:
    """sentence text hash → vector from the live build when it used the same model: the embedding cache."""
    try:
        folder = current_build(index_dir)
        manifest = read_manifest(folder)
        verify_checksums(folder, manifest)
        if manifest.get("model") != model:
            return {}
        from .chunking import text_hash

        keys = [text_hash(s) for c in read_chunks(folder) for s in c.sentence_texts()]
        index = read_dense(folder, mmap=False)
        if index.ntotal != len(keys):
            return {}
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception:  # noqa: BLE001 - any unreadable old build just means no cache
        return {}
    return dict(zip(keys, vectors))


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


def prune(index_dir: Path, keep: str) -> None:
    """Removes unfinished builds and all but the newest finished ones."""
    builds = Path(index_dir) / BUILDS
    if not builds.is_dir():
        return
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    old = [p for p in finished if p.name != keep][: max(0, len(finished) - KEEP_BUILDS)]
    leftovers = [p for p in builds.iterdir() if p.name.startswith(".tmp-")]
    for path in old + leftovers:
        shutil.rmtree(path, ignore_errors=True)
    for path in Path(index_dir).glob(f".{POINTER}.*"):
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
