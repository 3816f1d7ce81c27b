"""The demo fraud model is trained for real: small, reproducible, better than chance, and served as it was trained."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from mlops_inference import train as training
from mlops_inference.model import InvalidRows, load_model
from tooling.manifest import REPO_ROOT

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
ROWS = 4000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit for the module, written as the version folder the registry would serve."""
    fitted = training.fit(ROWS, seed=7)
    out = tmp_path_factory.mktemp("fraud-detector-v1")
    training.save(fitted, out, seed=7)
    return fitted, out


def version_files(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def drift_sample(rows: int = 200) -> pa.Table:
    """The drift monitor's sample transactions (events/generate_fixtures.py), the columns the model must share."""
    spec = importlib.util.spec_from_file_location("generate_fixtures", REPO_ROOT / "events" / "generate_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.drift_table(False, rows, 1)


def test_the_weights_are_torchscript_under_one_megabyte(trained):
    _, folder = trained
    weights = folder / "model.pt"
    assert weights.stat().st_size < 1_000_000
    document = json.loads((folder / "model.json").read_text())
    assert document["task"] == "binary_classification"
    assert document["model"] == "fraud-detector"
    assert document["training_rows"] == ROWS - ROWS // 5
    assert document["trained_at"] == training.TRAINED_AT
    assert set(document["metrics"]) == {"auc", "log_loss"}


def test_the_features_are_the_drift_samples_columns(trained):
    fitted, _ = trained
    sample = drift_sample()
    by_name = {feature.name: feature for feature in fitted.spec.features}
    assert set(by_name) == set(sample.column_names) - {"event_time"}
    for name in by_name:
        column = sample.column(name)
        if by_name[name].kind == "numeric":
            assert pa.types.is_integer(column.type) or pa.types.is_floating(column.type), name
        else:
            assert set(column.to_pylist()) <= set(by_name[name].values), name


def test_the_loaded_files_reproduce_the_trained_module(trained):
    import torch

    fitted, folder = trained
    loaded = load_model("fraud-detector", 1, version_files(folder))
    rows = training.feature_rows(training.synthetic_transactions(64, seed=99))

    with torch.inference_mode():
        expected = torch.sigmoid(fitted.module(fitted.spec.encode(rows)).reshape(-1)).tolist()
    assert loaded.predict(rows) == pytest.approx(expected, abs=1e-7)
    assert (loaded.spec.features, loaded.spec.output) == (fitted.spec.features, "fraud_probability")


def test_the_held_out_metrics_are_clearly_better_than_chance(trained):
    fitted, _ = trained
    labels = training.synthetic_transactions(ROWS, seed=7)[training.LABEL]
    rate = float(labels.mean())
    base_rate_loss = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))  # always predicting the rate

    assert fitted.metrics["auc"] > 0.75
    assert fitted.metrics["log_loss"] < base_rate_loss - 0.05


def test_training_is_reproducible(tmp_path):
    first = training.train(tmp_path / "a", rows=600, seed=3)
    again = training.train(tmp_path / "b", rows=600, seed=3)

    assert first == again
    assert (tmp_path / "a" / "model.json").read_bytes() == (tmp_path / "b" / "model.json").read_bytes()
    rows = training.feature_rows(training.synthetic_transactions(20, seed=5))
    a = load_model("m", 1, version_files(tmp_path / "a")).predict(rows)
    b = load_model("m", 1, version_files(tmp_path / "b")).predict(rows)
    assert a == b


def test_the_cli_writes_the_version_folder(tmp_path, capsys):
    assert training.main([str(tmp_path / "v1"), "--rows", "500", "--seed", "1"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in (tmp_path / "v1").iterdir()) == ["model.json", "model.pt"]
    assert printed["model_pt_bytes"] == (tmp_path / "v1" / "model.pt").stat().st_size
    assert json.loads((tmp_path / "v1" / "model.json").read_text())["metrics"]["auc"] == printed["auc"]


def test_auc_matches_counting_the_ordered_pairs():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    labels = rng.random(200) < 0.3
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in itertools.product(scores[labels], scores[~labels])
    ]  # fmt: skip

    assert training.roc_auc(scores, labels) == pytest.approx(sum(pairs) / len(pairs))
    assert training.roc_auc([0.1, 0.9], [0, 1]) == 1.0
    assert training.roc_auc([0.9, 0.1], [0, 1]) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        training.roc_auc([0.1, 0.2], [1, 1])


GOOD = {"amount": 42.0, "merchant_risk": 0.2, "hour": 3, "country": "US", "device": "web"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": float("nan")}, "amount", "must be finite (no NaN, no inf)"),
        ({"hour": float("inf")}, "hour", "must be finite (no NaN, no inf)"),
        ({"amount": 1e308}, "amount", "within +/-1e+15"),
        ({"amount": -(10**400)}, "amount", "within +/-1e+15"),
        ({"hour": 10**15 + 1}, "hour", "within +/-1e+15"),
        ({"merchant_risk": None}, "merchant_risk", "is missing"),
        ({"amount": "42"}, "amount", "expected a number"),
        ({"hour": True}, "hour", "expected a number"),
        ({"country": 33}, "country", "expected a string"),
        ({"shoe_size": 44}, "shoe_size", "is not a feature of this model"),
    ],
    ids=[
        "nan",
        "inf",
        "1e308",
        "400-digits",
        "past-1e15",
        "missing",
        "string-number",
        "bool",
        "number-category",
        "unknown",
    ],
)
def test_validate_names_the_row_and_field(trained, change, field, message):
    fitted, _ = trained
    rows = [GOOD, {**GOOD, **change}]

    with pytest.raises(InvalidRows) as caught:
        fitted.spec.validate(rows)

    assert caught.value.errors == [{"row": 1, "field": field, "message": caught.value.errors[0]["message"]}]
    assert message in caught.value.errors[0]["message"]
    assert f"rows[1].{field}" in str(caught.value)


def test_a_dropped_key_is_missing(trained):
    fitted, _ = trained
    row = {k: v for k, v in GOOD.items() if k != "device"}
    with pytest.raises(InvalidRows, match=r"rows\[0\]\.device: is missing"):
        fitted.spec.validate([row])


def test_an_unseen_category_encodes_as_zeros(trained):
    fitted, _ = trained
    spec = fitted.spec
    start = sum(f.width for f in itertools.takewhile(lambda f: f.name != "country", spec.features))
    [country] = [f for f in spec.features if f.name == "country"]
    width = country.width

    known, unseen = spec.encode([GOOD, {**GOOD, "country": "JP"}])

    assert known[start : start + width].tolist() == [1.0 if v == "US" else 0.0 for v in country.values]
    assert unseen[start : start + width].tolist() == [0.0] * width
    assert known[:start].tolist() == unseen[:start].tolist()  # the other features are unchanged
