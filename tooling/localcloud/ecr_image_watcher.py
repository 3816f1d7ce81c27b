"""What EventBridge does for ECR on the local cloud: moto's ECR emits no events, so `up` polls it for
images that came and went and builds the `ECR Image Action` events ECR would send (ecr_bridge.py
routes each to the Lambdas whose rule pattern matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tooling.fixture_factory import ecr_image_action_event


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
