"""The learned decisions and where passages stand: the real model, real builds, the shipped weights."""
import json
import shutil

import numpy as np
import pytest

from bot import BackCareBot, intents, lexical, messages, ranking
from bot.build import build_index
from bot.settings import Settings
from conftest import CORPUS

QUIET = {"progress": False, "log": lambda *_: None}


def test_shipped_models_match_the_features_the_code_reads():
    assert ranking.model(str(ranking.MODELS / "ranker.json"), ranking.PASSAGE_FEATURES) is not None
    assert ranking.model(str(ranking.MODELS / "answerability.json"), ranking.answerability_features(384)) is not None
    from bot.messages import FIXED_REPLIES

    model = intents.load("intents.json", 384, frozenset(FIXED_REPLIES))
    assert model is not None and "question" in model.labels and model.weights.shape[1] == 384
    assert intents.load("intents.json", 768, frozenset(FIXED_REPLIES)) is None  # another model's vectors
    from bot.triage import WHOLE_FEATURES

    whole = ranking.second_stage(str(ranking.MODELS / "triage.json"), "whole", WHOLE_FEATURES)
    assert whole is not None and len(whole.weights) == len(WHOLE_FEATURES) and 0 < whole.threshold < 1


def test_a_model_fitted_on_other_features_is_set_aside_not_a_crash(tmp_path, caplog):
    data = json.loads((ranking.MODELS / "ranker.json").read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert ranking.model(str(tmp_path / "old.json"), ranking.PASSAGE_FEATURES) is None
    from bot.triage import WHOLE_FEATURES

    data = json.loads((ranking.MODELS / "triage.json").read_text())
    data["whole"]["features"] = data["whole"]["features"][:-1]
    (tmp_path / "older.json").write_text(json.dumps(data))
    assert ranking.second_stage(str(tmp_path / "older.json"), "whole", WHOLE_FEATURES) is None
    del data["whole"]
    (tmp_path / "oldest.json").write_text(json.dumps(data))
    assert ranking.second_stage(str(tmp_path / "oldest.json"), "whole", WHOLE_FEATURES) is None
    assert ranking.model(str(tmp_path / "oldest.json"), tuple(data["features"])) is not None  # the network stays


@pytest.mark.parametrize("message", ["hey, quick one", "ok cool thanks", "are you a real person?", "lol", "bye for now"])
def test_small_talk_is_recognised_from_its_meaning(bot, message):
    answer = bot.ask(message)
    assert answer.kind == "small_talk" and not answer.citations and not answer.urgent, answer.text


@pytest.mark.parametrize("message", [
    "my knee has been clicking whenever I straighten it after a run",
    "since starting the new pills my lower back aches by lunchtime",
    "grandpa is getting more and more stooped when he walks, he used to stand so straight",
])
def test_a_problem_told_without_a_question_is_not_small_talk(bot, message):
    """A worry told as a statement, without a question mark, asks for an answer: it is never read as
    a filler such as "ok" (the small-talk model learned it from examples)."""
    assert bot.index.intent_of(message) in intents.ASKS and bot.ask(message).kind != "small_talk"


@pytest.mark.parametrize("message", ["ok thanks! bye", "what can you do?", "haha fair enough", "ok thank you!!"])
def test_small_talk_in_any_form_is_small_talk(bot, message):
    answer = bot.ask(message)
    assert answer.kind == "small_talk" and not answer.citations, answer.text


def test_small_talk_of_several_kinds_together_outweighs_a_likelier_single_request():
    labels = ["ack", "question", "service", "thanks"]
    # a request is the likeliest single kind, but thanks and a filler together weigh more: thanks
    assert intents.decide(labels, np.array([0.27, 0.06, 0.37, 0.30]), 0.5) == "thanks"
    # what asks weighs more together: its likeliest kind
    assert intents.decide(labels, np.array([0.20, 0.25, 0.30, 0.25]), 0.5) == "service"
    assert intents.decide(labels, np.array([0.10, 0.60, 0.10, 0.20]), 0.5) == "question"


@pytest.mark.parametrize("message", ["which brand of running shoes should I buy?",
                                     "can you book me in with a physio near me?"])
def test_a_request_no_page_meets_is_declined_as_such(bot, message):
    answer = bot.ask(message)
    assert answer.kind == "refusal" and not answer.in_scope and not answer.citations
    assert answer.text.startswith("I can't recommend brands")


def test_a_question_about_an_animal_is_declined_but_one_that_mentions_an_animal_is_answered(bot):
    from bot import messages

    pet = bot.ask("my old labrador has a stiff back in the mornings, which stretches can I do with him?")
    assert pet.kind == "refusal" and not pet.citations and pet.text.startswith(messages.ANIMAL.split(".")[0])
    story = bot.ask("My old dog has a sore back. Is ibuprofen ok?")  # the story makes it one
    assert story.kind == "refusal" and not story.citations, story.text
    # (The animal's mention is what is tested: "how should I lift the feed bags?" is now refused, by
    # "bags", a word the pages never name in the clause that asks, not by the chickens.)
    for question in ("I walk my dog twice a day, is that enough exercise for my back?",
                     "my back hurts from bending down to feed the chickens, how should I lift heavy things?"):
        answer = bot.ask(question)
        assert answer.kind == "answer" and answer.citations, question


def test_a_request_in_the_story_is_not_what_a_message_asks(bot):
    from bot.understanding import understand

    story = "I tried to book a physio appointment but the earliest slot is next month. "
    assert bot.index.intent_of(story + "what exercises can I do meanwhile?") == intents.REQUEST  # read whole
    assert not understand(story + "what exercises can I do meanwhile?", None, bot.index).request
    assert understand(story + "can you book me in somewhere sooner?", None, bot.index).request


def test_small_talk_before_a_follow_up_does_not_hide_it(bot):
    history = [{"role": "user", "content": "Does stretching help my back?"}, {"role": "assistant", "content": "..."}]
    answer = bot.ask("lol ok. and how does that work though?", history=history)
    assert answer.kind == "answer" and answer.citations


def test_who_a_question_is_about_is_never_its_topic(bot):
    answer = bot.ask("my gran has glaucoma, what should she do about it?")
    assert not answer.in_scope and answer.text.startswith("My pages don't cover glaucoma,"), answer.text


def test_a_refusal_names_the_things_not_covered_never_what_is_done(bot):
    # "recover" tells what happens, not what is asked about: the refusal names the hip replacement.
    answer = bot.ask("how long does it take to recover from a hip replacement?")
    assert not answer.in_scope and answer.text.startswith("My pages don't cover hip replacement,"), answer.text
    # A message whose only unknown word tells what is done gets the plain refusal, naming nothing.
    answer = bot.ask("should he just stay in bed till it calms down?")
    plain = messages.REFUSAL.split("{")[0]
    assert not answer.in_scope and answer.text.startswith(plain) and "calms" not in answer.text, answer.text


def test_words_that_name_a_thing_are_told_from_those_that_tell_what_is_done(monkeypatch):
    import sys

    from bot import lexical, scope
    things = ("glaucoma", "wine", "tramadol", "hip replacement", "burst", "kayaking", "dry needling")
    assert [lexical.names_a_thing(w) for w in things] == [True] * len(things)
    assert [lexical.names_a_thing(w) for w in ("recover", "calms", "safest", "overdo")] == [False] * 4
    assert scope.named_topics(("recover", "hip replacement", "recover")) == ("hip replacement",)
    # Without the word lists every word counts as a thing: a refusal names too much, never fails.
    lexical.names_a_thing.cache_clear()
    monkeypatch.setitem(sys.modules, "lemminflect", None)
    try:
        assert lexical.names_a_thing("recover")
    finally:
        lexical.names_a_thing.cache_clear()


def test_an_amount_is_never_named_as_a_topic(bot):
    answer = bot.ask("I lift 40kg at work, how should I lift safely?")
    assert answer.in_scope and "40kg" not in answer.text


@pytest.mark.parametrize("message", ["hi, what helps a stiff lower back?", "thanks! and how do I avoid slouching?"])
def test_a_greeting_with_a_question_is_answered(bot, message):
    answer = bot.ask(message)
    assert answer.kind == "answer" and answer.citations


def test_a_follow_up_without_a_topic_reads_on_from_the_chat(bot):
    history = [{"role": "user", "content": "Which muscles support the spine?"},
               {"role": "assistant", "content": "..."}]
    answer = bot.ask("how does that work though", history=history)
    assert answer.in_scope and any("core" in c.text.lower() for c in answer.citations)


@pytest.mark.parametrize("first, then", [("How can exercise help my lower back pain?", "what can i do in the meantime"),
                                         ("Why do strong thighs help when lifting?", "what should I do meanwhile?")])
def test_a_follow_up_that_only_says_when_reads_on_from_the_chat(bot, first, then):
    # "meantime" and "meanwhile" say when, not what: they are no subject the pages fail to name.
    a = bot.ask(first)
    answer = bot.ask(then, history=[{"role": "user", "content": first}, {"role": "assistant", "content": a.text}])
    assert answer.in_scope and answer.citations


def test_a_return_to_an_earlier_topic_leans_on_that_topic(bot):
    history = []
    for q in ("How do I avoid slouching?", "Why do strong legs matter when lifting?"):
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": "..."}]
    answer = bot.ask("going back to the slouching, what else helps?", history=history)
    assert answer.in_scope and "slouch" in answer.citations[0].text.lower()


def test_what_the_pages_do_not_say_is_said_first(bot):
    history = [{"role": "user", "content": "Does stretching help my back?"}, {"role": "assistant", "content": "..."}]
    answer = bot.ask("and how often?", history=history)
    assert answer.in_scope and answer.not_said == "how often"
    assert answer.text.startswith("My pages don't say how often")


@pytest.mark.parametrize("question,body,unsaid", [
    # An amount is said in a share, a price, a time or a weight, not only in a dose.
    ("By how much can I increase my weekly mileage?", "Increase it by no more than 10 per cent a week.", ""),
    ("how much does a session cost?", "A session costs £40.", ""),
    ("how much exercise should I do?", "Aim for 150 minutes a week.", ""),
    ("how much should I lift?", "Lift with your legs, not your back.", "how much"),
    # A time is said in words as well as in numbers.
    ("how long does it last?", "It usually settles within a few weeks.", ""),
    ("how long does it last?", "It can take months to settle.", ""),
    ("how long does it last?", "It is a common problem in runners.", "how long"),
])
def test_what_a_question_asks_for_is_said_in_its_many_forms(question, body, unsaid):
    assert lexical.not_said(question, body) == unsaid


@pytest.mark.parametrize("question", ["how much do back exercise classes cost?",
                                      "are stretching classes expensive?"])
def test_a_question_of_what_something_costs_is_declined(bot, question):
    # The pages speak of exercise, never of prices: the answerability model reads words of money.
    assert ranking.names_a_price(question)
    assert not bot.ask(question).in_scope


def test_a_refusal_names_the_words_as_typed(bot):
    answer = bot.ask("What is the best treatment for Glaucoma?")
    assert not answer.in_scope and "Glaucoma" in answer.text


def test_a_refusal_names_a_procedure_with_the_body_part_it_follows(bot):
    answer = bot.ask("how long does it take to recover from a hip replacement?")
    assert not answer.in_scope and "hip replacement" in answer.text.split(",")[0], answer.text


@pytest.fixture(scope="module")
def sectioned(tmp_path_factory):
    """The seed page plus a markdown page with sections and a list."""
    root = tmp_path_factory.mktemp("sectioned")
    shutil.copytree(CORPUS, root / "corpus")
    (root / "corpus" / "cold.md").write_text(
        "---\ntitle: Common cold\n---\n# Common cold\n\n## Symptoms\n\n"
        "A cold comes on gradually. The main symptoms include:\n\n"
        "- a blocked or runny nose\n- a sore throat\n- sneezing and a cough\n\n"
        "## How long it lasts\n\nMost colds get better within 1 to 2 weeks.\n\n"
        "## Easing the aches\n\nParacetamol eases aches and brings down a temperature. "
        "Take ibuprofen with or just after food, not on an empty stomach.\n\n"
        "## Vaccination\n\nNo vaccine prevents colds. The yearly vaccination against influenza does not protect "
        "you from a cold.\n", encoding="utf-8")
    (root / "corpus" / "sleep.md").write_text(
        "---\ntitle: Sleeping well\n---\n# Sleeping well\n\n## Sleeping with back pain\n\n"
        "Many people sleep badly for a while after they hurt their back. Mattresses come in many kinds and "
        "prices. Lying on your side with a pillow between your knees eases the strain on your lower back.\n",
        encoding="utf-8")
    (root / "corpus" / "sprains.md").write_text(
        "---\ntitle: Sprained ankle\n---\n# Sprained ankle\n\n## Treatment\n\n"
        "For the first two days, rest the ankle, hold an ice pack on it for 20 minutes every few hours "
        "and keep it raised on a pillow.\n", encoding="utf-8")
    s = Settings(corpus_dir=root / "corpus", index_dir=root / "index").but(gap_log=False)
    build_index(s, **QUIET)
    return BackCareBot.load(settings=s)


@pytest.mark.parametrize("question, medicine", [("can i take nurofen on an empty stomach?", "ibuprofen"),
                                                ("is calpol ok for a temperature", "paracetamol")])
def test_a_medicine_named_by_its_brand_is_found_by_its_generic_name(sectioned, question, medicine):
    # The page names the medicine; people name the packet (data/synonyms.tsv).
    answer = sectioned.ask(question)
    assert answer.in_scope and medicine in answer.citations[0].text.lower(), answer.text


def test_an_everyday_word_for_a_medical_one_is_found_by_it(sectioned):
    # "flu": the page says influenza (data/synonyms.tsv).
    answer = sectioned.ask("will my yearly flu vaccination stop colds?")
    assert answer.in_scope and "influenza" in answer.citations[0].text.lower(), answer.text


def test_a_lay_word_for_a_phrase_is_known_where_the_content_has_the_phrases_words(bot):
    # "backache" is back pain (back+pain in data/synonyms.tsv): "back" and "pain" are too common to
    # vouch for a lay word one by one, but together they do, where the content has both.
    answer = bot.ask("my backache is worse in the morning, what stretches help?")
    assert answer.in_scope and "back pain" in " ".join(c.text.lower() for c in answer.citations), answer.text
    vocabulary = bot.index.vocabulary
    assert vocabulary.standard_words("backache") == ["back", "pain"]
    assert not vocabulary.standard_words("earache")  # the seed page says nothing of ears


def test_a_hyphenated_word_is_mended_whole(bot):
    # A hyphenated word is one word, as in the content: known whole, or joined ("back-ache" is the
    # table's "backache"); a table word the content lacks stays as typed, so the refusal names what
    # was typed ("co-codamol", never the part-by-part "co-cocodamol"); a typo in one part is mended.
    vocabulary = bot.index.vocabulary
    assert vocabulary.mend("my back-ache is bad") == "my backache is bad"
    assert vocabulary.mend("can i take co-codamol?") == "can i take co-codamol?"
    assert vocabulary.mend("a back-strechting routine") == "a back-stretching routine"
    # Search still reads a hyphenated lay word by its parts: "tummy-ache" is the content's abdomen.
    assert "abdomen" in vocabulary.standard_additions("my tummy-ache is bad")
    answer = bot.ask("can i take co-codamol for it?")
    assert not answer.in_scope and "co-codamol" in answer.text and "cocodamol" not in answer.text, answer.text


def _pull(bot, question):
    from bot import retrieval, scope
    from bot.understanding import understand

    index = bot.index
    message = understand(question, [], index)
    return message, scope.evidence(message, index.search(retrieval.query_for(message, index)), index)[0]


@pytest.mark.parametrize("question", ["does clove oil help back pain", "does stretching help with a stiff jaw"])
def test_a_word_the_pages_never_name_pulls_the_question_away_from_them(bot, question):
    # The question comes closer to the passages found without the word the pages never name (an
    # incidental word or a body part), and answerability reads how much: both are declined.
    message, words = _pull(bot, question)
    assert words.pull > 0.02
    assert not bot.ask(question).in_scope


def test_an_unknown_word_that_only_colours_the_question_pulls_little(bot):
    # "horrendous" is unknown to the pages, but the question is as close to them without it.
    message, words = _pull(bot, "my back pain is horrendous, does stretching help")
    assert message.words.unknown == ("horrendous",)  # weighed: the pull was measured
    assert words.pull < 0.02
    assert bot.ask("my back pain is horrendous, does stretching help").in_scope


@pytest.mark.parametrize("text,asked,told", [
    ("I'm 34 weeks pregnant with terrible sciatica, can I take codeine?", ["codeine"], ["sciatica", "pregnant"]),
    ("Training for a sportive. How fast can I increase my mileage?", ["mileage"], ["sportive"]),
    ("does clove oil work for toothache", ["clove", "toothache"], []),
    # What is asked points back ("it") at what is told: the whole message is asked.
    ("had a stiff jaw for weeks, any stretches for it", ["jaw", "stretches"], []),
    ("my knee clicks. does that matter?", ["knee"], []),
    # The dots of an initial or a decimal end no sentence.
    ("Can I take H. pylori treatment with 2.5mg ibuprofen?", ["pylori", "ibuprofen"], []),
    # A question word opens the run; an earlier sentence only tells.
    ("My back hurts after rowing. Is it safe to lift weights?", ["lift", "weights"], ["rowing"]),
    ("I sit all day at work, what stretches help, and how often?", ["stretches", "often"], ["work"]),
    # Every sentence that asks is asked.
    ("is yoga ok? does heat help?", ["yoga", "heat"], []),
    # Without a question mark, the last sentence that opens like a question.
    ("I swim twice a week. what about cycling", ["cycling"], ["swim"]),
])
def test_the_clause_that_asks_is_found(text, asked, told):
    from bot import scope

    found = scope.asking_clause(text)
    assert all(scope._has_word(found, w) for w in asked), found
    assert not any(scope._has_word(found, w) for w in told), found


def test_a_word_told_as_a_circumstance_does_not_pull(bot):
    # Only the words of the clause that asks pull: "clove oil" told in passing is not what is asked.
    message, words = _pull(bot, "I have been using clove oil all week, which exercises help back pain?")
    assert message.words.unknown == ("clove",) and words.pull == 0.0
    assert bot.ask("I have been using clove oil all week, which exercises help back pain?").in_scope


def test_a_capitalised_name_inside_a_sentence_is_mended_only_for_a_slip_of_one_letter(bot):
    # "the Lenire device" names something: it is never pulled two letters into one of the content's
    # words, while a capitalised one-letter slip and a lower-case typo still are. Two letters away,
    # a name is mended only into a word of the bot's own tables (a medicine: "Paracetomal").
    vocabulary = bot.index.vocabulary
    assert vocabulary.mend("try the Ligamintz strap") == "try the Ligamintz strap"
    assert vocabulary.mend('is "Ligamintz" any good') == 'is "Ligamintz" any good'
    assert vocabulary.mend("try the Ligamants strap") == "try the ligaments strap"
    assert vocabulary.mend("my ligamintz hurt") == "my ligaments hurt"
    assert vocabulary.mend("Ligamintz hurt") == "ligaments hurt"  # the first word of a sentence
    assert vocabulary.mend("Try The Ligamintz Strap Now") == "Try The ligaments Strap Now"  # capitals everywhere
    assert vocabulary.mend("can i take Paracetomal for it") == "can i take paracetamol for it"


def test_a_common_misspelling_is_mended_though_the_web_counts_it_a_word(bot):
    # Web text writes "excercise" often enough to pass for English (Zipf 2.3), but no dictionary
    # lists it: one letter from the content's "exercise", far commoner, it is mended, and the
    # question is answered as the well-spelt one is. Slang and medicines no dictionary lists have
    # no such neighbour and stay as typed; a real word stays whatever it is near.
    vocabulary = bot.index.vocabulary
    assert vocabulary.mend("what type of excercise tho") == "what type of exercise tho"
    assert vocabulary.mend("do glutes bridges help, or naproxen?") == "do glutes bridges help, or naproxen?"
    assert vocabulary.mend("is rowing ok") == "is rowing ok"
    typed, spelt = bot.ask("what type of excercise helps?"), bot.ask("what type of exercise helps?")
    assert typed.in_scope and [c.chunk_id for c in typed.citations] == [c.chunk_id for c in spelt.citations]


def test_tests_and_drinks_by_the_names_people_use_are_the_contents_words():
    # "do I need an MRI?" on a page that says "most people do not need a scan"; "a pint at the
    # weekend" on a leaflet that says "do not drink alcohol" (data/synonyms.tsv).
    from bot.settings import Settings
    from bot.vocabulary import Vocabulary

    content = Vocabulary({"most": 3, "people": 3, "need": 2, "scan": 1, "drink": 1, "alcohol": 1}, Settings().scope)
    for word in ("mri", "xray", "x-ray", "pint", "beer"):
        assert content.knows(word), word
    assert not Vocabulary({"scan": 1}, Settings().scope).knows("pint")


def test_a_word_that_only_shares_a_stem_with_a_table_word_gains_nothing():
    # The table is read by stem, so words whose stem has an everyday sense stay out of it: "a sharp
    # jabbing pain" and "a pile of books" keep theirs.
    from bot import lexical

    for word in ("jabbing", "pile", "piling", "tum"):
        assert lexical.SYNONYMS.get(lexical.stem(word)) is None, word


def test_a_citation_names_the_section_it_stands_in(sectioned):
    answer = sectioned.ask("how long does a cold usually last?")
    assert answer.in_scope
    assert answer.citations[0].source == "Common cold \u203a How long it lasts"


def test_the_reply_leads_with_the_sentence_that_answers(sectioned):
    answer = sectioned.ask("which side should I lie on at night, and should I put a pillow between my knees?")
    assert answer.in_scope and answer.citations[0].source.startswith("Sleeping well")
    assert answer.body.startswith("Lying on your side with a pillow between your knees")  # then its context
    assert "Many people sleep badly" in answer.body


def test_a_quoted_list_item_stays_a_bullet_under_its_lead_in(sectioned):
    answer = sectioned.ask("what are the symptoms of a cold?")
    assert answer.in_scope
    assert "include:" in answer.body and "\n- " in answer.body
    assert "runny nose" in answer.body and "- a blocked or runny nose" in answer.body


def test_the_acute_back_note_leads_only_where_the_search_found_it(sectioned):
    ankle = sectioned.ask("I sprained my ankle last night playing football, what should I do?")
    assert ankle.in_scope and ankle.citations[0].source.startswith("Sprained ankle")
    back = sectioned.ask("I pulled my back yesterday lifting a box, which stretches should I do?")
    assert "Exercise is not recommended for acute low back pain" in back.citations[0].text


def test_a_body_part_the_pages_never_name_does_not_decline_what_they_do_answer(sectioned):
    # The pages never name the eyes, but they do say how long a cold lasts.
    answer = sectioned.ask("my eyes are streaming, how long does a cold usually last?")
    assert answer.in_scope and answer.citations[0].source == "Common cold \u203a How long it lasts", answer.text
    declined = sectioned.ask("what stretches help a sore wrist?")  # only a body part the pages never name
    assert not declined.in_scope and "don't cover wrist" in declined.text, declined.text


def _chat(*questions: str) -> list[dict]:
    return [t for q in questions for t in ({"role": "user", "content": q}, {"role": "assistant", "content": "..."})]


def test_him_or_her_without_a_person_named_reads_on_from_the_chat(bot):
    from bot import messages
    from bot.understanding import understand

    history = _chat("My dad is 70 and his lower back is stiff every morning. What exercises can he do?")
    swim = bot.ask("can he still go swimming?", history=history)
    assert swim.in_scope and swim.citations, swim.text
    assert understand("can he still go swimming?", history, bot.index).context
    # "him" is the father of the chat, not an animal: no vet is suggested.
    gel = bot.ask("would a gel be better for him?", history=history)
    assert not gel.text.startswith(messages.ANIMAL.split(".")[0]), gel.text
    # A message that names its person stands alone.
    assert not understand("my son hurt his back at football, what helps?", history, bot.index).context


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    """The seed page grown with the project's own hospital library (eight pages on other conditions)."""
    root = tmp_path_factory.mktemp("hospital")
    shutil.copytree(CORPUS, root / "corpus")
    shutil.copytree(CORPUS.parent / "eval" / "libraries" / "hospital", root / "corpus" / "hospital")
    s = Settings(corpus_dir=root / "corpus", index_dir=root / "index").but(gap_log=False)
    build_index(s, **QUIET)
    return BackCareBot.load(settings=s)


@pytest.mark.parametrize("questions,request_", [
    (("my dad's got gout in his big toe again, what can he do at home while it's flaring?",
      "how long should he keep the ice on for"), "is there a particular brand of ice pack you'd recommend?"),
    (("got a really painful bunion on my left foot, what shoes should I be wearing",), "can I book the op at your hospital?"),
])
def test_a_request_after_answered_questions_is_still_declined(hospital, questions, request_):
    history = _chat(*questions)
    assert hospital.ask(questions[-1], history=_chat(*questions[:-1])).in_scope  # the chat is on a covered topic
    answer = hospital.ask(request_, history=history)
    assert answer.kind == "refusal" and not answer.in_scope and not answer.citations, answer.text


def test_a_follow_up_knows_which_passages_the_last_answer_quoted(sectioned):
    """The chat's latest answer is read back from its quoted sentences, even when the history keeps
    only its first characters; a reply that quotes nothing of the content gives nothing."""
    from bot.understanding import understand

    first = sectioned.ask("what are the symptoms of a cold?")
    assert first.in_scope and first.citations[0].source.startswith("Common cold")
    history = [{"role": "user", "content": "what are the symptoms of a cold?"},
               {"role": "assistant", "content": first.text}]
    earlier = understand("and how long does it last?", history, sectioned.index).earlier
    assert earlier and earlier[0] == first.citations[0].chunk_id
    cut = [history[0], {"role": "assistant", "content": first.text[:200]}]
    assert understand("and how long does it last?", cut, sectioned.index).earlier[:1] == earlier[:1]
    made_up = [history[0], {"role": "assistant", "content": "Colds are caused by viruses. [1] Drink water. [2]"}]
    assert understand("and how long does it last?", made_up, sectioned.index).earlier == ()
    follow = sectioned.ask("and how long does it last?", history=history)
    assert follow.in_scope and follow.citations[0].source == "Common cold \u203a How long it lasts", follow.text


def test_the_ranker_weighs_where_the_chat_was(sectioned):
    """The same candidates, ordered with and without the chat's latest answer: its document can only
    rise (the shipped ranker learned that a chat mostly stays where it was)."""
    from bot import ranking, retrieval
    from bot.understanding import understand

    first = sectioned.ask("what are the symptoms of a cold?")
    history = [{"role": "user", "content": "what are the symptoms of a cold?"},
               {"role": "assistant", "content": first.text}]
    message = understand("what should I do for the first two days?", history, sectioned.index)
    query = retrieval.query_for(message, sectioned.index)
    assert query.earlier.document == first.citations[0].doc_id
    ranker = sectioned.index.passages.ranker
    hits = sectioned.index.passages.candidates(query)
    plain = ranker.logits(ranking.passage_features(query.own_terms(), False, hits))
    chat = ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier))
    same = [i for i, h in enumerate(hits) if h.chunk.doc_id == query.earlier.document]
    other = [i for i, h in enumerate(hits) if h.chunk.doc_id != query.earlier.document]
    assert same and other
    assert all(chat[i] > plain[i] for i in same) and all(abs(chat[i] - plain[i]) < 1e-9 for i in other)


def test_the_ranker_reads_a_passage_length_against_the_other_candidates(sectioned):
    """Publishers cut pages into passages of their own sizes: the same candidates, each twice as long,
    get the same scores (a length read on its own favoured one library's long passages)."""
    from dataclasses import replace

    from bot import retrieval
    from bot.understanding import understand

    query = retrieval.query_for(understand("how long does a cold last?", [], sectioned.index), sectioned.index)
    hits = sectioned.index.passages.candidates(query)
    longer = [replace(h, chunk=replace(h.chunk, text=h.chunk.text + " " + h.chunk.text)) for h in hits]
    assert len(hits) > 2 and len({len(h.chunk.text) for h in hits}) > 1
    ranker = sectioned.index.passages.ranker
    as_found = ranker.logits(ranking.passage_features(query.own_terms(), True, hits))
    doubled = ranker.logits(ranking.passage_features(query.own_terms(), True, longer))
    assert np.allclose(as_found, doubled, atol=1e-9), (as_found, doubled)


@pytest.mark.parametrize("message,asked", [
    ("oops sorry, meant rheumatoid not gout", "oops sorry, meant rheumatoid"),
    ("sorry I meant the neck, not the back", "sorry I meant the neck,"),
    ("No fever, no numbness, what stretches help?", "what stretches help?"),  # denials alone still go
    ("I have no fever but my back hurts", "I have no fever but my back hurts"),
])
def test_a_correction_keeps_what_was_meant_and_drops_what_was_not(message, asked):
    from bot import safety

    assert safety.without_denials(message) == asked


def test_a_correction_reads_on_from_the_chat_with_what_was_meant(sectioned):
    from bot.understanding import understand

    history = _chat("what should I do for a sprained ankle?")
    correction = "oops, meant a cold not an ankle sprain. how long will it last?"
    message = understand(correction, history, sectioned.index)
    assert "sprain" not in message.asked and "cold" in message.asked
    answer = sectioned.ask(correction, history=history)
    assert answer.in_scope and answer.citations[0].source == "Common cold \u203a How long it lasts", answer.text


def _asked(bot, *questions: str) -> list[dict]:
    """A chat with the bot's own replies, so what each reply quoted is there to be read."""
    history: list[dict] = []
    for q in questions:
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": bot.ask(q, history=history).text}]
    return history


def test_a_return_goes_back_to_what_it_names_in_a_question_or_in_a_reply(sectioned):
    from bot.understanding import understand

    chunks = sectioned.index.passages.chunks
    titles = lambda ids: {chunks[chunks.row_of(i)].title for i in ids}  # noqa: E731
    # "ice pack" was the reply's word, not the question's: the return leans on the question it answered.
    history = _asked(sectioned, "I sprained my ankle playing football, what should I do?",
                     "what are the symptoms of a cold?")
    assert "ice pack" in history[1]["content"] and "ice" not in history[0]["content"]
    back = understand("going back to the ice pack, how long should I keep it on?", history, sectioned.index)
    assert back.context and "sprained my ankle" in back.context[0][0], back.context
    assert titles(back.earlier) == {"Sprained ankle"}
    from bot.conversation import returned_to

    never = lambda text: False  # noqa: E731 - no turn here is small talk
    assert returned_to(history, "the ice pack you mentioned, how often?", 400, never) == 0  # the reply said it
    assert returned_to(history, "lol ok. back to the cold, how long?", 400, never) == 2
    assert returned_to(history, "when can I go back to football?", 400, never) is None  # no return
    # The "back" of "going back to" is not a word of the topic: the cold, not the question on backs.
    history = _asked(sectioned, "what are the symptoms of a cold?", "how should I sleep with my lower back pain?")
    back = understand("going back to the cold, how long will it last?", history, sectioned.index)
    assert back.context and "cold" in back.context[0][0], back.context


def test_a_message_that_says_it_changes_topic_stands_alone(sectioned):
    from bot.understanding import understand

    history = _asked(sectioned, "how long does a cold usually last?")
    follow = understand("and what are its symptoms?", history, sectioned.index)
    assert follow.context and follow.earlier  # leans on the cold, and the chat was in its page
    assert understand("is there something else I can take for it?", history, sectioned.index).context
    shift = understand("different thing, my husband twisted his ankle, what should he do for it?", history,
                       sectioned.index)
    assert not shift.context and not shift.earlier  # "his", "it": but it said it leaves the topic
    answer = sectioned.ask("different thing, my husband twisted his ankle, what should he do for it?", history=history)
    assert answer.in_scope and answer.citations[0].source.startswith("Sprained ankle"), answer.text


def test_the_there_of_there_is_points_at_nothing_said_before(sectioned):
    from bot.conversation import leans_on_history
    from bot.understanding import understand

    # "there" as a place leans on the chat; the "there" of "there's", "is there" does not.
    assert leans_on_history("can i put ice there?")
    assert leans_on_history("can i put ice there anyway?")
    assert not leans_on_history("my nan is 84 and there's a heatwave coming, what should i do for her?")
    assert not leans_on_history("there are lots of people with knee pain, why")
    assert not leans_on_history("will there be a scar after knee surgery?")
    assert not leans_on_history("isn't there a cream for eczema?")
    assert not leans_on_history("hi there, what stretches help a stiff neck?")
    history = _asked(sectioned, "how long does a cold usually last?")
    shift = understand("ok. my son sprained his ankle and there's a lot of swelling, what should we do?",
                       history, sectioned.index)
    assert not shift.context, shift.context
    answer = sectioned.ask("ok. my son sprained his ankle and there's a lot of swelling, what should we do?",
                           history=history)
    assert answer.in_scope and answer.citations[0].source.startswith("Sprained ankle"), answer.text


def test_a_return_to_an_earlier_topic_reads_where_that_answer_was(sectioned):
    from bot.understanding import understand

    history = _asked(sectioned, "what are the symptoms of a cold?", "I sprained my ankle playing football, what should I do?")
    latest = understand("and for how long?", history, sectioned.index)
    back = understand("going back to the cold, how long will it last?", history, sectioned.index)
    assert back.context and "cold" in back.context[0][0]
    chunks = sectioned.index.passages.chunks
    titles = lambda ids: {chunks[chunks.row_of(i)].title for i in ids}  # noqa: E731
    assert titles(latest.earlier) == {"Sprained ankle"}
    assert titles(back.earlier) == {"Common cold"}  # not the ankle page the chat just left


def test_a_return_to_a_question_that_was_declined_reads_no_page(sectioned):
    from bot.understanding import understand

    history = _asked(sectioned, "how long does a cold usually last?", "what is the best treatment for glaucoma?",
                     "I sprained my ankle playing football, what should I do?")
    back = understand("going back to the glaucoma, is it serious?", history, sectioned.index)
    assert back.context and "glaucoma" in back.context[0][0]
    assert back.earlier == ()  # its reply quoted nothing: not the cold answer before it, nor the ankle after


def test_a_follow_up_about_a_subject_the_pages_never_name_is_declined_by_name(bot):
    # In a chat the pages answer, "would acupuncture help it?" leans on that chat; the pages say
    # nothing on acupuncture, so the chat must not lend it an answer.
    history = _asked(bot, "which exercises strengthen my core for a sore lower back?")
    for question, subject in (("would acupuncture help it as well?", "acupuncture"),
                              ("should i try yoga classes for it too?", "yoga")):
        answer = bot.ask(question, history=history)
        assert not answer.in_scope and not answer.citations and subject in answer.text, answer.text
    answer = bot.ask("and how many times a week should I do them?", history=history)
    assert answer.in_scope and answer.citations, answer.text


def test_a_follow_up_naming_what_the_passages_found_never_say_is_met_by_its_own_words(bot):
    # The chat lends "it" a topic the pages answer, but none of the passages found holds the thing
    # asked about ("taping"): the follow-up is judged alone too, and the lower verdict stands.
    from bot import retrieval, scope
    from bot.understanding import understand

    history = _asked(bot, "which exercises strengthen my core for a sore lower back?")
    for question, things in (("would taping it help when I go back?", ("taping",)),
                             ("would a kneeling chair be better for it?", ("kneeling",)),
                             ("and how many times a week should I do them?", ()),
                             ("would my shoulders hurt less?", ())):  # a body part is no thing asked about
        message = understand(question, history, bot.index)
        hits = bot.index.search(retrieval.query_for(message, bot.index))
        assert scope.unsaid_things(message, hits, bot.index) == things, question
        answer = bot.ask(question, history=history)
        assert answer.in_scope == (not things) and all(t in answer.text for t in things), answer.text


def test_an_item_of_a_list_run_into_one_sentence_is_found_and_quoted_alone(tmp_path):
    # Read as one sentence, the list is too far from the question to answer it.
    shutil.copytree(CORPUS, tmp_path / "corpus")
    (tmp_path / "corpus" / "desk.md").write_text(
        "---\ntitle: Working at a desk\n---\n# Working at a desk\n\n"
        "Sitting for long spells strains the back. Changes that help include Raising your computer screen so "
        "that its top is level with your eyes; Keeping both feet flat on the floor or on a footrest; Standing "
        "up and walking about for a few minutes every half hour; Choosing a chair that supports the small "
        "of your back;\n", encoding="utf-8")
    s = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index").but(gap_log=False)
    build_index(s, **QUIET)
    answer = BackCareBot.load(settings=s).ask("how high should my monitor be at my desk?")
    assert answer.in_scope and "Raising your computer screen" in answer.citations[0].text, answer.text
    # The item answers first, quoted as a sentence of its own; the passage's next closest follow it.
    assert answer.body.startswith("Changes that help include Raising your computer screen") and "eyes; [1]" in answer.body
    assert "Sitting for long spells" not in answer.body, answer.body
    alone = BackCareBot.load(settings=s.but(lead_sentences=1, support_sentences=1)).ask(
        "how high should my monitor be at my desk?")
    assert "Raising your computer screen" in alone.body and "walking about" not in alone.body, alone.body
    from ui.render import reply_html

    # The source shows which item was quoted, as for any sentence, read with the build's own setting.
    page = reply_html(answer, list_item_words=s.build.list_item_words)
    assert "<mark>Sitting for long spells" not in page and "<mark>Changes that help include Raising" in page, page
    assert "<mark>" not in reply_html(answer, list_item_words=0)  # a build that never splits quotes no item


def test_where_the_chat_was_pulls_less_when_the_message_alone_reads_as_another_page(sectioned):
    """After an answer on colds, "my friend swears by an ice pack when you twist your ankle, how long
    should it stay on?" leans on the chat ("it") but alone is plainly about the ankle page: the shipped
    ranker learned to weigh the cold page's pull down by how much closer another page comes."""
    from dataclasses import replace

    from bot import ranking, retrieval
    from bot.understanding import understand

    history = _asked(sectioned, "what are the symptoms of a cold?")
    message = understand("my friend swears by an ice pack when you twist your ankle, how long should it stay on?",
                         history, sectioned.index)
    query = retrieval.query_for(message, sectioned.index)
    hits = sectioned.index.passages.candidates(query)
    assert query.earlier.document.startswith("cold") and ranking._elsewhere(hits, query.earlier) > 0.05
    closest = [h for h in hits if h.chunk.doc_id != query.earlier.document and h.alone == max(x.alone for x in hits)]
    assert closest and closest[0].chunk.doc_id.startswith("sprains")
    # The same candidates with the chat's page as close to the message alone as any other.
    level = [replace(h, alone=max(x.alone for x in hits)) for h in hits]
    ranker = sectioned.index.passages.ranker
    moved = ranker.logits(ranking.passage_features(query.own_terms(), False, hits, query.earlier))
    stayed = ranker.logits(ranking.passage_features(query.own_terms(), False, level, query.earlier))
    same = [i for i, h in enumerate(hits) if h.chunk.doc_id == query.earlier.document]
    other = [i for i, h in enumerate(hits) if h.chunk.doc_id != query.earlier.document]
    assert same and other
    assert all(moved[i] < stayed[i] for i in same) and all(abs(moved[i] - stayed[i]) < 1e-9 for i in other)


def test_a_question_is_read_in_the_contents_standard_words(sectioned):
    vocabulary = sectioned.index.vocabulary
    assert vocabulary.in_standard_words("is Calpol ok for a temperature?") == "is paracetamol ok for a temperature?"
    assert vocabulary.in_standard_words("is paracetamol ok for a temperature?") == "is paracetamol ok for a temperature?"
    # A phrase stays whole: "backache" is back+pain in data/synonyms.tsv.
    assert vocabulary.in_standard_words("Backache after a cold?") == "back pain after a cold?"


def test_the_answerability_model_reads_the_kind_of_question_not_its_topic(sectioned):
    # What the content knows is masked: a model fitted on a few libraries would otherwise learn their
    # near misses' topics ("is ibuprofen good for…" read as a pharmacy's near miss, test_library.py).
    vocabulary = sectioned.index.vocabulary
    assert vocabulary.frame("is ibuprofen good for a sore throat?") == "is something good for a something something?"
    # A word the content does not know stays: it may be what no page answers.
    framed = vocabulary.frame("which humidifier brand is best for sneezing?")
    assert "humidifier" in framed and "sneezing" not in framed, framed


def test_a_word_in_what_is_asked_weighs_as_much_after_a_long_preamble(bot):
    # A preamble dilutes the whole message's vector: the word the question rides on is also weighed
    # in the clause that asks, where it is the subject as it is in the question alone.
    alone = "What is the best treatment for glaucoma?"
    told = ("I have had a sore lower back for a few weeks and I have been doing the stretches every morning "
            "before work, which helps a bit. " + alone)
    assert _pull(bot, alone)[1].unknown_subjects == ("glaucoma",)
    assert _pull(bot, told)[1].unknown_subjects == ("glaucoma",)
    assert not bot.ask(told).in_scope
