"""A question's words → the content's words: mended typing, and the salient words the content does not know.

Typed words are mended in this order: contractions typed without an apostrophe ("theyre"), British
and American spellings ("stabilise" for the content's "stabilize"), then typos, which symspellpy
corrects towards the content's own vocabulary and the bot's domain words, never towards general
English (so "controll" becomes "control", while a real word such as "glaucoma" stays as typed).

A word is *salient* when it is rare in general English (wordfreq) or names a part of the body; the
content *knows* it when the content uses its stem, or the stem of one of its everyday equivalents.
"""
from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import lexical
from .lexical import zipf, zipf_rare

if TYPE_CHECKING:
    from .settings import ScopeSettings

# A word as typed; a hyphenated one ("co-codamol", "back-ache") is one word, as the content's words are.
_WORD_SPAN = re.compile(r"[A-Za-z]+(?:['\u2019-][A-Za-z]+)*")


def _pairs(name: str) -> list[tuple[str, str]]:
    out = []
    for line in lexical.read_lines(name):
        left, _, right = line.partition("\t")
        if left.strip() and right.strip():
            out.append((left.strip().lower(), right.strip().lower()))
    return out


CONTRACTIONS = dict(_pairs("contractions.tsv"))
SHORTHAND = dict(_pairs("shorthand.tsv"))  # "shud" → should, "wks" → weeks
SPELLING_SWAPS = tuple(sorted(_pairs("spelling_variants.tsv"), key=lambda p: -len(p[0])))
BODY_PARTS = frozenset(w.strip().lower() for w in lexical.read_lines("body_parts.txt"))
PEOPLE = frozenset(w.strip().lower() for w in lexical.read_lines("people.txt"))


# A number with a unit or an ending ("4mm", "5pm", "10mg", "3x", "2nd") is an amount, not a topic.
_AMOUNT = re.compile(r"^\d+(?:[.,]\d+)?[a-z]{0,3}$")


def spelling_variants(word: str) -> list[str]:
    """The word with one British/American difference swapped, both ways (colour ↔ color)."""
    out = []
    for a, b in SPELLING_SWAPS:
        for old, new in ((a, b), (b, a)):
            if word.endswith(old) and len(word) > len(old) + 2:
                out.append(word[: -len(old)] + new)
            elif old in ("ae", "oe") and old in word[1:-1]:
                out.append(word.replace(old, new, 1))
    return list(dict.fromkeys(v for v in out if v != word))


@dataclass(frozen=True)
class WordCheck:
    """What the content makes of a question's words."""
    unknown: tuple[str, ...]  # salient words the content does not know
    unknown_body_parts: tuple[str, ...]  # body parts the content never mentions
    known_body_parts: tuple[str, ...]  # body parts the content does mention
    unknown_subjects: tuple[str, ...] = ()  # unknown words the question is about (set by scope.weigh_unknown)
    foreign: bool = False  # it has words of its own, none of which the content uses ("my car's engine")
    shift: float = 0.0  # how far the question's vector moves without its unknown words (set by scope.weigh_unknown)
    # How much closer the passages found come to the question without one of its unknown words, incidental
    # ones too (set by scope.weigh_unknown): "does clove oil work for toothache" is nearer a page on
    # toothache without "clove", since the page never names it. Only words of what is asked count (not
    # "sciatica" in "34 weeks pregnant with sciatica, can I take codeine?"), body parts too.
    pull: float = 0.0

    @property
    def only_uncovered_body_parts(self) -> bool:
        return bool(self.unknown_body_parts) and not self.known_body_parts


class Vocabulary:
    """The content's words (from one build) and what follows from them; read-only, thread-safe."""

    def __init__(self, words: dict[str, int], settings: ScopeSettings, domain_words: tuple[str, ...] = ()):
        self.words = words
        self.salient_zipf = settings.salient_zipf
        self.common_zipf = settings.common_zipf
        self.non_word_zipf = settings.non_word_zipf
        self.misspelling_zipf = settings.misspelling_zipf
        self.misspelling_gap = settings.misspelling_gap
        self.stems = frozenset(lexical.stem(w) for w in words)
        self._sorted_stems = sorted(self.stems)
        self._domain_words = domain_words
        # Hyphenated table words ("co-codamol") too, which the speller's list leaves out.
        self._domain_set = frozenset(domain_words) | frozenset(w for w in lexical.SYNONYM_WORDS if "-" in w)
        self._speller = None
        self._speller_lock = threading.Lock()

    # ---- knowing -------------------------------------------------------------------------
    def knows(self, word: str) -> bool:
        """The content uses this word's stem, or one of its standard words ("tummy" → abdomen)."""
        return lexical.stem(word) in self.stems or bool(self.standard_words(word))

    def standard_words(self, word: str) -> list[str]:
        """The standard words for an everyday word that the content itself uses, as written there
        (matched as whole words, so "pain relievers" is not taken for the content's "relieve")."""
        return list(dict.fromkeys(w for phrase in self.standard_phrases(word) for w in phrase.split(" ")))

    def standard_phrases(self, word: str) -> list[str]:
        """`standard_words` with a phrase's words kept together ("backache" → "back pain")."""
        found = []
        for w in lexical.SYNONYMS.get(lexical.stem(word), ()):
            if "+" in w:  # a phrase ("backache": back+pain) vouches when the content has all its words
                parts = w.split("+")
                if all(self._uses(p) for p in parts):
                    found.append(" ".join(parts))
            elif zipf(w) < self.common_zipf and self._uses(w):  # "pain" alone does not make "painkillers" known
                found.append(w)
        return found

    def _uses(self, word: str) -> bool:
        """The content has this word as written, or in the singular or plural."""
        return word in self.words or word + "s" in self.words or (word.endswith("s") and word[:-1] in self.words)

    def in_content_words(self, text: str) -> str:
        """The text with the content's standard words added after everyday words it does not use
        ("hunching (slouching, posture)"), so word search and its vector speak the content's language."""
        def add(m: re.Match) -> str:
            extra = self._standard_for(m.group(0))
            return f"{m.group(0)} ({', '.join(extra)})" if extra else m.group(0)
        return _WORD_SPAN.sub(add, text)

    def in_standard_words(self, text: str) -> str:
        """The text with each everyday word the content does not use replaced by its first standard
        word or phrase ("is calpol ok" → "is paracetamol ok", "backache" → "back pain"): the question
        as the content would put it."""
        return _WORD_SPAN.sub(lambda m: self._standard_phrase(m.group(0)) or m.group(0), text)

    def _standard_phrase(self, typed: str) -> str:
        """The first standard word or phrase the content uses for an everyday word it does not; ""
        for none. A hyphenated word has its parts put so ("tummy-ache" → "abdomen ache")."""
        word = typed.lower()
        if lexical.stem(word) in self.stems:
            return ""
        found = self.standard_phrases(word)
        if found:
            return found[0]
        if "-" in word:
            parts = [p for p in word.split("-") if p]
            swapped = [self._standard_phrase(p) for p in parts]
            return " ".join(s or p for s, p in zip(swapped, parts)) if any(swapped) else ""
        return ""

    def frame(self, text: str) -> str:
        """The text with each salient word the content knows put as "something" ("is ibuprofen good
        for sciatica?" → "is something good for something?"): the kind of question it is, without
        the topic, and with what the content does not know ("which exercise app…")."""
        def mask(m: re.Match) -> str:
            word = m.group(0).lower()
            return "something" if self.is_salient(word) and self.knows(word) else m.group(0)
        return _WORD_SPAN.sub(mask, text)

    def standard_additions(self, text: str) -> list[str]:
        """The content's standard words that `in_content_words` adds to this text."""
        return list(dict.fromkeys(w for m in _WORD_SPAN.finditer(text) for w in self._standard_for(m.group(0))))

    def _standard_for(self, typed: str) -> list[str]:
        word = typed.lower()
        if lexical.stem(word) in self.stems:
            return []
        found = [w for w in self.standard_words(word) if w != word]
        if not found and "-" in word:  # "tummy-ache": the table knows its parts ("tummy" → abdomen)
            found = list(dict.fromkeys(w for part in word.split("-") if part for w in self._standard_for(part)))
        return found

    def relatives(self, root: str) -> list[str]:
        """The content's stems that extend this one ("treat" → "treatment"): derived forms Snowball
        leaves apart. Short stems are left alone, since they prefix too many unrelated words."""
        if len(root) < 5:
            return []
        i = bisect.bisect_left(self._sorted_stems, root)
        out = []
        while i < len(self._sorted_stems) and self._sorted_stems[i].startswith(root) and len(out) < 5:
            if self._sorted_stems[i] != root:
                out.append(self._sorted_stems[i])
            i += 1
        return out

    def search_terms(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the text's own stems with their derived forms, weaker guesses: everyday words' standard words)."""
        typed = lexical.terms(text)
        own = list(dict.fromkeys(typed + [r for t in typed for r in self.relatives(t)]))
        return tuple(own), tuple(g for g in dict.fromkeys(lexical.lay_expansions(text)) if g not in own)

    def content_words(self) -> list[str]:
        """The content's own words (no stopwords), the ones a question's unknown word may be a synonym of."""
        return sorted(w for w in self.words if w.isalpha() and len(w) >= 3 and w not in lexical.STOPWORDS)

    def is_salient(self, word: str) -> bool:
        if word in lexical.STOPWORDS or word in PEOPLE or len(word) < 3 or _AMOUNT.match(word):
            return False
        return word in BODY_PARTS or zipf(word) < self.salient_zipf

    def salient_words(self, text: str) -> list[str]:
        return [w for w in dict.fromkeys(lexical.words(text)) if self.is_salient(w)]

    def known_salient_words(self, text: str) -> list[str]:
        """The text's salient words the content knows: what it is about, in the content's terms."""
        return [w for w in self.salient_words(text) if self.knows(w)]

    def check(self, text: str) -> WordCheck:
        words = self.salient_words(text)
        own = [w for w in lexical.words(text)
               if w not in lexical.STOPWORDS and len(w) >= 3 and not w.isdigit() and zipf(w) < self.common_zipf]
        unknown = tuple(w for w in words if not self.knows(w))
        body = [w for w in words if w in BODY_PARTS]
        return WordCheck(
            unknown=unknown,
            unknown_body_parts=tuple(w for w in body if w in unknown),
            known_body_parts=tuple(w for w in body if w not in unknown),
            foreign=bool(own) and not any(self.knows(w) for w in own),
        )

    # ---- mending -------------------------------------------------------------------------
    def mend(self, text: str) -> str:
        """The text with contractions, spellings and typos mended towards the content's words."""
        names = not _title_case(text)  # "Can I Take Paracetomal For Back Pain" names nothing
        return _WORD_SPAN.sub(lambda m: self._mend_word(m.group(0), name=names and _a_name(m)), text)

    def _mend_word(self, typed: str, name: bool = False) -> str:
        if "-" in typed:
            return self._mend_hyphenated(typed, name)
        word = typed.lower()
        if "'" in word or "\u2019" in word or word in lexical.STOPWORDS:
            return typed
        if word in CONTRACTIONS:
            return CONTRACTIONS[word]
        if word in SHORTHAND:
            return SHORTHAND[word]
        if self.knows(word):
            return typed
        for variant in spelling_variants(word):
            if self.knows(variant):
                return variant
        # A real English word stays as typed: only a non-word is pulled towards the content's words.
        if len(word) < 4:
            return typed
        if zipf_rare(word) >= self.non_word_zipf:
            return self._mend_misspelling(word, typed)
        fixed = self._correct(word, 1 if name else 2)
        if name and fixed is None:
            # Two letters away, a name is mended only into a word of the bot's own tables: a
            # medicine's name ("Paracetomal"), never a word of the content ("Lenire" is not "centre").
            fixed = self._correct(word, 2)
            fixed = fixed if fixed in self._domain_set else None
        if fixed is None:
            return typed
        return CONTRACTIONS.get(fixed, fixed)

    def _mend_misspelling(self, word: str, typed: str) -> str:
        """A word common enough on the web to pass for English but in no dictionary is a common
        misspelling ("excercise", "recieve", "completly"): mended one letter away into a content word
        far commoner than it. Slang, brands and medicines no dictionary lists ("glutes", "naproxen")
        have no such neighbour, and a short word ("doms") is left alone."""
        rare = zipf_rare(word)
        if (len(word) < 6 or rare >= self.misspelling_zipf or word in self._domain_set
                or lexical.in_dictionary(word)):
            return typed
        fixed = self._correct(word, 1)
        if fixed is None or zipf_rare(fixed) < rare + self.misspelling_gap:
            return typed
        return CONTRACTIONS.get(fixed, fixed)

    def _mend_hyphenated(self, typed: str, name: bool = False) -> str:
        """A hyphenated word stays whole when the content or a word table knows it ("x-ray",
        "co-codamol"), is joined when that is what is known ("back-ache" → "backache"), and else has
        each part mended (a typo in one part is still mended; "co-codamol" is never "co-cocodamol")."""
        word = typed.lower()
        key = word.replace("-", "")  # "backache"
        if self.knows(word) or word in self._domain_set:
            return typed
        if self.knows(key):
            return typed[0] + key[1:]  # joined, its first letter as typed
        if key in self._domain_set:
            return typed
        return "-".join(self._mend_word(part, name) for part in typed.split("-"))

    def _correct(self, word: str, most: int = 2) -> str | None:
        from symspellpy import Verbosity

        speller = self._get_speller()
        distance = 1 if len(word) <= 5 else most
        found = speller.lookup(word, Verbosity.TOP, max_edit_distance=distance)
        return found[0].term if found and found[0].term != word else None

    def _get_speller(self):
        with self._speller_lock:
            if self._speller is None:
                from symspellpy import SymSpell

                speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
                for word, count in self.words.items():
                    if word.isalpha() and len(word) >= 3:
                        speller.create_dictionary_entry(word, 1000 + count)
                for word in self._domain_words:
                    speller.create_dictionary_entry(word, 1000)
                self._speller = speller
            return self._speller


def _a_name(m: re.Match) -> bool:
    """A capitalised word inside a sentence may name something ("the Lenire device", "Phonak or
    Oticon", 'is "Lenire" any good'): only a slip of one letter is mended in it ("Ibuprofin"), or
    one of two into a word of the bot's own tables. A sentence starts after . ! ? : ; (and any
    quotes or brackets that follow them)."""
    word = m.group(0)
    if not word[:1].isupper() or word.isupper():
        return False
    before = m.string[:m.start()].rstrip().rstrip(_OPENING).rstrip()
    return bool(before) and before[-1] not in ".!?:;"


_OPENING = "\"'([\u201c\u2018"


def _title_case(text: str) -> bool:
    """Most words capitalised: the capitals say nothing of names."""
    words = _WORD_SPAN.findall(text)
    return len(words) > 2 and sum(w[:1].isupper() for w in words) > len(words) / 2


def domain_words() -> tuple[str, ...]:
    """Words the bot's own data knows (lay words, body parts, contractions): typos are mended towards them too."""
    from .triage import flag_words

    words = set(CONTRACTIONS) | set(BODY_PARTS) | set(flag_words())
    for key, extras in lexical.SYNONYM_WORDS.items():
        words.add(key)
        words.update(w for extra in extras for w in extra.replace("+", " ").split())
    return tuple(sorted(w for w in words if w.isalpha()))
