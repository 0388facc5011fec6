"""Content and visitors' text is text, never markup or a command: the one place that makes it safe
for each output channel (markdown and HTML readers, links, the terminal) and for the gap log
(contact details redacted)."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# Characters a markdown or HTML reader would act on; escaped, content reads as typed.
_MARKDOWN = re.compile(r"([\\`*_\[\]])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Zero-width and other format characters (Unicode category Cf): invisible, so removed, never a space
# ("slou\u200bching" is "slouching").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def markdown_text(text: str) -> str:
    """Text for a markdown reply (that programs may render as HTML): markup characters escaped."""
    return "".join(_HTML.get(ch, ch) for ch in _MARKDOWN.sub(r"\\\1", text))


def without_invisible(text: str) -> str:
    """Format characters removed (zero-width spaces, joiners, direction marks, the byte-order mark)."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def plain(text: str) -> str:
    """Invisible characters removed, control characters and lone surrogates become spaces."""
    return _CONTROL.sub(" ", without_invisible(text))


def web_url(url: str) -> str:
    """The address when it is a web page's (http or https, with a host), else "": content cannot make
    a citation run a script (javascript:) or open a local file."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() or ord(c) < 32 for c in url):
        return ""
    return url


def for_terminal(text: str) -> str:
    """One line for a terminal: control characters (escape sequences, newlines) shown escaped, so
    stored text cannot clear the screen or forge a report's lines."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


# ---- privacy: what the gap log keeps ------------------------------------------------------------
_REDACTIONS = (
    ("[email]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)),
    ("[link]", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    # UK postcodes ("SW1A 1AA", "m1 1ae")
    ("[postcode]", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)),
    # US ZIP codes after a state or the word zip ("NY 10001", "zip 90210-1234")
    ("[postcode]", re.compile(r"(?<=\b[A-Z]{2} )\d{5}(?:-\d{4})?\b|(?<=\bzip )\d{5}(?:-\d{4})?\b"
                              r"|(?<=\bzip code )\d{5}(?:-\d{4})?\b", re.IGNORECASE)),
    ("[number]", re.compile(r"\d{12,}")),  # a card or account number, before it could pass for a phone
    # phone numbers: 9 or more digits with the usual separators, or a leading +
    ("[phone]", re.compile(r"(?<![\w+])\+?\(?\d[\d ()./-]{7,}\d\b")),
    ("[number]", re.compile(r"\d{6,}")),  # any other long run of digits (an account, a card, an id)
)


def redacted(text: str) -> str:
    """The text with e-mail addresses, links, phone numbers, postcodes and ZIP codes, and long digit
    runs replaced by a label: people type them into health chats, and the gap log needs none."""
    for label, pattern in _REDACTIONS:
        if label == "[phone]":
            text = pattern.sub(lambda m: label if sum(c.isdigit() for c in m.group()) >= 9 else m.group(), text)
        else:
            text = pattern.sub(label, text)
    return text
