import re

import pytest

from bot import BackCareBot, messages, safe_text

CORE_QUESTIONS = [
    ("Why should I work on my core?", "Improving core stability reduces the risk of injury"),
    ("How does stretching help a sore back?", "Stretching exercises lengthen shortened muscles"),
    ("Is walking good for my bones?", "improves bone density"),
    ("Should I increase my exercises slowly?", "must be done progressively"),
]


@pytest.mark.parametrize("question,expected", CORE_QUESTIONS)
def test_expected_passage_is_cited_in_the_top_three(bot, question, expected):
    answer = bot.ask(question)
    assert answer.in_scope
    assert any(expected in c.text for c in answer.citations[:3])


@pytest.mark.parametrize("question,_", CORE_QUESTIONS)
def test_every_in_scope_answer_ends_with_both_caveats(bot, question, _):
    answer = bot.ask(question)
    assert answer.caveats == [messages.ACUTE_CAVEAT, messages.GRADUAL_CAVEAT]
    for caveat in answer.caveats:
        assert caveat in answer.text


def test_every_quoted_sentence_comes_from_its_cited_passage(bot):
    answer = bot.ask("How can I stop slouching at my desk?")
    body = answer.text.split(messages.CAVEATS_HEADING)[0]
    quotes = re.findall(r"(.+?) \[(\d+)\]", body)
    assert quotes
    for sentence, number in quotes:
        passage = answer.citations[int(number) - 1].text
        assert sentence.strip() in passage
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert all(f"[{c.number}]" in answer.text for c in answer.citations)


def test_sources_list_titles_and_passages(bot):
    answer = bot.ask("Which muscles make up the core?")
    assert messages.SOURCES_HEADING in answer.text
    first = answer.citations[0]
    assert first.source == "Back Exercises Pictures"
    assert first.chunk_id.startswith("back-exercises.txt#p")
    assert 0 < first.score
    # Listed as markdown shows it, escaped, on one line: a passage's lines and list marks stay inside its item.
    assert safe_text.markdown_text(" ".join(first.text.split())) in answer.text


def test_question_outside_the_content_gets_no_citations(bot):
    answer = bot.ask("What is the best pasta recipe?")
    assert not answer.in_scope and not answer.citations and not answer.caveats


def test_red_flag_symptom_is_urgent(bot):
    answer = bot.ask("My back hurts and I've lost control of my bowels.")
    assert answer.urgent
    assert answer.text.startswith("**Please seek medical care now.**")


@pytest.mark.parametrize("message", [
    "i've been having thoughts of hurting myself and i don't know who to talk to",
    "i need someone to talk to, i keep thinking about ending it all",
    "my son says he wants to kill himself",
    "hi",  # small talk alone gets no such note, as the two below get none
])
def test_words_of_suicide_or_self_harm_get_the_crisis_note_first_and_are_never_small_talk(bot, message):
    answer = bot.ask(message)
    if message == "hi":
        assert not answer.crisis and answer.kind == "small_talk"
        return
    assert answer.crisis and answer.text.startswith("**If you are thinking about suicide or harming yourself")
    assert "your local emergency number" in answer.text and answer.kind in ("answer", "refusal")
    assert not answer.urgent and not answer.cautions  # not the back red flags' reply, which such words set off
    history = [{"role": "user", "content": "which stretches help a stiff lower back?"},
               {"role": "assistant", "content": bot.ask("which stretches help a stiff lower back?").text}]
    in_chat = bot.ask(message, history=history)  # it stands alone: the chat's stretches are not its answer
    assert in_chat.crisis and [c.chunk_id for c in in_chat.citations] == [c.chunk_id for c in answer.citations]


def test_the_crisis_note_names_the_crisis_line_an_owner_sets(bot):
    from bot import BackCareBot

    lined = BackCareBot.load(settings=bot.settings.but(crisis_line="Samaritans on 116 123", emergency_number="999"))
    answer = lined.ask("i keep thinking about ending it all")
    assert "call 999 or Samaritans on 116 123, or talk to a doctor" in answer.text, answer.text
    assert "call your local emergency number, or talk" in bot.ask("i keep thinking about ending it all").text


def test_words_of_self_harm_past_the_length_a_message_is_cut_at_still_get_the_crisis_note(bot):
    story = "My lower back has ached every day since I moved house and lifted all the boxes myself. " * 14
    answer = bot.ask(story + "Honestly some days I want to die.")
    assert len(story) > bot.settings.serving.max_question_chars and answer.crisis, answer.text[:200]


def test_a_red_flag_beside_words_of_self_harm_keeps_the_urgent_reply_after_the_crisis_note(bot):
    answer = bot.ask("numb between my legs and peeing myself, I dont want to live like this")
    assert answer.crisis and answer.urgent and "loss of bladder or bowel control" in answer.red_flags
    assert answer.text.index("suicide or harming yourself") < answer.text.index("Please seek medical care now")


@pytest.mark.parametrize("question", ["Which muscles support the spine?", "Why do strong thighs help when lifting?"])
def test_a_follow_up_reads_the_quotes_of_a_reply_past_its_notes(bot, question):
    # The crisis note and a caution come before the quotes; a follow-up reads the quotes all the same.
    from bot.answer import with_cautions, with_crisis
    from bot.conversation import quoted_sentences

    answer = bot.ask(question)
    noted = with_crisis(with_cautions(answer, ["severe pain at night or at rest"]), True, "999")
    limit = bot.settings.serving.history_turn_chars
    read = [quoted_sentences([{"role": "user", "content": question}, {"role": "assistant", "content": reply}], limit)
            for reply in (answer.text, noted.text)]
    assert len(read[0]) >= 2 and read[1] == read[0]


@pytest.mark.parametrize("message", [
    "my back is killing me, what stretches help?",
    "Am I harming myself by sitting at a desk all day? my lower back aches",
    "I don't want to live on painkillers forever, what exercises help my back?",
    "I hurt myself lifting boxes at work, what should I do?",
    "is it normal to bend with a round back to pick stuff up or am i going to hurt myself",
    "I'm not suicidal, just fed up with my back. what exercises help?",
    "I nearly killed myself falling off a ladder and now my back aches",
])
def test_everyday_words_of_pain_and_injury_get_no_crisis_note(bot, message):
    answer = bot.ask(message)
    assert not answer.crisis and "suicide" not in answer.text, answer.text


def test_the_crisis_table_reads_its_own_expressions_and_not_everyday_idioms():
    import yaml

    from bot.crisis import speaks_of_harm
    from bot.lexical import DATA
    from conftest import PROJECT

    table = yaml.safe_load((DATA / "crisis.yaml").read_text(encoding="utf-8"))
    assert all(speaks_of_harm(f"lately i {e}") for e in table["expressions"])
    assert not any(speaks_of_harm(e) for e in table["lookalikes"])
    # Everyday phrases with the same words, written apart from the table (pain idioms, gym slang,
    # titles, a relative's death, a medicine taken twice by mistake): none reads as self-harm.
    idioms = (PROJECT / "tests" / "fixtures" / "crisis_lookalikes.txt").read_text(encoding="utf-8").split("\n")
    assert len(idioms) > 50 and not [i for i in idioms if i and speaks_of_harm(i)]


def test_terminal_prints_one_answer_and_runs_a_small_chat(settings):
    import subprocess
    import sys

    from conftest import PROJECT

    base = [sys.executable, "-m", "bot", "--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir)]
    one = subprocess.run(base + ["How can I stop slouching?"], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert "prevent slouching" in one.stdout and "[1]" in one.stdout
    chat = subprocess.run(base, cwd=PROJECT, input="Which tight muscles pull my spine out of line?\nDoes stretching them help?\n\n",
                          capture_output=True, text=True, check=True)
    assert chat.stdout.count("Sources") == 2 and "Stretching exercises lengthen" in chat.stdout


def test_quotes_are_grouped_a_paragraph_per_source(bot):
    answer = bot.ask("How can I prevent slouching?")
    assert len(answer.citations) >= 2
    paragraphs = [p for p in answer.body.split("\n\n") if p.strip()]
    cited = [set(re.findall(r"\[(\d+)\]", p)) for p in paragraphs]
    assert all(len(numbers) == 1 for numbers in cited)  # one source per paragraph (or list)
    order = [int(n.pop()) for n in cited]
    assert order == sorted(order) and len(set(order)) >= 2  # sources in citation order, each on its own


def test_the_best_passage_and_each_supporting_one_are_quoted_at_their_set_lengths(settings):
    # The answer is often the fourth closest sentence of its passage, or a runner-up's second.
    counts = {}
    for lead, support in ((3, 1), (4, 2)):
        bot = BackCareBot.load(index_dir=settings.index_dir, corpus_dir=settings.corpus_dir,
                               settings=settings.but(lead_sentences=lead, support_sentences=support))
        answer = bot.ask("How can I prevent slouching?")
        quoted = [int(n) for n in re.findall(r"\[(\d+)\]", answer.body)]
        counts[lead, support] = [quoted.count(c.number) for c in answer.citations]
        assert len(counts[lead, support]) >= 2
        assert 1 <= counts[lead, support][0] <= lead and all(1 <= n <= support for n in counts[lead, support][1:])
    assert sum(counts[4, 2]) > sum(counts[3, 1])
