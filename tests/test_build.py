import errno
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from bot import BackCareBot, BuildError, IndexMissingError, IndexStaleError
from bot import store
from bot.build import build_index, fresh_bot
from bot.index import current_model
from conftest import PROJECT, as_an_older_build

QUIET = {"progress": False, "log": lambda *_: None}


def test_full_build_writes_manifest_chunks_and_indexes(settings):
    folder = store.current_build(settings.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["dimensions"] == 384
    assert manifest["model"] == current_model(settings)
    assert "minilm" in manifest["model"]["name"].lower() and len(manifest["model"]["weights"]) == 32
    assert settings.resolved_model() not in json.dumps(manifest["model"])  # no path: the index can move
    assert manifest["chunker"] == settings.build.chunker_config()
    assert set(manifest["files"]) == {"back-exercises.txt", "examples.txt"}
    assert len(manifest["files"]["back-exercises.txt"]) == 64
    assert manifest["counts"]["documents"] == 1 and manifest["counts"]["chunks"] >= 10
    assert {"chunks.json", "dense.faiss"} <= set(manifest["index_files"])
    assert manifest["index_type"] == "flat"


def test_changed_document_reembeds_only_its_chunks(small_corpus):
    first = build_index(small_corpus, **QUIET)
    assert first.embedded == first.chunks and set(first.added) == {"back-exercises.txt", "walking.md"}

    walking = small_corpus.corpus_dir / "walking.md"
    walking.write_text(walking.read_text().replace("ten minutes", "fifteen minutes"), encoding="utf-8")
    second = build_index(small_corpus, **QUIET)
    assert second.changed == ("walking.md",)
    assert second.embedded == 1  # only the edited paragraph's chunk
    assert second.reused == second.chunks - 1

    walking.unlink()
    third = build_index(small_corpus, **QUIET)
    assert third.removed == ("walking.md",) and third.embedded == 0
    bot = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    assert all(c.doc_id == "back-exercises.txt" for c in bot.index.passages.chunks)


def test_unchanged_corpus_rebuild_does_not_load_the_model(small_corpus):
    build_index(small_corpus, **QUIET)
    code = (
        "import sys; from dataclasses import replace; from pathlib import Path\n"
        "from bot.build import build_index; from bot.settings import Settings\n"
        f"s = replace(Settings(), corpus_dir=Path({str(small_corpus.corpus_dir)!r}), index_dir=Path({str(small_corpus.index_dir)!r}))\n"
        "r = build_index(s)\n"
        "print(r.up_to_date, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_build_script_reports_what_it_did(small_corpus):
    cmd = [sys.executable, "build_index.py", "--corpus", str(small_corpus.corpus_dir), "--index", str(small_corpus.index_dir)]
    first = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, check=True)
    assert "2 files added" in first.stdout and "embedded" in first.stdout
    again = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, check=True)
    assert again.stdout.strip().splitlines() == [again.stdout.strip()]
    assert "up to date" in again.stdout


def test_force_rebuild_embeds_everything(small_corpus):
    build_index(small_corpus, **QUIET)
    forced = build_index(small_corpus, force=True, **QUIET)
    assert not forced.up_to_date and forced.embedded == forced.chunks


def test_stale_index_is_never_used_silently(small_corpus):
    build_index(small_corpus, **QUIET)
    (small_corpus.corpus_dir / "new-page.txt").write_text("New page\nCore work helps the back.\n", encoding="utf-8")
    with pytest.raises(IndexStaleError, match="build_index.py"):
        fresh_bot(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    bot = fresh_bot(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir, rebuild=True)
    assert any(c.doc_id == "new-page.txt" for c in bot.index.passages.chunks)


def test_missing_index_names_the_build_command(small_corpus):
    with pytest.raises(IndexMissingError, match="build_index.py"):
        BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)


def test_failed_build_leaves_previous_index_intact(small_corpus, monkeypatch):
    build_index(small_corpus, **QUIET)
    before = store.current_build(small_corpus.index_dir)
    (small_corpus.corpus_dir / "walking.md").write_text("# Walking\n\nWalk daily.\n", encoding="utf-8")

    def broken(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("bot.build.write_lexical_index", broken)
    with pytest.raises(BuildError, match="the disk is full"):
        build_index(small_corpus, **QUIET)
    assert store.current_build(small_corpus.index_dir) == before
    assert not [p for p in (small_corpus.index_dir / "builds").iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.undo()
    bot = fresh_bot(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir, rebuild=True)
    assert bot.ask("How often should I walk?").in_scope


def test_index_type_switches_from_exact_to_hnsw_at_the_threshold(small_corpus):
    build_index(small_corpus, **QUIET)
    vectors = json.loads((store.current_build(small_corpus.index_dir) / "manifest.json").read_text())["counts"]["sentences"]
    exact = small_corpus.but(exact_search_max_vectors=vectors)
    assert build_index(exact, force=True, **QUIET).index_type == "flat"
    graph = small_corpus.but(exact_search_max_vectors=vectors - 1)
    assert build_index(graph, force=True, **QUIET).index_type == "hnsw"
    bot = BackCareBot.load(index_dir=graph.index_dir, corpus_dir=graph.corpus_dir, settings=graph)
    assert hasattr(bot.index.passages.dense, "hnsw")
    answer = bot.ask("How can I stop slouching?")
    assert any("prevent slouching" in c.text for c in answer.citations[:3])


def test_each_passage_is_also_read_whole_for_the_re_ranker(small_corpus):
    """The build keeps one vector per passage, the model's reading of it whole under its title and
    headings; each candidate of a search carries how close that reading comes to the question."""
    import numpy as np

    from bot import retrieval

    small_corpus = small_corpus.but(chunk_join_chars=0)  # the walking page's two short paragraphs apart
    build_index(small_corpus, **QUIET)
    bot = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir, settings=small_corpus)
    search = bot.index.passages
    assert search.passage_vectors.shape == (len(search.chunks), 384)
    texts = search.chunks.passage_texts()
    assert any(t.startswith("Walking for a healthy back: Start with ten minutes") for t in texts)
    fresh = bot.index.embedder.encode_queries(texts)
    assert np.allclose(np.sum(fresh * search.passage_vectors, axis=1), 1.0, atol=1e-3)
    query = retrieval.query("how many minutes should I walk a day?", (), bot.index)
    hits = search.candidates(query)
    rows = [search.chunks.row_of(h.chunk.chunk_id) for h in hits]
    assert hits and np.allclose([h.passage for h in hits], search.passage_vectors[rows] @ query.vector, atol=1e-5)
    assert max(hits, key=lambda h: h.passage).chunk.text.startswith("Start with ten minutes")


def test_a_build_made_before_passages_were_read_whole_still_answers_then_is_rebuilt(small_corpus):
    import numpy as np

    build_index(small_corpus, **QUIET)
    as_an_older_build(small_corpus, 7, store.PASSAGE_VECTORS)  # as the previous format wrote it
    old = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    assert old.index.passages.passage_vectors is None
    answer = old.ask("how many minutes should I walk a day?")
    assert answer.in_scope and "ten minutes" in answer.citations[0].text
    with pytest.raises(IndexStaleError, match="older version"):
        fresh_bot(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    report = build_index(small_corpus, **QUIET)
    assert not report.up_to_date and report.embedded == 0  # its sentences' vectors are reused
    new = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    assert new.index.passages.passage_vectors is not None and np.isfinite(new.index.passages.passage_vectors).all()
