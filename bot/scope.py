"""Whether the content answers a question: its words and its closest sentence, against thresholds
each build calibrates on a bank of questions no back-care library answers.

Two thresholds, each set just above the closest match of the bank questions only it can reject:
- `floor`: a question whose salient words the content all knows still needs a sentence this close;
- `strong`: a question with a salient word the content does not know ("glaucoma", "banana") needs
  a sentence this close, so an incidental word ("a heavy suitcase" when the content says "heavy
  objects") passes while a question about something else does not.
A question that names only body parts the content never mentions is declined whatever the match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import lexical, matching, ranking, retrieval
from .settings import ScopeSettings
from .vocabulary import BODY_PARTS, Vocabulary, WordCheck

if TYPE_CHECKING:
    from .index import Index
    from .retrieval import Hit
    from .understanding import Message


@dataclass(frozen=True)
class Calibration:
    floor: float
    strong: float
    band: float  # below the floor, down to here, shared rare words can still show a match

    @classmethod
    def from_manifest(cls, manifest: dict, settings: ScopeSettings) -> "Calibration":
        scope = manifest.get("scope") or {}
        return cls(float(scope.get("floor", settings.floor_min)),
                   float(scope.get("strong", settings.strong_min)), settings.floor_min)


@dataclass(frozen=True)
class Closeness:
    """Cosine of the content's closest sentence to the query (with any conversation it leans on), to
    the message alone, and to the earlier question a follow-up leans on (the query's own otherwise)."""
    best: float
    own: float
    leaned: float
    shared: int = 0  # the question's own search terms found in the top passages


@dataclass(frozen=True)
class Verdict:
    in_scope: bool
    uncovered: tuple[str, ...] = ()  # the question's words the content does not cover, for the refusal
    confidence: float | None = None  # the answerability model's probability that the content answers
    # Declined as a kind of question the pages do not answer (intents.DECLINED: "service", "animal"), or "".
    request: str = ""


def bank_questions() -> list[str]:
    return lexical.read_lines("offtopic_questions.txt")


def calibrate(bank: list[str], best_scores: np.ndarray, vocabulary: Vocabulary, settings: ScopeSettings) -> dict:
    """Thresholds for this build from the bank's closest matches; recorded in the manifest with their margins."""
    plain, unknown = [], []
    for question, score in zip(bank, best_scores.tolist()):
        words = vocabulary.check(question)
        if words.only_uncovered_body_parts:
            continue  # declined by the body-part rule, whatever its score
        (unknown if words.unknown else plain).append(score)
    m = settings.margin
    floor = _clip(max(plain, default=0.0) + m, settings.floor_min, settings.floor_max)
    strong = _clip(max(unknown, default=0.0) + m, max(floor, settings.strong_min), settings.strong_max)
    return {
        "floor": round(floor, 4), "strong": round(strong, 4),
        "bank_questions": len(bank),
        "bank_max_known_words": round(max(plain, default=0.0), 4),
        "bank_max_unknown_words": round(max(unknown, default=0.0), 4),
        "margin_floor": round(floor - max(plain, default=0.0), 4),
        "margin_strong": round(strong - max(unknown, default=0.0), 4),
    }


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _candidates(words: WordCheck) -> list[str]:
    """Unknown words that may yet be synonyms or incidental; body parts stay literal."""
    return [w for w in words.unknown if w not in words.unknown_body_parts]


def _without(text: str, removed: list[str]) -> str:
    # The words come with straight apostrophes ("jaw's"), the text as typed ("jaw’s").
    return re.sub(r"(?i)\b(" + "|".join(re.escape(w).replace("'", "['’]") for w in removed) + r")\b", " ", text)


def _weighed_texts(text: str, others: list[str]) -> list[str]:
    """The question, and each version of it without one of the words (and without all of them)."""
    return [text] + [_without(text, [w]) for w in others] + ([_without(text, others)] if len(others) > 1 else [])


# A sentence ends at ".", "!", "?" or ":" before a space or the end, but not at an initial's dot
# ("H. pylori") or a decimal's ("2.5mg"); a clause ends at a comma or a semicolon.
_SENTENCE = re.compile(r".+?(?:(?:\?[!?]*|!+|(?<!\b[A-Za-z])[.:]+)(?=\s|$)|$)", re.S)
_CLAUSE = re.compile(r"[^,;]+[,;]*")
_ASKS = re.compile(r"\?[!?]*\s*$")
_ASKING = re.compile(r"^\s*[\"'“‘(\[]*(?:and |but |so |or |also |then |ok )?(?:can|could|should|would|will|shall|is|are|was|"
                     r"were|am|do|does|did|has|have|how|what|which|when|why|who|where|whats|what's|any|anything|anyone|"
                     r"worth)\b", re.I)
_POINTING = re.compile(r"\b(?:it|its|that|this|they|them|those|these|one|ones)\b", re.I)
_POINTING_LAST = re.compile(r"\b(?:it|that|this|them|those|these|one|ones)\W*$", re.I)


def asking_clause(text: str) -> str:
    """What the message asks: in each sentence ending in "?", the run from its first clause that opens
    with a question word to the end ("I'm pregnant with sciatica, can I take codeine?" asks "can I
    take codeine?"); else the last sentence that opens a question; else the whole text. The whole
    text too when what is asked points back at what was told ("had a stiff jaw for weeks, any
    stretches for it?"). A subject named before the question without a pointing word at the end
    ("Chiropractor or osteopath, which is better?") is left out: a known limit."""
    found = _asking_clause_alone(text)
    return text if _points_back(found) else found


def _asking_clause_alone(text: str) -> str:
    sentences = [s for s in _SENTENCE.findall(text) if s.strip(" .!?:;,")]
    asked = [_asking_run(s) for s in sentences if _ASKS.search(s)]
    if asked:
        return " ".join(a.strip() for a in asked)
    opening = [s for s in sentences if any(_ASKING.match(c) for c in _CLAUSE.findall(s))]
    return _asking_run(opening[-1]).strip() if opening else text


def _asking_run(sentence: str) -> str:
    """The sentence from its first clause that opens a question to its end (all of it without one)."""
    clauses = [c for c in _CLAUSE.findall(sentence) if c.strip(" ,;")]
    opening = [i for i, c in enumerate(clauses) if _ASKING.match(c)]
    return "".join(clauses[opening[0]:]) if opening else sentence


def _points_back(asked: str) -> bool:
    """"…, any stretches for it?" or "does that work?": the question is about what the rest tells."""
    return bool(_POINTING_LAST.search(asked)) or (len(re.findall(r"\w+", asked)) <= 4 and bool(_POINTING.search(asked)))


def _has_word(text: str, word: str) -> bool:
    return _without(text, [word]) != text


def _without_body_parts(text: str, words: WordCheck) -> list[str]:
    """The question without each body part the content never names: how much closer the passages
    found come without it ("does stretching help with a stiff jaw" on pages about the back)."""
    return [_without(text, [w]) for w in words.unknown_body_parts]


def _weighed_in_both(text: str, asked: str, others: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The texts the unknown words are weighed in (`_weighed_texts`): in the whole message, and in what
    it asks (`asked`, its `asking_clause`) when that is less than the whole text; and the words
    weighed there too. A word in what is asked is weighed where a preamble cannot dilute it: "My 6
    week old has yellow crusty flakes on his scalp. How do I get rid of cradle cap?" rides on
    "cradle" as much as the question alone does."""
    inside = [w for w in others if _has_word(asked, w)] if asked.strip() != text.strip() else []
    return _weighed_texts(text, others), _weighed_texts(asked, inside) if inside else [], inside


def texts_to_encode(text: str, words: WordCheck) -> list[str]:
    """What `known_by_meaning` and `weigh_unknown` will encode for this question (when no word turns
    out a synonym), so the message's one model pass can carry them."""
    candidates = _candidates(words)
    if not candidates and not words.unknown_body_parts:
        return []
    whole, in_asked, _ = _weighed_in_both(text, asking_clause(text), candidates)
    return candidates + whole + in_asked + _without_body_parts(text, words)


def known_by_meaning(words: WordCheck, encode_many, word_vectors: np.ndarray, min_cosine: float) -> WordCheck:
    """Unknown words that mean what one of the content's words means ("monitor" for its
    "screen") are known after all. Body parts stay literal: "ankle" is near "knee" but not it."""
    candidates = _candidates(words)
    if not len(word_vectors) or not candidates:
        return words
    closest = (encode_many(candidates) @ word_vectors.T).max(axis=1)  # one model pass for all of them
    known = {w for w, c in zip(candidates, closest.tolist()) if c >= min_cosine}
    # A word known by meaning is the content's own too: the question is not foreign to it.
    return replace(words, unknown=tuple(w for w in words.unknown if w not in known), foreign=False) if known else words


def weigh_unknown(text: str, words: WordCheck, encode_many, settings: ScopeSettings,
                  found: np.ndarray | None = None) -> WordCheck:
    """How much the question rides on each unknown word: how far its vector moves without it.

    "Can I ramp up my workouts?" means nearly the same without "ramp" (incidental: ignored); "How
    should I lift a heavy suitcase?" keeps most of its sense (a detail: the match must be strong);
    "What is the best treatment for glaucoma?" is lost without "glaucoma" (the subject: declined).
    The question and each version of it without a word (and without all of them) take one model pass.
    The same vectors tell how much closer the passages found (`found`, each read whole) come to the
    question without a word: the pull of a word the content never names, incidental or not, and of
    a body part it never names (0 for a build that kept no passages read whole)."""
    others = _candidates(words)
    if not others and not words.unknown_body_parts:
        return words
    asked = asking_clause(text)
    whole, in_asked, inside = _weighed_in_both(text, asked, others)
    vectors = encode_many(whole + in_asked + _without_body_parts(text, words))
    n_whole = len(whole)
    body_vectors = vectors[n_whole + len(in_asked):]
    pull = 0.0
    if found is not None and len(found):
        with_all = float((found @ vectors[0]).max())
        pulls = [(w, float((found @ v).max()) - with_all) for w, v in zip(others, vectors[1:len(others) + 1])]
        pulls += [(w, float((found @ v).max()) - with_all)
                  for w, v in zip(words.unknown_body_parts, body_vectors)]
        # A word told as a circumstance ("34 weeks pregnant with sciatica, can I take codeine?") is
        # not what is asked about: only the words of what is asked pull, body parts too ("my eyes are
        # streaming, how long does a cold last?" asks of a cold).
        pull = max([0.0] + [d for w, d in pulls if _has_word(asked, w)])
    if not others:
        return replace(words, pull=pull)
    moved = [1.0 - float(vectors[0] @ v) for v in vectors[1:n_whole]]
    if inside:  # a word in what is asked moves it at least as far as it moves the whole text
        base = vectors[n_whole]
        in_moved = dict(zip(inside, (1.0 - float(base @ v) for v in vectors[n_whole + 1:n_whole + 1 + len(inside)])))
        moved[:len(others)] = [max(m, in_moved.get(w, 0.0)) for w, m in zip(others, moved)]
    details, subjects = [], []
    for word, shift in zip(others, moved):
        if shift >= settings.subject_word_shift:
            subjects.append(word)
        elif shift >= settings.detail_word_shift:
            details.append(word)
    if not subjects and len(others) > 1 and moved[-1] >= settings.subject_word_shift:
        subjects = others  # "heat or an ice pack": together they are the subject
    # An incidental word moves the question too little to count: its shift is read as none.
    shift = max(moved) if max(moved) >= settings.detail_word_shift else 0.0
    return replace(words, unknown=tuple(details), unknown_subjects=tuple(subjects), shift=shift, pull=pull)


def judge(message: "Message", hits: list["Hit"], index: "Index") -> Verdict:
    """Whether the content answers the message, from the passages found for it and its words: the
    learned answerability model where one is shipped, else the build's calibrated thresholds. A
    message with no word to look up and no conversation before it is declined first."""
    if not message.context and not lexical.terms(message.asked):
        # "And then what?" with no conversation before it: nothing to look up. (The model reads the
        # kind of question from its vector, and such words come only as follow-ups in what it was
        # fitted on, where the chat gives them a topic.)
        return Verdict(False, request=message.request)
    verdict, words, things = _answerable(message, hits, index)
    if verdict.in_scope and message.context and (message.request or words.unknown_subjects or things):
        # A request, a message about a subject the content does not know ("what about painkillers?"),
        # or one that names a thing none of the passages found with the chat holds ("would taping it
        # help when I go back?" after an answer on core exercises), must be met by its own words:
        # the conversation it follows ("can I book the op at your hospital?" after questions the
        # pages answer) makes the content look surer than it is.
        alone = replace(message, context=(), earlier=())
        alone_verdict, _, _ = _answerable(alone, index.search(retrieval.query_for(alone, index)), index)
        verdict = min(verdict, alone_verdict, key=lambda v: (v.in_scope, v.confidence or 0.0))
    if message.request and (not verdict.in_scope or (verdict.confidence or 0.0) < index.settings.scope.request_answered):
        return Verdict(False, confidence=verdict.confidence, request=message.request)
    return verdict


def unsaid_things(message: "Message", hits: list["Hit"], index: "Index") -> tuple[str, ...]:
    """The things what a message asks names (its salient words that can name a thing, body parts
    aside) that none of the top passages holds by stem: "taping" in "would taping it help when I go
    back?" beside passages on core exercises."""
    said: set[str] = set()
    for hit in hits[:index.settings.retrieval.top_passages]:
        said |= lexical.term_set(hit.chunk.text)
    words = index.vocabulary.salient_words(message.asking or message.asked)
    return tuple(w for w in words if w not in BODY_PARTS and not lexical.term_set(w) & said and lexical.names_a_thing(w))


def _answerable(message: "Message", hits: list["Hit"], index: "Index") -> tuple[Verdict, WordCheck, tuple[str, ...]]:
    """The verdict, what the content makes of the message's own words, and the things it asks about
    that none of the top passages holds (`unsaid_things`)."""
    words, near = evidence(message, hits, index)
    things = unsaid_things(message, hits, index)
    model = ranking.model(str(ranking.MODELS / index.settings.scope.answerability),
                          ranking.answerability_features(index.embedder.dim)) if index.settings.scope.answerability else None
    if model is None:
        return decide(near, words, index.calibration, index.settings.scope.shared_words), words, things
    # No rule before the model: a body part the content never names weighs in as one of its features
    # ("can I take co-codamol for my tooth?" is answered by a page on co-codamol).
    features = answerability_row(message, hits, index, words, near, things)
    # Nothing to match (a question with no salient word, "what should I do?", or a build that kept
    # no pieces): the match weighs as the fitted questions' mean, that is not at all.
    unknown = np.isnan(features[0])
    features[0, unknown] = model.mean[unknown]
    p = float(model.probability(features)[0])
    if p >= model.threshold:
        return Verdict(True, confidence=p), words, things
    # The refusal names what is not covered: the unknown subject first ("glaucoma"), then a body part
    # the content never names ("ankle"), then the details.
    named = words.unknown_subjects + words.unknown_body_parts + words.unknown
    return Verdict(False, named_topics(named), confidence=p), words, things


def answerability_row(message: "Message", hits: list["Hit"], index: "Index", words: WordCheck, near: Closeness,
                      things: tuple[str, ...]) -> np.ndarray:
    """The answerability model's input for a message (`ranking.question_features`), from what
    `evidence` and `unsaid_things` made of it: answering and `make fit` both read it here."""
    return ranking.question_features(near, words, message, hits, index.calibration,
                                     index.settings.retrieval.top_passages, asked_vector(message, index),
                                     matched(message, hits, index), len(things))


def matched(message: "Message", hits: list["Hit"], index: "Index") -> tuple[float, ...]:
    """How much of what the message asks (`asking_clause`, its own words) the top passages say,
    word piece by word piece (`matching.match`); `matching.UNKNOWN` for a build that kept no pieces
    (made before they were kept, or larger than `pieces_max_chunks`). On the ONNX path the pieces
    of what is asked come from the message's one model pass (`understanding.understand` sends it
    as `WithPieces`); the torch path reads them in a pass of their own."""
    found = index.passages.pieces_of(hits[:index.settings.retrieval.top_passages])
    if found is None:
        return matching.UNKNOWN
    return matching.match(index.embedder.query_pieces(message.asking), found) if message.asking else matching.UNKNOWN


def named_topics(words: tuple[str, ...]) -> tuple[str, ...]:
    """The words a refusal names, once each: those that name a thing (`lexical.names_a_thing`). "Can
    they recover?" gets the plain refusal, and "how long does it take to recover from a hip
    replacement?" names the hip replacement alone."""
    return tuple(w for w in dict.fromkeys(words) if lexical.names_a_thing(w))


def asked_vector(message: "Message", index: "Index") -> np.ndarray:
    """The frame of what is asked ("is something good for something?", `Vocabulary.frame`), as the
    message's one model pass encoded it: the answerability model reads the kind of question from
    it, not its topic, which a model fitted on a few libraries would learn as that of their near
    misses."""
    return index.embedder.encode_query(message.frame)


def by_rule(words: WordCheck) -> Verdict | None:
    """What the calibrated thresholds decline whatever the match: a question that names only body
    parts the content never mentions, or whose subject is a word the content does not know."""
    if words.only_uncovered_body_parts:
        return Verdict(False, named_topics(words.unknown_body_parts))
    if words.unknown_subjects:
        return Verdict(False, named_topics(words.unknown_subjects))
    return None


def evidence(message: "Message", hits: list["Hit"], index: "Index") -> tuple[WordCheck, Closeness]:
    """What the content makes of the message's words (synonyms by meaning; how much it rides on the
    unknown ones), and how close the passages found come."""
    s = index.settings.scope
    words = known_by_meaning(message.words, index.embedder.encode_queries, index.word_vectors, s.synonym_cosine)
    # How far an unknown word moves the question is measured on the text with the standard words
    # written in, as the scope thresholds were set.
    found = index.passages.whole_vectors(hits[:index.settings.retrieval.top_passages]) \
        if _candidates(words) or words.unknown_body_parts else None
    words = weigh_unknown(message.search_text, words, index.embedder.encode_queries, s, found)
    return words, closeness(message, hits, index)


def closeness(message: "Message", hits: list["Hit"], index: "Index") -> Closeness:
    """How close the content comes: to the whole query (or to the message in the content's standard
    words, when that comes closer), to the message alone (which must carry any unknown word of its
    own), and to the question a follow-up leans on."""
    top = index.settings.retrieval.top_passages
    best = max((h.dense for h in hits[:top]), default=0.0)
    if message.standard != message.asked:  # "is calpol ok…" asked as the content would put it: "is paracetamol ok…"
        best = max(best, index.passages.closest(index.embedder.encode_query(message.standard), top))
    own = leaned = best
    if message.context:
        def closest(text: str) -> float:
            return index.passages.closest(retrieval.written_in(text, index), top)
        own = closest(message.asked) if message.words.unknown else best
        leaned = max(closest(text) for text, _ in message.context)  # the chain's topic may be further back
    wanted = set(index.vocabulary.search_terms(message.search_text)[0])
    found = set()
    for h in hits[:top]:
        found |= wanted & lexical.passage_term_set(h.chunk.heading, h.chunk.text)
    return Closeness(best, own, leaned, shared=len(found))


def decide(closeness: Closeness, words: WordCheck, calibration: Calibration, shared_words: int) -> Verdict:
    """A follow-up with no unknown words of its own ("And then what?") stays on a covered topic when
    the question it leans on is covered; one that brings its own unknown words must carry them."""
    refused = by_rule(words)
    if refused is not None:
        return refused
    # A follow-up counts on the question it leans on unless its own words are all foreign to the content.
    leaned = closeness.leaned if not words.unknown and not words.foreign else 0.0
    if max(closeness.best, leaned) < calibration.floor:
        # A weak match still counts when the top passages use two of the question's own words
        # ("twist while carrying" and "turn ... instead of twisting" where the vectors disagree).
        lexical_evidence = (not words.unknown and closeness.shared >= shared_words
                            and closeness.best >= calibration.band)
        if not lexical_evidence:
            return Verdict(False, named_topics(words.unknown))
    if words.unknown and closeness.own < calibration.strong:
        return Verdict(False, named_topics(words.unknown))
    return Verdict(True)
