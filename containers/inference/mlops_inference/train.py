"""Trains the demo fraud model for real, so the service and the batch job serve a model that has learned something.

The data is synthetic but shaped like the drift sample (`events/generate_fixtures.py`, `drift_table`): the same
features, kinds and categories, so the drift monitor and the model speak of the same columns. The label is a
noisy logistic function of them (large amounts, risky merchants, night hours, US/BR cards, the web channel), so
the held-out AUC measures learning, not chance. Everything is seeded: the same call gives the same metrics.

Writes the version folder the registry serves (`model.json` + TorchScript `model.pt`, see `model.py`):

    python -m mlops_inference.train OUT_DIR [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_inference.model import SPEC_FILE, Feature, ModelSpec

if TYPE_CHECKING:
    import torch

MODEL_NAME = "fraud-detector"
OUTPUT = "fraud_probability"
LABEL = "is_fraud"
TRAINED_AT = "2026-01-05T12:00:00+00:00"  # fixed: the same seed writes the same model.json
NUMERIC = ("amount", "merchant_risk", "hour")
COUNTRIES = ("FR", "DE", "ES", "IT", "US", "BR")
DEVICES = ("ios", "android", "web")
CATEGORICAL = {"country": COUNTRIES, "device": DEVICES}
FEATURES = (*NUMERIC, *CATEGORICAL)
HIDDEN = (32, 16)
HOLDOUT_SHARE = 0.2
MAX_WEIGHTS_BYTES = 1 << 20


@dataclass(frozen=True)
class Trained:
    """The fitted module (eval mode), the spec it reads its input with, and its held-out metrics."""

    module: Any  # torch.nn.Module
    spec: ModelSpec
    metrics: dict[str, float]


# -- data ----------------------------------------------------------------------------------------
def synthetic_transactions(rows: int, seed: int) -> dict[str, np.ndarray]:
    """Feature columns as `drift_table` draws them (countries: half reference, half shifted mix) and a label."""
    rng = np.random.default_rng(seed)
    reference = np.array([0.35, 0.25, 0.15, 0.15, 0.05, 0.05])
    shifted = np.array([0.1, 0.1, 0.1, 0.1, 0.35, 0.25])
    columns: dict[str, np.ndarray] = {
        "amount": np.round(rng.lognormal(3.4, 0.6, rows), 2),
        "merchant_risk": rng.beta(2, 5, rows),
        "hour": rng.integers(0, 24, rows),
        "country": np.array(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), rows, p=(reference + shifted) / 2)],
        "device": np.array(DEVICES, dtype=object)[rng.integers(0, len(DEVICES), rows)],
    }
    probability = 1.0 / (1.0 + np.exp(-fraud_logit(columns)))
    columns[LABEL] = (rng.random(rows) < probability).astype(np.float32)
    return columns


def fraud_logit(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ground truth the model has to find; non-linear in `hour` (night), so the hidden layers earn their keep."""
    amount = np.asarray(columns["amount"], dtype=np.float64)
    hour = np.asarray(columns["hour"])
    return (
        -3.5
        + 1.6 * (np.log(np.maximum(amount, 0.01)) - 3.4) / 0.6
        + 5.0 * (np.asarray(columns["merchant_risk"], dtype=np.float64) - 0.29)
        + 1.6 * (hour < 6)
        + 1.0 * np.isin(columns["country"], ["US", "BR"])
        + 0.8 * (np.asarray(columns["device"]) == "web")
    )


def feature_rows(columns: Mapping[str, np.ndarray], index: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Request-shaped rows (plain Python values, as JSON or Arrow give them) of the feature columns."""
    picked = {name: (columns[name] if index is None else columns[name][index]).tolist() for name in FEATURES}
    return [dict(zip(FEATURES, values, strict=True)) for values in zip(*picked.values(), strict=True)]


def fit_spec(columns: Mapping[str, np.ndarray]) -> ModelSpec:
    """Standardisation and vocabularies from the training rows only (the held-out rows stay unseen)."""
    features = []
    for name in NUMERIC:
        values = np.asarray(columns[name], dtype=np.float64)
        std = float(values.std())
        features.append(Feature(name, "numeric", float(values.mean()), std if std > 0 else 1.0))
    for name, known in CATEGORICAL.items():
        seen = set(np.asarray(columns[name]).tolist())
        features.append(Feature(name, "categorical", values=tuple(v for v in known if v in seen)))
    return ModelSpec(tuple(features), output=OUTPUT)


# -- metrics -------------------------------------------------------------------------------------
def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray) -> float:
    """Mann-Whitney AUC with tied scores given their average rank (what sklearn's roc_auc_score gives)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels) > 0.5
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        raise ValueError("AUC needs both classes among the labels")
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(probabilities: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# -- training ------------------------------------------------------------------------------------
def build_module(input_width: int) -> torch.nn.Module:
    """input_width -> 32 -> 16 -> 1 logit, ReLU: small enough to train in seconds and ship under 1 MB."""
    import torch

    layers: list[torch.nn.Module] = []
    width = input_width
    for hidden in HIDDEN:
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


def fit(rows: int = 20_000, *, seed: int = 7, epochs: int = 8, batch_size: int = 256, lr: float = 3e-3) -> Trained:
    """Seeded data, split, Adam on CPU; the metrics are measured on the held-out split."""
    import torch

    if rows < 100:
        raise ValueError(f"rows must be at least 100 (a held-out split needs both classes), got {rows}")
    columns = synthetic_transactions(rows, seed)
    order = np.random.default_rng(seed + 1).permutation(rows)
    cut = rows - max(int(rows * HOLDOUT_SHARE), 1)
    train_idx, test_idx = order[:cut], order[cut:]
    spec = fit_spec({name: columns[name][train_idx] for name in FEATURES})
    spec = ModelSpec(spec.features, spec.output, spec.weights, {"training_rows": len(train_idx)})
    x_train = spec.encode(feature_rows(columns, train_idx))
    y_train = torch.from_numpy(columns[LABEL][train_idx]).reshape(-1, 1)
    threads = torch.get_num_threads()
    # One thread: this network is too small to gain from more (on 2 cores, 2 threads made an epoch 15x slower),
    # and the same float operations in the same order make the same weights on every run.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):  # seeded without changing the caller's global torch RNG
            torch.manual_seed(seed)
            module = build_module(spec.input_width)
            _descend(module, x_train, y_train, epochs=epochs, batch_size=batch_size, lr=lr)
    finally:
        torch.set_num_threads(threads)
    module.eval()
    with torch.inference_mode():
        held_out = torch.sigmoid(module(spec.encode(feature_rows(columns, test_idx))).reshape(-1)).numpy()
    labels = columns[LABEL][test_idx]
    metrics = {"auc": round(roc_auc(held_out, labels), 4), "log_loss": round(log_loss(held_out, labels), 4)}
    return Trained(module, spec, metrics)


def _descend(module: Any, x: Any, y: Any, *, epochs: int, batch_size: int, lr: float) -> None:
    """Mini-batch Adam on the logistic loss, in a shuffled order drawn from torch's (seeded) RNG."""
    import torch

    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    module.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(batch_size):
            optimizer.zero_grad()
            loss_fn(module(x[batch]), y[batch]).backward()
            optimizer.step()


def save(trained: Trained, out_dir: Path, *, seed: int, trained_at: str = TRAINED_AT) -> dict[str, Path]:
    """`model.pt` (TorchScript) and `model.json` (the spec, with what the model is and how well it did)."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = trained.spec
    weights = out_dir / spec.weights
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; it is still the format model.py serves
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(trained.module).save(str(weights))
    if weights.stat().st_size >= MAX_WEIGHTS_BYTES:
        raise RuntimeError(f"{weights} is {weights.stat().st_size} bytes: the demo model must stay under 1 MB")
    document = {
        **spec.to_json(),
        "model": MODEL_NAME,
        "task": "binary_classification",
        "label": LABEL,
        "architecture": f"mlp {spec.input_width}-{'-'.join(map(str, HIDDEN))}-1 relu",
        "trained_at": trained_at,
        "seed": seed,
        "metrics": dict(trained.metrics),
    }
    (out_dir / SPEC_FILE).write_text(json.dumps(document, indent=2) + "\n")
    return {"spec": out_dir / SPEC_FILE, "weights": weights}


def train(out_dir: Path, *, rows: int = 20_000, seed: int = 7, trained_at: str = TRAINED_AT) -> dict[str, float]:
    """Fit and write the version folder; the held-out metrics (`auc`, `log_loss`)."""
    trained = fit(rows, seed=seed)
    save(trained, out_dir, seed=seed, trained_at=trained_at)
    return dict(trained.metrics)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_inference.train", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="the version folder to write (model.json, model.pt)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trained-at", default=TRAINED_AT, help="ISO time recorded in model.json")
    args = parser.parse_args(argv)
    metrics = train(args.out_dir, rows=args.rows, seed=args.seed, trained_at=args.trained_at)
    size = (args.out_dir / "model.pt").stat().st_size
    print(json.dumps({"out_dir": str(args.out_dir), "model_pt_bytes": size, **metrics}))
    return 0 if all(math.isfinite(v) for v in metrics.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
