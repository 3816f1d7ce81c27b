"""EventBridge event pattern matching as the local cloud routes ECR events: the operators' documented
behaviour, table-driven, and the manifest's own ecr_rollout rule against the saved ECR events."""

from __future__ import annotations

import json

import pytest

from tooling.localcloud.eventbridge_patterns import matches
from tooling.manifest import REPO_ROOT, function_named

EVENT = {
    "source": "aws.ecr",
    "detail-type": "ECR Image Action",
    "resources": ["arn:aws:ecr:us-east-1:123456789012:repository/ml/inference", "other"],
    "detail": {
        "action-type": "PUSH",
        "result": "SUCCESS",
        "repository-name": "ml/inference",
        "image-tag": "1.2.0",
        "size": 5,
        "ratio": 0.5,
        "scanned": True,
        "note": None,
        "tags": ["a", "b"],
        "empty": [],
        "labels": {"team": "ml"},
    },
}

CASES = [
    # (why, pattern, matches EVENT?)
    ("an exact string", {"source": ["aws.ecr"]}, True),
    ("any of several values", {"source": ["aws.s3", "aws.ecr"]}, True),
    ("none of the values", {"source": ["aws.s3"]}, False),
    ("case matters", {"source": ["AWS.ECR"]}, False),
    ("every field must match", {"source": ["aws.ecr"], "detail-type": ["ECR Image Scan"]}, False),
    ("nested fields", {"detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]}}, True),
    ("a nested mismatch", {"detail": {"result": ["FAILURE"]}}, False),
    ("a field absent from the event", {"detail": {"image-digest": ["sha256:x"]}}, False),
    ("a nested pattern where the event has a value", {"source": {"x": ["aws.ecr"]}}, False),
    ("a value where the event has an object", {"detail": {"labels": ["ml"]}}, False),
    ("deeper nesting", {"detail": {"labels": {"team": ["ml"]}}}, True),
    ("a number", {"detail": {"size": [5]}}, True),
    ("a number written as a float", {"detail": {"size": [5.0]}}, True),
    ("a number is not its string", {"detail": {"size": ["5"]}}, False),
    ("a bool", {"detail": {"scanned": [True]}}, True),
    ("true is not 1", {"detail": {"scanned": [1]}}, False),
    ("1 is not true", {"detail": {"size": [True]}}, False),
    ("null", {"detail": {"note": [None]}}, True),
    ("null is not an absent field", {"detail": {"absent": [None]}}, False),
    ("an event array: any element", {"detail": {"tags": ["b"]}}, True),
    ("an event array: no element", {"detail": {"tags": ["c"]}}, False),
    ("an empty event array", {"detail": {"empty": ["a"]}}, False),
    ("prefix", {"detail": {"repository-name": [{"prefix": "ml/"}]}}, True),
    ("prefix that is not", {"detail": {"repository-name": [{"prefix": "team/"}]}}, False),
    ("prefix on a number", {"detail": {"size": [{"prefix": "5"}]}}, False),
    ("prefix on an array element", {"resources": [{"prefix": "arn:aws:ecr:"}]}, True),
    ("suffix", {"detail": {"repository-name": [{"suffix": "/inference"}]}}, True),
    ("equals-ignore-case", {"source": [{"equals-ignore-case": "AWS.ECR"}]}, True),
    ("anything-but a value", {"detail": {"result": [{"anything-but": "FAILURE"}]}}, True),
    ("anything-but the value", {"detail": {"result": [{"anything-but": "SUCCESS"}]}}, False),
    ("anything-but a list", {"detail": {"action-type": [{"anything-but": ["DELETE", "PUSH"]}]}}, False),
    ("anything-but numbers", {"detail": {"size": [{"anything-but": [1, 2]}]}}, True),
    ("anything-but a prefix", {"detail": {"repository-name": [{"anything-but": {"prefix": "ml/"}}]}}, False),
    ("anything-but on an absent field", {"detail": {"absent": [{"anything-but": "x"}]}}, False),
    ("exists: true", {"detail": {"image-tag": [{"exists": True}]}}, True),
    ("exists: true, absent", {"detail": {"image-digest": [{"exists": True}]}}, False),
    ("exists: false, absent", {"detail": {"image-digest": [{"exists": False}]}}, True),
    ("exists: false, present", {"detail": {"image-tag": [{"exists": False}]}}, False),
    ("exists: true on null", {"detail": {"note": [{"exists": True}]}}, True),
    ("exists applies to leaves only", {"detail": {"labels": [{"exists": True}]}}, False),
    ("numeric range", {"detail": {"size": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ("numeric range, above", {"detail": {"size": [{"numeric": [">", 0, "<", 5]}]}}, False),
    ("numeric equality", {"detail": {"ratio": [{"numeric": ["=", 0.5]}]}}, True),
    ("numeric on a string", {"detail": {"image-tag": [{"numeric": [">", 0]}]}}, False),
    ("numeric on a bool", {"detail": {"scanned": [{"numeric": [">", 0]}]}}, False),
    ("a value or an operator", {"detail": {"result": ["FAILURE", {"prefix": "SUCC"}]}}, True),
    ("an empty pattern", {}, True),
]


@pytest.mark.parametrize(("why", "pattern", "expected"), CASES, ids=[c[0] for c in CASES])
def test_pattern(why, pattern, expected):
    assert matches(pattern, EVENT) is expected, why


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.ecr"},  # a leaf must be a list
        {"source": [{"wildcard": "aws.*"}]},
        {"source": [{"prefix": "a", "suffix": "r"}]},
        {"detail": {"size": [{"numeric": [">"]}]}},
        {"detail": {"size": [{"numeric": ["~", 1]}]}},
        {"detail": {"size": [{"numeric": [">", "1"]}]}},
        {"detail": {"image-tag": [{"exists": "yes"}]}},
        {"$or": [{"source": ["aws.ecr"]}]},
    ],
    ids=str,
)
def test_an_unsupported_or_invalid_pattern_is_an_error_not_a_silent_miss(pattern):
    with pytest.raises(ValueError, match="pattern"):
        matches(pattern, EVENT)


RULE = function_named("ecr_rollout").trigger["pattern"]
ECR_EVENTS = REPO_ROOT / "events" / "ecr"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("01-push-inference-1.2.0.json", True),
        ("04-push-by-digest-untagged.json", True),
        ("06-push-batch-main.json", True),
        ("11-push-unknown-repository.json", True),  # the rule routes it; the handler ignores it
        ("08-push-failed.json", False),
        ("09-delete.json", False),
        ("10-scan-complete.json", False),
        ("22-malformed-not-ecr.json", False),
    ],
)
def test_the_manifests_ecr_rollout_rule_routes_successful_pushes_only(fixture, expected):
    event = json.loads((ECR_EVENTS / fixture).read_text())

    assert matches(RULE, event) is expected
