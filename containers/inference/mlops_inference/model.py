"""A registered model: its spec (model.json) and its weights (TorchScript or a torch.export program), loaded
and run. Tabular models are specified here; image models in mlops_inference.image_spec.

A version folder `gs://ml-models-{env}/{model}/v{N}/` holds:
- `model.json`: the input spec (features in order; numeric ones with the mean and std they are
  standardised with, categorical ones with their vocabulary, one-hot encoded, an unseen value all
  zeros), the output's name, and what it was trained on;
- `model.pt`: a TorchScript module taking a float tensor [rows, input_width] to a logit per row, or a
  `.pt2` torch.export program doing the same (its batch dimension exported as dynamic).
Keeping the encoding in the spec rather than in the module keeps the module scriptable and lets the
service validate a request against the features before any tensor is built.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_inference.image_spec import ImageSpec, SpecError, is_image_spec

if TYPE_CHECKING:
    import torch

    from mlops_inference.image_spec import ImagePrediction

SPEC_FILE = "model.json"
FORMAT = "mlops-events/tabular-torchscript-v1"
# The largest magnitude a numeric feature may have. The module computes in float32 (at most 3.4e38): 1e308
# became inf there and the prediction NaN. Beyond 1e15 no feature this service is meant for has a meaning
# (and integers lose their units digit in float64).
MAX_ABS_NUMBER = 1e15


OUT_OF_RANGE = f"must be within +/-{MAX_ABS_NUMBER:.0e}"


class ModelError(Exception):
    """A version that cannot be served: its files are missing, unreadable or inconsistent."""


class InvalidRows(ValueError):
    """Rows that do not fit the model's features; `errors` name the row and field of each problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"rows[{e['row']}].{e['field']}: {e['message']}" for e in errors[:5]))


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "numeric" | "categorical"
    mean: float = 0.0
    std: float = 1.0
    values: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.values)


@dataclass(frozen=True)
class ModelSpec:
    features: tuple[Feature, ...]
    output: str = "score"
    weights: str = "model.pt"
    extra: dict[str, Any] = field(default_factory=dict)  # training metadata, shown by /readyz
    kind = "tabular"

    @property
    def input_width(self) -> int:
        return sum(f.width for f in self.features)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ModelSpec:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ModelError(f"{SPEC_FILE}: format {data.get('format')!r}, expected {FORMAT!r}")
            features = []
            for item in data["features"]:
                if item["kind"] == "numeric":
                    mean, std = float(item.get("mean", 0.0)), float(item.get("std", 1.0))
                    if not (std > 0 and math.isfinite(std) and math.isfinite(mean)):
                        raise ModelError(f"{SPEC_FILE}: feature {item['name']!r} has mean {mean}, std {std}")
                    features.append(Feature(item["name"], "numeric", mean, std))
                elif item["kind"] == "categorical":
                    features.append(Feature(item["name"], "categorical", values=tuple(map(str, item["values"]))))
                else:
                    raise ModelError(f"{SPEC_FILE}: feature {item['name']!r} has kind {item['kind']!r}")
            if not features or len({f.name for f in features}) != len(features):
                raise ModelError(f"{SPEC_FILE}: features must be named, once each")
            extra = {k: v for k, v in data.items() if k not in {"format", "features", "output", "weights"}}
            return cls(tuple(features), str(data.get("output", "score")), str(data.get("weights", "model.pt")), extra)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{SPEC_FILE} unreadable: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        features = [
            {"name": f.name, "kind": "numeric", "mean": f.mean, "std": f.std}
            if f.kind == "numeric"
            else {"name": f.name, "kind": "categorical", "values": list(f.values)}
            for f in self.features
        ]
        return {"format": FORMAT, "features": features, "output": self.output, "weights": self.weights, **self.extra}

    def row_schema(self) -> dict[str, Any]:
        """A row as JSON Schema (the OpenAPI schema of /predict shows the served model's)."""
        properties = {
            f.name: {"type": "number", "minimum": -MAX_ABS_NUMBER, "maximum": MAX_ABS_NUMBER}
            if f.kind == "numeric"
            else {"type": "string", "description": f"one of {list(f.values)[:50]}; another value is encoded as none"}
            for f in self.features
        }
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}

    def validate(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Every feature present, numbers finite and within MAX_ABS_NUMBER, categories strings: all problems at
        once."""
        errors = []
        for i, row in enumerate(rows):
            for feature in self.features:
                value = row.get(feature.name)
                if value is None:
                    errors.append({"row": i, "field": feature.name, "message": "is missing"})
                elif feature.kind == "numeric":
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        errors.append({"row": i, "field": feature.name, "message": "expected a number"})
                    elif isinstance(value, float) and not math.isfinite(value):
                        errors.append({"row": i, "field": feature.name, "message": "must be finite (no NaN, no inf)"})
                    elif not abs(value) <= MAX_ABS_NUMBER:  # exact for ints of any size
                        errors.append({"row": i, "field": feature.name, "message": OUT_OF_RANGE})
                elif not isinstance(value, str):
                    errors.append({"row": i, "field": feature.name, "message": "expected a string"})
            unknown = set(row) - {f.name for f in self.features}
            if unknown:
                errors.append({"row": i, "field": sorted(unknown)[0], "message": "is not a feature of this model"})
        if errors:
            raise InvalidRows(errors)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """Rows (already validated) to the float tensor the module takes."""
        import torch

        out = torch.zeros((len(rows), self.input_width), dtype=torch.float32)
        column = 0
        for feature in self.features:
            if feature.kind == "numeric":
                values = [float(row[feature.name]) for row in rows]
                out[:, column] = (torch.tensor(values, dtype=torch.float32) - feature.mean) / feature.std
            else:
                index = {v: j for j, v in enumerate(feature.values)}
                for i, row in enumerate(rows):
                    j = index.get(row[feature.name])
                    if j is not None:  # an unseen category: all zeros, as in training
                        out[i, column + j] = 1.0
            column += feature.width
        return out


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    spec: ModelSpec | ImageSpec
    module: Any  # torch.jit.ScriptModule, or a torch.export program's module
    generations: tuple[int, ...] = ()  # of the files it was loaded from: a re-upload is a new model
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        """One forward pass for all rows: the probability of the positive class per row."""
        import torch

        assert isinstance(self.spec, ModelSpec)
        with torch.inference_mode():
            logits = self.module(self.spec.encode(rows))
            return torch.sigmoid(logits.reshape(-1)).tolist()

    def predict_images(self, images: Sequence[torch.Tensor], *, summarize: bool = False) -> list[ImagePrediction]:
        """One forward pass for decoded images ([channels, height, width] each, as the spec makes them); with
        `summarize`, each prediction also carries its image's summary features (the prediction capture's)."""
        import dataclasses

        import torch

        assert isinstance(self.spec, ImageSpec)
        with torch.inference_mode():
            batch = torch.stack(list(images))
            predictions = self.spec.predictions(self.module(batch))
            if not summarize:
                return predictions
            from mlops_inference.capture import image_summaries

            summaries = image_summaries(batch, self.spec.input)
        return [dataclasses.replace(p, summary=s) for p, s in zip(predictions, summaries, strict=True)]


def read_spec(raw: bytes) -> ModelSpec | ImageSpec:
    """model.json: an image model's when its `input.kind` is image, else a tabular one's."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ModelError(f"{SPEC_FILE} unreadable: {exc}") from None
    if not is_image_spec(data):
        return ModelSpec.from_json(raw)
    try:
        return ImageSpec.from_data(data)
    except (SpecError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{SPEC_FILE}: {type(exc).__name__ if isinstance(exc, KeyError) else ''}{exc}") from None


def _load_module(data: bytes) -> Any:
    """TorchScript, or a torch.export program (told by its archive's entries, as register_model tells it)."""
    import zipfile

    import torch

    from shared.artifact_format import classify_zip_entries

    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        names = []
    if classify_zip_entries(names).name == "torch-export":
        return torch.export.load(io.BytesIO(data)).module()
    module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    module.eval()
    return module


def load_model(name: str, version: int, files: Mapping[str, bytes], generations: tuple[int, ...] = ()) -> LoadedModel:
    """From the version folder's bytes (`model.json` and the weights it names), checked by a dry run."""
    import torch

    if SPEC_FILE not in files:
        raise ModelError(f"{name} v{version} has no {SPEC_FILE}")
    spec = read_spec(files[SPEC_FILE])
    if spec.weights not in files:
        raise ModelError(f"{name} v{version} has no {spec.weights} (named by {SPEC_FILE})")
    probe_input = (
        torch.zeros((2, spec.input_width)) if isinstance(spec, ModelSpec) else torch.zeros(spec.probe_shape(2))
    )
    try:
        module = _load_module(files[spec.weights])
        with torch.inference_mode():
            probe = module(probe_input)
    except Exception as exc:  # not TorchScript nor a program, or a module that does not take this spec's input
        raise ModelError(
            f"{name} v{version}: {spec.weights} is no TorchScript module or torch.export program for this spec"
            f" (a program needs a dynamic batch dimension): {exc}"
        ) from None
    if not hasattr(probe, "shape"):
        raise ModelError(f"{name} v{version}: the module gives {type(probe).__name__}, expected a tensor")
    if isinstance(spec, ImageSpec):
        problem = spec.check_output(tuple(probe.shape), 2)
        if problem:
            raise ModelError(f"{name} v{version}: {problem}")
    elif tuple(probe.reshape(-1).shape) != (2,):
        raise ModelError(f"{name} v{version}: the module gives shape {tuple(probe.shape)} for 2 rows, expected (2, 1)")
    return LoadedModel(name, version, spec, module, generations)


def configure_threads(threads: int | None = None) -> int:
    """torch's intra-op threads: by default the CPUs this container may use (not the host's) minus one,
    left to the event loop that parses requests, and one inter-op thread (requests are batched already:
    the parallelism is within a batch). Measured on 2 CPUs (benchmarks/inference.py, `wide` model, 32
    clients): 1 torch thread served 20% more than 2, which starved the event loop."""
    import contextlib
    import os

    import torch

    threads = threads or max(1, len(os.sched_getaffinity(0)) - 1)
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # settable once, before any parallel work: already done
        torch.set_num_interop_threads(1)
    return threads
