"""A small learned model over a question's candidate passages: the re-ranker (which passage answers)
and the answerability check (whether any does) read their features here and score them with weights
fitted by `make fit` (eval/fit.py) on the project's own libraries (see bot/data/models/README.md).

Serving needs only NumPy: a model is a list of feature names, their means and scales, and one
weight each (logistic regression), or a small hidden layer's weights (the red-flag model), kept as
JSON in bot/data/models/.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import lexical, matching

MODELS = Path(__file__).resolve().parent / "data" / "models"
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|"
                     r"once|twice|daily|weekly|hourly|minutes?|hours?|days?|weeks?|months?|years?|times?)\b", re.I)
_AMOUNT = re.compile(r"\b(how (long|often|many|much|soon|quickly|far)|when|what age|at what|duration|dose|dosage)\b", re.I)


@dataclass(frozen=True)
class LinearModel:
    """Logistic regression over named features, standardised with the training set's means and scales."""
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float = 0.5
    caution: float = 0.5  # a second, lower threshold where a model has two tiers (red flags)
    # The caution tier for a message whose red-flag words are all denied, past or supposed (red
    # flags); 0 where the model has none: no second tier.
    caution_not_now: float = 0.0

    @classmethod
    def load(cls, path: Path) -> "LinearModel":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict) -> "LinearModel":
        found = cls(tuple(data["features"]), np.array(data["mean"], dtype=np.float64),
                    np.array(data["scale"], dtype=np.float64), np.array(data["weights"], dtype=np.float64),
                    float(data["bias"]), float(data.get("threshold", 0.5)), *_cautions(data))
        n = len(found.features)
        if not (found.mean.shape == found.scale.shape == found.weights.shape == (n,)):
            raise ValueError("its means, scales and weights do not fit its features")
        if not (np.isfinite(found.mean).all() and np.isfinite(found.weights).all() and (found.scale > 0).all()
                and np.isfinite(found.scale).all() and np.isfinite(found.bias)):
            raise ValueError("its numbers are not all finite, or a scale is not positive")
        return found

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """A feature with nothing to read (NaN: no word piece to match) weighs as the training mean, not at all."""
        rows = np.where(np.isnan(rows), self.mean, rows)
        return ((rows - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, rows: np.ndarray) -> np.ndarray:
        return _logistic(self.logits(rows))

    def highest(self, rows: np.ndarray, free: list[int]) -> np.ndarray:
        """Per row, the highest probability with the `free` columns anywhere between 0 and 1."""
        out = rows.copy()
        out[..., free] = (self.weights[free] > 0).astype(np.float64)
        return self.probability(out)


@dataclass(frozen=True)
class NeuralModel:
    """A small neural network over named features, standardised with the training set's means and
    scales: one hidden layer of rectified units, then a logistic output."""
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    hidden: np.ndarray  # [features, units]
    hidden_bias: np.ndarray  # [units]
    weights: np.ndarray  # [units]
    bias: float
    threshold: float = 0.5
    caution: float = 0.5
    caution_not_now: float = 0.0  # as LinearModel's

    @classmethod
    def from_dict(cls, data: dict) -> "NeuralModel":
        def array(key):
            return np.array(data[key], dtype=np.float64)
        found = cls(tuple(data["features"]), array("mean"), array("scale"), array("hidden"), array("hidden_bias"),
                    array("weights"), float(data["bias"]), float(data.get("threshold", 0.5)), *_cautions(data))
        units = len(found.weights)
        if found.hidden.shape != (len(found.features), units) or found.hidden_bias.shape != (units,):
            raise ValueError("the hidden layer's shape does not fit its features")
        return found

    def logits(self, rows: np.ndarray) -> np.ndarray:
        rows = np.where(np.isnan(rows), self.mean, rows)  # nothing to read: the training mean, as the linear model
        return np.maximum(((rows - self.mean) / self.scale) @ self.hidden + self.hidden_bias, 0.0) @ self.weights + self.bias

    def probability(self, rows: np.ndarray) -> np.ndarray:
        return _logistic(self.logits(rows))

    def highest(self, rows: np.ndarray, free: list[int]) -> np.ndarray:
        """Per row, a bound on the probability with the `free` columns anywhere between 0 and 1: each
        hidden unit's lowest and highest input over that box, then each output weight's worst case."""
        standard = (rows - self.mean) / self.scale
        standard[..., free] = 0.0
        base = standard @ self.hidden + self.hidden_bias  # without the free columns
        at_zero = ((0.0 - self.mean[free]) / self.scale[free])[:, None] * self.hidden[free]
        at_one = ((1.0 - self.mean[free]) / self.scale[free])[:, None] * self.hidden[free]
        low = base + np.minimum(at_zero, at_one).sum(axis=0)
        high = base + np.maximum(at_zero, at_one).sum(axis=0)
        units = np.where(self.weights > 0, np.maximum(high, 0.0), np.maximum(low, 0.0))
        return _logistic(units @ self.weights + self.bias)


def _cautions(data: dict) -> tuple[float, float]:
    """A two-tier model's caution thresholds: for any message, and for one whose red-flag words are
    all denied, past or supposed (the first where a model has no second)."""
    caution = float(data.get("caution", data.get("threshold", 0.5)))
    return caution, float(data.get("caution_not_now", caution))


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def load_model(path: Path) -> LinearModel | NeuralModel:
    """A model file: a neural network where it has a hidden layer, else a logistic regression."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return (NeuralModel if "hidden" in data else LinearModel).from_dict(data)


@lru_cache(maxsize=16)
def model(path: str, features: tuple[str, ...]) -> LinearModel | NeuralModel | None:
    """A shipped model by file path, for these features; None (said once in the log) when it is not
    there, unreadable, or fitted on other features: the step then decides without it."""
    return _checked(path, features, load_model)


@lru_cache(maxsize=16)
def second_stage(path: str, key: str, features: tuple[str, ...]) -> LinearModel | None:
    """A logistic regression kept inside another model's file under `key` (a two-stage model: the red
    flags' network reads parts, this reads the message whole); None when the file has none (an older
    fit: the first stage then decides alone), and None said once in the log when it is unreadable or
    fitted on other features."""
    def load(p: Path) -> LinearModel | None:
        data = json.loads(p.read_text(encoding="utf-8")).get(key)
        if data is None:
            return None
        if "threshold" not in data:
            raise ValueError(f"its {key!r} has no threshold")
        return LinearModel.from_dict(data)
    return _checked(path, features, load)


def _checked(path: str, features: tuple[str, ...], load):
    from .embedding import say_once

    p = Path(path)
    if not p.is_file():
        return None
    try:
        found = load(p)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        say_once(f"the model {p.name} is unreadable ({e}): run `make fit`")
        return None
    if found is not None and found.features != features:
        say_once(f"the model {p.name} was fitted on other features: run `make fit`")
        return None
    return found


# ---- the re-ranker's features ----------------------------------------------------------------------

PASSAGE_FEATURES = ("dense", "dense_gap", "second", "lexical", "fused_gap", "coverage", "heading", "dense_rank",
                    "lexical_rank", "amount_match", "length", "fused_rank", "earlier_document",
                    "earlier_document_followup", "earlier_passage", "passage", "earlier_document_elsewhere",
                    *(f"says_{name}" for name in matching.EACH))


@dataclass(frozen=True)
class Earlier:
    """What the chat's latest answer cited: the document of its first citation read back, every
    passage it quoted, and whether the message leans on the chat. A conversation mostly stays where it was."""
    document: str = ""
    passages: frozenset[str] = frozenset()
    followup: bool = False


def passage_features(question_terms: set[str], asks_amount: bool, hits: list,
                     earlier: Earlier = Earlier(), says: np.ndarray | None = None) -> np.ndarray:
    """One row per candidate passage (given in fused order), relative to the others where that carries
    across libraries: its closest sentence (and the gap to the best candidate's), its second-closest,
    BM25 against the best, how much of the question its words and its headings cover, its ranks, and
    whether it has a number or a time word when the question asks how long, how often or how many,
    whether the chat's latest answer cited its document (or the passage itself), how close the
    passage read whole (under its headings) comes to the question, and how much of what is asked it
    says word piece by word piece (`says`: `matching.each`, NaN where there is nothing to match,
    which the ranker weighs as its training mean, that is not at all)."""
    if not hits:
        return np.zeros((0, len(PASSAGE_FEATURES)))
    if says is None:
        says = np.full((len(hits), len(matching.EACH)), np.nan)
    dense = np.array([h.dense for h in hits])
    lex = np.array([h.lexical for h in hits])
    fused = np.array([h.score for h in hits])
    top_lex = lex.max() or 1.0
    dense_order = {i: r for r, i in enumerate(np.argsort(-dense, kind="stable"))}
    lex_order = {i: r for r, i in enumerate(np.argsort(-lex, kind="stable"))}
    n_terms = max(1, len(question_terms))
    elsewhere = _elsewhere(hits, earlier)
    # Length against the other candidates': publishers cut pages into passages of their own sizes.
    lengths = np.log1p([len(h.chunk.text) for h in hits])
    typical = float(np.median(lengths))
    rows = []
    for i, h in enumerate(hits):
        scores = sorted(h.sentence_scores, reverse=True)
        heading_terms = lexical.term_set(h.chunk.heading)
        passage = lexical.passage_term_set(h.chunk.heading, h.chunk.text)
        rows.append((
            h.dense, h.dense - dense.max(), scores[1] if len(scores) > 1 else scores[0] if scores else 0.0,
            h.lexical / top_lex, h.score - fused.max(),
            len(question_terms & passage) / n_terms, len(question_terms & heading_terms) / n_terms,
            1.0 / (1 + dense_order[i]), (1.0 / (1 + lex_order[i])) if h.lexical > 0 else 0.0,
            float(asks_amount and bool(_NUMBER.search(h.chunk.text))), lengths[i] - typical,
            1.0 / (1 + i),
            *_where_earlier(h.chunk, earlier),
            h.passage,
            elsewhere if earlier.document and h.chunk.doc_id == earlier.document else 0.0,
            *says[i],
        ))
    return np.array(rows, dtype=np.float64)


def _where_earlier(chunk, earlier: Earlier) -> tuple[float, float, float]:
    """The passage's document is the one the latest answer cited first (for any message of the chat,
    and again for one that leans on it), and the passage is one it quoted."""
    same = float(bool(earlier.document) and chunk.doc_id == earlier.document)
    return same, same * earlier.followup, float(chunk.chunk_id in earlier.passages)


def _elsewhere(hits: list, earlier: Earlier) -> float:
    """How much closer the message alone (without what it leans on) comes to a passage of another
    document than to any of the chat's document, read whole: "my mate says the strongest painkillers
    are best, what are they?" after an answer on exercise has moved on, pronoun or not. 0 when the
    chat's document is as close, or is not among the candidates."""
    if not earlier.document:
        return 0.0
    same = [h.alone for h in hits if h.chunk.doc_id == earlier.document]
    other = [h.alone for h in hits if h.chunk.doc_id != earlier.document]
    return max(0.0, max(other) - max(same)) if same and other else 0.0


def asks_amount(text: str) -> bool:
    return bool(_AMOUNT.search(text))


def rerank(hits: list, question_terms: set[str], question: str, ranker: LinearModel | None,
           earlier: Earlier = Earlier(), says: np.ndarray | None = None) -> list:
    """The candidates in the ranker's order (the fused order where no ranker is shipped)."""
    if ranker is None or len(hits) < 2:
        return hits
    scores = ranker.logits(passage_features(question_terms, asks_amount(question), hits, earlier, says))
    order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
    return [hits[i] for i in order]


# ---- answerability's features ----------------------------------------------------------------------

_COMMON = 7.5  # the Zipf frequency of the commonest English words

QUESTION_FEATURES = ("best", "best_all", "own", "leaned", "followup", "coverage", "heading", "shared",
                     "terms", "unknown", "unknown_subject", "shift", "foreign", "body_parts_only", "lexical",
                     "sentence_coverage", "over_floor", "over_strong", "request", "unknown_rarity", "price", "pull", "unsaid",
                     "things", *matching.FEATURES)
PRICE_WORDS = frozenset(w.strip().lower() for w in lexical.read_lines("price_words.txt"))
_CURRENCY = re.compile(r"[£$€]\s?\d")


def names_a_price(text: str) -> bool:
    """Whether a message speaks of money: a word of data/price_words.txt, or an amount in a currency."""
    return bool(_CURRENCY.search(text)) or any(w in PRICE_WORDS for w in lexical.words(text))


def answerability_features(dimensions: int) -> tuple[str, ...]:
    """The answerability model's input: the named features, then the vector of what is asked."""
    return QUESTION_FEATURES + tuple(f"asked_{i}" for i in range(dimensions))


def question_features(near, words, message, hits: list, calibration, top_passages: int,
                      asked: np.ndarray, matched: tuple[float, ...] = matching.UNKNOWN, things: int = 0) -> np.ndarray:
    """One row: how close the passages found come (the top ones, any of them, to the message alone
    and to what it leans on), how much of the question's own words the best-covering top passage has
    (in its text and its headings), and what the content makes of the question's words; then the
    vector of what is asked, its topic masked (`asked`: `scope.asked_vector`). That vector tells the
    kind of question pages seldom answer whatever their topic ("which brand…", "is it worth
    buying…", "how long is the waiting list…"): held out library by library it lifted off-topic
    questions declined from 63% to 73% at 3% of answerable ones refused. `matched`: how much of what
    is asked the top passages say, word piece by word piece (`matching.match`); `things`: how many
    things what is asked names that none of the top passages holds (`scope.unsaid_things`)."""
    top = hits[:top_passages]
    terms = set(lexical.terms(message.search_text or message.asked))
    n_terms = max(1, len(terms))
    coverage = heading = sentence = 0.0
    for h in top:
        head = lexical.term_set(h.chunk.heading)
        coverage = max(coverage, len(terms & lexical.passage_term_set(h.chunk.heading, h.chunk.text)) / n_terms)
        heading = max(heading, len(terms & head) / n_terms)
        if h.sentence_scores:  # the closest sentence's own share of the question's words
            best_sentence = h.chunk.sentence_texts()[int(np.argmax(h.sentence_scores))]
            sentence = max(sentence, len(terms & lexical.term_set(best_sentence)) / n_terms)
    row = (
        near.best, max((h.dense for h in hits), default=0.0), near.own, near.leaned, float(bool(message.context)),
        coverage, heading, float(near.shared), float(len(terms)),
        float(len(words.unknown)), float(bool(words.unknown_subjects)), words.shift, float(words.foreign),
        float(words.only_uncovered_body_parts), math.log1p(max((h.lexical for h in top), default=0.0)), sentence,
        # Relative to the library: how far the closest passage clears what the build measured
        # questions no back-care page answers reach in this content (its calibrated thresholds).
        max(near.best, near.leaned) - calibration.floor, near.own - calibration.strong,
        # Asks for what pages seldom give (a brand, a price, a booking; an animal's care).
        float(bool(message.request)),
        # How rare in general English its rarest unknown word is: "varicocele" names a topic, "mattress" may not.
        max((1.0 - lexical.zipf(w) / _COMMON for w in words.unknown + words.unknown_subjects), default=0.0),
        # Names a price, a cost or paying ("how much do stairlifts cost?"), which pages seldom give.
        float(names_a_price(message.asked)),
        # How much closer the passages found come without one of its words the content never names.
        words.pull,
        # Asks how often, how long, how many or how much, and none of the top passages says it.
        float(bool(lexical.not_said(message.asked, " ".join(h.chunk.text for h in top)))),
        # Names things none of the top passages holds ("would taping help?" beside core exercises).
        float(things),
        *matched,
    )
    return np.concatenate([np.array(row, dtype=np.float64), np.asarray(asked, dtype=np.float64)])[None, :]
