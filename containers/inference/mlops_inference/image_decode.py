"""Uploaded files to the tensor an image model takes: PNG and JPEG with Pillow, DICOM with pydicom.

Every file is hostile until decoded. In order: its size against a cap (413); its kind by its magic bytes,
not its name or content type (PNG, JPEG, DICOM Part 10; anything else 415); the pixel count its header
declares against a cap, before a pixel is decoded (413: a decompression bomb declares 10^10 pixels in a
few KB); a DICOM's transfer syntax from its file meta group, read here before pydicom parses the rest
(415 for deflated data, whose inflated size is unbounded, and for a compression no installed decoder
reads, naming what to install); then the decode itself, where anything that fails is a 422.
Runs in worker threads (mlops_inference.image_requests): nothing here touches the event loop.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from mlops_inference.image_spec import ImageInput

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_MAGIC_AT = 128  # a Part 10 file: a 128-byte preamble, then "DICM"
DEFLATED = "1.2.840.10008.1.2.1.99"
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


class ImageRejected(Exception):
    """A file this service will not or cannot turn into a tensor: `status` is the HTTP answer."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass(frozen=True)
class DecodeLimits:
    max_file_bytes: int
    max_pixels: int


def sniff(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data[DICOM_MAGIC_AT : DICOM_MAGIC_AT + 4] == b"DICM":
        return "dicom"
    return None


def decode(data: bytes, spec: ImageInput, limits: DecodeLimits) -> torch.Tensor:
    """The file as a float32 tensor [channels, height, width] preprocessed as the spec says."""
    if len(data) > limits.max_file_bytes:
        raise ImageRejected(413, "file_too_large", f"{len(data)} bytes; at most {limits.max_file_bytes} per file")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected(415, "unsupported_type", "not a PNG, JPEG or DICOM (Part 10) file, by its first bytes")
    try:
        if kind == "dicom":
            return _dicom(data, spec, limits)
        return _picture(data, kind, spec, limits)
    except ImageRejected:
        raise
    # The decoders' errors on bytes that are not what they claim (truncated, forged, inconsistent): what
    # each library raises is not a closed list, and any of them means the same to the client.
    except Exception as exc:
        raise ImageRejected(422, "undecodable", f"the {kind.upper()} file does not decode: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).encode("ascii", "backslashreplace").decode().split())
    return f"{type(exc).__name__}: {text}"[:200]


def _too_many(pixels: int, limits: DecodeLimits, what: str) -> None:
    if pixels > limits.max_pixels:
        raise ImageRejected(413, "too_many_pixels", f"{what}: {pixels} pixels; at most {limits.max_pixels}")


# -- PNG and JPEG ---------------------------------------------------------------------------------------


def _picture(data: bytes, kind: str, spec: ImageInput, limits: DecodeLimits) -> torch.Tensor:
    from PIL import Image

    # Pillow's own guard as well as ours (it raises past twice this): set for every decode, as a test or a
    # second service in the process may have set another.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours is the check that answers
        try:
            image = Image.open(io.BytesIO(data), formats=["PNG" if kind == "png" else "JPEG"])
        except Image.DecompressionBombError as exc:
            raise ImageRejected(413, "too_many_pixels", str(exc)[:200]) from None
        with image:
            width, height = image.size
            frames = int(getattr(image, "n_frames", 1) or 1)
            _too_many(width * height * frames, limits, f"{width} x {height} x {frames} frame(s) declared")
            if image.format == "JPEG":
                image.draft("L" if spec.channels == 1 else "RGB", (spec.width, spec.height))  # DCT-scaled decode
            image.load()
            picture = _to_mode(image, spec.channels)
            picture = picture.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
            import numpy as np

            array = np.asarray(picture, dtype=np.float32)
    return _normalised(array / spec.scale, spec)


def _to_mode(image: Any, channels: int) -> Any:
    """8-bit pictures to L or RGB; 16-bit and float greys kept as their values (mode F)."""
    if image.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        return image.convert("F") if image.mode != "F" else image  # one channel: repeated for an RGB model
    return image.convert("L" if channels == 1 else "RGB")


# -- DICOM ----------------------------------------------------------------------------------------------


def transfer_syntax(data: bytes) -> str | None:
    """The TransferSyntaxUID from a Part 10 file's meta group, or None when it has none.

    The whole group is read as the standard writes it (explicit VR little endian, tags ascending, each
    once), and anything else is refused: this answer decides whether pydicom will inflate the file, so
    it must be the one pydicom reads. A group listing the tag twice (pydicom keeps the last: a deflated
    syntax behind an uncompressed one inflated gigabytes from a 2 MB file), or read as implicit VR (an
    element whose VR is not two capital letters), is no file of ours."""

    def malformed(why: str) -> ImageRejected:
        return ImageRejected(422, "undecodable", f"the DICOM file meta group is malformed: {why}")

    offset, previous, found = DICOM_MAGIC_AT + 4, -1, None
    while offset + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, offset)
        if group != 0x0002:
            break
        if element <= previous:
            raise malformed(f"element (0002,{element:04X}) repeated or out of order")
        previous = element
        vr = data[offset + 4 : offset + 6]
        if not (len(vr) == 2 and vr.isalpha() and vr.isupper()):
            raise malformed(f"element (0002,{element:04X}) is not explicit VR")
        if vr in _LONG_VRS:
            if offset + 12 > len(data):
                raise malformed("it ends inside an element")
            (length,) = struct.unpack_from("<I", data, offset + 8)
            start = offset + 12
        else:
            (length,) = struct.unpack_from("<H", data, offset + 6)
            start = offset + 8
        if start + length > len(data):
            raise malformed("it ends inside an element")
        if element == 0x0010:
            if vr != b"UI":
                raise malformed("TransferSyntaxUID is not a UID")
            found = data[start : start + length].rstrip(b"\x00 ").decode("ascii", "replace")
        offset = start + length
    return found


def _check_transfer_syntax(uid: str | None) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    if uid is None:
        raise ImageRejected(422, "undecodable", "the DICOM file has no transfer syntax in its file meta group")
    if uid == DEFLATED:
        raise ImageRejected(
            415, "unsupported_type", f"deflated DICOM ({DEFLATED}) is not read: its inflated size is unbounded"
        )
    if uid in UNCOMPRESSED:
        return
    syntax = UID(uid)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise ImageRejected(
            415, "unsupported_type", f"DICOM transfer syntax {uid!r} is not one this service reads"
        ) from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise ImageRejected(
            415,
            "unsupported_type",
            f"the DICOM pixel data is compressed with {syntax.name} ({uid}) and no decoder for it is installed"
            f" (one of: {needs})"[:300],
        )


def _dicom(data: bytes, spec: ImageInput, limits: DecodeLimits) -> torch.Tensor:
    return _resized(dicom_array(data, spec, limits), spec)


def dicom_array(data: bytes, spec: ImageInput, limits: DecodeLimits) -> np.ndarray:
    """A DICOM file's pixels as float32 [height, width] or [height, width, 3], windowed or scaled as the
    spec says: what `_resized` takes (the tests' seam, compared there with pydicom's own functions).

    Grey images (SamplesPerPixel 1) go through the modality LUT: the file's Modality LUT Sequence, or its
    RescaleSlope / RescaleIntercept (the spec's `rescale` for a tag the file lacks), by pydicom's
    `apply_modality_lut`, giving physical values (HU for CT). Colour images (RGB; YBR_FULL and
    YBR_FULL_422, which pydicom converts to RGB; PALETTE COLOR through its palette) have no modality LUT
    and no physical units: no rescale applies to them, and a windowed spec refuses them."""
    _check_transfer_syntax(transfer_syntax(data))
    import numpy as np
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(data))
    if "PixelData" not in dataset and "FloatPixelData" not in dataset and "DoubleFloatPixelData" not in dataset:
        raise ImageRejected(422, "undecodable", "the DICOM file holds no pixel data")
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    _too_many(rows * columns * frames, limits, f"{columns} x {rows} x {frames} frame(s) declared")
    if frames != 1:
        raise ImageRejected(422, "undecodable", f"the DICOM file holds {frames} frames: send one slice per file")
    photometric = str(dataset.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper()
    pixels = dataset.pixel_array  # YBR_FULL(_422) to RGB, signed and BitsStored < BitsAllocated as stored
    colour_bits = int(dataset.get("BitsStored", 8) or 8)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, dataset)[..., :3]  # RGBA palettes: the alpha is not an image's
        colour_bits = _palette_bits(dataset)
    if pixels.ndim == 3:
        if pixels.shape[2] != 3:
            raise ImageRejected(422, "undecodable", f"the DICOM pixels have {pixels.shape[2]} samples per pixel")
        if spec.window is not None:
            raise ImageRejected(
                422,
                "undecodable",
                f"a {photometric} (colour) DICOM has no physical values for the model's window (HU) to apply to",
            )
        values = np.asarray(pixels, dtype=np.float64)
        if colour_bits > 8:  # 16-bit colour (palettes mostly are) on the 8-bit scale the model's `scale` means
            values *= 255.0 / ((1 << colour_bits) - 1)
        values /= spec.scale
    elif pixels.ndim == 2:
        values = _modality_values(dataset, pixels, spec)
        if spec.window is not None:
            # Physical values are what the window is in: MONOCHROME1 says how to display them, not what they are.
            low = spec.window.center - spec.window.width / 2
            values = np.clip((values - low) / spec.window.width, 0.0, 1.0)
        else:
            if photometric == "MONOCHROME1":
                # Display space (the model learnt displayed greys, white the highest): MONOCHROME1 shows its
                # lowest value white, so it is turned into MONOCHROME2's convention, lo + hi - v, over the
                # range [lo, hi] the file can hold (its stored range through the modality LUT).
                low, high = _modality_range(dataset, pixels, spec, values)
                values = (low + high) - values
            values = values / spec.scale
    else:
        raise ImageRejected(422, "undecodable", f"the DICOM pixels have shape {pixels.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(np.float32)  # finite in float64 is not yet finite in float32 (a slope of 1e300)
    if not np.isfinite(out).all():
        raise ImageRejected(422, "undecodable", "the DICOM pixel values are not all finite")
    return out


def _modality_values(dataset: Any, pixels: np.ndarray, spec: ImageInput) -> np.ndarray:
    """Stored values to physical ones: pydicom's `apply_modality_lut`, with the spec's rescale for a
    RescaleSlope or RescaleIntercept the file lacks (pydicom rescales only when it has both)."""
    import numpy as np
    from pydicom.pixels import apply_modality_lut

    if pixels.dtype.kind in "iub":
        pixels = pixels.astype(np.int64)  # a LUT's first mapped value may be negative: no uint16 wrap-around
    if dataset.get("ModalityLUTSequence"):
        _check_modality_lut(dataset)
    else:
        dataset.RescaleSlope = _tag_number(dataset, "RescaleSlope", spec.slope)
        dataset.RescaleIntercept = _tag_number(dataset, "RescaleIntercept", spec.intercept)
    try:
        return np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
    except (ValueError, TypeError, IndexError, OverflowError, AttributeError, struct.error) as exc:
        raise ImageRejected(422, "undecodable", f"the DICOM modality LUT does not apply: {_why(exc)}") from None


def _check_modality_lut(dataset: Any) -> None:
    """The Modality LUT Sequence's first item as pydicom will read it: three descriptor values, 8- or
    16-bit entries, as many entries as the descriptor says."""

    def bad(why: str) -> ImageRejected:
        return ImageRejected(422, "undecodable", f"the DICOM Modality LUT Sequence is malformed: {why}"[:300])

    item = dataset.ModalityLUTSequence[0]
    descriptor = item.get("LUTDescriptor")
    if descriptor is None or isinstance(descriptor, int | bytes) or len(descriptor) != 3:
        raise bad(f"LUTDescriptor {descriptor!r}, expected 3 values")
    entries, _first, depth = (int(v) for v in descriptor)
    entries = entries or 1 << 16
    if depth not in (8, 16):
        raise bad(f"{depth}-bit entries, expected 8 or 16")
    if "LUTData" not in item or item["LUTData"].value is None:
        raise bad("no LUTData")
    lut = item["LUTData"]
    found = len(lut.value) // 2 if lut.VR == "OW" else (len(lut.value) if lut.VM > 1 else lut.VM)
    if found != entries:
        raise bad(f"LUTData holds {found} entries, its descriptor {entries}")


def _modality_range(dataset: Any, pixels: np.ndarray, spec: ImageInput, values: np.ndarray) -> tuple[float, float]:
    """The physical values the file can hold: its stored range (BitsStored, PixelRepresentation) through
    the modality LUT; the image's own range (`values`, its pixels through the LUT) for float pixel data,
    which declares none."""
    import numpy as np

    if pixels.dtype.kind not in "iub":
        return float(values.min()), float(values.max())
    bits = int(dataset.BitsStored)  # pydicom has checked it against BitsAllocated to give the pixels
    signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    ends = np.array([low, high], dtype=np.int64)
    if dataset.get("ModalityLUTSequence"):  # not monotonic: every entry the stored range reaches
        entries, first = (
            int(dataset.ModalityLUTSequence[0].LUTDescriptor[0]) or 1 << 16,
            int(dataset.ModalityLUTSequence[0].LUTDescriptor[1]),
        )
        reached = np.arange(max(low, first), min(high, first + entries - 1) + 1, dtype=np.int64)
        ends = np.concatenate([ends, reached])
    mapped = _modality_values(dataset, ends, spec)
    return float(mapped.min()), float(mapped.max())


def _palette_bits(dataset: Any) -> int:
    """The bits of a palette's entries (8 or 16: the third value of its descriptor, PS3.3 C.7.6.3.1.5)."""
    descriptor = dataset.get("RedPaletteColorLookupTableDescriptor")
    try:
        bits = int(descriptor[2])
    except (TypeError, IndexError, ValueError):
        raise ImageRejected(422, "undecodable", "the DICOM palette has no valid descriptor") from None
    if bits not in (8, 16):
        raise ImageRejected(422, "undecodable", f"the DICOM palette's entries are {bits} bits (8 or 16)")
    return bits


def _tag_number(dataset: Any, keyword: str, default: float) -> float:
    raw = dataset.get(keyword)
    if raw is None or raw == "":
        return default
    if not isinstance(raw, int | float):  # several values (VM > 1), or text that is no number
        raise ImageRejected(422, "undecodable", f"the DICOM {keyword} is {raw!r}, not one number"[:300])
    value = float(raw)
    if not math.isfinite(value):
        raise ImageRejected(422, "undecodable", f"the DICOM {keyword} is {raw!r}")
    return value


# -- the tensor -----------------------------------------------------------------------------------------


def _resized(array: np.ndarray, spec: ImageInput) -> torch.Tensor:
    import torch

    tensor = torch.from_numpy(array)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if tuple(tensor.shape[1:]) != (spec.height, spec.width):
        tensor = torch.nn.functional.interpolate(
            tensor.unsqueeze(0), size=(spec.height, spec.width), mode="bilinear", antialias=True, align_corners=False
        )[0]
    return _channels_and_norm(tensor, spec)


def _normalised(array: np.ndarray, spec: ImageInput) -> torch.Tensor:
    import torch

    tensor = torch.from_numpy(array.astype("float32", copy=False))
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return _channels_and_norm(tensor, spec)


def _channels_and_norm(tensor: torch.Tensor, spec: ImageInput) -> torch.Tensor:
    import torch

    if tensor.shape[0] == 1 and spec.channels == 3:
        tensor = tensor.expand(3, -1, -1)
    elif tensor.shape[0] == 3 and spec.channels == 1:
        tensor = (tensor * torch.tensor([0.299, 0.587, 0.114]).reshape(3, 1, 1)).sum(dim=0, keepdim=True)
    elif tensor.shape[0] != spec.channels:
        raise ImageRejected(422, "undecodable", f"{tensor.shape[0]} channels; the model takes {spec.channels}")
    mean = torch.tensor(spec.mean, dtype=torch.float32).reshape(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).reshape(-1, 1, 1)
    return ((tensor - mean) / std).contiguous()
