"""Hostile and broken input to the inference API, in process (FastAPI's TestClient, the real app, a real
TorchScript model registered through the registry): each class of issue 15, item 8 by its rule, then a
hypothesis property over bodies with hostile values anywhere.

The rules: every numeric input finite and within +/-1e15 (422 naming the field); a non-finite model output
a 422 naming the row; every error body strict JSON (no NaN or inf echoed, ASCII); integers that reach
storage bounded to int64; strict types; /feedback only for request ids this service issued (404), rows
and versions those requests had (422).
"""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.model import Feature, ModelSpec
from mlops_inference.settings import ServiceSettings
from tests.support.inference_support import MODEL, model_files, register

ROW = {"amount": 62.5, "country": "US"}
JSON = {"content-type": "application/json"}
KEY = b"a shared key of 32 bytes or more!"


def client_for(**overrides) -> TestClient:
    settings_ = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, batching=False, **overrides)
    return TestClient(create_app(build_service(settings_)), raise_server_exceptions=False)


@pytest.fixture
def client(state):
    register(state, 1, model_files())
    with client_for(request_id_key=KEY) as client:
        yield client


def strict_json(response) -> object:
    """The body as a strict JSON parser reads it: no NaN or Infinity tokens, ASCII or valid UTF-8."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the body: {response.text[:200]}")

    return json.loads(response.content.decode("utf-8"), parse_constant=refuse)


def post(client: TestClient, path: str, raw: bytes | str):
    return client.post(path, content=raw.encode() if isinstance(raw, str) else raw, headers=JSON)


@pytest.mark.parametrize(
    "amount",
    ["1e308", "-1e308", "1e999", "9" * 400, "-" + "9" * 400, "9" * 5000, "NaN", "Infinity", "-Infinity",
     "1000000000000001", "1.0000000000000002e15", "true", '"12"', "[1]", '{"a": NaN}', "null"],
)  # fmt: skip
def test_a_feature_out_of_range_or_of_the_wrong_type_is_422_naming_it(client, amount):
    response = post(
        client, "/predict", f'{{"rows": [{{"amount": 1, "country": "US"}}, {{"amount": {amount}, "country": "US"}}]}}'
    )

    assert response.status_code == 422, response.text
    body = strict_json(response)
    assert body["detail"][0]["loc"][2:4] == [1, "amount"]


@pytest.mark.parametrize("amount", ["1e15", "-1e15", "1000000000000000", "-0.0", "5e-324", "0"])
def test_the_edges_of_the_range_are_served(client, amount):
    response = post(client, "/predict", f'{{"rows": [{{"amount": {amount}, "country": "FR"}}]}}')

    assert response.status_code == 200, response.text
    assert 0.0 <= strict_json(response)["predictions"][0] <= 1.0


def test_a_model_whose_output_overflows_gives_422_naming_the_rows(state):
    # Two features standardised by a tiny std: within the range, both become inf in float32, and the
    # scripted Linear's 0.5 * inf - 0.5 * inf is NaN.
    spec = ModelSpec(features=(Feature("a", "numeric", std=1e-30), Feature("b", "numeric", std=1e-30)))
    register(state, 1, model_files(spec=spec))
    with client_for() as client:
        response = client.post("/predict", json={"rows": [{"a": 1, "b": 1}, {"a": 1e15, "b": 1e15}]})

    assert response.status_code == 422
    (error,) = strict_json(response)["detail"]
    assert error["loc"] == ["body", "rows", 1] and error["type"] == "model_output_not_finite"


@pytest.mark.parametrize(
    "raw",
    [
        '{"rows": [{"amount": [NaN], "country": "US"}]}',  # pydantic rejects the list and echoed the NaN
        '{"rows": [{"amount": 1, "country": {"x": Infinity}}]}',
        '{"rows": NaN}',
        '{"rows": [{"\\ud800": 1, "amount": 1, "country": "US"}]}',  # a lone surrogate as a field name
        '{"rows": [{"amount": 1, "country": "\\udfff"}], "\\ud800": "\\udbff"}',
        '{"rows": [{"amount": 1, "country": "US"}], "extra": "' + "x" * 100_000 + '"}',
        "[" * 100_000 + "]" * 100_000,  # nested past the parser's recursion limit
        b'{"rows": [{"amount": 1, "country": "\xff\xfe"}]}',  # not UTF-8
        '{"rows": [' + ",".join(['{"amount": NaN}'] * 900) + "]}",  # 2,700 errors: 50 listed
    ],
)
def test_every_error_body_is_strict_json(client, raw):
    response = post(client, "/predict", raw)

    assert 400 <= response.status_code < 500, response.text[:300]
    body = strict_json(response)
    assert len(json.dumps(body)) < 20_000  # echoes are cut, and the list of errors too


def test_nan_in_a_models_training_metrics_is_null_in_readyz_not_a_500(state):
    files = model_files()
    spec = json.loads(files["model.json"])
    files["model.json"] = json.dumps({**spec, "metrics": {"auc": float("nan"), "loss": float("inf")}}).encode()
    register(state, 1, files)
    with client_for() as client:
        ready = client.get("/readyz")

    assert ready.status_code == 200 and strict_json(ready)["trained"]["metrics"] == {"auc": None, "loss": None}


def issued(client: TestClient, rows: int = 2) -> str:
    response = client.post("/predict", json={"rows": [ROW] * rows})
    assert response.status_code == 200
    return response.json()["request_id"]


def test_feedback_takes_only_ids_this_service_issued(client, state):
    genuine = issued(client, rows=2)
    nonce, version, rows, signature = genuine.split("-")
    forged = [
        f"{nonce}-{version}-{rows}-{'0' * 32}",  # the right form, not signed
        f"{nonce}-{version}-9-{signature}",  # a signed id with its row count changed
        f"{nonce}-7-{rows}-{signature}",  # or its version
    ]
    with client_for(request_id_key=b"another service's key, 32 bytes!") as other:
        forged.append(issued(other))  # issued by another service (another key)

    for request_id in forged:
        response = client.post("/feedback", json={"request_id": request_id, "label": 1, "prediction": 0.0})
        assert response.status_code == 404, (request_id, response.text)
    for request_id in ("fake", "", "x" * 10_000, genuine + "\n", genuine.upper()):
        response = client.post("/feedback", json={"request_id": request_id, "label": 1, "prediction": 0.0})
        assert response.status_code == 422 and strict_json(response)["detail"][0]["loc"] == ["body", "request_id"]
    assert client.get("/feedback/stats").json()["labels"] == 0  # nothing forged was stored

    assert (
        client.post("/feedback", json={"request_id": genuine, "row": 1, "label": 1, "prediction": 0.9}).status_code
        == 202
    )
    stats = client.get("/feedback/stats").json()
    assert stats["labels"] == 1  # joined or not as the capture was written yet: the claimed 0.9 is not scored


def test_an_id_is_good_on_every_instance_that_shares_the_key(client, state):
    with client_for(request_id_key=KEY) as other_instance:
        request_id = issued(other_instance)
    assert client.post("/feedback", json={"request_id": request_id, "label": 0}).status_code == 202


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": True}, "label"),
        ({"label": False}, "label"),
        ({"label": "1"}, "label"),
        ({"label": 2}, "label"),
        ({"label": 0.5}, "label"),
        ({"row": 2**63}, "row"),
        ({"row": 10**400}, "row"),
        ({"row": 2}, "row"),  # the request had 2 rows: 0 and 1
        ({"row": -1}, "row"),
        ({"row": True}, "row"),
        ({"version": 2**63}, "version"),
        ({"version": 2}, "version"),  # answered by version 1
        ({"version": 0}, "version"),
        ({"prediction": 1.5}, "prediction"),
        ({"prediction": "0.5"}, "prediction"),
        ({"prediction": True}, "prediction"),
        ({"prediction": float("nan")}, "prediction"),
        ({"prediction": float("inf")}, "prediction"),
        ({"prediction": 1e308 * 10}, "prediction"),
    ],
)
def test_feedback_fields_are_strict_and_bounded(client, change, field):
    body = {"request_id": issued(client, rows=2), "row": 0, "label": 1, **change}

    response = post(client, "/feedback", json.dumps(body))

    assert response.status_code == 422, response.text
    assert strict_json(response)["detail"][0]["loc"] == ["body", field]
    assert client.get("/feedback/stats").json()["labels"] == 0


def test_json_integers_may_be_written_with_a_zero_fraction(client):
    body = {"request_id": issued(client, rows=2), "row": 1.0, "label": 1.0, "version": 1.0}
    assert post(client, "/feedback", json.dumps(body)).status_code == 202


# -- a property over hostile values anywhere in a body --------------------------------------------------

EDGES = ["1e308", "-1e308", "NaN", "Infinity", "-Infinity", "9" * 400, str(2**63), str(-(2**63) - 1), "1e15",
         "-0.0", "5e-324", "true", "false", "null", '"\\ud800"', '"\\u0000"', '""', '"' + "x" * 5000 + '"']  # fmt: skip


def _raw(value: object) -> str:
    """JSON text of a drawn value: dicts and lists written out, strings as they are (already JSON)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_raw(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_raw(v) for v in value) + "]"
    return str(value)


leaves = st.sampled_from(EDGES) | st.integers().map(str) | st.floats(allow_nan=False, allow_infinity=False).map(repr)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
predict_bodies = st.fixed_dictionaries(
    {"rows": st.lists(st.fixed_dictionaries({"amount": values, "country": values}), min_size=1, max_size=3)},
    optional={"extra": values},
)
feedback_fields = st.fixed_dictionaries(
    {"label": values}, optional={"row": values, "version": values, "prediction": values, "extra": values}
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=predict_bodies)
def test_no_predict_body_of_hostile_values_gets_a_5xx_or_a_body_that_is_not_json(state_with_model, body):
    client = state_with_model
    response = post(client, "/predict", _raw(body))

    assert response.status_code in (200, 413, 422), response.text[:300]
    answer = strict_json(response)
    if response.status_code == 200:
        assert all(0.0 <= p <= 1.0 and math.isfinite(p) for p in answer["predictions"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(fields=feedback_fields)
def test_no_feedback_of_hostile_values_for_a_genuine_id_gets_a_5xx_or_stores_a_bad_entry(state_with_model, fields):
    client = state_with_model
    request_id = issued(client, rows=2)
    response = post(client, "/feedback", _raw({"request_id": json.dumps(request_id), **fields}))

    assert response.status_code in (202, 422), response.text[:300]
    strict_json(response)
    stats = client.get("/feedback/stats")
    assert stats.status_code == 200
    for group in strict_json(stats)["by_version"].values():
        assert group["labels"] >= 1 and 0.0 <= group["positive_share"] <= 1.0
        assert 0.0 <= group.get("accuracy", 0.0) <= 1.0


@pytest.fixture(scope="module")
def state_with_model(tmp_path_factory):
    # One service for all hypothesis examples (a function-scoped fixture would be shared anyway).
    state_dir = tmp_path_factory.mktemp("hostile") / "state"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
        patch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
        register(state_dir, 1, model_files())
        with client_for() as client:
            yield client
