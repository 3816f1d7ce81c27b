"""An image model's spec (model.json, `input.kind: image`): how a file becomes the tensor the module
takes, and how the module's output becomes an answer per image.

Input: `size` [height, width] and `channels` (1 or 3) of the tensor; pixel values divided by `scale`
(255 for 8-bit images), then `(v - mean[c]) / std[c]` per channel. For a grey DICOM: stored values become
physical ones (Hounsfield units for CT) by the file's modality LUT (its Modality LUT Sequence, or its
RescaleSlope/RescaleIntercept, the spec's `rescale` for a tag the file lacks), and with a `window`
{center, width} they are clipped to the window and mapped to [0, 1] in place of `scale`; a MONOCHROME1
file (lowest value shown white) is inverted to MONOCHROME2's convention only without a window (display
space: `lo + hi - v` over the range the file can hold), never its physical values under a window. A
colour DICOM (RGB, YBR_FULL(_422) as RGB, PALETTE COLOR) has no rescale and no window.
Output: `binary` (one logit per image), `multiclass` (a logit per label) or
`segmentation` (a logit per class and pixel: a mask and each class's area).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

IMAGE_FORMAT = "mlops-events/image-v1"
OUTPUT_KINDS = ("binary", "multiclass", "segmentation")
MAX_SIDE = 4096  # of the model's input tensor (the files may be larger: they are resized)
MAX_CLASSES = 256  # a segmentation mask is one byte per pixel


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    center: float
    width: float


@dataclass(frozen=True)
class ImageInput:
    """Everything a decoded file's tensor depends on: equal inputs make tensors one batch can take."""

    height: int
    width: int
    channels: int = 1
    scale: float = 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    slope: float = 1.0  # DICOM values to HU where the file has no RescaleSlope
    intercept: float = 0.0  # ... nor RescaleIntercept
    window: Window | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "image",
            "size": [self.height, self.width],
            "channels": self.channels,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "rescale": {"slope": self.slope, "intercept": self.intercept},
        }
        if self.window is not None:
            out["window"] = {"center": self.window.center, "width": self.window.width}
        return out


@dataclass(frozen=True)
class ImageOutput:
    kind: str  # binary | multiclass | segmentation
    labels: tuple[str, ...]  # classes, in the order of the module's output
    name: str = "finding"

    def to_json(self) -> dict[str, Any]:
        key = "classes" if self.kind == "segmentation" else "labels"
        return {"kind": self.kind, "name": self.name, key: list(self.labels)}


@dataclass(frozen=True, eq=False)
class ImageItem:
    """One decoded image queued for a forward pass, with the preprocessing it went through: the batch
    runs only on a model that takes that input (a swap to another model in between is a retry)."""

    tensor: torch.Tensor
    input: ImageInput
    file_bytes: int = 0  # the uploaded file's size: a summary feature the capture records


@dataclass
class ImagePrediction:
    label: str
    confidence: float  # the top class's probability (segmentation: averaged over the pixels)
    probabilities: dict[str, float]
    mask: np.ndarray | None = None  # segmentation: the class index of each pixel (uint8)
    areas: dict[str, dict[str, float]] | None = None  # segmentation: {class: {"pixels", "fraction"}}
    summary: dict[str, float] | None = None  # the image's summary features, when the capture asked for them

    @property
    def finite(self) -> bool:
        return math.isfinite(self.confidence) and all(math.isfinite(p) for p in self.probabilities.values())


@dataclass(frozen=True)
class ImageSpec:
    input: ImageInput
    output: ImageOutput
    weights: str = "model.pt2"
    extra: dict[str, Any] = field(default_factory=dict)
    kind = "image"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ImageSpec:
        if data.get("format") != IMAGE_FORMAT:
            raise SpecError(f"format {data.get('format')!r}, expected {IMAGE_FORMAT!r} for an image model")
        spec = cls(_input(data["input"]), _output(data["output"]), str(data.get("weights", "model.pt2")))
        extra = {k: v for k, v in data.items() if k not in {"format", "input", "output", "weights"}}
        return cls(spec.input, spec.output, spec.weights, extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": IMAGE_FORMAT,
            "input": self.input.to_json(),
            "output": self.output.to_json(),
            "weights": self.weights,
            **self.extra,
        }

    def probe_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.input.channels, self.input.height, self.input.width)

    def check_output(self, shape: tuple[int, ...], batch: int) -> str | None:
        """Why the module's output for `batch` images does not fit this spec (None: it fits)."""
        classes = len(self.output.labels)
        if self.output.kind == "binary":
            ok = shape in {(batch,), (batch, 1)}
            expected = f"({batch},) or ({batch}, 1)"
        elif self.output.kind == "multiclass":
            ok, expected = shape == (batch, classes), f"({batch}, {classes})"
        else:
            ok = len(shape) == 4 and shape[:2] == (batch, classes) and shape[2] > 0 and shape[3] > 0
            expected = f"({batch}, {classes}, height, width)"
        return None if ok else f"the module gives shape {shape} for {batch} images, expected {expected}"

    def predictions(self, logits: torch.Tensor) -> list[ImagePrediction]:
        """The module's output for a batch, one answer per image."""
        import torch

        labels = self.output.labels
        logits = logits.float()
        if self.output.kind == "binary":
            positive = torch.sigmoid(logits.reshape(-1)).tolist()
            return [
                ImagePrediction(
                    labels[1] if p >= 0.5 else labels[0], max(p, 1.0 - p), {labels[0]: 1.0 - p, labels[1]: p}
                )
                for p in positive
            ]
        if self.output.kind == "multiclass":
            out = []
            for row in torch.softmax(logits, dim=1).tolist():
                top = max(range(len(row)), key=row.__getitem__)
                out.append(ImagePrediction(labels[top], row[top], dict(zip(labels, row, strict=True))))
            return out
        return [self._segmentation(image) for image in torch.softmax(logits, dim=1)]

    def _segmentation(self, probabilities: torch.Tensor) -> ImagePrediction:
        """The label: the largest class after the first (the background) if any pixel has one."""
        import torch

        labels = self.output.labels
        top, mask = probabilities.max(dim=0)
        pixels = mask.numel()
        counts = torch.bincount(mask.reshape(-1), minlength=len(labels)).tolist()
        found = max(range(1, len(labels)), key=counts.__getitem__) if len(labels) > 1 else 0
        label = labels[found] if counts[found] > 0 else labels[0]
        means = probabilities.reshape(len(labels), -1).mean(dim=1).tolist()
        return ImagePrediction(
            label,
            float(top.mean()),
            dict(zip(labels, means, strict=True)),
            mask=mask.to(torch.uint8).numpy(),
            areas={c: {"pixels": n, "fraction": n / pixels} for c, n in zip(labels, counts, strict=True)},
        )


def is_image_spec(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("input"), dict) and data["input"].get("kind") == "image"


def parse(raw: bytes | str) -> ImageSpec:
    try:
        return ImageSpec.from_data(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(str(exc)) from None


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{what}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise SpecError(f"{what}: must be positive, got {value!r}")
    return float(value)


def _per_channel(value: Any, channels: int, default: float, what: str, *, positive: bool = False) -> tuple:
    if value is None:
        return (default,) * channels
    values = value if isinstance(value, list) else [value]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise SpecError(f"input.{what}: {len(values)} values for {channels} channels")
    return tuple(_number(v, f"input.{what}", positive=positive) for v in values)


def _input(data: dict[str, Any]) -> ImageInput:
    size = data["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(type(s) is int and 1 <= s <= MAX_SIDE for s in size)):
        raise SpecError(f"input.size: [height, width], each 1..{MAX_SIDE}, got {size!r}")
    channels = data.get("channels", 1)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise SpecError(f"input.channels: 1 or 3, got {channels!r}")
    rescale = data.get("rescale") or {}
    window = data.get("window")
    return ImageInput(
        height=size[0],
        width=size[1],
        channels=channels,
        scale=_number(data.get("scale", 255.0), "input.scale", positive=True),
        mean=_per_channel(data.get("mean"), channels, 0.0, "mean"),
        std=_per_channel(data.get("std"), channels, 1.0, "std", positive=True),
        slope=_number(rescale.get("slope", 1.0), "input.rescale.slope"),
        intercept=_number(rescale.get("intercept", 0.0), "input.rescale.intercept"),
        window=None
        if window is None
        else Window(
            _number(window["center"], "input.window.center"),
            _number(window["width"], "input.window.width", positive=True),
        ),
    )


def _output(data: dict[str, Any]) -> ImageOutput:
    kind = data.get("kind")
    if kind not in OUTPUT_KINDS:
        raise SpecError(f"output.kind: one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
    key = "classes" if kind == "segmentation" else "labels"
    default = ["negative", "positive"] if kind == "binary" else None
    labels = data.get(key, default)
    if not isinstance(labels, list) or not all(isinstance(v, str) and v for v in labels):
        raise SpecError(f"output.{key}: a list of names, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise SpecError(f"output.{key}: each name once")
    count = {"binary": (2, 2), "multiclass": (2, MAX_CLASSES), "segmentation": (1, MAX_CLASSES)}[kind]
    if not count[0] <= len(labels) <= count[1]:
        raise SpecError(f"output.{key}: {count[0]}..{count[1]} names for {kind}, got {len(labels)}")
    return ImageOutput(kind, tuple(labels), str(data.get("name", "finding")))
