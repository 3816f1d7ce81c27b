"""One bucket-name check for settings, events and Console URLs, held to GCS's naming rules restated
without regular expressions (https://cloud.google.com/storage/docs/buckets#naming)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.bucket_names import is_bucket_name
from shared.errors import EventParseError
from shared.payloads.drift import parse_drift_request

LETTERS_DIGITS = set("abcdefghijklmnopqrstuvwxyz0123456789")


def gcs_rules(name: str) -> bool:
    """The documented rules, character by character."""
    if not 3 <= len(name) <= 222:
        return False
    if any(c not in LETTERS_DIGITS | set("-_.") for c in name):
        return False
    if name[0] not in LETTERS_DIGITS or name[-1] not in LETTERS_DIGITS:
        return False
    parts = name.split(".")
    if "." not in name and len(name) > 63:
        return False
    for part in parts:  # each part between dots: 1 to 63, starting and ending with a letter or digit
        if not 1 <= len(part) <= 63 or part[0] not in LETTERS_DIGITS or part[-1] not in LETTERS_DIGITS:
            return False
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        return False  # an IP address in dotted decimal
    return not name.startswith("goog") and "google" not in name


names = st.text(alphabet="ab9z-_.GO/ ", max_size=70) | st.builds(
    ".".join, st.lists(st.text(alphabet="a0-_", min_size=0, max_size=66), min_size=1, max_size=5)
)


@settings(max_examples=500, deadline=None)
@given(names)
def test_the_check_is_gcss_rules(name):
    assert is_bucket_name(name) == gcs_rules(name)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ml-models-dev", True),
        ("acme_ml.predictions.prod", True),
        ("a" * 63, True),
        ("a" * 64, False),
        (".".join(["a" * 63] * 3), True),
        ("ab", False),
        ("-ab", False),
        ("ab-", False),
        ("a..b", False),
        ("ML-models", False),
        ("192.168.5.4", False),
        ("192.168.5.4a", True),
        ("goog-models", False),
        ("acme-google-models", False),
    ],
)
def test_examples(name, valid):
    assert is_bucket_name(name) is valid


def test_a_drift_request_naming_no_bucket_is_refused_naming_the_field():
    body = {
        "model": "fraud-detector",
        "env": "dev",
        "reference": {"uri": "gs://goog-data/reference.parquet"},
        "current": {"uri": "gs://ml-data/current.parquet"},
    }
    with pytest.raises(EventParseError, match="not a bucket name") as refused:
        parse_drift_request(body, event_id="e1", job="drift", schedule_time=datetime(2026, 12, 6, tzinfo=UTC))
    assert refused.value.field == "reference.uri"
