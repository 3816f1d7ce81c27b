"""Drift detection side by side: this project, Evidently's DataDriftPreset, a plain scipy loop.

Deterministic synthetic data (benchmarks/drift_data.py: 20 numeric and 5 categorical features, known
shifts in 6 of them) is written once to Parquet; each contender then runs in a child process of its
own, so its peak memory (ru_maxrss) is its own, and prints time, peak memory and the drifted set.

    pip install -r benchmarks/requirements-drift.txt -e .   # Evidently needs pandas<3
    python benchmarks/drift.py [--rows 1000000] [--only mlops-events,mlops-events-warm,scipy]

`mlops-events-warm` is a later scheduled run against the same reference: the reference profile an
earlier run cached (prepared once, outside the timing) is loaded, and only the current data is read.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs as a script from a checkout
sys.path.insert(0, str(REPO / "benchmarks"))

import drift_data  # noqa: E402


def run_mlops_events(reference: Path, current: Path) -> set[str]:
    from shared.drift.detect import detect_drift
    from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource

    profile = DuckDbProfiler().profile(ParquetSource((str(reference),)), ParquetSource((str(current),)))
    return {f.feature for f in detect_drift(profile).features if f.drifted}


def cached_reference_path(reference: Path) -> Path:
    return reference.with_suffix(".reference-profile.json")


def prepare_cached_reference(reference: Path) -> None:
    """What an earlier scheduled run leaves behind: the reference side profiled, as JSON."""
    from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource

    profile = DuckDbProfiler().reference(ParquetSource((str(reference),)))
    cached_reference_path(reference).write_text(json.dumps(profile.to_json()))


def run_mlops_events_cached(reference: Path, current: Path) -> set[str]:
    """A later run against the same reference: only the current data is read."""
    from shared.drift.detect import detect_drift
    from shared.drift.duckdb_profiler import DuckDbProfiler, ParquetSource, ReferenceProfile

    cached = ReferenceProfile.from_json(json.loads(cached_reference_path(reference).read_text()))
    profile = DuckDbProfiler().compare(cached, ParquetSource((str(current),)))
    return {f.feature for f in detect_drift(profile).features if f.drifted}


def run_scipy(reference: Path, current: Path) -> set[str]:
    """What a user writes by hand: every column in memory, KS for numbers, chi-square for categories."""
    import numpy as np
    import pyarrow.parquet as pq
    from scipy.stats import chi2_contingency, ks_2samp

    ref, cur = pq.read_table(reference), pq.read_table(current)
    drifted = set()
    for name in drift_data.NUMERIC:
        if ks_2samp(ref[name].to_numpy(), cur[name].to_numpy()).pvalue < 0.05:
            drifted.add(name)
    for name in drift_data.CATEGORICAL:
        ref_values, ref_counts = np.unique(ref[name].to_numpy(zero_copy_only=False), return_counts=True)
        cur_values, cur_counts = np.unique(cur[name].to_numpy(zero_copy_only=False), return_counts=True)
        categories = np.union1d(ref_values, cur_values)
        table = [
            [dict(zip(ref_values, ref_counts, strict=True)).get(c, 0) for c in categories],
            [dict(zip(cur_values, cur_counts, strict=True)).get(c, 0) for c in categories],
        ]
        if chi2_contingency(table).pvalue < 0.05:
            drifted.add(name)
    return drifted


def run_evidently(reference: Path, current: Path) -> set[str]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(pd.read_parquet(current), pd.read_parquet(reference))
    drifted = set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            # p-value methods drift below their threshold, distances at or above it.
            if (value < threshold) if "p_value" in config["method"] else (value >= threshold):
                drifted.add(config["column"])
    return drifted


CONTENDERS = {
    "mlops-events": run_mlops_events,
    "mlops-events-warm": run_mlops_events_cached,
    "scipy": run_scipy,
    "evidently": run_evidently,
}


def _child(name: str, reference: str, current: str, results) -> None:
    started = time.perf_counter()
    try:
        drifted = CONTENDERS[name](Path(reference), Path(current))
        error = None
    except Exception as exc:  # a contender that cannot run (not installed) is reported, not fatal
        drifted, error = set(), f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put({"name": name, "seconds": elapsed, "peak_mb": peak_mb, "drifted": sorted(drifted), "error": error})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/mlops-events-drift-bench"))
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    args = parser.parse_args()

    reference = args.data_dir / f"reference-{args.rows}.parquet"
    current = args.data_dir / f"current-{args.rows}.parquet"
    if not reference.exists():
        drift_data.write(reference, args.rows, current=False, seed=1)
    if not current.exists():
        drift_data.write(current, args.rows, current=True, seed=2)

    context = multiprocessing.get_context("spawn")
    if "mlops-events-warm" in args.only and not cached_reference_path(reference).exists():
        prepare = context.Process(target=prepare_cached_reference, args=(reference,))
        prepare.start()
        prepare.join()
    rows = []
    for name in args.only.split(","):
        results = context.Queue()
        child = context.Process(target=_child, args=(name, str(reference), str(current), results))
        child.start()
        rows.append(results.get())
        child.join()

    truth = sorted(drift_data.DRIFTED)
    print(f"{args.rows:,} rows per side; truth: {', '.join(truth)}")
    print(f"{'contender':<18} {'seconds':>8} {'peak MB':>8}  drifted set")
    for row in rows:
        if row["error"]:
            print(f"{row['name']:<18} {'-':>8} {'-':>8}  could not run: {row['error']}")
            continue
        verdict = (
            "= truth" if row["drifted"] == truth else f"!= truth (extra {sorted(set(row['drifted']) - set(truth))},"
        )
        if row["drifted"] != truth:
            verdict += f" missed {sorted(set(truth) - set(row['drifted']))})"
        print(f"{row['name']:<18} {row['seconds']:>8.2f} {row['peak_mb']:>8.0f}  {verdict}")
    for ours in (r for r in rows if r["name"].startswith("mlops-events") and not r["error"]):
        for other in (r for r in rows if not r["name"].startswith("mlops-events") and not r["error"]):
            print(
                f"{ours['name']} vs {other['name']}: {other['seconds'] / ours['seconds']:.1f}x faster, "
                f"{ours['peak_mb'] / other['peak_mb']:.2f}x the peak memory"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
