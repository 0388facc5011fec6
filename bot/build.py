"""Corpus → index on disk: embeds only new or changed chunks, writes a new build, swaps it in atomically."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from . import store
from .embedding import same_model
from .corpus import corpus_files, corpus_hashes, example_questions, read_document
from .readers import Unreadable
from .errors import BuildError, BuildLockedError, CorpusError, IndexCorruptError, IndexMissingError
from .settings import Settings


@dataclass(frozen=True)
class BuildReport:
    up_to_date: bool
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    documents: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks with at least one new or changed sentence
    reused: int = 0
    sentences_embedded: int = 0
    embed_seconds: float = 0.0  # model load and encoding, the part plain model.encode also pays
    export_seconds: float = 0.0  # the model's one-time ONNX export and its check (0 when already made)
    index_type: str = ""
    seconds: float = 0.0
    scope: dict = field(default_factory=dict)  # calibrated thresholds and margins
    examples: tuple[str, ...] = ()  # example questions the content answers, offered to visitors
    examples_unanswered: tuple[str, ...] = ()  # example questions it does not: fix or remove them
    warnings: tuple[str, ...] = ()  # files skipped and passages kept once, each said once

    def summary(self) -> str:
        if self.up_to_date:
            return f"Index is up to date ({self.documents} documents, {self.chunks} chunks); nothing to do."
        lines = [
            f"Built index: {len(self.added)} files added, {len(self.changed)} changed, {len(self.removed)} removed; "
            f"{self.chunks} chunks from {self.documents} documents, {self.embedded} embedded "
            f"({self.sentences_embedded} sentences), {self.reused} reused; {self.index_type} index in {self.seconds:.1f}s.",
        ]
        if self.scope:
            lines.append(f"Scope: floor {self.scope['floor']:.3f}, strong {self.scope['strong']:.3f} "
                         f"(margins {self.scope['margin_floor']:+.3f} / {self.scope['margin_strong']:+.3f} over "
                         f"{self.scope['bank_questions']} off-topic questions).")
        for question in self.examples_unanswered:
            lines.append(f"Example question not answered by the content (edit or remove it in examples.txt): {question}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Freshness:
    """How the live index compares with the corpus folder."""
    manifest: dict | None
    hashes: dict[str, str]
    reason: str = ""  # empty when the index is fresh
    corrupt: bool = False  # the live index is unreadable, not just missing or old
    other_model: bool = False  # built with another model: its vectors cannot serve this one

    @property
    def fresh(self) -> bool:
        return not self.reason


def check_freshness(settings: Settings) -> Freshness:
    """The live index against the corpus folder, the model, the chunk settings and the bot's data files."""
    from .index import current_model

    hashes = corpus_hashes(settings.corpus_dir)
    try:
        manifest = store.read_manifest(store.current_build(settings.index_dir))
    except IndexMissingError as e:
        return Freshness(None, hashes, str(e))
    except IndexCorruptError as e:
        return Freshness(None, hashes, str(e), corrupt=True)
    if not same_model(manifest.get("model"), current_model(settings)):
        return Freshness(manifest, hashes, "the index was built with another model", other_model=True)
    if manifest.get("format") != store.FORMAT_VERSION:
        return Freshness(manifest, hashes, "the index was built by an older version of the bot")
    if manifest.get("chunker") != settings.build.chunker_config():
        return Freshness(manifest, hashes, "the index was built with other chunk settings")
    if manifest.get("rules") != data_fingerprint():
        return Freshness(manifest, hashes, "the bot's data files (red flags, word tables) changed since the build")
    old = manifest.get("files", {})
    if old != hashes:
        added, changed, removed = diff_files(old, hashes)
        parts = [f"{len(x)} {label}" for x, label in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
        return Freshness(manifest, hashes, "corpus files changed since the last build (" + ", ".join(parts) + ")")
    return Freshness(manifest, hashes)


def diff_files(old: dict, new: dict) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    added = tuple(sorted(k for k in new if k not in old))
    changed = tuple(sorted(k for k in new if k in old and old[k] != new[k]))
    removed = tuple(sorted(k for k in old if k not in new))
    return added, changed, removed


def build_index(settings: Settings, force: bool = False, progress: bool = True, log=print) -> BuildReport:
    """The one rebuild path, used by build_index.py and by `fresh_bot` (the page, `python -m bot --rebuild`)."""
    index_dir = Path(settings.index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(index_dir / store.LOCK))
        lock.acquire(timeout=0)
    except Timeout:
        raise BuildLockedError(
            f"another build of {index_dir} is running; wait for it to finish, then run `python build_index.py` again"
        ) from None
    except OSError as e:
        raise BuildError(write_failure(index_dir, e)) from None
    try:
        store.remove_unfinished(index_dir)  # leftovers of builds that died: no build runs but ours
        report = _build_locked(settings, force, progress, log)
        if settings.serving.onnx:
            t = time.perf_counter()
            if prepare_onnx(settings, log):
                report = replace(report, export_seconds=time.perf_counter() - t)
        return report
    except (OSError, RuntimeError) as e:  # faiss reports a failed write as RuntimeError
        raise BuildError(write_failure(index_dir, e)) from None
    finally:
        store.remove_unfinished(index_dir)
        lock.release()


def prepare_onnx(settings: Settings, log) -> bool:
    """Exports the model for answering without torch, once per model, checked on the live build's
    sentences; does nothing (and loads nothing) when a verified export is already there. True when
    it exported (or tried to)."""
    from . import onnx_export
    from .index import current_model

    identity = current_model(settings)
    if onnx_export.verified_export(settings.index_dir, identity) is not None:
        return False
    sentences = store.read_chunks(store.current_build(settings.index_dir)).sentence_texts()
    n = settings.build.export_sample
    sample = sentences[::max(1, len(sentences) // n)][:n] + ["How can I stop slouching?",
                                                            "numbness in my groin and a bad back"]
    onnx_export.ensure_export(settings.index_dir, settings.resolved_model(), identity, sample, settings.serving, log)
    return True


def write_failure(index_dir: Path, error: Exception) -> str:
    """What went wrong writing the index, and what to do; the previous index is still the live one."""
    import errno

    code = getattr(error, "errno", None)
    text = str(error)
    if code == errno.ENOSPC or "No space left" in text:
        return (f"the disk is full: could not write the index in {index_dir}. Free some space, then run "
                "`python build_index.py` again (the previous index is still in use)")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text or "Read-only" in text:
        return (f"no permission to write in {index_dir} ({getattr(error, 'strerror', None) or text}): run the build "
                "as a user who may write there, or pass --index DIR (the previous index is still in use)")
    return (f"could not write the index in {index_dir}: {getattr(error, 'strerror', None) or text}. Fix that, then run "
            "`python build_index.py` again (the previous index is still in use)")


def _build_locked(settings: Settings, force: bool, progress: bool, log) -> BuildReport:
    """Read the corpus, embed what is new, write the indexes, calibrate, check the examples, publish."""
    t0 = time.perf_counter()
    freshness = check_freshness(settings)
    if freshness.fresh and not force:
        report = _unchanged(settings, freshness, log)
        if report is not None:
            return report
    warnings: list[str] = []
    documents, chunks = _read_corpus(settings, warnings)
    for warning in warnings:
        log(f"warning: {warning}")
    texts = _stored_texts(settings, chunks)
    embedded = _embed(settings, chunks, texts, force, progress)
    folder = store.new_build_folder(settings.index_dir)
    dense_index, index_type = write_dense_index(folder, embedded.sentence_vectors, settings.build,
                                                settings.retrieval.hnsw_ef_search)
    write_lexical_index(folder, chunks)
    store.write_chunks(folder, chunks)
    store.write_vocabulary(folder, texts.word_counts)
    store.write_text_vectors(folder, texts.keys, embedded.text_vectors)
    store.write_passage_vectors(folder, embedded.passage_vectors)
    recipe = pieces_recipe() if len(chunks) <= settings.build.pieces_max_chunks else ""  # "": none kept
    if recipe:
        store.write_passage_pieces(folder, _passage_pieces(settings, chunks, force, recipe),
                                   int(embedded.sentence_vectors.shape[1]))
    store.write_word_vectors(folder, texts.content_words, embedded.part(texts, "words"))
    calibration = _calibrate(settings, texts, embedded, dense_index)
    old_files = {} if force else (freshness.manifest or {}).get("files", {})
    added, changed, removed = diff_files(old_files, freshness.hashes)
    manifest = {
        "format": store.FORMAT_VERSION,
        "model": embedded.model,
        "dimensions": int(embedded.sentence_vectors.shape[1]),
        "chunker": settings.build.chunker_config(),
        "index_type": index_type,
        "corpus_dir": str(Path(settings.corpus_dir).resolve()),
        "files": freshness.hashes,
        "titles": {d.doc_id: d.title for d in documents},
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(embedded.sentence_vectors)},
        **calibration,
        "rules": data_fingerprint(),
        "pieces": recipe,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "index_files": store.file_checksums(folder),
    }
    write_manifest(folder, manifest)
    answered, unanswered = check_examples(folder, manifest, texts.examples or derived_examples(documents), settings)
    manifest["examples"] = answered[: settings.build.max_examples]
    write_manifest(folder, manifest)
    store.publish(settings.index_dir, folder)
    store.remove_checkpoints(settings.index_dir)
    return BuildReport(
        False, added, changed, removed, len(documents), len(chunks),
        embedded=embedded.chunks_embedded, reused=len(chunks) - embedded.chunks_embedded,
        sentences_embedded=embedded.count, index_type=index_type, seconds=time.perf_counter() - t0,
        embed_seconds=embedded.seconds, scope=calibration["scope"], examples=tuple(manifest["examples"]),
        examples_unanswered=tuple(unanswered) if texts.examples else (), warnings=tuple(warnings),
    )


def _unchanged(settings: Settings, freshness: Freshness, log) -> BuildReport | None:
    """Nothing to do when the live build is fresh and whole; None (with a line saying why) to rebuild."""
    try:
        store.verify_checksums(store.current_build(settings.index_dir), freshness.manifest)
    except IndexCorruptError as e:
        log(f"Rebuilding: {e}")
        return None
    counts = freshness.manifest.get("counts", {})
    return BuildReport(True, documents=counts.get("documents", 0), chunks=counts.get("chunks", 0))


def _read_corpus(settings: Settings, warnings: list[str]) -> tuple[list, list]:
    """The corpus's documents and their chunks; a passage found twice is kept once."""
    from . import lexical
    from .chunking import chunk_document

    paths = corpus_files(settings.corpus_dir, warnings)
    total = sum(p.stat().st_size for p in paths)
    limit = settings.build.max_corpus_bytes
    if total > limit:
        raise CorpusError(f"the corpus is {total / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit "
                          "for one build (Settings.build.max_corpus_bytes): embedding it would take hours; raise "
                          "the limit if that is meant")
    documents = []
    for path in paths:
        try:
            doc = read_document(path, settings.corpus_dir, settings.build.max_file_bytes, warnings,
                                settings.build.max_pdf_pages)
        except Unreadable as e:  # no text to quote (a scan, an encrypted PDF, a script-only page)
            warnings.append(str(e))
            continue
        if doc.paragraphs:
            documents.append(doc)
        else:
            warnings.append(f"skipped {doc.doc_id}: it has no text")
    chunks, seen_text = [], set()
    for doc in documents:
        for chunk in chunk_document(doc, **settings.build.chunker_config()):
            same = " ".join(lexical.words(chunk.text)) or chunk.text
            if same in seen_text:  # the same passage in two places is stored, and cited, once
                warnings.append(f"{chunk.chunk_id.split('#')[0]}, paragraph {chunk.paragraph}: "
                                "the same text is already in the corpus; kept once")
                continue
            seen_text.add(same)
            chunks.append(chunk)
    if not chunks:
        raise CorpusError(f"no text found in {settings.corpus_dir}: add .md, .txt, .html, .pdf or .docx documents, then build again")
    return documents, chunks


@dataclass(frozen=True)
class StoredTexts:
    """The texts a build embeds besides its passages, in this order in store.TEXT_VECTORS: the
    off-topic bank (calibrates scope), the example questions (checked), the content's words (an
    unknown word close to one is a synonym), the red flags' phrasings and the ordinary clauses that
    calibrate them."""
    bank: list[str]
    examples: list[str]
    content_words: list[str]
    flag_phrasings: list[str]
    ordinary: list[str]
    word_counts: dict[str, int]
    vocabulary: object

    @property
    def all(self) -> list[str]:
        return self.bank + self.examples + self.content_words + self.flag_phrasings + self.ordinary

    @property
    def keys(self) -> list[str]:
        from .chunking import text_hash

        return [text_hash(t) for t in self.all]

    def rows(self, part: str) -> slice:
        sizes = {"bank": len(self.bank), "examples": len(self.examples), "words": len(self.content_words),
                 "phrasings": len(self.flag_phrasings), "ordinary": len(self.ordinary)}
        start = 0
        for name, size in sizes.items():
            if name == part:
                return slice(start, start + size)
            start += size
        raise KeyError(part)


def _stored_texts(settings: Settings, chunks: list) -> StoredTexts:
    from . import lexical, scope, triage
    from .vocabulary import Vocabulary, domain_words

    bank, examples = scope.bank_questions(), example_questions(settings.corpus_dir)
    words = dict(Counter(w for c in chunks for w in lexical.words(c.text)))
    vocabulary = Vocabulary(words, settings.scope, domain_words())
    return StoredTexts(bank, examples, vocabulary.content_words(), triage.phrasings(),
                       triage.ordinary_clauses(bank + examples), words, vocabulary)


@dataclass(frozen=True)
class Embedded:
    model: dict  # the model's identity
    sentence_vectors: np.ndarray  # the passages' sentences, in index order
    text_vectors: np.ndarray  # the stored texts, in StoredTexts order
    count: int  # texts embedded now (the rest came from the previous build or a checkpoint)
    chunks_embedded: int  # chunks with at least one new sentence
    seconds: float  # model load and encoding, the part plain model.encode also pays
    passage_vectors: np.ndarray  # each passage read whole, in chunk order

    def part(self, texts: StoredTexts, name: str) -> np.ndarray:
        return self.text_vectors[texts.rows(name)]


def _embed(settings: Settings, chunks: list, texts: StoredTexts, force: bool, progress: bool) -> Embedded:
    """Vectors for every sentence and stored text; only new texts are embedded. Passages are searched
    by their sentences: a question usually matches one sentence, and a passage-wide vector blurs it
    with its neighbours. The cache is keyed by text and model."""
    from .chunking import text_hash
    from .index import current_model

    model = current_model(settings)
    cache = {} if force else store.previous_vectors(settings.index_dir, model)
    sentences = [s for c in chunks for s in c.embedded_texts()]
    passages = [c.passage_text() for c in chunks]  # each passage read whole, for the re-ranker
    keys, text_keys, passage_keys = [text_hash(s) for s in sentences], texts.keys, [text_hash(p) for p in passages]
    missing = list(dict.fromkeys(k for k in keys + text_keys + passage_keys if k not in cache))
    t_embed = time.perf_counter()
    if missing:
        from .embedding import shared_embedder

        by_key = dict(zip(keys + text_keys + passage_keys, sentences + texts.all + passages))
        if not force:  # an interrupted build's finished slices
            cache.update(store.read_checkpoints(settings.index_dir, model))
            missing = [k for k in missing if k not in cache]
        embedder = shared_embedder(settings.resolved_model(), settings.serving)
        step = settings.build.checkpoint_sentences
        for start in range(0, len(missing), step):
            part = missing[start:start + step]
            cache.update(zip(part, embedder.encode([by_key[k] for k in part], progress=progress and len(part) >= 256)))
            if len(missing) > step:  # a long build keeps what it has embedded, should it be stopped
                store.write_checkpoint(settings.index_dir, model, part, [cache[k] for k in part])
    seconds = time.perf_counter() - t_embed
    missing_set, row, chunks_embedded = set(missing), 0, 0
    for c in chunks:  # counted over the same keys, not hashed again
        chunks_embedded += any(k in missing_set for k in keys[row:row + len(c.sentences)])
        row += len(c.sentences)
    return Embedded(model, np.vstack([cache[k] for k in keys]).astype(np.float32),
                    np.vstack([cache[k] for k in text_keys]).astype(np.float32),
                    len(missing), chunks_embedded, seconds,
                    np.vstack([cache[k] for k in passage_keys]).astype(np.float32))


def pieces_recipe() -> str:
    """How a build keeps passages' pieces (`matching.stored`: its rules and the stopwords it leaves
    out), recorded in the manifest: a rebuild reuses the live build's pieces only when made the same way."""
    import hashlib

    from . import lexical, matching

    words = "\n".join(sorted(lexical.STOPWORDS))
    return hashlib.sha256(f"{matching.RECIPE}|{matching.QUANTUM}|{words}".encode()).hexdigest()[:16]


def _passage_pieces(settings: Settings, chunks: list, force: bool, recipe: str) -> list[np.ndarray]:
    """Each passage read whole, its salient word pieces as the model read them (`matching.stored`):
    one more pass over the passages the live build did not already have, a slice at a time."""
    from . import matching
    from .chunking import text_hash
    from .index import current_model

    texts = [c.passage_text() for c in chunks]
    keys = [text_hash(t) for t in texts]
    kept = {} if force else store.previous_pieces(settings.index_dir, current_model(settings), recipe)
    missing = [k for k in dict.fromkeys(keys) if k not in kept]
    if missing:
        from .embedding import shared_embedder

        embedder = shared_embedder(settings.resolved_model(), settings.serving)
        by_key, step = dict(zip(keys, texts)), settings.build.pieces_slice
        for start in range(0, len(missing), step):
            part = missing[start:start + step]
            kept.update(zip(part, (matching.stored(p) for p in embedder.pieces([by_key[k] for k in part]))))
    return [kept[k] for k in keys]


def _calibrate(settings: Settings, texts: StoredTexts, embedded: Embedded, dense_index) -> dict:
    """Scope's thresholds from the off-topic bank's closest passages; each red flag's threshold just
    above the closest ordinary clause. Both go in the manifest with their margins."""
    from . import scope, triage

    bank_best = dense_index.search(embedded.part(texts, "bank"), 1)[0][:, 0]
    return {
        "scope": scope.calibrate(texts.bank, bank_best, texts.vocabulary, settings.scope),
        "triage": triage.calibrate(embedded.part(texts, "phrasings"), embedded.part(texts, "ordinary"),
                                   len(texts.bank + texts.examples), settings.triage),
    }


def data_fingerprint() -> str:
    """A hash of the bot's own data files (red flags, word tables, the off-topic bank): editing one
    makes the index stale, since calibration and cached vectors depend on them."""
    import hashlib

    h = hashlib.sha256()  # the data folder is found here, not through lexical.py, which imports NLTK
    data = Path(__file__).resolve().parent / "data"
    for path in sorted(data.rglob("*")):
        name = path.relative_to(data).as_posix()
        if path.is_file() and name not in ANSWERING_ONLY:
            h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


# Data files that only answering reads (the fitted models, which the build's example check also
# uses, do count): editing these needs no rebuild.
ANSWERING_ONLY = frozenset({"intents.tsv", "models/README.md"})


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / store.MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def derived_examples(documents: list) -> list[str]:
    """Without an examples file, one question per document title (those the content answers are kept)."""
    return [f"What should I know about {d.title}?" for d in documents if d.title and d.title != d.doc_id]


def check_examples(folder: Path, manifest: dict, examples: list[str], settings: Settings) -> tuple[list[str], list[str]]:
    """Asks each example of the new build before it goes live: (answered, not answered)."""
    if not examples:
        return [], []
    from .chatbot import BackCareBot
    from .index import Index

    bot = BackCareBot(Index.open_folder(folder, manifest, settings, building=True), record_gaps=False)
    answered, unanswered = [], []
    for question in examples:
        answer = bot.ask(question)
        (answered if answer.in_scope and not answer.urgent else unanswered).append(question)
    return answered, unanswered


def choose_index_type(n_vectors: int, settings) -> str:
    """Exact search while it is fast enough; a graph index beyond, where exact would cost too much per query."""
    return "flat" if n_vectors <= settings.exact_search_max_vectors else "hnsw"


def write_dense_index(folder: Path, vectors: np.ndarray, settings, ef_search: int):
    """settings: BuildSettings; ef_search: the search breadth the calibration searches with."""
    import faiss

    index_type = choose_index_type(len(vectors), settings)
    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
    index.add(vectors)
    if index_type == "hnsw":
        index.hnsw.efSearch = ef_search
    store.write_dense(folder, index)
    return index, index_type


def write_lexical_index(folder: Path, chunks: list) -> None:
    import bm25s

    from . import lexical

    retriever = bm25s.BM25()
    retriever.index([lexical.passage_terms(c.heading, c.text) or [""] for c in chunks], show_progress=False)
    retriever.save(str(folder / store.LEXICAL), show_progress=False)


# ---- for the apps: a bot on a fresh index ---------------------------------------------------------

def fresh_bot(index_dir=None, corpus_dir=None, settings: Settings | None = None, rebuild: bool = False,
              allow_stale: bool = False):
    """A BackCareBot on an index checked against its corpus: a missing or stale index raises (or is
    rebuilt with rebuild=True). allow_stale=True opens the newest valid build when the index is out
    of date and cannot be rebuilt now (another build holds the lock, the disk is full or read-only, a
    corpus file is refused), with a warning saying why; a page then picks up the next build."""
    import logging

    from .chatbot import BackCareBot, resolve
    from .errors import IndexStaleError

    settings = resolve(settings, index_dir, corpus_dir)
    if Path(settings.corpus_dir).is_dir():
        try:
            freshness = check_freshness(settings)
            if freshness.other_model and not rebuild:
                raise IndexCorruptError("index was built with another model: run `python build_index.py --force`")
            if not freshness.fresh:
                if rebuild:
                    build_index(settings, progress=False, log=lambda *_: None)
                elif freshness.manifest is None:
                    raise (IndexCorruptError if freshness.corrupt else IndexMissingError)(freshness.reason)
                else:
                    raise IndexStaleError(f"index is out of date ({freshness.reason}): run `python build_index.py`")
        except (IndexStaleError, BuildLockedError, BuildError, CorpusError) as e:
            if not allow_stale or not _has_valid_build(settings):
                raise
            logging.getLogger("bot").warning("serving the last good index build: %s", e)
    return BackCareBot.load(settings=settings)


def _has_valid_build(settings: Settings) -> bool:
    """The live build is whole and was made with this model, so it can serve while out of date."""
    from .index import current_model

    try:
        folder = store.current_build(settings.index_dir)
        manifest = store.read_manifest(folder)
        store.verify_checksums(folder, manifest)
    except (IndexMissingError, IndexCorruptError):
        return False
    return same_model(manifest.get("model"), current_model(settings))
