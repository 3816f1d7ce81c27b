"""The fuzz tier: every function, fed hostile variants of its real events.

GIVEN a saved, well-formed event of each function (every delivery form its fixtures use: structured,
binary and legacy CloudEvents, Pub/Sub push with its base64 payload opened, Cloud Scheduler HTTP,
EventBridge for the Lambda)
WHEN one to three of its fields, at any depth, are removed or replaced by null, another type, a huge or
deeply nested value, unicode and control characters, Slack markup, path tricks, or numbers at the
edges of float64 and int64, and the result is delivered to the real functions-framework app (or the
Lambda handler) on the embedded profile
THEN the outcome is applied, duplicate, ignored or rejected, never a retry, an error or a 5xx; a
rejection leaves every state file as it was; the detail names the problem without carrying the input;
and whatever reaches Slack carries no mention and no link but the ones our code builds.

`MLOPS_EVENTS_FUZZ_EXAMPLES` sets the hostile events per function (default 80); CI runs derandomized,
so a failure there reproduces. `python -m tests.support.fuzz.census` counts outcomes over many more.
"""

from __future__ import annotations

import collections
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shared.adapters.local_object_store import LocalObjectStore
from tests.support.fuzz.hostile_delivery import observe, problems, seeds
from tests.support.fuzz.mutations import describe, mutated_documents
from tooling.demo import seed_local_buckets
from tooling.manifest import REPO_ROOT
from tooling.replay import Replayer

SEEDS = seeds()
FUNCTIONS = sorted({seed.spec.name for seed in SEEDS})
EXAMPLES = int(os.environ.get("MLOPS_EVENTS_FUZZ_EXAMPLES", "80"))
# The only links our messages carry: the consoles, built from validated parts.
OUR_LINK = re.compile(r"<https://console\.(cloud\.google\.com|aws\.amazon\.com)/[^\s<>|]*\|[^<>]*>")
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module")
def fresh_state(tmp_path_factory) -> Iterator[Callable[[], Path]]:
    """A fresh embedded state dir per example, its buckets seeded: in a shared one, once a seed went through,
    its variants were `duplicate` before the handler ran, and the handler's paths went untested."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
        patch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(REPO_ROOT / "events" / "ecr" / "targets.yaml"))
        for variable in ("MLOPS_EVENTS_KUBECONFIG", "KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
            patch.delenv(variable, raising=False)

        def make() -> Path:
            state = Path(tempfile.mkdtemp(dir=root)) / "state"
            patch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
            seed_local_buckets(LocalObjectStore(state / "buckets"))
            return state

        yield make


def slack_texts(state: Path) -> list[str]:
    """Every string of every message in the Slack outbox, in order."""
    outbox = state / "slack-outbox.jsonl"
    lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
    texts: list[str] = []

    def walk(node):
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in lines:
        walk(json.loads(line))
    return texts


def injected(text: str) -> list[str]:
    """Markup in a message that our code did not write: a mention, or a link that is not ours."""
    return [token for token in re.findall(r"<[^<>]*>", text) if not OUR_LINK.fullmatch(token)]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_hostile_variants_of_real_events_end_as_an_outcome_and_a_rejection_writes_nothing(function, fresh_state):
    replayer = Replayer()
    function_seeds = [seed for seed in SEEDS if seed.spec.name == function]
    outcomes: collections.Counter[str] = collections.Counter()

    @SETTINGS
    @given(st.data())
    def check(data):
        seed = data.draw(st.sampled_from(function_seeds), label="seed")
        mutation = data.draw(mutated_documents(seed.document), label="hostile document")
        state = fresh_state()

        observation = observe(replayer, seed, mutation.document, state)

        outcomes[observation.outcome] += 1
        note(f"{seed.label}, changed {[describe(p) for p in mutation.changed]}: {observation}")
        assert problems(observation, mutation.inserted) == []
        for text in slack_texts(state):
            assert injected(text) == [], text[:500]

    check()
    # The property is only as good as the paths it reached: some variants went past the parser.
    assert outcomes["applied"] + outcomes["ignored"] + outcomes["duplicate"] > 0, outcomes


def test_the_seeds_cover_every_function_and_delivery_form():
    # The property is only as wide as its seeds: every function of the manifest, each way its events travel.
    from tooling.manifest import load_manifest

    assert set(FUNCTIONS) == {spec.name for spec in load_manifest()}
    assert {seed.mode for seed in SEEDS} == {"structured", "binary", "legacy", "http", "lambda"}
