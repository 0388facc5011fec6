"""How much of what is asked a passage says, word piece by word piece: each salient piece of the
question, as the model read it in its sentence, against the closest piece of the passage, as the
model read it in the passage. A question the passage answers finds each of its words there, in
their sense ("how long does a wry neck last" in "A wry neck usually eases within 24 to 48 hours");
a near miss leaves one behind ("does she have to stop her calcium tablets before the next scan?"
against a page on the scan). Read by the answerability model (`FEATURES`, in `ranking.QUESTION_FEATURES`)
and, passage by passage, by the re-ranker (`each`, in `ranking.PASSAGE_FEATURES`)."""
from __future__ import annotations

import re

import numpy as np

from . import lexical
from .embedding import Pieces

FEATURES = ("match_mean", "match_min", "match_share", "match_lowest")
NONE = (0.0, 0.0, 0.0, 0.0)
UNKNOWN = (float("nan"),) * len(FEATURES)  # nothing to match: the models weigh it as their training mean
RECIPE = 2  # what `stored` keeps; a build's pieces are reused by a rebuild only when made the same way
QUANTUM = 127.0  # a stored piece's vector times this, in int8
CLOSE = 0.6  # a piece this close to one of the passage's counts as said there (match_share)
_WORDLIKE = re.compile(r"^(?:##)?[a-z0-9]")


def salient(tokens: tuple[str, ...]) -> list[int]:
    """The pieces that carry what is asked: every piece of a word of letters or digits ("ib",
    "##up", "##ro", "##fen" of "ibuprofen") that is not a stopword and has three letters or more."""
    keep, word = [], []

    def close():
        whole = "".join(tokens[i].removeprefix("##") for i in word)
        if word and _WORDLIKE.match(tokens[word[0]]) and whole not in lexical.STOPWORDS and len(whole) > 2:
            keep.extend(word)

    for i, t in enumerate(tokens):
        if t.startswith("##") and word:
            word.append(i)
            continue
        close()
        word = [i]
    close()
    return keep


def stored(pieces: Pieces) -> np.ndarray:
    """What a build keeps of a passage's pieces: its salient ones only (a question's salient piece
    finds its closest among those), each vector in eight bits (a cosine moves by under 0.01)."""
    return np.round(pieces.vectors[salient(pieces.tokens)] * QUANTUM).astype(np.int8)


def unpacked(vectors: np.ndarray) -> np.ndarray:
    """Piece vectors as float32, from what `stored` keeps (int8) or as they are."""
    vectors = np.asarray(vectors)
    return vectors.astype(np.float32) / QUANTUM if vectors.dtype == np.int8 else vectors.astype(np.float32)


def match(question: Pieces, passages: list[np.ndarray]) -> tuple[float, float, float, float]:
    """For the passage that says most of the question's salient pieces (their mean closeness): that
    mean, the farthest piece's closeness, the share of pieces it says (closer than CLOSE), and the
    two farthest pieces' mean. UNKNOWN when the question has no salient piece ("what should I do?")
    or nothing was found; NONE when no passage has a salient piece.
    passages: each passage's piece vectors (unit length, or as `stored` keeps them)."""
    rows = salient(question.tokens)
    if not rows or not passages:
        return UNKNOWN
    asked = question.vectors[rows]
    best = NONE
    for vectors in passages:
        if not len(vectors):
            continue
        found = _said(asked, vectors)
        if found[0] > best[0]:
            best = found
    return best


EACH = ("mean", "min", "share")  # per passage: the first three of `FEATURES`


def each(question: "Pieces | None", passages: list[np.ndarray] | None, count: int) -> np.ndarray:
    """Per passage (`count` of them, in order), how much of what is asked it says: the mean
    closeness of the question's salient pieces to their closest in the passage, the farthest one's,
    and the share closer than CLOSE. Rows of NaN when there is nothing to match (no salient piece,
    no pieces given, a build that kept none, or not one list of pieces per passage); zeros for a
    passage without a salient piece."""
    out = np.full((count, len(EACH)), np.nan)
    rows = salient(question.tokens) if question is not None else []
    if not rows or passages is None or len(passages) != count:
        return out
    asked = question.vectors[rows]
    for i, vectors in enumerate(passages):
        if not len(vectors):
            out[i] = 0.0
            continue
        out[i] = _said(asked, vectors)[:len(EACH)]
    return out


def _said(asked: np.ndarray, vectors: np.ndarray) -> tuple[float, float, float, float]:
    """How much of the asked pieces one passage says (`FEATURES`): each asked piece's closeness to
    its closest piece of the passage; their mean, the farthest one's, the share closer than CLOSE,
    and the two farthest ones' mean."""
    closest = (asked @ unpacked(vectors).T).max(axis=1)
    return (float(closest.mean()), float(closest.min()), float(np.mean(closest > CLOSE)),
            float(np.sort(closest)[:2].mean()))
