"""Property and fuzz tests: arbitrary unicode never crashes the chunker or ask(), and no text is lost."""
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from bot import Answer, InvalidHistoryError
from bot.chunking import chunk_document
from bot.corpus import parse_document

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ASK_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

sentence = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120)
words = st.lists(st.sampled_from(["Stretch", "the", "back", "e.g.", "etc.", "daily.", "Core!", "Why?", "U.S.",
                                  "muscles", "\u00e9t\u00e9", "\u6f22\u5b57", "\U0001f600", "...", "Dr.", "x" * 90]),
                 max_size=60).map(" ".join)
text_st = st.lists(st.one_of(sentence, words), min_size=1, max_size=8).map("\n".join)


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@FUZZ
@given(text=text_st, suffix=st.sampled_from([".txt", ".md"]), max_chars=st.integers(40, 600),
       join_chars=st.sampled_from([0, 200]))
def test_chunks_cover_every_paragraph_in_order_without_loss(text, suffix, max_chars, join_chars):
    doc = parse_document("doc" + suffix, text)
    chunks = chunk_document(doc, max_chars=max_chars, max_sentences=5, join_chars=join_chars)
    previous_end = -1
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.start >= previous_end
        assert len(c.text) <= max_chars
        previous_end = c.end
    paragraphs = "".join(squash(doc.text[p.start:p.end]) for p in doc.paragraphs)
    assert "".join(squash(c.text) for c in chunks) == paragraphs


@ASK_FUZZ
@given(question=st.text(max_size=300))
def test_ask_answers_any_text(bot, question):
    answer = bot.ask(question)
    assert isinstance(answer, Answer) and answer.text
    assert not (answer.citations and not answer.in_scope)


turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.text(max_size=80)})
junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@ASK_FUZZ
@given(question=st.text(max_size=80), history=st.one_of(st.lists(turn, max_size=6), st.lists(st.one_of(turn, junk), max_size=4), junk))
def test_ask_with_any_history_answers_or_raises_value_error(bot, question, history):
    try:
        answer = bot.ask(question, history=history)
    except InvalidHistoryError as e:
        assert isinstance(e, ValueError) and str(e)
    else:
        assert isinstance(answer, Answer)
