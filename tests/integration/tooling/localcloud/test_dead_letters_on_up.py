"""End to end, as an on-call would live it: `mlops-events up` in its own process, posting to a Slack webhook
that is down (503 to every request). A budget notification is retried as the manifest says, lands in the
dead-letter hold, shows in `mlops-events dead-letters list --json` (run from another shell), and once the
webhook answers again `mlops-events dead-letters redrive` delivers it: one Slack post, and the hold empty.

The webhook is a Slack receiver in this process (`up --slack-webhook-url`), so the test decides when it is
down. Each failed delivery waits out slack_sdk's own retries (about 5 s) before budget_alert answers 500,
so the 20 attempts take about two minutes; the manifest's backoffs are scaled down to a second each."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.local_cloud import RunningUp
from tooling.localcloud.slack_receiver import SlackReceiver
from tooling.manifest import REPO_ROOT, function_named

pytestmark = pytest.mark.integration

BUDGET_FIXTURE = REPO_ROOT / "events" / "budget" / "02-actual-50.structured.json"
DEAD_LETTERED_WITHIN_S = 420.0


@pytest.fixture(scope="module")
def webhook() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    receiver.fail_next(1_000_000, status=503, body="service_unavailable")  # down until reset()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, webhook: SlackReceiver) -> Iterator[RunningUp]:
    running = RunningUp.start(
        tmp_path_factory.mktemp("up-dead-letters"),
        "--backoff-scale",
        "0.001",
        "--no-schedules",
        "--no-inference",
        "--slack-webhook-url",
        webhook.url,
    )
    yield running
    running.interrupt()


def publish_budget(cloud: RunningUp, name: str) -> str:
    """A Cloud Billing notification on the budget's topic, as the budget publishes it."""
    from google.cloud import pubsub_v1

    message = json.loads(BUDGET_FIXTURE.read_text())["data"]["message"]
    body = json.loads(base64.b64decode(message["data"]))
    body.update(budgetDisplayName=name, alertThresholdExceeded=0.5, costAmount=512.5)
    attributes = {**message.get("attributes", {}), "budgetId": str(uuid.uuid4())}
    host = cloud.state["emulators"]["pubsub"]["env"]["PUBSUB_EMULATOR_HOST"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", host)
        publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(cloud.state["project"], "billing-budget-alerts")
    return str(publisher.publish(topic, json.dumps(body).encode(), **attributes).result(30))


def dead_letters(cloud: RunningUp, *args: str) -> subprocess.CompletedProcess[str]:
    """`mlops-events dead-letters ...` from another shell, on the running local cloud."""
    command = [sys.executable, "-m", "tooling.cli.main", "dead-letters", *args, "--state-dir", str(cloud.state_dir)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cloud.state_dir), "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, env=env)


def deliveries(cloud: RunningUp, message_id: str) -> list[dict[str, Any]]:
    return [e for e in cloud.events() if e.get("function") == "budget_alert" and e.get("event_id") == message_id]


def test_a_budget_alert_dead_lettered_while_slack_is_down_is_listed_then_redriven(cloud, webhook):
    max_attempts = function_named("budget_alert").retry["max_attempts"]
    name = f"e2e-dead-letter-{uuid.uuid4().hex[:8]}"

    # GIVEN the Slack webhook is down, WHEN a budget crosses a threshold
    message_id = publish_budget(cloud, name)

    # THEN budget_alert is retried as the manifest says, and the message is dead-lettered after the last attempt
    cloud.wait_for(
        lambda events: [e for e in deliveries(cloud, message_id) if e["outcome"] == "dead-lettered"],
        f"dead letter of message {message_id}",
        timeout_s=DEAD_LETTERED_WITHIN_S,
    )
    tried = deliveries(cloud, message_id)
    assert sorted({e["attempt"] for e in tried if e["outcome"] != "dead-lettered"}) == list(range(1, max_attempts + 1))
    assert all(e["outcome"] in ("retry", "error", "dead-lettered") for e in tried)
    assert webhook.posts == [] and len(webhook.requests) >= max_attempts
    console = cloud.console()
    assert "dead-lettered" in console and "budget-alert-dead-letter" in console

    # AND `dead-letters list --json` shows it: where it waits, for which function, its attempts, a safe preview
    listed = dead_letters(cloud, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [letter] = [letter for letter in json.loads(listed.stdout) if name in letter["preview"]]
    assert letter["hold"] == "budget-alert-dead-letter-hold" and letter["kind"] == "pubsub"
    assert (letter["function"], letter["destination"]) == ("budget_alert", "billing-budget-alerts")
    assert letter["attempts"] == max_attempts
    assert letter["first_published"] <= letter["dead_lettered"]
    assert webhook.token not in listed.stdout + listed.stderr

    # WHEN the webhook answers again and the message is redriven
    webhook.reset()
    redriven = dead_letters(cloud, "redrive", "--function", "budget_alert", "--message", letter["id"], "--json")
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    [result] = [json.loads(line) for line in redriven.stdout.splitlines()]
    assert result["outcome"] == "redriven" and result["removed"] is True

    # THEN it is delivered: one Slack post about it, and the hold no longer holds it
    posts = webhook.wait_for_posts(1, timeout_s=60)
    assert [p for p in posts if name in json.dumps(p)], posts
    time.sleep(1.0)  # a second post would come with a second delivery
    assert len([p for p in webhook.posts if name in json.dumps(p)]) == 1
    after = dead_letters(cloud, "list", "--json")
    assert after.returncode == 0, after.stderr
    assert letter["id"] not in {left["id"] for left in json.loads(after.stdout)}
    cloud.wait_for(
        lambda events: [
            e
            for e in events
            if e.get("function") == "budget_alert" and e["outcome"] == "applied" and name in e.get("detail", "")
        ],
        "the redriven delivery applied",
    )
