"""Chat turns → what to search for: input clean-up, history checks, small talk, follow-up context."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import lexical, messages
from .errors import InvalidHistoryError, InvalidQuestionError

ROLES = ("user", "assistant", "system")
_MARKUP = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)|<[^<>]{0,200}>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_GREETING = re.compile(messages.GREETING_WORDS)
_THANKS = re.compile(messages.THANKS_WORDS)
_HELP = re.compile(messages.HELP_WORDS)
# Words that make a question lean on an earlier one: pronouns, "what about", "then", "also".
_FOLLOWUP = re.compile(
    r"^\W*(and|but|also|so|or|what about|how about|and what|what else|anything else|then|same)\b"
    r"|\b(it|its|it's|they|them|their|theirs|those|these|that one|this one|ones|there|then|too|instead|either|else|more of|as well)\b"
)
_SMALL_TALK_WORDS = frozenset(
    "hi hello hey hiya howdy good morning afternoon evening greetings yo thanks thank you thx cheers great ok okay cool "
    "perfect got it there bot much lot very so again helpful nice awesome".split()
)


@dataclass(frozen=True)
class CleanQuestion:
    text: str
    truncated: bool


def clean_question(question: object, max_chars: int) -> CleanQuestion:
    """Any string becomes safe plain text: no control characters or lone surrogates, bounded length."""
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise InvalidQuestionError(f"question must be a string, not {type(question).__name__}")
    # Markup carries no question; dropping it keeps "<script>…</script> how do I lift?" answerable.
    text = _MARKUP.sub(" ", _CONTROL.sub(" ", question))
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", " ", text).strip()
    truncated = len(text) > max_chars
    if truncated:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars].strip()
    return CleanQuestion(text, truncated)


def check_history(history: object, max_turns: int) -> list[dict]:
    """A list of {"role", "content"} turns; only the last turns are kept, since older ones cannot matter."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise InvalidHistoryError(
            'history must be a list of {"role": "user" | "assistant", "content": str} turns, '
            f"not {type(history).__name__}"
        )
    turns = []
    for i, turn in enumerate(list(history)[-max_turns:]):
        if not isinstance(turn, Mapping):
            raise InvalidHistoryError(f"history turn {i} must be a dict with 'role' and 'content', not {type(turn).__name__}")
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise InvalidHistoryError(f"history turn {i} has role {role!r}; use 'user' or 'assistant'")
        if not isinstance(content, str):
            raise InvalidHistoryError(f"history turn {i} content must be a string, not {type(content).__name__}")
        turns.append({"role": role, "content": content})
    return turns


def small_talk(text: str) -> str | None:
    """'empty', 'greeting', 'thanks' or 'help' when the message asks nothing about back care."""
    if not text:
        return "empty"
    lowered = text.lower()
    if _HELP.match(lowered):
        return "help"
    leftover = [w for w in lexical.words(lowered) if w not in _SMALL_TALK_WORDS and w not in lexical.STOPWORDS]
    if leftover:
        return None
    if _THANKS.match(lowered):
        return "thanks"
    if _GREETING.match(lowered):
        return "greeting"
    return None


def leans_on_history(text: str) -> bool:
    """A question that cannot stand alone: pronoun-led, elliptical ("what about…") or nearly contentless."""
    lowered = text.lower().replace("\u2019", "'")
    return bool(_FOLLOWUP.search(lowered)) or len(set(lexical.terms(lowered))) <= 1


def context_questions(history: list[dict], weight: float, max_back: int, max_chars: int) -> list[tuple[str, float]]:
    """Earlier user questions a follow-up leans on, newest first, each weighted less than the last.

    A chain of follow-ups ("And them?" after "What about my hips?") reaches back to the question
    that started the topic.
    """
    out: list[tuple[str, float]] = []
    w = weight
    for turn in reversed(history):
        if turn["role"] != "user":
            continue
        text = clean_question(turn["content"], max_chars).text
        if not text or small_talk(text):
            continue
        out.append((text, w))
        if len(out) >= max_back or not leans_on_history(text):
            break
        w *= weight
    return out
