"""Ranked passages → the reply: the content's own sentences with [n] markers, sources and caveats."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import lexical, messages, safe_text, safety
from .chunking import QUESTION, opens_a_paragraph
from .retrieval import Hit

if TYPE_CHECKING:
    from .index import Index
    from .scope import Verdict
    from .understanding import Message


@dataclass(frozen=True)
class Citation:
    number: int
    text: str  # the passage, verbatim
    source: str  # where the passage stands: its document's title and section ("Cold › Symptoms")
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
    cautions: list[str] = field(default_factory=list)  # red flags it comes near: named in a note first
    crisis: bool = False  # it speaks of suicide or self-harm: the crisis note comes first (crisis.py)
    kind: str = "answer"  # answer | urgent | refusal | small_talk | empty | language
    # The pieces of `text`, for pages that lay them out themselves:
    lead: str = ""  # urgent-care message or input notice, shown first
    body: str = ""  # the quoted sentences with their [n] markers
    acute: bool = False  # the question describes a fresh injury: caveats come before the body
    not_said: str = ""  # what the question asked that the quoted passages do not say ("how often")


def examples_markdown(examples: list[str] | tuple[str, ...]) -> str:
    """The content's example questions as a list after the lead-in, or nothing when it has none."""
    if not examples:
        return ""
    return messages.EXAMPLES_LEAD + "\n\n" + "\n".join(f"- {safe_text.markdown_text(q)}" for q in examples)


def reply(message: "Message", hits: list[Hit], verdict: "Verdict", index: "Index") -> Answer:
    """The answer to a message: urgent care first (and no exercise advice after it), a refusal naming
    what is not covered, or the content's own sentences with citations and caveats."""
    if message.red_flags:
        urgent_text = safety.urgent_message(index.triage.advice(list(message.red_flags)),
                                            index.settings.triage.emergency_number)
        lead = "\n\n".join(filter(None, [message.notice and f"_{message.notice}_", urgent_text]))
        return Answer(text=lead, urgent=True, red_flags=list(message.red_flags), kind="urgent", lead=lead)
    if not verdict.in_scope:
        template = messages.REFUSAL
        if verdict.request:
            template = messages.FIXED_REPLIES[verdict.request][0]
        elif verdict.uncovered:
            template = messages.NOT_COVERED.replace("{topic}", name_words(verdict.uncovered, message.text))
        return fixed_reply(template, "refusal", index.examples, message.notice)
    s = index.settings.retrieval
    chosen = select_passages(hits, s.max_citations, s.support_ratio, s.support_dense_gap, index.calibration.floor)
    query_terms = set(lexical.query_terms(message.search_text))
    if message.acute:
        chosen = acute_first(chosen, lexical.term_set(message.asked), index)
    return compose(chosen, query_terms, s.lead_sentences, s.sentence_term_bonus, s.list_items,
                   support_sentences=s.support_sentences, acute=message.acute, notice=message.notice, asked=message.asked)


def with_cautions(reply: Answer, cautions: tuple[str, ...] | list[str]) -> Answer:
    """The reply with a note first naming the red flags the message came near: get help now if you
    also have them."""
    if not cautions or reply.urgent:
        return reply
    return _noted(reply, messages.CAUTION.format(flags="; ".join(cautions)), cautions=list(cautions))


def with_crisis(reply: Answer, crisis: bool, number: str, line: str = "") -> Answer:
    """The reply with the crisis note first, for a message that speaks of suicide or self-harm
    (`line`: a crisis line to name beside the emergency number)."""
    if not crisis:
        return reply
    note = messages.CRISIS.format(number=number, line=messages.CRISIS_LINE.format(line=line) if line else "")
    return _noted(reply, note, crisis=True)


def _noted(reply: Answer, note: str, **changes) -> Answer:
    """The reply with a note first, in its text and its lead."""
    return replace(reply, text=f"{note}\n\n{reply.text}", lead=f"{note}\n\n{reply.lead}" if reply.lead else note,
                   **changes)


def fixed_reply(template: str, kind: str, examples: list[str] | tuple[str, ...], notice: str = "") -> Answer:
    text = template.format(examples=examples_markdown(examples))
    lead = f"_{notice}_" if notice else ""
    return Answer(text=(lead + "\n\n" + text).strip(), kind=kind, lead=lead, body=text)


_LAYOUT_STEMS = frozenset(lexical.stem(w) for w in messages.LAYOUT_WORDS)


def quotable(sentence: str) -> bool:
    """Leftovers of page layout ("page.", "See page.") say nothing on their own; they stay in the passage."""
    return len([t for t in lexical.terms(sentence) if t not in _LAYOUT_STEMS]) >= 2


def heads_a_paragraph(chunk, i: int) -> bool:
    """Sentence i is a question that opens a paragraph of its passage ("**Can I drive with
    whiplash?**" above its answer): the page's own question, which answers nothing. A question
    within a paragraph ("Ask your GP: is this safe for me?") may be quoted."""
    text = chunk.text
    return bool(QUESTION.search(text[slice(*chunk.sentences[i])])) and opens_a_paragraph(text, chunk.sentences, i)


def pick_sentences(hit: Hit, query_terms: set[str], limit: int, term_bonus: float,
                   closest_first: bool = False) -> list[int]:
    """The passage sentences closest to the question, kept in reading order; with closest_first, the
    closest one leads (the reply's first sentence answers) unless it belongs to a list, which is read
    whole under its lead-in, or opens by pointing back ("This reduces strain…").

    Closeness is the sentence's cosine similarity, nudged by the words it shares with the question.
    """
    sentences = hit.chunk.sentence_texts()
    candidates = [i for i, s in enumerate(sentences) if quotable(s) and not heads_a_paragraph(hit.chunk, i)] \
        or list(range(len(sentences)))
    dense = hit.sentence_scores or (0.0,) * len(sentences)

    def closeness(i: int) -> float:
        return dense[i] + term_bonus * len(query_terms & lexical.term_set(sentences[i]))

    best = sorted(sorted(candidates, key=lambda i: (-closeness(i), i))[:limit])
    lead = max(best, key=lambda i: (closeness(i), -i)) if best else None
    if (closest_first and lead is not None and not hit.chunk.is_list_item(lead)
            and not _introduces_list(hit.chunk, lead) and not _refers_back(sentences[lead])):
        return [lead] + [i for i in best if i != lead]
    return best


_REFERRING = frozenset(lexical.read_lines("referring_words.txt"))


def _refers_back(sentence: str) -> bool:
    """"This reduces strain…": a sentence that opens by pointing back to the one before it."""
    words = lexical.words(sentence)
    return bool(words) and words[0] in _REFERRING


def select_passages(hits: list[Hit], max_citations: int, support_ratio: float, dense_gap: float,
                    floor: float) -> list[Hit]:
    """The best passage and the runners-up that answer the question too: close to it in fused score
    and in meaning (their closest sentence within dense_gap of the best one's, or the passage read
    whole as close as the best one, and above the scope floor). A passage whose text another
    document already gave is cited once."""
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
        # A passage that reads, whole, at least as close as the best one is close too, whatever its
        # closest sentence: "why is going down stairs worse?" is answered by a paragraph on the forces
        # on the knee, none of whose sentences alone is as near as the tips on stairs.
        near = h.dense >= top.dense - dense_gap or (h.passage > 0.0 and h.passage >= top.passage)
        close = near and (h.dense >= floor or top.dense < floor)
        if h.score >= support_ratio * top.score and close:
            chosen.append(h)
            seen.add(key)
    return chosen


def acute_first(chosen: list[Hit], question_terms: frozenset[str], index: "Index") -> list[Hit]:
    """For a fresh injury, the content's own acute-pain note leads the citations, when it speaks of
    what the question is about (one of its words: a sprained ankle in a library that also covers
    backs is not told about acute back pain)."""
    note = index.acute_note
    if note is None or not question_terms & lexical.passage_term_set(note.chunk.heading, note.chunk.text):
        return chosen
    rest = [h for h in chosen if h.chunk.chunk_id != note.chunk.chunk_id]
    return [note] + rest[: index.settings.retrieval.max_citations - 1]


def name_words(words: tuple[str, ...], typed: str = "") -> str:
    """"glaucoma", "Wi-Fi or router", "hip replacement": the words a refusal names as not covered, as
    the user typed them, each with the body part it follows ("hip replacement", not "replacement")."""
    from .vocabulary import BODY_PARTS

    def as_typed(word: str) -> str:
        found = re.search(r"(?:\b([^\W\d_]+)\s+)?(?<![\w'])(" + re.escape(word) + r")(?![\w'])", typed, re.IGNORECASE)
        if not found:
            return word
        before = found.group(1)
        return f"{before} {found.group(2)}" if before and before.lower() in BODY_PARTS else found.group(2)

    words = tuple(as_typed(w) for w in dict.fromkeys(words))[:3]
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


def _with_lists(chunk, picked: list[int], list_items: int) -> list[int]:
    """The picked sentences in reading order (but the first, when it is a plain sentence), with a
    quoted list item's lead-in before it, and a quoted lead-in's list after it (up to list_items
    items): a list is read whole, under the sentence that introduces it."""
    out: list[int] = []
    for i in picked:
        if chunk.is_list_item(i):
            lead = _lead_in(chunk, i)
            if lead is not None:
                out += [lead] + _items_after(chunk, lead, list_items)
        elif _introduces_list(chunk, i):
            out += _items_after(chunk, i, list_items)
        out.append(i)
    ordered = sorted(dict.fromkeys(out))
    first = picked[0] if picked else None  # a closest sentence put first (pick_sentences) stays first
    if first is None or chunk.is_list_item(first) or _introduces_list(chunk, first):
        return ordered
    return [first] + [i for i in ordered if i != first]


def _items_after(chunk, lead: int, limit: int) -> list[int]:
    items, j = [], lead + 1
    while j < len(chunk.sentences) and chunk.is_list_item(j) and len(items) < limit:
        items.append(j)
        j += 1
    return items


def _lead_in(chunk, i: int) -> int | None:
    """The sentence that introduces the list item i ("Other symptoms include:"), when the passage has it."""
    j = i - 1
    while j >= 0 and chunk.is_list_item(j):
        j -= 1
    return j if j >= 0 and _introduces_list(chunk, j) else None


def _introduces_list(chunk, i: int) -> bool:
    """"Symptoms include:": a sentence that ends with a colon leads into what follows."""
    s, e = chunk.sentences[i]
    return chunk.text[s:e].rstrip().endswith(":")


def _lay_out(quoted: list[tuple[str, bool, int]]) -> str:
    """Quoted sentences run on as prose, a paragraph per source; list items stay a list, one bullet each."""
    out, previous, source = "", None, None
    for text, item, number in quoted:
        new_source = source is not None and number != source
        if item:
            out += ("\n\n" if new_source or (out and not previous) else "\n" if out else "") + "- " + text
        else:
            out += ("\n\n" if previous or new_source else " " if out else "") + text
        previous, source = item, number
    return out


def compose(hits: list[Hit], query_terms: set[str], lead_sentences: int, term_bonus: float, list_items: int,
            support_sentences: int = 1, acute: bool = False, notice: str = "", asked: str = "") -> Answer:
    """Builds the reply; every sentence in it is quoted from a cited passage or is a fixed template.
    When the quoted sentences do not say what `asked` asks for (how often...), the lead says so."""
    citations, quoted, said = [], [], set()
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        citations.append(Citation(number, chunk.text, chunk.cited_as, chunk.chunk_id, round(hit.score, 4),
                                  chunk.doc_id, chunk.paragraph, safe_text.web_url(chunk.url)))
        limit = lead_sentences if number == 1 else support_sentences
        sentences = chunk.sentence_texts()
        picked = pick_sentences(hit, query_terms, limit, term_bonus, closest_first=number == 1)
        for i in _with_lists(chunk, picked, list_items):
            if _same_text(sentences[i]) not in said:  # no sentence is quoted twice
                said.add(_same_text(sentences[i]))
                quoted.append((f"{safe_text.markdown_text(sentences[i])} [{number}]", chunk.is_list_item(i), number))

    caveats = [messages.ACUTE_CAVEAT, messages.GRADUAL_CAVEAT]
    caveat_block = messages.CAVEATS_HEADING + "\n" + "\n".join(f"- {c}" for c in caveats)
    body = _lay_out(quoted)
    missing = lexical.not_said(asked, body) if asked else ""
    lead = "\n\n".join(filter(None, [f"_{notice}_" if notice else "",
                                      messages.NOT_SAID.format(what=missing) if missing else ""]))
    sources = messages.SOURCES_HEADING + "\n" + "\n".join(
        f"{c.number}. {safe_text.markdown_text(c.source)} (paragraph {c.paragraph}{', ' + c.url if c.url else ''}): "
        f"\u201c{safe_text.markdown_text(' '.join(c.text.split()))}\u201d"
        for c in citations)
    return Answer(
        text=arrange(acute, lead, body, caveat_block, sources), citations=citations, caveats=caveats, in_scope=True,
        kind="answer",
        lead=lead, body=body, acute=acute, not_said=missing,
    )
