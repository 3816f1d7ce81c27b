"""DICOM pixels to the float array a model's tensor is made of (issue 19), on any DICOM a user sends:
MONOCHROME1 and MONOCHROME2, signed and unsigned, BitsStored under BitsAllocated, rescale tags or a
Modality LUT Sequence or neither (the spec's rescale), RGB / YBR_FULL / YBR_FULL_422 / PALETTE COLOR.

pydicom is the oracle: the files are made here with pydicom, and what `dicom_array` gives is compared
with pydicom's own `apply_modality_lut`, `convert_color_space` and `apply_color_lut` and with numpy on
the values written, before the spec's mean/std and any resize. Hostile files are a 422, never a 500."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.pixels.processing import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from mlops_inference.image_decode import DecodeLimits, ImageRejected, decode, dicom_array
from mlops_inference.image_spec import ImageInput, ImageSpec, Window
from tests.support import image_models as im

LIMITS = DecodeLimits(1 << 20, 1 << 20)
CT = Window(center=40.0, width=400.0)


def spec(*, size: tuple[int, int] = (4, 4), channels: int = 1, window: Window | None = None, **kw: Any) -> ImageInput:
    return ImageInput(size[0], size[1], channels, mean=(0.0,) * channels, std=(1.0,) * channels, window=window, **kw)


def dicom_file(
    pixel_data: bytes,
    rows: int,
    columns: int,
    *,
    photometric: str = "MONOCHROME2",
    samples: int = 1,
    bits_allocated: int = 16,
    bits_stored: int | None = None,
    high_bit: int | None = None,
    signed: bool = False,
    planar: int = 0,
    **tags: Any,
) -> bytes:
    """A Part 10 file (explicit VR little endian) with the Image Pixel module as given and `tags` set."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, samples, photometric
    if samples > 1:
        ds.PlanarConfiguration = planar
    stored = bits_allocated if bits_stored is None else bits_stored
    ds.BitsAllocated, ds.BitsStored = bits_allocated, stored
    ds.HighBit = high_bit if high_bit is not None else max(stored - 1, 0)
    ds.PixelRepresentation = int(signed)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixel_data
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def stored_bytes(values: np.ndarray, bits_allocated: int, bits_stored: int, garbage: int = 0) -> bytes:
    """`values` (in the stored range) as BitsStored-bit two's complement words, `garbage` in the bits above."""
    mask = (1 << bits_stored) - 1
    words = (values.astype(np.int64) & mask) | ((garbage << bits_stored) & ((1 << bits_allocated) - 1) & ~mask)
    return words.astype("<u1" if bits_allocated == 8 else "<u2").tobytes()


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)


def modality_lut_item(lut: list[int], first: int, depth: int = 16, entries: int | None = None) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(lut) if entries is None else entries, first, depth]
    item.ModalityLUTType = "HU"
    item.LUTData = lut
    item["LUTData"].VR = "US"
    return item


# -- grey: the modality LUT, MONOCHROME1, signedness and bit depths (hypothesis) -------------------------


@st.composite
def grey_images(draw: st.DrawFn) -> dict[str, Any]:
    bits_allocated = draw(st.sampled_from([8, 16]))
    bits_stored = draw(st.integers(1, bits_allocated))
    signed = draw(st.booleans()) and bits_stored > 1
    low, high = stored_range(bits_stored, signed)
    rows, columns = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    values = np.array(draw(st.lists(st.integers(low, high), min_size=rows * columns, max_size=rows * columns)))
    ratio = st.integers(-4000, 4000).map(lambda n: n / 16)  # exact in binary and as a DS string
    return {
        "values": values.reshape(rows, columns),
        "bits_allocated": bits_allocated,
        "bits_stored": bits_stored,
        "signed": signed,
        "garbage": draw(st.integers(0, 0xFF)),
        "photometric": draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2"])),
        "slope": draw(st.none() | ratio.filter(bool)),
        "intercept": draw(st.none() | ratio | st.sampled_from([-1024.0, -32768.0])),
        "spec_slope": draw(ratio.filter(bool)),
        "spec_intercept": draw(ratio),
        "window": draw(st.none() | st.builds(Window, ratio, st.integers(1, 4000).map(float))),
        "scale": draw(st.sampled_from([1.0, 255.0, 4095.0])),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grey_images())
def test_grey_pixels_are_pydicom_s_modality_values_then_the_spec_s_window_or_scale(case):
    values, window = case["values"], case["window"]
    tags = {
        k: v for k, v in (("RescaleSlope", case["slope"]), ("RescaleIntercept", case["intercept"])) if v is not None
    }
    data = dicom_file(
        stored_bytes(values, case["bits_allocated"], case["bits_stored"], case["garbage"]),
        *values.shape,
        photometric=case["photometric"],
        bits_allocated=case["bits_allocated"],
        bits_stored=case["bits_stored"],
        signed=case["signed"],
        **tags,
    )
    input_ = spec(
        size=values.shape,
        window=window,
        scale=case["scale"],
        slope=case["spec_slope"],
        intercept=case["spec_intercept"],
    )
    slope = case["spec_slope"] if case["slope"] is None else case["slope"]
    intercept = case["spec_intercept"] if case["intercept"] is None else case["intercept"]

    # pydicom reads back the values written (sign, BitsStored, the bits above masked off) ...
    ds = pydicom.dcmread(io.BytesIO(data))
    assert np.array_equal(ds.pixel_array, values)
    # ... and its modality LUT, given both tags, is numpy's v * slope + intercept
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    physical = values * slope + intercept
    assert np.allclose(apply_modality_lut(ds.pixel_array, ds), physical)

    if window is not None:  # physical values: never inverted, whatever the photometric interpretation
        low = window.center - window.width / 2
        expected = np.clip((physical - low) / window.width, 0.0, 1.0)
    elif case["photometric"] == "MONOCHROME1":  # display space: inverted over the file's representable range
        ends = np.array(stored_range(case["bits_stored"], case["signed"])) * slope + intercept
        expected = (ends.min() + ends.max() - physical) / case["scale"]
    else:
        expected = physical / case["scale"]
    got = dicom_array(data, input_, LIMITS)
    assert got.dtype == np.float32 and got.shape == values.shape
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_the_tensor_is_that_array_when_no_resize_or_normalisation_applies():
    values = np.arange(12, dtype=np.int64).reshape(3, 4) * 300 - 1500
    data = dicom_file(stored_bytes(values, 16, 16), 3, 4, signed=True, RescaleSlope=1, RescaleIntercept=0)
    input_ = spec(size=(3, 4), window=CT)
    tensor = decode(data, input_, LIMITS)
    assert tuple(tensor.shape) == (1, 3, 4)
    assert torch.equal(tensor[0], torch.from_numpy(dicom_array(data, input_, LIMITS)))


def test_signed_12_bit_pixels_with_garbage_above_bit_11():
    words = np.array([[0xF000 | (4096 - 5), 7], [0x0FFF, 0x0800]], dtype="<u2")
    data = dicom_file(words.tobytes(), 2, 2, bits_stored=12, signed=True, RescaleSlope=2, RescaleIntercept=10)
    got = dicom_array(data, spec(size=(2, 2), scale=1.0), LIMITS)
    assert got.tolist() == [[-5 * 2 + 10, 7 * 2 + 10], [-1 * 2 + 10, -2048 * 2 + 10]]
    unsigned = dicom_file(words.tobytes(), 2, 2, bits_stored=12, signed=False)
    assert dicom_array(unsigned, spec(size=(2, 2), scale=1.0), LIMITS).tolist() == [[4091, 7], [4095, 2048]]


def test_monochrome1_x_ray_in_display_space_is_inverted_over_its_bit_depth_not_its_own_range():
    values = np.array([[0, 100], [1000, 4095]])
    data = dicom_file(stored_bytes(values, 16, 12), 2, 2, photometric="MONOCHROME1", bits_stored=12)
    got = dicom_array(data, spec(size=(2, 2), scale=4095.0), LIMITS)
    assert np.allclose(got, (4095 - values) / 4095)  # the lowest value displayed white is now the highest
    mono2 = dicom_file(stored_bytes(4095 - values, 16, 12), 2, 2, photometric="MONOCHROME2", bits_stored=12)
    assert np.allclose(got, dicom_array(mono2, spec(size=(2, 2), scale=4095.0), LIMITS))


def test_monochrome1_ct_values_are_not_inverted_for_a_windowed_model():
    hu = im.ct_slice(True, size=8).astype(np.int64) - 1024
    as_mono1 = dicom_file(
        stored_bytes(hu + 1024, 16, 16), 8, 8, photometric="MONOCHROME1", RescaleSlope=1, RescaleIntercept=-1024
    )
    as_mono2 = im.dicom(im.ct_slice(True, size=8))
    windowed = spec(size=(8, 8), window=CT)
    assert np.array_equal(dicom_array(as_mono1, windowed, LIMITS), dicom_array(as_mono2, windowed, LIMITS))
    assert dicom_array(as_mono1, windowed, LIMITS).max() == pytest.approx(0.65)  # the lesion, 100 HU


def test_a_tag_the_file_lacks_is_the_spec_s_and_the_file_s_tag_wins():
    values = np.array([[0, 10], [20, 30]])
    input_ = spec(size=(2, 2), scale=1.0, slope=2.0, intercept=-5.0)
    only_slope = dicom_file(stored_bytes(values, 16, 16), 2, 2, RescaleSlope=3)
    assert dicom_array(only_slope, input_, LIMITS).tolist() == (values * 3 - 5).tolist()
    only_intercept = dicom_file(stored_bytes(values, 16, 16), 2, 2, RescaleIntercept=7)
    assert dicom_array(only_intercept, input_, LIMITS).tolist() == (values * 2 + 7).tolist()
    neither = dicom_file(stored_bytes(values, 16, 16), 2, 2)
    assert dicom_array(neither, input_, LIMITS).tolist() == (values * 2 - 5).tolist()


@pytest.mark.parametrize(("slope", "intercept"), [("NaN", "0"), ("1", "inf"), ("1\\2", "0"), ("", "-1e400")])
def test_a_rescale_tag_that_is_not_one_finite_number_is_a_422(slope, intercept):
    values = np.zeros((2, 2), dtype=np.int64)
    data = dicom_file(stored_bytes(values, 16, 16), 2, 2, RescaleSlope=slope, RescaleIntercept=intercept)
    with pytest.raises(ImageRejected) as refused:
        dicom_array(data, spec(size=(2, 2)), LIMITS)
    assert refused.value.status == 422 and "Rescale" in refused.value.message


def test_values_past_float32_are_a_422():
    data = dicom_file(stored_bytes(np.ones((2, 2)), 16, 16), 2, 2, RescaleSlope="1e300", RescaleIntercept=0)
    with pytest.raises(ImageRejected) as refused:
        decode(data, spec(size=(2, 2), scale=1.0), LIMITS)
    assert refused.value.status == 422 and "finite" in refused.value.message


# -- the Modality LUT Sequence ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lut=st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=300),
    first=st.integers(-200, 200),
    signed=st.booleans(),
    bits_allocated=st.sampled_from([8, 16]),
    photometric=st.sampled_from(["MONOCHROME1", "MONOCHROME2"]),
    values=st.lists(st.integers(-128, 127), min_size=4, max_size=4),
)
def test_a_modality_lut_sequence_is_applied_as_pydicom_applies_it(
    lut, first, signed, bits_allocated, photometric, values
):
    # 8 bits stored, in 8 or 16 allocated: an int8 array minus a negative first mapped value must not wrap
    pixels = np.array(values).reshape(2, 2) if signed else np.array(values).reshape(2, 2) + 128
    first = first if signed else abs(first)
    data = dicom_file(
        stored_bytes(pixels, bits_allocated, 8),
        2,
        2,
        bits_allocated=bits_allocated,
        bits_stored=8,
        signed=signed,
        photometric=photometric,
        ModalityLUTSequence=Sequence([modality_lut_item(lut, first)]),
        RescaleSlope=1000,  # ignored where a Modality LUT Sequence is
        RescaleIntercept=1000,
    )
    table = np.array(lut)
    physical = table[np.clip(pixels - first, 0, len(lut) - 1)]
    ds = pydicom.dcmread(io.BytesIO(data))
    assert np.array_equal(apply_modality_lut(ds.pixel_array.astype(np.int64), ds), physical)
    got = dicom_array(data, spec(size=(2, 2), scale=1.0), LIMITS)
    if photometric == "MONOCHROME1":
        low, high = stored_range(8, signed)
        reached = table[np.clip(np.arange(low, high + 1) - first, 0, len(lut) - 1)]
        assert np.allclose(got, reached.min() + reached.max() - physical)
    else:
        assert np.array_equal(got, physical)
    windowed = dicom_array(data, spec(size=(2, 2), window=Window(1000.0, 2000.0)), LIMITS)
    assert np.allclose(windowed, np.clip(physical / 2000.0, 0.0, 1.0))


def lut_dicom(item: Dataset, photometric: str = "MONOCHROME1") -> bytes:
    pixels = np.array([[0, 1], [2, 3]])
    return dicom_file(stored_bytes(pixels, 16, 16), 2, 2, photometric=photometric, ModalityLUTSequence=Sequence([item]))


def ow_item(data: bytes, entries: int) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [entries, 0, 16]
    item.LUTData = data
    item["LUTData"].VR = "OW"
    return item


HOSTILE_LUTS = {
    "fewer entries than its descriptor": modality_lut_item([1, 2, 3], 0, entries=4096),
    "more entries than its descriptor": modality_lut_item(list(range(10)), 0, entries=4),
    "OW data shorter than its descriptor": ow_item(b"\x01\x00" * 3, 8),
    "12-bit entries": modality_lut_item([1, 2, 3, 4], 0, depth=12),
    "entries past 8 bits": modality_lut_item([1, 2, 300, 4], 0, depth=8),
    "two descriptor values": modality_lut_item([1, 2, 3, 4], 0),
}
HOSTILE_LUTS["two descriptor values"].LUTDescriptor = [4, 0]


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize("name", sorted(HOSTILE_LUTS))
def test_a_malformed_modality_lut_is_a_422_naming_it(name, photometric):
    data = lut_dicom(HOSTILE_LUTS[name], photometric)
    for input_ in (spec(size=(2, 2)), spec(size=(2, 2), window=CT)):
        with pytest.raises(ImageRejected) as refused:
            decode(data, input_, LIMITS)
        assert refused.value.status == 422 and "LUT" in refused.value.message, refused.value.message


@pytest.mark.parametrize("bits_stored", [0, 17, 40])
def test_monochrome1_with_a_bogus_bits_stored_is_a_422(bits_stored):
    data = dicom_file(
        stored_bytes(np.array([[1, 2], [3, 4]]), 16, 16), 2, 2, photometric="MONOCHROME1", high_bit=15
    ).replace(b"\x28\x00\x01\x01US\x02\x00\x10\x00", b"\x28\x00\x01\x01US\x02\x00" + bytes([bits_stored, 0]))
    assert pydicom.dcmread(io.BytesIO(data)).BitsStored == bits_stored
    with pytest.raises(ImageRejected) as refused:
        decode(data, spec(size=(2, 2)), LIMITS)
    assert refused.value.status == 422


# -- colour --------------------------------------------------------------------------------------------------

RGB = np.array(
    [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]],
        [[128, 128, 128], [0, 0, 0], [255, 255, 255], [200, 100, 50]],
    ],
    dtype=np.uint8,
)


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_pixels_are_height_width_3_with_no_rescale_even_where_tagged(planar):
    raw = (RGB.transpose(2, 0, 1) if planar else RGB).tobytes()
    data = dicom_file(raw, 2, 4, photometric="RGB", samples=3, bits_allocated=8, planar=planar, RescaleIntercept=-1024)
    input_ = spec(size=(2, 4), channels=3, slope=2.0, intercept=-1024.0)
    got = dicom_array(data, input_, LIMITS)
    assert got.shape == (2, 4, 3) and np.allclose(got, RGB / 255.0)
    assert torch.allclose(decode(data, input_, LIMITS), torch.from_numpy(RGB / 255.0).permute(2, 0, 1).float())
    grey = decode(data, spec(size=(2, 4)), LIMITS)  # to a one-channel model: luminance
    assert torch.allclose(grey[0], torch.from_numpy(RGB @ np.array([0.299, 0.587, 0.114]) / 255.0).float(), atol=1e-6)


def test_ybr_full_is_converted_to_rgb_as_pydicom_converts_it():
    ybr = convert_color_space(RGB, "RGB", "YBR_FULL")
    data = dicom_file(ybr.tobytes(), 2, 4, photometric="YBR_FULL", samples=3, bits_allocated=8)
    got = dicom_array(data, spec(size=(2, 4), channels=3), LIMITS)
    assert got.shape == (2, 4, 3)
    assert np.allclose(got * 255.0, convert_color_space(ybr, "YBR_FULL", "RGB"), atol=1e-4)
    assert np.abs(got * 255.0 - RGB).max() <= 2  # the round trip's rounding


def test_ybr_full_422_is_upsampled_and_converted_to_rgb():
    ybr = convert_color_space(RGB, "RGB", "YBR_FULL").astype(np.int64)
    # 4:2:2: each pair of pixels in a row is Y1 Y2 Cb Cr, Cb/Cr shared (here the pair's first pixel's)
    raw = bytearray()
    for row in ybr:
        for a, b in zip(row[::2], row[1::2], strict=True):
            raw += bytes([a[0], b[0], a[1], a[2]])
    data = dicom_file(bytes(raw), 2, 4, photometric="YBR_FULL_422", samples=3, bits_allocated=8)
    full = ybr.copy()
    full[:, 1::2, 1:] = full[:, ::2, 1:]
    got = dicom_array(data, spec(size=(2, 4), channels=3), LIMITS)
    assert got.shape == (2, 4, 3)
    assert np.allclose(got * 255.0, convert_color_space(full.astype(np.uint8), "YBR_FULL", "RGB"), atol=1e-4)


def test_palette_colour_goes_through_its_palette():
    indices = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], dtype=np.uint8)
    palette = {"Red": [0, 255, 0, 9], "Green": [0, 0, 255, 9], "Blue": [255, 0, 0, 9]}
    tags: dict[str, Any] = {}
    for colour, entries in palette.items():
        tags[f"{colour}PaletteColorLookupTableDescriptor"] = [4, 0, 8]
        tags[f"{colour}PaletteColorLookupTableData"] = bytes(entries)
    data = dicom_file(indices.tobytes(), 2, 4, photometric="PALETTE COLOR", bits_allocated=8, **tags)
    got = dicom_array(data, spec(size=(2, 4), channels=3), LIMITS)
    expected = apply_color_lut(indices, pydicom.dcmread(io.BytesIO(data)))
    assert got.shape == (2, 4, 3) and np.allclose(got * 255.0, expected)
    assert got[0, 1].tolist() == [1.0, 0.0, 0.0]


def test_a_16_bit_palette_is_read_on_the_8_bit_scale_the_model_s_scale_means():
    indices = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], dtype=np.uint8)
    palette = {"Red": [0, 65535, 0, 32768], "Green": [0, 0, 65535, 32768], "Blue": [65535, 0, 0, 32768]}
    tags: dict[str, Any] = {}
    for colour, entries in palette.items():
        tags[f"{colour}PaletteColorLookupTableDescriptor"] = [4, 0, 16]
        tags[f"{colour}PaletteColorLookupTableData"] = np.array(entries, dtype="<u2").tobytes()
    data = dicom_file(indices.tobytes(), 2, 4, photometric="PALETTE COLOR", bits_allocated=8, **tags)
    got = dicom_array(data, spec(size=(2, 4), channels=3), LIMITS)
    expected = apply_color_lut(indices, pydicom.dcmread(io.BytesIO(data))) / 65535.0
    assert np.allclose(got, expected)
    assert got[0, 1].tolist() == [1.0, 0.0, 0.0]  # full red is 1.0, as in an 8-bit palette, not 257.0


def test_a_colour_dicom_to_a_windowed_model_is_a_422():
    data = dicom_file(RGB.tobytes(), 2, 4, photometric="RGB", samples=3, bits_allocated=8)
    with pytest.raises(ImageRejected) as refused:
        decode(data, spec(size=(2, 4), channels=3, window=CT), LIMITS)
    assert refused.value.status == 422 and "window" in refused.value.message


def test_a_ct_spec_from_model_json_still_decodes_the_scanner_s_slice():
    input_ = ImageSpec.from_data(im.spec("binary", size=64, window={"center": 40, "width": 400})).input
    got = dicom_array(im.dicom(im.ct_slice(True)), input_, LIMITS)
    assert got[0, 0] == 0.0 and got[32, 32] == pytest.approx(0.65) and got[32, 10] == pytest.approx(0.5)


def test_float_pixel_data_in_monochrome1_is_inverted_over_its_own_range():
    values = np.array([[-1.5, 0.0], [2.5, 10.0]], dtype="<f4")
    data = dicom_file(b"", 2, 2, photometric="MONOCHROME1", bits_allocated=32, high_bit=31)
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    ds.FloatPixelData = values.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    got = dicom_array(buffer.getvalue(), spec(size=(2, 2), scale=1.0), LIMITS)
    assert np.allclose(got, -1.5 + 10.0 - values)  # a float image declares no range: its own


# -- hostile variations of every kind above (hypothesis) ---------------------------------------------------

SEEDS = [
    lut_dicom(modality_lut_item([5, 6, 7, 8], 0), "MONOCHROME1"),
    dicom_file(stored_bytes(np.array([[0, 1], [4094, 4095]]), 16, 12), 2, 2, photometric="MONOCHROME1", bits_stored=12),
    dicom_file(stored_bytes(np.array([[-5, 1], [3, 4]]), 8, 8), 2, 2, signed=True, RescaleSlope=2, RescaleIntercept=1),
    dicom_file(RGB.tobytes(), 2, 4, photometric="RGB", samples=3, bits_allocated=8),
    dicom_file(bytes(8 * 2), 2, 4, photometric="YBR_FULL_422", samples=3, bits_allocated=8),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(min_value=128, max_value=2000), st.integers(0, 255)), max_size=6),
    window=st.booleans(),
    channels=st.sampled_from([1, 3]),
)
def test_mutated_dicoms_decode_or_are_a_422_never_anything_else(seed, flips, window, channels):
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    try:
        tensor = decode(bytes(data), spec(size=(3, 3), channels=channels, window=CT if window else None), LIMITS)
    except ImageRejected as refused:
        assert refused.status in (413, 415, 422) and refused.message
    else:
        assert tuple(tensor.shape) == (channels, 3, 3) and bool(torch.isfinite(tensor).all())
