"""Issue 15, item 4: hostile and broken ECR events replayed through the real ecr_rollout Lambda handler.

The fuzz test mutates the saved fixtures (events/ecr/) field by field and replays each through the
handler on the embedded profile's dry-run cluster; the issue's two examples run on the Kubernetes API
test server with the real kubernetes client. Properties: the outcome is applied, duplicate, ignored or
rejected and nothing else escapes; a rejection (or an ignored or duplicate event) changes no state: no
patch, no journal entry, no idempotency record, no Slack post; every image reference rolled out is
`<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>@sha256:<64 hex>`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from shared.adapters.dry_run_cluster import UNKNOWN_IMAGE
from shared.payloads.ecr import EARLIEST, MAX_FUTURE
from shared.rollout import deployment as k8s
from tests.support.ecr_cluster import OLD, REGISTRY, serve_test_cluster
from tooling.fixture_factory import ecr_image_action_event
from tooling.local_lambda import invoke
from tooling.localcloud.k8s_api_server import KubernetesApiServer
from tooling.manifest import REPO_ROOT, function_named

SPEC = function_named("ecr_rollout")
ECR = REPO_ROOT / "events" / "ecr"
FIXTURES = {path.name: json.loads(path.read_text()) for path in sorted(ECR.glob("*.json"))}
VALID = {name for name in FIXTURES if not name.startswith("2")}  # 20-22 are malformed as saved
PUSHES = {name for name in VALID if "push" in name and "failed" not in name}
_REPO = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
ROLLED_IMAGE = re.compile(rf"[0-9]{{12}}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/{_REPO}@sha256:[a-f0-9]{{64}}")
OUTCOMES = {"applied", "duplicate", "ignored", "rejected"}
FIELD = re.compile(
    r"(event|version|id|source|account|time|region|resources(\.[0-9]+)?|detail-type|replay-name"
    r"|detail(\.[a-z-]+)?): "
)
MISSING = object()


def _now_utc(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


HOSTILE = [
    "evil.example.com:5000/pwn#",
    "evil.example.com:5000/pwn",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/x#",
    "../",
    "../../etc/passwd",
    "ml/../inference",
    "ml/inference@sha256:" + "0" * 64,
    "1.2.0@sha256:" + "f" * 64,
    "@sha256:" + "e" * 64,
    "sha256:" + "A" * 64,
    "sha512:" + "a" * 128,
    "ml/inference:latest",
    "<!channel>",
    "<https://evil.example|click>",
    "`code` *bold* _it_ ~s~",
    "&amp;&lt;",
    "\u202eevil",
    "x\ny",
    "\x00",
    "\ud800",
    "123456789012\n",
    " us-east-1",
    "US-EAST-1",
    "us-iso-east-1",
    "cn-north-1",
    "us-gov-west-1",
    "eu-central-2",
    "ECR Image Action",
    "ECR Image Scan",
    "aws.ecr",
    "PUSH",
    "SUCCESS",
    "DELETE",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-11-25T14:00:00",
    "+275760-09-13T00:00:00Z",
    "2026-11-25T14:00:00.123456789Z",
    "2026-11-25T14:00:00+14:00",
    "NaN",
    "",
]
times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.isoformat(timespec="seconds") + "Z"
    ),
    # Around the clock: inside and just outside the allowed skew, and far ahead
    st.integers(-60 * 24 * 365 * 20, 60 * 24 * 365 * 50).map(lambda m: _now_utc(timedelta(minutes=m))),
    st.integers(-600, 600).map(lambda s: _now_utc(timedelta(seconds=s))),
)
# Values a genuine event could carry in that field: half the draws, so that mutated events also roll out
PLAUSIBLE = {
    "account": st.from_regex(r"[0-9]{12}", fullmatch=True),
    "region": st.sampled_from(["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "ap-southeast-4"]),
    "image-digest": st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
    "image-tag": st.one_of(
        st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
        st.from_regex(r"1\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True),  # what production's semver:^1 takes
        st.from_regex(r"main-[0-9a-f]{7}", fullmatch=True),  # what the batch scorer takes
    ),
    "repository-name": st.sampled_from(["ml/inference", "ml/batch-predict", "team/other"]),
    "time": st.integers(-600, 240).map(lambda s: _now_utc(timedelta(seconds=s))),
    "id": st.uuids().map(str),
    "result": st.just("SUCCESS"),
    "action-type": st.just("PUSH"),
    "detail-type": st.just("ECR Image Action"),
}
# Appended to a genuine value: a second host, path, reference or line smuggled after it
SUFFIXES = ["/x#", ".evil.example.com", ":5000/pwn#", "/../x", "@sha256:" + "0" * 64, ":latest", "\n", " ", "#"]
hostile_strings = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=8),  # control characters
    st.text(alphabet=st.characters(min_codepoint=0x80), min_size=1, max_size=20),  # unicode, surrogates aside
    st.integers(300, 300_000).map(lambda n: "a" * n),  # huge
    times,
    st.from_regex(r"[0-9]{11,13}", fullmatch=True),
    st.from_regex(r"sha256:[0-9a-fA-F]{60,68}", fullmatch=True),
)
wrong_types = st.one_of(
    st.just(MISSING),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
KEY_FIELDS = {"account", "region", "time", "id", "repository-name", "image-tag", "image-digest"}


# Per field, the hostile values that matter most there, drawn half the time
FIELD_HOSTILE = {
    "time": times,
    "region": st.sampled_from([v for v in HOSTILE if "-" in v or "." in v] + ["us-iso-east-1", "eusc-de-east-1"]),
    "account": st.from_regex(r"[0-9]{12}", fullmatch=True).map(lambda a: a + ".evil.example.com:5000/pwn#"),
}


def hostile_for(path: tuple[str, ...], original: Any) -> st.SearchStrategy[Any]:
    genuine = [PLAUSIBLE[path[-1]]] if path[-1] in PLAUSIBLE else []
    genuine += [st.just(original)] if isinstance(original, str) else []
    if not genuine:
        return st.one_of(hostile_strings, wrong_types)
    smuggled = st.tuples(st.one_of(genuine), st.sampled_from(SUFFIXES)).map("".join)
    anything = st.one_of(smuggled, hostile_strings, wrong_types)
    if path[-1] in FIELD_HOSTILE:
        return st.one_of(FIELD_HOSTILE[path[-1]], anything)
    return anything


def paths_of(document: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every field of the fixture, and those a push may have (image-tag on an untagged one)."""
    paths = [(key,) for key in document] + [("detail",), ("replay-name",)]
    detail = document.get("detail")
    if isinstance(detail, dict):
        paths += [("detail", key) for key in detail]
        paths += [("detail", "image-tag"), ("detail", "repository-name"), ("detail", "image-digest")]
    return sorted(set(paths))


@st.composite
def mutated_events(draw) -> tuple[str, dict[str, Any], list[tuple[str, ...]]]:
    """A saved fixture with fields changed. A third of the cases are pushes changed only to values a
    genuine event could carry, a new digest first: those roll out, from other accounts, regions,
    repositories and tags, and must still build a valid reference. The others change one field to a
    hostile value (a key field two times in three), mostly on a push and on a digest not rolled out
    yet, so that the event is not answered as a duplicate; and maybe a couple of fields more."""
    benign = draw(st.integers(0, 2)) == 0
    name = draw(st.sampled_from(sorted(PUSHES if benign or draw(st.integers(0, 2)) > 0 else FIXTURES)))
    document = json.loads(json.dumps(FIXTURES[name]))
    changed: list[tuple[str, ...]] = []

    def put(path: tuple[str, ...], value: Any) -> None:
        where = document
        for key in path[:-1]:
            where = where.get(key) if isinstance(where, dict) else None
        if isinstance(where, dict):
            if value is MISSING:
                where.pop(path[-1], None)
            else:
                where[path[-1]] = value
            changed.append(path)

    def current(path: tuple[str, ...]) -> Any:
        where: Any = document
        for key in path:
            where = where.get(key) if isinstance(where, dict) else None
        return where

    if benign or (isinstance(document.get("detail"), dict) and draw(st.integers(0, 3)) > 0):
        document["detail"]["image-digest"] = draw(PLAUSIBLE["image-digest"])
    paths = paths_of(document)
    if benign:
        for _ in range(draw(st.integers(0, 2))):
            path = draw(st.sampled_from([p for p in paths if p[-1] in PLAUSIBLE]))
            put(path, draw(PLAUSIBLE[path[-1]]))
        return name, document, changed
    keys = [p for p in paths if p[-1] in KEY_FIELDS]
    path = draw(st.sampled_from(keys)) if keys and draw(st.integers(0, 2)) > 0 else draw(st.sampled_from(paths))
    put(path, draw(hostile_for(path, current(path))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        path = draw(st.sampled_from(paths_of(document)))
        put(path, draw(hostile_for(path, current(path))))
    return name, document, changed


def issue_example(key: str, value: str) -> tuple[str, dict[str, Any], list[tuple[str, ...]]]:
    name = "01-push-inference-1.2.0.json"
    document = json.loads(json.dumps(FIXTURES[name]))
    document["detail"]["image-digest"] = "sha256:" + "9" * 64
    document[key] = value
    return name, document, [(key,)]


def snapshot(state: Path) -> dict[str, Any]:
    """Everything the embedded profile keeps: files as bytes, SQLite databases as their rows."""
    seen: dict[str, Any] = {}
    for path in sorted(state.rglob("*")) if state.exists() else []:
        if path.suffix in {".sqlite-wal", ".sqlite-shm", ".sqlite-journal"} or not path.is_file():
            continue
        if path.suffix == ".sqlite":
            with sqlite3.connect(path) as db:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                seen[path.name] = {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"'))) for t in tables}
        else:
            seen[path.name] = path.read_bytes()
    return seen


def mrkdwn_texts(post: dict[str, Any]) -> list[str]:
    texts = [post.get("text", "")]
    for block in post.get("blocks", []):
        if block.get("type") == "header":
            continue  # plain_text: Slack never parses it
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return texts


@pytest.fixture
def dry_run_state(tmp_path, monkeypatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
    monkeypatch.setenv("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(ECR / "targets.yaml"))
    for variable in ("MLOPS_EVENTS_KUBECONFIG", "KUBECONFIG", "MLOPS_EVENTS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(variable, raising=False)
    return state


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_events())
@example(issue_example("account", "evil.example.com:5000/pwn#"))  # the two the issue saw
@example(issue_example("time", "9999-12-31T23:59:59Z"))
def test_mutated_fixtures_are_handled_and_only_validated_images_roll_out(dry_run_state, case):
    name, document, changed = case
    before = snapshot(dry_run_state)

    # WHEN the mutated event is delivered to the real Lambda handler (any exception fails the test)
    result = invoke(SPEC, document)

    # THEN it ends in one of the four outcomes
    outcome, detail = result["outcome"], result["detail"]
    assert outcome in OUTCOMES, result
    event(f"outcome: {outcome}")
    after = snapshot(dry_run_state)
    if outcome != "applied":
        # nothing changed: no plan, no journal entry, no idempotency record, no Slack post
        assert after == before, (outcome, detail)
    if outcome == "rejected":
        assert FIELD.match(detail), detail
        if name in VALID and len(changed) == 1 and changed[0] != ("detail-type",):
            # the mutated field, or one inside it (an emptied `detail` is refused for its missing `detail.result`)
            path = ".".join(changed[0])
            assert detail.startswith((path + ": ", path + ".")), (changed, detail)
    # Every image the dry-run cluster was ever told to run, and every journal entry's, is a validated one
    cluster = (
        json.loads((dry_run_state / "dry-run-cluster.json").read_text()) if "dry-run-cluster.json" in after else {}
    )
    latest = datetime.now(UTC) + MAX_FUTURE
    for deployment in cluster.values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == UNKNOWN_IMAGE or ROLLED_IMAGE.fullmatch(container["image"]), container
        # and no push time was recorded that would judge every later genuine push stale
        for key, value in deployment["metadata"]["annotations"].items():
            if key.endswith("." + k8s.PUSHED_AT):
                assert EARLIEST <= datetime.fromisoformat(value) <= latest, (key, value)
    journal = after.get("rollouts.jsonl", b"").decode().splitlines()
    for entry in map(json.loads, journal):
        assert ROLLED_IMAGE.fullmatch(entry["new_image"]), entry
    for post in map(json.loads, after.get("slack-outbox.jsonl", b"").decode().splitlines()):
        for text in mrkdwn_texts(post):
            assert "<" not in text and ">" not in text, text  # nothing from outside became a link or mention


# The issue's examples, on the Kubernetes API test server through the real kubernetes client

DIGEST = f"sha256:{'2' * 64}"


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> KubernetesApiServer:
    server = serve_test_cluster(tmp_path, monkeypatch)
    yield server
    server.stop()


def genuine(minutes: float = 0, digest: str = DIGEST, tag: str = "1.3.0", event_id: str = "evt-genuine") -> dict:
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    return ecr_image_action_event("ml/inference", digest, tag=tag, time=when, event_id=event_id)


def patches(server: KubernetesApiServer) -> list:
    return [r for r in server.requests if r.method == "PATCH"]


def nothing_written(state: Path) -> bool:
    """No journal entry, no Slack post, no idempotency record."""
    if (state / "rollouts.jsonl").exists() or (state / "slack-outbox.jsonl").exists():
        return False
    db = state / "rollout-idempotency.sqlite"
    if not db.exists():
        return True
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM powertools_idempotency").fetchone()[0] == 0


def images(server: KubernetesApiServer) -> set[str]:
    return {k8s.container_image(server.deployment(ns, "inference"), "server") for ns in ("ml-serving", "ml-staging")}


def test_an_account_naming_another_registry_is_rejected_and_the_genuine_push_still_rolls(cluster, tmp_path):
    # GIVEN the push the issue saw: an account that smuggles a registry host, a port and a fragment
    hostile = genuine(event_id="evt-hostile")
    hostile["account"] = "evil.example.com:5000/pwn#"

    # WHEN it is delivered
    result = invoke(SPEC, hostile)

    # THEN it is rejected naming the field, and nothing moved or was recorded
    assert result["outcome"] == "rejected" and result["detail"].startswith("account: not a 12-digit"), result
    assert patches(cluster) == [] and images(cluster) == {OLD}
    assert nothing_written(tmp_path / "state")

    # AND the genuine push of the same digest is not taken for a duplicate: it rolls out, from our registry
    rolled = invoke(SPEC, genuine())
    assert rolled["outcome"] == "applied" and rolled["statuses"] == ["succeeded", "succeeded"], rolled
    assert images(cluster) == {f"{REGISTRY}/ml/inference@{DIGEST}"}


def test_a_far_future_event_time_is_rejected_and_does_not_freeze_later_pushes(cluster, tmp_path):
    # GIVEN an event dated 9999-12-31 (before the fix it was rolled out, and every later push was stale)
    hostile = genuine(event_id="evt-future")
    hostile["time"] = "9999-12-31T23:59:59Z"

    # WHEN it is delivered
    result = invoke(SPEC, hostile)

    # THEN it is rejected naming the field, with no rollout and no record
    assert result["outcome"] == "rejected" and result["detail"].startswith("time: "), result
    assert "in the future" in result["detail"]
    assert patches(cluster) == [] and images(cluster) == {OLD}
    assert nothing_written(tmp_path / "state")

    # AND a genuine later push (of that same digest) is applied, not stale, not a duplicate
    first = invoke(SPEC, genuine(minutes=0))
    assert first["outcome"] == "applied" and first["statuses"] == ["succeeded", "succeeded"], first
    # AND the one after it too
    later = f"sha256:{'3' * 64}"
    second = invoke(SPEC, genuine(minutes=1, digest=later, tag="1.3.1", event_id="evt-genuine-2"))
    assert second["outcome"] == "applied" and second["statuses"] == ["succeeded", "succeeded"], second
    assert images(cluster) == {f"{REGISTRY}/ml/inference@{later}"}


def test_a_deployment_an_earlier_unchecked_event_poisoned_is_not_frozen_and_not_quoted(cluster, tmp_path):
    # GIVEN a Deployment left by a push from before the fix: a push time of 9999, a hostile tag and image
    from kubernetes.client import AppsV1Api

    notes = {
        k8s.note_key("server", k8s.PUSHED_AT): "9999-12-31T23:59:59+00:00",
        k8s.note_key("server", k8s.IMAGE_TAG): "<!channel> please",
        k8s.note_key("server", k8s.PREVIOUS_IMAGE): "<https://evil.example|click>",
    }
    AppsV1Api(cluster.client()).patch_namespaced_deployment(
        "inference", "ml-serving", {"metadata": {"annotations": notes}}
    )

    # WHEN a genuine push arrives
    result = invoke(SPEC, genuine())

    # THEN the future push time is not trusted (the push rolls), and the message quotes nothing from it
    assert result["outcome"] == "applied" and result["statuses"] == ["succeeded", "succeeded"], result
    [post] = [json.loads(line) for line in (tmp_path / "state" / "slack-outbox.jsonl").read_text().splitlines()]
    shown = json.dumps(post)
    assert "<!channel>" not in shown and "<https://evil" not in shown
    for text in mrkdwn_texts(post):
        assert "<" not in text and ">" not in text
