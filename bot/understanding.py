"""A chat message → what it asks: clean, mended text; small talk or language replies; red flags;
the earlier questions a follow-up leans on; and what the content makes of its words."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from . import crisis as harm
from . import lexical, messages, safety, scope
from . import intents
from .chunking import message_sentence_spans
from .embedding import WithPieces
from .conversation import (changes_topic, check_history, clean_question, context_questions, leans_on_history,
                           quoted_sentences, returned_to)
from .vocabulary import Vocabulary, WordCheck

if TYPE_CHECKING:
    from .index import Index

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True)
class Message:
    text: str  # cleaned, with typing mended towards the content's words
    notice: str = ""  # said before the reply (a long message was cut)
    reply: str = ""  # a fixed reply instead of an answer: empty | language | a small-talk intent (intents.py)
    red_flags: tuple[str, ...] = ()  # reported now: the urgent reply
    cautions: tuple[str, ...] = ()  # come near: a "get help now if you also have" note beside the reply
    acute: bool = False  # describes a fresh injury or sudden pain
    asked: str = ""  # what is asked: the text with denied symptoms left out
    search_text: str = ""  # `asked` with the content's standard words after everyday ones, for word search
    standard: str = ""  # `asked` with the content's standard words instead of everyday ones (closeness)
    frame: str = ""  # `asked` with the salient words the content knows put as "something" (answerability)
    asking: str = ""  # what `asked` asks (`scope.asking_clause`): its word pieces are matched against passages
    context: tuple[tuple[str, float], ...] = ()  # earlier questions a follow-up leans on, with weights
    words: WordCheck | None = None  # the message's own salient words, known or not
    # Declined unless the content answers it surely (intents.DECLINED): "service" asks for what no page
    # gives (a brand, a price, a booking); "animal" asks about an animal's health. "" for neither.
    request: str = ""
    earlier: tuple[str, ...] = ()  # the passages the chat's latest answer quoted (chunk ids), in citation order
    crisis: bool = False  # speaks of suicide or self-harm (crisis.py): the crisis note comes first


def understand(question: object, history: object, index: "Index") -> Message:
    serving, vocabulary, triage = index.settings.serving, index.vocabulary, index.triage
    clean = clean_question(question, serving.max_question_chars)
    checked = check_history(history, serving.history_turns)
    turns = _turns(checked, index)
    notice = messages.TOO_LONG.format(limit=serving.max_question_chars) if clean.truncated else ""
    text = clean.text
    if not text or not _LETTER.search(text):  # nothing sent, or nothing left to read ("<b></b>", "???")
        sent = isinstance(question, str) and question.strip()
        return Message(text, notice, reply="unreadable" if sent else "empty")

    mended = vocabulary.mend(text)
    asked = safety.without_denials(mended)
    words, search_text = vocabulary.check(asked), vocabulary.in_content_words(asked)
    standard, frame = vocabulary.in_standard_words(asked), vocabulary.frame(asked)
    # One model pass reads the clauses for red flags and encodes what the answer will need: the
    # message's own vector (its intent), the question's, the question in the content's standard words
    # and its frame (both read by the answerability model), what it asks (whose word pieces the
    # answerability model matches against the passages found), and its unknown words with the
    # versions of it that leave each one out.
    asking = scope.asking_clause(asked)
    reading = triage.read(mended, also=(mended, asked, standard, frame, WithPieces(asking),
                                        *scope.texts_to_encode(search_text, words)))
    flags, cautions = reading.urgent, reading.cautions
    # Read as typed (mending could turn "unalive" into another word) and whole (a long message is cut).
    crisis = harm.speaks_of_harm(question if isinstance(question, str) else text)
    if crisis and (flags or cautions):
        # Such words set off the back red flags ("thoughts of hurting myself" reads as severe pain at
        # rest): the flags are those the rest of the message reports ("numb between my legs, I don't
        # want to live like this" is still urgent, the crisis note first). No caution: the crisis
        # note already says to get help now, and what is left ("i don't know who to talk to") is
        # too little for the red-flag model to come near a flag by.
        flags, cautions = triage.read(harm.without(mended)).urgent, ()
    request = ""
    if not flags:
        if not looks_english(mended, vocabulary, index.settings.scope):
            return Message(mended, notice, reply="language", cautions=cautions, crisis=crisis)
        intent = intents.QUESTION if crisis else _intent(mended, index)  # never small talk
        if intent not in intents.ASKS:
            return Message(mended, notice, reply=intent, cautions=cautions, crisis=crisis)
        request = intent if intent in intents.DECLINED else ""
    context, earlier = (), ()
    # A message that says it leaves the topic ("different thing, …") stands alone: no earlier
    # question, and no pull towards the document the chat was in. So does one that speaks of self-harm.
    if turns and not changes_topic(asked) and not crisis:
        back = returned_to(turns, asked, serving.max_question_chars, partial(_asks_nothing, index=index),
                           vocabulary.mend)
        if _is_follow_up(asked, vocabulary, words):
            context = _context(turns, mended, back, index)
            if request == intents.ANIMAL and context and all(_intent(t, index) != intents.ANIMAL for t, _ in context):
                request = ""  # "would a gel be better for him?" after a question about someone's father
        # Where the chat was: for a return ("back to my ankle"), where the answer to the question it
        # returns to was, not the latest answer's (the topic it leaves).
        earlier = _earlier_passages(turns[back: back + 2] if back is not None else checked, index)
    return Message(
        mended, notice, red_flags=flags, cautions=cautions, acute=safety.describes_acute_pain(mended),
        asked=asked, search_text=search_text, standard=standard, frame=frame, asking=asking, context=context, words=words,
        request=request, earlier=earlier, crisis=crisis,
    )


def _turns(checked: list[dict], index: "Index") -> list[dict]:
    """The conversation's last turns (checked: history_turns of them), newest first within a budget
    of history_chars characters, each cut at history_turn_chars. A user turn is mended and read only
    when a follow-up leans on it (`_context`), and only the latest reply is read back (for what it
    quoted, `_earlier_passages`), so a long made-up history costs no more than a short one."""
    serving = index.settings.serving
    kept, budget = [], serving.history_chars
    for turn in reversed(checked):
        if budget <= 0:
            break
        content = turn["content"][: min(serving.history_turn_chars, budget)]
        kept.append({"role": turn["role"], "content": content})
        budget -= len(content)
    return kept[::-1]


def _asks_nothing(text: str, index: "Index") -> bool:
    """Small talk, which a follow-up passes over to reach the question it leans on."""
    return _intent(text, index) not in intents.ASKS


def _context(turns: list[dict], text: str, back: int | None, index: "Index") -> tuple[tuple[str, float], ...]:
    """The earlier questions a follow-up leans on, without the words a correction says were not
    meant ("meant a cold not an ankle sprain" leans on "what should I do for a sprained ankle?" as
    "what should I do for a ?"). `back`: the turn a return leans on (`returned_to`), if any."""
    follow = index.settings.retrieval
    found = context_questions(turns, follow.followup_weight, follow.followup_depth,
                              index.settings.serving.max_question_chars,
                              partial(_asks_nothing, index=index),
                              back, leans=lambda earlier: _is_follow_up(earlier, index.vocabulary),
                              mend=index.vocabulary.mend)
    dropped = {lexical.stem(w) for w in lexical.terms(safety.not_meant(text))}
    if dropped:
        found = [(_WORD.sub(lambda m: " " if lexical.stem(m.group().lower()) in dropped else m.group(), earlier), w)
                 for earlier, w in found]
    return tuple(found)


def _earlier_passages(history: list[dict], index: "Index") -> tuple[str, ...]:
    """The passages the chat's latest answer quoted, found by its quoted sentences, in citation
    order: for each citation, the passage that has most of the sentences quoted under its number (a
    lead-in such as "Symptoms include:" stands in many). A reply that quotes nothing of this build's
    content gives none. The reply is read as far as the history keeps it (history_turn_chars): a
    reply to a fresh injury puts its safety notes and the content's acute-pain note first, which
    say nothing of the topic, so the answer before it is read instead (reading it whole lost 2 of
    25 seed conversations held out)."""
    chunks, votes = index.passages.chunks, {}
    for number, sentence in quoted_sentences(history, index.settings.serving.history_turn_chars):
        for row in chunks.quoting(sentence):
            count = votes.setdefault(number, {})
            count[row] = count.get(row, 0) + 1
    ids = chunks.columns["chunk_id"]
    # The most votes wins, the first passage in the index breaking a tie.
    return tuple(dict.fromkeys(ids[max(votes[n], key=lambda r: (votes[n][r], -r))] for n in sorted(votes)))


def _intent(text: str, index: "Index") -> str:
    """What a message is for, read whole, then by what it asks when it has several sentences.
    Small talk with a question of its own ("lol ok. And if that doesn't help?", a sentence with a
    question mark that reads as a question) is a question (or the declined kind it reads as). So is
    a request whose asking sentences are all questions: "can't get an appointment till next week.
    what can I take meanwhile" asks what to take (its last sentence asks when none has a question
    mark). A question about an animal stays one whatever its last sentence asks ("My dog has a sore
    back. Is ibuprofen ok?"): there the story is what makes it one."""
    intent = index.intent_of(text)
    if intent in (intents.QUESTION, intents.ANIMAL) or (intent != intents.REQUEST and "?" not in text):
        return intent
    spans = message_sentence_spans(text)
    if len(spans) < 2:
        return intent
    sentences = [text[s:e] for s, e in spans]
    asks = [sentence for sentence in sentences if "?" in sentence] or sentences[-1:]
    read = [index.intent_of(sentence) for sentence in asks]
    if intent == intents.REQUEST:
        return intents.QUESTION if all(r == intents.QUESTION for r in read) else intent
    return next((r for r in read if r in intents.ASKS), intent)


def _is_follow_up(text: str, vocabulary: Vocabulary, words: WordCheck | None = None) -> bool:
    """Leans on the chat: pronoun-led, elliptical, a correction or a return, or without a topic of its own."""
    return leans_on_history(text) or _unanchored(text, words or vocabulary.check(text), vocabulary)


def _unanchored(text: str, words: WordCheck, vocabulary: Vocabulary) -> bool:
    """No topic of its own ("what signs should I look out for"): none of its salient words is one the
    content knows, and none of its words is foreign to the content, so it reads on from the chat."""
    return not vocabulary.known_salient_words(text) and not words.unknown and not words.foreign


def looks_english(text: str, vocabulary: Vocabulary, settings) -> bool:
    """English words we know (stopwords or the content's vocabulary; in a reply of a word or two, any
    common English word: "always?"), or common English words nearly throughout ("right, that makes
    sense, cheers"; a word at least as common in another language, "la" or "male", does not count):
    otherwise say we answer in English. settings: ScopeSettings."""
    words = lexical.words(text)
    if not words:
        return False
    short = len(words) <= settings.short_reply_words
    known = sum(1 for w in words if w in lexical.STOPWORDS or vocabulary.knows(w)
                or (short and lexical.zipf(w) >= settings.english_zipf))
    if known >= 1 and known >= settings.english_share * len(words):
        return True
    common = sum(1 for w in words if w in lexical.STOPWORDS
                 or lexical.commoner_in_english(w, settings.other_languages) >= settings.english_zipf)
    return common >= settings.english_common_share * len(words)
