"""A chat message → what it asks: clean, mended text; small talk or language replies; red flags;
the earlier questions a follow-up leans on; and what the content makes of its words."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import lexical, messages, safety, scope
from .conversation import check_history, clean_question, context_questions, leans_on_history, small_talk
from .vocabulary import Vocabulary, WordCheck

if TYPE_CHECKING:
    from .index import Index

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class Message:
    text: str  # cleaned, with typing mended towards the content's words
    notice: str = ""  # said before the reply (a long message was cut)
    reply: str = ""  # a fixed reply instead of an answer: empty | greeting | help | thanks | language
    red_flags: tuple[str, ...] = ()
    acute: bool = False  # describes a fresh injury or sudden pain
    asked: str = ""  # what is asked: the text with denied symptoms left out
    search_text: str = ""  # `asked` with the content's standard words after everyday ones, for word search
    context: tuple[tuple[str, float], ...] = ()  # earlier questions a follow-up leans on, with weights
    words: WordCheck | None = None  # the message's own salient words, known or not


def understand(question: object, history: object, index: "Index") -> Message:
    serving, vocabulary, triage = index.settings.serving, index.vocabulary, index.triage
    clean = clean_question(question, serving.max_question_chars)
    turns = [{"role": t["role"], "content": vocabulary.mend(t["content"]) if t["role"] == "user" else t["content"]}
             for t in check_history(history, serving.history_turns)]
    notice = messages.TOO_LONG.format(limit=serving.max_question_chars) if clean.truncated else ""
    text = clean.text
    kind = small_talk(text) if _LETTER.search(text) or not text else "empty"
    if kind:
        return Message(text, notice, reply=kind)

    mended = vocabulary.mend(text)
    asked = safety.without_denials(mended)
    words, search_text = vocabulary.check(asked), vocabulary.in_content_words(asked)
    # One model pass reads the clauses for red flags and encodes what the answer will need: the
    # question's own vector, and its unknown words with the versions of it that leave each one out.
    flags = tuple(triage.detect(mended, also=(asked, *scope.texts_to_encode(search_text, words))))
    if not flags and not looks_english(mended, vocabulary, index.settings.scope.english_share):
        return Message(mended, notice, reply="language")
    context = ()
    if leans_on_history(asked):
        follow = index.settings.retrieval
        context = tuple(context_questions(turns, follow.followup_weight, follow.followup_depth,
                                          serving.max_question_chars))
    return Message(
        mended, notice, red_flags=flags, acute=safety.describes_acute_pain(mended),
        asked=asked, search_text=search_text, context=context, words=words,
    )


def looks_english(text: str, vocabulary: Vocabulary, share: float) -> bool:
    """English words we know (stopwords or the content's vocabulary): otherwise say we answer in English."""
    words = lexical.words(text)
    if not words:
        return False
    known = sum(1 for w in words if w in lexical.STOPWORDS or vocabulary.knows(w))
    return known >= 1 and known >= share * len(words)
