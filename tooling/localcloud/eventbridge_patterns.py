"""EventBridge's pattern matching, for the local cloud's rules (the rollout Lambda's ECR rule).

`matches` covers the operators rules commonly use: exact values (string, number, bool, null),
`prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `numeric` and `exists`. Not supported
(a ValueError, never a silent miss): `$or`, `wildcard`, `cidr`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` matches the EventBridge `pattern`: every field of the pattern must match."""
    if "$or" in pattern:
        raise ValueError("unsupported event pattern operator '$or'")
    return all(_field_matches(rule, event.get(key, _MISSING)) for key, rule in pattern.items())


def _field_matches(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):  # a nested pattern: the event must have an object there
        return isinstance(value, Mapping) and matches(rule, value)
    if not isinstance(rule, list):
        raise ValueError(f"invalid event pattern: a leaf must be a list of values or operators, got {rule!r}")
    return any(_matcher_matches(matcher, value) for matcher in rule)


def _matcher_matches(matcher: Any, value: Any) -> bool:
    """One element of a pattern's list against the event's value (any element of an event array)."""
    if isinstance(matcher, Mapping):
        if list(matcher) == ["exists"]:
            return _exists(matcher["exists"], value)
        if value is _MISSING or isinstance(value, Mapping):
            return False
        return any(_operator_matches(matcher, v) for v in _values(value))
    if value is _MISSING or isinstance(value, Mapping):
        return False
    return any(_same(matcher, v) for v in _values(value))


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _exists(wanted: Any, value: Any) -> bool:
    if not isinstance(wanted, bool):
        raise ValueError(f"invalid event pattern: exists takes true or false, got {wanted!r}")
    present = value is not _MISSING and not isinstance(value, Mapping)  # exists applies to leaves only
    return present is wanted


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(expected: Any, value: Any) -> bool:
    """JSON equality: 5 is 5.0, but true is not 1 (Python's True == 1 must not leak in)."""
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _operator_matches(matcher: Mapping[str, Any], value: Any) -> bool:
    if len(matcher) != 1:
        raise ValueError(f"invalid event pattern: one operator per object, got {dict(matcher)!r}")
    ((name, argument),) = matcher.items()
    if name == "prefix":
        return isinstance(value, str) and value.startswith(_text(name, argument))
    if name == "suffix":
        return isinstance(value, str) and value.endswith(_text(name, argument))
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == _text(name, argument).casefold()
    if name == "anything-but":
        return _anything_but(argument, value)
    if name == "numeric":
        return _numeric(argument, value)
    raise ValueError(f"unsupported event pattern operator {name!r}")


def _text(name: str, argument: Any) -> str:
    if not isinstance(argument, str):
        raise ValueError(f"invalid event pattern: {name} takes a string, got {argument!r}")
    return argument


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, Mapping):  # {"anything-but": {"prefix": "x"}} and the like
        return not _operator_matches(argument, value)
    return not any(_same(excluded, value) for excluded in _values(argument))


def _numeric(argument: Any, value: Any) -> bool:
    if not isinstance(argument, list) or not argument or len(argument) % 2:
        raise ValueError(f"invalid event pattern: numeric takes operator/number pairs, got {argument!r}")
    pairs = list(zip(argument[::2], argument[1::2], strict=True))
    for op, bound in pairs:
        if op not in _NUMERIC or not _is_number(bound):
            raise ValueError(f"invalid event pattern: numeric comparison {op!r} {bound!r}")
    return _is_number(value) and all(_NUMERIC[op](value, bound) for op, bound in pairs)
