"""Red-flag triage by meaning and context: which red flags a message reports now (the urgent reply)
or comes near (a caution beside the answer).

With the fitted model (data/models/triage.json, `Triage.read`): a small network over each part of
the message (a clause in its sentence: their vectors and, per red flag, the features below,
`Triage.features`), then, for a message with a part past the caution tier, a logistic regression over
the message read whole (`Triage.whole`) for the urgent reply. Without it, the rule that follows
decides (urgent only).

A red flag (one row of data/red_flags.yaml) matches a clause of the message that is close in
meaning to one of its urgent phrasings, and closer to them than to its calm look-alikes, or that
fits one of its precise patterns. medspaCy's ConText then reads the clause: a denied, hypothetical
or someone else's symptom does not count, nor a past one unless the row says past counts (cancer;
weight loss, which is told over a span of time that ConText reads as the past).
The similarity threshold is calibrated on ordinary messages (the off-topic bank and the content's
example questions); see `calibrate`.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import types
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from symspellpy import SymSpell, Verbosity

from . import lexical
from .lexical import zipf

_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:()\u2013\u2014]|\s-\s|\bbut\b|\band\b|\bbecause\b|\bplus\b)\s*", re.IGNORECASE)
_IGNORED_CONTEXT = ("is_negated", "is_hypothetical", "is_family")
CONTEXT_FILES = ("context_rules.yaml", "context_triggers.yaml")  # ConText's rules (data/), in this order


# The fitted model's features, one row per red flag (Triage.features).
FEATURES = ("urgent", "margin", "over_threshold", "calm", "pattern", "term", "term_present", "negated",
            "hypothetical", "historical", "someone_else", "someone_else_now", "lookalike", "asks",
            "expression", "expression_present")
# medspaCy target labels: a red flag's word, one of its lay expressions, or a look-alike
SYMPTOM, EXPRESSION, LOOKALIKE = "SYMPTOM", "EXPRESSION", "LOOKALIKE"
_SAID_AS = (SYMPTOM, EXPRESSION)  # what reports a flag
_ASKS = re.compile(r"\?|^\W*(what|how|why|when|which|is|are|can|could|should|would|does|do|will)\b(?!['\u2019])",
                   re.IGNORECASE)  # "can't pee" tells; "can I" asks


def message_features(dimensions: int) -> tuple[str, ...]:
    """The model's input for one part of a message (a clause, read in its sentence): the clause's
    sentence vector, its sentence's, then each feature's highest value over the red flags (how near
    the nearest flag comes, whether any flag's words are denied...). A message is as alarming as its
    most alarming part: a preamble or a closing question never dilutes the clause that matters."""
    return (tuple(f"clause_{i}" for i in range(dimensions)) + tuple(f"sentence_{i}" for i in range(dimensions))
            + tuple(f"most_{f}" for f in FEATURES))


# The message read whole, once one of its parts reaches the caution tier: a logistic regression
# (triage.json's "whole") over how alarming its most alarming parts are and how many come near,
# whether a flag's precise pattern fits words reported now, whether any part tells a flag in its words
# (now, or by someone with the writer now), and, at the likeliest part for the flag it comes closest
# to, its closeness, whether it asks or is a look-alike and whether the flag's words are there now,
# decides the urgent reply. The network weighs each part alone, ConText's reading of it included;
# what ConText reads (a denial, a past, someone else's) is not read in again here, at the likeliest
# part or elsewhere: read in, it held out no better and weighed ConText's slips twice ("lost normal
# feeling in my groin" reads "normal" as a denial), and a preamble or a closing question in another
# part should not pull the part that matters down ("no fever, but I can't feel my legs").
# (A flag's word anywhere is not among them: every message that may get the urgent reply has one.)
_ANY = ("pattern", "term_present", "someone_else_now", "expression", "expression_present")
_ITS = ("lookalike", "asks", "term_present", "expression_present", "urgent", "margin")
WHOLE_FEATURES = (("likeliest", "next_likeliest", "parts_near", "parts", "reported")
                  + tuple(f"any_{f}" for f in _ANY) + tuple(f"its_{f}" for f in _ITS))


def part_inputs(rows: np.ndarray, clause_vectors: np.ndarray, sentence_vectors: np.ndarray) -> np.ndarray:
    """The model's inputs, one per part: rows is [parts, flags, FEATURES]."""
    return np.concatenate([clause_vectors, sentence_vectors, rows.max(axis=1)], axis=1)


def parts(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(clause, sentence) spans: each sentence whole and each of its clauses between commas, "and",
    "but"... (of two words or more), and the whole message when it has several sentences."""
    found, sentences = _sentence_parts(text)
    whole = (0, len(text))
    if sentences > 1:
        found.append((whole, whole))
    found = list(dict.fromkeys(pt for pt in found if _words(text, pt[0]) >= 2))
    return found or ([(whole, whole)] if text.strip() else [])


def says_something(text: str, span: tuple[int, int]) -> bool:
    """A part with a word besides stopwords: "what do I do" alone tells nothing about a symptom."""
    return any(w not in lexical.STOPWORDS for w in lexical.words(text[span[0]:span[1]]))


def telling_parts(text: str, found: list) -> list[bool]:
    """Which of a message's parts (`parts`) say something: not stopwords alone."""
    return [says_something(text, clause) for clause, _ in found]


def _sentence_parts(text: str) -> tuple[list[tuple[tuple[int, int], tuple[int, int]]], int]:
    """Each sentence as (itself, itself), then each of its clauses as (clause, sentence); and how
    many sentences there are."""
    from .chunking import message_sentence_spans

    found = []
    sentences = message_sentence_spans(text)
    for s, e in sentences:
        found.append(((s, e), (s, e)))
        start = s
        for m in _CLAUSE_BREAK.finditer(text, s, e):
            if m.start() > start:
                found.append(((start, m.start()), (s, e)))
            start = m.end()
        if start < e and start != s:
            found.append(((start, e), (s, e)))
    return found, len(sentences)


def _words(text: str, span: tuple[int, int]) -> int:
    return len(text[span[0]:span[1]].split())


def reported_in_its_words(rows: np.ndarray) -> bool:
    """A flag's precise pattern fits ("a fever and chills") and ConText reads its words as the
    writer's own, now: not denied, hypothetical or past. Likely enough (TriageSettings.pattern_urgent),
    that is urgent. rows: [parts, flags, FEATURES]."""
    col = FEATURES.index
    rows = rows.reshape(-1, len(FEATURES))
    fits = (rows[:, col("pattern")] > 0) & (rows[:, col("term_present")] > 0)
    unsure = rows[:, [col("negated"), col("hypothetical"), col("historical"), col("someone_else")]].max(axis=1) > 0
    return bool((fits & ~unsure).any())


def _log_odds(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def only_not_now(rows: np.ndarray) -> bool:
    """ConText reads the message's red-flag words as a hypothetical ("what if I lost control of my
    bladder one day?") and none as reported now, by the writer or someone with them: a caution at most."""
    col = FEATURES.index
    rows = rows.reshape(-1, len(FEATURES))
    return bool(rows[:, col("hypothetical")].max() > 0 and rows[:, col("term_present")].max() == 0
                and rows[:, col("someone_else_now")].max() == 0)


# What medspaCy reads (each between 0 and 1); `most_alarming` bounds them.
_CONTEXT_READ = ("pattern", "term", "term_present", "negated", "hypothetical", "historical", "someone_else",
                 "someone_else_now", "lookalike", "expression_present")


def most_alarming(model, inputs: np.ndarray) -> np.ndarray:
    """Per part, a bound on the probability with what ConText would read anywhere between 0 and 1:
    whether the caution tier is within reach without medspaCy."""
    return model.highest(inputs, [model.features.index(f"most_{name}") for name in _CONTEXT_READ])


@dataclass(frozen=True)
class Reading:
    """What triage makes of a message: the red flags it reports now (the urgent reply), or, when none,
    those it comes near (a caution beside the answer); and the model's probability of an emergency
    (0 when it was not needed)."""
    urgent: tuple[str, ...] = ()
    cautions: tuple[str, ...] = ()
    probability: float = 0.0


@dataclass(frozen=True)
class RedFlag:
    name: str
    advice: str
    counts_when_past: bool
    terms: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    urgent: tuple[str, ...]
    calm: tuple[str, ...]
    lookalikes: tuple[str, ...] = ()
    expressions: tuple[str, ...] = ()  # lay expressions of the symptom (red_flag_expressions.yaml)


@lru_cache(maxsize=1)
def red_flags() -> tuple[RedFlag, ...]:
    import yaml

    rows = yaml.safe_load((lexical.DATA / "red_flags.yaml").read_text(encoding="utf-8"))
    lay = {r["name"]: r for r in yaml.safe_load((lexical.DATA / "red_flag_expressions.yaml").read_text(encoding="utf-8"))}
    unknown = set(lay) - {r["name"] for r in rows}
    if unknown:
        raise ValueError(f"red_flag_expressions.yaml: names that are not red flags: {', '.join(sorted(unknown))}")
    flags = []
    for r in rows:
        said = lay.get(r["name"], {})
        expressions = _variants(said.get("expressions", ()))
        lookalikes = _variants(list(r.get("lookalikes", ())) + list(said.get("lookalikes", ())))
        flags.append(RedFlag(
            name=r["name"], advice=" ".join(r["advice"].split()), counts_when_past=bool(r.get("counts_when_past")),
            terms=tuple(t.lower() for t in r.get("terms", ())),
            patterns=tuple(re.compile(p) for p in r.get("patterns", ())),
            urgent=tuple(r.get("urgent", ())), calm=tuple(r.get("calm", ())),
            lookalikes=tuple(t for t in lookalikes if t not in expressions), expressions=expressions,
        ))
    return tuple(_lookalikes_that_say_another(flags))


def _lookalikes_that_say_another(flags: list[RedFlag]) -> list[RedFlag]:
    """A look-alike of one flag that holds another flag's expression is that expression too: "had an
    accident in my pants" is no injury, but it is a loss of bowel control. Matched longest-first, the
    look-alike would otherwise hide the expression inside it."""
    out = []
    for flag in flags:
        own = [f" {e} " for e in flag.expressions]
        also = [t for other in flags if other is not flag for t in other.lookalikes
                if t not in flag.expressions and any(e in f" {t} " for e in own)]
        out.append(replace(flag, expressions=flag.expressions + tuple(dict.fromkeys(also))) if also else flag)
    return out


_PRONOUNS = {"my": ("his", "her", "their"), "myself": ("himself", "herself", "themselves")}
_APOSTROPHES = {"cant": "can't", "dont": "don't", "wont": "won't", "didnt": "didn't", "doesnt": "doesn't",
                "isnt": "isn't", "havent": "haven't", "im": "i'm", "ive": "i've", "its": "it's", "hes": "he's",
                "shes": "she's", "couldnt": "couldn't", "wasnt": "wasn't", "arent": "aren't"}


def _variants(phrases) -> tuple[str, ...]:
    """Each phrase as written (lower case, single spaces), with and without its apostrophes ("cant",
    "can't"), and in the third person ("wet myself" → "wet herself", "my legs" → "his legs")."""
    out = []
    for phrase in phrases:
        base = " ".join(str(phrase).lower().replace("\u2019", "'").split())
        plain = base.replace("'", "")
        spelt = " ".join(_APOSTROPHES.get(w, w) for w in plain.split())
        for form in (base, plain, spelt):
            out.append(form)
            words = form.split()
            if any(w in _PRONOUNS for w in words):
                for k in range(3):
                    out.append(" ".join(_PRONOUNS[w][k] if w in _PRONOUNS else w for w in words))
    return tuple(dict.fromkeys(p for p in out if p))


GAP = 2  # words that may come between an expression's own ("can't really feel anything down there")
# ...but never a negation: "have a fever" is not in "I have not had a fever" or "I haven't had a fever"
# (spaCy reads "haven't" as "have" and "n't", "havent" as "have" and "nt"), which would take the
# denial into the expression, out of ConText's reach. Curly apostrophes are straightened before
# anything is read (Triage.mend).
NEGATIONS = ("not", "n't", "nt", "never", "no", "dont", "doesnt", "didnt", "havent", "hasnt", "hadnt",
             "cant", "couldnt", "wont", "wouldnt", "isnt", "arent", "wasnt", "werent", "aint")
_GAP = r"(?:\s+(?!(?:%s)(?![\w'-])|[\w-]*n't(?![\w'-]))[\w'-]+){0,%d}\s+" % ("|".join(NEGATIONS), GAP)


def _alternatives(phrases, gaps: bool) -> re.Pattern:
    """One pattern for the phrases on whole words, longest first; with `gaps`, up to GAP other words
    may come between two of a phrase's words."""
    def one(phrase):
        return (_GAP if gaps else r"\s+").join(re.escape(w) for w in phrase.split())
    return re.compile(r"(?<![\w'])(?:" + "|".join(one(p) for p in sorted(set(phrases), key=len, reverse=True))
                      + r")(?![\w'])") if phrases else re.compile(r"(?!x)x")


@lru_cache(maxsize=1)
def _spelling_patterns() -> tuple[re.Pattern, tuple[re.Pattern, ...]]:
    """The look-alikes that are no flag's expression, and per flag its expressions (with gaps)."""
    flags = red_flags()
    expressions = {e for f in flags for e in f.expressions}
    return (_alternatives([p for f in flags for p in f.lookalikes if p not in expressions], gaps=False),
            tuple(_alternatives(f.expressions, gaps=True) for f in flags))


def expressed(text: str) -> list[bool]:
    """Per red flag, whether one of its lay expressions is in a lower-cased text, by spelling alone (no
    medspaCy), outside any look-alike: "hay fever" is not "fever"."""
    text = text.replace("\u2019", "'")
    lookalikes, flags = _spelling_patterns()
    taken = [m.span() for m in lookalikes.finditer(text)]
    return [any(not any(a <= m.start() and m.end() <= b for a, b in taken) for m in pattern.finditer(text))
            for pattern in flags]


@lru_cache(maxsize=1)
def flag_words() -> tuple[str, ...]:
    """Every word of the red-flag terms: the speller mends typos towards them ("controll", "bowles")."""
    return tuple(sorted({w for flag in red_flags() for t in flag.terms for w in t.split() if w.isalpha()}))


@lru_cache(maxsize=1)
def _flag_speller():
    speller = SymSpell(max_dictionary_edit_distance=1, prefix_length=7)
    for word in flag_words():
        speller.create_dictionary_entry(word, 1)
    return speller


def clauses(text: str) -> list[tuple[int, int]]:
    """Spans of the message's sentences and of their parts between commas, "and", "but"...: a
    red flag is often one short clause inside a long message."""
    return list(dict.fromkeys(clause for clause, _ in _sentence_parts(text)[0] if _words(text, clause) >= 2))


class Triage:
    """Reads messages for red flags; built once per bot (it needs the bot's embedder)."""

    def __init__(self, encode_many, calibration: dict, settings):
        """settings: TriageSettings; calibration: what the build recorded for each flag."""
        self._encode_many = encode_many
        self._model_name = settings.red_flag_model
        self._pattern_urgent = settings.pattern_urgent
        self._urgent_needs_words = settings.urgent_needs_words
        self._slip_zipf = settings.slip_zipf
        self.flags = red_flags()
        self._counts_when_past = np.array([f.counts_when_past for f in self.flags])
        rows = (calibration or {}).get("flags", {})
        self.thresholds = np.array([float(rows.get(f.name, {}).get("threshold", settings.threshold_max))
                                    for f in self.flags])
        self._flag_vectors = encode_many(phrasings())
        self._nlp = None
        self._nlp_lock = threading.Lock()

    # ---- meaning ------------------------------------------------------------------------------
    def candidates(self, text: str, also: tuple[str, ...] = ()) -> list[tuple[int, tuple[int, int]]]:
        """(flag index, clause span) pairs whose meaning or pattern reports a red flag. `also`: the
        caller's own texts, encoded in the same model pass (and cached there) but not read here."""
        lowered = text.lower()
        spans = clauses(text)
        found = []
        if spans:
            vectors = self._encode_many([text[s:e] for s, e in spans] + [t for t in also if t])
            urgent, calm = closeness(self._flag_vectors, vectors[: len(spans)])
            for k, span in enumerate(spans):
                for i in range(len(self.flags)):
                    if urgent[k, i] >= self.thresholds[i] and urgent[k, i] > calm[k, i]:
                        found.append((i, span))
        for i, flag in enumerate(self.flags):
            for pattern in flag.patterns:
                for m in pattern.finditer(lowered):
                    found.append((i, _enclosing(spans, m.start(), m.end()) or (m.start(), m.end())))
        return found

    # ---- context ------------------------------------------------------------------------------
    def warm_up(self) -> None:
        self._pipeline()
        _spelling_patterns()

    def _pipeline(self):
        with self._nlp_lock:
            if self._nlp is None:
                self._nlp = _context_pipeline(self.flags)
            return self._nlp

    @classmethod
    def counts(cls, doc, flag: RedFlag, span: tuple[int, int]) -> bool:
        """Whether the flag's words in this clause (of the message read by medspaCy) are reported
        now, by the writer, as present."""
        # Symptom words of any row (one word, "numbness", serves several) in the clause.
        inside = _overlapping(doc, span)
        ents = [e for e in inside if e.label_ in _SAID_AS]
        if not ents:  # the clause's meaning matched without a symptom word: nothing says it is not so,
            return not inside  # unless it is a look-alike ("hay fever")
        return any(cls._present(e, flag) for e in ents)

    @staticmethod
    def _present(ent, flag: RedFlag) -> bool:
        if any(getattr(ent._, attr) for attr in _IGNORED_CONTEXT):
            return False
        return flag.counts_when_past or not ent._.is_historical

    def mend(self, text: str) -> str:
        """Slips one letter away from a red-flag word become that word ("bowles" → "bowels"), even
        where the slip is itself a rare English word: missing a red flag costs more than a misreading;
        curly apostrophes become straight ones."""
        speller, words = _flag_speller(), set(flag_words())

        def fix(m: re.Match) -> str:
            word = m.group(0).lower()
            if len(word) < 5 or word in words or word in lexical.STOPWORDS or zipf(word) >= self._slip_zipf:
                return m.group(0)  # "never" is a word, not a slip for "fever"
            found = speller.lookup(word, Verbosity.TOP, max_edit_distance=1)
            return found[0].term if found else m.group(0)

        # A curly apostrophe (phones type "haven\u2019t") reads as a straight one: ConText's phrases
        # and the expressions are written with "'".
        return re.sub(r"[A-Za-z]+", fix, text.replace("\u2019", "'"))

    def read(self, text: str, also: tuple[str, ...] = ()) -> Reading:
        """The red flags a message reports (urgent) or comes near (cautions), by the fitted model
        (data/models/triage.json) where one is shipped, else by meaning, patterns and context alone
        (urgent only). `also`: see `candidates`."""
        model = self.model()
        if model is None:
            return Reading(tuple(self.detect(text, also)), ())
        # Parts of stopwords alone ("what do I do", a cut "How can I") are not scored: they tell
        # nothing, and the network was never asked to tell such words apart.
        rows, inputs = self.features(text, also, context=False, telling=True)
        # medspaCy reads the context only when it could matter: when a part of the message could reach
        # the caution tier if its context were as alarming as it can be.
        if not len(inputs) or most_alarming(model, inputs).max() < model.caution:
            return Reading()
        rows, inputs = self.features(text, also, telling=True)
        each = model.probability(inputs)
        best = int(np.argmax(each))
        p = float(each[best])
        if p < model.caution:
            return Reading(probability=p)
        named = self.named(rows, best)
        whole = self.whole_model()
        if whole is not None:
            alarming = float(whole.probability(self.whole(rows, each, model.caution)[None])[0]) >= whole.threshold
        else:
            alarming = p >= model.threshold or (p >= self._pattern_urgent and reported_in_its_words(rows))
        urgent = alarming and not only_not_now(rows)
        if urgent and self._urgent_needs_words:
            # The urgent reply names what the message speaks of; a message that speaks of no red flag
            # in its words gets the caution instead ("can't turn my head, it's stuck" is no night pain).
            spoken = self.spoken_of(rows)
            urgent, named = bool(spoken), (tuple(n for n in named if n in spoken) or spoken or named)
        if urgent:
            return Reading(named, (), p)
        if p < model.caution_not_now and self.speaks_of_none_now(rows):
            # Red-flag words only denied, supposed or past ("no numbness, bladder fine", "fell off a
            # horse years ago, fine since"): a note needs a likelier emergency than the caution tier.
            return Reading(probability=p)
        return Reading((), named, p)

    def whole(self, rows: np.ndarray, each: np.ndarray, caution: float) -> np.ndarray:
        """The message read whole (WHOLE_FEATURES), from its parts' rows [parts, flags, FEATURES] and
        the network's probability for each part: the likeliest part and the next (as log-odds), how
        many parts reach the caution tier and the log of how many there are; whether a flag's precise
        pattern fits words reported now; each of some features' highest over the parts and flags;
        and at the likeliest part, the row of the flag it comes closest to (a look-alike, whether the
        part asks, the flag's words there now, its closeness). Whether a message may get the urgent reply at all
        (`only_not_now`, `spoken_of`) is decided beside it, not in it."""
        col = FEATURES.index
        if not len(each):
            return np.zeros(len(WHOLE_FEATURES))
        order = np.sort(each)[::-1]
        part = rows[int(np.argmax(each))]
        best = part[int(np.argmax(part[:, col("urgent")]))]
        anywhere = rows.max(axis=(0, 1))
        return np.array([_log_odds(order[0]), _log_odds(order[1]) if len(order) > 1 else _log_odds(0.0),
                         float((each >= caution).sum()), float(np.log(len(each))), float(reported_in_its_words(rows))]
                        + [anywhere[col(f)] for f in _ANY] + [best[col(f)] for f in _ITS])

    def telling(self, text: str) -> np.ndarray:
        """Which of the message's parts `features` keeps with telling (those that say something)."""
        text = self.mend(text)
        return np.array(telling_parts(text, parts(text)), dtype=bool)

    def whole_model(self):
        """The message read whole (triage.json's "whole"), or None: the network's threshold decides."""
        from .ranking import MODELS, second_stage

        return second_stage(str(MODELS / self._model_name), "whole", WHOLE_FEATURES) if self._model_name else None

    def speaks_of_none_now(self, rows: np.ndarray) -> bool:
        """medspaCy finds red flags' words or lay expressions in the message, and ConText reads none
        as reported now, by the writer or anyone (`spoken_of`): each is denied, supposed, or past (a
        cancer, anyone's, or a weight loss counts when past)."""
        return bool((rows[:, :, FEATURES.index("term")] > 0).any()) and not self.spoken_of(rows)

    def spoken_of(self, rows: np.ndarray) -> tuple[str, ...]:
        """The red flags a message speaks of in their words, in any part, as ConText reads them (not
        denied or hypothetical): a flag's word reported now by the writer or someone with them (or
        in the past, for a flag the past counts for: "had a melanoma"), or one of its lay
        expressions reported now; in table order."""
        col = FEATURES.index
        unsure = (rows[:, :, col("negated")] > 0) | (rows[:, :, col("hypothetical")] > 0)
        said = ((rows[:, :, col("term_present")] > 0) | (rows[:, :, col("someone_else_now")] > 0)
                | ((rows[:, :, col("term")] > 0) & self._counts_when_past & ~unsure)
                | (rows[:, :, col("expression_present")] > 0))
        return tuple(f.name for i, f in enumerate(self.flags) if said[:, i].any())

    def model(self):
        from .ranking import MODELS, model

        if not self._model_name:
            return None
        return model(str(MODELS / self._model_name), message_features(len(self._flag_vectors[0])))

    def named(self, rows: np.ndarray, part: int) -> tuple[str, ...]:
        """The red flags a message is read as: the one its most alarming part comes closest to; any
        other it reports now in the flag's own words ("on chemo") with a part past the flag's
        threshold; and any other whose precise pattern fits; in table order."""
        col = FEATURES.index
        closest = int(np.argmax(rows[part, :, col("urgent")]))
        reported = (rows[:, :, col("term_present")].max(axis=0) > 0) & (rows[:, :, col("over_threshold")].max(axis=0) > 0)
        fits = rows[:, :, col("pattern")].max(axis=0) > 0
        return tuple(f.name for i, f in enumerate(self.flags) if i == closest or fits[i] or reported[i])

    def features(self, text: str, also: tuple[str, ...] = (), context: bool = True,
                 telling: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per part of the message (`parts`: a clause in its sentence), one row per red flag: how close
        the clause comes to the flag's urgent phrasings and past its calm ones and the build's
        threshold; whether a precise pattern fits in its sentence and the flag's words are there, and
        reported now; what ConText makes of the flag's words in the clause (denied, hypothetical,
        past, someone else's), whether someone else has them now anywhere in the message, a look-alike
        ("hay fever") and whether the clause asks rather than tells. Returns the rows [parts, flags,
        FEATURES] and the model's inputs (`part_inputs`). Without `context`, medspaCy is not run: what
        it reads is left at zero, and a flag's words are found by their spelling alone. With `telling`,
        only the parts that say something (`says_something`); the model is fitted on them all."""
        text = self.mend(text)
        lowered = text.lower()
        found = parts(text)
        if telling:
            found = [pt for pt, keep in zip(found, telling_parts(text, found)) if keep]
        n, dims = len(self.flags), len(self._flag_vectors[0])
        if not found:
            if any(also):  # the caller's texts still take their one pass
                self._encode_many([t for t in also if t])
            return np.zeros((0, n, len(FEATURES))), np.zeros((0, 2 * dims + len(FEATURES)))
        spans = list(dict.fromkeys(sp for pt in found for sp in pt))
        at = {sp: k for k, sp in enumerate(spans)}
        vectors = self._encode_many([text[a:b] for a, b in spans] + [t for t in also if t])[: len(spans)]
        urgent, calm = closeness(self._flag_vectors, vectors)
        doc = self._pipeline()(text) if context else None
        symptoms = [e for e in doc.ents if e.label_ in _SAID_AS] if doc is not None else []
        looks = [e for e in doc.ents if e.label_ == LOOKALIKE] if doc is not None else []
        # A flag's expression is another's look-alike ("night sweats": a fever, not night pain).
        alike = looks + [e for e in symptoms if e.label_ == EXPRESSION]
        # What a part is, whatever the flag: the words of its sentence (the flags' words found by
        # spelling, without medspaCy), the look-alikes in its clause, whether its clause asks.
        said = [lowered[s:e] for _, (s, e) in found]
        words = [set(lexical.words(t)) for t in said] if doc is None else []
        looked = [{_said(e) for e in alike if _inside(e, clause)} for clause, _ in found]
        by_sentence = {t: expressed(t) for t in dict.fromkeys(said)}  # parts share their sentences
        spelt = [by_sentence[t] for t in said]
        asks = [float(bool(_ASKS.search(text[a:b]))) for (a, b), _ in found]
        rows = np.zeros((len(found), n, len(FEATURES)))
        for i, flag in enumerate(self.flags):
            mine = [e for e in symptoms if _said(e) in flag.terms or _said(e) in flag.expressions]
            lookalikes = set(flag.lookalikes)
            other_now = float(any(e._.is_family and not e._.is_historical and not e._.is_negated
                                  and not e._.is_hypothetical for e in mine))
            for j, (clause, sentence) in enumerate(found):
                k = at[clause]
                own = [e for e in mine if _inside(e, clause)]
                there = [e for e in mine if _inside(e, sentence)]
                term = bool(there) if doc is not None else any(
                    t in words[j] or (" " in t and t in said[j]) for t in flag.terms)
                present = any(_now(e) for e in there)
                expression = spelt[j][i]
                expression_present = any(_anyone_now(e) for e in there if e.label_ == EXPRESSION)

                def share(attr):
                    return sum(bool(getattr(e._, attr)) for e in own) / len(own) if own else 0.0
                rows[j, i] = (
                    urgent[k, i], urgent[k, i] - calm[k, i], urgent[k, i] - self.thresholds[i], calm[k, i],
                    float(_fits(flag, lowered, looks, sentence)), float(term), float(present),
                    share("is_negated"), share("is_hypothetical"), share("is_historical"), share("is_family"),
                    other_now, float(bool(looked[j] & lookalikes)), asks[j],
                    float(expression), float(expression_present),
                )
        clause_vectors = vectors[[at[c] for c, _ in found]]
        sentence_vectors = vectors[[at[s] for _, s in found]]
        return rows, part_inputs(rows, clause_vectors, sentence_vectors)

    def detect(self, text: str, also: tuple[str, ...] = ()) -> list[str]:
        """Names of the red flags the message reports, in table order (`also`: see `candidates`):
        the rule without a fitted model."""
        text = self.mend(text)
        matched, doc = set(), None
        for i, span in self.candidates(text, also):
            if i in matched:
                continue
            doc = doc if doc is not None else self._pipeline()(text)  # read once, for all candidates
            if self.counts(doc, self.flags[i], span):
                matched.add(i)
        return [self.flags[i].name for i in sorted(matched)]

    def advice(self, names: list[str]) -> list[tuple[str, str]]:
        by_name = {f.name: f.advice for f in self.flags}
        return [(n, by_name[n]) for n in names if n in by_name]


def _now(ent) -> bool:
    """Reported as the writer's own, now: not denied, hypothetical, someone else's or past."""
    return not any(getattr(ent._, x) for x in _IGNORED_CONTEXT + ("is_historical",))


def _anyone_now(ent) -> bool:
    """Reported now, by the writer or by someone else ("my mum can't feel her legs"): not denied,
    hypothetical or past."""
    return not any(getattr(ent._, x) for x in ("is_negated", "is_hypothetical", "is_historical"))


def _overlapping(doc, span: tuple[int, int]) -> list:
    """The matched expressions (medspaCy's entities) that overlap a clause."""
    return [e for e in doc.ents if _inside(e, span)]


def _inside(ent, span: tuple[int, int]) -> bool:
    return ent.start_char < span[1] and ent.end_char > span[0]


def _said(ent) -> str:
    """A matched expression as the table writes it: lower case, single spaces ("pins and\nneedles"),
    the words between left out ("can't really feel anything down there" is "can't feel down there")."""
    return ent._.literal or " ".join(ent.text.lower().split())


def _fits(flag: RedFlag, lowered: str, looks: list, span: tuple[int, int]) -> bool:
    """One of the flag's precise patterns fits within the span, outside any look-alike (`looks`, the
    message's: "hay fever" is not "fever")."""
    return any(not any(e.start_char <= m.start() and m.end() <= e.end_char for e in looks)
               for p in flag.patterns for m in p.finditer(lowered, span[0], span[1]))


def _enclosing(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    inside = [sp for sp in spans if sp[0] <= start and end <= sp[1]]
    return min(inside, key=lambda sp: sp[1] - sp[0]) if inside else None


def _context_pipeline(flags: tuple[RedFlag, ...]):
    """medspaCy with our target words and our ConText rules only; its debug logging silenced."""
    import yaml

    for name in ("PyRuSH", "medspacy", "PyRuSH.PyRuSHSentencizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:  # PyRuSH logs through loguru
        from loguru import logger

        logger.disable("PyRuSH")
    except ImportError:  # pragma: no cover
        pass
    # spaCy's thinc imports torch only to see whether it is there; a process answering with ONNX
    # Runtime has no other use for it, so it is kept out while spaCy loads (thinc then runs without).
    # medspaCy imports QuickUMLS only to register its UMLS concept pipe, which this pipeline does not
    # use; QuickUMLS imports all of NLTK (and scipy's statistics with it): 140 MB and a second. A
    # placeholder stands in for it while medspaCy loads.
    placeholders = {"torch": None, "quickumls": types.SimpleNamespace(spacy_component=None)}
    kept_out = [name for name in placeholders if name not in sys.modules]
    for name in kept_out:
        sys.modules[name] = placeholders[name]
    try:
        import medspacy
        from medspacy.context import ConTextRule
        from medspacy.ner import TargetRule
    finally:
        for name in kept_out:
            del sys.modules[name]

    nlp = medspacy.load(medspacy_enable=["medspacy_target_matcher"])
    nlp.add_pipe("sentencizer", first=True)
    # Each word once (one word, "numb", serves several flags); look-alikes too, so that the longest
    # match wins: "hay fever" is a look-alike, not "fever".
    expressions = dict.fromkeys(e for flag in flags for e in flag.expressions)
    symptoms = dict.fromkeys(term for flag in flags for term in flag.terms if term not in expressions)
    lookalikes = dict.fromkeys(term for flag in flags for term in flag.lookalikes
                               if term not in expressions and term not in symptoms)
    nlp.get_pipe("medspacy_target_matcher").add(
        [TargetRule(term, SYMPTOM) for term in symptoms]
        + [TargetRule(e, EXPRESSION, pattern=_gapped(nlp, e)) for e in expressions]
        + [TargetRule(term, LOOKALIKE) for term in lookalikes])
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    rules, seen = [], set()
    for name in CONTEXT_FILES:  # a phrase of the first file wins
        for row in yaml.safe_load((lexical.DATA / name).read_text(encoding="utf-8")):
            literal = row.get("phrase") or row["category"].lower()
            if row.get("phrase") and literal in seen:
                continue
            seen.add(literal)
            rules.append(ConTextRule(literal, row["category"], direction=row["direction"], pattern=row.get("pattern")))
    context.add(rules)
    from spacy.language import Language

    if not Language.has_factory("denial_reaching_in"):
        Language.component("denial_reaching_in", func=_denial_reaching_in)
    nlp.add_pipe("denial_reaching_in", after="medspacy_context")
    return nlp


def _denial_reaching_in(doc):
    """A denial whose words run into a red flag's expression ("haven't lost" in "I haven't lost control
    of my bladder", "not lost" in "I have not lost control of my bowels") denies it: ConText passes
    over a trigger that overlaps its target. Only a trigger that starts before the expression with a
    negation of its own ("n't", "not", "never", "no"): "normal feeling in" in "I've lost normal feeling
    in my groin" says nothing is wrong, but it reaches into a symptom that is."""
    for modifier in doc._.context_graph.modifiers:
        if modifier.category != "NEGATED_EXISTENCE":
            continue
        start, end = modifier.modifier_span
        for ent in doc.ents:
            if start < ent.start < end and any(t.lower_ in NEGATIONS for t in doc[start:ent.start]):
                ent._.is_negated = True
    return doc


def _gapped(nlp, phrase: str) -> list[dict] | None:
    """A token pattern for a phrase of several words that lets up to GAP other words (not punctuation,
    nor a negation) come between two of them; None (matched as written) for one word."""
    tokens = list(nlp.tokenizer(phrase))
    if len(phrase.split()) < 2:
        return None
    pattern = []
    for k, token in enumerate(tokens):
        pattern.append({"LOWER": token.lower_})
        if token.whitespace_ and k < len(tokens) - 1:
            pattern += [{"IS_PUNCT": False, "LOWER": {"NOT_IN": list(NEGATIONS)}, "OP": "?"}] * GAP
    return pattern


def phrasings() -> list[str]:
    """Every urgent and calm phrasing, in table order (urgent then calm per row)."""
    return [p for f in red_flags() for p in f.urgent + f.calm]


def ordinary_clauses(messages: list[str]) -> list[str]:
    return list(dict.fromkeys(q[s:e] for q in messages for s, e in clauses(q)))


def closeness(flag_vectors: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text and flag: the closest urgent phrasing's cosine and the closest calm one's."""
    urgent_parts, calm_parts, i = [], [], 0
    for f in red_flags():
        u, c = flag_vectors[i:i + len(f.urgent)], flag_vectors[i + len(f.urgent):i + len(f.urgent) + len(f.calm)]
        i += len(f.urgent) + len(f.calm)
        urgent_parts.append((vectors @ u.T).max(axis=1))
        calm_parts.append((vectors @ c.T).max(axis=1) if len(c) else np.full(len(vectors), -1.0))
    return np.stack(urgent_parts, axis=1), np.stack(calm_parts, axis=1)


def calibrate(flag_vectors: np.ndarray, ordinary_vectors: np.ndarray, ordinary_messages: int, settings) -> dict:
    """Per red flag, the threshold just above the closest any clause of an ordinary message (the
    off-topic bank and the content's examples) comes to its urgent phrasings, within the settings'
    bounds: "a toothache at night" sits near night pain, nowhere near a fall."""
    flags = red_flags()
    if len(ordinary_vectors):
        urgent, calm = closeness(flag_vectors, ordinary_vectors)
        firing = np.where(urgent > calm, urgent, 0.0)  # a clause nearer a calm phrasing never fires
        best = firing.max(axis=0)
    else:
        best = np.zeros(len(flags))
    rows = {}
    for flag, top in zip(flags, best.tolist()):
        threshold = min(max(top + settings.margin, settings.threshold_min), settings.threshold_max)
        rows[flag.name] = {"threshold": round(threshold, 4), "ordinary_max": round(top, 4),
                           "margin": round(threshold - top, 4)}
    return {"ordinary_messages": ordinary_messages, "flags": rows}
