"""Content as owners keep it: web pages, PDF leaflets and Word documents, made at test time from the
fixture library's text (HTML written here, a PDF printed from it by headless Chromium, a DOCX
written with python-docx), answer as its .md version does; bad files are named and lose nothing."""
import html
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot import BackCareBot, CorpusError, store
from bot.build import build_index
from bot.corpus import read_document, split_front_matter
from bot.readers import Unreadable, from_html
from bot.settings import Settings
from conftest import PROJECT
from test_hardening import assert_clean_error, run_build

LIBRARY = PROJECT / "tests" / "fixtures" / "library"
QUESTIONS = PROJECT / "eval" / "library_questions.jsonl"
QUIET = {"progress": False, "log": lambda *_: None}
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="the PDFs are printed by Debian's chromium")


def markdown_html(body: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt().render(body)


def page_html(title: str, body_html: str, url: str = "", chrome: bool = True) -> str:
    """A web page as a site serves it: navigation and a footer around the main text."""
    canonical = f'<link rel="canonical" href="{html.escape(url)}">' if url else ""
    nav = ('<nav><a href="/">Home</a> <a href="/conditions">Conditions A to Z</a> <a href="/contact">Contact us</a></nav>'
           if chrome else "")
    footer = "<footer><p>Example Health 2026. Cookies. Accessibility statement.</p></footer>" if chrome else ""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>{canonical}</head>'
            f"<body>{nav}<main>{body_html}</main>{footer}</body></html>")


def print_pdfs(pages: dict[Path, str]) -> None:
    """Each page's HTML printed to a PDF by headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page()
            for path, markup in pages.items():
                tab.set_content(markup)
                tab.pdf(path=str(path))
        finally:
            browser.close()


def write_docx(path: Path, title: str, body: str) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for block in body.strip().split("\n\n"):
        if block.startswith("#"):
            document.add_heading(block.lstrip("#").strip(), level=len(block) - len(block.lstrip("#")))
        elif block.startswith("- "):
            for item in block.split("\n"):
                document.add_paragraph(item[2:], style="List Bullet")
        else:
            document.add_paragraph(" ".join(block.split()))
    document.save(path)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> dict[str, Settings]:
    """The fixture library as .md (itself), and with each .md document as HTML, PDF and DOCX."""
    root = tmp_path_factory.mktemp("formats")
    out, pdfs = {}, {}
    for fmt in ("md", "html", "pdf", "docx"):
        corpus = root / fmt / "corpus"
        shutil.copytree(LIBRARY, corpus)
        for md in sorted(corpus.rglob("*.md")):
            meta, body = split_front_matter(md.name, md.read_text(encoding="utf-8"))
            if fmt == "html":
                md.with_suffix(".html").write_text(page_html(meta["title"], markdown_html(body), meta["source"]),
                                                   encoding="utf-8")
            elif fmt == "pdf":
                pdfs[md.with_suffix(".pdf")] = page_html(meta["title"], markdown_html(body), chrome=False)
            elif fmt == "docx":
                write_docx(md.with_suffix(".docx"), meta["title"], body)
            if fmt != "md":
                md.unlink()
        out[fmt] = replace(Settings(), corpus_dir=corpus, index_dir=root / fmt / "index")
    print_pdfs(pdfs)
    for s in out.values():
        build_index(s, **QUIET)
    return out


def top_passages(s: Settings) -> list[tuple]:
    bot = BackCareBot(BackCareBot.load(index_dir=s.index_dir, corpus_dir=s.corpus_dir).index, record_gaps=False)
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    out = []
    for r in rows:
        a = bot.ask(r["question"])
        top = a.citations[0] if a.citations else None
        out.append((r["question"], a.in_scope, a.urgent,
                    (Path(top.doc_id).stem, top.paragraph, " ".join(top.text.split())) if top else None))
    return out


@needs_chromium
@pytest.mark.parametrize("fmt", ["html", "pdf", "docx"])
def test_a_library_as_html_pdf_or_docx_answers_as_its_markdown_does(libraries, fmt):
    expected, got = top_passages(libraries["md"]), top_passages(libraries[fmt])
    assert got == expected


@needs_chromium
def test_citations_carry_title_section_and_page(libraries):
    for fmt, url in (("html", "https://example.org/back-care/sciatica"), ("pdf", ""), ("docx", "")):
        bot = BackCareBot.load(index_dir=libraries[fmt].index_dir, corpus_dir=libraries[fmt].corpus_dir)
        top = bot.ask("How long does sciatica usually last?").citations[0]
        assert top.doc_id == f"sciatica.{fmt}" and top.source.startswith("Sciatica"), top
        assert top.url == url
        assert top.source.endswith(", page 1") == (fmt == "pdf"), top.source


def test_html_main_text_keeps_sections_and_lists_without_navigation(tmp_path):
    body = ("<h1>Slipped disc</h1><p>A slipped disc is when a soft cushion of tissue between the bones in your "
            "spine pushes out.</p><h2>Symptoms</h2><p>Symptoms of a slipped disc include:</p>"
            "<ul><li>lower back pain</li><li>numbness or tingling in your shoulders, back, arms, hands, legs or feet"
            "</li></ul><h2>Treatment</h2><p>Keep active. Gentle exercise such as walking or swimming helps.</p>")
    (tmp_path / "disc.html").write_text(page_html("Slipped disc - Example Health", body,
                                                  "https://example.org/conditions/slipped-disc"), encoding="utf-8")
    doc = read_document(tmp_path / "disc.html", tmp_path)
    assert doc.title.startswith("Slipped disc") and doc.url == "https://example.org/conditions/slipped-disc"
    paragraphs = [(p.section, doc.text[p.start:p.end]) for p in doc.paragraphs]
    assert not any("Cookies" in t or "Contact us" in t for _, t in paragraphs), paragraphs
    assert paragraphs[1] == ("Symptoms", "Symptoms of a slipped disc include:\n\n- lower back pain\n"
                                         "- numbness or tingling in your shoulders, back, arms, hands, legs or feet")
    assert paragraphs[2][0] == "Treatment"
    # a page in another encoding, as its meta tag declares
    page = ('<html><head><meta charset="windows-1252"><title>Caf\u00e9 posture</title></head><body><main>'
            "<p>Sit tall at the caf\u00e9 table, na\u00efve as it sounds, and keep both feet on the floor.</p>"
            "</main></body></html>")
    (tmp_path / "cafe.html").write_bytes(page.encode("cp1252"))
    cafe = read_document(tmp_path / "cafe.html", tmp_path)
    assert "caf\u00e9 table, na\u00efve" in cafe.text


# ---- bad files ----------------------------------------------------------------------------------

@pytest.fixture
def owner(small_corpus) -> Settings:
    build_index(small_corpus, **QUIET)
    return small_corpus


def _pdf_bytes(markup: str, tmp_path: Path) -> bytes:
    path = tmp_path / "made.pdf"
    print_pdfs({path: markup})
    data = path.read_bytes()
    path.unlink()
    return data


@needs_chromium
def test_scanned_and_encrypted_pdfs_are_skipped_by_name_and_the_rest_builds(owner, tmp_path):
    from pypdf import PdfReader, PdfWriter

    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAW"
             "jR9awAAAABJRU5ErkJggg==")
    (owner.corpus_dir / "scan.pdf").write_bytes(_pdf_bytes(
        f'<html><body><img src="{pixel}" style="width:600px;height:800px"></body></html>', tmp_path))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf_bytes(page_html("Leaflet", "<p>Walk every day.</p>",
                                                                             chrome=False), tmp_path))))
    writer.encrypt("secret", algorithm="RC4-128")
    with open(owner.corpus_dir / "locked.pdf", "wb") as f:
        writer.write(f)
    (owner.corpus_dir / "app.html").write_text('<html><head><script src="app.js"></script></head><body>'
                                               '<div id="root"></div></body></html>', encoding="utf-8")
    result = run_build(owner)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for name, why in (("scan.pdf", "no text layer"), ("locked.pdf", "encrypted"), ("app.html", "no text")):
        assert f"skipped {name}" in out and why in out, out
    manifest = store.read_manifest(store.current_build(owner.index_dir))
    assert manifest["counts"]["documents"] == 2


def _zip(parts: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name,data", [("broken.pdf", b"%PDF-1.4\n1 0 obj <<\ngarbage"),
                                       ("broken.docx", b"PK\x03\x04 not really a zip"),
                                       ("badxml.docx", _zip({"[Content_Types].xml": b"<Types><unclosed",
                                                             "word/document.xml": b"<w:document"}))])
def test_a_corrupt_pdf_or_docx_stops_the_build_by_name_and_the_index_stays(owner, name, data):
    before = store.current_build(owner.index_dir)
    (owner.corpus_dir / name).write_bytes(data)
    result = run_build(owner)
    assert_clean_error(result, name, "save it again")
    assert store.current_build(owner.index_dir) == before


@needs_chromium
def test_a_300_page_pdf_builds_under_the_guard_and_one_over_it_stops(owner, tmp_path):
    pages = "".join(f'<p style="page-break-after: always">Page {n}: stand up and stretch your back every half '
                    f"hour, lesson {n}.</p>" for n in range(1, 301))
    (owner.corpus_dir / "long.pdf").write_bytes(_pdf_bytes(page_html("Long leaflet", pages, chrome=False), tmp_path))
    doc = read_document(owner.corpus_dir / "long.pdf", owner.corpus_dir)
    assert len(doc.paragraphs) == 300 and doc.paragraphs[-1].page == 300
    with pytest.raises(CorpusError, match="300 pages, over the 200-page limit"):
        read_document(owner.corpus_dir / "long.pdf", owner.corpus_dir, max_pages=200)


def test_a_script_shell_page_is_unreadable_not_empty_text():
    with pytest.raises(Unreadable, match="skipped app.html"):
        from_html("app.html", b"<html><body><script>render()</script><noscript>Enable JavaScript</noscript></body></html>")


@needs_chromium
def test_a_changed_pdf_re_embeds_only_its_changed_sentences(libraries, tmp_path):
    built = libraries["pdf"]
    shutil.copytree(built.corpus_dir.parent, tmp_path / "pdf")  # a copy: the other tests keep theirs
    s = replace(built, corpus_dir=tmp_path / "pdf" / "corpus", index_dir=tmp_path / "pdf" / "index")
    meta, body = split_front_matter("sciatica.md", (LIBRARY / "sciatica.md").read_text(encoding="utf-8"))
    changed = body.replace("Bed rest for more than a day or two usually slows recovery.",
                           "Staying in bed for days usually slows recovery.")
    assert changed != body
    print_pdfs({s.corpus_dir / "sciatica.pdf": page_html(meta["title"], markdown_html(changed), chrome=False)})
    report = build_index(s, **QUIET)
    # as a changed .md does: the changed passage alone is embedded again (its sentences, not the document's)
    assert report.embedded == 1 and report.reused == report.chunks - 1, report.summary()
    assert report.sentences_embedded < sum(1 for _ in store.read_chunks(store.current_build(s.index_dir)).sentence_texts())
