"""Drift detection side by side: this project, Evidently's DataDriftPreset, plain scipy loops.

Two datasets, both deterministic and written once to Parquet:
- `zoo` (the default: it is the one that can show a wrong verdict): benchmarks/drift_zoo.py, 33 feature
  shapes (heavy tails, Cauchy, counts, zero inflation, rounding, epoch offsets, 0/1 flags, a
  near-constant, NaN/inf/NULL, strings), each unchanged and shifted; the truth is the exact normed
  Wasserstein distance (numeric) or Jensen-Shannon distance base 2 (categorical) against 0.1, checked
  with a 30% margin on the written files before anything runs. Default 200k rows per side.
- `synthetic`: benchmarks/drift_data.py, 20 normals and 5 categoricals, 6 of them shifted: the speed
  and memory run at scale (default 1M rows per side), where every contender should be right.

Each contender runs in a child process of its own, so its peak memory (VmHWM) is its own, and
reports time, CPU time (every thread of the process: on a machine shared with other work it moves
less than wall time, and this engine's sorting threads count in it), peak memory and its verdict per
column; against the truth that gives false positives (unchanged columns called drifted) and false
negatives (drifted columns missed).

- `mlops-events`: `DuckDbProfiler().profile(reference, current)` + `detect_drift`, from the files, under
  the process settings the manifest deploys the drift function with (`OPENBLAS_NUM_THREADS=1`: idle
  OpenBLAS threads spin on a core the sorting threads need; `GLIBC_TUNABLES`: huge pages and a padded heap
  for malloc, as every fetched column is a fresh array).
- `mlops-events-warm`: a later scheduled run against the same reference: the reference profile an
  earlier run cached (prepared fresh each benchmark run, outside the timing) is loaded, and only the
  current data is read.
- `scipy`: the loop a careful user writes, every column in memory: numeric drifted when
  `wasserstein_distance(ref, cur) / ref.std() >= 0.1` on the finite values, categorical when the
  Jensen-Shannon distance (base 2) of the category frequencies >= 0.1. It is the zoo's oracle: its
  errors there are zero by construction; its time and memory are what exactness costs.
- `scipy-ks`: the textbook loop, KS p < 0.05 (numeric) and chi-square p < 0.05 (categorical): at
  these sizes a p-value says how sure we are that *anything* moved, not how much.
- `evidently`: Evidently 0.7.23's `Report([DataDriftPreset()])` on pandas frames. What that version
  does (read in its site-packages: core/datasets.py infer_column_type, legacy/calculations/
  stattests/registry.py _get_default_stattest, data_drift.py get_one_column_drift): float columns are
  numerical; integer columns with <= 10 distinct values are *categorical* (the zoo's 0/1 flags),
  strings categorical. +-inf are replaced by NaN and NaN dropped. With a reference over 1000 rows:
  numerical columns with > 5 distinct values (both sides together) get Wasserstein distance /
  max(reference std, 0.001), drifted at >= 0.1; numerical columns with <= 5 distinct values (the
  zoo's near-constant) and categorical ones get the Jensen-Shannon distance with the *natural* log
  (scipy's default base) on value frequencies, drifted at >= 0.1 -- which is base-2 JS >= 0.120
  (a natural-log distance is sqrt(ln 2) = 0.83 times the base-2 one), so it can miss a categorical
  column the base-2 truth calls drifted. On the zoo this is why it misses `flag_drift` and
  `near_constant_drift`: a frequency distance, not the Wasserstein the truth (and a float or wide
  integer column) gets. (A reference <= 1000 rows: KS, chi-square or Z-test at p < 0.05.)

Evidently needs pandas<3 (it fails to import beside pandas 3), so it lives in a virtual environment
of its own; point `--evidently-python` at that interpreter (the other contenders use this one):

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install -r benchmarks/requirements-drift.txt -e '.[drift]'
    python benchmarks/drift.py --dataset zoo --rows 200000 --evidently-python /work/bench-venv/bin/python
    python benchmarks/drift.py --dataset synthetic --rows 1000000 --evidently-python /work/bench-venv/bin/python
    python benchmarks/drift.py --only mlops-events,scipy --values   # a subset, every column's number
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs as a script from a checkout
sys.path.insert(0, str(REPO / "benchmarks"))

THRESHOLD = 0.1
P_VALUE = 0.05
DEFAULT_ROWS = {"zoo": 200_000, "synthetic": 1_000_000}
# A contender returns, per column, its verdict and the number behind it (distance or p-value).
Verdicts = dict[str, tuple[bool, float | None]]


# -- contenders (each runs in a child process of its own) -----------------------------------------
def _engine_verdicts(result) -> Verdicts:
    verdicts = {}
    for feature in result.features:
        value = getattr(feature, "value", None)
        verdicts[feature.feature] = (bool(feature.drifted), feature.score if value is None else value)
    return verdicts


def run_mlops_events(reference: Path, current: Path) -> Verdicts:
    from shared.drift.detect import detect_drift
    from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource

    profile = DuckDbProfiler().profile(ParquetSource((str(reference),)), ParquetSource((str(current),)))
    return _engine_verdicts(detect_drift(profile))


def cached_reference_path(reference: Path) -> Path:
    return reference.with_suffix(".reference-profile.json")


def prepare_cached_reference(reference: Path, current: Path) -> Verdicts:
    """What an earlier scheduled run leaves behind: the reference side profiled, as JSON."""
    from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource

    profile = DuckDbProfiler().reference(ParquetSource((str(reference),)))
    cached_reference_path(reference).write_text(json.dumps(profile.to_json()))
    return {}


def run_mlops_events_cached(reference: Path, current: Path) -> Verdicts:
    """A later run against the same reference: only the current data is read."""
    from shared.drift.detect import detect_drift
    from shared.drift.engines.duckdb_parquet import DuckDbProfiler, ParquetSource, ReferenceProfile

    cached = ReferenceProfile.from_json(json.loads(cached_reference_path(reference).read_text()))
    profile = DuckDbProfiler().compare(cached, ParquetSource((str(current),)))
    return _engine_verdicts(detect_drift(profile))


def _read_both(reference: Path, current: Path):
    """Both files whole in memory, and which columns are strings (categorical) -- as a user would."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref, cur = pq.read_table(reference), pq.read_table(current)
    categorical = {f.name for f in ref.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)}
    return ref, cur, categorical


def run_scipy(reference: Path, current: Path) -> Verdicts:
    """Exact distances, every column in memory: normed Wasserstein (finite values), JS base 2."""
    import pyarrow as pa
    from drift_zoo import js_distance, normed_wasserstein

    ref, cur, categorical = _read_both(reference, current)
    verdicts = {}
    for name in ref.column_names:
        if name in categorical:
            value = js_distance(ref[name].to_numpy(zero_copy_only=False), cur[name].to_numpy(zero_copy_only=False))
        else:
            value = normed_wasserstein(
                ref[name].cast(pa.float64()).to_numpy(zero_copy_only=False),
                cur[name].cast(pa.float64()).to_numpy(zero_copy_only=False),
            )
        verdicts[name] = (value >= THRESHOLD, value)
    return verdicts


def run_scipy_ks(reference: Path, current: Path) -> Verdicts:
    """The textbook loop: KS for numbers (finite values), chi-square for categories, p < 0.05."""
    import numpy as np
    import pyarrow as pa
    from scipy.stats import chi2_contingency, ks_2samp

    ref, cur, categorical = _read_both(reference, current)
    verdicts = {}
    for name in ref.column_names:
        if name in categorical:
            ref_values, ref_counts = np.unique(ref[name].drop_null().to_numpy(zero_copy_only=False), return_counts=True)
            cur_values, cur_counts = np.unique(cur[name].drop_null().to_numpy(zero_copy_only=False), return_counts=True)
            categories = np.union1d(ref_values, cur_values)
            table = [
                [dict(zip(ref_values, ref_counts, strict=True)).get(c, 0) for c in categories],
                [dict(zip(cur_values, cur_counts, strict=True)).get(c, 0) for c in categories],
            ]
            p_value = chi2_contingency(table).pvalue
        else:
            a = ref[name].cast(pa.float64()).to_numpy(zero_copy_only=False)
            b = cur[name].cast(pa.float64()).to_numpy(zero_copy_only=False)
            p_value = ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]).pvalue
        verdicts[name] = (bool(p_value < P_VALUE), float(p_value))
    return verdicts


def run_evidently(reference: Path, current: Path) -> Verdicts:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(pd.read_parquet(current), pd.read_parquet(reference))
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            # p-value methods drift below their threshold, distances at or above it.
            drifted = (value < threshold) if "p_value" in config["method"] else (value >= threshold)
            verdicts[config["column"]] = (bool(drifted), float(value))
    return verdicts


CONTENDERS = {
    "mlops-events": run_mlops_events,
    "mlops-events-warm": run_mlops_events_cached,
    "scipy": run_scipy,
    "scipy-ks": run_scipy_ks,
    "evidently": run_evidently,
}


def _peak_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss on Linux: exec keeps the maximum of the
    process it replaced, so every child would report at least its parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(name: str, reference: Path, current: Path) -> None:
    """One contender in this process; its result is the last line of stdout, as JSON."""
    run = prepare_cached_reference if name == "prepare-warm" else CONTENDERS[name]
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        verdicts, error = run(reference, current), None
    except Exception as exc:  # a contender that cannot run (not installed) is reported, not fatal
        verdicts, error = {}, f"{type(exc).__name__}: {exc}"
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    result = {"name": name, "seconds": elapsed, "cpu_seconds": cpu, "peak_mb": _peak_mb()}
    print(json.dumps(result | {"verdicts": verdicts, "error": error}))


def _deployed_env() -> dict[str, str]:
    """The process settings the manifest deploys the drift function with (OPENBLAS_NUM_THREADS,
    GLIBC_TUNABLES): this engine runs under them, as it does in the cloud and under `up`. Templated values
    ({env}) are left out."""
    from tooling.manifest import function_named

    return {k: v for k, v in function_named("drift_report").env.items() if "{" not in v}


def _compile_engine() -> None:
    """The engine's bytecode, written once, as an installed wheel has it and as any checkout has it after
    its first run; this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make every timed run
    compile the engine from source (~20 ms) while Evidently's installed bytecode loads."""
    import compileall

    compileall.compile_dir(REPO / "shared", quiet=1)


def _spawn(python: str, name: str, reference: Path, current: Path) -> dict:
    command = [python, __file__, "--child", name, "--reference", str(reference), "--current", str(current)]
    env = os.environ | (_deployed_env() if name.startswith(("mlops-events", "prepare")) else {})
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return _failed(name, error)
    return json.loads(lines[-1])


def _failed(name: str, error: str) -> dict:
    return {"name": name, "seconds": 0.0, "cpu_seconds": 0.0, "peak_mb": 0.0, "verdicts": {}, "error": error}


# -- data and truth --------------------------------------------------------------------------------
def _stale(path: Path, generator: Path) -> bool:
    return not path.exists() or path.stat().st_mtime < generator.stat().st_mtime


def prepare_data(dataset: str, rows: int, data_dir: Path) -> tuple[Path, Path, dict[str, bool], str]:
    """The two files (written if missing or older than their generator), the truth, and a line about it."""
    if dataset == "synthetic":
        import drift_data as module
    else:
        import drift_zoo as module
    prefix = "" if dataset == "synthetic" else "zoo-"
    reference = data_dir / f"{prefix}reference-{rows}.parquet"
    current = data_dir / f"{prefix}current-{rows}.parquet"
    generator = Path(module.__file__)
    if _stale(reference, generator):
        module.write(reference, rows, current=False, seed=1)
    if _stale(current, generator):
        module.write(current, rows, current=True, seed=2)
    if dataset == "synthetic":
        truth = {name: name in module.DRIFTED for name in [*module.NUMERIC, *module.CATEGORICAL]}
        return reference, current, truth, f"truth by construction: {', '.join(sorted(module.DRIFTED))} drifted"

    scores_path = data_dir / f"zoo-truth-{rows}.json"
    if _stale(scores_path, generator) or scores_path.stat().st_mtime < current.stat().st_mtime:
        scores_path.write_text(json.dumps(module.verify_truth(reference, current)))
    scores = json.loads(scores_path.read_text())
    same = max((s, n) for n, s in scores.items() if not module.TRUTH[n])
    drifted = min((s, n) for n, s in scores.items() if module.TRUTH[n])
    line = (
        f"truth verified on the files: {sum(module.TRUTH.values())} drifted, "
        f"{len(module.TRUTH) - sum(module.TRUTH.values())} unchanged; exact scores: unchanged at most "
        f"{same[0]:.4f} ({same[1]}), drifted at least {drifted[0]:.4f} ({drifted[1]})"
    )
    return reference, current, dict(module.TRUTH), line


# -- the table -------------------------------------------------------------------------------------
def _errors(row: dict, truth: dict[str, bool]) -> tuple[list[str], list[str]]:
    verdicts = row["verdicts"]
    said = {name: bool(verdicts[name][0]) for name in verdicts}
    false_positives = [n for n in truth if not truth[n] and said.get(n) is True]
    # A column a contender gave no verdict for (skipped, unsupported) counts as missed if it drifted.
    false_negatives = [n for n in truth if truth[n] and said.get(n) is not True]
    return false_positives, false_negatives


def _described(names: list[str], verdicts: dict) -> str:
    return ", ".join(
        f"{n} ({verdicts[n][1]:.3g})" if n in verdicts and verdicts[n][1] is not None else f"{n} (no verdict)"
        for n in names
    )


def _print_values(rows: list[dict], truth: dict[str, bool]) -> None:
    """Each column's number per contender (a distance, or a p-value for scipy-ks); `!` marks a wrong verdict."""
    width = max(len(n) for n in truth)
    print(f"{'column':<{width}} {'truth':<9} " + " ".join(f"{r['name']:>18}" for r in rows))
    for name, drifted in truth.items():
        cells = []
        for row in rows:
            said, value = row["verdicts"].get(name, (None, None))
            cell = "-" if value is None else f"{value:.4g}"
            cells.append(f"{cell + ('!' if said is not drifted else ' '):>18}")
        print(f"{name:<{width}} {'drifted' if drifted else 'unchanged':<9} " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("zoo", "synthetic"), default="zoo")
    parser.add_argument("--rows", type=int, help="rows per side (zoo: 200,000; synthetic: 1,000,000)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/mlops-events-drift-bench"))
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    parser.add_argument("--evidently-python", default=sys.executable, help="interpreter with evidently, pandas<3")
    parser.add_argument("--values", action="store_true", help="also print every column's value per contender")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--current", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.reference, args.current)
        return

    names = args.only.split(",")
    _compile_engine()
    if unknown := [n for n in names if n not in CONTENDERS]:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    rows_per_side = args.rows or DEFAULT_ROWS[args.dataset]
    reference, current, truth, truth_line = prepare_data(args.dataset, rows_per_side, args.data_dir)
    prepared = {"error": None}
    if "mlops-events-warm" in names:  # fresh each run: a profile cached by another engine version may not load
        cached_reference_path(reference).unlink(missing_ok=True)
        prepared = _spawn(sys.executable, "prepare-warm", reference, current)
    rows = []
    for name in names:
        if name == "mlops-events-warm" and prepared["error"]:
            error = f"caching the reference profile failed: {prepared['error']}"
            rows.append(_failed(name, error))
            continue
        python = args.evidently_python if name == "evidently" else sys.executable
        rows.append(_spawn(python, name, reference, current))

    print(f"{args.dataset}: {rows_per_side:,} rows per side, {len(truth)} columns; {truth_line}")
    header = f"{'contender':<18} {'seconds':>8} {'CPU s':>8} {'peak MB':>8} {'FP':>3} {'FN':>3}"
    print(f"{header}  wrong columns (the contender's value)")
    for row in rows:
        if row["error"]:
            print(f"{row['name']:<18} {'-':>8} {'-':>8} {'-':>8} {'-':>3} {'-':>3}  could not run: {row['error']}")
            continue
        false_positives, false_negatives = _errors(row, truth)
        wrong = []
        if false_positives:
            wrong.append("FP: " + _described(false_positives, row["verdicts"]))
        if false_negatives:
            wrong.append("FN: " + _described(false_negatives, row["verdicts"]))
        print(
            f"{row['name']:<18} {row['seconds']:>8.2f} {row['cpu_seconds']:>8.2f} {row['peak_mb']:>8.0f} "
            f"{len(false_positives):>3} {len(false_negatives):>3}  {'; '.join(wrong) or '-'}"
        )
    for ours in (r for r in rows if r["name"].startswith("mlops-events") and not r["error"]):
        for other in (r for r in rows if not r["name"].startswith("mlops-events") and not r["error"]):
            print(
                f"{ours['name']} vs {other['name']}: {other['seconds'] / ours['seconds']:.1f}x faster "
                f"({other['cpu_seconds'] / ours['cpu_seconds']:.1f}x less CPU), "
                f"{ours['peak_mb'] / other['peak_mb']:.2f}x the peak memory"
            )
    if args.values:
        _print_values([r for r in rows if not r["error"]], truth)
    summary = [
        {k: v for k, v in row.items() if k != "verdicts"} | {"errors": None if row["error"] else _errors(row, truth)}
        for row in rows
    ]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
