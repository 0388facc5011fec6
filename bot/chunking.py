"""Documents → chunks: whole sentences of one paragraph (or of a run of short ones in one section), a
few at a time, with stable ids."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from .corpus import LIST_MARK, Document, Paragraph

# Punkt learns abbreviations from training data we cannot download, so we teach it the common ones.
ABBREVIATIONS = (
    "e.g", "i.e", "etc", "vs", "approx", "dr", "mr", "mrs", "ms", "prof", "st", "no", "fig",
    "min", "max", "cf", "al", "incl", "esp", "resp", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "wk", "hr", "hrs", "mins", "sec",
)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # document path + paragraph position + content hash: stable while the text is
    doc_id: str
    title: str
    paragraph: int
    start: int  # character span in the document text
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # sentence spans, relative to the chunk text
    url: str = ""  # the document's source address, when its front matter names one
    section: str = ""  # the headings the passage stands under, within its document
    page: int = 0  # the PDF page its paragraph starts on (0: not a PDF)

    @property
    def heading(self) -> str:
        """Where the passage stands: "Slipped disc › Symptoms" (the title alone outside any section)."""
        return f"{self.title} \u203a {self.section}" if self.section else self.title

    @property
    def cited_as(self) -> str:
        """The heading a citation shows, with the page in a PDF ("Leaflet › Exercises, page 3"); the
        page is never searched."""
        return f"{self.heading}, page {self.page}" if self.page else self.heading

    def sentence_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.sentences]

    def embedded_texts(self) -> list[str]:
        """What the model reads for each sentence: the sentence where it stands (see `in_context`)."""
        return [in_context(self.title, self.section, s) for s in self.sentence_texts()]

    def passage_text(self) -> str:
        """What the model reads for the passage whole (for the re-ranker): where it stands, then its text."""
        return passage_text(self.title, self.section, self.text)

    def is_list_item(self, i: int) -> bool:
        """Sentence i begins an item of a markdown list ("- ...", "2. ...")."""
        return is_list_item(self.text, self.sentences[i][0])


def passage_text(title: str, section: str, text: str) -> str:
    """A passage read whole, under its title and headings ("Cold › Symptoms: A cold comes on…")."""
    return f"{title} \u203a {section}: {text}" if section else f"{title}: {text}"


def in_context(title: str, section: str, sentence: str) -> str:
    """A sentence under a section heading is read with its title and headings ("Cold › Symptoms:
    a sore throat"), so "a sore throat" is found for "what are the symptoms of a cold"; a sentence
    outside any section is read as written."""
    return f"{title} \u203a {section}: {sentence}" if section else sentence




def is_list_item(text: str, start: int) -> bool:
    """Whether the sentence starting here opens a list item (its marker sits just before it on its line)."""
    line_start = text.rfind("\n", 0, start) + 1
    mark = LIST_MARK.match(text[line_start:start])
    return bool(mark) and mark.end() == start - line_start


def paragraph_sentence_spans(text: str, list_item_words: int = 0) -> list[tuple[int, int]]:
    """Sentences of a paragraph; each list item is read on its own, without its marker, so items
    never run into each other or into the lead-in before them (and so, with `list_item_words`, is
    each item of a list run into a sentence with semicolons: `list_items`)."""
    spans, run_start, pos = [], None, 0
    lines = text.split("\n")

    def flush(end: int) -> None:
        if run_start is not None and end > run_start:
            spans.extend((run_start + s, run_start + e) for s, e in sentence_spans(text[run_start:end], list_item_words))

    for line in lines:
        mark = LIST_MARK.match(line)
        if mark:
            flush(pos - 1 if pos else 0)
            run_start = None
            item = pos + mark.end()
            spans.extend((item + s, item + e) for s, e in sentence_spans(text[item:pos + len(line)], list_item_words))
        elif run_start is None:
            run_start = pos
        pos += len(line) + 1
    flush(len(text))
    return spans


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=1)
def sentence_tokenizer():
    # Imported here: NLTK's package import brings scipy and scikit-learn, which answering never needs.
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def sentence_spans(text: str, list_item_words: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of a text, trimmed of surrounding whitespace; with `list_item_words`, a list
    run into one sentence with semicolons is read item by item (`list_items`)."""
    spans = _trimmed(text, sentence_tokenizer().span_tokenize(text))
    return [piece for span in spans for piece in list_items(text, *span, list_item_words)]


def list_items(text: str, start: int, end: int, min_words: int) -> list[tuple[int, int]]:
    """A list flattened into one sentence ("Examples include Adjusting your keyboard to …; Being sure
    that your chair …; Learning the right way to lift …;"), item by item, each with its semicolon,
    when it runs two semicolons or more (outside brackets) and its items are phrases: the lower
    median of the items' lengths, after the first (which carries the lead-in) and without any words
    after the last semicolon, is `min_words` or more. So an item is found, and quoted, without the
    others. A list of names ("include Headache; Low back strain; Cancer;") or of short clauses ("Take
    200 mg; 400 mg if severe; up to 1200 mg a day;") stays one sentence, and a short item stays with
    the one before it. Else, or with `min_words` 0, the sentence."""
    if not min_words:
        return [(start, end)]
    cuts, depth = [], 0
    for k, ch in enumerate(text[start:end]):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == ";" and depth <= 0:
            cuts.append(k + 1)
    if len(cuts) < 2:
        return [(start, end)]
    pieces, begin = [], start
    for cut in cuts + [end - start]:
        if start + cut > begin:
            pieces.append((begin, start + cut))
            begin = start + cut
    pieces = _trimmed(text, pieces)
    items = [(a, b) for a, b in pieces[1:] if text[b - 1] == ";"]
    lengths = sorted(len(text[a:b].split()) for a, b in items)
    if not lengths or lengths[(len(lengths) - 1) // 2] < min_words:
        return [(start, end)]
    kept: list[tuple[int, int]] = []
    for a, b in pieces:
        if kept and len(text[a:b].split()) < min_words:
            kept[-1] = (kept[-1][0], b)
        else:
            kept.append((a, b))
    if len(kept) > 1 and len(text[kept[0][0]:kept[0][1]].split()) < min_words:
        kept[:2] = [(kept[0][0], kept[1][1])]
    return kept


def _trimmed(text: str, spans) -> list[tuple[int, int]]:
    """The spans without their surrounding whitespace; empty ones dropped."""
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


# A sentence of a chat message ends at . ! ? or … (and any closing quote or bracket) before a space.
_MESSAGE_STOP = re.compile(r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s|$)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def message_sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a short chat message, as `sentence_spans` finds them in content, without
    loading Punkt while answering: a stop after a known abbreviation or a lone initial is no end."""
    spans, start = [], 0
    for m in _MESSAGE_STOP.finditer(text):
        before = _WORD_BEFORE.search(text, start, m.start())
        word = before.group(1).lower().rstrip(".") if before and m.group()[:2] in (".", '."', ".'", ".)") else ""
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha() and m.end() < len(text)):
            continue
        after = text[m.end():].lstrip()[:1]
        if (m.group().startswith("..") or "\u2026" in m.group()) and after.islower():
            continue  # "it hurts... a lot" goes on
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    return _trimmed(text, spans)


def split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cuts an over-long sentence at word boundaries so no chunk exceeds the size bound."""
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def pack(spans: list[tuple[int, int]], max_chars: int, max_sentences: int) -> list[list[tuple[int, int]]]:
    """Groups consecutive sentences into balanced chunks within both bounds (no tiny trailing chunk)."""
    if not spans:
        return []
    total = spans[-1][1] - spans[0][0]
    n_groups = max(-(-total // max_chars), -(-len(spans) // max_sentences), 1)
    while True:
        target = total / n_groups
        groups: list[list[tuple[int, int]]] = [[]]
        for span in spans:
            group = groups[-1]
            if group:
                width = span[1] - group[0][0]
                if width > max_chars or len(group) >= max_sentences or (
                    span[0] - group[0][0] >= target and len(groups) < n_groups
                ):
                    groups.append([])
            groups[-1].append(span)
        if len(groups) <= n_groups or n_groups >= len(spans):
            return groups
        n_groups += 1


def chunk_document(doc: Document, max_chars: int, max_sentences: int, list_item_words: int = 0,
                   join_chars: int = 0) -> list[Chunk]:
    chunks = []
    for first, last, spans in _passage_runs(doc, max_chars, list_item_words, join_chars):
        ptext = doc.text[first.start:last.end]
        # A run of paragraphs is one passage by its length (a list's items count as sentences only
        # within one paragraph), unless a question alone leads a long answer: that is packed as one
        # paragraph is.
        joined = first is not last and last.end - first.start <= max_chars
        sentences = max(max_sentences, len(spans)) if joined else max_sentences
        for k, group in enumerate(pack(spans, max_chars, sentences)):
            cs, ce = group[0][0], group[-1][1]
            if is_list_item(ptext, cs):  # a passage that opens on a list item keeps its marker
                cs = ptext.rfind("\n", 0, cs) + 1
            text = ptext[cs:ce]
            digest = text_hash(text)[:10]
            chunks.append(Chunk(
                chunk_id=f"{doc.doc_id}#p{first.number}.{k + 1}-{digest}",
                doc_id=doc.doc_id,
                title=doc.title,
                paragraph=first.number,
                start=first.start + cs,
                end=first.start + ce,
                text=text,
                sentences=tuple((s - cs, e - cs) for s, e in group),
                url=doc.url,
                section=first.section,
                page=first.page,
            ))
    return chunks


_ENDS_A_SENTENCE = re.compile(r"(?:[.!?:;\u2026\uff1f])[)\]\"'\u201d\u2019*_]*\s*$")
# A question: "**Can I drive with whiplash?" (Punkt leaves the closing "**" as a sentence of its own).
QUESTION = re.compile(r"[?\uff1f][!?\u2026)\]\"'\u201d\u2019*_\s]*$")


def opens_a_paragraph(text: str, spans, i: int) -> bool:
    """Sentence i of a text starts a paragraph of it: the first, or after a line break."""
    return i == 0 or "\n" in text[spans[i - 1][1]:spans[i][0]]


@dataclass(frozen=True)
class _Block:
    """One paragraph as joining reads it."""
    para: Paragraph
    spans: list[tuple[int, int]]  # its sentences, relative to its start
    chars: int  # its length without surrounding whitespace
    ends: bool  # ends as a sentence or a list does (a heading does not)
    asks: bool  # opens with a question
    only_asks: bool  # is that question and nothing else


def _block(doc: Document, para, max_chars: int, list_item_words: int) -> _Block:
    ptext = doc.text[para.start:para.end]
    spans = []
    for s, e in paragraph_sentence_spans(ptext, list_item_words):
        spans.extend(split_long(ptext, s, e, max_chars))
    # A list ends on an item, one wrapped over lines too: its last line that is not indented.
    last_line = ([line for line in ptext.rstrip().split("\n") if line[:1].strip()] or [""])[-1]
    ends = bool(_ENDS_A_SENTENCE.search(ptext) or LIST_MARK.match(last_line))
    asks = bool(spans) and bool(QUESTION.search(ptext[spans[0][0]:spans[0][1]]))
    only_asks = asks and all(QUESTION.search(ptext[a:b]) or not re.search(r"\w", ptext[a:b]) for a, b in spans)
    return _Block(para, spans, len(ptext.strip()), ends, asks, only_asks)


def _passage_runs(doc: Document, max_chars: int, list_item_words: int, join_chars: int):
    """(first paragraph, last paragraph, sentence spans relative to the first's start): each paragraph
    on its own, or with `join_chars`, a paragraph this short run together with its neighbours of the
    same section (and page) while together they are no longer than one passage: "If any of these
    tests hurt, keep working on your strength exercises" after the list of tests, or "Leave a gap of
    2 to 4 hours…" before "This is especially important for: iron tablets…", are read, found and
    quoted together. A line without a sentence's end ("Stretching exercises" in a plain-text page, a
    heading) never joins. A paragraph that opens with a question ("**Can I drive with whiplash?**" in
    a page of questions and answers) opens a passage of its own, and a paragraph that is only that
    question is one passage with the paragraph after it, however long (packed as one paragraph is):
    the question never stands alone."""
    runs: list[list[_Block]] = []
    for para in doc.paragraphs:
        block = _block(doc, para, max_chars, list_item_words)
        if join_chars and runs and _joins(doc.text, runs[-1], block, max_chars, join_chars):
            runs[-1].append(block)
        else:
            runs.append([block])
    for run in runs:
        first = run[0].para
        spans = [(b.para.start - first.start + s, b.para.start - first.start + e) for b in run for s, e in b.spans]
        yield first, run[-1].para, spans


def _joins(text: str, run: list[_Block], block: _Block, max_chars: int, join_chars: int) -> bool:
    last = run[-1]
    if (block.para.section != last.para.section or block.para.page != last.para.page
            or text[last.para.end:block.para.start].strip()  # only blank lines between
            or not (block.ends and last.ends) or block.asks):
        return False
    if len(run) == 1 and last.only_asks:  # a question alone, and the paragraph that answers it
        return True
    if min(block.chars, last.chars) > join_chars:
        return False
    return block.para.end - run[0].para.start <= max_chars
