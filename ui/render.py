"""Answer → chat markdown for the page: quoted sentences, set-apart caveats, expandable sources."""
from __future__ import annotations

import html

from bot import Answer


def user_text(message: str) -> str:
    """What a visitor typed, shown as text: markup in it is escaped, never rendered."""
    return html.escape(message, quote=False)


def reply_parts(answer: Answer) -> list[str]:
    """The reply in display order, as pieces the page streams one after another."""
    parts = []
    if answer.urgent:
        parts.append(f"### \U0001f6a8 Urgent\n\n{answer.lead}")
    elif answer.lead:
        parts.append(answer.lead)
    if not answer.citations:
        if answer.body:
            parts.append(answer.body)
        return parts
    caveats = "\n>\n".join(f"> \u26a0\ufe0f {html.escape(c)}" for c in answer.caveats)
    caveat_block = f"> **Safety notes**\n>\n{caveats}"
    # A fresh injury: the acute caveat comes before any exercise content.
    parts.extend([caveat_block, answer.body] if answer.acute else [answer.body, caveat_block])
    sources = "\n".join(
        f"<details><summary>[{c.number}] {html.escape(c.source)}, paragraph {c.paragraph}</summary>\n\n"
        f"{html.escape(c.text)}\n\n{_link(c.url)}</details>"
        for c in answer.citations
    )
    parts.append(f"**Sources**\n\n{sources}")
    return parts


def _link(url: str) -> str:
    """A source address as a link; only web addresses, so content cannot inject other schemes."""
    if not url.lower().startswith(("https://", "http://")):
        return ""
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(url)}</a>\n\n'


def to_markdown(answer: Answer) -> str:
    return "\n\n".join(reply_parts(answer))
