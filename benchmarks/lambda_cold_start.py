"""Cold start of the ecr_rollout Lambda against a bare powertools handler, side by side.

What the Lambda runtime does on a cold start, in a fresh interpreter each time: import the handler's
module (its INIT phase), then the first invocation. Both are timed inside the child, and the whole
(interpreter start to first response) from outside. ecr_rollout's first invocation does real work:
the saved push fixture is planned on the embedded profile's dry run (targets read, idempotency
record written in SQLite, plan journaled). Runs alternate, so noise hits both alike; read the ratios
of medians (goal: init at most 1.5x the bare handler's).

    python benchmarks/lambda_cold_start.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "events" / "ecr" / "01-push-inference-1.2.0.json"
CANDIDATES = {
    "bare": (REPO / "benchmarks" / "_bare_lambda" / "handler.py", "handler"),
    "ecr_rollout": (REPO / "functions" / "ecr_rollout.py", "handler"),
}
CHILD = """
import importlib.util, json, sys, time
started = time.perf_counter()
sys.path.insert(0, {repo!r})
spec = importlib.util.spec_from_file_location("handler_module", {source!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
initialized = time.perf_counter()
from tooling.local_lambda import LocalLambdaContext
result = getattr(module, {target!r})(json.load(open({fixture!r})), LocalLambdaContext("bench", 60))
done = time.perf_counter()
print(json.dumps({{"init_s": initialized - started, "first_s": done - initialized, "result": result}}))
"""


def cold_start(name: str, state_dir: Path) -> dict:
    source, target = CANDIDATES[name]
    env = {
        **os.environ,
        "MLOPS_EVENTS_PROFILE": "embedded",
        "MLOPS_EVENTS_STATE_DIR": str(state_dir),
        "MLOPS_EVENTS_ROLLOUT_TARGETS_FILE": str(REPO / "events" / "ecr" / "targets.yaml"),
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
    }
    for variable in ("KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG"):
        env.pop(variable, None)
    code = CHILD.format(repo=str(REPO), source=str(source), target=target, fixture=str(FIXTURE))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    total = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if name == "ecr_rollout" and report["result"].get("outcome") != "applied":  # a fast no-op proves nothing
        raise RuntimeError(f"ecr_rollout did not plan the push: {report['result']}")
    return {"init": report["init_s"], "first": report["first_s"], "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    samples: dict[str, list[dict]] = {name: [] for name in CANDIDATES}
    scratch = Path(tempfile.mkdtemp(prefix="lambda-cold-start-"))
    try:
        for run in range(args.runs + 1):  # run 0 warms the file and bytecode caches
            for name in CANDIDATES:
                sample = cold_start(name, scratch / f"{name}-{run}")
                if run:
                    samples[name].append(sample)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {
        name: {part: statistics.median(s[part] for s in values) for part in ("init", "first", "total")}
        for name, values in samples.items()
    }
    for name, parts in medians.items():
        print(
            f"{name:<12} init {parts['init'] * 1000:7.1f} ms  first invocation {parts['first'] * 1000:7.1f} ms"
            f"  process start to response {parts['total'] * 1000:7.1f} ms  (medians of {args.runs})"
        )
    ratios = {part: medians["ecr_rollout"][part] / medians["bare"][part] for part in ("init", "total")}
    print(f"ratio ecr_rollout / bare: init {ratios['init']:.2f} (goal <= 1.5), start to response {ratios['total']:.2f}")
    print(json.dumps({"medians_ms": {n: {p: round(v * 1000, 1) for p, v in m.items()} for n, m in medians.items()}}))


if __name__ == "__main__":
    main()
