"""Text → search terms for BM25: lowercase words, no stopwords, Snowball stems, lay-word expansion."""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

import snowballstemmer

DATA = Path(__file__).resolve().parent / "data"
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# The Snowball project's own English stemmer (in C through PyStemmer). Answering need not import
# NLTK (and the scipy and scikit-learn its package imports), which costs a second and 140 MB.
_STEMMER = snowballstemmer.stemmer("english")
_STEMMER_LOCK = threading.Lock()  # the stemmer keeps its working state on the object
_LEMMAS_LOCK = threading.Lock()  # lemminflect loads its word lists on first use


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)


def read_lines(name: str) -> list[str]:
    """The non-empty, non-comment lines of a data file."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


STOPWORDS = frozenset(w.strip() for w in read_lines("stopwords.txt"))


def _load_synonyms() -> dict[str, tuple[str, ...]]:
    """Lay word → standard words, as written in the table."""
    table: dict[str, tuple[str, ...]] = {}
    for line in read_lines("synonyms.tsv"):
        word, _, terms = line.partition("\t")
        word = word.strip().lower()
        table[word] = table.get(word, ()) + tuple(t for t in terms.split() if t not in table.get(word, ()))
    return table


SYNONYM_WORDS = _load_synonyms()
# Keyed by stem, so "hunch", "hunched" and "hunching" all find the content's words.
SYNONYMS: dict[str, tuple[str, ...]] = {}
for _word, _extras in SYNONYM_WORDS.items():
    _key = stem(_word)
    SYNONYMS[_key] = SYNONYMS.get(_key, ()) + tuple(t for t in _extras if t not in SYNONYMS.get(_key, ()))



@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """How common a word is in general English: 0 to about 7.5 ("the"). From wordfreq's small list,
    which loads in a tenth of the time of the large one: it is exact from Zipf 3 up and reads 0
    below, and every threshold that reads it (salient words, common words, red-flag slips) is 3.5
    or more, where both lists agree word for word."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en", wordlist="small")


@lru_cache(maxsize=65536)
def commoner_in_english(word: str, others: tuple[str, ...]) -> float:
    """The word's Zipf frequency in English, or 0 when it is at least as common in one of the other
    languages (wordfreq's small lists): "la", "mi" and "male" are Italian before they are English."""
    from wordfreq import zipf_frequency

    english = zipf(word)
    return english if all(zipf_frequency(word, lang, wordlist="small") < english for lang in others) else 0.0


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """The 82,765 words of an edited English word list (symspellpy's, counted in books), or nothing
    where the package no longer ships it."""
    import symspellpy

    path = Path(symspellpy.__file__).resolve().parent / "frequency_dictionary_en_82_765.txt"
    try:
        with path.open(encoding="utf-8") as f:
            return frozenset(line.split(" ", 1)[0] for line in f if line.strip())
    except OSError:
        return frozenset()


def in_dictionary(word: str) -> bool:
    """Whether an edited word list has the word: web text counts common misspellings as words
    ("excercise", "recieve"), a dictionary does not; slang and brands it lacks ("glutes", "naproxen")
    are told apart by frequency instead. Without the list, every word counts as listed."""
    listed = _dictionary()
    return not listed or word in listed


@lru_cache(maxsize=65536)
def names_a_thing(word: str) -> bool:
    """Whether a word (a phrase's last word) can name a thing: a noun ("glaucoma", "wine", "burst"),
    an activity ("kayaking", "dry needling"), or a word no English word list has (a medicine, a
    brand, slang: "tramadol", "zirtek"). Not "recover", "calms" or "safest", which only tell what is
    done or how: a refusal that named them ("My pages don't cover recover") would name no topic.
    From lemminflect's word lists, loaded by the first question naming a salient word that the
    passages found lack (`scope.unsaid_things`) or the first refusal that names words (0.3 s; not at
    start-up); without them, every word counts as one (said once in the log)."""
    last = (word.split() or [""])[-1].lower()
    try:
        with _LEMMAS_LOCK:  # its lists load on first use
            from lemminflect import getAllLemmas

            kinds = getAllLemmas(last)
    except Exception as e:  # noqa: BLE001 - a missing or damaged package must never fail a reply
        from .embedding import say_once

        say_once(f"lemminflect is not usable ({type(e).__name__}): refusals name every unknown word")
        return True
    # An "-ing" form names the activity ("is kayaking ok with sciatica?").
    return not kinds or "NOUN" in kinds or ("VERB" in kinds and last.endswith("ing"))


@lru_cache(maxsize=65536)
def zipf_rare(word: str) -> float:
    """The same from the large list, which still tells a rare word (Zipf 1 to 3) from a non-word."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def terms(text: str) -> list[str]:
    """Stems of the content words of a text, as indexed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


@lru_cache(maxsize=4096)  # a few MB at most: the passages questions keep finding
def term_set(text: str) -> frozenset[str]:
    """The terms of a text as a set, kept: a passage (its text, its heading) is read again by every
    question that finds it, by the re-ranker, scope and answerability alike."""
    return frozenset(terms(text))


def passage_term_set(heading: str, text: str) -> frozenset[str]:
    """`passage_terms` as a set."""
    return term_set(heading) | term_set(text)


def query_terms(text: str) -> list[str]:
    """Terms of a question: its own content words plus the standard words for everyday ones."""
    return terms(text) + lay_expansions(text)


def lay_expansions(text: str) -> list[str]:
    """The standard words' stems for a text's everyday words ("tummy" → abdomen): a guess, so
    searches weigh them below the words typed."""
    out = []
    for root in terms(text):
        out.extend(stem(extra) for extra in SYNONYMS.get(root, ()) if extra not in STOPWORDS and stem(extra) != root)
    return out


def passage_terms(heading: str, text: str) -> list[str]:
    """What BM25 indexes for a passage: its words and where it stands (its document's title and
    section), since a passage often leaves its topic unsaid ("Treatments include exercise" on a page
    titled "Osteoarthritis", under "Treatment")."""
    return terms(heading) + terms(text)


@lru_cache(maxsize=1)
def question_types() -> tuple[tuple[str, "re.Pattern", "re.Pattern"], ...]:
    """(what is asked, how a question asks it, what a sentence saying it has): data/question_types.tsv."""
    rows = []
    for line in read_lines("question_types.tsv"):
        parts = line.split("\t")
        if len(parts) == 3:
            rows.append((parts[0].strip(), re.compile(parts[1], re.I), re.compile(parts[2], re.I)))
    return tuple(rows)


def not_said(question: str, body: str) -> str:
    """What the question asks for that the quoted sentences do not say ("how often"), or ""."""
    for what, asks, says in question_types():
        if asks.search(question) and not says.search(body):
            return what
    return ""
