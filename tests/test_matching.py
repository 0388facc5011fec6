"""Word pieces matched against the passages found: the real model, a real build, the served encoder."""
import json

import numpy as np
import pytest

from bot import BackCareBot, matching, ranking, retrieval, scope, store
from bot.build import build_index
from bot.errors import IndexCorruptError
from bot.understanding import understand
from conftest import as_an_older_build

QUIET = {"progress": False, "log": lambda *_: None}


def test_salient_pieces_leave_out_stopwords_marks_and_short_words_whole():
    tokens = ("does", "my", "back", "##ache", "get", "better", "in", "a", "week", "?", "ok", "ib", "##up", "##ro")
    assert [tokens[i] for i in matching.salient(tokens)] == ["back", "##ache", "better", "week", "ib", "##up", "##ro"]
    nothing_asked = matching.match(matching.Pieces(("?",), np.ones((1, 3), dtype=np.float32)), [np.ones((2, 3))])
    assert all(np.isnan(nothing_asked))
    asked = matching.Pieces(("walking",), np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    assert matching.match(asked, [np.zeros((0, 3), dtype=np.int8)]) == matching.NONE  # no salient piece there


def test_nothing_to_match_weighs_as_the_fitted_questions_mean(bot, monkeypatch):
    rows = []
    real = ranking.LinearModel.probability

    def recorded(self, features):
        if len(self.features) > len(ranking.QUESTION_FEATURES):  # the answerability model
            rows.append((self, np.array(features)))
        return real(self, features)

    monkeypatch.setattr(ranking.LinearModel, "probability", recorded)
    bot.ask("I have a stiff lower back. What should I do?")  # what is asked has no salient word
    model, features = rows[-1]
    columns = [model.features.index(f) for f in matching.FEATURES]
    assert np.allclose(features[0, columns], model.mean[columns])
    rows.clear()
    bot.ask("do strong quadriceps help prevent back injuries when lifting?")
    model, features = rows[-1]
    assert not np.allclose(features[0, columns], model.mean[columns])


def test_the_build_keeps_each_passage_s_salient_pieces_as_the_served_model_reads_them(bot):
    search = bot.index.passages
    vectors, starts = search.passage_pieces
    assert vectors.dtype == np.int8 and len(starts) == len(search.chunks) + 1 and starts[-1] == len(vectors)
    texts = search.chunks.passage_texts()
    served = bot.index.embedder.pieces(texts[:3])  # the encoder that answers questions
    for i, pieces in enumerate(served):
        kept = matching.unpacked(vectors[starts[i]:starts[i + 1]])
        expected = pieces.vectors[matching.salient(pieces.tokens)]
        assert 0 < len(kept) < len(pieces.tokens) and kept.shape == expected.shape
        assert np.min(np.sum(kept * expected, axis=1)) > 0.98  # eight bits, another runtime


def test_a_rebuild_reads_again_only_the_passages_that_changed(small_corpus, monkeypatch):
    from bot import embedding

    build_index(small_corpus, **QUIET)
    read = []
    real = embedding._CachedEncoder.pieces

    def counted(self, texts):
        read.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(embedding._CachedEncoder, "pieces", counted)
    (small_corpus.corpus_dir / "sitting.md").write_text(
        "# Sitting well\n\nStand up and move every half hour when you sit at a desk.\n", encoding="utf-8")
    build_index(small_corpus, **QUIET)
    assert read and all("Sitting well" in t for t in read)
    bot = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    vectors, starts = bot.index.passages.passage_pieces
    assert len(starts) == len(bot.index.passages.chunks) + 1 and starts[-1] == len(vectors)


def test_what_a_passage_says_matches_closer_than_what_it_does_not(bot):
    def matched(question):
        message = understand(question, [], bot.index)
        hits = bot.index.search(retrieval.query_for(message, bot.index))
        return scope.matched(message, hits, bot.index)

    said = matched("do strong quadriceps help prevent back injuries when lifting?")
    unsaid = matched("do compression socks help prevent varicose veins when flying?")
    assert said[0] > unsaid[0] + 0.1 and said[1] > unsaid[1] and said[2] > unsaid[2]
    assert all(0.0 <= v <= 1.0 + 1e-6 for v in said[1:3])


def test_the_asking_clause_s_pieces_come_from_the_message_s_one_model_pass(bot):
    question = "my knees are fine, but how can I strengthen my core muscles for posture?"
    message = understand(question, [], bot.index)
    asked = scope.asking_clause(message.asked)
    with bot.index.embedder._lock:
        kept = asked in bot.index.embedder._pieces
    assert kept  # read from the pass, not encoded again
    assert bot.index.embedder.query_pieces(asked).tokens[-1] == "?"


def test_a_build_made_before_pieces_were_kept_answers_with_the_match_weighing_nothing(small_corpus):
    build_index(small_corpus, **QUIET)
    as_an_older_build(small_corpus, 8, store.PIECE_VECTORS, store.PIECE_COUNTS)
    old = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    assert old.index.passages.passage_pieces is None
    answer = old.ask("how many minutes should I walk a day?")
    assert answer.in_scope and "ten minutes" in answer.citations[0].text
    report = build_index(small_corpus, **QUIET)
    assert not report.up_to_date
    new = BackCareBot.load(index_dir=small_corpus.index_dir, corpus_dir=small_corpus.corpus_dir)
    assert new.index.passages.passage_pieces is not None


def test_a_build_above_the_pieces_limit_keeps_none_and_still_answers(small_corpus):
    settings = small_corpus.but(pieces_max_chunks=1)
    build_index(settings, **QUIET)
    folder = store.current_build(settings.index_dir)
    assert not (folder / store.PIECE_VECTORS).exists()
    bot = BackCareBot.load(settings=settings)
    assert bot.index.passages.passage_pieces is None
    answer = bot.ask("how many minutes should I walk a day?")
    assert answer.in_scope and "ten minutes" in answer.citations[0].text


def test_pieces_that_do_not_fit_the_chunk_list_are_refused(tmp_path):
    np.save(tmp_path / store.PIECE_VECTORS, np.zeros((5, 4), dtype=np.int8))
    np.save(tmp_path / store.PIECE_COUNTS, np.array([2, 2], dtype=np.int64))
    with pytest.raises(IndexCorruptError, match="pieces"):
        store.read_passage_pieces(tmp_path, 2)
    with pytest.raises(IndexCorruptError, match="pieces"):
        store.read_passage_pieces(tmp_path, 3)
    np.save(tmp_path / store.PIECE_COUNTS, np.array([2, 3], dtype=np.int64))
    vectors, starts = store.read_passage_pieces(tmp_path, 2)
    assert starts.tolist() == [0, 2, 5] and vectors.shape == (5, 4)


def test_the_shipped_answerability_model_reads_the_match():
    data = json.loads((ranking.MODELS / "answerability.json").read_text())
    assert all(f in data["features"] for f in matching.FEATURES)
    weights = dict(zip(data["features"], data["weights"]))
    assert weights["match_mean"] + weights["match_min"] + weights["match_share"] + weights["match_lowest"] > 0


def test_the_re_ranker_reads_how_much_of_what_is_asked_each_candidate_says(bot):
    """Candidate by candidate (`matching.each`): the passage that holds the answer says more of what is
    asked than the others, and the shipped ranker lifts a candidate that says more."""
    message = understand("do strong quadriceps help prevent back injuries when lifting?", [], bot.index)
    query = retrieval.query_for(message, bot.index)
    search = bot.index.passages
    hits = search.candidates(query)
    says = search.says(hits, query)
    assert says.shape == (len(hits), len(matching.EACH)) and not np.isnan(says).any()
    holding = [i for i, h in enumerate(hits) if "quadriceps" in h.chunk.text.lower()]
    assert holding and int(np.argmax(says[:, 0])) in holding
    assert search.search(query)[0].chunk.chunk_id == hits[int(np.argmax(says[:, 0]))].chunk.chunk_id
    weights = dict(zip(search.ranker.features, search.ranker.weights))
    assert weights["says_mean"] > 0
    level = np.repeat(says.mean(axis=0, keepdims=True), len(hits), axis=0)
    lifted = search.ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier, says))
    flat = search.ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier, level))
    best = int(np.argmax(says[:, 0]))
    assert lifted[best] - flat[best] > 0


def test_nothing_to_match_leaves_the_re_ranker_s_order_to_the_other_features(bot):
    """No salient word in what is asked, or a build without pieces: NaN, weighed as the training mean."""
    nothing = matching.each(matching.Pieces(("?",), np.ones((1, 3), dtype=np.float32)), [np.ones((2, 3))], 1)
    assert np.isnan(nothing).all()
    assert np.isnan(matching.each(None, None, 4)).all() and matching.each(None, None, 4).shape == (4, len(matching.EACH))
    message = understand("I have a stiff lower back. What should I do?", [], bot.index)
    query = retrieval.query_for(message, bot.index)
    hits = bot.index.passages.candidates(query)
    says = bot.index.passages.says(hits, query)
    assert len(hits) > 2 and np.isnan(says).all()  # what is asked has no salient word
    ranker = bot.index.passages.ranker
    unknown = ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier, says))
    means = np.tile([ranker.mean[ranker.features.index(f"says_{n}")] for n in matching.EACH], (len(hits), 1))
    as_mean = ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier, means))
    assert np.isfinite(unknown).all() and np.allclose(unknown, as_mean)
