"""The project's own question set must meet the quality targets; a regression turns CI red."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from evaluate import LIBRARY_TARGETS, evaluate, library_bot, load_rows, meets_targets, summary  # noqa: E402

QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"


def test_question_set_covers_every_paragraph_twice_and_every_kind():
    rows = load_rows(QUESTIONS)
    assert len(rows) >= 60
    kinds = {r["kind"] for r in rows}
    assert kinds == {"answer", "followup", "out_of_scope", "urgent"}


def test_question_set_meets_targets(bot):
    result = evaluate(bot, load_rows(QUESTIONS))
    print(summary(result))
    assert meets_targets(result), (summary(result), result["misses"])


def test_grown_library_question_set_meets_its_targets():
    library = Path(__file__).resolve().parent / "fixtures" / "library"
    result = evaluate(library_bot(library), load_rows(QUESTIONS.parent / "library_questions.jsonl"))
    print(summary(result))
    assert meets_targets(result, LIBRARY_TARGETS), (summary(result), result["misses"])


@pytest.mark.parametrize("previous,question,expected", [
    ("How can I stop slouching?", "And what about my shoulder blades?", "shoulder blades down and back"),
    ("Which tight muscles pull my spine out of line?", "Does stretching them help?", "Stretching exercises lengthen"),
    ("Why do strong thighs matter?", "How should I lift then?", "Proper lifting techniques"),
])
def test_follow_up_is_resolved_against_the_previous_question(bot, previous, question, expected):
    first = bot.ask(previous)
    history = [{"role": "user", "content": previous}, {"role": "assistant", "content": first.text}]
    answer = bot.ask(question, history=history)
    assert answer.in_scope
    assert any(expected in c.text for c in answer.citations[:3])


def test_off_topic_question_phrased_as_a_follow_up_is_still_refused(bot):
    history = [{"role": "user", "content": "Which muscles make up the core?"}, {"role": "assistant", "content": "..."}]
    answer = bot.ask("And what about my guitar strings?", history=history)
    assert not answer.in_scope and not answer.citations


@pytest.mark.parametrize("question", [
    "What's a good recipe for lasagne?",
    "How many milligrams of ibuprofen can I take?",
    "How do I reset my phone?",
    "What helps with a sore throat?",
    "What's the best mattress for a bad back?",
    "What is the best treatment for acne?",
    "what stretches help a sore ankle",
    "does stretching help with a stiff jaw",
])
def test_uncovered_questions_are_refused_kindly(bot, question):
    answer = bot.ask(question)
    assert not answer.in_scope and not answer.citations and not answer.caveats and not answer.urgent
    assert "back" in answer.text.lower()


@pytest.mark.parametrize("message", ["hi", "Hello there!", "thanks!", "help"])
def test_greetings_and_thanks_get_a_friendly_fixed_reply(bot, message):
    answer = bot.ask(message)
    assert answer.kind == "small_talk" and not answer.citations
    assert bot.examples and bot.examples[0] in answer.text


@pytest.mark.parametrize("question", [
    "I suddenly can't control my bladder and my back hurts",
    "numbness in my groin and lower back pain",
    "I fell down the stairs last night and my back is agony",
    "back pain with a fever and chills",
    "I have lost weight for no reason and my back aches",
    "I was treated for cancer and now have back pain",
])
def test_red_flags_lead_with_urgent_care(bot, question):
    answer = bot.ask(question)
    assert answer.urgent and answer.red_flags
    assert answer.text.startswith("**Please seek medical care now.**")


@pytest.mark.parametrize("question", [
    "I don't have a fever, which exercises strengthen my core?",
    "No numbness or bladder problems, just wondering how to stop slouching",
    "Why do weak legs matter when lifting?",
    "Will losing weight help my back?",
])
def test_denied_symptoms_and_ordinary_questions_raise_no_alarm(bot, question):
    answer = bot.ask(question)
    assert not answer.urgent and answer.in_scope


def test_fresh_injury_leads_with_the_acute_caveat_and_note(bot):
    answer = bot.ask("I pulled my back yesterday lifting a box, which stretches should I do?")
    assert "Exercise is not recommended for acute low back pain" in answer.citations[0].text
    body = answer.text
    assert body.index("Acute pain or a fresh injury") < body.index("[1]")


def test_a_fold_left_from_an_older_fit_is_not_taken_for_a_held_out_model(tmp_path, monkeypatch, bot):
    import json

    import evaluate
    from bot.ranking import MODELS

    monkeypatch.setattr(evaluate, "FOLDS", tmp_path)
    (tmp_path / "clinic").mkdir()
    older = json.loads((MODELS / "ranker.json").read_text(encoding="utf-8"))
    older["features"][-1] = "gone"  # a feature the code no longer reads
    (tmp_path / "clinic" / "ranker.json").write_text(json.dumps(older))
    (tmp_path / "clinic" / "answerability.json").write_text((MODELS / "answerability.json").read_text(encoding="utf-8"))
    assert evaluate.held_out_models("clinic", bot.index.settings) == {"answerability": str(tmp_path / "clinic" / "answerability.json")}
