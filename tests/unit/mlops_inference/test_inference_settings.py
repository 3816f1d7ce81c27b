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


DURATIONS = [
    "INFERENCE_RELOAD_S",
    "INFERENCE_HEADER_TIMEOUT_S",
    "INFERENCE_BODY_TIMEOUT_S",
    "INFERENCE_CAPTURE_FLUSH_S",
    "INFERENCE_FEEDBACK_METRICS_S",
]


@pytest.mark.parametrize("name", DURATIONS)
def test_a_duration_is_at_most_a_day(name):
    """1e10 s passed as finite and positive, then killed the capture writer or the reload thread at its first
    wait (OverflowError), the service running on without them."""
    assert getattr(ServiceSettings.from_env({**BASE, name: "86400"}), name.removeprefix("INFERENCE_").lower()) == 86400
    for raw in ("86401", "1e10", "1e300"):
        with pytest.raises(SettingsError, match=f"{name}: at most 86,400"):
            ServiceSettings.from_env({**BASE, name: raw})
    with pytest.raises(SettingsError, match="INFERENCE_MAX_WAIT_MS: at most"):
        ServiceSettings.from_env({**BASE, "INFERENCE_MAX_WAIT_MS": "1e11"})


def test_the_feedback_lookup_reaches_a_year_back_at_most():
    assert ServiceSettings.from_env({**BASE, "INFERENCE_FEEDBACK_JOIN_DAYS": "366"}).feedback_join_days == 366
    for raw in ("367", "1000000000"):
        with pytest.raises(SettingsError, match="INFERENCE_FEEDBACK_JOIN_DAYS: at most 366"):
            ServiceSettings.from_env({**BASE, "INFERENCE_FEEDBACK_JOIN_DAYS": raw})


@pytest.mark.parametrize(
    ("raw", "bucket"),
    [(None, "ml-predictions-{env}"), ("acme-ml-predictions-prod", None), ("acme-{env}-captures", None)],
)
def test_the_capture_bucket_is_a_bucket_name_with_the_env_its_only_field(raw, bucket):
    settings = ServiceSettings.from_env({**BASE, "INFERENCE_CAPTURE_BUCKET": raw} if raw else BASE)
    assert settings.capture_bucket == (bucket or raw)


@pytest.mark.parametrize(
    "raw", ["preds-{model}", "preds-{", "preds-{0}", "preds-{env.x}", "Preds-{env}", "p", "preds/{env}", "-preds-"]
)
def test_a_capture_bucket_that_cannot_be_a_bucket_is_refused_at_start(raw):
    """It used to start, then lose every capture write and answer every /feedback with a 500."""
    with pytest.raises(SettingsError, match="INFERENCE_CAPTURE_BUCKET"):
        ServiceSettings.from_env({**BASE, "INFERENCE_CAPTURE_BUCKET": raw})


def test_the_entry_points_set_the_collectors_threshold_from_the_settings():
    import gc

    from mlops_inference.main import tune_gc

    assert ServiceSettings.from_env(BASE).gc_gen0 == 10_000
    for raw in ("0", "-5", "1000001", "1e3"):
        with pytest.raises(SettingsError, match="INFERENCE_GC_GEN0"):
            ServiceSettings.from_env({**BASE, "INFERENCE_GC_GEN0": raw})
    before = gc.get_threshold()
    try:
        tune_gc(ServiceSettings.from_env({**BASE, "INFERENCE_GC_GEN0": "1234"}))
        assert gc.get_threshold() == (1234, *before[1:])
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("env", ["Prod", "prod_", "x" * 60])
def test_the_capture_bucket_is_checked_with_the_services_own_env(env):
    """Checked with a sample env, `acme-{env}` passed for an ENV that makes no bucket name."""
    for raw in (None, "acme-{env}"):
        environ = {**BASE, "ENV": env, **({"INFERENCE_CAPTURE_BUCKET": raw} if raw else {})}
        with pytest.raises(SettingsError, match="is not a bucket name"):
            ServiceSettings.from_env(environ)


def test_a_dotted_bucket_name_may_be_longer_than_63_characters():
    name = ".".join(["a" * 60] * 3)
    assert ServiceSettings.from_env({**BASE, "INFERENCE_CAPTURE_BUCKET": name}).capture_bucket == name
