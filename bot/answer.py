"""Ranked passages → the reply: the content's own sentences with [n] markers, sources and caveats."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import lexical, messages, safety
from .retrieval import Hit

if TYPE_CHECKING:
    from .index import Index
    from .scope import Verdict
    from .understanding import Message

# A message that asks nothing of the content: its fixed reply and the answer kind.
FIXED_REPLIES = {
    "empty": (messages.EMPTY, "empty"),
    "greeting": (messages.GREETING, "small_talk"),
    "help": (messages.GREETING, "small_talk"),
    "thanks": (messages.THANKS, "small_talk"),
    "language": (messages.ENGLISH_ONLY, "language"),
}


@dataclass(frozen=True)
class Citation:
    number: int
    text: str  # the passage, verbatim
    source: str  # document title
    chunk_id: str
    score: float
    doc_id: str = ""
    paragraph: int = 0
    url: str = ""  # the source page's address, when the document names one


@dataclass(frozen=True)
class Answer:
    text: str  # the whole reply as shown in chat: markdown with [n] markers and caveats
    citations: list[Citation] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    in_scope: bool = False
    urgent: bool = False
    red_flags: list[str] = field(default_factory=list)
    kind: str = "answer"  # answer | urgent | refusal | small_talk | empty | language
    # The pieces of `text`, for pages that lay them out themselves:
    lead: str = ""  # urgent-care message or input notice, shown first
    body: str = ""  # the quoted sentences with their [n] markers
    acute: bool = False  # the question describes a fresh injury: caveats come before the body


def examples_markdown(examples: list[str] | tuple[str, ...]) -> str:
    """The content's example questions as a list after the lead-in, or nothing when it has none."""
    if not examples:
        return ""
    return messages.EXAMPLES_LEAD + "\n\n" + "\n".join(f"- {q}" for q in examples)


def reply(message: "Message", hits: list[Hit], verdict: "Verdict", index: "Index") -> Answer:
    """The answer to a message: urgent care first (and no exercise advice after it), a refusal naming
    what is not covered, or the content's own sentences with citations and caveats."""
    if message.red_flags:
        urgent_text = safety.urgent_message(index.triage.advice(list(message.red_flags)))
        lead = "\n\n".join(filter(None, [message.notice and f"_{message.notice}_", urgent_text]))
        return Answer(text=lead, urgent=True, red_flags=list(message.red_flags), kind="urgent", lead=lead)
    if not verdict.in_scope:
        template = messages.REFUSAL
        if verdict.uncovered:
            template = messages.NOT_COVERED.replace("{topic}", name_words(verdict.uncovered))
        return fixed_reply(template, "refusal", index.examples, message.notice)
    s = index.settings.retrieval
    chosen = select_passages(hits, s.max_citations, s.support_ratio, s.support_dense_gap, index.calibration.floor)
    if message.acute:
        chosen = acute_first(chosen, index)
    query_terms = set(lexical.query_terms(message.search_text))
    return compose(chosen, query_terms, s.lead_sentences, s.sentence_term_bonus, acute=message.acute,
                   notice=message.notice)


def fixed_reply(template: str, kind: str, examples: list[str] | tuple[str, ...], notice: str = "") -> Answer:
    text = template.format(examples=examples_markdown(examples))
    lead = f"_{notice}_" if notice else ""
    return Answer(text=(lead + "\n\n" + text).strip(), kind=kind, lead=lead, body=text)


_LAYOUT_STEMS = frozenset(lexical.stem(w) for w in messages.LAYOUT_WORDS)


def quotable(sentence: str) -> bool:
    """Leftovers of page layout ("page.", "See page.") say nothing on their own; they stay in the passage."""
    return len([t for t in lexical.terms(sentence) if t not in _LAYOUT_STEMS]) >= 2


def pick_sentences(hit: Hit, query_terms: set[str], limit: int, term_bonus: float) -> list[str]:
    """The passage sentences closest to the question, kept in reading order.

    Closeness is the sentence's cosine similarity, nudged by the words it shares with the question.
    """
    sentences = hit.chunk.sentence_texts()
    candidates = [i for i, s in enumerate(sentences) if quotable(s)] or list(range(len(sentences)))
    if len(candidates) <= limit:
        return [sentences[i] for i in candidates]
    dense = hit.sentence_scores or (0.0,) * len(sentences)

    def closeness(i: int) -> float:
        return dense[i] + term_bonus * len(query_terms & set(lexical.terms(sentences[i])))

    best = sorted(candidates, key=lambda i: (-closeness(i), i))[:limit]
    return [sentences[i] for i in sorted(best)]


def select_passages(hits: list[Hit], max_citations: int, support_ratio: float, dense_gap: float,
                    floor: float) -> list[Hit]:
    """The best passage and the runners-up that answer the question too: close to it in fused score
    and in meaning (their closest sentence within dense_gap of the best one's, and above the scope
    floor). A passage whose text another document already gave is cited once."""
    if not hits:
        return []
    top = hits[0]
    chosen, seen = [top], {_same_text(top.chunk.text)}
    for h in hits[1:]:
        if len(chosen) >= max_citations:
            break
        key = _same_text(h.chunk.text)
        if key in seen:
            continue
        # Above the scope floor a supporter must clear it too; a grey-band answer keeps its close runners-up.
        close = h.dense >= top.dense - dense_gap and (h.dense >= floor or top.dense < floor)
        if h.score >= support_ratio * top.score and close:
            chosen.append(h)
            seen.add(key)
    return chosen


def acute_first(chosen: list[Hit], index: "Index") -> list[Hit]:
    """For a fresh injury, the content's own acute-pain note leads the citations."""
    note = index.acute_note
    if note is None:
        return chosen
    rest = [h for h in chosen if h.chunk.chunk_id != note.chunk.chunk_id]
    return [note] + rest[: index.settings.retrieval.max_citations - 1]


def name_words(words: tuple[str, ...]) -> str:
    """"glaucoma", "wifi or router": the words a refusal names as not covered."""
    words = tuple(dict.fromkeys(words))[:3]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _same_text(text: str) -> str:
    return " ".join(lexical.words(text))


def arrange(acute: bool, lead: str, body: str, caveat_block: str, sources: str) -> str:
    """A reply's pieces in display order, for every renderer: the lead first; then the quoted
    sentences and the safety notes (the notes first for a fresh injury, before any exercise
    content); then the sources."""
    parts = [lead] if lead else []
    parts += [caveat_block, body] if acute else [body, caveat_block]
    return "\n\n".join(parts + [sources])


def compose(hits: list[Hit], query_terms: set[str], lead_sentences: int, term_bonus: float,
            acute: bool = False, notice: str = "") -> Answer:
    """Builds the reply; every sentence in it is quoted from a cited passage or is a fixed template."""
    citations, quoted, said = [], [], set()
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        citations.append(Citation(number, chunk.text, chunk.title, chunk.chunk_id, round(hit.score, 4),
                                  chunk.doc_id, chunk.paragraph, chunk.url))
        limit = lead_sentences if number == 1 else 1
        for sentence in pick_sentences(hit, query_terms, limit, term_bonus):
            if _same_text(sentence) not in said:  # no sentence is quoted twice
                said.add(_same_text(sentence))
                quoted.append(f"{sentence} [{number}]")

    caveats = [messages.ACUTE_CAVEAT, messages.GRADUAL_CAVEAT]
    caveat_block = messages.CAVEATS_HEADING + "\n" + "\n".join(f"- {c}" for c in caveats)
    lead = f"_{notice}_" if notice else ""
    body = " ".join(quoted)
    sources = messages.SOURCES_HEADING + "\n" + "\n".join(
        f"{c.number}. {c.source} (paragraph {c.paragraph}{', ' + c.url if c.url else ''}): \u201c{c.text}\u201d"
        for c in citations)
    return Answer(
        text=arrange(acute, lead, body, caveat_block, sources), citations=citations, caveats=caveats, in_scope=True,
        kind="answer",
        lead=lead, body=body, acute=acute,
    )
