"""Answering without torch: the ONNX export serves questions, matches sentence-transformers, and a
broken or missing export falls back to sentence-transformers with one log line."""
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bot import BackCareBot, onnx_export
from bot.index import current_model
from conftest import PROJECT

EVAL = PROJECT / "eval"


def test_build_made_a_verified_export(settings):
    folder = onnx_export.verified_export(settings.index_dir, current_model(settings))
    assert folder is not None
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["verified_cosine"] >= settings.serving.onnx_min_cosine and meta["verified_on"] >= 10


def test_answering_and_triage_import_no_torch(settings):
    code = (
        "import sys\n"
        "from bot import BackCareBot\n"
        f"b = BackCareBot.load(index_dir={str(settings.index_dir)!r}, corpus_dir={str(settings.corpus_dir)!r})\n"
        "a = b.ask('How can I prevent slouching?')\n"
        "u = b.ask('back pain and I cant control my bladder')\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'nltk', 'scipy.stats', 'sklearn') if m in sys.modules]\n"
        "from threadpoolctl import threadpool_info\n"
        "blas = sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'})\n"
        "print(b.index.embedder.backend, a.in_scope, u.urgent, 'BLAS', *blas, 'HEAVY', *heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    # NLTK's package import brings scipy.stats and scikit-learn: a second and 140 MB that answering
    # (stemming, message sentences, medspaCy's ConText) does not need. The BLAS libraries answer on
    # one thread (Settings.blas_threads), leaving the cores to the model.
    assert out.stdout.split() == ["onnx", "True", "True", "BLAS", "1", "HEAVY"]


def test_terminal_answer_imports_no_torch(settings):
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['bot', '--index', {str(settings.index_dir)!r}, '--corpus', {str(settings.corpus_dir)!r}, 'How can I stop slouching?']\n"
        "try:\n    runpy.run_module('bot', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert "prevent slouching" in out.stdout and "TORCH False" in out.stdout


def test_onnx_answers_are_the_torch_answers(settings, bot):
    torch_bot = BackCareBot.load(settings=settings.but(onnx=False))
    assert bot.index.embedder.backend == "onnx" and torch_bot.index.embedder.backend == "sentence-transformers"
    rows = [json.loads(line) for name in ("questions.jsonl", "triage.jsonl")
            for line in (EVAL / name).read_text().splitlines() if line.strip()]
    for row in rows:
        history = [{"role": "user", "content": q} for q in row.get("history_questions", [])]
        a, b = bot.ask(row["question"], history=history), torch_bot.ask(row["question"], history=history)
        assert [c.chunk_id for c in a.citations] == [c.chunk_id for c in b.citations], row["id"]
        assert (a.in_scope, a.urgent, a.red_flags) == (b.in_scope, b.urgent, b.red_flags), row["id"]


def test_broken_export_falls_back_to_sentence_transformers_and_says_so(settings, tmp_path, caplog):
    index = tmp_path / "index"
    shutil.copytree(settings.index_dir, index)
    folder = onnx_export.export_folder(index, current_model(settings))
    (folder / "model.onnx").write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING, logger="bot"):
        bot = BackCareBot.load(index_dir=index, corpus_dir=settings.corpus_dir)
    assert bot.index.embedder.backend == "sentence-transformers"
    assert bot.ask("How can I prevent slouching?").in_scope
    assert sum("ONNX Runtime could not load" in r.getMessage() for r in caplog.records) == 1


def test_a_question_takes_one_model_pass(bot):
    """The clauses read for red flags, the question's own vector, its frame and its words in the
    content's standard words, what it asks (whose word pieces answerability matches against the
    passages found), and its unknown words with the versions of it that leave each out are encoded
    together: one pass, however many texts. A text the build stored (an example question) is read
    from the build, not encoded again."""
    passes = []
    encode = bot.index.embedder._encode  # the model itself

    def counted(texts, progress=False, keep_pieces=False):
        passes.append(list(texts))
        return encode(texts, progress, keep_pieces)

    bot.index.embedder._encode = counted
    try:
        for question in ("My lower back has ached on and off for years, will exercise make a difference?",
                         "How should I lift a heavy suitcase onto a high shelf?",
                         "What is the best treatment for glaucoma?",
                         "I keep hunching over my desk at work. What can help?",
                         "How do I avoid slouching?"):
            bot.index.embedder._cache.clear()
            bot.index.embedder._pieces.clear()
            passes.clear()
            answer = bot.ask(question)
            assert len(passes) == 1, (question, passes)
            assert len(passes[0]) >= 1 and answer.text
    finally:
        del bot.index.embedder._encode


def test_model_runs_group_similar_lengths():
    from bot.embedding import runs

    lengths = [22, 3, 21, 4, 20, 60]
    grouped = runs(lengths, batch_size=64, run_tokens=24)
    assert sorted(i for run in grouped for i in run) == list(range(len(lengths)))
    by_length = [sorted(lengths[i] for i in run) for run in grouped]
    assert [3, 4] in by_length and [20, 21, 22] in by_length and [60] in by_length
    # Nothing is split when padding costs less than a run; a full run starts another.
    assert runs([10, 11, 12], 64, 24) == [[0, 1, 2]]
    assert [len(r) for r in runs([10] * 5, 2, 24)] == [2, 2, 1]
