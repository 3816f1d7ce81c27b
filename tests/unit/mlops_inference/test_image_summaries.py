"""The capture's image summaries, computed for a whole batch with torch, against numpy in float64 on each
image's own values: mean and std, and the histogram of the values clipped to [0, 1] or to the CT window.
A value within float32 rounding of a bin edge may land on either side, so the histogram is compared by
its cumulative counts, each between the counts below the edge minus and plus that rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlops_inference.capture import HISTOGRAM_BINS, image_summaries
from mlops_inference.image_spec import ImageInput, Window


@st.composite
def batches(draw):
    n, channels = draw(st.integers(1, 4)), draw(st.sampled_from([1, 3]))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    pixels = draw(
        arrays(np.float32, (n, channels, height, width), elements=st.floats(-6, 6, width=32, allow_subnormal=False))
    )
    means = tuple(draw(st.floats(-1, 1)) for _ in range(channels))
    stds = tuple(draw(st.floats(0.05, 2)) for _ in range(channels))
    window = draw(st.none() | st.builds(Window, st.floats(-1000, 1000), st.floats(1, 4000)))
    spec = ImageInput(height, width, channels, mean=means, std=stds, window=window)
    return torch.from_numpy(pixels), spec


@settings(max_examples=300, deadline=None)
@given(batches())
def test_each_images_summary_is_numpy_on_its_own_values(batch):
    pixels, spec = batch
    low, width = (0.0, 1.0) if spec.window is None else (spec.window.center - spec.window.width / 2, spec.window.width)
    unit = "intensity" if spec.window is None else "hu"
    got = image_summaries(pixels, spec)
    assert len(got) == pixels.shape[0]
    for image, summary in zip(pixels.numpy().astype(np.float64), got, strict=True):
        std = np.array(spec.std).reshape(-1, 1, 1)
        mean = np.array(spec.mean).reshape(-1, 1, 1)
        values = (low + width * (image * std + mean)).ravel()
        spread = max(1.0, float(np.abs(values).max()))  # float32 carries about 7 digits of this
        assert summary[f"{unit}_mean"] == pytest.approx(values.mean(), abs=1e-5 * spread)
        assert summary[f"{unit}_std"] == pytest.approx(values.std(), abs=1e-5 * spread)
        shares = [summary[f"{unit}_hist_{b}"] for b in range(HISTOGRAM_BINS)]
        assert sum(shares) == pytest.approx(1.0)
        counts = np.cumsum(np.rint(np.array(shares) * values.size))
        clipped = np.clip(values, low, low + width)
        rounding = 1e-5 * spread
        for k in range(1, HISTOGRAM_BINS):  # values below the k-th edge
            edge = low + width * k / HISTOGRAM_BINS
            assert np.sum(clipped < edge - rounding) <= counts[k - 1] <= np.sum(clipped < edge + rounding)


def test_a_ct_slice_in_hounsfield_units_by_hand():
    # GIVEN a 2x2 slice normalised with mean 0.5 and std 0.25 under a 40/400 window: values -160 + 400 * v
    spec = ImageInput(2, 2, 1, mean=(0.5,), std=(0.25,), window=Window(40, 400))
    pixels = torch.tensor([[[[-2.0, 0.0], [2.0, 10.0]]]])  # v = 0, 0.5, 1, 3: HU -160, 40, 240, 1040
    [summary] = image_summaries(pixels, spec)
    assert summary["hu_mean"] == pytest.approx((-160 + 40 + 240 + 1040) / 4)
    # clipped to the window: -160 in the first bin, 40 starts the fifth, 240 and 1040 in the last
    assert [summary[f"hu_hist_{b}"] for b in range(8)] == [0.25, 0, 0, 0, 0.25, 0, 0, 0.5]
