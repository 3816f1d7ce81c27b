"""Image models saved as torch.export programs (.pt2), and real image files made in the test: PNG and
JPEG with Pillow, DICOM with pydicom (CT: int16 stored values, a rescale to Hounsfield units).

The models compute something checkable from the pixels: the binary one the mean intensity, the
multi-class one which of dark/mid/bright the mean is nearest, the segmentation one each pixel against
0.5 (after the spec's windowing: a lesion at 100 HU is 0.65 in a 40/400 window, air is 0)."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlops_inference.image_spec import IMAGE_FORMAT

BUCKET = "ml-models-dev"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFLATED = "1.2.840.10008.1.2.1.99"


class MeanBinary(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.mean(dim=(1, 2, 3)) - 0.5) * 20.0


class NearestLevel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3)).unsqueeze(1)
        levels = torch.tensor([[0.1, 0.5, 0.9]])
        return -((mean - levels) ** 2) * 200.0


class Threshold(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = x[:, :1] - 0.5
        return torch.cat([-level, level], dim=1) * 20.0


MODULES = {"binary": MeanBinary, "multiclass": NearestLevel, "segmentation": Threshold}


@functools.cache
def exported(kind: str, channels: int, size: int) -> bytes:
    module = MODULES[kind]().eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, (torch.zeros(2, channels, size, size),), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def spec(kind: str, *, channels: int = 1, size: int = 16, window: dict | None = None, **input_: Any) -> dict:
    output: dict[str, Any] = {"kind": kind, "name": "finding"}
    if kind == "multiclass":
        output["labels"] = ["dark", "mid", "bright"]
    elif kind == "segmentation":
        output["classes"] = ["background", "lesion"]
    else:
        output["labels"] = ["normal", "abnormal"]
    data = {
        "format": IMAGE_FORMAT,
        "input": {"kind": "image", "size": [size, size], "channels": channels, **input_},
        "output": output,
        "weights": "model.pt2",
        "metrics": {"auc": 0.99},
    }
    if window:
        data["input"]["window"] = window
    return data


def model_files(kind: str = "binary", *, channels: int = 1, size: int = 16, **spec_args: Any) -> dict[str, bytes]:
    return {
        "model.json": json.dumps(spec(kind, channels=channels, size=size, **spec_args)).encode(),
        "model.pt2": exported(kind, channels, size),
    }


def register(state_dir: Path, model: str, version: int, files: dict[str, bytes]) -> None:
    from shared.adapters.local_object_store import LocalObjectStore
    from tooling.model_publish import publish_version
    from tooling.replay import Replayer

    results = publish_version(
        LocalObjectStore(state_dir / "buckets"),
        Replayer(),
        bucket=BUCKET,
        model=model,
        version=version,
        files=files,
        uploader="tests",
    )
    assert all(r.outcome == "applied" for r in results), [r.detail for r in results]


# -- files ------------------------------------------------------------------------------------------------


def png(array: np.ndarray, **save: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def jpeg(array: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def grey(value: int, size: int = 32) -> np.ndarray:
    return np.full((size, size), value, dtype=np.uint8)


def ct_slice(lesion: bool, size: int = 64) -> np.ndarray:
    """Stored values (HU + 1024) of a phantom: air outside, soft tissue inside, a 100 HU lesion if asked."""
    hu = np.full((size, size), -1000, dtype=np.int16)
    yy, xx = np.mgrid[:size, :size]
    body = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2
    hu[body] = 40
    if lesion:
        hu[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.15) ** 2] = 100
    return (hu + 1024).astype(np.int16)


def dicom(
    stored: np.ndarray,
    *,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    transfer_syntax: str | None = None,
    pixel_data: bytes | None = None,
    rows: int | None = None,
    columns: int | None = None,
    frames: int | None = None,
) -> bytes:
    """A CT slice as a DICOM Part 10 file with the headers a scanner writes (explicit VR little endian
    unless `transfer_syntax` says otherwise: then `pixel_data` is what the file holds)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax or ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientID, ds.PatientName = "PHANTOM-001", "Phantom^Test"
    ds.Manufacturer = "mlops-events tests"
    ds.SliceThickness, ds.PixelSpacing, ds.KVP = 1.0, [0.7, 0.7], 120
    ds.Rows, ds.Columns = rows or stored.shape[0], columns or stored.shape[1]
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    ds.RescaleType = "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    if transfer_syntax in (None, DEFLATED):
        ds.PixelData = pixel_data if pixel_data is not None else stored.astype("<i2").tobytes()
    else:
        ds.PixelData = encapsulate([pixel_data or b"\xff\x4f\xff\x51compressed"])
        ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def deflated_dicom() -> bytes:
    """Deflated explicit VR little endian: the dataset after the meta group is zlib data."""
    return dicom(ct_slice(True), transfer_syntax=DEFLATED)
