"""A Pub/Sub dead-letter hold: the pull subscription on a dead-letter topic.

Pub/Sub's dead-lettering forwards the message as it was (data, attributes) and adds where it came from:
`CloudPubSubDeadLetterSourceDeliveryCount`, `...SourceSubscription`, `...SourceSubscriptionProject`,
`...SourceTopicPublishTime` (`up` adds the same). Reading the hold leases each message and hands it back
at once (ack deadline 0), so a listing takes nothing out; a redrive republishes the original data and
attributes (not the dead-letter ones) to the function's trigger topic and acknowledges the held copy
only once the publish returned a message id. The republished message is a new one, with a fresh
delivery count: it gets the trigger's whole retry policy again, and the function's idempotency key makes
a second delivery of an already applied event a `duplicate`.

Clients are the GAPIC ones (`google.pubsub_v1`): their `publish` returns once the message is stored,
with no batching in between to hide a failure.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tooling.dead_letters.errors import DeadLetterError, describe_cloud_error
from tooling.dead_letters.holds import HOLD_SUFFIXES, Hold
from tooling.dead_letters.letters import DeadLetter, Redriven, iso_utc
from tooling.dead_letters.preview import preview, safe_attributes, safe_text

DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
SOURCE_PUBLISH_TIME = "CloudPubSubDeadLetterSourceTopicPublishTime"
RPC_TIMEOUT_S = 30.0
REDRIVE_LEASE_S = 600  # Pub/Sub's longest: the selected messages stay ours while they are republished
_BATCH = 100  # messages a pull asks for; ack ids per modify/ack request


@dataclass(frozen=True)
class _Pulled:
    letter: DeadLetter
    ack_id: str
    data: bytes
    attributes: dict[str, str]  # the original message's, as it was published


class PubsubHold:
    def __init__(
        self,
        hold: Hold,
        *,
        project: str,
        subscriber: Any,
        publisher: Any,
        immediate: bool = False,
        pull_wait_s: float = 5.0,
    ) -> None:
        """`immediate`: an empty pull answers at once (the emulator honours it; the cloud's pull waits up
        to `pull_wait_s` for messages, and an empty answer there ends the reading)."""
        self.hold, self._project = hold, project
        self._subscriber, self._publisher = subscriber, publisher
        self._immediate, self._pull_wait_s = immediate, pull_wait_s
        self._subscription: str | None = None

    @property
    def subscription(self) -> str:
        """The hold subscription's full name, found on the dead-letter topic (`<topic>-hold`)."""
        if self._subscription is None:
            topic = f"projects/{self._project}/topics/{self.hold.name}"
            listed = self._call(
                "list the subscriptions of",
                topic,
                lambda: list(self._publisher.list_topic_subscriptions(topic=topic, timeout=RPC_TIMEOUT_S)),
            )
            names = [str(name).rsplit("/", 1)[-1] for name in listed]
            found = next((self.hold.name + s for s in HOLD_SUFFIXES if self.hold.name + s in names), None)
            if found is None:
                expected = " or ".join(self.hold.name + s for s in HOLD_SUFFIXES)
                raise DeadLetterError(
                    f"no hold subscription on dead-letter topic {self.hold.name} in project {self._project} "
                    f"(expected {expected}): what is dead-lettered there is lost"
                )
            self._subscription = f"projects/{self._project}/subscriptions/{found}"
        return self._subscription

    @property
    def where(self) -> str:
        return self.subscription.rsplit("/", 1)[-1]

    def letters(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` messages waiting in the hold; all of them are left there."""
        pulled = self._pull(limit)
        self._release(pulled)
        return [p.letter for p in pulled]

    def redrive(self, wanted: Callable[[DeadLetter], bool], limit: int) -> list[Redriven]:
        """Republish each wanted message to its original topic, then remove it; the rest is left as it was."""
        pulled = self._pull(limit)
        chosen = [p for p in pulled if wanted(p.letter)]
        kept = [p for p in pulled if not wanted(p.letter)]
        self._release(kept)
        self._modify([p.ack_id for p in chosen], REDRIVE_LEASE_S)
        results: list[Redriven] = []
        try:
            for one in chosen:
                results.append(self._redrive_one(one))
        finally:  # what was not removed goes back at once, not after the long lease
            removed = {r.letter.id for r in results if r.removed}
            self._release([p for p in chosen if p.letter.id not in removed])
        return results

    # -- reading -------------------------------------------------------------------------------------
    def _pull(self, limit: int) -> list[_Pulled]:
        from google.api_core.exceptions import DeadlineExceeded

        subscription = self.subscription
        found: dict[str, _Pulled] = {}
        while len(found) < limit:
            asked = min(_BATCH, limit - len(found))
            try:
                with warnings.catch_warnings():  # return_immediately: deprecated, and what the emulator needs
                    warnings.simplefilter("ignore", DeprecationWarning)
                    response = self._call(
                        "pull from",
                        subscription,
                        self._subscriber.pull,
                        subscription=subscription,
                        max_messages=asked,
                        return_immediately=self._immediate,
                        timeout=RPC_TIMEOUT_S if self._immediate else self._pull_wait_s,
                        retry=None,
                    )
            except DeadLetterError as exc:
                if isinstance(exc.__cause__, DeadlineExceeded):  # the cloud's long pull found nothing more
                    break
                self._release(list(found.values()))
                raise
            received = list(response.received_messages)
            if not received:
                break
            fresh = 0
            for message in received:
                one = self._read(message)
                fresh += one.letter.id not in found
                found[one.letter.id] = one  # a lease that ran out meanwhile: the newest ack id counts
            if not fresh:
                break
        return list(found.values())

    def _read(self, received: Any) -> _Pulled:
        message = received.message
        attributes = {str(k): str(v) for k, v in message.attributes.items()}
        original = {k: v for k, v in attributes.items() if not k.startswith(DEAD_LETTER_PREFIX)}
        source = attributes.get(SOURCE_SUBSCRIPTION)
        spec = self.hold.function_for(source)
        count = attributes.get(DELIVERY_COUNT, "")
        data = bytes(message.data)
        letter = DeadLetter(
            id=safe_text(message.message_id, 256),
            kind="pubsub",
            hold=self.where,
            function=spec.name if spec else None,
            destination=str(spec.trigger["topic"]) if spec else None,
            attempts=int(count) if count.isdigit() else None,
            first_published=iso_utc(attributes.get(SOURCE_PUBLISH_TIME)),
            dead_lettered=iso_utc(message.publish_time),
            size=len(data),
            preview=preview(data),
            attributes=safe_attributes(original),
        )
        return _Pulled(letter, received.ack_id, data, original)

    def _release(self, pulled: list[_Pulled]) -> None:
        """Hand messages back to the hold at once (a nack: ack deadline 0)."""
        self._modify([p.ack_id for p in pulled], 0)

    def _modify(self, ack_ids: list[str], seconds: int) -> None:
        subscription = self.subscription
        for start in range(0, len(ack_ids), _BATCH):
            batch = ack_ids[start : start + _BATCH]
            self._call(
                "change the lease on",
                subscription,
                self._subscriber.modify_ack_deadline,
                subscription=subscription,
                ack_ids=batch,
                ack_deadline_seconds=seconds,
                timeout=RPC_TIMEOUT_S,
            )

    # -- redriving -----------------------------------------------------------------------------------
    def _redrive_one(self, one: _Pulled) -> Redriven:
        from google import pubsub_v1

        letter, topic = one.letter, one.letter.destination
        if topic is None:
            return Redriven(
                letter, False, f"not redriven: which function it was for is unknown; it stays in {self.where}"
            )
        path = f"projects/{self._project}/topics/{topic}"
        message = pubsub_v1.PubsubMessage(data=one.data, attributes=one.attributes)
        try:
            answer = self._call(
                "publish to",
                path,
                lambda: self._publisher.publish(topic=path, messages=[message], timeout=RPC_TIMEOUT_S),
            )
        except DeadLetterError as exc:
            return Redriven(letter, False, f"not republished ({exc}); it stays in {self.where}")
        if not answer.message_ids:  # no id: nothing says it was stored, so the held copy stays
            return Redriven(
                letter, False, f"not republished (the publish returned no message id); it stays in {self.where}"
            )
        new_id = safe_text(answer.message_ids[0], 256)
        try:
            self._call(
                "acknowledge on",
                self.subscription,
                lambda: self._subscriber.acknowledge(
                    subscription=self.subscription, ack_ids=[one.ack_id], timeout=RPC_TIMEOUT_S
                ),
            )
        except DeadLetterError as exc:
            return Redriven(
                letter,
                False,
                f"republished to {topic} as message {new_id}, but still in {self.where} ({exc}); a second redrive "
                "sends it again (the function takes it as a duplicate)",
            )
        return Redriven(letter, True, f"republished to {topic} as message {new_id}", removed=True)

    def _call(self, what: str, name: str, call: Callable[..., Any], **arguments: Any) -> Any:
        """`call(**arguments)`, Pub/Sub's errors as one line naming what was asked of which resource."""
        from google.api_core.exceptions import GoogleAPICallError, RetryError

        try:
            return call(**arguments)
        except (GoogleAPICallError, RetryError) as exc:
            raise DeadLetterError(f"Pub/Sub: could not {what} {name}: {describe_cloud_error(exc)}") from exc
