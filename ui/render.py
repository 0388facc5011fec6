"""Answer → what the page shows: quoted sentences with clickable [n] markers, the safety notes set
apart, sources with their titles, links and the quoted sentences highlighted; and → markdown for
programs (`/chat`)."""
from __future__ import annotations

import html
import re

from bot import Answer, messages
from bot.answer import arrange
from bot.chunking import list_items, message_sentence_spans
from bot.settings import BuildSettings
from bot.safe_text import markdown_text, web_url

_MARKER = re.compile(r"\[(\d+)\]")
URGENT_TITLE = "Urgent: please seek medical care now"


def user_text(message: str) -> str:
    """What a visitor typed, shown as text: markup in it is escaped, never rendered."""
    return html.escape(message, quote=False)


# ---- the page -----------------------------------------------------------------------------------

# How a reply's safety notes are marked, so the page can tell whether a conversation has shown them.
NOTES_IN_FULL = 'class="caveats"'
COPY = '<p class="reply-tools"><button type="button" class="copy-reply">Copy reply</button></p>'


def reply_html(answer: Answer, examples: list[str] = (), notes_in_full: bool = True,
               list_item_words: int = BuildSettings().list_item_words) -> str:
    """The reply as the page shows it (markdown with a little HTML, sanitized by the page). The safety
    notes are shown in full once in a conversation (and with every reply to an acute message); later
    replies carry a one-line reminder that opens to the same notes. (An urgent reply has neither: it
    cites nothing.) `list_item_words`: the build's setting, so a quoted list item is marked as the
    build split it."""
    if not answer.citations:
        return _arrange(answer, answer.lead, _clickable_examples(answer.body, examples)) + "\n\n" + COPY
    numbers = {c.number for c in answer.citations}
    body = _MARKER.sub(lambda m: _cite_link(int(m.group(1))) if int(m.group(1)) in numbers else m.group(0), answer.body)
    caveats = "\n".join(f"<li>{html.escape(c)}</li>" for c in answer.caveats)
    if notes_in_full or answer.acute:
        caveat_block = (f'<div {NOTES_IN_FULL} role="note"><p><strong>{messages.CAVEATS_TITLE}</strong></p>'
                        f'<ul>{caveats}</ul></div>')
    else:
        caveat_block = (f'<details class="caveats-reminder"><summary>{messages.CAVEATS_REMINDER}</summary>'
                        f'<ul>{caveats}</ul></details>')
    return _arrange(answer, answer.lead, body, caveat_block, _sources(answer, list_item_words)) + "\n\n" + COPY


def _arrange(answer: Answer, lead: str, body: str, caveat_block: str = "", sources: str = "") -> str:
    """A reply without citations is its lead and text; one with citations is laid out as every
    renderer lays it out (bot.answer.arrange)."""
    if not answer.citations:
        return "\n\n".join(([lead] if lead else []) + ([body] if body else []))
    return arrange(answer.acute, lead, body, caveat_block, sources)


def _cite_link(n: int) -> str:
    return f'<a href="#source-{n}" class="cite" title="Show source {n}">[{n}]</a>'


def _sources(answer: Answer, list_item_words: int) -> str:
    rows = []
    for c in answer.citations:
        address = link(c.url)
        rows.append(
            f'<details class="source source-{c.number}" data-chunk="{html.escape(c.chunk_id)}">'
            f"<summary>[{c.number}] {html.escape(c.source)}, paragraph {c.paragraph}</summary>"
            f'<p class="passage">{_highlight(c.text, answer.body, list_item_words)}</p></details>'
            + (f'<p class="source-link">{address}</p>' if address else "")
        )
    return f'<div class="sources"><p><strong>{messages.SOURCES_TITLE}</strong></p>' + "".join(rows) + "</div>"


def _highlight(passage: str, body: str, list_item_words: int) -> str:
    """The passage with each of its sentences that the reply quotes marked (and each item of a list
    run into one sentence, read as the build reads it: `chunking.list_items`)."""
    out, last = [], 0
    for s, e in (item for span in message_sentence_spans(passage)
                 for item in list_items(passage, *span, list_item_words)):
        sentence = passage[s:e]
        out.append(html.escape(passage[last:s]))
        quoted = len(sentence) > 12 and markdown_text(sentence.rstrip(".!?;")) in body
        out.append(f"<mark>{html.escape(sentence)}</mark>" if quoted else html.escape(sentence))
        last = e
    out.append(html.escape(passage[last:]))
    return "".join(out)


def _clickable_examples(text: str, examples: list[str]) -> str:
    """Example questions listed in a reply become links that ask them."""
    for q in examples:
        text = text.replace(f"- {markdown_text(q)}", f"- {ask_link(q)}")
    return text


def ask_link(question: str) -> str:
    """A link that asks the question (the page's script sends its text)."""
    q = html.escape(question)
    return f'<a href="#ask" class="ask-example">{q}</a>'


def chunk_ids(reply: str) -> list[str]:
    """The chunk ids of the sources a reply cites (for a like or dislike of it), from its markup."""
    return [html.unescape(m) for m in re.findall(r'data-chunk="([^"]*)"', reply or "")]


_URGENT_MARK = re.compile(r"<!--urgent:([^<>]*)-->\s*$")


def urgent_mark(answer: Answer | None) -> str:
    """An urgent reply's red flags, kept invisibly at the end of its page text, so the conversation
    itself carries the urgent state (a reload or an undo shows the banner of its last reply)."""
    if answer is None or not answer.urgent:
        return ""
    return "\n\n<!--urgent:" + "|".join(_markable(f) for f in answer.red_flags) + "-->"


def _markable(flag: str) -> str:
    return re.sub(r"[|<>-]", " ", flag)


def urgent_flags(chat: list, known: set[str]) -> list[str]:
    """The red flags of the conversation's last reply when it is urgent (only flags this bot names:
    the chat comes back from the browser, which could have changed it); none otherwise."""
    for message in reversed(chat or []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            found = _URGENT_MARK.search(content) if isinstance(content, str) else None
            named = {_markable(f): f for f in known}
            return [named[f] for f in found.group(1).split("|") if f in named] if found else []
    return []


def banner_html(flags: list[str], emergency_number: str) -> str:
    """The urgent-care banner over the page, naming the red flags; empty when there are none."""
    flags = [f for f in (flags or []) if isinstance(f, str) and f.strip()][:9]
    if not flags:
        return ""
    named = "; ".join(html.escape(f[0].upper() + f[1:]) for f in flags)
    return (f'<div class="urgent-banner" role="alert"><h2 class="urgent-title">{URGENT_TITLE}</h2>'
            f"<p>What you describe can be a sign of a serious problem: {named}. Call {html.escape(emergency_number)} "
            "or get medical help now; the reply below says what to do.</p></div>")


# ---- programs -----------------------------------------------------------------------------------

def to_markdown(answer: Answer) -> str:
    """The reply as markdown for programs: quoted sentences, safety notes, expandable sources."""
    lead = f"**{URGENT_TITLE}**\n\n{answer.lead}" if answer.urgent else answer.lead
    caveats = "\n>\n".join(f"> {html.escape(c)}" for c in answer.caveats)
    sources = "\n".join(
        f"<details><summary>[{c.number}] {html.escape(c.source)}, paragraph {c.paragraph}</summary>\n\n"
        f"{markdown_text(c.text)}\n\n{link(c.url)}</details>"
        for c in answer.citations
    )
    return _arrange(answer, lead, answer.body, f"> {messages.CAVEATS_HEADING}\n>\n{caveats}",
                    f"{messages.SOURCES_HEADING}\n\n{sources}")


def link(url: str, text: str = "") -> str:
    """A source address as a link (showing `text`, else the address); only web addresses, so content
    cannot inject other schemes. "" when the address is not one."""
    url = web_url(url)
    if not url:
        return ""
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(text or url)}</a>'
