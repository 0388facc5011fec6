"""Red flags by meaning and context: every urgent message of our own set is caught, no calm one is."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from evaluate import evaluate, load_rows, summary  # noqa: E402

from bot import messages

TRIAGE = Path(__file__).resolve().parent.parent / "eval" / "triage.jsonl"


def test_own_triage_set_is_large_and_covers_every_red_flag():
    rows = load_rows(TRIAGE)
    assert sum(r["kind"] == "urgent" for r in rows) >= 40
    assert sum(r["kind"] == "not_urgent" for r in rows) >= 30


def test_own_triage_set_has_full_recall_and_no_false_alarms(bot):
    result = evaluate(bot, load_rows(TRIAGE))
    print(summary(result))
    assert result["urgent"] == 100.0 and result["calm"] == 100.0, result["misses"]


def test_every_red_flag_is_caught_in_at_least_three_of_our_phrasings(bot):
    counts = {}
    for row in load_rows(TRIAGE):
        if row["kind"] == "urgent":
            for name in bot.ask(row["question"]).red_flags:
                counts[name] = counts.get(name, 0) + 1
    assert len(counts) == len(bot.index.triage.flags)
    assert min(counts.values()) >= 3, counts


@pytest.mark.parametrize("message,flag", [
    ("back pain and I cant controll my bowles", "loss of bladder or bowel control"),
    ("I crashed my motorbike last week and my back hurts", "back pain after a fall, accident or other injury"),
    ("I had cancer ten years ago and my back has started hurting", "cancer, now or in the past"),
])
def test_urgent_reply_names_the_trigger_and_gives_no_exercise_advice(bot, message, flag):
    answer = bot.ask(message)
    assert answer.urgent and answer.kind == "urgent" and flag in answer.red_flags
    assert answer.text.startswith(messages.URGENT_LEAD)
    assert flag[0].upper() + flag[1:] in answer.text
    assert not answer.citations and not answer.caveats and "[1]" not in answer.text


@pytest.mark.parametrize("message", [
    "No numbness and no fever, just a stiff back. Which stretches help?",  # denied
    "What if I lost control of my bladder one day?",  # hypothetical
    "My sister has had cancer. Is swimming good for the back?",  # someone else's
    "I fell off my bike years ago but it fully healed. How do I keep my back strong?",  # past, over
])
def test_symptom_only_mentioned_gets_its_ordinary_answer(bot, message):
    answer = bot.ask(message)
    assert not answer.urgent and not answer.red_flags


def test_triage_thresholds_are_calibrated_per_red_flag_with_margins(bot):
    calibration = bot.index.manifest["triage"]
    assert calibration["ordinary_messages"] >= 100
    rows = calibration["flags"]
    assert set(rows) == {f.name for f in bot.index.triage.flags}
    assert all(r["threshold"] > r["ordinary_max"] for r in rows.values())
