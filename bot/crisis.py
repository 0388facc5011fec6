"""Whether a message speaks of suicide or self-harm (data/crisis.yaml): such a message gets a note
first, whatever else it asks, telling the person to get help now and that they need not cope alone.
Matched by words, not by the back red flags' model: it must hold for any content, and a person who
says it must never be taken for small talk."""
from __future__ import annotations

import re
from functools import lru_cache

from . import lexical

_APOSTROPHES = re.compile(r"['\u2019`]")
_OTHERS = (("myself", ("himself", "herself", "themselves", "themself")),
           ("my own life", ("his own life", "her own life", "their own life")),
           ("my life", ("his life", "her life", "their life")))
# A denial just before the words ("I'm not suicidal", "I don't want to die", "never wanted to harm
# myself"), up to four words back; apostrophes are gone by then.
_DENIED_BEFORE = re.compile(r"\b(no|not|never|dont|do not|didnt|did not|isnt|arent|wasnt|havent|hasnt|wont|"
                            r"without|nor)\b(\W+\w+){0,3}\W*$")


def _plain(text: str) -> str:
    return _APOSTROPHES.sub("", text.lower())


def _variants(phrase: str) -> list[str]:
    out = [_plain(phrase)]
    for mine, theirs in _OTHERS:
        if mine in out[0]:
            out += [out[0].replace(mine, other) for other in theirs]
            break
    return out


def _alternation(phrases) -> re.Pattern:
    found = sorted({v for p in phrases for v in _variants(p)}, key=len, reverse=True)  # longest first
    words = (r"\s+".join(re.escape(w) for w in v.split()) for v in found)
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, re.Pattern]:
    import yaml

    table = yaml.safe_load((lexical.DATA / "crisis.yaml").read_text(encoding="utf-8"))
    return _alternation(table["expressions"]), _alternation(table.get("lookalikes") or ["\u0000"])


def speaks_of_harm(text: str) -> bool:
    """The message uses words of suicide or self-harm that it does not deny, outside a look-alike."""
    plain = _plain(text)
    expressions, lookalikes = _patterns()
    alike = [m.span() for m in lookalikes.finditer(plain)]
    for m in expressions.finditer(plain):
        if any(s <= m.start() < e or s < m.end() <= e for s, e in alike):
            continue
        if _DENIED_BEFORE.search(plain[max(0, m.start() - 60): m.start()]):
            continue
        return True
    return False
