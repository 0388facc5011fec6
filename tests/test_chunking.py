import json

from bot.chunking import chunk_document, message_sentence_spans, sentence_spans
from bot.corpus import parse_document
from bot.settings import Settings
from conftest import CORPUS, PROJECT

CHUNKING = Settings().build.chunker_config()


def chunks_of(text, doc_id="doc.txt", **kw):
    return chunk_document(parse_document(doc_id, text), **{**CHUNKING, **kw})


def test_sentences_split_at_full_stops():
    text = "Exercise helps. Stretching helps too! Does walking help? Yes."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Exercise helps.", "Stretching helps too!", "Does walking help?", "Yes."]


def test_abbreviations_do_not_end_a_sentence():
    text = "Try gentle activity, e.g. walking or swimming, every day. Rest when needed."
    spans = [text[s:e] for s, e in sentence_spans(text)]
    assert spans == ["Try gentle activity, e.g. walking or swimming, every day.", "Rest when needed."]
    text = "Use the legs, i.e. bend the knees, and so on etc. when lifting."
    assert len(sentence_spans(text)) == 1


def test_title_is_first_line_and_is_not_a_chunk():
    doc = parse_document("back-exercises.txt", (CORPUS / "back-exercises.txt").read_text(encoding="utf-8"))
    assert doc.title == "Back Exercises Pictures"
    assert all("Back Exercises Pictures" not in c.text for c in chunk_document(doc, **CHUNKING))


def test_markdown_heading_is_the_title_and_blank_lines_split_paragraphs():
    doc = parse_document("a.md", "# Sitting well\n\nSit tall.\nKeep feet flat.\n\n## More\n\nStand up often.\n")
    assert doc.title == "Sitting well"
    assert [doc.text[p.start:p.end] for p in doc.paragraphs] == ["Sit tall.\nKeep feet flat.", "Stand up often."]


def test_chunks_stay_inside_one_paragraph_and_keep_their_span():
    text = "Title\nFirst paragraph one. First paragraph two.\nSecond paragraph.\n"
    doc = parse_document("d.txt", text)
    chunks = chunk_document(doc, **{**CHUNKING, "join_chars": 0})
    assert [c.paragraph for c in chunks] == [1, 2]
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.title == "Title"


def test_chunks_respect_the_size_bound_and_lose_no_sentence():
    sentences = [f"Sentence number {i} talks about the spine and the core muscles." for i in range(40)]
    text = "Title\n" + " ".join(sentences) + "\n"
    chunks = chunks_of(text, max_chars=300, max_sentences=5)
    assert len(chunks) > 1
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(len(c.sentences) <= 5 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(sentences)


def test_an_overlong_sentence_is_cut_at_word_boundaries():
    text = "Title\n" + " ".join(["word"] * 400) + ".\n"
    chunks = chunks_of(text, max_chars=200)
    assert all(len(c.text) <= 200 for c in chunks)
    assert sum(c.text.count("word") for c in chunks) == 400


def test_chunk_ids_are_stable_and_change_only_with_their_text():
    text = "Title\nAlpha one. Alpha two.\nBeta one.\n"
    first, again = chunks_of(text, join_chars=0), chunks_of(text, join_chars=0)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    edited = chunks_of(text.replace("Beta one.", "Beta one, edited."), join_chars=0)
    assert first[0].chunk_id == edited[0].chunk_id
    assert first[1].chunk_id != edited[1].chunk_id
    assert first[0].chunk_id.startswith("doc.txt#p1.1-")


def test_real_corpus_chunks_are_focused():
    doc = parse_document("back-exercises.txt", (CORPUS / "back-exercises.txt").read_text(encoding="utf-8"))
    chunks = chunk_document(doc, **CHUNKING)
    assert len(chunks) >= len(doc.paragraphs)
    assert all(len(c.text) <= 600 for c in chunks)


def test_chat_messages_split_into_the_sentences_punkt_finds():
    """Messages are split without loading NLTK while answering; on every message of our eval sets
    and the off-topic bank the split is Punkt's."""
    messages = [json.loads(line)["question"] for f in sorted((PROJECT / "eval").glob("*.jsonl"))
                for line in f.read_text().splitlines() if line.strip()]
    messages += (PROJECT / "bot" / "data" / "offtopic_questions.txt").read_text().splitlines()
    messages += ["Dr. Smith said rest. Is that right?", "It hurts... a lot. Help!", 'He said "rest." I did.',
                 "My back hurts!! What now?", "Was it e.g. a disc? Or a muscle?"]
    assert len(messages) > 200
    differ = [m for m in messages if message_sentence_spans(m) != sentence_spans(m)]
    assert differ == []
    assert len(message_sentence_spans("I lifted a box. Now my back hurts! Should I rest?")) == 3


def test_a_list_run_into_one_sentence_is_read_item_by_item():
    text = ("Desk work\n\nWays to protect your back at a desk include Raising your screen so that its top is at eye level; "
            "Keeping both feet flat on the floor or on a footrest; Standing up and walking about for a few "
            "minutes every half hour; Using a chair that supports the small of your back.\n\n"
            "Common causes include Strain; Sprain; Poor posture; Arthritis.\n")
    first, second = chunks_of(text, join_chars=0)
    assert first.sentence_texts() == [
        "Ways to protect your back at a desk include Raising your screen so that its top is at eye level;",
        "Keeping both feet flat on the floor or on a footrest;",
        "Standing up and walking about for a few minutes every half hour;",
        "Using a chair that supports the small of your back."]
    assert second.sentence_texts() == ["Common causes include Strain; Sprain; Poor posture; Arthritis."]  # names
    dose = "Doses\n\nTake one tablet; two if the pain is bad; no more than eight in a day; never more.\n"
    assert len(chunks_of(dose)[0].sentence_texts()) == 1  # short clauses: "two if the pain is bad" means nothing alone
    assert len(chunks_of(text, list_item_words=0, join_chars=0)[0].sentence_texts()) == 1


def test_a_short_paragraph_is_one_passage_with_its_neighbours_in_its_section():
    text = ("# Running again\n\n## Before your first run\n\nBefore your first run, do these tests without pain:\n\n"
            "1. Walk briskly for 30 minutes.\n2. Hop on the injured leg 10 times.\n\n"
            "If any of these tests hurt, keep working on your strength exercises and try again.\n\n"
            "## The pain scale\n\nMild pain up to 3 out of 10 is acceptable.\n")
    doc = parse_document("run.md", text)
    first, second = chunk_document(doc, **CHUNKING)
    assert first.text.startswith("Before your first run") and first.text.endswith("try again.")
    assert first.sentence_texts() == [
        "Before your first run, do these tests without pain:", "Walk briskly for 30 minutes.",
        "Hop on the injured leg 10 times.",
        "If any of these tests hurt, keep working on your strength exercises and try again."]
    assert first.is_list_item(1) and not first.is_list_item(3)
    assert (first.paragraph, first.section, doc.text[first.start:first.end]) == (1, "Before your first run", first.text)
    assert second.section == "The pain scale"  # never across a heading
    assert len(chunk_document(doc, **{**CHUNKING, "join_chars": 0})) == 3


def test_only_short_paragraphs_join_and_never_past_one_passage():
    long_one = "Sitting well matters, because a slumped back strains the muscles and ligaments of the spine. " * 3
    long_two = "Standing up and walking about every half an hour gives those muscles and ligaments a rest. " * 3
    assert len(chunks_of(f"Title\n{long_one.strip()}\n{long_two.strip()}\n")) == 2  # neither is short
    shorts = "\n".join(f"Short paragraph number {i} about the back." for i in range(30))
    chunks = chunks_of(f"Title\n{shorts}\n")
    assert 1 < len(chunks) < 30 and all(len(c.text) <= CHUNKING["max_chars"] for c in chunks)


def test_headings_and_questions_open_passages_of_their_own():
    # A line with no sentence's end is a heading of a plain-text page: it joins nothing.
    plain = chunks_of("Title\nStretching exercises\nStretch gently every day.\n")
    assert [c.text for c in plain] == ["Stretching exercises", "Stretch gently every day."]
    faq = ("# Whiplash\n\n**Can I drive with whiplash?**\n\nOnly when you can turn your head fully.\n\n"
           "**Can I go to work?**\n\nMost people can.\n")
    chunks = chunk_document(parse_document("faq.md", faq), **CHUNKING)
    assert [c.text for c in chunks] == ["**Can I drive with whiplash?**\n\nOnly when you can turn your head fully.",
                                        "**Can I go to work?**\n\nMost people can."]
    # The question on its answer's line, or wrapped over two lines, opens a passage all the same.
    inline = "# FAQ\n\n**Can I drive?** Only when you can turn your head.\n\n**Can I go to work?** Most people can.\n"
    assert len(chunk_document(parse_document("f.md", inline), **CHUNKING)) == 2
    wrapped = ("# FAQ\n\nRest for a day.\n\n**Why does my neck hurt more\nthe day after?**\n\n"
               "Muscles stiffen overnight.\n")
    assert [c.text[:5] for c in chunk_document(parse_document("w.md", wrapped), **CHUNKING)] == ["Rest ", "**Why"]


def test_a_question_alone_leads_its_answer_however_long():
    answer = " ".join(f"Sentence {i} of a long answer about driving after a neck injury, and when it is safe."
                      for i in range(8))
    doc = parse_document("faq.md", f"# FAQ\n\n**Can I drive with whiplash?**\n\n{answer}\n")
    chunks = chunk_document(doc, **CHUNKING)
    assert chunks[0].text.startswith("**Can I drive with whiplash?**\n\nSentence 0")
    assert len(chunks) > 1 and all(len(c.text) <= CHUNKING["max_chars"] for c in chunks)
    assert "".join(c.text for c in chunks).count("Sentence") == 8


def test_paragraphs_join_only_within_one_section_and_one_page():
    text = "# Page\n\n## Tips\n\nSit tall.\n\n## Tips\n\nStand often.\n"
    assert len(chunk_document(parse_document("t.md", text), **CHUNKING)) == 2  # a heading lies between
    doc = parse_document("l.md", "# Leaflet\n\nSit tall.\n\nStand often.\n")
    assert len(chunk_document(doc, **CHUNKING)) == 1
    second_page = doc.text.index("Stand")
    paged = parse_document("l.pdf.md", doc.text, markdown=True, title="Leaflet", pages=((0, 1), (second_page, 2)))
    assert [c.page for c in chunk_document(paged, **CHUNKING)] == [1, 2]
