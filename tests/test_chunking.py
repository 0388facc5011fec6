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
    chunks = chunk_document(doc, **CHUNKING)
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
    first, again = chunks_of(text), chunks_of(text)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    edited = chunks_of(text.replace("Beta one.", "Beta one, edited."))
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
    first, second = chunks_of(text)
    assert first.sentence_texts() == [
        "Ways to protect your back at a desk include Raising your screen so that its top is at eye level;",
        "Keeping both feet flat on the floor or on a footrest;",
        "Standing up and walking about for a few minutes every half hour;",
        "Using a chair that supports the small of your back."]
    assert second.sentence_texts() == ["Common causes include Strain; Sprain; Poor posture; Arthritis."]  # names
    dose = "Doses\n\nTake one tablet; two if the pain is bad; no more than eight in a day; never more.\n"
    assert len(chunks_of(dose)[0].sentence_texts()) == 1  # short clauses: "two if the pain is bad" means nothing alone
    assert len(chunks_of(text, list_item_words=0)[0].sentence_texts()) == 1
