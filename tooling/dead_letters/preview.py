"""What of a dead letter's data may be shown on a terminal, in a ticket or a chat: cut to a length, every
control or invisible character escaped (no escape sequence reaches the terminal, no bidi override turns
the text around), and secrets never, whether the process knows them or not.

Secrets are taken out before the cut, so a cut cannot leave the start of one unrecognised: JSON values
under a secret-sounding key (`password`, `token`, `webhook_url`, ...), Slack webhook URLs and tokens, a
URL's user and password, signed-URL and token query parameters, `Bearer` / `Basic` credentials, AWS
access key ids, GitHub tokens, JWTs and PEM private keys, in JSON strings too; then every value this
process registered as a secret (shared/secret_values.py). What is kept is the shape: `https://hooks.slack.com/[redacted]`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from shared.secret_values import redact

PREVIEW_CHARS = 200
_NESTED_JSON_CHARS = 1 << 20  # a JSON string value longer than this is not opened (the cut shows 200 anyway)
REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|client[-_]?key|access[-_]?key|"
    r"credential|authori[sz]ation|webhook|signature|cookie|session|kubeconfig",
    re.IGNORECASE,
)
_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credentials?|"
    r"authori[sz]ation|webhook(?:[-_]?url)?|signature|cookie"
)
_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (  # replacement: a template or a function
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
        REDACTED,
    ),
    (re.compile(r"(https?://hooks\.slack(?:-gov)?\.com/)[^\s\"'<>\\]*", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@:\"'<>]*:[^/\s@\"'<>]*@", re.IGNORECASE), rf"\1{REDACTED}@"),
    (
        re.compile(
            r"([?&](?:access_token|token|key|sig|signature|secret|password|X-Amz-Signature|X-Amz-Credential|"
            r"X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential)=)[^&\s\"'<>\\]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(Bearer|Basic|bearer)\s+[A-Za-z0-9._~+/-]{12,}=*"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),  # GitHub tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # `password=...`, `"token": "..."` in text that is not (or no longer) JSON
    (
        re.compile(
            rf"((?:\\?\"|\b)(?:{_KEY_WORDS})\\?\"?\s*[:=]\s*)"
            rf"(\\\"(?:[^\"\\]|\\[^\"])*(?:\\\")?|\"(?:[^\"\\]|\\.)*\"?|[^\s,;&}}\]]+)",
            re.IGNORECASE,
        ),
        lambda found: f'{found[1]}\\"{REDACTED}\\"' if found[2].startswith("\\") else f'{found[1]}"{REDACTED}"',
    ),
)
_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt])")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned, line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def preview(data: bytes | str, limit: int = PREVIEW_CHARS) -> str:
    """The data as it may be shown: text (bytes that are not UTF-8 as `\\xNN`), JSON compacted, secrets
    taken out, unsafe characters escaped, at most `limit` characters plus a note of how much was cut."""
    text = data.decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data
    return cut(escape(scrub(text)), limit)


def scrub(text: str) -> str:
    """`text` with every secret this module recognises, and every one the process knows, replaced."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        if isinstance(document, dict | list):
            text = json.dumps(_scrub_json(document), ensure_ascii=False)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return redact(text)


def _scrub_json(value: Any, depth: int = 0) -> Any:
    if depth > 64:  # deeper than any event of ours: shown as a marker rather than walked
        return "[nested too deep]"
    if isinstance(value, dict):
        return {
            key: REDACTED
            if _SECRET_KEY.search(str(key)) and value[key] not in (None, "")
            else _scrub_json(value[key], depth + 1)
            for key in value
        }
    if isinstance(value, list):
        return [_scrub_json(item, depth + 1) for item in value]
    if isinstance(value, str) and value[:1] in "{[" and len(value) <= _NESTED_JSON_CHARS:
        # JSON inside a string (an SNS message in SQS, a stringified body): its keys are keys too.
        try:
            inner = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if isinstance(inner, dict | list):
            return json.dumps(_scrub_json(inner, depth + 1), ensure_ascii=False)
    return value


def escape(text: str) -> str:
    """Every character a terminal would act on, or that would hide or reorder text, as an escape."""
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an escape (`\\u202e` stays whole or goes)."""
    if len(text) <= limit:
        return text
    end = limit
    for match in _ESCAPE.finditer(text, max(0, limit - 9)):
        if match.start() >= limit:
            break
        if match.end() > limit:
            end = match.start()
            break
    return f"{text[:end]}… ({len(text) - end} characters cut)"


def safe_attributes(values: dict[str, str], limit: int = 100) -> dict[str, str]:
    """A message's attributes as they may be shown: a secret-sounding key's value redacted, every value
    previewed, every key made safe."""
    return {
        safe_text(key, limit): REDACTED if _SECRET_KEY.search(key) and value else preview(value, limit)
        for key, value in sorted(values.items())
    }


def safe_text(value: object, limit: int = 300) -> str:
    """A short field read from a message (an attribute, a subscription name, an error): the same rules."""
    return preview(str(value), limit)
