"""Content as owners keep it → the markdown the corpus reads: web pages (HTML), PDF leaflets and Word
documents (DOCX) become headings, paragraphs and list items, with their title and address; a PDF also
says where each page starts, for citations ("Leaflet › Exercises, page 3"). One well-kept library per
format: trafilatura (HTML), pdfplumber on pypdf (PDF), python-docx (DOCX).

A file that cannot be read (corrupt) stops the build with its name; one that has no text to quote (a
scanned PDF without a text layer, an encrypted PDF, a page that is only a script) is skipped with a
warning naming it (`Unreadable`), as an empty text file is.
"""
from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass

from .errors import CorpusError

CONVERTED_SUFFIXES = (".html", ".htm", ".pdf", ".docx")
_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
MIN_PAGE_WORDS = 3  # a page with less main text ("Loading…") was rendered by a script
_LIST_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25aa\u25cf\u2013]|\d{1,2}[.)])\s+")


@dataclass(frozen=True)
class Converted:
    text: str  # markdown: "#" headings, paragraphs between blank lines, "- " list items
    title: str = ""
    url: str = ""
    pages: tuple[tuple[int, int], ...] = ()  # (character offset in text, page number), in order


class Unreadable(Exception):
    """A file with no text to quote: skipped, with this message as the build's warning."""


def convert(doc_id: str, raw: bytes, max_pages: int) -> Converted:
    suffix = doc_id.lower().rsplit(".", 1)[-1]
    if suffix in ("html", "htm"):
        return from_html(doc_id, raw)
    if suffix == "pdf":
        return from_pdf(doc_id, raw, max_pages)
    if suffix == "docx":
        return from_docx(doc_id, raw)
    raise ValueError(f"no reader for {doc_id}")


# ---- HTML ---------------------------------------------------------------------------------------

def from_html(doc_id: str, raw: bytes) -> Converted:
    """The page's main text without navigation, footers or scripts (trafilatura); the title from its
    metadata (`<title>`, og:title or `<h1>`), the address from `<link rel=canonical>` or og:url."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    html = raw.decode("utf-8", errors="replace") if not raw.startswith(b"\xef\xbb\xbf") else raw[3:].decode("utf-8", "replace")
    html = _NOSCRIPT.sub(" ", html)  # "Please enable JavaScript" is not content
    text = trafilatura.extract(html, output_format="markdown", include_formatting=True, include_links=False,
                               include_comments=False, include_images=False, favor_recall=True)
    if not text or len(text.split()) < MIN_PAGE_WORDS:
        raise Unreadable(f"skipped {doc_id}: the page has no text to quote (a page built by a script, or only "
                         "navigation); save the page as the browser shows it, or its text as .md")
    meta = trafilatura.extract_metadata(html)
    return Converted(_tidy_markdown(text), (meta.title or "") if meta else "", (meta.url or "") if meta else "")


def _tidy_markdown(text: str) -> str:
    """trafilatura's markdown with emphasis marks dropped (content is quoted as plain text)."""
    lines = [re.sub(r"(\*\*|__)(.+?)\1", r"\2", line).rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip() + "\n"


# ---- DOCX ---------------------------------------------------------------------------------------

def from_docx(doc_id: str, raw: bytes) -> Converted:
    """Headings and lists from the document's styles ("Heading 2", "List Bullet", numbered
    paragraphs); the title from the "Title" paragraph or the document's properties."""
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as e:
        raise CorpusError(f"{doc_id} is not a Word document that can be read ({type(e).__name__}): open it in Word "
                          "and save it again as .docx, or remove it from the corpus") from None
    title, blocks = (document.core_properties.title or "").strip(), []
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "").lower()
        if style == "title":
            title = title or text
        elif style.startswith("heading"):
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            blocks.append("#" * min(level, 6) + " " + text)
        elif style.startswith("list") or paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None:
            blocks.append("- " + _LIST_BULLET.sub("", text))
        else:
            blocks.append(text)
    if not blocks:
        raise Unreadable(f"skipped {doc_id}: the document has no text")
    return Converted(_join_blocks(blocks), title)


def _join_blocks(blocks: list[str]) -> str:
    """Blocks one after another: a blank line between them, none between the items of one list."""
    out = ""
    for block in blocks:
        joined = block.startswith("- ") and out.rstrip("\n").rsplit("\n", 1)[-1].startswith("- ")
        out += ("\n" if joined else "\n\n" if out else "") + block
    return out + "\n"


# ---- PDF ----------------------------------------------------------------------------------------

def from_pdf(doc_id: str, raw: bytes, max_pages: int) -> Converted:
    """Text in reading order (pdfplumber), one paragraph per block of lines set close together;
    headings where the PDF marks them by a larger type size or its outline; where each page starts."""
    import pdfplumber
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    for name in ("pdfminer", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable(f"skipped {doc_id}: the PDF is encrypted with a password; save a copy without one")
        count = len(reader.pages)
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise CorpusError(f"{doc_id} is not a PDF that can be read ({type(e).__name__}): save it again as PDF, "
                          "or remove it from the corpus") from None
    if count > max_pages:
        raise CorpusError(f"{doc_id} has {count} pages, over the {max_pages}-page limit for one file "
                          "(Settings.build.max_pdf_pages): split it, or raise the limit")
    try:
        with pdfplumber.open(io.BytesIO(raw), password="") as pdf:
            pages = [page.extract_text_lines(return_chars=True, strip=True) for page in pdf.pages]
    except Exception as e:  # noqa: BLE001 - pdfminer raises many kinds; the file is named either way
        raise CorpusError(f"{doc_id} is not a PDF that can be read ({type(e).__name__}): save it again as PDF, "
                          "or remove it from the corpus") from None
    if not any(line["text"].strip() for lines in pages for line in lines):
        raise Unreadable(f"skipped {doc_id}: the PDF has no text layer (a scan or images only); run it through "
                         "OCR, or add its text as .md")
    text, starts = _pdf_markdown(pages)
    return Converted(text, title, "", starts)


def _size(line: dict) -> float:
    sizes = [round(c["size"], 1) for c in line.get("chars", ()) if c["text"].strip()]
    return Counter(sizes).most_common(1)[0][0] if sizes else 0.0


def _pdf_markdown(pages: list[list[dict]]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Lines → paragraphs: a new block where the gap above a line is half the body's type size or
    more, at a heading (type larger than the body's) and at a list bullet. A word broken by a
    hyphen at the end of a line is joined again."""
    body = Counter(_size(line) for lines in pages for line in lines for _ in range(len(line["text"])))
    body_size = body.most_common(1)[0][0] if body else 0.0
    heading_sizes = sorted({s for s in body if s >= body_size * 1.15}, reverse=True)
    # Lines of one paragraph sit about a fifth of the type size apart; paragraphs are set further
    # apart (a blank line, or at least half the type size).
    split = 0.5 * body_size if body_size else 6.0
    blocks: list[tuple[str, int]] = []  # (markdown block, page)
    current: list[str] = []
    current_page = 1

    def close():
        nonlocal current
        if current:
            blocks.append((_joined_lines(current), current_page))
            current = []

    for number, lines in enumerate(pages, start=1):
        previous = None
        if current and current[-1].rstrip().endswith((".", "!", "?", ":")):
            close()  # a paragraph that ended with its page; one that runs on keeps its first page
        for line in lines:
            text = " ".join(line["text"].split())
            if not text:
                continue
            size = _size(line)
            if size in heading_sizes:
                close()
                blocks.append(("#" * (heading_sizes.index(size) + 1) + " " + text, number))
                previous = None
                continue
            gap = line["top"] - previous["bottom"] if previous is not None else None
            bullet = _LIST_BULLET.match(text)
            if bullet or (gap is not None and gap > split):
                close()
            if not current:
                current_page = number
            current.append("- " + text[bullet.end():] if bullet else text)
            previous = line
    close()
    out, starts = "", []
    for block, page in blocks:
        joined = block.startswith("- ") and out.rstrip("\n").rsplit("\n", 1)[-1].startswith("- ")
        out += ("\n" if joined else "\n\n" if out else "")
        if not starts or starts[-1][1] != page:
            starts.append((len(out), page))
        out += block
    return out + "\n", tuple(starts)


def _joined_lines(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        if text.endswith("-") and not text.endswith(" -") and line[:1].islower():
            text = text[:-1] + line  # "exer-" + "cise"
        else:
            text += " " + line
    return text
