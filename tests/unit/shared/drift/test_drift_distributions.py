"""The plain-Python survival functions agree with scipy's across their range, tails included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from shared.drift.distributions import chi2_sf, kolmogorov_sf


@pytest.mark.parametrize("x", [*np.linspace(0.02, 6.0, 300), 0.8199, 0.82, 0.8201, 10.0, 19.0])
def test_kolmogorov_sf_matches_scipy(x):
    assert kolmogorov_sf(x) == pytest.approx(float(special.kolmogorov(x)), rel=1e-12, abs=1e-300)


def test_kolmogorov_sf_ends():
    assert kolmogorov_sf(0.0) == kolmogorov_sf(-1.0) == 1.0
    assert kolmogorov_sf(0.01) == 1.0  # the CDF underflows: the survival is one
    assert kolmogorov_sf(40.0) == 0.0  # the series underflows: the loop still ends


@pytest.mark.parametrize("df", [1, 2, 3, 7, 19, 100, 999, 5000, 100_000])
def test_chi2_sf_matches_scipy_below_and_far_into_the_tail(df):
    for x in [*np.linspace(0.001, 3 * df + 60, 200), df / 2, df, df + 1.0]:
        expected = float(special.chdtrc(df, x))
        if expected > 1e-280:  # beyond that both are zero to the double's precision
            assert chi2_sf(df, x) == pytest.approx(expected, rel=1e-9), (df, x)


def test_chi2_sf_ends_and_bad_degrees_of_freedom():
    assert chi2_sf(3, 0.0) == 1.0
    assert chi2_sf(3, 1e6) == 0.0
    with pytest.raises(ValueError):
        chi2_sf(0, 1.0)
