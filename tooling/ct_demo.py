"""The demo's CT model: synthetic chest-like slices in Hounsfield units, written as DICOM, and a small CNN
trained on them to say whether a slice holds a lesion, saved as a torch.export program.

Nothing is downloaded: every slice is drawn from a seeded generator. A slice is a body ellipse of soft
tissue (40 HU) in air (-1000), a fat rim (-100), two lungs (-850), a spine and ribs of bone (700), a
heart (45), vessels in the lungs (small spots, -200 to 40 HU) and scanner noise (sigma 25 HU); a lesion
is a round nodule, ground glass to solid (-450 to 30 HU, radius 2 to 5 pixels of 128) inside a lung,
where a radiologist's lung window (center -600, width 1500) shows it. The files carry the headers a
CT series carries (modality, rescale slope and intercept to HU, pixel spacing, slice thickness, window,
UIDs, anonymised patient), so pydicom and the inference service read them as a scanner's.

The model learns from the service's own preprocessing: each training slice is written as DICOM and
decoded by `mlops_inference.image_decode`, the code `/predict` runs, so what it was trained on is
exactly what it is served. Deterministic for a seed (torch's CPU kernels, one thread); its AUC on
held-out slices is measured here and recorded in model.json.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "ct-scan-classifier"
SLICE = 128  # pixels a side of the written slices (0.7 mm): the model sees them resized
INPUT = 64  # pixels a side of the model's input
LUNG_WINDOW = (-600.0, 1500.0)  # center, width in HU
LABELS = ("no-lesion", "lesion")
AIR, FAT, SOFT, LUNG, BONE, HEART = -1000, -100, 40, -850, 700, 45


@dataclass(frozen=True)
class TrainedCtModel:
    files: dict[str, bytes]  # model.json, model.pt2
    auc: float  # on held-out slices
    accuracy: float
    held_out: int
    trained: int
    seconds: float


def phantom(rng: np.random.Generator, lesion: bool, size: int = SLICE) -> np.ndarray:
    """One slice in HU (int16): the anatomy varies a little per slice; `lesion` puts a nodule in a lung."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    hu = np.full((size, size), AIR, dtype=np.float32)
    a, b = rng.uniform(0.40, 0.46), rng.uniform(0.30, 0.36)  # the body's half axes
    dy = rng.uniform(-0.02, 0.02)
    body = (x / a) ** 2 + ((y - dy) / b) ** 2
    hu[body <= 1.0] = FAT
    hu[body <= 0.85] = SOFT
    lungs = []
    for side in (-1, 1):
        cx, cy = side * rng.uniform(0.17, 0.21), dy + rng.uniform(-0.03, 0.01)
        ax, by = rng.uniform(0.11, 0.14), rng.uniform(0.17, 0.21)
        inside = ((x - cx) / ax) ** 2 + ((y - cy) / by) ** 2 <= 1.0
        hu[inside] = LUNG
        lungs.append((cx, cy, ax, by))
    hu[(x / 0.09) ** 2 + ((y - dy - 0.02) / 0.08) ** 2 <= 1.0] = HEART
    hu[(x / 0.035) ** 2 + ((y - dy - b + 0.06) / 0.035) ** 2 <= 1.0] = BONE  # the spine
    ring = np.abs(body - 0.93) < 0.025
    ribs = np.sin(np.arctan2(y - dy, x) * rng.integers(9, 13)) > 0.55
    hu[ring & ribs] = BONE
    for cx, cy, ax, by in lungs:  # vessels: small bright spots in every lung, what a nodule must be told from
        for _ in range(int(rng.integers(4, 9))):
            angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.8)
            vx, vy = cx + reach * ax * np.cos(angle), cy + reach * by * np.sin(angle)
            hu[(x - vx) ** 2 + (y - vy) ** 2 <= (rng.uniform(0.6, 1.6) / size) ** 2] = rng.uniform(-200, 40)
    if lesion:
        cx, cy, ax, by = lungs[int(rng.integers(2))]
        radius = rng.uniform(2.0, 5.0) / size
        angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.6)
        nx, ny = cx + reach * ax * np.cos(angle), cy + reach * by * np.sin(angle)
        nodule = (x - nx) ** 2 + (y - ny) ** 2 <= radius**2
        hu[nodule] = rng.uniform(-450, 30)  # ground glass to solid
    hu += rng.normal(0.0, 25.0, hu.shape).astype(np.float32)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def dicom_bytes(hu: np.ndarray, *, instance: int, series_seed: int = 0) -> bytes:
    """A CT Image Storage file (explicit VR little endian) holding the slice as stored = HU + 1024."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

    def uid(what: str) -> UID:  # deterministic: the same demo writes the same files
        return generate_uid(entropy_srcs=[f"mlops-events-ct-demo-{series_seed}-{what}"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = uid(f"instance-{instance}")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid("study"), uid("series")
    ds.FrameOfReferenceUID = uid("frame")
    ds.Modality, ds.Manufacturer, ds.BodyPartExamined = "CT", "mlops-events synthetic phantom", "CHEST"
    ds.PatientName, ds.PatientID, ds.PatientSex = "Anonymous^Phantom", f"PHANTOM{series_seed:04d}", "O"
    ds.StudyDate = ds.SeriesDate = "20261201"
    ds.StudyTime = ds.SeriesTime = "090000"
    ds.SeriesNumber, ds.InstanceNumber = 1, instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP, ds.SliceThickness, ds.PixelSpacing = 120, 1.25, [0.7, 0.7]
    ds.ImagePositionPatient = [-44.8, -44.8, -1.25 * instance]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = LUNG_WINDOW
    ds.PixelData = (hu.astype(np.int32) + 1024).astype("<u2").tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _slices(seed: int, count: int) -> tuple[list[bytes], np.ndarray]:
    """`count` DICOM files, half with a lesion (shuffled), and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 2)
    files = [dicom_bytes(phantom(rng, bool(label)), instance=i + 1, series_seed=seed) for i, label in enumerate(labels)]
    return files, labels.astype(np.float32)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative (ties: half)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    if not len(positive) or not len(negative):
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


def spec_json(extra: dict[str, Any]) -> dict[str, Any]:
    from mlops_inference.image_spec import ImageInput, ImageOutput, ImageSpec, Window

    spec = ImageSpec(
        ImageInput(
            INPUT,
            INPUT,
            channels=1,
            mean=(0.5,),
            std=(0.25,),
            slope=1.0,
            intercept=-1024.0,
            window=Window(*LUNG_WINDOW),
        ),
        ImageOutput("binary", LABELS, name="lesion"),
        weights="model.pt2",
    )
    return spec.to_json() | extra


def train(seed: int = 7, trained: int = 512, held_out: int = 256, epochs: int = 16) -> TrainedCtModel:
    """Train the classifier (a few seconds on one CPU core) and export it with a dynamic batch dimension."""
    import torch

    from mlops_inference.image_decode import DecodeLimits, decode
    from mlops_inference.image_spec import ImageSpec

    started = time.perf_counter()
    spec = ImageSpec.from_data(spec_json({}))
    limits = DecodeLimits(max_file_bytes=1 << 24, max_pixels=1 << 22)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic and no oversubscription
    try:
        torch.manual_seed(seed)
        files, labels = _slices(seed, trained + held_out)
        inputs = torch.stack([decode(f, spec.input, limits) for f in files])
        targets = torch.from_numpy(labels)
        model = _network()
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        batches = -(-trained // 32)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * batches)
        order = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            for batch in torch.randperm(trained, generator=order).split(32):
                optimiser.zero_grad()
                logits = model(inputs[batch]).reshape(-1)
                torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[batch]).backward()
                optimiser.step()
                schedule.step()
        model.eval()
        with torch.inference_mode():
            scores = torch.sigmoid(model(inputs[trained:]).reshape(-1)).numpy()
        truth = labels[trained:]
        measured = auc(scores, truth)
        accuracy = float(((scores >= 0.5) == (truth == 1)).mean())
        batch = torch.export.Dim("batch", min=1, max=1024)
        # A copy: a view would save the whole training set's storage with the program.
        program = torch.export.export(model, (inputs[:2].clone(),), dynamic_shapes=({0: batch},))
        weights = io.BytesIO()
        torch.export.save(program, weights)
    finally:
        torch.set_num_threads(threads)
    extra = {
        "model": MODEL_NAME,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {"slices": trained, "held_out": held_out, "epochs": epochs, "seed": seed,
                     "data": "synthetic CT phantoms (tooling/ct_demo.py)"},
        "metrics": {"auc": round(measured, 4), "accuracy": round(accuracy, 4)},
    }  # fmt: skip
    files_out = {"model.json": json.dumps(spec_json(extra), indent=2).encode(), "model.pt2": weights.getvalue()}
    return TrainedCtModel(files_out, measured, accuracy, held_out, trained, time.perf_counter() - started)


def _network() -> Any:
    """Three batch-normed convolutions and a linear head, ~4k parameters: a max over the slice of what looks
    like a nodule, told from a vessel by its size."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
        nn.Flatten(), nn.Linear(16, 1),
    )  # fmt: skip


def write_samples(folder: Path, count: int = 4, seed: int = 1001) -> list[Path]:
    """Slices for the walkthrough (`curl -F file=@...`): alternately without and with a lesion."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for i in range(count):
        lesion = i % 2 == 1
        path = folder / f"slice-{i + 1:02d}-{'lesion' if lesion else 'clear'}.dcm"
        path.write_bytes(dicom_bytes(phantom(rng, lesion), instance=i + 1, series_seed=seed))
        written.append(path)
    return written
