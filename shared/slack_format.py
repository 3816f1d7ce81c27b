"""Block Kit building blocks shared by every Slack message (budget, drift, rollout).

One rule for everything that did not come from our own code (a budget name, an account id, a model,
a feature, an object name): it is escaped where it enters Slack text, and a URL is built only from
validated, percent-encoded parts.

- Text: `text(value)` (or `escape_mrkdwn` for text already cut). Slack reads `<...>` as links and
  mentions (`<!channel>`, `<https://evil|click>`); `&`, `<`, `>` are the only characters its docs ask
  to escape, and escaping them is what keeps data from writing a link or a mention. Control characters,
  bidi overrides and marks and lone surrogates are replaced by U+FFFD (they reorder or hide text).
  Every mrkdwn object is `verbatim`, so Slack does not turn a bare `https://...` or `#channel` in data
  into a link either. A header is plain_text (never parsed); it shows `<` and `>` as U+2039 and U+203A, so nothing
  in a message reads as a mention.
- URLs: `url(template, **parts)` percent-encodes every part (an object name through `path`), and `link`
  refuses a URL that is not plain https with only URL characters in it. Parts with a grammar (a billing
  account id, a bucket) are checked by the caller first; a part that fails gets no link, only text.
- Caps: every outside value is cut to a sensible length, saying so (`… (cut, 10,485,760 characters)`),
  and every block is held to Slack's own limits (a section's text 3,000 characters, a header 150, a
  field 2,000): the message still goes out, and is never an invalid payload.

Mentions we add on purpose come from configuration (`valid_mention`), never from event data.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

# Slack's limits (Block Kit reference), counted as Slack does, in UTF-16 code units.
SECTION_MAX = 3000  # a section's text, a context element
HEADER_MAX = 150
FIELD_MAX = 2000
FIELDS_MAX = 10  # fields in one section
CONTEXT_ELEMENTS_MAX = 10
TEXT_MAX = 3000  # the message's `text` (notifications); Slack takes 40,000, nobody reads past this
# What one outside value may take in a message before it is cut: enough for any real name.
NAME_MAX = 200
ID_MAX = 100
PATH_MAX = 500
URL_MAX = 2000  # a link longer than this is left out (the text beside it still says where)

MENTION = re.compile(r"^<(![a-z]+(\^[A-Z0-9]+)?|@[UW][A-Z0-9]+|#[CG][A-Z0-9]+)(\|[^<>]*)?>$")
# ISO 4217 currencies whose amounts have no minor unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# C0 but tab and newline, DEL, C1, bidi marks, embeddings, overrides and isolates, line and paragraph
# separators, word joiner and invisible operators, BOM, interlinear annotations, lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_LINE_BREAKS = re.compile("[\t\n]")
_REPLACEMENT = "\ufffd"
# What a link's URL may hold once built: https, a host name, then only RFC 3986 characters (no
# whitespace, no `<`, `>`, `|`, no quotes or backslash, nothing outside ASCII).
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)?$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class Encoded(str):
    """A URL part already percent-encoded by `path`; `url` puts it in as it is."""


def _units(text: str) -> int:
    """Slack counts UTF-16 code units: a character outside the BMP (most emoji) counts twice."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _head(text: str, units: int) -> str:
    """The longest prefix of `text` within `units` UTF-16 code units."""
    head = text[: max(units, 0)]
    excess = _units(head) - units
    while excess > 0 and head:  # each astral character dropped from the end gives back two units
        excess -= 2 if ord(head[-1]) > 0xFFFF else 1
        head = head[:-1]
    return head


def _note(length: int) -> str:
    return f"… (cut, {length:,} characters)"


def cut(value: object, limit: int = NAME_MAX) -> str:
    """`value` as text of at most `limit` characters; a longer one ends saying how long it was."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and _units(text) <= limit:
        return text
    note = _note(len(text))
    if len(note) * 2 > limit:  # too little room to say how long it was
        note = "…"
    return _head(text, limit - len(note)) + note


def _clean(text: str) -> str:
    return _UNSAFE.sub(_REPLACEMENT, text)


def escape_mrkdwn(text: str) -> str:
    """Text for mrkdwn: `&`, `<`, `>` as entities, characters that hide or reorder text replaced."""
    return _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text(value: object, limit: int = NAME_MAX, *, multiline: bool = False) -> str:
    """An outside value as mrkdwn: cut to `limit` (saying so), on one line unless `multiline`, escaped."""
    short = cut(value, limit)
    return escape_mrkdwn(short if multiline else _LINE_BREAKS.sub(" ", short))


def plain(value: object, limit: int = NAME_MAX) -> str:
    """An outside value for plain_text (a header): cut, on one line, `<` `>` shown as U+2039 and U+203A."""
    return _plain(cut(value, limit))


def _plain(text: str) -> str:
    return _LINE_BREAKS.sub(" ", _clean(text)).replace("<", "\u2039").replace(">", "\u203a")


def _fit(mrkdwn: str, limit: int) -> str:
    """Our own assembled mrkdwn held to Slack's `limit`, never ending inside an entity or a `<...>`."""
    if len(mrkdwn) <= limit and _units(mrkdwn) <= limit:
        return mrkdwn
    note = _note(len(mrkdwn))
    head = _head(mrkdwn, limit - len(note))
    opened = head.rfind("<")
    if opened > head.rfind(">"):
        head = head[:opened]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + note


def money(amount: float, currency: str) -> str:
    decimals = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return f"{amount:,.{decimals}f} {currency}"


def mrkdwn(text: str, limit: int = SECTION_MAX) -> dict[str, Any]:
    # verbatim: data's bare URLs and channel names stay text; our own `<...>` strings still parse.
    return {"type": "mrkdwn", "text": _fit(text, limit) or " ", "verbatim": True}


def header(text: str) -> dict[str, Any]:
    # plain_text is never parsed for links or mentions; Slack caps a header at 150 characters.
    shown = _plain(text)
    if _units(shown) > HEADER_MAX:
        shown = _head(shown, HEADER_MAX - 1) + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": shown or " ", "emoji": True}}


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of label/value fields; values must already be escaped mrkdwn (`text`)."""
    return {
        "type": "section",
        "fields": [mrkdwn(f"*{label}*\n{value}", FIELD_MAX) for label, value in pairs[:FIELDS_MAX]],
    }


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:CONTEXT_ELEMENTS_MAX]]}


def fallback(text: str) -> str:
    """The message's `text` (notifications, clients without blocks): escaped mrkdwn, held to TEXT_MAX."""
    return _fit(text, TEXT_MAX)


def path(name: str) -> Encoded:
    """An object name as a URL path: each segment percent-encoded and the `/` between them kept (the
    Cloud Console reads object names that way), unless a segment is empty, `.` or `..`, which a browser
    would resolve: then the whole name is one segment, its `/` encoded too."""
    segments = name.split("/")
    if name.strip(".") == "":
        raise ValueError(f"{name!r} is no object name")  # nor can a GCS object be called "." or ".."
    if all(s.strip(".") for s in segments):  # no "", ".", ".." (nor "...", harmless but odd)
        return Encoded("/".join(quote(s, safe="") for s in segments))
    return Encoded(quote(name, safe=""))


def url(template: str, **parts: str) -> str:
    """`template` (ours, `{name}` placeholders) filled with percent-encoded `parts`; ValueError if the
    result is not a plain https URL on the template's own host (or a part is not text UTF-8 can carry)."""
    encoded = {k: v if isinstance(v, Encoded) else quote(str(v), safe="") for k, v in parts.items()}
    built = template.format(**encoded)
    check_url(built)
    if urlsplit(built).hostname != urlsplit(template).hostname:
        raise ValueError(f"{built[:100]!r} is not on the host of {template!r}")
    return built


def check_url(address: str) -> str:
    """`address` if it can go between `<` and `|` in Slack text as it is; ValueError otherwise."""
    if len(address) > URL_MAX or not _URL.fullmatch(address):
        raise ValueError(f"not a URL Slack text can carry: {address[:100]!r}")
    host = urlsplit(address).hostname or ""
    if not _HOST.fullmatch(host):
        raise ValueError(f"not a host name: {host[:100]!r}")
    return address


def link(address: str, label: str) -> str:
    """`<url|label>`: the URL must pass `check_url` (build it with `url`), the label is escaped."""
    check_url(address)
    # `&` is Slack's entity marker in the URL part too; Slack decodes `&amp;` back when opening it.
    return f"<{address.replace('&', '&amp;')}|{text(label, NAME_MAX)}>"


def valid_mention(mention: str) -> bool:
    """`<!here>`, `<!channel>`, `<!subteam^S0123>`, `<@U0123>`: what a configured mention may be."""
    return bool(MENTION.fullmatch(mention))
