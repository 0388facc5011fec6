"""Content and visitors' text is text, never markup or a command: the one place that makes it safe
for each output channel (markdown and HTML readers, links, the terminal) and for the gap log
(contact details redacted)."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

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
    a citation run a script (javascript:) or open a local file. Characters a markdown or HTML reader
    would act on (`<>"'()[]`, spaces, invisible ones) are percent-encoded, so the address is inert
    text wherever it is written."""
    url = plain((url or "").strip())
    if any(c.isspace() for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return quote(url, safe=":/?#@!$&*+,;=%-._~")


def for_terminal(text: str) -> str:
    """One line for a terminal: control characters (escape sequences, newlines) shown escaped, so
    stored text cannot clear the screen or forge a report's lines."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def terminal_lines(text: str) -> str:
    """Text of several lines for a terminal: each line as `for_terminal` shows it."""
    return "\n".join(for_terminal(line) for line in str(text).split("\n"))


# ---- privacy: what the gap log keeps ------------------------------------------------------------
_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
           "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
_REDACTIONS = (
    ("[email]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)),
    ("[link]", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    # UK postcodes ("SW1A 1AA", "m1 1ae"); the inward code's letters are never C, I, K, M, O or V, and
    # an ordinal ("L4 5th", "T12 1st") is a spinal level, not a postcode.
    ("[postcode]", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d(?!st\b|nd\b|rd\b|th\b)[ABD-HJLNP-UW-Z]{2}\b",
                              re.IGNORECASE)),
    # US ZIP codes after a state's code as an address writes it ("NY 10001") or the word zip
    ("[postcode]", re.compile(r"(?<=\b(?:" + "|".join(_STATES) + r") )\d{5}(?:-\d{4})?\b"
                              r"|(?i:(?<=\bzip )|(?<=\bzip code )|(?<=\bzipcode ))\d{5}(?:-\d{4})?\b")),
    ("[number]", re.compile(r"\d{12,}")),  # a card or account number, before it could pass for a phone
    # phone numbers as people write them: international (+44 20 7946 0958), national with a leading 0
    # (07700 900123), and the US forms ((555) 010-4477, 555-010-4477); a list of numbers is none
    ("[phone]", re.compile(r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}\b"
                           r"|\(\d{3}\)\s?\d{3}[\s.-]?\d{4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b"
                           r"|\b0\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}\b")),
    ("[number]", re.compile(r"\d{6,}")),  # any other long run of digits (an account, an id)
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
