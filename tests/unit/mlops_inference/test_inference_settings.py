"""The inference service's settings from the environment: limits that are numbers and positive, and the
request-id key held as a secret (redacted wherever it would be logged)."""

from __future__ import annotations

import pytest

from mlops_inference.settings import ServiceSettings, SettingsError
from shared.secret_values import redact

BASE = {"MODEL_NAME": "fraud-detector", "ENV": "dev"}


def test_the_defaults():
    settings = ServiceSettings.from_env(BASE)
    assert (settings.header_timeout_s, settings.body_timeout_s, settings.max_body_bytes) == (10.0, 15.0, 1024 * 1024)
    assert settings.request_id_key is None


@pytest.mark.parametrize("name", ["INFERENCE_HEADER_TIMEOUT_S", "INFERENCE_BODY_TIMEOUT_S", "INFERENCE_MAX_BODY_BYTES"])
@pytest.mark.parametrize("raw", ["nan", "inf", "0", "-1", "soon"])
def test_a_limit_must_be_a_positive_finite_number(name, raw):
    if name == "INFERENCE_MAX_BODY_BYTES" and raw in {"nan", "inf"}:
        raw = "1e3"  # an int setting: not an integer at all
    with pytest.raises(SettingsError, match=name):
        ServiceSettings.from_env({**BASE, name: raw})


def test_the_request_id_key_is_a_secret_of_at_least_16_characters():
    with pytest.raises(SettingsError, match="INFERENCE_REQUEST_ID_KEY"):
        ServiceSettings.from_env({**BASE, "INFERENCE_REQUEST_ID_KEY": "short"})
    key = "k" * 8 + "a-real-secret-value"
    settings = ServiceSettings.from_env({**BASE, "INFERENCE_REQUEST_ID_KEY": key})
    assert settings.request_id_key == key.encode() and key not in repr(settings)
    assert key not in redact(f"signed with {key}")  # remembered as a secret (tests/conftest forgets it after)


@pytest.mark.parametrize(
    ("raw", "sinks"),
    [(None, ()), ("", ()), (" ", ()), ("parquet", ("parquet",)), ("bigquery, parquet", ("bigquery", "parquet"))],
)
def test_the_capture_goes_to_one_sink_or_both_in_the_order_given(raw, sinks):
    env = {**BASE, "INFERENCE_CAPTURE_SINK": raw} if raw is not None else BASE
    assert ServiceSettings.from_env(env).capture_sinks == sinks


@pytest.mark.parametrize(
    "raw", ["csv", "parquet,parquet", "parquet,gcs", "bigquery;parquet", "parquet,", " , ", "BigQuery"]
)
def test_an_unknown_or_repeated_capture_sink_is_refused(raw):
    with pytest.raises(SettingsError, match="INFERENCE_CAPTURE_SINK"):
        ServiceSettings.from_env({**BASE, "INFERENCE_CAPTURE_SINK": raw})
