"""Text → search terms for BM25: lowercase words, no stopwords, Snowball stems, lay-word expansion."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from nltk.stem.snowball import SnowballStemmer

DATA = Path(__file__).resolve().parent / "data"
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_STEMMER = SnowballStemmer("english")


def _read_lines(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


STOPWORDS = frozenset(w.strip() for w in _read_lines("stopwords.txt"))


def _load_synonyms() -> dict[str, tuple[str, ...]]:
    """Keyed by stem, so "hunch", "hunched" and "hunching" all find the content's words."""
    table: dict[str, tuple[str, ...]] = {}
    for line in _read_lines("synonyms.tsv"):
        word, _, terms = line.partition("\t")
        key = _STEMMER.stem(word.strip())
        table[key] = table.get(key, ()) + tuple(t for t in terms.split() if t not in table.get(key, ()))
    return table


SYNONYMS = _load_synonyms()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stem(word)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def terms(text: str) -> list[str]:
    """Stems of the content words of a text, as indexed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def query_terms(text: str) -> list[str]:
    """Terms of a question: its own content words plus the content's words for everyday ones."""
    out = []
    for w in words(text):
        if w in STOPWORDS:
            continue
        root = stem(w)
        out.append(root)
        out.extend(stem(extra) for extra in SYNONYMS.get(root, ()) if extra not in STOPWORDS and stem(extra) != root)
    return out
