"""Hostile variants of real events: every field of a saved fixture, replaced by what an attacker or a
broken producer sends.

A fixture is a JSON document (a structured CloudEvent, a binary-mode `{"headers", "body"}`, a legacy
background event, an EventBridge event). Pub/Sub messages carry their payload as base64 JSON in
`message.data`: that payload is opened too, so its fields are mutated as well and the message
re-encoded (a fuzzer that only scrambles the base64 reaches no parser behind it).

`mutated_documents(seed)` draws one document: a path to any node (object member, list item, or the
document itself) and what to put there: nothing (the member removed), null, a value of another type,
something huge, deeply nested, unicode and control characters, text aimed at Slack or at paths, and
numbers at the edges of float64 and int64 (NaN and Infinity too, which Python's JSON reads and writes).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Deeper than any parser's recursion limit when written out: the placeholder is replaced by raw text
# after json.dumps, which itself could not write it.
_DEEP_PLACEHOLDER = "\x00deep-json\x00"
DEEP_JSON = "[" * 100_000 + "]" * 100_000
_DELETE = object()


@dataclass(frozen=True)
class Renamed:
    """The member kept, under another key: a case change, a look-alike, a key no parser expects."""

    key: str


@dataclass(frozen=True)
class Base64Json:
    """A Pub/Sub payload, opened: mutated as JSON, written back as base64."""

    value: Any


EDGE_NUMBERS = [
    0,
    -0.0,
    -1,
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    math.inf,
    -math.inf,
    math.nan,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,  # more digits than some parsers (and Python's int() past 4300) accept
    0.1,
    1e-300,
]
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "line\nbreak",
    "tab\tinside",
    "\r\n",
    "\x7f\x1b[31m",
    "\ud800",  # a lone surrogate: valid JSON escape, not encodable as UTF-8
    "\u202eevil\u202c",
    "模型/🚀",
    "<!channel>",
    "<!here|x>",
    "<https://evil.example/phish|click>",
    "&lt;&amp;&gt;",
    "*bold* _it_ `code` ~s~",
    "../../etc/passwd",
    "/abs/path",
    "gs://bucket//abs/path",
    "%2e%2e%2f%00",
    "'; DROP TABLE models; --",
    '"quoted" \\ backslash',
    "${jndi:ldap://x}",
    "NaN",
    "Infinity",
    "1e308",
    "-1",
    "9223372036854775808",
    "99999999999999999999999999999999",
    "9999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "2026-13-45T25:61:61Z",
]
HUGE = [
    "A" * 1_000_000,
    "<!channel> " * 50_000,
    "9" * 5_000,
    list(range(100_000)),
    {f"k{i}": i for i in range(20_000)},
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


RENAMES = st.sampled_from(["", " ", "\x00", "\ud800", "ID", "Data", "type ", "specVersion", "\u0430ttributes"]).map(
    Renamed
)
REPLACEMENTS = st.one_of(
    st.just(_DELETE),
    RENAMES,
    st.none(),
    st.sampled_from([True, False, [], {}, [1, "a", None], {"a": {"b": [1]}}]),
    st.sampled_from(EDGE_NUMBERS),
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(HUGE),
    st.sampled_from([_nested(50), _nested(400), _DEEP_PLACEHOLDER]),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)


def opened(document: Any) -> Any:
    """The document with every base64 JSON payload (Pub/Sub `message.data`) turned into a Base64Json."""
    if isinstance(document, dict):
        out = {}
        for key, value in document.items():
            if key == "data" and isinstance(value, str) and (payload := _base64_json(value)) is not None:
                out[key] = Base64Json(opened(payload))
            else:
                out[key] = opened(value)
        return out
    if isinstance(document, list):
        return [opened(item) for item in document]
    return document


def _base64_json(text: str) -> Any | None:
    try:
        decoded = base64.b64decode(text, validate=True)
        value = json.loads(decoded)
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict | list) else None


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place a value can be replaced: the node itself, then each member and item, recursively."""
    found = [prefix]
    if isinstance(node, Base64Json):
        found += paths(node.value, (*prefix, Base64Json))
    elif isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:20]):
            found += paths(value, (*prefix, index))
    return found


def replaced(node: Any, path: tuple, value: Any) -> Any:
    """A copy of `node` with the value at `path` replaced (or removed, for _DELETE)."""
    if not path:
        if isinstance(value, Renamed):
            raise TypeError("the document itself has no key")
        return {} if value is _DELETE else value
    head, rest = path[0], path[1:]
    if head is Base64Json:
        return Base64Json(replaced(node.value, rest, value))
    copy = dict(node) if isinstance(node, dict) else list(node)
    if not rest and value is _DELETE:
        del copy[head]
    elif not rest and isinstance(value, Renamed):
        if not isinstance(copy, dict):
            raise TypeError("only an object's member has a key to rename")
        copy[value.key] = copy.pop(head)
    else:
        copy[head] = replaced(copy[head], rest, value)
    return copy


def closed(node: Any) -> Any:
    """The document ready to send: each Base64Json written back as base64 JSON."""
    if isinstance(node, Base64Json):
        return base64.b64encode(dumps(closed(node.value)).encode("utf-8", "surrogatepass")).decode()
    if isinstance(node, dict):
        return {key: closed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [closed(item) for item in node]
    return node


def dumps(document: Any) -> str:
    """JSON as a hostile producer writes it: NaN and Infinity as Python writes them, the deep placeholder
    expanded to JSON nested past any parser's depth."""
    text = json.dumps(document)
    return text.replace(json.dumps(_DEEP_PLACEHOLDER), DEEP_JSON)


@dataclass(frozen=True)
class Mutation:
    changed: tuple  # the paths replaced, removed or renamed
    document: Any  # ready to send
    inserted: tuple[str, ...]  # the strings put in: an outcome's detail may name them, never carry them

    def __iter__(self):  # (changed, document), as the tests unpack it
        return iter((self.changed, self.document))


@st.composite
def mutated_documents(draw: st.DrawFn, seed: Any) -> Mutation:
    """One real event with one to three fields, at any depth, replaced, removed or renamed."""
    document = opened(seed)
    changed, inserted = [], []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths(document)))
        value = draw(REPLACEMENTS)
        try:
            document = replaced(document, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier change removed or retyped the parent
            continue
        changed.append(path)
        if isinstance(value, str) and value != _DEEP_PLACEHOLDER:
            inserted.append(value)
    return Mutation(tuple(changed), closed(document), tuple(inserted))


def describe(path: tuple) -> str:
    return ".".join("<base64>" if part is Base64Json else str(part) for part in path) or "<document>"
