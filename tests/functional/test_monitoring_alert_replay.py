"""monitoring_alert through `mlops-events replay`: an incident's saved notifications, in the order Cloud
Monitoring sends them and out of it, into one embedded state dir; what reaches the Slack outbox."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tooling.cli.main import cli
from tooling.manifest import REPO_ROOT

EVENTS = REPO_ROOT / "events" / "monitoring"
OPEN = str(EVENTS / "01-open-p1-latency.structured.json")
ACKNOWLEDGED = str(EVENTS / "02-acknowledged-p1-latency.binary.json")
CLOSED = str(EVENTS / "03-closed-p1-latency.structured.json")
HOSTILE = str(EVENTS / "07-hostile-text-and-url.structured.json")


@pytest.fixture
def replay(state_dir):
    def invoke(*paths: str) -> tuple[int, list[dict]]:
        result = CliRunner().invoke(cli, ["replay", *paths], catch_exceptions=False)
        return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]

    return invoke


def outbox(state_dir) -> list[dict]:
    path = state_dir / "slack-outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_incident_opened_redelivered_acknowledged_and_closed_gives_two_messages(replay, state_dir):
    # WHEN the notifications of one incident are replayed as Pub/Sub would deliver them, with a redelivery
    code, lines = replay(OPEN, OPEN, ACKNOWLEDGED, CLOSED, CLOSED)
    # THEN opened and resolved are posted once each, the rest says why it posted nothing
    assert code == 0
    assert [(line["function"], line["outcome"]) for line in lines] == [
        ("monitoring_alert", "applied"),
        ("monitoring_alert", "duplicate"),
        ("monitoring_alert", "ignored"),
        ("monitoring_alert", "applied"),
        ("monitoring_alert", "duplicate"),
    ]
    posts = outbox(state_dir)
    assert [p["blocks"][0]["text"]["text"] for p in posts] == [
        "[P1] Incident: inference p95 latency \u203a 2 s",
        "[P1] Resolved: inference p95 latency \u203a 2 s",
    ]


def test_an_open_replayed_after_its_close_posts_nothing(replay, state_dir):
    code, lines = replay(CLOSED, OPEN)
    assert code == 0 and [line["outcome"] for line in lines] == ["applied", "ignored"]
    assert "already posted resolved" in lines[1]["detail"]
    assert len(outbox(state_dir)) == 1


def test_hostile_text_reaches_the_outbox_escaped_and_a_foreign_url_unlinked(replay, state_dir):
    code, lines = replay(HOSTILE)
    assert code == 0 and lines[0]["outcome"] == "applied"
    [post] = outbox(state_dir)
    everything = json.dumps(post, ensure_ascii=False)
    assert re.findall(r"<[^<>]*>", everything) == []  # no mention, no link: the payload's URL is not the console's
    assert "&lt;!channel&gt;" in everything and "evil.example" in everything  # shown, as text
    assert "(no console link)" in post["blocks"][-1]["elements"][0]["text"]
