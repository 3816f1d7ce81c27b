"""Drift statistics from histograms, checked against scipy on the raw samples the histograms came from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from shared.drift.histograms import OTHER, CategoricalHistogram, NumericHistogram, SideSummary
from shared.drift.statistics import (
    chi_square,
    chi_square_df,
    coarse_bins,
    js_distance,
    ks_from_histogram,
    psi,
    wasserstein_normed,
    wasserstein_normed_with_error,
)
from shared.drift.verdicts import DEFAULT_METHODS, FeatureDrift, dataset_drift, feature_drift

# -- building histograms the way the warehouse does, from raw samples -----------------------------


def summary(values: np.ndarray, missing: int = 0) -> SideSummary:
    if len(values) == 0:
        return SideSummary(missing, missing)
    return SideSummary(
        len(values) + missing,
        missing,
        float(values.min()),
        float(values.max()),
        float(values.mean()),
        float(values.std()),
    )


def counts_on(cuts: np.ndarray, values: np.ndarray) -> tuple[int, ...]:
    # side='left': the index of the first cut >= x, i.e. x in (c_i, c_{i+1}], the warehouse's convention.
    return tuple(int(n) for n in np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1))


def numeric(ref, cur, cuts=None, *, bins=1000, ref_missing=0, cur_missing=0, feature="x") -> NumericHistogram:
    ref, cur = np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
    if cuts is None:  # reference quantiles, like the profiler's
        cuts = np.quantile(ref, np.arange(1, bins) / bins) if len(ref) else np.array([])
    cuts = np.unique(np.asarray(cuts, dtype=np.float64))
    return NumericHistogram(
        feature,
        tuple(float(c) for c in cuts),
        counts_on(cuts, ref),
        counts_on(cuts, cur),
        summary(ref, ref_missing),
        summary(cur, cur_missing),
    )


def categorical(ref: dict[str, int], cur: dict[str, int], *, ref_missing=0, cur_missing=0, cap=None, feature="c"):
    ranked = sorted(ref, key=lambda c: (-ref[c], c))
    kept, folded = (ranked, []) if cap is None else (ranked[:cap], ranked[cap:])
    categories, ref_counts, cur_counts = list(kept), [ref[c] for c in kept], [cur.get(c, 0) for c in kept]
    if folded:
        categories.append(OTHER)
        ref_counts.append(sum(ref[c] for c in folded))
        cur_counts.append(sum(cur.get(c, 0) for c in folded))
    unseen = {c: n for c, n in cur.items() if c not in ref}
    return CategoricalHistogram(
        feature,
        tuple(categories),
        tuple(ref_counts),
        tuple(cur_counts),
        SideSummary(sum(ref.values()) + ref_missing, ref_missing),
        SideSummary(sum(cur.values()) + cur_missing, cur_missing),
        unseen=dict(sorted(unseen.items(), key=lambda item: -item[1])[:20]),
        unseen_total=sum(unseen.values()),
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260401)


# -- PSI, JS, chi-square ------------------------------------------------------------------------------


def test_psi_matches_a_hand_computed_case():
    # p = (0.5, 0.3, 0.2), q = (0.4, 0.3, 0.3):
    #   (0.4 - 0.5) * ln(0.4 / 0.5) = -0.1 * -0.2231435513 = 0.0223143551
    #   (0.3 - 0.3) * ln(1)         =  0
    #   (0.3 - 0.2) * ln(0.3 / 0.2) =  0.1 *  0.4054651081 = 0.0405465108
    #   PSI = 0.0628608659
    assert psi([50, 30, 20], [40, 30, 30]) == pytest.approx(0.0628608659, abs=1e-10)


def test_psi_floors_an_empty_bin_at_epsilon():
    # p = (1, 0 -> 1e-4), q = (0.9, 0.1):
    #   (0.9 - 1) * ln(0.9 / 1)       = -0.1 * -0.1053605157       = 0.0105360516
    #   (0.1 - 1e-4) * ln(0.1 / 1e-4) =  0.0999 * ln(1000) = 0.0999 * 6.9077552790 = 0.6900847524
    #   PSI = 0.7006208040
    assert psi([100, 0], [90, 10]) == pytest.approx(0.7006208040, abs=1e-9)
    assert psi([100, 0], [100, 0]) == 0.0
    assert psi([100, 0], [90, 10], epsilon=1e-6) > psi([100, 0], [90, 10])


def test_js_distance_matches_scipy_in_base_2(rng):
    for _ in range(20):
        k = int(rng.integers(2, 40))
        ref, cur = rng.integers(0, 1000, k), rng.integers(0, 1000, k)
        ref[rng.integers(0, k)] = 0  # empty bins on one side
        cur[rng.integers(0, k)] = 0
        ref[0] = cur[0] = 1
        assert js_distance(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-12)
        assert js_distance(ref, cur, base=math.e) == pytest.approx(jensenshannon(ref, cur), abs=1e-12)
    assert js_distance([5, 0], [0, 5]) == pytest.approx(1.0)
    assert js_distance([3, 4], [6, 8]) == 0.0


def test_js_natural_log_is_the_base_2_value_times_sqrt_ln2():
    ref, cur = [40, 35, 25], [20, 30, 50]
    assert js_distance(ref, cur, base=math.e) == pytest.approx(js_distance(ref, cur) * math.sqrt(math.log(2)))


@pytest.mark.parametrize("k", [2, 3, 12])
def test_chi_square_matches_scipy_contingency_without_yates(rng, k):
    ref, cur = rng.integers(50, 5000, k), rng.integers(50, 5000, k)
    statistic, p = chi_square(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)
    assert chi_square_df(ref, cur) == expected.dof == k - 1


def test_chi_square_drops_categories_empty_on_both_sides():
    statistic, p = chi_square([10, 0, 30, 5], [20, 0, 10, 0])
    expected = stats.chi2_contingency([[10, 30, 5], [20, 10, 0]], correction=False)
    assert (statistic, p) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    assert chi_square_df([10, 0, 30, 5], [20, 0, 10, 0]) == 2
    assert chi_square([7, 0], [3, 0]) == (0.0, 1.0)  # one category: nothing to test


def test_coarse_bins_have_equal_reference_mass_and_keep_every_count(rng):
    ref, cur = rng.normal(size=20_000), rng.normal(0.3, 1, size=15_000)
    hist = numeric(ref, cur)
    coarse_ref, coarse_cur = coarse_bins(hist)
    assert len(coarse_ref) == 10
    assert coarse_ref.sum() == 20_000 and coarse_cur.sum() == 15_000
    assert np.all(np.abs(coarse_ref - 2000) <= 20)  # within one fine bin of 2000
    # A value holding 60% of a discrete reference makes fewer, larger groups.
    discrete = numeric(np.repeat([0, 1, 2, 3], [600, 200, 100, 100]), [0, 1, 2, 3], cuts=[0, 1, 2])
    assert coarse_bins(discrete)[0].tolist() == [600, 200, 100, 100]


# -- Kolmogorov-Smirnov -----------------------------------------------------------------------------------


def finite_n_tolerance(statistic: float) -> float:
    """Relative gap between our Kolmogorov limit and scipy's asymp p (kstwo at n = round(en)).

    The finite-n distribution's first-order term is 2z / (3 sqrt(n)) = 2D/3 relative (measured: 0.66 D
    to 0.78 D for z in [1, 3] at en = 10^4); D itself leaves room for the higher orders.
    """
    return statistic


def test_ks_is_exact_on_a_discrete_feature_cut_at_every_value(rng):
    ref, cur = rng.binomial(50, 0.5, 30_000), rng.binomial(50, 0.503, 20_000)
    hist = numeric(ref, cur, cuts=np.union1d(ref, cur))
    ks = ks_from_histogram(hist)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert ks.exact
    assert ks.statistic == ks.upper_bound
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-9)
    en = 30_000 * 20_000 / 50_000
    assert ks.p_value == pytest.approx(special.kolmogorov(math.sqrt(en) * expected.statistic), rel=1e-9)
    assert 1e-4 < ks.p_value < 0.5  # a p-value worth comparing
    assert ks.p_value == pytest.approx(expected.pvalue, rel=finite_n_tolerance(expected.statistic))


def test_ks_is_exact_with_the_profilers_cuts_every_reference_value_but_the_largest(rng):
    ref, cur = rng.integers(0, 51, 20_000), rng.integers(0, 51, 10_000) // 2 * 2
    hist = numeric(ref, cur, cuts=np.unique(ref)[:-1])
    ks = ks_from_histogram(hist)
    assert ks.exact
    assert ks.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-9)


def test_ks_is_bracketed_when_current_has_values_between_the_cuts(rng):
    ref = rng.integers(0, 51, 20_000)
    cur = np.concatenate([rng.integers(0, 51, 10_000), rng.integers(0, 50, 3_000) + 0.5])
    hist = numeric(ref, cur, cuts=np.unique(ref)[:-1])
    ks = ks_from_histogram(hist)
    expected = stats.ks_2samp(ref, cur).statistic
    assert not ks.exact
    assert ks.statistic - 1e-12 <= expected <= ks.upper_bound + 1e-12


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.5])
def test_ks_on_1000_quantile_bins_brackets_scipys_statistic_and_p_value(rng, shift):
    ref, cur = rng.normal(size=20_000), rng.normal(shift, 1, size=20_000)
    ks = ks_from_histogram(numeric(ref, cur))
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert not ks.exact
    assert ks.statistic <= expected.statistic + 1e-12 <= ks.upper_bound + 1e-12
    assert ks.upper_bound - ks.statistic < 0.01
    # The p-value decreases with the statistic, so the p-value of scipy's statistic lies between ours at the
    # bracket's ends: the tolerance is the bracket itself (about 0.001 wide), not a number picked to pass.
    en = 20_000 * 20_000 / 40_000
    at_raw = special.kolmogorov(math.sqrt(en) * expected.statistic)
    assert special.kolmogorov(math.sqrt(en) * ks.upper_bound) - 1e-15 <= at_raw <= ks.p_value + 1e-15
    # And scipy's own asymp p (finite-n kstwo) is that value up to the finite-n term.
    assert expected.pvalue == pytest.approx(at_raw, rel=finite_n_tolerance(expected.statistic), abs=1e-15)


def test_ks_and_wasserstein_bounds_hold_on_random_histograms(rng):
    """Random data (continuous, ties, outliers) and random cuts: the proven brackets always hold."""
    for case in range(150):
        n, m = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        draw = [
            lambda size: rng.normal(size=size),
            lambda size: rng.integers(0, 6, size).astype(float),
            lambda size: np.where(rng.random(size) < 0.1, rng.normal(20, 5, size), rng.exponential(size=size)),
        ][case % 3]
        ref, cur = draw(n), draw(m) + rng.choice([0.0, 0.5])
        pooled = np.concatenate([ref, cur])
        cuts = [
            np.quantile(ref, np.sort(rng.random(int(rng.integers(0, 30))))),
            rng.uniform(pooled.min() - 1, pooled.max() + 1, int(rng.integers(1, 20))),
            np.unique(pooled),
        ][case % 3 if case % 7 else 2]
        hist = numeric(ref, cur, cuts=cuts)
        ks = ks_from_histogram(hist)
        truth = stats.ks_2samp(ref, cur, method="asymp").statistic
        assert ks.statistic - 1e-12 <= truth <= ks.upper_bound + 1e-12, case
        if ks.exact:
            assert truth == pytest.approx(ks.statistic, abs=1e-12), case
        distance, error = wasserstein_normed_with_error(hist)
        std = ref.std()
        if std > 0:
            assert abs(distance - stats.wasserstein_distance(ref, cur) / std) <= error + 1e-9, case


# -- Wasserstein ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.2])
def test_wasserstein_normed_is_within_its_error_bound_of_scipy(rng, shift):
    ref, cur = rng.normal(5, 2, size=20_000), rng.normal(5 + shift, 2.2, size=20_000)
    distance, error = wasserstein_normed_with_error(numeric(ref, cur))
    expected = stats.wasserstein_distance(ref, cur) / ref.std()
    assert abs(distance - expected) <= error
    assert error < 0.02  # the bound is useful, not just true
    assert wasserstein_normed(numeric(ref, cur)) == distance


def test_wasserstein_normed_is_exact_on_a_discrete_feature_cut_at_every_value(rng):
    ref, cur = rng.poisson(4, 10_000), rng.poisson(4.5, 8_000)
    distance, error = wasserstein_normed_with_error(numeric(ref, cur, cuts=np.union1d(ref, cur)))
    assert error == 0.0
    assert distance == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std(), abs=1e-9)


def test_wasserstein_of_a_constant_reference_is_infinite_when_the_current_differs():
    assert wasserstein_normed(numeric([3.0] * 100, [3.0] * 50 + [4.0] * 50, cuts=[3.0])) == math.inf
    assert wasserstein_normed(numeric([3.0] * 100, [3.0] * 80, cuts=[3.0])) == 0.0


# -- decisions -----------------------------------------------------------------------------------------


def decide(hist) -> FeatureDrift:
    kind = "numeric" if isinstance(hist, NumericHistogram) else "categorical"
    method, threshold = DEFAULT_METHODS[kind]
    return feature_drift(hist, method=method, threshold=threshold)


def test_a_half_std_mean_shift_is_flagged_by_the_default_method(rng):
    result = decide(numeric(rng.normal(size=100_000), rng.normal(0.5, 1, size=100_000)))
    assert result.status == "ok" and result.drifted
    assert result.method == "wasserstein" and result.value == pytest.approx(0.5, abs=0.02)
    assert result.score == result.wasserstein
    assert result.ks > 0.15 and result.ks_p_value < 1e-12 and result.psi > 0.1


def test_two_samples_of_one_distribution_are_not_flagged(rng):
    result = decide(numeric(rng.normal(size=100_000), rng.normal(size=100_000)))
    assert result.status == "ok" and not result.drifted
    assert result.wasserstein < 0.02 and result.js < 0.05


def test_categorical_default_flags_a_shift_and_not_noise(rng):
    names = [f"v{i}" for i in range(20)]
    weights = np.linspace(1, 3, 20) / np.linspace(1, 3, 20).sum()

    def sample(w, size=100_000):
        return dict(zip(names, (int(n) for n in rng.multinomial(size, w)), strict=True))

    shifted = weights[::-1]
    assert decide(categorical(sample(weights), sample(shifted))).drifted
    quiet = decide(categorical(sample(weights), sample(weights)))
    assert quiet.status == "ok" and not quiet.drifted and quiet.js < 0.01


def test_p_value_methods_score_one_minus_p(rng):
    hist = numeric(rng.normal(size=5_000), rng.normal(0.2, 1, size=5_000))
    result = feature_drift(hist, method="ks", threshold=0.05)
    assert result.drifted and result.value == result.ks_p_value
    assert result.score == 1 - result.ks_p_value
    chi = feature_drift(categorical({"a": 500, "b": 500}, {"a": 520, "b": 480}), method="chi2", threshold=0.05)
    assert not chi.drifted and chi.score == pytest.approx(1 - chi.chi2_p_value)


def test_unseen_categories_are_counted_and_drive_the_distances():
    hist = categorical({"a": 600, "b": 400}, {"a": 500, "b": 300, "new": 150, "newer": 50})
    result = decide(hist)
    assert result.unseen_categories == 2 and result.unseen_share == pytest.approx(0.2)
    assert result.js == pytest.approx(jensenshannon([600, 400, 0], [500, 300, 200], base=2), abs=1e-12)
    assert result.chi2_df == 2 and result.drifted


def test_thousands_of_categories_work_on_the_capped_histogram(rng):
    ref = {f"id{i}": int(n) for i, n in enumerate(rng.integers(1, 50, 5_000))}
    cur = {f"id{i}": int(n) for i, n in enumerate(rng.integers(1, 50, 5_300))}  # 300 never seen
    result = decide(categorical(ref, cur, cap=200))
    assert result.status == "ok"
    assert result.unseen_categories == 20 and 0 < result.unseen_share < 0.1


# -- edge cases: a clear status, never a crash ---------------------------------------------------------


def test_no_rows_in_the_current_window():
    result = decide(numeric([1.0, 2.0, 3.0], [], cuts=[2.0]))
    assert result.status == "no_current_data" and not result.drifted and result.ks is None
    assert decide(categorical({"a": 3}, {})).status == "no_current_data"


def test_no_reference_rows():
    assert decide(numeric([], [1.0, 2.0])).status == "no_reference_data"


def test_all_null_column():
    result = decide(numeric([1.0, 2.0, 3.0], [], cuts=[2.0], cur_missing=40))
    assert result.status == "all_missing" and not result.drifted
    assert "current" in result.detail and result.missing_change == pytest.approx(1.0)
    both = decide(numeric([], [], ref_missing=10, cur_missing=5))
    assert both.status == "all_missing" and "reference" in both.detail and "current" in both.detail


def test_an_unchanged_constant_is_not_drift():
    result = decide(numeric([7.0] * 100, [7.0] * 30, cuts=[7.0]))
    assert result.status == "constant" and not result.drifted and result.score == 0.0
    assert result.ks == 0.0 and result.ks_exact and result.wasserstein == 0.0


def test_a_constant_that_changed_value_is_drift_even_inside_one_bin():
    # 7 -> 5 lands in the same bin (-inf, 7]: every binned distance is 0, min/max tell the change.
    for method, threshold in [("psi", 0.2), ("js", 0.1), ("ks", 0.05), ("wasserstein", 0.1)]:
        result = feature_drift(numeric([7.0] * 100, [5.0] * 30, cuts=[7.0]), method=method, threshold=threshold)
        assert result.status == "constant" and result.drifted and result.score == math.inf, method
        assert "7.0 -> 5.0" in result.detail
    moved = decide(numeric([7.0] * 100, [9.0] * 30, cuts=[7.0]))
    assert moved.drifted and moved.ks == 1.0 and moved.ks_exact


def test_a_categorical_constant_that_became_an_unseen_value_is_drift():
    result = decide(categorical({"on": 50}, {"off": 20}))
    assert result.status == "constant" and result.drifted
    assert not decide(categorical({"on": 50}, {"on": 20})).drifted


def test_a_histogram_without_cuts_still_gives_numbers():
    hist = numeric([1.0, 2.0, 3.0], [1.0, 4.0], cuts=[])
    result = decide(hist)
    assert result.status == "ok" and result.psi == 0.0
    assert result.ks == 0.0 and result.ks_upper_bound == 1.0 and not result.ks_exact  # nothing known inside
    # Uniform spreads on [1, 3] and [1, 4]: quantiles 1 + 2u and 1 + 3u, W1 = integral of u = 0.5.
    assert result.wasserstein == pytest.approx(0.5 / np.std([1.0, 2.0, 3.0]))


def test_a_column_missing_on_one_side():
    result = FeatureDrift.missing_column("age", "current", method="wasserstein", threshold=0.1)
    assert result.status == "missing_column" and not result.drifted and "current" in result.detail
    with pytest.raises(ValueError):
        FeatureDrift.missing_column("age", "elsewhere")


def test_a_method_that_does_not_apply_is_a_configuration_error():
    with pytest.raises(ValueError, match="does not apply"):
        feature_drift(categorical({"a": 1}, {"a": 1}), method="ks", threshold=0.05)
    with pytest.raises(ValueError, match="p-value"):
        feature_drift(numeric([1.0, 2.0], [1.0, 2.0]), method="ks", threshold=5)


def test_dataset_drift_counts_only_features_that_could_be_judged():
    def outcome(status, drifted):
        return FeatureDrift("f", "numeric", status, "psi", 0.2, drifted=drifted, score=0.0)

    features = [
        outcome("ok", True),
        outcome("ok", False),
        outcome("ok", False),
        outcome("constant", True),  # changed value: counted, drifted
        outcome("constant", False),  # unchanged: left out
        outcome("all_missing", False),
        FeatureDrift.missing_column("g", "reference"),
    ]
    assert dataset_drift(features) == (True, 0.5)
    assert dataset_drift(features, share_threshold=0.6) == (False, 0.5)
    assert dataset_drift(features[4:]) == (False, 0.0)
