"""Red-flag triage by meaning and context: which red flags a message reports, now, of the writer.

A red flag (one row of data/red_flags.yaml) matches a clause of the message that is close in
meaning to one of its urgent phrasings, and closer to them than to its calm look-alikes, or that
fits one of its precise patterns. medspaCy's ConText then reads the clause: a denied, hypothetical
or someone else's symptom does not count, nor a past one unless the row says past counts (cancer).
The similarity threshold is calibrated on ordinary messages (the off-topic bank and the content's
example questions); see `calibrate`.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import types
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from symspellpy import SymSpell, Verbosity

from . import lexical
from .lexical import zipf

_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:()\u2013\u2014]|\s-\s|\bbut\b|\band\b|\bbecause\b|\bplus\b)\s*", re.IGNORECASE)
_IGNORED_CONTEXT = ("is_negated", "is_hypothetical", "is_family")


@dataclass(frozen=True)
class RedFlag:
    name: str
    advice: str
    counts_when_past: bool
    terms: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    urgent: tuple[str, ...]
    calm: tuple[str, ...]


@lru_cache(maxsize=1)
def red_flags() -> tuple[RedFlag, ...]:
    import yaml

    rows = yaml.safe_load((lexical.DATA / "red_flags.yaml").read_text(encoding="utf-8"))
    return tuple(RedFlag(
        name=r["name"], advice=" ".join(r["advice"].split()), counts_when_past=bool(r.get("counts_when_past")),
        terms=tuple(t.lower() for t in r.get("terms", ())),
        patterns=tuple(re.compile(p) for p in r.get("patterns", ())),
        urgent=tuple(r.get("urgent", ())), calm=tuple(r.get("calm", ())),
    ) for r in rows)


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
    from .chunking import message_sentence_spans

    spans = []
    for s, e in message_sentence_spans(text):
        spans.append((s, e))
        start = s
        for m in _CLAUSE_BREAK.finditer(text, s, e):
            if m.start() > start:
                spans.append((start, m.start()))
            start = m.end()
        if start < e and (start, e) != (s, e):
            spans.append((start, e))
    return list(dict.fromkeys(sp for sp in spans if len(text[sp[0]:sp[1]].split()) >= 2))


class Triage:
    """Reads messages for red flags; built once per bot (it needs the bot's embedder)."""

    def __init__(self, encode_many, calibration: dict, settings):
        """settings: TriageSettings; calibration: what the build recorded for each flag."""
        self._encode_many = encode_many
        self._slip_zipf = settings.slip_zipf
        self.flags = red_flags()
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
        ents = [e for e in doc.ents if e.start_char < span[1] and e.end_char > span[0]]
        if not ents:
            return True  # the clause's meaning matched without a symptom word: nothing says it is not so
        return any(cls._present(e, flag) for e in ents)

    @staticmethod
    def _present(ent, flag: RedFlag) -> bool:
        if any(getattr(ent._, attr) for attr in _IGNORED_CONTEXT):
            return False
        return flag.counts_when_past or not ent._.is_historical

    def mend(self, text: str) -> str:
        """Slips one letter away from a red-flag word become that word ("bowles" → "bowels"), even
        where the slip is itself a rare English word: missing a red flag costs more than a misreading."""
        speller, words = _flag_speller(), set(flag_words())

        def fix(m: re.Match) -> str:
            word = m.group(0).lower()
            if len(word) < 5 or word in words or word in lexical.STOPWORDS or zipf(word) >= self._slip_zipf:
                return m.group(0)  # "never" is a word, not a slip for "fever"
            found = speller.lookup(word, Verbosity.TOP, max_edit_distance=1)
            return found[0].term if found else m.group(0)

        return re.sub(r"[A-Za-z]+", fix, text)

    def detect(self, text: str, also: tuple[str, ...] = ()) -> list[str]:
        """Names of the red flags the message reports, in table order (`also`: see `candidates`)."""
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
    nlp.get_pipe("medspacy_target_matcher").add(
        [TargetRule(term, flag.name) for flag in flags for term in flag.terms])
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    rules = []
    for row in yaml.safe_load((lexical.DATA / "context_rules.yaml").read_text(encoding="utf-8")):
        literal = row.get("phrase") or row["category"].lower()
        rules.append(ConTextRule(literal, row["category"], direction=row["direction"], pattern=row.get("pattern")))
    context.add(rules)
    return nlp


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
