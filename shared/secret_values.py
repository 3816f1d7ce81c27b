"""The values of the secrets this process loaded, and their removal from whatever it logs or prints.

A secret reaches a log in more shapes than the one it was read in: quoted by a library's error (its repr,
a tab as `\\t`), percent-encoded in a URL, JSON-escaped in a structured line, or only its path when an
error quotes the request line. `remember_secret` registers a value where it is read (settings, Secret
Manager, Secrets Manager, a kubeconfig's credentials); `redact` removes every shape of every registered
value; `RedactSecrets` is the logging filter that applies it to every record, installed on every handler
by `install_redaction` (shared.log calls it). The rule the rest of the code keeps: a library's exception
is never interpolated raw where a secret may be inside; this module is the net under that rule.

Over the ~400 lines a runtime module keeps to, on purpose: one rule (every shape of every loaded
secret removed) applied at its three exits (exceptions, log records, the CLI's streams), which must
stay in step with the shapes computed here; split, each would need this registry's internals.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote

REDACTED = "[redacted]"
# A value shorter than this is no secret worth the name, and would cut ordinary words out of every line.
MIN_SECRET_CHARS = 6
# Parts of a secret redacted on their own: a webhook path's segments (Slack's team and hook ids, the token),
# the pieces a pasted line break cut a value into. Shorter parts would match ordinary text.
MIN_PART_CHARS = 4
MIN_PIECE_CHARS = 8
# Where a webhook URL's secret path starts: what comes after it identifies the hook.
_HOOK_PREFIXES = ("/services/", "/workflows/", "/triggers/")
_URL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)\Z", re.DOTALL)
_SEPARATORS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")
_PERCENT = re.compile(r"%([0-9A-Fa-f])([0-9A-Fa-f])")


class _Registry:
    """The values and the one pattern matching all their shapes; swapped whole, so readers need no lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> bool:
        """True when a value was new."""
        with self._lock:
            new = self.values | {v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SECRET_CHARS}
            if new == self.values:
                return False
            self.pattern = _compile(new)
            self.values = frozenset(new)
            return True

    def clear(self) -> None:
        with self._lock:
            self.values, self.pattern = frozenset(), None


_registry = _Registry()


def remember_secret(*values: str | None) -> None:
    """Register values this process loaded as secrets: from now on, no log record or CLI output shows them.
    The first secret installs the redaction on every handler: a process that loads none pays nothing."""
    if _registry.add(v for v in values if v):
        install_redaction()


def forget_secrets() -> None:
    """For tests: a registry as a fresh process has it."""
    _registry.clear()


def known_secrets() -> frozenset[str]:
    return _registry.values


def redact(text: str) -> str:
    """`text` with every shape of every remembered secret replaced by [redacted]."""
    pattern = _registry.pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def redact_value(value: Any) -> Any:
    """`value` with secrets removed from its strings, containers walked (keys too); other objects whose text
    carries a secret become that text, redacted."""
    if _registry.pattern is None or value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        clean = redact(text)
        return value if clean == text else clean.encode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return scrub_exception(value)
    try:
        text = str(value)
    except Exception:  # an object whose str() fails is shown by no formatter either
        return value
    clean = redact(text)
    return value if clean == text else clean


def shapes(value: str) -> set[str]:
    """Every text by which `value` may show in a log: its parts, each raw, percent-encoded, as Python and
    JSON escape it, and those escapes inside a JSON line."""
    out: set[str] = set()
    for fragment, least in _fragments(value):
        for shape in _encodings(fragment):
            if len(shape) >= least:
                out.add(shape)
    return out


def _fragments(value: str) -> set[tuple[str, int]]:
    """The substrings of `value` that identify it on their own, each with the least length worth matching.
    A URL's scheme and host are no secret and stay readable: `https://hooks.slack.com/[redacted]`."""
    whole = {value, value.strip(), unquote(value), unquote(value).strip()}
    pieces = {p for w in whole for p in _SEPARATORS.split(w) if len(p) >= MIN_PIECE_CHARS and p != w}
    found: set[tuple[str, int]] = set()
    for text in whole:  # base64, as Google's clients log a secret payload; of the whole value only
        raw = text.encode("utf-8", "surrogatepass")
        found |= {(base64.b64encode(raw).decode(), MIN_SECRET_CHARS), (base64.urlsafe_b64encode(raw).decode(), 6)}
    for text in whole | pieces:
        url = _url_fragments(text)
        found |= url if url is not None else {(text, MIN_SECRET_CHARS if text in whole else MIN_PIECE_CHARS)}
    return found


def _url_fragments(text: str) -> set[tuple[str, int]] | None:
    """A URL's secret parts (None if `text` is no URL): everything after the host (errors often quote only
    the request's path), the password in its userinfo, and for a webhook the path after /services/ and
    each of its segments."""
    match = _URL.match(text)
    if not match:
        return None
    netloc, rest = match.group(2), match.group(3).lstrip("/")
    found: set[tuple[str, int]] = set()
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        found.add((userinfo, MIN_SECRET_CHARS))
        found.add((userinfo.partition(":")[2], MIN_SECRET_CHARS))
    path, _, query = rest.partition("?") if "?" in rest else rest.partition("#")
    found |= {(rest, MIN_SECRET_CHARS), (path, MIN_SECRET_CHARS), (query, MIN_SECRET_CHARS)}
    path = "/" + path
    for prefix in _HOOK_PREFIXES:
        if prefix in path:
            after = path.split(prefix, 1)[1]
            segments = [s for s in after.split("/") if s]
            for i in range(len(segments)):  # "T0/B0/tok", "B0/tok", "tok": a message may quote any tail
                found.add(("/".join(segments[i:]), MIN_PART_CHARS))
                found.add((segments[i], MIN_PART_CHARS))
            break
    else:
        segments = [s for s in path.split("/") if s]
        if segments:
            found.add((segments[-1], MIN_PIECE_CHARS))  # most URL secrets end in their token
    return found


def _encodings(fragment: str) -> set[str]:
    escaped = {
        fragment,
        repr(fragment)[1:-1],
        ascii(fragment)[1:-1],
        repr(fragment.encode("utf-8", "surrogatepass"))[2:-1],
        json.dumps(fragment)[1:-1],
        json.dumps(fragment, ensure_ascii=False)[1:-1],
        html.escape(fragment, quote=False),
    }
    out = set(escaped)
    for text in escaped:
        out.add(json.dumps(text)[1:-1])  # a repr quoted inside a JSON log line: \t becomes \\t
        out.add(json.dumps(text)[1:-1].replace("/", "\\/"))  # JSON encoders that escape slashes
    encoded = fragment.encode("utf-8", "surrogatepass")
    out |= {quote(encoded, safe="/:"), quote(encoded, safe=""), quote_plus(encoded, safe="/:")}
    return {s for s in out if s}


def _compile(values: Iterable[str]) -> re.Pattern[str] | None:
    every = set().union(*(shapes(v) for v in values)) if values else set()
    if not every:
        return None
    # Longest first: the whole URL is replaced before its path, so one secret leaves one [redacted].
    alternatives = [_PERCENT.sub(_either_case, re.escape(s)) for s in sorted(every, key=lambda s: (-len(s), s))]
    return re.compile("|".join(alternatives))


def _either_case(match: re.Match[str]) -> str:
    """%0a and %0A are the same byte; encoders differ in the case of percent escapes."""
    return "%" + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in match.groups())


# --- exceptions --------------------------------------------------------------------------------------------


def scrub_exception(exc: BaseException) -> BaseException:
    """`exc`, or where its text (or a cause's) carries a secret, a stand-in: an instance of a subclass of
    `exc`'s class with the same name and module, printing `exc`'s text with the secrets cut out, with the
    same traceback and stand-ins for its causes. A formatter prints what it would have printed for `exc`,
    less the secrets; `except` clauses catch it as they caught `exc`. `exc` itself is left as it is."""
    if _registry.pattern is None or not _leaks(exc, set()):
        return exc
    return _stand_in(exc, {})


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}>"


def _repr(exc: BaseException) -> str:
    try:
        return repr(exc)
    except Exception:
        return ""


def _leaks(exc: BaseException | None, seen: set[int]) -> bool:
    if exc is None or id(exc) in seen:
        return False
    seen.add(id(exc))
    notes = [n for n in getattr(exc, "__notes__", None) or [] if isinstance(n, str)]
    if any(redact(t) != t for t in [_text(exc), _repr(exc), *notes]):
        return True
    return _leaks(exc.__cause__, seen) or _leaks(exc.__context__, seen)


def _stand_in(exc: BaseException, made: dict[int, BaseException]) -> BaseException:
    if id(exc) in made:
        return made[id(exc)]
    text = redact(_text(exc))
    clean = _instance_like(exc, text)
    made[id(exc)] = clean
    for key, value in vars(exc).items():  # e.g. EventParseError.field, URLError.reason
        if not key.startswith("__") and key != "_redacted_text":
            # A read-only attribute of a C exception stays unset: the stand-in's text is all a formatter shows.
            with contextlib.suppress(Exception):
                setattr(clean, key, redact_value(value) if not isinstance(value, BaseException) else None)
    clean.__traceback__ = exc.__traceback__
    clean.__suppress_context__ = exc.__suppress_context__
    if exc.__cause__ is not None:
        clean.__cause__ = _stand_in(exc.__cause__, made)
    if exc.__context__ is not None:
        clean.__context__ = _stand_in(exc.__context__, made)
    notes = getattr(exc, "__notes__", None)
    if notes:
        clean.__notes__ = [redact(n) if isinstance(n, str) else n for n in notes]
    return clean


class _Redacted:
    """Mixed into the stand-ins: prints the redacted text, whatever the original class's __str__ does."""

    _redacted_text = ""

    def __str__(self) -> str:
        return self._redacted_text


def _instance_like(exc: BaseException, text: str) -> BaseException:
    """An exception that is an instance of `exc`'s class (an `except TransientError` still catches it), named
    and placed as it is, printing `text`; a plain Exception of the same name where the class will not have it."""
    cls = type(exc)
    for bases in ((_Redacted, cls), (_Redacted, Exception)):
        try:
            namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            stand_in_cls: type[BaseException] = type(cls.__name__, bases, namespace)
            clean = stand_in_cls.__new__(stand_in_cls, text)
            BaseException.__init__(clean, text)
            setattr(clean, "_redacted_text", text)  # noqa: B010  (a class made at run time: mypy cannot see it)
            return clean
        except Exception:
            continue
    raise AssertionError("unreachable: Exception always subclasses")


# --- logging -----------------------------------------------------------------------------------------------

# What every LogRecord has; anything else on a record came from `extra=` (our `fields`, powertools' keys).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Cut the secrets out of a record in place: its message (msg with args), its exception and every cause,
    its stack info and its extra fields. A record without secrets is left exactly as it is."""
    _mask_sdk_payloads(record)
    if _registry.pattern is None:
        return record
    if isinstance(record.msg, str):
        try:
            message = record.getMessage()
        except Exception:  # bad args: logging reports that itself; still, no secret in msg or args
            record.msg, record.args = redact(record.msg), redact_value(record.args)
        else:
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
    else:  # powertools logs dicts as structured messages
        record.msg = redact_value(record.msg)
        record.args = redact_value(record.args)
    if record.exc_info and isinstance(record.exc_info, tuple) and record.exc_info[1] is not None:
        _, exc, tb = record.exc_info
        clean_exc = scrub_exception(exc)
        if clean_exc is not exc:
            record.exc_info = (type(clean_exc), clean_exc, tb)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(vars(record).items()):
        if key not in _RECORD_ATTRIBUTES:
            clean = redact_value(value)
            if clean is not value:
                setattr(record, key, clean)
    return record


def _mask_sdk_payloads(record: logging.LogRecord) -> None:
    """The SDKs log a secret's value at DEBUG as they read it, before it can be remembered: botocore the
    response body of GetSecretValue, Google's clients the payload of AccessSecretVersion (base64). Those
    payloads are cut out whether or not a secret is known yet."""
    name = record.name or ""  # logging.makeLogRecord builds records with no name
    if name.startswith("botocore."):
        try:
            message = record.getMessage()
        except Exception:
            return
        if "SecretString" in message or "SecretBinary" in message:
            record.msg, record.args = f"{message.split(':', 1)[0][:120]}: [redacted: a payload carrying a secret]", ()
    elif name.startswith("google.cloud.secretmanager"):
        for key in ("request", "response", "httpRequest", "httpResponse"):
            value = getattr(record, key, None)
            if isinstance(value, dict) and value.get("payload"):
                setattr(record, key, {**value, "payload": REDACTED})


class RedactSecrets(logging.Filter):
    """On a handler: every record it emits has the remembered secrets cut out (see `redact_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FILTER = RedactSecrets()
_factory_installed = False
_install_lock = threading.Lock()


def install_redaction() -> None:
    """Put the filter on every handler there is (the root's, every logger's, logging's last resort), and
    redact records as they are made, for the handlers added later (pytest's, a framework's)."""
    global _factory_installed
    with _install_lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(redacting_factory)
            _factory_installed = True
        loggers = [logging.getLogger()]
        loggers += [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
        handlers = [h for lg in loggers for h in list(lg.handlers)]
        if logging.lastResort is not None:
            handlers.append(logging.lastResort)
        for handler in handlers:
            add_filter(handler)


def add_filter(handler: logging.Handler) -> logging.Handler:
    if not any(isinstance(f, RedactSecrets) for f in handler.filters):
        handler.addFilter(_FILTER)
    return handler


# --- streams (the CLI's stdout and stderr) -----------------------------------------------------------------


class RedactingStream(io.TextIOBase):
    """A text stream that redacts what is written to it and hands it to the stream it wraps."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None) or "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def redact_standard_streams() -> None:
    """Wrap sys.stdout and sys.stderr (the CLI's own output) in RedactingStreams, once."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
