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
MAX_UNPACKED_BYTES = 200_000_000  # a Word document (a zip) that unpacks to more is refused: a zip bomb
MIN_PAGE_WORDS = 3  # a page with less main text ("Loading…") was rendered by a script
_LIST_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25aa\u25cf]|\d{1,2}[.)])\s+")


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
    html = trafilatura.utils.decode_file(raw)  # its declared or detected encoding, not only UTF-8
    text = trafilatura.extract(_without_noscript(html), output_format="markdown", include_formatting=True, include_links=False,
                               include_comments=False, include_images=False, favor_recall=True)
    if not text or len(text.split()) < MIN_PAGE_WORDS:
        raise Unreadable(f"skipped {doc_id}: the page has no text to quote (a page built by a script, or only "
                         "navigation); save the page as the browser shows it, or its text as .md")
    meta = trafilatura.extract_metadata(html)
    return Converted(_tidy_markdown(text), (meta.title or "") if meta else "", (meta.url or "") if meta else "")


def _without_noscript(html: str) -> str:
    """The page without its <noscript> blocks ("Please enable JavaScript" is not content), in one
    pass: after the last closing tag, unclosed blocks lose only their opening tags."""
    lowered, out, at = html.lower(), [], 0
    while True:
        start = lowered.find("<noscript", at)
        end = lowered.find("</noscript", start) if start >= 0 else -1
        if end < 0:
            break
        out.append(html[at:start])
        close = lowered.find(">", end)
        at = close + 1 if close >= 0 else len(html)
    out.append(re.sub(r"(?i)<noscript\b[^>]*>", " ", html[at:]))
    return "".join(out)


_INLINE = (re.compile(r"(?<!\w)(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1(?!\w)"), re.compile(r"(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)"))


def _tidy_markdown(text: str) -> str:
    """trafilatura's markdown with inline marks (bold, italics, code) dropped: content is quoted as
    plain text."""
    lines = []
    for line in text.splitlines():
        for pattern in _INLINE * 2:  # bold around italics, and the other way round
            line = pattern.sub(r"\2", line)
        lines.append(line.replace("\\*", "*").rstrip())
    return "\n".join(lines).strip() + "\n"


# ---- DOCX ---------------------------------------------------------------------------------------

def from_docx(doc_id: str, raw: bytes) -> Converted:
    """Headings and lists from the document's styles ("Heading 2", "List Bullet", numbered
    paragraphs); the title from the "Title" paragraph or the document's properties."""
    import zipfile

    import docx

    unreadable = (f"{doc_id} is not a Word document that can be read ({{}}): open it in Word and save it "
                  "again as .docx, or remove it from the corpus")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise CorpusError(f"{doc_id} unpacks to {unpacked / 1e6:.0f} MB, over the {MAX_UNPACKED_BYTES / 1e6:.0f} MB "
                              "a Word document may take: save it again without embedded media, or split it")
        document = docx.Document(io.BytesIO(raw))
        items = list(_docx_items(document))
    except CorpusError:
        raise
    except Exception as e:  # noqa: BLE001 - zip, XML and zlib errors alike: the file is named
        raise CorpusError(unreadable.format(type(e).__name__)) from None
    title, blocks = (document.core_properties.title or "").strip(), []
    for paragraph in items:
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
    return Converted(_join_blocks(blocks)[0], title)


def _docx_items(document):
    """The document's paragraphs in order, a table's cell by cell (row by row)."""
    body = document.iter_inner_content() if hasattr(document, "iter_inner_content") else document.paragraphs
    for item in body:
        if hasattr(item, "rows"):
            for row in item.rows:
                for cell in row.cells:
                    yield from cell.paragraphs
        else:
            yield item


def _join_blocks(blocks: list[str]) -> tuple[str, list[int]]:
    """Blocks one after another: a blank line between them, none between the items of one list; and
    where each block starts."""
    out, starts = "", []
    for block in blocks:
        joined = block.startswith("- ") and out.rstrip("\n").rsplit("\n", 1)[-1].startswith("- ")
        out += "\n" if joined else "\n\n" if out else ""
        starts.append(len(out))
        out += block
    return out + "\n", starts


# ---- PDF ----------------------------------------------------------------------------------------

def from_pdf(doc_id: str, raw: bytes, max_pages: int) -> Converted:
    """Text in reading order (pdfplumber), one paragraph per block of lines set close together;
    headings where the PDF marks them by a larger type size or its outline; where each page starts."""
    import pdfplumber
    from pypdf import PdfReader

    for name in ("pdfminer", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable(f"skipped {doc_id}: the PDF is encrypted with a password; save a copy without one")
        count = len(reader.pages)
        title = _real_title(str((reader.metadata or {}).get("/Title") or ""))
    except Unreadable:
        raise
    except Exception as e:  # noqa: BLE001 - pypdf raises many kinds on a damaged file; it is named
        raise CorpusError(f"{doc_id} is not a PDF that can be read ({type(e).__name__}): save it again as PDF, "
                          "or remove it from the corpus") from None
    if count > max_pages:
        raise CorpusError(f"{doc_id} has {count} pages, over the {max_pages}-page limit for one file "
                          "(Settings.build.max_pdf_pages): split it, or raise the limit")
    try:
        with pdfplumber.open(io.BytesIO(raw), password="") as pdf:
            pages = []
            for page in pdf.pages:  # each page's lines, summed up, then its characters let go
                pages.append([{"text": _pdf_line_text(line["text"]), "top": line["top"], "bottom": line["bottom"],
                               "size": _size(line)} for line in page.extract_text_lines(return_chars=True, strip=True)])
                page.close()
    except Exception as e:  # noqa: BLE001 - pdfminer raises many kinds; the file is named either way
        raise CorpusError(f"{doc_id} is not a PDF that can be read ({type(e).__name__}): save it again as PDF, "
                          "or remove it from the corpus") from None
    if not any(line["text"].strip() for lines in pages for line in lines):
        raise Unreadable(f"skipped {doc_id}: the PDF has no text layer (a scan or images only); run it through "
                         "OCR, or add its text as .md")
    text, starts = _pdf_markdown(pages)
    return Converted(text, title, "", starts)


def _real_title(title: str) -> str:
    """A PDF's title property, unless it is the name of the file it was printed from ("Microsoft
    Word - leaflet.docx"): then the first heading serves."""
    title = " ".join(title.split())
    if re.match(r"(?i)^(microsoft \w+ - |untitled)", title) or re.search(r"(?i)\.(docx?|pdf|html?|odt|txt)$", title):
        return ""
    return title


def _pdf_line_text(text: str) -> str:
    """A line as text: a soft hyphen that ends it is a hyphen to join on; other invisible and control
    characters go (before offsets are counted)."""
    from .safe_text import plain

    text = text.rstrip()
    if text.endswith("\u00ad"):
        text = text[:-1] + "-"
    return " ".join(plain(text).split())


def _size(line: dict) -> float:
    sizes = [round(c["size"], 1) for c in line.get("chars", ()) if c["text"].strip()]
    return Counter(sizes).most_common(1)[0][0] if sizes else 0.0


def _pdf_markdown(pages: list[list[dict]]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Lines → paragraphs: a new block where the gap above a line is half the body's type size or
    more, at a heading (type larger than the body's) and at a list bullet. A word broken by a
    hyphen at the end of a line is joined again."""
    body = Counter(line["size"] for lines in pages for line in lines for _ in range(len(line["text"])))
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

    previous_heading = None
    for number, lines in enumerate(pages, start=1):
        previous = None
        if current and current[-1].rstrip().endswith((".", "!", "?", ":")):
            close()  # a paragraph that ended with its page; one that runs on keeps its first page
        for line in lines:
            text = line["text"]
            if not text:
                continue
            size = line["size"]
            if size in heading_sizes:
                close()
                level = "#" * min(heading_sizes.index(size) + 1, 6)
                if previous_heading == (level, number) and blocks:  # a heading wrapped onto two lines
                    blocks[-1] = (blocks[-1][0] + " " + text, number)
                else:
                    blocks.append((level + " " + text, number))
                previous, previous_heading = None, (level, number)
                continue
            previous_heading = None
            gap = line["top"] - previous["bottom"] if previous is not None else None
            bullet = _LIST_BULLET.match(text)
            if bullet or (gap is not None and gap > split):
                close()
            if not current:
                current_page = number
            current.append("- " + text[bullet.end():] if bullet else text)
            previous = line
    close()
    text, offsets = _join_blocks([block for block, _ in blocks])
    starts = []
    for offset, (_, page) in zip(offsets, blocks):
        if not starts or starts[-1][1] != page:
            starts.append((offset, page))
    return text, tuple(starts)


def _joined_lines(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        if text.endswith("-") and not text.endswith(" -") and line[:1].islower():
            text = text[:-1] + line  # "exer-" + "cise"
        else:
            text += " " + line
    return text
