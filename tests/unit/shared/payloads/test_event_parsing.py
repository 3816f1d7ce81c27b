"""Event parsing: real shapes in, typed events out; anything else is an EventParseError naming the field."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import EventParseError, MlopsEventsError
from shared.payloads.cloudevent import envelope_from_attributes, envelope_from_cloud_event
from shared.payloads.pubsub import parse_pubsub_message
from shared.payloads.scheduler import parse_scheduled_run
from shared.payloads.storage import StorageChange, parse_storage_event

STORAGE_DATA = {
    "bucket": "ml-models-dev",
    "name": "fraud/v1/model.safetensors",
    "generation": "1700000000000001",
    "metageneration": "1",
    "size": "2048",
    "md5Hash": "XrY7u+Ae7tCTyyK7j1rNww==",
    "crc32c": "AAAAAA==",
    "contentType": "application/octet-stream",
    "timeCreated": "2026-11-02T09:30:00.123456789Z",
    "metadata": {"git_sha": "abc", "epochs": 3},
}


def storage_envelope(data=STORAGE_DATA, event_type="google.cloud.storage.object.v1.finalized"):
    attributes = {"id": "1", "type": event_type, "source": "//storage.googleapis.com/projects/_/buckets/b"}
    return envelope_from_attributes(attributes, data)


def test_int64_strings_and_nanosecond_timestamps_are_read():
    event = parse_storage_event(storage_envelope())
    assert event.generation == 1_700_000_000_000_001
    assert event.size == 2048
    assert event.change is StorageChange.FINALIZED
    assert event.time_created == datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=UTC)
    assert event.metadata == {"git_sha": "abc", "epochs": "3"}
    assert event.object_key == "ml-models-dev/fraud/v1/model.safetensors#1700000000000001"


def test_json_bytes_data_is_decoded_as_functions_framework_hands_it_over():
    event = parse_storage_event(storage_envelope(json.dumps(STORAGE_DATA).encode()))
    assert event.name == "fraud/v1/model.safetensors"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": None}, "data.name", "missing"),
        ({"generation": "latest"}, "data.generation", "integer"),
        ({"generation": True}, "data.generation", "boolean"),
        ({"size": "-1"}, "data.size", "negative"),
        ({"generation": "99999999999999999999"}, "data.generation", "integer"),
        ({"timeCreated": "yesterday"}, "data.timeCreated", "RFC 3339"),
        ({"metadata": ["a"]}, "data.metadata", "object"),
        ({"metadata": {"k": {"nested": 1}}}, "data.metadata.k", "string"),
        ({"bucket": 42}, "data.bucket", "string"),
        # Over the platforms' own limits: GCS custom metadata is 8 KiB in all, a value 1024 bytes here
        ({"metadata": {f"k{i}": "v" * 900 for i in range(10)}}, "data.metadata", "at most 8192"),
        ({"metadata": {"git_sha": "x" * 10_485_760}}, "data.metadata.git_sha", "at most 1024"),
        ({"metadata": {f"k{i}": "" for i in range(101)}}, "data.metadata", "at most 100"),
        ({"contentType": "a" * 1025}, "data.contentType", "1025 characters long"),
    ],
)
def test_a_bad_field_is_named_in_the_error(change, field, message):
    data = {k: v for k, v in {**STORAGE_DATA, **change}.items() if v is not None}
    with pytest.raises(EventParseError, match=message) as caught:
        parse_storage_event(storage_envelope(data))
    assert caught.value.field == field


@pytest.mark.parametrize(("attribute", "limit"), [("id", 256), ("source", 1024), ("subject", 2048)])
def test_an_envelope_attribute_over_its_limit_is_rejected_naming_it(attribute, limit):
    attributes = {"id": "1", "type": "google.cloud.storage.object.v1.finalized", "source": "//storage"}
    assert envelope_from_attributes({**attributes, attribute: "x" * limit}, STORAGE_DATA)  # at the limit: taken
    with pytest.raises(EventParseError, match=f"at most {limit}") as caught:
        envelope_from_attributes({**attributes, attribute: "x" * 10_485_760}, STORAGE_DATA)
    assert caught.value.field == attribute


def test_an_unknown_storage_event_type_is_rejected():
    with pytest.raises(EventParseError, match="unknown storage event"):
        parse_storage_event(storage_envelope(event_type="google.cloud.storage.object.v1.exploded"))


def test_missing_cloudevent_attributes_are_named():
    with pytest.raises(EventParseError) as caught:
        envelope_from_cloud_event({"type": "t", "source": "s", "data": {}})
    assert caught.value.field == "id"


def pubsub_envelope(message):
    attributes = {"id": "m1", "type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub/x"}
    return envelope_from_attributes(attributes, {"message": message, "subscription": "projects/p/subscriptions/s"})


@pytest.mark.parametrize("id_key", ["messageId", "message_id"])
def test_pubsub_keys_arrive_camel_or_snake_case(id_key):
    time_key = "publishTime" if id_key == "messageId" else "publish_time"
    message = {"data": base64.b64encode(b'{"a": 1}').decode(), id_key: "42", time_key: "2026-11-03T03:17:02Z"}
    parsed = parse_pubsub_message(pubsub_envelope(message))
    assert parsed.message_id == "42"
    assert parsed.publish_time == datetime(2026, 11, 3, 3, 17, 2, tzinfo=UTC)
    assert parsed.json() == {"a": 1}


def test_scheduler_run_takes_job_and_schedule_time_from_attributes():
    message = {"data": "", "attributes": {"scheduler_job": "nightly", "schedule_time": "2026-11-03T03:17:00Z"}}
    run = parse_scheduled_run(parse_pubsub_message(pubsub_envelope(message)), default_job="reconcile")
    assert run.run_key == "nightly@2026-11-03T03:17:00+00:00"
    assert run.payload == {}


@pytest.mark.parametrize("data", ["***", 7])
def test_bad_pubsub_payloads_are_named(data):
    with pytest.raises(EventParseError) as caught:
        parse_pubsub_message(pubsub_envelope({"data": data}))
    assert caught.value.field == "message.data"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
field_names = st.sampled_from([*STORAGE_DATA, "selfLink", "kind"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    overrides=st.dictionaries(field_names, json_values, max_size=6),
    raw=st.one_of(st.none(), json_values, st.binary(max_size=64)),
    use_raw=st.booleans(),
    event_type=st.sampled_from(
        ["google.cloud.storage.object.v1.finalized", "google.cloud.storage.object.v1.deleted", "x", ""]
    ),
)
def test_no_storage_payload_makes_the_parser_raise_anything_but_our_own_errors(overrides, raw, use_raw, event_type):
    data = raw if use_raw else {**STORAGE_DATA, **overrides}
    try:
        event = parse_storage_event(
            envelope_from_cloud_event({"id": "1", "type": event_type, "source": "s", "data": data})
        )
    except MlopsEventsError as exc:
        assert str(exc), "an error must say what is wrong"
    else:
        assert event.bucket and event.name and event.generation >= 0


@settings(max_examples=300, deadline=None)
@given(
    message=st.one_of(
        json_values, st.dictionaries(st.sampled_from(["data", "attributes", "messageId", "publish_time"]), json_values)
    ),
)
def test_no_pubsub_payload_makes_the_parser_raise_anything_but_our_own_errors(message):
    try:
        run = parse_scheduled_run(parse_pubsub_message(pubsub_envelope(message)), default_job="j")
    except MlopsEventsError as exc:
        assert str(exc), "an error must say what is wrong"
    else:
        assert run.job and isinstance(run.payload, dict)


budget_keys = st.sampled_from(
    [
        "budgetDisplayName",
        "costAmount",
        "costIntervalStart",
        "budgetAmount",
        "budgetAmountType",
        "currencyCode",
        "alertThresholdExceeded",
        "forecastThresholdExceeded",
        "cost_amount",
        "currency_code",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(json_values, st.dictionaries(budget_keys, json_values, max_size=8)),
    attributes=st.dictionaries(
        st.sampled_from(["billingAccountId", "budgetId", "schemaVersion", "budget_id"]), st.text(max_size=8), max_size=4
    ),
)
def test_no_budget_payload_makes_the_parser_raise_anything_but_our_own_errors(body, attributes):
    from shared.payloads.budget import parse_budget_notification

    message = {"data": base64.b64encode(json.dumps(body).encode()).decode(), "attributes": attributes}
    try:
        parsed = parse_budget_notification(parse_pubsub_message(pubsub_envelope(message)))
    except MlopsEventsError as exc:
        assert str(exc), "an error must say what is wrong"
    else:
        assert parsed.budget_id and all(c.threshold >= 0 for c in parsed.crossed)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # Times no event has: before 1970 or from 2200 (year 1 in another offset overflowed: a 500)
        ({"timeCreated": "0001-01-01T00:00:00+01:00"}, "data.timeCreated"),
        ({"timeCreated": "9999-12-31T23:59:59-23:59"}, "data.timeCreated"),
        ({"updated": "2300-01-01T00:00:00Z"}, "data.updated"),
        # Text that names or locates: UTF-8, no control character, patterns matched whole, ASCII digits
        ({"name": "fraud/v9/model\ud800.safetensors"}, "data.name"),
        ({"bucket": "ml-models-dev\n"}, "data.bucket"),
        ({"generation": "١٧٩٣٦١١٨٠٠٠٠٠٠٠٠"}, "data.generation"),
        ({"metadata": {"k\n": "v"}}, "data.metadata.k\n"),
        ({"metadata": {"k": 10**400}}, "data.metadata.k"),
        ({"metadata": {"k": float("nan")}}, "data.metadata.k"),
    ],
)
def test_a_value_no_genuine_event_has_is_rejected_naming_its_field(change, field):
    data = {**STORAGE_DATA, **change}
    with pytest.raises(EventParseError) as caught:
        parse_storage_event(storage_envelope(data))
    assert caught.value.field == field


def test_shown_text_keeps_its_line_breaks_and_metadata_numbers_within_int64_are_text():
    event = parse_storage_event(storage_envelope({**STORAGE_DATA, "metadata": {"note": "two\nlines", "epochs": 2**62}}))
    assert event.metadata == {"note": "two\nlines", "epochs": str(2**62)}
