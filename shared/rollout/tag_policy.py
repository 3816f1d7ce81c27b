"""Which pushed image tags a rollout target follows.

A target names one policy: `all`, `exact:<tag>`, `glob:<pattern>`, `regex:<pattern>` or `semver:<range>`.
Keel, Flux image automation and Argo CD Image Updater all give semver policies npm's range syntax, so users write
ranges the way node-semver reads them; that grammar, npm's pre-release rule included, is implemented here in pure
Python so the Lambda carries no dependency for it.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.errors import ConfigError

KINDS = ("all", "exact", "glob", "regex", "semver")
# The mapping key that carries each kind's value: {"policy": "semver", "range": "^1.2"}.
_VALUE_KEYS = {"exact": "tag", "glob": "pattern", "regex": "pattern", "semver": "range"}
_EXAMPLES = {
    "exact": "exact:v1.2.3",
    "glob": "glob:release-*",
    "regex": "regex:^main-[0-9a-f]{7}$",
    "semver": "semver:^1.2",
}

# SemVer 2.0.0 grammar. [0-9], not \d: \d also matches non-ASCII digits.
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = rf"(?:{_NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_PRERELEASE = rf"{_PRE_ID}(?:\.{_PRE_ID})*"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_TAG_RE = re.compile(rf"[vV]?({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRERELEASE}))?(?:\+{_BUILD})?")
# A version inside a range may be partial (1, 1.2) or carry x's (1.x, 1.2.*, *), and may start with "v" or "=".
_X = rf"{_NUM}|[xX*]"
_PARTIAL = rf"=?[vV]?({_X})(?:\.({_X})(?:\.({_X})(?:-({_PRERELEASE}))?(?:\+{_BUILD})?)?)?"
_PARTIAL_RE = re.compile(_PARTIAL)
_COMPARATOR_RE = re.compile(rf"(~>|~|\^|<=|>=|<|>|=)?{_PARTIAL}")
_OP_SPACE_RE = re.compile(r"(~>|~|\^|<=|>=|<|>|=)\s+")  # npm reads "> 1.2" and "^ 1" as ">1.2" and "^1"
_HYPHEN_RE = re.compile(r"\s*(\S+)\s+-\s+(\S+)\s*")
_OPS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class _Version(NamedTuple):
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        """SemVer §11 precedence as a plain tuple, so `<` on keys is precedence and keys can be sorted.

        A release ends in (1,), a pre-release in (0, *identifiers), so 1.0.0-x < 1.0.0. Identifiers become (0, int)
        or (1, str): numeric ones compare as numbers and below alphanumeric ones, and tuple order makes a longer
        identifier list win when the shared part is equal. Build metadata never gets here: it has no precedence.
        """
        if not self.pre:
            return (self.major, self.minor, self.patch, (1,))
        ids = tuple((0, int(i)) if i.isdigit() else (1, i) for i in self.pre)
        return (self.major, self.minor, self.patch, (0, *ids))


_ZERO = ("0",)  # the lowest pre-release: npm's `<2.0.0-0` keeps out 2.0.0 and all its pre-releases
_Comparator = tuple[str, _Version]
_Partial = tuple[Any, Any, Any, tuple[str, ...]]  # (major, minor, patch, pre), None for a missing or x part


def _parse_version(tag: str) -> _Version | None:
    match = _TAG_RE.fullmatch(tag)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return _Version(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else ())


def semver_key(tag: str) -> tuple | None:
    """Sortable SemVer precedence key of a tag ("v" or "V" prefix allowed), or None when it is not a version."""
    version = _parse_version(tag)
    return None if version is None else version.key


def _partial(major: str | None, minor: str | None, patch: str | None, pre: str | None) -> _Partial:
    """Once a part is missing or x, npm treats the parts after it as x too (1.x.3 is 1.x)."""
    parts: list[int | None] = []
    for text in (major, minor, patch):
        wild = text is None or text in ("x", "X", "*") or (bool(parts) and parts[-1] is None)
        parts.append(None if wild or text is None else int(text))
    prerelease = tuple(pre.split(".")) if pre and parts[2] is not None else ()
    return (parts[0], parts[1], parts[2], prerelease)


def _span(major: int, minor: int | None) -> list[_Comparator]:
    """Every release of major.x (minor None) or major.minor.x."""
    upper = _Version(major + 1, 0, 0, _ZERO) if minor is None else _Version(major, minor + 1, 0, _ZERO)
    return [(">=", _Version(major, minor or 0, 0)), ("<", upper)]


def _caret(major, minor, patch, pre) -> list[_Comparator]:
    """^ allows changes that keep the left-most non-zero part: ^1.2.3 <2.0.0, ^0.2.3 <0.3.0, ^0.0.3 <0.0.4."""
    if major is None:
        return []
    if minor is None:
        return _span(major, None)
    if major > 0:
        upper = (major + 1, 0, 0)
    elif minor > 0 or patch is None:
        upper = (0, minor + 1, 0)
    else:
        upper = (0, 0, patch + 1)
    return [(">=", _Version(major, minor, patch or 0, pre)), ("<", _Version(*upper, _ZERO))]


def _tilde(major, minor, patch, pre) -> list[_Comparator]:
    """~ allows patch changes when a minor is given (~1.2.3 <1.3.0), minor changes when not (~1 <2.0.0)."""
    if major is None:
        return []
    if minor is None:
        return _span(major, None)
    return [(">=", _Version(major, minor, patch or 0, pre)), ("<", _Version(major, minor + 1, 0, _ZERO))]


def _primitive(op: str, major, minor, patch, pre) -> list[_Comparator]:
    """A comparator with a partial version, read as npm does: >=1.2 is >=1.2.0, <1.2 <1.2.0-0, >1.2 >=1.3.0."""
    if patch is not None:
        return [(op or "=", _Version(major, minor, patch, pre))]
    if major is None:  # *, x, >=*: anything; >* and <*: nothing
        return [("<", _Version(0, 0, 0, _ZERO))] if op in ("<", ">") else []
    if op in ("", "="):
        return _span(major, minor)
    low = _Version(major, minor or 0, 0)
    beyond = _Version(major + 1, 0, 0) if minor is None else _Version(major, minor + 1, 0)
    bound = low if op in (">=", "<") else beyond  # >=1.2 is >=1.2.0 and <1.2 <1.2.0-0; >1.2 >=1.3.0, <=1.2 <1.3.0-0
    return [(">=", bound)] if op[0] == ">" else [("<", bound._replace(pre=_ZERO))]


def _hyphen(low: _Partial, high: _Partial) -> list[_Comparator]:
    """1.2.3 - 2.3.4 is >=1.2.3 <=2.3.4; a partial upper end takes all of it: 1.2 - 2.3 is <2.4.0-0."""
    out: list[_Comparator] = []
    if low[0] is not None:
        out.append((">=", _Version(low[0], low[1] or 0, low[2] or 0, low[3])))
    if high[2] is not None:
        out.append(("<=", _Version(*high)))
    elif high[0] is not None:
        out.append(_span(high[0], high[1])[1])
    return out


def _parse_range(text: str) -> tuple[tuple[_Comparator, ...], ...]:
    """npm range -> OR of AND-sets of plain comparators. Unlike npm, an empty alternative ("^1 ||") is an error:
    npm reads it as "*", and a stray "||" in a rollout config must not mean "roll every version out"."""
    sets = []
    for alternative in text.split("||"):
        if not alternative.strip():
            raise ConfigError(f"invalid semver range {text!r}: empty alternative around '||'")
        hyphen = _HYPHEN_RE.fullmatch(alternative)
        if hyphen:
            ends = [match for end in hyphen.groups() if (match := _PARTIAL_RE.fullmatch(end))]
            if len(ends) != 2:
                raise ConfigError(f"invalid semver range {text!r}: cannot read hyphen range {alternative.strip()!r}")
            sets.append(tuple(_hyphen(*(_partial(*end.groups()) for end in ends))))
            continue
        comparators: list[_Comparator] = []
        for token in _OP_SPACE_RE.sub(r"\1", alternative).split():
            match = _COMPARATOR_RE.fullmatch(token)
            if match is None:
                raise ConfigError(f"invalid semver range {text!r}: cannot read {token!r}")
            op, *parts = match.groups()
            partial = _partial(*parts)
            if op == "^":
                comparators += _caret(*partial)
            elif op in ("~", "~>"):
                comparators += _tilde(*partial)
            else:
                comparators += _primitive(op or "", *partial)
        sets.append(tuple(comparators))
    return tuple(sets)


def _admits(comparators: tuple[_Comparator, ...], version: _Version) -> bool | None:
    """True, False, or None: inside the bounds but a pre-release that npm's rule keeps out.

    npm's rule: a pre-release passes only if a comparator of the same AND-set is a pre-release of the same
    major.minor.patch. Whoever writes >=1.2.3-rc.1 opts into 1.2.3's release candidates, not into 2.0.0-rc.1;
    a range meant for releases must never pick up a release candidate of the next major.
    """
    if not all(_OPS[op](version.key, bound.key) for op, bound in comparators):
        return False
    if not version.pre:
        return True
    same = version[:3]
    return True if any(bound.pre and bound[:3] == same for _, bound in comparators) else None


@dataclass(frozen=True)
class TagDecision:
    """Whether a push is rolled out and why, in a sentence for logs and Slack.

    `version` is the tag's `semver_key` when a semver policy could read the tag as a version, else None.
    """

    matched: bool
    reason: str
    version: tuple | None = None


@dataclass(frozen=True)
class TagPolicy:
    """One target's rule for pushed tags. Validated (and a regex or range compiled) on construction."""

    kind: str
    value: str | None = None
    _matcher: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown tag policy {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "all":
            if self.value is not None:
                raise ConfigError(f"tag policy 'all' takes no value, got {self.value!r}")
            return
        key = _VALUE_KEYS[self.kind]
        if not isinstance(self.value, str) or not self.value.strip():
            raise ConfigError(f"tag policy {self.kind!r} needs a {key} (e.g. {_EXAMPLES[self.kind]!r})")
        if self.kind == "regex":
            try:
                object.__setattr__(self, "_matcher", re.compile(self.value))
            except re.error as exc:
                raise ConfigError(f"tag policy 'regex': invalid pattern {self.value!r}: {exc}") from exc
        elif self.kind == "semver":
            object.__setattr__(self, "_matcher", _parse_range(self.value))

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, obj: object) -> TagPolicy:
        """From config: "all", "<kind>:<value>", or {"policy": kind, "tag" | "pattern" | "range": value}."""
        if isinstance(obj, TagPolicy):
            return obj
        if isinstance(obj, str):
            kind, sep, value = obj.partition(":")
            kind = kind.strip().lower()
            if kind not in KINDS:
                hint = f" (for that exact tag write 'exact:{obj}')" if not sep else ""
                raise ConfigError(f"unknown tag policy {obj!r}; expected all or <kind>:<value>{hint}")
            return cls(kind, value or None)
        if isinstance(obj, Mapping):
            named = obj.get("policy")
            if not isinstance(named, str):
                raise ConfigError(f"tag policy mapping needs 'policy' set to one of {', '.join(KINDS)}")
            kind = named.strip().lower()
            if kind not in KINDS:
                raise ConfigError(f"unknown tag policy {kind!r}; expected one of {', '.join(KINDS)}")
            key = _VALUE_KEYS.get(kind)
            extra = sorted(str(k) for k in obj if k not in ("policy", key))
            if extra:
                takes = f"takes only {key!r}" if key else "takes no value"
                raise ConfigError(f"tag policy {kind!r} {takes}; unexpected {', '.join(map(repr, extra))}")
            given = obj.get(key) if key else None
            if given is not None and not isinstance(given, str):
                raise ConfigError(
                    f"tag policy {kind!r}: {key!r} must be a string (quote it in YAML), got {given!r:.80}"
                )
            return cls(kind, given)
        raise ConfigError(f"tag policy must be a string or a mapping, got {type(obj).__name__}")

    def decide(self, tag: str | None) -> TagDecision:
        """Roll this push out? A push without a tag is identified by its digest alone: only `all` follows it."""
        if self.kind == "all":
            reason = (
                f"tag {tag} is followed by policy all" if tag else "push without a tag; policy all follows it by digest"
            )
            return TagDecision(True, reason)
        if not tag:
            return TagDecision(False, "push without a tag; policy needs one")
        if self.kind == "exact":
            ok = tag == self.value
            return TagDecision(ok, f"tag {tag} {'equals' if ok else 'is not'} {self.value}")
        if self.kind in ("glob", "regex"):
            pattern = self.value or ""
            ok = fnmatch.fnmatchcase(tag, pattern) if self.kind == "glob" else bool(self._matcher.fullmatch(tag))
            return TagDecision(ok, f"tag {tag} {'matches' if ok else 'does not match'} {self.kind} {self.value}")
        version = _parse_version(tag)
        if version is None:
            return TagDecision(False, f"tag {tag} is not a semantic version")
        verdicts = [_admits(comparators, version) for comparators in self._matcher]
        if True in verdicts:
            return TagDecision(True, f"tag {tag} satisfies {self.value}", version.key)
        if None in verdicts:
            core = ".".join(map(str, version[:3]))
            reason = f"tag {tag} is a pre-release and {self.value} names no pre-release of {core}"
            return TagDecision(False, reason, version.key)
        return TagDecision(False, f"tag {tag} is outside {self.value}", version.key)
