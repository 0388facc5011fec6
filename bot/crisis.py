"""Whether a message speaks of suicide or self-harm (data/crisis.yaml): such a message gets a note
first, whatever else it asks, telling the person to get help now and that they need not cope alone.
Matched by words, not by the back red flags' model: it must hold for any content, and a person who
says it must never be taken for small talk."""
from __future__ import annotations

import re
from functools import lru_cache

_APOSTROPHES = "'\u2019\u2018\u02bc\u00b4`"
_DASHES = "-\u2010\u2011\u2012\u2013\u2014"
_OTHERS = (("myself", ("himself", "herself", "themselves", "themself")),
           ("my own life", ("his own life", "her own life", "their own life")),
           ("my life", ("his life", "her life", "their life")))
# Where the clause of a match begins and ends: a denial or "by mistake" counts only within it.
_CLAUSE_START = re.compile(r".*(?:[.,;:!?]|\bbut\b|\band\b|\bso\b)", re.DOTALL)
_CLAUSE_END = re.compile(r"[.,;:!?]|\bbut\b")
# A denial attached to the words ("I'm not suicidal", "I don't want to die", "never really felt
# suicidal"); apostrophes are gone by then. "No. I want to die" and "I'm not ok, I want to die" are no denials.
_DENIED = re.compile(r"\b(not|never|dont|do not|didnt|did not)\s+((really|even|ever|feel|feeling|felt|being|am|im|i)\s+)"
                     r"{0,2}$")
_BY_MISTAKE = re.compile(r"\b(by accident|by mistake|accidental\w*)\b")
_LONGEST_READ = 20_000  # characters of a message read for these words (it is cut later; they count wherever they are)


def _plain(text: str) -> tuple[str, list[int]]:
    """The text lower-cased, apostrophes dropped ("dont" = "don't") and dashes read as spaces
    ("self-harm" = "self harm"), with where each of its characters was in the text."""
    out, where = [], []
    for i, ch in enumerate(text[:_LONGEST_READ]):
        if ch in _APOSTROPHES:
            continue
        for c in (" " if ch in _DASHES else ch.lower()):
            out.append(c)
            where.append(i)
    return "".join(out), where


def _variants(phrase: str) -> list[str]:
    out = [" ".join(_plain(phrase)[0].split())]
    for mine, theirs in _OTHERS:
        if mine in out[0]:
            out += [out[0].replace(mine, other) for other in theirs]
            break
    return out


def _alternation(phrases) -> re.Pattern:
    found = sorted({v for p in phrases for v in _variants(p) if v}, key=len, reverse=True)  # longest first
    words = (r"\s+".join(re.escape(w) for w in v.split()) for v in found)
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, re.Pattern | None]:
    import yaml

    from .lexical import DATA

    table = yaml.safe_load((DATA / "crisis.yaml").read_text(encoding="utf-8"))
    lookalikes = table.get("lookalikes") or []
    return _alternation(table["expressions"]), (_alternation(lookalikes) if lookalikes else None)


def spans(text: str) -> list[tuple[int, int]]:
    """Where the message uses words of suicide or self-harm that it does not deny, outside a
    look-alike ("killing myself laughing") and not said of a mistake ("took an overdose of calpol by
    accident"), as (start, end) in the text."""
    plain, where = _plain(text)
    expressions, lookalikes = _patterns()
    alike = [m.span() for m in lookalikes.finditer(plain)] if lookalikes else []
    found = []
    for m in expressions.finditer(plain):
        if any(s < m.end() and m.start() < e for s, e in alike):
            continue
        before = plain[max(0, m.start() - 200): m.start()]
        opened = _CLAUSE_START.match(before)
        clause_before = before[opened.end():] if opened else before
        after = plain[m.end(): m.end() + 200]
        closed = _CLAUSE_END.search(after)
        clause_after = after[: closed.start()] if closed else after
        if _DENIED.search(clause_before) or _BY_MISTAKE.search(clause_before + " " + clause_after):
            continue
        found.append((where[m.start()], where[m.end() - 1] + 1))
    return found


def speaks_of_harm(text: str) -> bool:
    return bool(spans(text))


def without(text: str) -> str:
    """The text with its words of self-harm blanked out, so the back red flags read the rest alone."""
    for s, e in reversed(spans(text)):
        text = text[:s] + " " * (e - s) + text[e:]
    return text
