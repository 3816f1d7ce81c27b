"""Count what the fuzz tier's hostile events do, without stopping at the first failure.

    python -m tests.support.fuzz.census --examples 300      # per function, into a fresh embedded state dir

Prints, per function, how many hostile events were delivered, their outcomes, and how many broke the
property (see hostile_delivery.problems), with one example of each kind of break. The test suite
(test_hostile_events.py) asserts the same property and stops at the first break.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz.hostile_delivery import observe, problems, seeds
from tests.support.fuzz.mutations import describe, mutated_documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="hostile events per function")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = _embedded_state(Path(tmp))
        from tooling.replay import Replayer

        replayer = Replayer()
        by_function = collections.defaultdict(list)
        for seed in seeds():
            by_function[seed.spec.name].append(seed)
        for function, function_seeds in by_function.items():
            outcomes, broken = _census(replayer, function_seeds, state, args.examples)
            total = sum(n for k, n in outcomes.items() if not k.startswith("BROKEN"))
            print(f"{function}: {total} hostile events; " + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))
            for kind, example in broken.items():
                print(f"    {kind}: {example}")


def _census(replayer, function_seeds, state: Path, examples: int) -> tuple[collections.Counter[str], dict[str, str]]:
    outcomes: collections.Counter[str] = collections.Counter()
    broken: dict[str, str] = {}

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data) -> None:
        seed = data.draw(st.sampled_from(function_seeds))
        mutation = data.draw(mutated_documents(seed.document))
        changed = mutation.changed
        observation = observe(replayer, seed, mutation.document, state)
        outcomes[observation.outcome] += 1
        for problem in problems(observation, mutation.inserted):
            kind = problem.split(" of ")[0]
            where = ", ".join(describe(p) for p in changed)
            broken.setdefault(kind, f"{seed.label} [{where}]: {observation.detail[:300]}")
            outcomes["BROKEN " + kind] += 1

    run()
    return outcomes, broken


def _embedded_state(root: Path) -> Path:
    from shared.adapters.local_object_store import LocalObjectStore
    from tooling.demo import seed_local_buckets
    from tooling.manifest import REPO_ROOT

    state = root / "state"
    os.environ["MLOPS_EVENTS_PROFILE"] = "embedded"
    os.environ["MLOPS_EVENTS_STATE_DIR"] = str(state)
    os.environ["MLOPS_EVENTS_ROLLOUT_TARGETS_FILE"] = str(REPO_ROOT / "events" / "ecr" / "targets.yaml")
    for variable in ("MLOPS_EVENTS_KUBECONFIG", "KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
        os.environ.pop(variable, None)
    seed_local_buckets(LocalObjectStore(state / "buckets"))
    return state


if __name__ == "__main__":
    main()
