"""Acute-pain cues and denied symptoms, by the word lists in messages.py; red flags are triage.py's."""
from __future__ import annotations

import re

from . import messages

_CLAUSE_BREAK = re.compile(r"[.;!?\n]|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b")
_NEGATION = re.compile(messages.NEGATION + r"[\w\s',-]{0,40}$")


def normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def negated(text: str, start: int) -> bool:
    """True when the words just before a match, in the same clause, deny it ("no fever", "I don't have")."""
    prefix = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end():] if breaks else prefix
    return bool(_NEGATION.search(clause[-60:]))


_ACUTE = re.compile(messages.ACUTE_CUES)


def describes_acute_pain(question: str) -> bool:
    text = normalise(question)
    return any(not negated(text, m.start()) for m in _ACUTE.finditer(text))


_CLAUSE = re.compile(r"[^,.;:!?\n]+[,.;:!?\n]*")
_DENIAL_START = re.compile(r"^\W*(\w+\W+){0,2}?" + messages.NEGATION)
_ASKS = re.compile(r"\b(what|why|how|when|which|who|where|should|can|could|does|do|is|are|will|would|help)\b")
# A correction says what was meant and what was not ("sorry, meant rheumatoid not gout"): it keeps
# what was meant and drops what follows the "not".
_CORRECTION = re.compile(r"\b(meant|i mean|rather|instead|oops|sorry|typo|correction)\b")
_NOT = re.compile(messages.NEGATION)


def _corrected(clause: str) -> re.Match | None:
    """The "not" of a clause that corrects what was said ("meant rheumatoid not gout"), or None."""
    lowered = normalise(clause)
    denial = _NOT.search(lowered)
    return denial if denial and _CORRECTION.search(lowered[:denial.start()]) else None


def not_meant(question: str) -> str:
    """What a correction says was not meant ("an ankle sprain" in "oops, meant a cold not an ankle
    sprain"), or "": the chat it leans on is read without it."""
    parts = [c[m.end():].strip(" ,.;:!?\n") for c in _CLAUSE.findall(question) if (m := _corrected(c))]
    return " ".join(p for p in parts if p)


def without_denials(question: str) -> str:
    """The question minus clauses that only deny symptoms ("No fever, no numbness, ..."), which
    would otherwise pull the search towards the passages about those symptoms, and minus what a
    correction says was not meant."""
    clauses, kept = _CLAUSE.findall(question), []
    for c in clauses:
        lowered, correction = normalise(c), _corrected(c)
        if correction:
            kept.append(c[:correction.start()])
        elif not (_DENIAL_START.search(lowered) and not _ASKS.search(lowered)):
            kept.append(c)
    left = "".join(kept).strip()
    # Unchanged, or a message of denials alone ("No fever, no numbness."): it stays as it was.
    return left if left != question.strip() and left.strip(" ,.;:!?") else question


def urgent_message(advice: list[tuple[str, str]], emergency_number: str) -> str:
    """The urgent reply for the red flags that matched: (name, advice) pairs, in table order."""
    lines = [messages.URGENT_FLAG.format(name=name[0].upper() + name[1:], advice=text) for name, text in advice]
    return "\n\n".join([messages.URGENT_LEAD, "\n".join(lines), messages.URGENT_CLOSE.format(number=emergency_number)])
