"""Corpus files → documents: every .txt, .md, .html, .pdf and .docx file under the corpus folder is
one document (the last three read by bot/readers.py)."""
from __future__ import annotations

import hashlib
from bisect import bisect_right
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError
from .readers import CONVERTED_SUFFIXES, convert
from .safe_text import plain, web_url

DOCUMENT_SUFFIXES = (".txt", ".md") + CONVERTED_SUFFIXES
# Example questions that come with the content, one per line, in any folder of the corpus; they are
# offered to visitors and checked by each build, and are never indexed as a document.
EXAMPLES_FILE = "examples.txt"
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_FRONT_MATTER = re.compile(r"^---[ \t]*\n")
_FRONT_MATTER_END = re.compile(r"^---[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Paragraph:
    number: int  # 1-based, in reading order
    start: int  # character span in the document text
    end: int
    section: str = ""  # the markdown headings it stands under ("Symptoms › In children"), the title's left out
    page: int = 0  # the PDF page it starts on (0: not a PDF)


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the corpus folder, with forward slashes
    title: str
    text: str  # the body: front matter is metadata, never quoted
    sha256: str
    paragraphs: tuple[Paragraph, ...]
    url: str = ""  # the page's source address, from front matter


def _content_files(corpus_dir: Path, warnings: list[str] | None = None) -> list[Path]:
    """Document and example files in a stable order. Hidden files and folders are skipped.

    Symbolic links are followed while their target lies inside the corpus folder; a link that
    points outside it, a broken link and a link that loops back are skipped, each with a warning.
    A file name that is not valid UTF-8 stops the build with a message naming it."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir} (create it and add .md, .txt, .html, .pdf or .docx files)")
    root = os.path.realpath(corpus_dir)
    warn = warnings.append if warnings is not None else (lambda _msg: None)
    seen, files = set(), []

    def unreadable(error: OSError) -> None:
        where = Path(error.filename or corpus_dir)
        rel = where.relative_to(corpus_dir).as_posix() if where != corpus_dir and _inside(str(where), str(corpus_dir)) else str(where)
        raise CorpusError(f"cannot read the folder {rel}/ ({error.strerror or error}): give the user running the build "
                          "permission to read it (chmod a+rx), or move it out of the corpus") from None

    for dirpath, dirnames, filenames in os.walk(corpus_dir, followlinks=True, onerror=unreadable):
        real = os.path.realpath(dirpath)
        rel = Path(dirpath).relative_to(corpus_dir).as_posix()
        if real in seen:
            warn(f"skipped {rel}/: a link that loops back to a folder already read")
            dirnames[:] = []
            continue
        if not _inside(real, root):
            warn(f"skipped {rel}/: a link to a folder outside the corpus ({real})")
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in DOCUMENT_SUFFIXES:
                continue
            path = Path(dirpath) / name
            _check_name(path, corpus_dir)
            rel_file = path.relative_to(corpus_dir).as_posix()
            target = os.path.realpath(path)
            if not os.path.isfile(target):
                warn(f"skipped {rel_file}: a broken link")
            elif not _inside(target, root):
                warn(f"skipped {rel_file}: a link to a file outside the corpus ({target})")
            else:
                files.append(path)
    return sorted(files, key=lambda p: p.relative_to(corpus_dir).as_posix())


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_name(path: Path, corpus_dir: Path) -> None:
    try:
        str(path.relative_to(corpus_dir)).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path.relative_to(corpus_dir)).decode("utf-8", "backslashreplace")
        raise CorpusError(f"the file name {shown!r} is not valid UTF-8: rename it, then run "
                          "`python build_index.py` again") from None


def corpus_files(corpus_dir: Path, warnings: list[str] | None = None) -> list[Path]:
    """Document files in a stable order."""
    return [p for p in _content_files(corpus_dir, warnings) if p.name.lower() != EXAMPLES_FILE]


def example_files(corpus_dir: Path) -> list[Path]:
    return [p for p in _content_files(corpus_dir) if p.name.lower() == EXAMPLES_FILE]


def example_questions(corpus_dir: Path) -> list[str]:
    """The content's example questions, in file order, without duplicates."""
    questions = []
    for path in example_files(corpus_dir):
        doc_id = path.relative_to(corpus_dir).as_posix()
        try:
            with _opened(path) as f:
                text = f.read().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise CorpusError(f"{doc_id} is not valid UTF-8 (byte {e.start}): save it as UTF-8") from None
        questions.extend(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
    return list(dict.fromkeys(questions))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with _opened(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _opened(path: Path):
    """The file opened for reading; one the build may not read stops it with its name and the fix
    (not a message about the index)."""
    try:
        return open(path, "rb")
    except PermissionError as e:
        raise CorpusError(f"cannot read {path} ({e.strerror}): give the user running the build permission to "
                          "read it (chmod a+r), or move it out of the corpus") from None


def corpus_hashes(corpus_dir: Path) -> dict[str, str]:
    """doc_id → sha256 of the file's bytes: what the manifest compares to find stale content."""
    corpus_dir = Path(corpus_dir)
    return {p.relative_to(corpus_dir).as_posix(): file_sha256(p) for p in _content_files(corpus_dir)}


def read_document(path: Path, corpus_dir: Path, max_bytes: int | None = None,
                  warnings: list[str] | None = None, max_pages: int = 1000) -> Document:
    """Reads one file; a file that is not UTF-8 text (or a PDF or Word document that cannot be read)
    stops the build with its name, so no content is dropped silently, and so does one over the size
    limit. A PDF, Word document or web page with no text to quote raises readers.Unreadable (skipped
    with a warning). Invisible characters are removed, control characters become spaces."""
    doc_id = Path(path).relative_to(corpus_dir).as_posix()
    size = Path(path).stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise CorpusError(f"{doc_id} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit for one file "
                          "(Settings.max_file_bytes): split it into smaller documents, or raise the limit")
    with _opened(path) as f:
        raw = f.read()
    sha = hashlib.sha256(raw).hexdigest()
    if doc_id.lower().endswith(CONVERTED_SUFFIXES):
        found = convert(doc_id, raw, max_pages)
        return parse_document(doc_id, plain(found.text), sha, warnings, markdown=True, title=found.title,
                              url=found.url, pages=found.pages)
    if b"\x00" in raw:
        raise CorpusError(f"{doc_id} is not a text file (it contains NUL bytes, as archives and other binary files "
                          "do): remove it from the corpus or save it as plain text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{doc_id} is not valid UTF-8 (byte {e.start}): save it as UTF-8, then run `python build_index.py`"
        ) from None
    text = plain(text.replace("\r\n", "\n").replace("\r", "\n"))
    return parse_document(doc_id, text, sha, warnings)


def split_front_matter(doc_id: str, text: str) -> tuple[dict, str]:
    """YAML front matter (title, source, ...) and the body; a file without it is all body."""
    if not _FRONT_MATTER.match(text):
        return {}, text
    import frontmatter
    import yaml

    if not _FRONT_MATTER_END.search(text, text.index("\n") + 1):
        raise CorpusError(f"{doc_id} starts front matter with --- but never closes it: add a line with --- after "
                          "the title and source lines (or remove the first ---), then run `python build_index.py`")
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise CorpusError(f"{doc_id} has unreadable front matter{where}: fix the YAML between the --- lines, "
                          "then run `python build_index.py`") from None
    if not isinstance(post.metadata, dict):
        raise CorpusError(f"{doc_id} has front matter that is not a list of fields (like `title: ...` and "
                          "`source: https://...`): fix it, then run `python build_index.py`")
    return post.metadata, post.content


def parse_document(doc_id: str, text: str, sha256: str = "", warnings: list[str] | None = None,
                   markdown: bool | None = None, title: str = "", url: str = "",
                   pages: tuple[tuple[int, int], ...] = ()) -> Document:
    """Title from front matter, else the first line (a markdown heading loses its #); each later
    paragraph is cited by number.

    In .txt files every non-empty line is a paragraph (the content's own layout); in .md files a
    paragraph is a block between blank lines and headings. Converted formats (readers.py) come as
    markdown, with their title, address and page starts.
    """
    meta, text = split_front_matter(doc_id, text) if markdown is None else ({}, text)
    given = _meta_text(meta, "source") or _meta_text(meta, "url") or _one_line(url)
    url = web_url(given)
    if given and not url and warnings is not None:
        warnings.append(f"{doc_id}: its source {given[:80]!r} is not a web address (http or https); "
                        "its citations have no link")
    title = _meta_text(meta, "title") or _one_line(title)
    lines = _line_spans(text)
    body_lines = lines
    if not title:
        for i, (s, e) in enumerate(lines):
            if text[s:e].strip():
                title = _MD_HEADING.sub("", text[s:e]).strip()
                body_lines = lines[i + 1:]
                break
    is_markdown = doc_id.lower().endswith(".md") if markdown is None else markdown
    blocks: list[tuple[int, int, str]] = []
    current: list[tuple[int, int]] = []
    headings: list[tuple[int, str]] = []  # the open headings: (level, text)

    def section() -> str:
        return " \u203a ".join(h for _, h in headings if h.lower() != title.lower())

    for s, e in body_lines:
        line = text[s:e]
        heading = is_markdown and _MD_HEADING.match(line)
        if not line.strip() or heading:
            if current:
                blocks.append((current[0][0], current[-1][1], section()))
                current = []
            if heading:
                level = len(line.strip()) - len(line.strip().lstrip("#"))
                headings[:] = [h for h in headings if h[0] < level] + [(level, _heading_text(line))]
            continue
        if is_markdown:
            current.append((s, e))
        else:
            blocks.append((s, e, ""))
    if current:
        blocks.append((current[0][0], current[-1][1], section()))
    blocks = _lists_with_lead_ins(text, blocks)
    paragraphs = tuple(Paragraph(n, s, e, sec, _page_at(pages, s)) for n, (s, e, sec) in enumerate(blocks, start=1))
    return Document(doc_id=doc_id, title=title or doc_id, text=text, sha256=sha256, paragraphs=paragraphs, url=url)


def _page_at(pages: tuple[tuple[int, int], ...], offset: int) -> int:
    """The page of a PDF that the text at `offset` is on (0 outside a PDF)."""
    k = bisect_right([start for start, _ in pages], offset)
    return pages[k - 1][1] if k else 0


# A markdown list item's marker at the start of a line ("- ", "* ", "2. "); chunking.py reads it too.
LIST_MARK = re.compile(r"^[ \t]*(?:[-*+\u2022]|\d{1,2}[.)])[ \t]+")


def _lists_with_lead_ins(text: str, blocks: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """A list and the sentence that introduces it ("Symptoms include:") are one paragraph, even with
    a blank line between them, so the list is quoted under its lead-in."""
    out: list[tuple[int, int, str]] = []
    for s, e, sec in blocks:
        if out and out[-1][2] == sec and text[out[-1][0]:out[-1][1]].rstrip().endswith(":") \
                and LIST_MARK.match(text[s:e]):
            out[-1] = (out[-1][0], e, sec)
        else:
            out.append((s, e, sec))
    return out


def _heading_text(line: str) -> str:
    """A markdown heading's words: no #s, no closing #s, no emphasis marks."""
    words = _MD_HEADING.sub("", line).strip().rstrip("#").strip()
    return " ".join(words.replace("**", "").replace("__", "").split())


def _meta_text(meta: dict, key: str) -> str:
    return _one_line(meta.get(key))


def _one_line(value) -> str:
    """A title or address as one line of plain text ("" for anything that is not a string or number)."""
    return " ".join(plain(str(value)).split()) if isinstance(value, (str, int, float)) else ""


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans
