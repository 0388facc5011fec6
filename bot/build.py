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
from .corpus import corpus_files, corpus_hashes, example_questions, read_document
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
    hashes = corpus_hashes(settings.corpus_dir)
    try:
        manifest = store.read_manifest(store.current_build(settings.index_dir))
    except IndexMissingError as e:
        return Freshness(None, hashes, str(e))
    except IndexCorruptError as e:
        return Freshness(None, hashes, str(e), corrupt=True)
    if manifest.get("model") != settings.resolved_model():
        return Freshness(manifest, hashes, "the index was built with another model", other_model=True)
    if manifest.get("chunker") != settings.chunker_config():
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
    """The one rebuild path, used by build_index.py and by BackCareBot.load(auto_rebuild=True)."""
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
        if settings.onnx_serving:
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

    model_name = settings.resolved_model()
    if onnx_export.verified_export(settings.index_dir, model_name) is not None:
        return False
    sentences = store.read_chunks(store.current_build(settings.index_dir)).sentence_texts()
    step = max(1, len(sentences) // 64)
    sample = sentences[::step][:64] + ["How can I stop slouching?", "numbness in my groin and a bad back"]
    onnx_export.ensure_export(settings.index_dir, model_name, sample, settings.onnx_min_cosine,
                              settings.torch_threads, log)
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
    t0 = time.perf_counter()
    freshness = check_freshness(settings)
    old_files = (freshness.manifest or {}).get("files", {})
    if freshness.fresh and not force:
        try:
            store.verify_checksums(store.current_build(settings.index_dir), freshness.manifest)
            counts = freshness.manifest.get("counts", {})
            return BuildReport(True, documents=counts.get("documents", 0), chunks=counts.get("chunks", 0))
        except IndexCorruptError as e:
            log(f"Rebuilding: {e}")

    from . import lexical, scope, triage
    from .chunking import chunk_document, text_hash
    from .vocabulary import Vocabulary, domain_words

    warnings: list[str] = []
    paths = corpus_files(settings.corpus_dir, warnings)
    total = sum(p.stat().st_size for p in paths)
    if total > settings.max_corpus_bytes:
        raise CorpusError(f"the corpus is {total / 1e6:.0f} MB, over the {settings.max_corpus_bytes / 1e6:.0f} MB limit "
                          "for one build (Settings.max_corpus_bytes): embedding it would take hours; raise the limit "
                          "if that is meant")
    documents = []
    for path in paths:
        doc = read_document(path, settings.corpus_dir, settings.max_file_bytes)
        if doc.paragraphs:
            documents.append(doc)
        else:
            warnings.append(f"skipped {doc.doc_id}: it has no text")
    chunks, seen_text = [], set()
    for doc in documents:
        for chunk in chunk_document(doc, **settings.chunker_config()):
            same = " ".join(lexical.words(chunk.text)) or chunk.text
            if same in seen_text:  # the same passage in two places is stored, and cited, once
                warnings.append(f"{chunk.chunk_id.split('#')[0]}, paragraph {chunk.paragraph}: "
                                "the same text is already in the corpus; kept once")
                continue
            seen_text.add(same)
            chunks.append(chunk)
    for warning in warnings:
        log(f"warning: {warning}")
    if not chunks:
        raise CorpusError(f"no text found in {settings.corpus_dir}: add .txt or .md documents, then build again")

    # Passages are searched by their sentences: a question usually matches one sentence, and a
    # passage-wide vector blurs it with its neighbours. The cache is keyed by sentence text and model.
    model_name = settings.resolved_model()
    cache = {} if force else store.previous_vectors(settings.index_dir, model_name)
    sentences = [s for c in chunks for s in c.sentence_texts()]
    keys = [text_hash(s) for s in sentences]
    # The off-topic bank calibrates scope; the examples are checked. Their vectors are cached too.
    bank, examples = scope.bank_questions(), example_questions(settings.corpus_dir)
    words = Counter(w for c in chunks for w in lexical.words(c.text))
    vocabulary = Vocabulary(dict(words), settings.salient_zipf, domain_words())
    # The content's words get vectors too: a question's unknown word close to one of them
    # ("monitor" and the content's "screen") is a word the content knows by another name.
    content_words = vocabulary.content_words()
    # Triage: the red flags' phrasings, and the clauses of ordinary messages that calibrate them.
    flag_texts = triage.phrasings()
    ordinary = triage.ordinary_clauses(bank + examples)
    questions = bank + examples + content_words + flag_texts + ordinary
    question_keys = [text_hash(q) for q in questions]
    missing = list(dict.fromkeys(k for k in keys + question_keys if k not in cache))
    t_embed = time.perf_counter()
    if missing:
        from .embedding import shared_embedder

        texts = dict(zip(keys + question_keys, sentences + questions))
        if not force:  # an interrupted build's finished slices
            cache.update(store.read_checkpoints(settings.index_dir, model_name))
            missing = [k for k in missing if k not in cache]
        embedder = shared_embedder(model_name, settings.torch_threads, settings.batch_size)
        step = settings.checkpoint_sentences
        for start in range(0, len(missing), step):
            part = missing[start:start + step]
            cache.update(zip(part, embedder.encode([texts[k] for k in part], progress=progress and len(part) >= 256)))
            if len(missing) > step:  # a long build keeps what it has embedded, should it be stopped
                store.write_checkpoint(settings.index_dir, model_name, part, [cache[k] for k in part])
    embed_seconds = time.perf_counter() - t_embed
    vectors = np.vstack([cache[k] for k in keys]).astype(np.float32)
    question_vectors = np.vstack([cache[k] for k in question_keys]).astype(np.float32)
    missing_set, row = set(missing), 0
    reembedded = 0  # chunks with a new sentence, counted over the same keys, not hashed again
    for c in chunks:
        reembedded += any(k in missing_set for k in keys[row:row + len(c.sentences)])
        row += len(c.sentences)

    folder = store.new_build_folder(settings.index_dir)
    dense_index, index_type = write_dense_index(folder, vectors, settings)
    write_lexical_index(folder, chunks)
    store.write_chunks(folder, chunks)
    store.write_vocabulary(folder, dict(words))
    store.write_question_vectors(folder, question_keys, question_vectors)
    n_fixed = len(bank) + len(examples)
    store.write_word_vectors(folder, content_words, question_vectors[n_fixed:n_fixed + len(content_words)])
    n_fixed += len(content_words)
    triage_calibration = triage.calibrate(question_vectors[n_fixed:n_fixed + len(flag_texts)],
                                          question_vectors[n_fixed + len(flag_texts):], len(bank + examples), settings)
    bank_best = dense_index.search(question_vectors[: len(bank)], 1)[0][:, 0]
    calibration = scope.calibrate(bank, bank_best, vocabulary, settings)
    added, changed, removed = diff_files({} if force else old_files, freshness.hashes)
    if force:
        added = tuple(sorted(freshness.hashes))
    manifest = {
        "format": store.FORMAT_VERSION,
        "model": model_name,
        "dimensions": int(vectors.shape[1]),
        "chunker": settings.chunker_config(),
        "index_type": index_type,
        "corpus_dir": str(Path(settings.corpus_dir).resolve()),
        "files": freshness.hashes,
        "titles": {d.doc_id: d.title for d in documents},
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "scope": calibration,
        "triage": triage_calibration,
        "rules": data_fingerprint(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "index_files": store.file_checksums(folder),
    }
    write_manifest(folder, manifest)
    answered, unanswered = check_examples(folder, manifest, examples or derived_examples(documents), settings)
    manifest["examples"] = answered[: settings.max_examples]
    write_manifest(folder, manifest)
    store.publish(settings.index_dir, folder)
    store.remove_checkpoints(settings.index_dir)
    return BuildReport(
        False, added, changed, removed, len(documents), len(chunks),
        embedded=reembedded, reused=len(chunks) - reembedded, sentences_embedded=len(missing),
        index_type=index_type, seconds=time.perf_counter() - t0, embed_seconds=embed_seconds,
        scope=calibration, examples=tuple(manifest["examples"]),
        examples_unanswered=tuple(unanswered) if examples else (), warnings=tuple(warnings),
    )


def data_fingerprint() -> str:
    """A hash of the bot's own data files (red flags, word tables, the off-topic bank): editing one
    makes the index stale, since calibration and cached vectors depend on them."""
    import hashlib

    h = hashlib.sha256()  # the data folder is found here, not through lexical.py, which imports NLTK
    for path in sorted((Path(__file__).resolve().parent / "data").iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


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

    bot = BackCareBot.open(folder, manifest, settings)
    answered, unanswered = [], []
    for question in examples:
        answer = bot.ask(question)
        (answered if answer.in_scope and not answer.urgent else unanswered).append(question)
    return answered, unanswered


def choose_index_type(n_vectors: int, settings: Settings) -> str:
    """Exact search while it is fast enough; a graph index beyond, where exact would cost too much per query."""
    return "flat" if n_vectors <= settings.exact_search_max_vectors else "hnsw"


def write_dense_index(folder: Path, vectors: np.ndarray, settings: Settings):
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
        index.hnsw.efSearch = settings.hnsw_ef_search
    store.write_dense(folder, index)
    return index, index_type


def write_lexical_index(folder: Path, chunks: list) -> None:
    import bm25s

    from . import lexical

    retriever = bm25s.BM25()
    retriever.index([lexical.passage_terms(c.title, c.text) or [""] for c in chunks], show_progress=False)
    retriever.save(str(folder / store.LEXICAL), show_progress=False)
