"""A function served as Cloud Run serves it, behind a Pub/Sub emulator push subscription, posting to a local
Slack receiver: the end-to-end rig of the Slack-posting functions (budget_alert, monitoring_alert)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.integration.conftest import PROJECT
from tooling.local_server import start_function, wait_until_listening
from tooling.localcloud.slack_receiver import SlackReceiver
from tooling.manifest import function_named

Publish = Callable[..., str]  # publish(data, **attributes) -> message id


def emulator_profile(monkeypatch, state_dir: Path, slack: SlackReceiver) -> dict[str, str]:
    """The emulators profile posting to `slack`; the process environment a served function gets."""
    import os

    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "emulators")
    monkeypatch.setenv("MLOPS_EVENTS_GCP_PROJECT", PROJECT)
    monkeypatch.setenv("MLOPS_EVENTS_SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    return dict(os.environ)


@contextlib.contextmanager
def served_function(name: str, env: Mapping[str, str], log_dir: Path) -> Iterator[str]:
    """The manifest's function `name` under the functions-framework CLI; yields its URL."""
    spec = function_named(name)
    with (log_dir / "function.log").open("w") as log:
        process, port = start_function(spec.source_path, spec.entry_point, env=env, stdout=log)
        try:
            wait_until_listening(port, process)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def push_topic(endpoint: str, topic_prefix: str, subscription_prefix: str) -> Iterator[Publish]:
    """A fresh topic with a push subscription to `endpoint`; yields publish(data, **attributes)."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(PROJECT, f"{topic_prefix}-{suffix}")
    subscription = subscriber.subscription_path(PROJECT, f"{subscription_prefix}-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={
            "name": subscription,
            "topic": topic,
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": 30,
        }
    )

    def send(data: bytes, **attributes: str) -> str:
        return publisher.publish(topic, data, **attributes).result(timeout=10)

    try:
        yield send
    finally:
        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)


def settle(slack: SlackReceiver, expected: int, quiet_s: float = 2.0, timeout_s: float = 30.0) -> list[dict]:
    """Wait for `expected` posts, then a quiet spell in which no further post may arrive."""
    posts = slack.wait_for_posts(expected, timeout_s=timeout_s)
    time.sleep(quiet_s)
    return slack.posts if len(slack.posts) != len(posts) else posts
