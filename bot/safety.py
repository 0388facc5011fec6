"""Red-flag triage and acute-pain detection, driven by the rule tables in messages.py."""
from __future__ import annotations

import re
from functools import lru_cache

from . import messages

_CLAUSE_BREAK = re.compile(r"[.;!?\n]|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bexcept\b")
_NEGATION = re.compile(messages.NEGATION + r"[\w\s',-]{0,40}$")


@lru_cache(maxsize=1)
def _rules() -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((r["name"], re.compile(r["match"])) for r in messages.RED_FLAGS)


def normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def negated(text: str, start: int) -> bool:
    """True when the words just before a match, in the same clause, deny it ("no fever", "I don't have")."""
    prefix = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end():] if breaks else prefix
    return bool(_NEGATION.search(clause[-60:]))


def red_flags(question: str) -> list[str]:
    """Names of the red flags a question describes, in table order; denied symptoms are left out."""
    text = normalise(question)
    found = []
    for name, pattern in _rules():
        if any(not negated(text, m.start()) for m in pattern.finditer(text)):
            found.append(name)
    return found


_ACUTE = re.compile(messages.ACUTE_CUES)


def describes_acute_pain(question: str) -> bool:
    text = normalise(question)
    return any(not negated(text, m.start()) for m in _ACUTE.finditer(text))


_CLAUSE = re.compile(r"[^,.;:!?\n]+[,.;:!?\n]*")
_DENIAL_START = re.compile(r"^\W*(\w+\W+){0,2}?" + messages.NEGATION)
_ASKS = re.compile(r"\b(what|why|how|when|which|who|where|should|can|could|does|do|is|are|will|would|help)\b")


def without_denials(question: str) -> str:
    """The question minus clauses that only deny symptoms ("No fever, no numbness, ..."), which
    would otherwise pull the search towards the passages about those symptoms."""
    clauses = _CLAUSE.findall(question)
    kept = [c for c in clauses if not (_DENIAL_START.search(normalise(c)) and not _ASKS.search(normalise(c)))]
    return "".join(kept).strip() if kept and len(kept) < len(clauses) else question


def urgent_message(flags: list[str]) -> str:
    reasons = "; ".join(flags)
    return messages.URGENT_MESSAGE.format(reasons=reasons[0].upper() + reasons[1:])
