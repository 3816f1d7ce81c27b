"""What EventBridge does for ECR on the local cloud: moto's ECR emits no events, so `up` polls it for
images that came and went, builds the `ECR Image Action` events ECR would send, and routes each to the
Lambdas whose rule pattern matches.

`matches` is EventBridge's pattern matching for the operators rules commonly use: exact values
(string, number, bool, null), `prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `numeric`
and `exists`. Not supported (a ValueError, never a silent miss): `$or`, `wildcard`, `cidr`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tooling.event_factory import ecr_image_action_event

_MISSING = object()
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# -- event patterns ------------------------------------------------------------------------------
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


# -- ECR image actions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageKey:
    """What ECR sends one event for: an image digest under one tag (or none, pushed by digest)."""

    repository: str
    digest: str
    tag: str | None

    @property
    def order(self) -> tuple[str, str, str]:
        return self.repository, self.digest, self.tag or ""


@dataclass(frozen=True)
class _Seen:
    key: ImageKey
    pushed_at: datetime | None


Snapshot = dict[str, dict[ImageKey, datetime | None]]  # repository -> its images and push times


class EcrImageWatcher:
    """Turns what changed in an ECR registry between two polls into `ECR Image Action` events.

    A new (digest, tag) is a PUSH, one event per tag as ECR sends them; a digest pushed with no tag is
    a PUSH without `image-tag`. A (digest, tag) that went away is a DELETE, except when its tag now
    names another digest (a tag moved by a push: ECR sends only that push) or its digest is still there
    (it gained a tag). A repository that disappeared sends nothing, as ECR does not. Not thread-safe:
    one poller.
    """

    def __init__(self, ecr_client: Any, *, account: str, region: str, report_existing: bool = False) -> None:
        self._ecr = ecr_client
        self._account, self._region = account, region
        self._report_existing = report_existing
        self._seen: Snapshot | None = None

    def poll(self) -> list[dict[str, Any]]:
        """The events since the last poll; the first poll sets the baseline."""
        current = self._snapshot()
        before = self._seen
        self._seen = current
        if before is None:
            return self._events(_pushes({}, current), []) if self._report_existing else []
        return self._events(_pushes(before, current), _deletes(before, current))

    def _snapshot(self) -> Snapshot:
        snapshot: Snapshot = {}
        for repository in self._repositories():
            images = self._images(repository)
            if images is not None:
                snapshot[repository] = images
        return snapshot

    def _repositories(self) -> list[str]:
        pages = self._ecr.get_paginator("describe_repositories").paginate()
        return sorted(r["repositoryName"] for page in pages for r in page["repositories"])

    def _images(self, repository: str) -> dict[ImageKey, datetime | None] | None:
        """Its images, or None when it was deleted since `describe_repositories`."""
        images: dict[ImageKey, datetime | None] = {}
        try:
            for page in self._ecr.get_paginator("describe_images").paginate(repositoryName=repository):
                for detail in page["imageDetails"]:
                    for tag in detail.get("imageTags") or [None]:
                        images[ImageKey(repository, detail["imageDigest"], tag)] = detail.get("imagePushedAt")
        except self._ecr.exceptions.RepositoryNotFoundException:
            return None
        return images

    def _events(self, pushes: Iterable[_Seen], deletes: Iterable[ImageKey]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        ordered = sorted(pushes, key=lambda s: (s.pushed_at or now, s.key.order))
        events = [self._event(s.key, "PUSH", s.pushed_at or now) for s in ordered]
        return events + [self._event(key, "DELETE", now) for key in sorted(deletes, key=lambda k: k.order)]

    def _event(self, key: ImageKey, action: str, when: datetime) -> dict[str, Any]:
        return ecr_image_action_event(
            key.repository,
            key.digest,
            tag=key.tag,
            action=action,
            account=self._account,
            region=self._region,
            time=when,
        )


def _digests(images: Mapping[ImageKey, Any]) -> set[str]:
    return {key.digest for key in images}


def _tagged(images: Mapping[ImageKey, Any]) -> dict[str, str]:
    return {key.tag: key.digest for key in images if key.tag is not None}


def _pushes(before: Snapshot, after: Snapshot) -> list[_Seen]:
    """New tags, and untagged digests the repository did not have (not ones that just lost their tag)."""
    pushed = []
    for repository, images in after.items():
        old = before.get(repository, {})
        for key, pushed_at in images.items():
            if key in old or (key.tag is None and key.digest in _digests(old)):
                continue
            pushed.append(_Seen(key, pushed_at))
    return pushed


def _deletes(before: Snapshot, after: Snapshot) -> list[ImageKey]:
    """Gone (digest, tag)s, except a tag that moved to another digest or a digest that is still there."""
    deleted = []
    for repository, images in before.items():
        if repository not in after:
            continue
        now = after[repository]
        tags_now, digests_now = _tagged(now), _digests(now)
        for key in images:
            if key in now:
                continue
            moved = key.tag is not None and tags_now.get(key.tag, key.digest) != key.digest
            retagged = key.tag is None and key.digest in digests_now
            if not (moved or retagged):
                deleted.append(key)
    return deleted
