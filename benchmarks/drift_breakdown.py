"""Where one mlops-events drift run spends its time: wall and CPU seconds per stage, in-process.

`benchmarks/drift.py` times a whole run per child process; this splits one into its stages, each
timed around the engine's own methods (nothing else is changed):

- imports: numpy, the engine's modules (`shared.drift`), duckdb (the engine imports it when built);
- load cache (warm only): the cached reference profile, JSON parsed and decoded;
- setup: the DuckDB connection, the files' columns and row counts;
- columns: fetching the numeric columns, sorting and describing them on the sorting threads (on the
  current side also each histogram's first-pass bounds), and the categorical counts, read while the
  last numeric columns sort: CPU above wall is parallel work;
- detect: brackets, refinement and verdicts (`detect_drift`).

CPU is the process's CPU time (every thread) over the stage: on a busy machine it moves less than
wall time. Each run is a fresh process, as a drift run is; the figures are medians over the runs.

    python benchmarks/drift_breakdown.py --rows 1000000 --runs 5     # after benchmarks/drift.py wrote the data
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = ("imports", "load cache", "setup", "columns", "detect", "total")


class _Clock:
    """Wall and CPU seconds per stage, accumulated."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, owner: object, method: str, stage: str) -> None:
        original = getattr(owner, method)

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - wall
                self.cpu[stage] += time.process_time() - cpu

        setattr(owner, method, timed)


def _one_run(mode: str, reference: Path, current: Path) -> dict[str, tuple[float, float]]:
    """One run in this process: {stage: (wall, cpu)}."""
    clock = _Clock()
    started, started_cpu = time.perf_counter(), time.process_time()
    sys.path.insert(0, str(REPO))
    import numpy  # noqa: F401  (timed: a drift run imports it)

    from shared.drift import detect
    from shared.drift.engines import duckdb_parquet as duckdb_profiler

    imported, imported_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    profiler_class = duckdb_profiler.DuckDbProfiler
    clock.wrap(profiler_class, "__init__", "imports")  # imports duckdb, connects
    for method in ("_columns", "_rows"):
        clock.wrap(profiler_class, method, "setup")
    clock.wrap(profiler_class, "_each_sorted_column", "columns")  # the categorical counts inside it
    clock.wrap(duckdb_profiler.ReferenceProfile, "from_json", "load cache")
    clock.wrap(detect, "detect_drift", "detect")
    source = duckdb_profiler.ParquetSource
    if mode == "cold":
        profile = profiler_class().profile(source((str(reference),)), source((str(current),)))
    else:
        cached = reference.with_suffix(".reference-profile.json")
        wall, cpu = time.perf_counter(), time.process_time()
        data = json.loads(cached.read_text())
        clock.wall["load cache"] += time.perf_counter() - wall
        clock.cpu["load cache"] += time.process_time() - cpu
        profile = profiler_class().compare(duckdb_profiler.ReferenceProfile.from_json(data), source((str(current),)))
    detect.detect_drift(profile)
    clock.wall["imports"] += imported
    clock.cpu["imports"] += imported_cpu
    clock.wall["total"] = time.perf_counter() - started
    clock.cpu["total"] = time.process_time() - started_cpu
    return {stage: (clock.wall[stage], clock.cpu[stage]) for stage in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/mlops-events-drift-bench"))
    parser.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    reference = args.data_dir / f"reference-{args.rows}.parquet"
    current = args.data_dir / f"current-{args.rows}.parquet"
    if args.child:
        print(json.dumps(_one_run(args.child, reference, current)))
        return
    if not reference.with_suffix(".reference-profile.json").exists():
        parser.error("no cached reference profile: run benchmarks/drift.py --dataset synthetic first")
    base = [sys.executable, __file__, "--rows", str(args.rows), "--data-dir", str(args.data_dir), "--child"]
    for mode in ("cold", "warm"):
        runs = [
            json.loads(subprocess.run([*base, mode], capture_output=True, text=True, check=True).stdout)
            for _ in range(args.runs)
        ]
        print(f"{mode}, {args.rows:,} rows a side, median of {args.runs} runs: stage, wall s, CPU s")
        for stage in STAGES:
            if mode == "cold" and stage == "load cache":
                continue
            wall = statistics.median(run[stage][0] for run in runs)
            cpu = statistics.median(run[stage][1] for run in runs)
            print(f"  {stage:<12} {wall:6.3f} {cpu:6.3f}")


if __name__ == "__main__":
    main()
