"""Where dead letters wait, read from the manifest as Terraform and `up` name them."""

from __future__ import annotations

import pytest

from tooling.dead_letters.errors import DeadLetterError
from tooling.dead_letters.holds import locate
from tooling.manifest import FunctionSpec, load_manifest


def spec(
    name: str, dead_letter: str | None, *, platform: str = "gcp-function", topic: str | None = "t"
) -> FunctionSpec:
    trigger = {"kind": "pubsub", "topic": topic} if topic else {"kind": "eventarc"}
    return FunctionSpec(
        name, platform, "f.py", "f", "cloudevent", trigger, [], retry={"dead_letter_topic": dead_letter}
    )


def test_every_dead_letter_topic_of_the_manifest_has_a_hold_and_the_lambda_its_queue():
    specs = load_manifest()
    holds = locate(specs)
    expected = {
        s.retry["dead_letter_topic"]
        for s in specs
        if s.retry.get("dead_letter_topic") and (s.platform == "aws-lambda" or s.trigger.get("topic"))
    }
    assert {h.name for h in holds} == expected
    by_name = {h.name: h for h in holds}
    assert by_name["budget-alert-dead-letter"].kind == "pubsub"
    assert [f.name for f in by_name["budget-alert-dead-letter"].functions] == ["budget_alert"]
    assert by_name["ecr-rollout-dead-letter"].kind == "sqs"


def test_the_clouds_queue_carries_the_env():
    [hold] = locate(load_manifest(), function="ecr_rollout", queue_suffix="-prod")
    assert hold.name == "ecr-rollout-dead-letter-prod" and hold.kind == "sqs"


def test_a_function_without_a_dead_letter_says_what_its_way_back_is():
    with pytest.raises(DeadLetterError, match=r"register_model has no dead-letter hold \(reconcile_registry"):
        locate(load_manifest(), function="register_model")


def test_an_unknown_function_names_the_ones_with_dead_letters():
    with pytest.raises(DeadLetterError, match=r"no function 'nope' in the manifest; functions with dead letters: .*"):
        locate(load_manifest(), function="nope")


def test_a_shared_dead_letter_topic_tells_its_functions_apart_by_push_subscription():
    [hold] = locate([spec("first_fn", "shared-dl"), spec("second_fn", "shared-dl")])
    assert hold.function_for("second_fn-push").name == "second_fn"  # `up`'s name
    assert hold.function_for("projects/p/subscriptions/first-fn-push").name == "first_fn"  # the cloud's
    assert hold.function_for("someone-else") is None


def test_a_hold_with_one_function_names_it_whatever_the_source_says():
    [hold] = locate([spec("only_fn", "dl-topic")])
    assert hold.function_for(None).name == "only_fn"


def test_a_gcs_trigger_has_no_hold():
    assert locate([spec("gcs_fn", "dl-topic", topic=None)]) == []
