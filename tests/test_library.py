"""A library of our own (tests/fixtures/library: .md with front matter and .txt): scope, retrieval,
source addresses and example questions come from the content, not from lists in code."""
import shutil
from dataclasses import replace

import pytest

from bot import BackCareBot
from bot.build import build_index
from bot.settings import Settings
from conftest import PROJECT

LIBRARY = PROJECT / "tests" / "fixtures" / "library"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(LIBRARY, root / "corpus")
    s = replace(Settings(), corpus_dir=root / "corpus", index_dir=root / "index")
    report = build_index(s, progress=False, log=lambda *_: None)
    return report, BackCareBot.load(index_dir=s.index_dir, corpus_dir=s.corpus_dir)


def test_front_matter_gives_title_and_url_and_is_never_quoted(library):
    _, bot = library
    answer = bot.ask("What is sciatica?")
    assert answer.in_scope
    first = answer.citations[0]
    assert first.source == "Sciatica" and first.url == "https://example.org/back-care/sciatica"
    assert first.url in answer.text
    for c in bot.index.passages.chunks:
        assert "---" not in c.text and "title:" not in c.text and "source:" not in c.text


def test_page_shows_each_source_with_its_title_link_and_quoted_sentences_marked(library):
    from ui.render import reply_html

    _, bot = library
    answer = bot.ask("What is sciatica?")
    shown = reply_html(answer, bot.examples)
    first = answer.citations[0]
    assert f"[1] {first.source}, paragraph {first.paragraph}</summary>" in shown
    assert f'<a href="{first.url}" target="_blank" rel="noopener">{first.url}</a>' in shown
    assert '<a href="#source-1" class="cite"' in shown and "<mark>" in shown
    assert first.chunk_id in shown


def test_txt_document_keeps_its_first_line_as_title_and_has_no_url(library):
    _, bot = library
    answer = bot.ask("How should I lift a heavy box?")
    assert answer.citations[0].source == "Lifting Without Strain" and answer.citations[0].url == ""


def test_medicines_are_answered_when_the_content_covers_them(library):
    _, bot = library
    answer = bot.ask("Can ibuprofen help sciatica?")
    assert answer.in_scope and "ibuprofen" in answer.body


@pytest.mark.parametrize("question,word", [
    ("What is the best treatment for glaucoma?", "glaucoma"),
    ("How do I reset my wifi router?", None),
    ("what stretches help a sore ankle", "ankle"),
])
def test_uncovered_subjects_are_declined_by_name(library, question, word):
    _, bot = library
    answer = bot.ask(question)
    assert not answer.in_scope and not answer.citations
    if word:
        assert f"don't cover {word}" in answer.text


def test_typos_and_apostrophe_free_contractions_are_understood(library):
    _, bot = library
    assert "sciatic nerve" in bot.ask("whats sciatca?").citations[0].text
    first = "How should I lift a heavy box?"
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": bot.ask(first).text}]
    follow = bot.ask("what if its too heavy for me?", history=history)
    assert follow.in_scope and any("Split a heavy load" in c.text for c in follow.citations)


def test_chat_shorthand_is_read_as_the_words_it_stands_for(library):
    _, bot = library
    mend = bot.index.vocabulary.mend
    assert mend("how high shud my seat be, ppl say 2 hrs max") == "how high should my seat be, people say 2 hours max"
    # Shorthand that is also a word in a health chat stays as typed.
    assert mend("a bout of flu till friday") == "a bout of flu till friday"
    plain, short = bot.ask("How high should my seat be?"), bot.ask("how high shud my seat be")
    assert short.in_scope and short.citations[0].chunk_id == plain.citations[0].chunk_id


def test_examples_come_from_the_content_and_are_checked(library):
    report, bot = library
    assert bot.examples == ["How high should my seat be?", "What is sciatica?", "How should I lift a heavy box?"]
    assert report.examples_unanswered == ()
    assert "What is sciatica?" in bot.ask("hello").text


def test_unanswered_example_is_reported_by_the_build(tmp_path):
    shutil.copytree(LIBRARY, tmp_path / "corpus")
    (tmp_path / "corpus" / "examples.txt").write_text("What is sciatica?\nHow do I fix my car?\n", encoding="utf-8")
    s = replace(Settings(), corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    report = build_index(s, progress=False, log=lambda *_: None)
    assert report.examples_unanswered == ("How do I fix my car?",)
    assert "How do I fix my car?" in report.summary()
    assert BackCareBot.load(index_dir=s.index_dir, corpus_dir=s.corpus_dir).examples == ["What is sciatica?"]


def test_scope_calibration_is_recorded_with_its_margins(library):
    report, bot = library
    scope = bot.index.manifest["scope"]
    assert scope["bank_questions"] >= 100
    assert scope["floor"] <= scope["strong"]
    assert scope["margin_strong"] > 0
    assert report.scope == scope


def test_watch_rebuilds_when_a_corpus_file_changes(tmp_path):
    import queue
    import subprocess
    import sys
    import threading
    import time

    shutil.copytree(LIBRARY, tmp_path / "corpus")
    cmd = [sys.executable, "build_index.py", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"), "--watch"]
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(text: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return True
            except queue.Empty:
                pass
        return False

    try:
        assert wait_for("Watching", 120)
        found = False
        for attempt in range(5):  # the watcher may still be starting when the first edit lands
            (tmp_path / "corpus" / "walking.md").write_text(f"# Walking\n\nBrisk walking strengthens the legs ({attempt}).\n",
                                                            encoding="utf-8")
            if wait_for("Built index", 15):
                found = True
                break
        assert found
    finally:
        proc.terminate()
        proc.wait(timeout=30)


FAQ = """---
title: Whiplash questions
---
# Whiplash questions

**Can I drive with whiplash?**

Only when you can turn your head fully to check your blind spots and brake hard without pain. This usually takes a few days to a couple of weeks.

**Why does my neck hurt more the day after the accident?**

Strained muscles stiffen overnight, so the pain often peaks on the second day.

**Should I wear a neck collar?**

No. A collar keeps the neck still, and gentle movement helps it recover sooner.
"""


def test_a_page_of_questions_and_answers_is_read_question_by_question_and_quoted_by_its_answers(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "whiplash-faq.md").write_text(FAQ, encoding="utf-8")
    s = replace(Settings(), corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    build_index(s, progress=False, log=lambda *_: None)
    bot = BackCareBot.load(index_dir=s.index_dir, corpus_dir=s.corpus_dir)
    # Each question opens a passage, with the short answer below it: three passages, not one run.
    passages = [c.text for c in bot.index.passages.chunks]
    assert len(passages) == 3 and all(p.startswith("**") and p.count("?") == 1 for p in passages)
    answer = bot.ask("when can I drive again after whiplash?")
    assert answer.in_scope and answer.citations[0].text.startswith("**Can I drive with whiplash?**")
    # The page's own question is in the citation, but it answers nothing: the quote is the answer.
    assert "Only when you can turn your head fully" in answer.body
    assert "Can I drive with whiplash" not in answer.body
    # The sources list the passage on one line: its blank line would end the markdown list item.
    from bot import safe_text

    assert "\n\n" in answer.citations[0].text
    assert safe_text.markdown_text(" ".join(answer.citations[0].text.split())) in answer.text


def test_a_question_that_heads_a_paragraph_is_not_quoted_but_one_inside_it_may_be():
    from bot.answer import pick_sentences
    from bot.chunking import chunk_document
    from bot.corpus import parse_document
    from bot.retrieval import Hit

    page = "# Neck\n\n**Can I drive?**\n\nOnly when you can turn your head fully. Ask your GP: is it safe for me?\n"
    chunk = chunk_document(parse_document("n.md", page), **Settings().build.chunker_config())[0]
    sentences = chunk.sentence_texts()
    closest_to_the_questions = Hit(chunk, 1.0, 1.0, 0.0, tuple(1.0 if "?" in t else 0.5 for t in sentences))
    picked = [sentences[i] for i in pick_sentences(closest_to_the_questions, set(), 2, 0.0)]
    assert picked == ["Only when you can turn your head fully.", "Ask your GP: is it safe for me?"]
