"""Red flags in two tiers: the urgent reply for an emergency described now, a caution note beside the
answer for a message that comes near one; denied, general, past and look-alike mentions stay calm."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
from evaluate import evaluate, load_rows, summary  # noqa: E402

from bot import BackCareBot, messages

TRIAGE = Path(__file__).resolve().parent.parent / "eval" / "triage.jsonl"
HOLDOUT = TRIAGE.parent / "sets" / "triage_holdout.jsonl"
MINIMISED = TRIAGE.parent / "sets" / "triage_minimised.jsonl"
FRESH = TRIAGE.parent / "sets" / "triage_fresh.jsonl"
WIDE = TRIAGE.parent / "sets" / "triage_wide.jsonl"


def test_own_triage_set_is_large_and_covers_every_red_flag():
    rows = load_rows(TRIAGE)
    assert sum(r["kind"] == "urgent" for r in rows) >= 40
    assert sum(r["kind"] == "not_urgent" for r in rows) >= 30


# Our own triage set was written before the red-flag model and is not in its bank (data/triage_bank.jsonl):
# held out, it measures urgent 85%, either tier 98% (44 of 45), calm 98%. These floors hold where it stands.
def test_own_triage_set_reaches_a_tier_and_rarely_alarms_the_calm(bot):
    result = evaluate(bot, load_rows(TRIAGE))
    print(summary(result))
    assert result["flagged"] >= 93.0 and result["urgent"] >= 70.0 and result["calm"] >= 97.0, result["misses"]


# Sets written blind after the model was built and never fitted on, each with floors where it stands:
# - triage_holdout (241 messages, every red flag and kind of calm): measured urgent 83%, either tier
#   100%, calm without the urgent reply 98% (urgent 84% before the urgent reply needed the message to
#   speak of a red flag in its words: TriageSettings.urgent_needs_words); since the message is read
#   whole for the urgent reply, urgent 88%, either tier 99%, calm 100%;
# - triage_minimised (422 messages, written after the shipped model): every red flag played down or
#   buried ("probably nothing but...", a question tacked on) and calm messages hedged alike; measured
#   urgent 83%, either tier 100%, calm 99% (read whole: urgent 88%, calm 100%);
# - triage_fresh (864 messages in 156 families, written after the shipped model): emergencies told in
#   slang, numbers ("running 101.8 f") or mid-way through an ordinary question, often of someone with
#   the writer now, and every kind of calm; measured urgent 76%, either tier 99%, calm 99% (read
#   whole: urgent 79%);
# - triage_wide (586 messages in 126 families, by four more writers after the message was read
#   whole): the nerve flags in euphemism and slang ("can't feel the toilet paper", "tripping over my
#   toes"), the other flags, calm near misses, and long messages with the flag buried in them;
#   measured urgent 78%, either tier 98%, calm 99%.
@pytest.mark.parametrize("path,flagged,urgent,calm", [(HOLDOUT, 96.0, 72.0, 97.0), (MINIMISED, 98.0, 75.0, 97.0),
                                                      (FRESH, 98.0, 70.0, 97.0), (WIDE, 96.0, 72.0, 97.0)],
                         ids=["holdout", "minimised", "fresh", "wide"])
def test_blind_sets_reach_a_tier_and_rarely_alarm_the_calm(bot, path, flagged, urgent, calm):
    rows = load_rows(path)
    assert len({r["flag"] for r in rows if r["kind"] == "urgent"}) == len(bot.index.triage.flags)
    result = evaluate(bot, rows)
    print(summary(result))
    assert result["flagged"] >= flagged and result["urgent"] >= urgent and result["calm"] >= calm, result["misses"]


def test_no_scored_triage_message_is_in_the_bank_the_model_is_fitted_on():
    from bot import lexical

    def said(text):  # the words, whatever the case, spacing and punctuation
        return " ".join(lexical.words(text))

    bank = {said(r["text"]) for r in load_rows(lexical.DATA / "triage_bank.jsonl")}
    assert len(bank) > 1000
    for path in (TRIAGE, HOLDOUT, MINIMISED, FRESH, WIDE):
        rows = load_rows(path)
        shared = [r["id"] for r in rows if said(r["question"]) in bank]
        assert rows and not shared, (path.name, shared)


def test_every_red_flag_is_caught_in_at_least_three_of_our_phrasings(bot):
    counts = {}
    for row in load_rows(TRIAGE):
        if row["kind"] == "urgent":
            answer = bot.ask(row["question"])
            for name in answer.red_flags + answer.cautions:
                counts[name] = counts.get(name, 0) + 1
    assert len(counts) == len(bot.index.triage.flags)
    assert min(counts.values()) >= 3, counts


@pytest.mark.parametrize("message,flag", [
    ("back pain and I cant controll my bowles", "loss of bladder or bowel control"),
    ("I crashed my motorbike last week and my back hurts", "back pain after a fall, accident or other injury"),
    ("I had cancer ten years ago and my back has started hurting", "cancer, now or in the past"),
    # "peed" is a flag's word as "pee" is: the message speaks of the flag in its words.
    ("twice today I found I'd peed without knowing, and my lower back is agony", "loss of bladder or bowel control"),
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


def test_a_look_alike_is_not_the_red_flag(bot):
    answer = bot.ask("I have hay fever and my back is stiff")
    assert not answer.urgent and "fever, chills or sweats" not in answer.cautions


@pytest.mark.parametrize("calm,urgent", [
    ("I hurt my back climbing up to fix a roof leak.", "I hurt my back and now I'm leaking wee without noticing."),
    ("I've started working as a temp and the office chairs are hurting my back.",
     "My back is agony and my temp is 39 with chills."),
])
def test_an_everyday_phrase_with_a_flags_word_is_a_look_alike_not_the_flag(bot, calm, urgent):
    # "a roof leak" is no loss of bladder control and "working as a temp" no fever: the look-alike
    # keeps the urgent reply away, while the same word told as the symptom keeps it.
    assert not bot.ask(calm).urgent
    assert bot.ask(urgent).urgent


def test_a_look_alike_of_one_flag_can_be_another_flags_expression(bot):
    # "had an accident in my pants" is no injury (a look-alike of it), but it is a loss of bowel
    # control: the longer look-alike must not hide the expression inside it.
    from bot.triage import FEATURES, expressed, red_flags

    names = [f.name for f in red_flags()]
    bowel, injury = names.index("loss of bladder or bowel control"), names.index("back pain after a fall, accident or other injury")
    text = "i had an accident in my pants at work today"
    assert expressed(text)[bowel] and not expressed(text)[injury]
    rows, _ = bot.index.triage.features(text)
    assert bot.index.triage.spoken_of(rows) == ("loss of bladder or bowel control",)
    assert rows[:, injury, FEATURES.index("lookalike")].max() == 1


def test_someone_else_with_an_emergency_now_gets_the_urgent_reply(bot):
    answer = bot.ask("my husband has crushing chest pain going into his back and he's sweating, he's on the sofa now")
    assert answer.urgent and "chest pain or trouble breathing" in answer.red_flags


@pytest.mark.parametrize("message", [
    "I've lost about 5 kilos in the last month without trying and my back has ached for weeks",
    "over the past 3 months I've lost 8 kilograms without dieting, and my lower back hurts constantly",
    "my dad has lost 7 kilo since the summer without trying and his back aches all day, he's here with me",
])
def test_weight_lost_over_a_span_of_time_is_the_symptom_not_its_past(bot, message):
    # "in the last month", "since the summer": ConText reads the span as the past, but weight loss is
    # told over one; each was a caution only while the past did not count for this red flag.
    answer = bot.ask(message)
    assert answer.urgent and answer.red_flags == ["weight loss you can't explain"]


@pytest.mark.parametrize("message, flag", [
    ("my son's running a temp and his back has been hurting all day, he's here with me", "fever, chills or sweats"),
    ("had my knee op 3 days ago, temp of 38.4 now and my back is sore", "fever, chills or sweats"),
    ("on immunotherapy for lung mets, new pain in my mid back", "cancer, now or in the past"),
    ("was in an RTC this morning and my lower back is really painful now", "back pain after a fall, accident or other injury"),
    ("mum's back hurts much more when she lies flat, she's been dozing in her armchair all week",
     "severe pain at night or at rest"),
    ("grandad couldn't get to the loo in time just now and didn't feel it happen, his back has been bad all week",
     "loss of bladder or bowel control"),
    ("breast ca 5 yrs ago, new pain in my upper back this month", "cancer, now or in the past"),
    ("I've shat myself twice today without feeling it and my back is killing me", "loss of bladder or bowel control"),
    ("had to punch a new hole in my belt and I'm not dieting, back aches every day", "weight loss you can't explain"),
])
def test_a_red_flags_everyday_short_forms_are_its_words(bot, message, flag):
    # "temp", "mets", "RTC", "lies", "loo", "breast ca", "shat myself", "a new hole in my belt": without
    # them the message spoke of no red flag in its words (a caution at most, often naming another flag),
    # or named only another flag. ("ca" alone is no word of the flag: spaCy reads "can't" as "ca" "n't".)
    answer = bot.ask(message)
    assert answer.urgent and flag in answer.red_flags


@pytest.mark.parametrize("message", ["checked my temp and it's normal, my back just aches after gardening",
                                     "what's a normal temp for an adult? my back aches a bit",
                                     "does it matter which side I lie on if my lower back aches?",
                                     "I nearly shat myself when the dog jumped out at me, now my back twinges a bit",
                                     "can I use a back support belt at work?"])
def test_the_same_words_in_everyday_questions_stay_calm(bot, message):
    assert not bot.ask(message).urgent


def test_weight_lost_and_put_back_on_long_ago_stays_calm(bot):
    assert not bot.ask("I lost a lot of weight years ago when I was ill but put it all back on, now my back is stiff").urgent


@pytest.mark.parametrize("message, flag", [
    ("my mum hasn't been able to feel her legs since this morning", "new or worsening weakness or numbness in the legs"),
    ("I haven't been able to control my bladder since yesterday and my back is agony", "loss of bladder or bowel control"),
])
def test_not_being_able_is_the_symptom_not_its_denial(bot, message, flag):
    # "hasn't been" denies ("hasn't been a problem"); "hasn't been able to" is the symptom itself.
    answer = bot.ask(message)
    assert answer.urgent and flag in answer.red_flags


@pytest.mark.parametrize("denied, reported, flag", [
    ("I haven't had a fever", "I have had a fever since last night and my back is agony", "fever, chills or sweats"),
    ("i have not had a fever with it", "i've got a fever and my back is killing me", "fever, chills or sweats"),
    ("I haven't lost control of my bladder", "I've lost control of my bladder and my back is agony",
     "loss of bladder or bowel control"),
    ("I haven\u2019t had a fever", "I\u2019ve had a fever since last night and my back is agony", "fever, chills or sweats"),
])
def test_a_denial_is_not_taken_into_the_expression_it_denies(bot, denied, reported, flag):
    # A lay expression may let two words in ("have a fever" in "have had a fever"), but never a denial:
    # "have [not had] a fever" read as one expression put the "not" out of ConText's reach, and a trigger
    # that runs into an expression ("haven't lost" in "haven't lost control…") denies it.
    assert not bot.ask(denied).urgent
    answer = bot.ask(reported)
    assert answer.urgent and flag in answer.red_flags


@pytest.mark.parametrize("message", [
    "I've lost normal feeling in my groin and my back is agony",  # "normal feeling in" states no denial
    "no real feeling down there since this morning and my back is agony",  # a word between "no" and its symptom
    "no fever, but I can't feel my legs and my back is agony",  # another flag's denial beside it
])
def test_words_near_a_denial_do_not_deny_an_emergency(bot, message):
    assert bot.ask(message).urgent


def test_the_urgent_reply_names_only_red_flags_the_message_speaks_of(bot):
    # The network finds both alarming; one speaks of no red flag in its words (a caution at most, not
    # the urgent reply), the other of cancer, though its clauses come closest to night pain.
    stuck = "woke up this morning and literally cant turn my head to the left, its just stuck. how long is this gonna last??"
    melanoma = "I was treated for a melanoma last year and I've developed back pain"
    loose = BackCareBot.load(settings=bot.settings.but(urgent_needs_words=False))
    assert loose.ask(melanoma).urgent and "cancer, now or in the past" not in loose.ask(melanoma).red_flags
    answer = bot.ask(stuck)
    assert not answer.urgent and answer.cautions
    assert bot.ask(melanoma).red_flags == ["cancer, now or in the past"]


def test_a_message_near_a_red_flag_gets_a_caution_beside_its_answer(bot):
    answer = bot.ask("my legs feel a bit tired today and my back aches, what exercises help?")
    assert not answer.urgent and answer.cautions
    assert answer.text.startswith("**Get medical help now if you also have:**")
    assert all(name in answer.text.split("\n\n")[0] for name in answer.cautions)


def test_red_flag_words_only_denied_or_past_need_a_likelier_emergency_for_a_note(bot):
    # Both come near the caution tier; the red-flag words of the first are all denied, of the second
    # past and resolved, so neither gets a note. Their twins that report the same now still do.
    triage = bot.index.triage
    model = triage.model()
    assert model.caution < model.caution_not_now < model.threshold
    calm = ["sore lower back, not waking me at night. no sweats or chills. normal?",
            "had some bladder leaks and back pain in pregnancy 3 yrs ago, fully resolved. pelvic floor stuff still worth doing for my back?"]
    for text in calm:
        rows, inputs = triage.features(text, telling=True)
        p = float(model.probability(inputs).max())
        assert model.caution <= p < model.caution_not_now and triage.speaks_of_none_now(rows), (text, p)
        assert not triage.read(text).cautions, text
        answer = bot.ask(text)
        assert not answer.urgent and not answer.cautions, text
    for text in ["sore lower back, it wakes me at night, and I've had sweats and chills since yesterday. normal?",
                 "I've had bladder leaks since yesterday and my back pain is bad. pelvic floor stuff worth doing?"]:
        rows, _ = triage.features(text, telling=True)
        assert not triage.speaks_of_none_now(rows), text
        answer = bot.ask(text)
        assert answer.urgent or answer.cautions, text


def test_the_emergency_number_is_a_setting(settings):
    from bot import BackCareBot

    bot = BackCareBot.load(settings=settings.but(emergency_number="999", gap_log=False))
    answer = bot.ask("I have lost control of my bladder and my back is agony")
    assert answer.urgent and "call 999" in answer.text


@pytest.mark.parametrize("whole", [True, False], ids=["read-whole", "network-alone"])
def test_skipping_medspacy_never_changes_a_reading(bot, settings, tmp_path, whole):
    """medspaCy is skipped when even the most alarming context could not reach the caution tier: the
    tiers are the same as with the context always read. Past the caution tier, the message read whole
    (triage.json's "whole") decides the urgent reply; a model file without it leaves that to the
    network's own threshold."""
    import json

    from bot.ranking import MODELS
    from bot.triage import only_not_now, reported_in_its_words

    if not whole:
        data = json.loads((MODELS / "triage.json").read_text(encoding="utf-8"))
        del data["whole"]
        (tmp_path / "triage.json").write_text(json.dumps(data), encoding="utf-8")
        bot = BackCareBot.load(settings=settings.but(triage__red_flag_model=str(tmp_path / "triage.json"),
                                                     gap_log=False))
    triage = bot.index.triage
    model, read_whole = triage.model(), triage.whole_model()
    assert model is not None and (read_whole is not None) == whole
    messages_ = [r["question"] for r in load_rows(TRIAGE)] + [
        "How can I stop slouching at my desk?", "hi there", "what stretches help a stiff back in the morning?"]
    urgent_ones = 0
    for text in messages_:
        reading = triage.read(text)
        rows, inputs = triage.features(text, telling=True)
        each = model.probability(inputs) if len(inputs) else np.zeros(0)
        p = float(each.max()) if len(each) else 0.0
        if p < model.caution:
            alarming = False
        elif whole:
            likely = float(read_whole.probability(triage.whole(rows, each, model.caution)[None])[0])
            alarming = likely >= read_whole.threshold
        else:
            alarming = p >= model.threshold or (p >= bot.settings.triage.pattern_urgent and reported_in_its_words(rows))
        quiet = p < model.caution_not_now and triage.speaks_of_none_now(rows)
        full = ("urgent" if p >= model.caution and alarming and not only_not_now(rows) and triage.spoken_of(rows)
                else "caution" if p >= model.caution and not quiet else "calm")
        got = "urgent" if reading.urgent else "caution" if reading.cautions else "calm"
        assert got == full, text
        urgent_ones += got == "urgent"
    assert urgent_ones >= 30


def test_the_message_read_whole_decides_the_urgent_reply(settings, tmp_path):
    """Past the caution tier the urgent reply is the message read whole's: with its threshold out of
    reach an emergency gets the caution, still naming its flag; with it shipped, the urgent reply."""
    import json

    from bot.ranking import MODELS

    text = "I have lost control of my bladder and my back is agony"
    data = json.loads((MODELS / "triage.json").read_text(encoding="utf-8"))
    data["whole"]["threshold"] = 1.01
    (tmp_path / "triage.json").write_text(json.dumps(data), encoding="utf-8")
    shipped = BackCareBot.load(settings=settings.but(gap_log=False)).ask(text)
    unreachable = BackCareBot.load(settings=settings.but(triage__red_flag_model=str(tmp_path / "triage.json"),
                                                         gap_log=False)).ask(text)
    assert shipped.urgent and "loss of bladder or bowel control" in shipped.red_flags
    assert not unreachable.urgent and "loss of bladder or bowel control" in unreachable.cautions


def test_a_networks_bound_holds_whatever_the_context_reads():
    """medspaCy is skipped on the strength of NeuralModel.highest: no values of the free columns
    between 0 and 1 may give a higher probability than the bound."""
    import numpy as np

    from bot.ranking import NeuralModel

    rng = np.random.default_rng(7)
    n, units = 6, 5
    net = NeuralModel(tuple("abcdef"), rng.normal(size=n), rng.uniform(0.5, 2, size=n),
                      rng.normal(size=(n, units)) * 2, rng.normal(size=units), rng.normal(size=units) * 2, 0.1)
    rows = rng.normal(size=(40, n))
    free = [1, 3, 4]
    bound = net.highest(rows, free)
    for _ in range(200):
        tried = rows.copy()
        tried[:, free] = rng.uniform(0, 1, size=(len(rows), len(free)))
        assert (net.probability(tried) <= bound + 1e-12).all()
    corners = rows.copy()
    corners[:, free] = 1.0
    assert (net.probability(corners) <= bound + 1e-12).all()
    assert np.allclose(net.highest(rows, []), net.probability(rows))  # nothing free: the probability itself


@pytest.mark.parametrize("text", ["what do I do", "How can I", "what should I do", "how do I", "is it"])
def test_a_message_of_stopwords_alone_raises_no_red_flag(bot, text):
    """A follow-up such as "what do I do" tells nothing about a symptom: no part of it is scored, so
    the network is never asked about words it was not fitted to tell apart."""
    answer = bot.ask(text)
    assert not answer.urgent and not answer.cautions, answer.text


def test_a_stopword_clause_does_not_hide_the_emergency_beside_it(bot):
    answer = bot.ask("what do I do? I wet myself and can't feel my bum")
    assert answer.urgent
