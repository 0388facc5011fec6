"""Chat turns → what to search for: input clean-up, history checks, follow-up context."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import lexical, safe_text
from .errors import InvalidHistoryError, InvalidQuestionError
from .vocabulary import PEOPLE

ROLES = ("user", "assistant", "system")
_MARKUP = re.compile(r"<(script|style)\b.*?(</\1\s*>|$)|<[^<>]{0,200}>", re.IGNORECASE | re.DOTALL)
# Words that make a question lean on an earlier one: pronouns, "what about", "then", "also", and
# corrections ("sorry, I meant my upper back").
_FOLLOWUP = re.compile(
    r"^\W*(and|but|also|so|or|what about|how about|and what|what else|anything else|then|same|sorry|no,)(\b|\s)"
    r"|\b(it|its|it's|they|them|their|theirs|those|these|that one|this one|ones|then|too|instead|either|else|"
    r"more of|as well|i meant|i mean|meant|other one)\b"
    # "there" as a place ("can I put ice there?"), not the "there" of "there's a heatwave coming",
    # "is there a cream", "will there be a scar" or "hi there": that one points at nothing said before.
    r"|(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )(?<!n't )(?<!\bhi )(?<!\bhey )(?<!\bhello )\bthere\b"
    r"(?!\s*(?:'s|'re|'ll|'d|'ve|s|is|are|was|were|will|would|could|should|might|may|must|can|has|have|had|"
    r"do|does|did|seems?|appears?|used|be|been|no|any|can't|won't|ain't)(?:n't)?\b)"
)
# A return to an earlier topic ("going back to the cream"): it leans on the earlier question that
# shares its words, not on the latest one. "Back to" opens the message or one of its sentences
# ("lol ok. back to the gym thing, …"), after fillers: "when can I go back to work?" is no return.
# "You said" and "you mentioned" count anywhere; what they go back to is in a reply.
_RETURN = re.compile(
    r"(?:^|[.!?]\s+)\W*(?:(?:ok|okay|so|and|but|right|lol|cool|fair|fine|anyway|sorry|also|yeah|yes|great|"
    r"alright|hmm|thanks|just)\W+)*(?P<back>(?:going |coming |getting |go |get )?back to)\b"
    r"|\b(?P<said>you said|you mentioned)\b", re.IGNORECASE)
# Words that say the message leaves the chat's topic ("different thing, my neck…", "while I have
# you", "my husband has something else going on"): it stands on its own, whatever pronouns it uses.
# Most count only where the message opens with them (after "ok", "also"…): "could it be a
# different problem?", "is there something else I can take?" or "another question: can I take it
# with food?" lean on the chat.
_SHIFT = re.compile(
    r"^\W*(?:(?:ok|okay|so|also|and|but|right|oh|hey|hi|cool|thanks|thx|fair enough|great|sorry)\W+)*"
    r"(?:totally |completely )?(?:(?:different|separate|diff|unrelated|random|new|one other)\s+"
    r"(?:thing|question|q|topic|issue|subject|problem|matter|note)|another (?:topic|subject|issue|problem|matter)|"
    r"unrelated|different|changing the subject|"
    r"change of subject|on another note|on a different note)\b"
    r"|\b(?:while i have you|while i'm here|while im here|something else going on|unrelated but)\b"
)
# A quoted sentence of an earlier reply runs up to its citation marker ("… a day. [1]").
_MARKER = re.compile(r"\[(\d{1,2})\]")
_ESCAPE = re.compile(r"\\(?=[^\w\s])")
# "him" or "her" in a message that names no person: who it is about was said earlier in the chat.
_PERSON_PRONOUNS = frozenset(("he", "him", "his", "she", "her", "hers"))


@dataclass(frozen=True)
class CleanQuestion:
    text: str
    truncated: bool


def clean_question(question: object, max_chars: int) -> CleanQuestion:
    """Any string becomes safe plain text: no control characters, lone surrogates or invisible
    characters ("slou\u200bching" is "slouching"), bounded length."""
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise InvalidQuestionError(f"question must be a string, not {type(question).__name__}")
    # Markup carries no question; dropping it keeps "<script>…</script> how do I lift?" answerable.
    text = _MARKUP.sub(" ", safe_text.plain(question))
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", " ", text).strip()
    truncated = len(text) > max_chars
    if truncated:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars].strip()
    return CleanQuestion(text, truncated)


def check_history(history: object, max_turns: int) -> list[dict]:
    """A list of {"role", "content"} turns; only the last turns are kept, since older ones cannot matter."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise InvalidHistoryError(
            'history must be a list of {"role": "user" | "assistant", "content": str} turns, '
            f"not {type(history).__name__}"
        )
    turns = []
    for i, turn in enumerate(list(history)[-max_turns:]):
        if not isinstance(turn, Mapping):
            raise InvalidHistoryError(f"history turn {i} must be a dict with 'role' and 'content', not {type(turn).__name__}")
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise InvalidHistoryError(f"history turn {i} has role {role!r}; use 'user' or 'assistant'")
        if not isinstance(content, str):
            raise InvalidHistoryError(f"history turn {i} content must be a string, not {type(content).__name__}")
        turns.append({"role": role, "content": content})
    return turns


def leans_on_history(text: str) -> bool:
    """A question that cannot stand alone: pronoun-led, elliptical ("what about…"), a correction, a
    return to an earlier topic, nearly contentless, or about "him" or "her" without saying who."""
    lowered = text.lower().replace("\u2019", "'")
    return (bool(_FOLLOWUP.search(lowered) or _RETURN.search(lowered)) or len(set(lexical.terms(lowered))) <= 1
            or _names_someone_unsaid(lowered))


def _names_someone_unsaid(lowered: str) -> bool:
    """"would a gel be better for him?": a person the message does not name, so the chat did."""
    words = lexical.words(lowered)
    return any(w in _PERSON_PRONOUNS for w in words) and not any(w in PEOPLE for w in words)


def changes_topic(text: str) -> bool:
    """Whether a message says it leaves the chat's topic ("different thing, …", "unrelated but …")."""
    return bool(_SHIFT.search(text.lower().replace("\u2019", "'")))


def returned_to(history: list[dict], text: str, max_chars: int, asks_nothing,
                mend=lambda text: text) -> int | None:
    """Where in the history is the user turn a return leans on ("going back to the cream"): the
    earlier question that names most of what it goes back to (the words after "back to", up to the
    first comma or sentence end: "the cream"), or the question whose reply names more of them
    ("going back to the antacids" after "what can I take for heartburn?" was answered with
    antacids); a question wins a tie, the latest of either. "You said"/"you mentioned" go back to
    a reply, by the words of their clause. Failing those, the earlier question sharing most of the
    message's words (never the "back" of "going back to"). None for no return."""
    found = _RETURN.search(text)
    if not found:
        return None
    cue = "back" if found.group("back") else "said"
    start, end = found.span(cue)
    clause_start = max(text.rfind(c, 0, start) for c in ",.;:?!") + 1
    before = text[clause_start:start] if cue == "said" else ""
    after = re.split(r"[,.;:?!]", text[end:], maxsplit=1)[0]
    named = lexical.term_set(_RETURN.sub(" ", before + " " + after))
    question = _sharing(history, "user", named, max_chars, asks_nothing, mend)
    reply = _sharing(history, "assistant", named, max_chars, asks_nothing, mend)
    found = [c for c in (question, reply) if c is not None]
    if found:
        # More words named first; then what the cue points at (a question for "back to", a reply for
        # "you said"), then the latest.
        preferred = question if cue == "back" else reply
        return max(found, key=lambda c: (c[0], c is preferred, c[1]))[2]
    rest = _sharing(history, "user", lexical.term_set(text[:start] + " " + text[end:]), max_chars, asks_nothing, mend)
    return rest[2] if rest else None


def _sharing(history: list[dict], role: str, words: frozenset, max_chars: int, asks_nothing,
             mend) -> tuple[int, int, int] | None:
    """The best turn of this role sharing these words, as (words shared, its place, the question it
    leads to: a question itself, or for a reply the question it answered); small talk is passed
    over (read only as needed). None when none."""
    shared = []
    for i, turn in enumerate(history):
        if turn["role"] != role:
            continue
        text = clean_question(turn["content"], max_chars).text if role == "user" else turn["content"]
        count = len(words & lexical.term_set(text)) if words and text else 0
        if count:
            shared.append((count, i))
    for count, i in sorted(shared, reverse=True):
        asked = i if role == "user" else next((j for j in range(i - 1, -1, -1) if history[j]["role"] == "user"), None)
        if asked is not None and not asks_nothing(mend(clean_question(history[asked]["content"], max_chars).text)):
            return count, i, asked
    return None


def context_questions(history: list[dict], weight: float, max_back: int, max_chars: int,
                      asks_nothing, returned: int | None = None, leans=leans_on_history,
                      mend=lambda text: text) -> list[tuple[str, float]]:
    """Earlier user questions a follow-up leans on, newest first, each weighted less than the last.

    A chain of follow-ups ("And them?" after "What about my hips?") reaches back to the question
    that started the topic; small talk ("thanks!", `asks_nothing`) is passed over. A message that
    returns to an earlier topic ("going back to the cream") leans on the earlier question sharing
    most of its words (`returned`: where it is in the history, by `returned_to`). `leans`: whether
    an earlier question was a follow-up itself. `mend`: the typing mended, for the earlier
    questions read (only as far back as needed).
    """
    out: list[tuple[str, float]] = []
    w = weight
    if returned is not None:
        return [(mend(clean_question(history[returned]["content"], max_chars).text), weight)]
    earlier = [clean_question(t["content"], max_chars).text for t in history if t["role"] == "user"]
    for text in reversed(earlier):
        text = mend(text) if text else text
        if not text or asks_nothing(text):  # read only as far back as needed
            continue
        out.append((text, w))
        if len(out) >= max_back or not leans(text):
            break
        w *= weight
    return out


def _without_notes(reply: str) -> str:
    """A reply without the notes put before its quotes (a caution, the crisis note: a bold lead and
    no citation), which would take the characters a follow-up reads."""
    paragraphs = reply.split("\n\n")
    while len(paragraphs) > 1 and paragraphs[0].lstrip().startswith("**") and not _MARKER.search(paragraphs[0]):
        paragraphs.pop(0)
    return "\n\n".join(paragraphs)


def quoted_sentences(history: list[dict], limit: int) -> list[tuple[int, str]]:
    """The sentences the latest earlier reply that quoted any quoted (read in its first `limit`
    characters), with their citation numbers: (1, "Repeat 10 times, 3 times a day."). A follow-up
    most often asks about what was just cited. A quoted sentence runs back from its marker to the
    one before, a blank line or a list item's start, so a sentence that spans lines is read whole."""
    for turn in reversed(history):
        if turn["role"] != "assistant":
            continue
        parts = _MARKER.split(_without_notes(turn["content"])[:limit])  # text, number, text, number, …, what follows the last
        found = []
        for text, number in zip(parts[0:-1:2], parts[1::2]):
            text = html.unescape(_ESCAPE.sub("", text)).split("\n\n")[-1]
            text = re.split(r"\n\s*[-*]\s+", "\n" + text)[-1].strip()
            if text:
                found.append((int(number), text))
        if found:
            return found
    return []
