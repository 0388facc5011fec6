"""What the content could not answer, for its owners: refused questions, disliked answers and
red-flag triggers, in a SQLite file beside the index (`python -m bot gaps` reports them).

Only the question's text (with e-mail addresses, phone numbers, postcodes and long digit runs
redacted), its salient words and the time are kept: nothing about who asked. The writer forgets
events older than the retention period and keeps the file under a size cap, oldest first, and
recreates the file if it is deleted. Writes are safe from many threads and processes at once (WAL, a
busy timeout), and a write that fails is logged and dropped: the answer never waits on the log or
fails with it.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import lexical
from .safe_text import for_terminal, redacted

if TYPE_CHECKING:
    from .answer import Answer
    from .scope import Verdict
    from .understanding import Message
    from .vocabulary import Vocabulary

_log = logging.getLogger("bot.gaps")
FILE_NAME = "gaps.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,          -- seconds since the epoch
    kind TEXT NOT NULL,        -- refused | urgent | disliked | liked
    question TEXT NOT NULL,
    topic TEXT NOT NULL,       -- the question's salient words, space-separated
    chunk_ids TEXT NOT NULL,   -- JSON list: the passages a rated answer quoted
    red_flags TEXT NOT NULL    -- JSON list: the red flags an urgent message reported
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
"""
KINDS = ("refused", "urgent", "disliked", "liked")


@dataclass
class TopicRow:
    word: str
    count: int
    questions: list[str] = field(default_factory=list)


@dataclass
class RatedAnswer:
    chunk_ids: tuple[str, ...]
    count: int
    questions: list[str] = field(default_factory=list)


@dataclass
class GapReport:
    since_days: float | None
    refused: int
    topics: list[TopicRow]
    disliked: list[RatedAnswer]
    liked: int
    urgent: list[tuple[str, int]]


class GapLog:
    """One SQLite file; `path=None` turns the log off (every call then does nothing)."""

    PRUNE_EVERY = 100  # writes between two checks of retention and size

    def __init__(self, path: Path | None, timeout: float = 5.0, keep_days: float | None = 90.0,
                 max_bytes: int | None = 20_000_000):
        self.path = Path(path) if path else None
        self.timeout = timeout
        self.keep_days, self.max_bytes = keep_days, max_bytes
        self._ready = False
        self._lock = threading.Lock()
        self._last_error = ""
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():  # deleted while in use: made again, with its table
            self._ready = False
        con = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            with self._lock:
                if not self._ready:
                    con.execute("PRAGMA journal_mode = WAL")
                    con.executescript(_SCHEMA)
                    self._ready = True
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA journal_size_limit = 1048576")  # the write-ahead log shrinks after a checkpoint
        return con

    def record(self, kind: str, question: str, topic: tuple[str, ...] = (), chunk_ids: tuple[str, ...] = (),
               red_flags: tuple[str, ...] = ()) -> bool:
        """Adds one event; False (and one log line) when it could not be written."""
        if self.path is None:
            return False
        if kind not in KINDS:
            raise ValueError(f"unknown gap kind {kind!r}")
        row = (time.time(), kind, redacted(str(question)), redacted(" ".join(topic)), json.dumps(list(chunk_ids)),
               json.dumps(list(red_flags)))
        try:
            with closing(self._connect()) as con:
                con.execute("INSERT INTO events (at, kind, question, topic, chunk_ids, red_flags) VALUES (?, ?, ?, ?, ?, ?)", row)
                with self._lock:
                    self._writes += 1
                    due = self._writes % self.PRUNE_EVERY == 1
                if due:
                    try:
                        self.prune(con)
                    except sqlite3.Error as e:  # the event is written; forgetting waits for the next turn
                        _log.warning("could not prune the gap log %s: %s", self.path, e)
            return True
        except (sqlite3.Error, OSError) as e:
            if str(e) != self._last_error:  # the same failure is said once, not for every answer
                self._last_error = str(e)
                _log.warning("could not write to the gap log %s: %s", self.path, e)
            return False

    def prune(self, con: sqlite3.Connection) -> None:
        """Forgets events past the retention period, then the oldest while the live pages pass the
        cap. Freed pages are reused by later writes (no VACUUM: it would rewrite the whole file while
        an answer waits), and the write-ahead log is folded back into the file."""
        deleted = 0
        if self.keep_days is not None:
            deleted += con.execute("DELETE FROM events WHERE at < ?", (time.time() - self.keep_days * 86400,)).rowcount
        for _ in range(20 if self.max_bytes is not None else 0):
            used = con.execute("PRAGMA page_count").fetchone()[0] - con.execute("PRAGMA freelist_count").fetchone()[0]
            if used * con.execute("PRAGMA page_size").fetchone()[0] <= self.max_bytes:
                break
            count = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if not count:
                break
            deleted += con.execute("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY at LIMIT ?)",
                                   (max(1, count // 5),)).rowcount
        if deleted:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def events(self, since_days: float | None = None) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        since = time.time() - since_days * 86400 if since_days is not None else 0.0
        if self.keep_days is not None:  # what the writer has yet to forget is not shown either
            since = max(since, time.time() - self.keep_days * 86400)
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM events WHERE at >= ? ORDER BY at", (since,)).fetchall()
        return [dict(r) for r in rows]

    def report(self, since_days: float | None = None, top: int = 20, samples: int = 3) -> GapReport:
        """Refused questions grouped by their salient words (one group per word, by stem, most
        frequent first), disliked answers grouped by the passages they quoted, and red-flag counts."""
        events = self.events(since_days)
        refused = [e for e in events if e["kind"] == "refused"]
        groups: dict[str, list[str]] = defaultdict(list)
        shown: dict[str, Counter] = defaultdict(Counter)
        for e in refused:
            for word in dict.fromkeys(e["topic"].split()):
                key = lexical.stem(word)
                groups[key].append(e["question"])
                shown[key][word] += 1
        topics = sorted((TopicRow(shown[k].most_common(1)[0][0], len(qs), _samples(qs, samples))
                         for k, qs in groups.items()), key=lambda t: (-t.count, t.word))[:top]
        rated: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for e in events:
            if e["kind"] == "disliked":
                rated[tuple(json.loads(e["chunk_ids"]))].append(e["question"])
        disliked = sorted((RatedAnswer(ids, len(qs), _samples(qs, samples)) for ids, qs in rated.items()),
                          key=lambda r: -r.count)[:top]
        flags = Counter(f for e in events if e["kind"] == "urgent" for f in json.loads(e["red_flags"]))
        return GapReport(since_days, len(refused), topics, disliked,
                         sum(1 for e in events if e["kind"] == "liked"), flags.most_common())


def note(log: GapLog, message: "Message", verdict: "Verdict", answer: "Answer", vocabulary: "Vocabulary") -> None:
    """Refusals and red-flag triggers go to the gap log (the question's text only). A question declined
    for its kind (a request no page meets, a question about an animal) is not a gap in the content,
    and a message that speaks of suicide or self-harm is not kept at all."""
    if message.crisis:
        return
    if answer.kind == "refusal" and not verdict.request:
        words = tuple(dict.fromkeys(verdict.uncovered + topic(message.asked or message.text, vocabulary)))
        log.record("refused", message.text, words)
    elif answer.urgent:
        log.record("urgent", message.text, red_flags=tuple(answer.red_flags))


def topic(text: str, vocabulary: "Vocabulary") -> tuple[str, ...]:
    """What a question is about, for the gap log: its salient words, or else its content words."""
    words = vocabulary.salient_words(text)
    return tuple(words or dict.fromkeys(w for w in lexical.words(text) if w not in lexical.STOPWORDS and len(w) >= 3))


def _samples(questions: list[str], n: int) -> list[str]:
    """The most recent distinct questions of a group."""
    return list(dict.fromkeys(reversed(questions)))[:n]


def format_report(report: GapReport) -> str:
    span = f"in the last {report.since_days:g} days" if report.since_days is not None else "so far"
    lines = [f"Questions the content could not answer {span}: {report.refused}"]
    if report.topics:
        lines.append("\nMost frequent unanswered topics (word: questions):")
        for t in report.topics:
            lines.append(f"  {for_terminal(t.word)}: {t.count}")
            lines += [f"      - {for_terminal(q)}" for q in t.questions]
    lines.append(f"\nDisliked answers: {sum(r.count for r in report.disliked)} (liked: {report.liked})")
    for r in report.disliked:
        lines.append(f"  {r.count} x quoting {for_terminal(', '.join(r.chunk_ids)) or '(no passage)'}")
        lines += [f"      - {for_terminal(q)}" for q in r.questions]
    if report.urgent:
        lines.append("\nRed flags reported:")
        lines += [f"  {for_terminal(name)}: {count}" for name, count in report.urgent]
    return "\n".join(lines)
