"""/feedback joins the label to what the service served (issue 20), on the embedded profile's real adapters:
the capture written as Parquet in the local bucket, read back by ObjectStoreCapturedPredictions, the entry
in the SQLite feedback store, the accuracy exported as a Prometheus gauge."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from prometheus_client.parser import text_string_to_metric_families

from mlops_inference.app import create_app
from mlops_inference.feedback import SqliteFeedbackStore
from mlops_inference.main import ServiceDeps, build_service
from mlops_inference.settings import ServiceSettings
from shared.adapters.parquet_captured_predictions import ObjectStoreCapturedPredictions
from shared.deps import current_deps
from shared.errors import TransientError
from shared.ports import CapturedPredictions
from tests.support.feedback_sends import BY_HAND, BY_HAND_ACCURACY, expected_accuracy, sends
from tests.support.inference_support import MODEL, model_files, register

ROWS = [{"amount": 62.5, "country": "US"}, {"amount": 20.0, "country": "FR"}, {"amount": 51.0, "country": "US"}]


@pytest.fixture
def state(tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    register(state_dir, 1, model_files())
    return state_dir


def client_for(deps: Any = None, **overrides: Any) -> TestClient:
    # A long flush interval: a test decides when the capture is written (`flush`), as the writer would.
    settings = ServiceSettings(
        model_name=MODEL, env="dev", reload_s=0, batching=False, **{"capture_flush_s": 3600.0, **overrides}
    )
    return TestClient(create_app(build_service(settings, deps)))


def flush(client: TestClient) -> None:
    assert client.app.state.service.capture.flush() > 0  # type: ignore[attr-defined]


def entries(state) -> list[dict[str, Any]]:
    from shared.adapters.sqlite_files import connection

    rows = connection(state / "feedback.sqlite").execute("SELECT * FROM feedback ORDER BY request_id, row")
    return [dict(r) for r in rows]


def gauges(client: TestClient) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("inference_feedback_accuracy", "inference_feedback_labels"):
            for sample in family.samples:
                out[(family.name, sample.labels["model"], sample.labels["version"])] = sample.value
    return out


def test_a_served_row_whose_capture_is_flushed_is_joined_with_the_exact_served_probability(state):
    # GIVEN a served request whose capture was written
    with client_for() as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        flush(client)

        # WHEN the label of its second row comes back, with a prediction the caller made up
        sent = client.post(
            "/feedback", json={"request_id": answer["request_id"], "row": 1, "label": 1, "prediction": 0.0}
        )
        stats = client.get("/feedback/stats").json()

    # THEN it is joined, and the stored prediction is the one served for that row, to the bit
    assert (sent.status_code, sent.json()) == (202, {"status": "recorded", "joined": True})
    [entry] = entries(state)
    served = answer["predictions"][1]
    assert entry["joined"] == 1 and entry["prediction"] == served and entry["version"] == 1
    assert entry["confidence"] == max(served, 1 - served) and entry["served_at"] is not None
    assert stats["with_prediction"] == 1 and stats["accuracy"] == (1.0 if served >= 0.5 else 0.0)
    assert stats["mean_absolute_error"] == pytest.approx(1 - served)


def test_a_model_served_at_version_0_takes_feedback_on_the_ids_it_issues(tmp_path, monkeypatch):
    """v0 is a version folder like any (shared.model_path): its ids were refused by /feedback's pattern."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(state_dir))
    register(state_dir, 0, model_files())
    with client_for() as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        flush(client)
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "row": 2, "label": 0, "version": 0})
    assert answer["version"] == 0
    assert (sent.status_code, sent.json()) == (202, {"status": "recorded", "joined": True})
    [entry] = entries(state_dir)
    assert (entry["version"], entry["prediction"]) == (0, answer["predictions"][2])


@pytest.mark.parametrize("claimed", [None, 0.0, 1.0, 0.5])
def test_a_caller_prediction_does_not_change_accuracy(state, claimed):
    with client_for() as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        flush(client)
        labels = [1, 1, 0]
        for row, label in enumerate(labels):
            body = {"request_id": answer["request_id"], "row": row, "label": label}
            if claimed is not None:
                body["prediction"] = claimed
            assert client.post("/feedback", json=body).json()["joined"] is True
        stats = client.get("/feedback/stats").json()

    hits = [(p >= 0.5) == (label == 1) for p, label in zip(answer["predictions"], labels, strict=True)]
    assert stats["accuracy"] == sum(hits) / len(hits)  # whatever the caller claimed
    assert all(e["prediction"] in answer["predictions"] for e in entries(state))


def test_an_unsampled_row_stays_unjoined_and_counts_as_a_label_without_prediction(state):
    with client_for(capture_rate=0.0) as client:  # nothing sampled
        answer = client.post("/predict", json={"rows": ROWS}).json()
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "label": 1, "prediction": 0.9})
        stats = client.get("/feedback/stats").json()

    assert (sent.status_code, sent.json()) == (202, {"status": "recorded", "joined": False})
    assert (stats["labels"], stats["with_prediction"]) == (1, 0) and "accuracy" not in stats
    [entry] = entries(state)
    assert (entry["joined"], entry["prediction"], entry["confidence"]) == (0, None, None)  # the claim is not kept


def test_a_row_not_written_yet_is_stored_unjoined_and_joins_when_sent_again(state):
    with client_for() as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        body = {"request_id": answer["request_id"], "row": 2, "label": 0}
        first = client.post("/feedback", json=body).json()  # the capture still queued
        flush(client)
        again = client.post("/feedback", json=body).json()  # the caller's retry replaces the entry
        stats = client.get("/feedback/stats").json()

    assert (first["joined"], again["joined"]) == (False, True)
    assert (stats["labels"], stats["with_prediction"]) == (1, 1)
    assert [e["prediction"] for e in entries(state)] == [answer["predictions"][2]]


class UnreachableObjects:
    """An object store whose backend is down (what the GCS adapter raises on a 503 or a timeout)."""

    def list_objects(self, bucket: str, prefix: str = ""):
        raise TransientError(f"list gs://{bucket}/{prefix}: 503 Service Unavailable")

    def read(self, bucket: str, name: str) -> bytes | None:
        raise TransientError(f"read gs://{bucket}/{name}: 503 Service Unavailable")


class DownCapturesDeps(ServiceDeps):
    def captured(self, sink: str | None, env: str, bucket: str = "", days: int = 7) -> CapturedPredictions:
        return ObjectStoreCapturedPredictions(UnreachableObjects(), bucket, days=days)  # type: ignore[arg-type]


def test_a_lookup_that_fails_transiently_is_a_503_to_retry_and_stores_nothing(state):
    with client_for(DownCapturesDeps(current_deps())) as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "label": 1})
        stats = client.get("/feedback/stats").json()

    assert sent.status_code == 503 and sent.headers["retry-after"] == "10"
    assert "retry" in sent.json()["detail"]
    assert stats["labels"] == 0


class DownFeedbackStore(SqliteFeedbackStore):
    """A feedback store whose backend is down (what the Firestore adapter raises on UNAVAILABLE)."""

    def record(self, entry: Any) -> Any:
        raise TransientError("record feedback: 503 Service Unavailable")

    def stats(self, *args: Any, **kwargs: Any) -> Any:
        raise TransientError("read feedback: 503 Service Unavailable")


class DownFeedbackDeps(ServiceDeps):
    @property
    def feedback(self) -> SqliteFeedbackStore:
        return DownFeedbackStore(self._deps.settings.state_dir / "feedback.sqlite")


def test_a_feedback_store_that_is_down_is_a_503_to_retry_with_a_json_detail(state):
    """It was a plain-text 500 without Retry-After, where a failed capture lookup already answered 503."""
    with client_for(DownFeedbackDeps(current_deps())) as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        flush(client)
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "label": 1})
        stats = client.get("/feedback/stats")

    for response in (sent, stats):
        assert response.status_code == 503 and response.headers["retry-after"] == "10"
        assert "retry" in response.json()["detail"] and "503 Service" not in response.text


class BrokenFeedbackDeps(ServiceDeps):
    @property
    def feedback(self) -> SqliteFeedbackStore:
        class Broken(SqliteFeedbackStore):
            def record(self, entry: Any) -> Any:
                raise KeyError("a bug")

        return Broken(self._deps.settings.state_dir / "feedback.sqlite")


def test_an_unexpected_failure_is_still_a_json_500_with_a_detail(state):
    with TestClient(
        create_app(
            build_service(
                ServiceSettings(model_name=MODEL, env="dev", reload_s=0, batching=False),
                BrokenFeedbackDeps(current_deps()),
            )
        ),
        raise_server_exceptions=False,
    ) as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        sent = client.post("/feedback", json={"request_id": answer["request_id"], "label": 1})
    assert sent.status_code == 500 and sent.json() == {"detail": "internal error"}


def test_the_accuracy_gauge_equals_an_independent_computation_for_the_version_served(state):
    labels = [[1, 0, 0], [0, 0, 1], [1, 1, 1]]
    with client_for(feedback_metrics_s=0.0) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        served: dict[int, list[tuple[float, int]]] = {1: [], 2: []}
        found: dict[int, dict] = {}
        for i, request_labels in enumerate(labels):
            if i == 2:  # a newer version, with another bias, answers the last request
                found[1] = gauges(client)
                register(state, 2, model_files(bias=1.5))
                service.holder.refresh()
            answer = client.post("/predict", json={"rows": ROWS}).json()
            flush(client)
            for row, label in enumerate(request_labels):
                sent = client.post("/feedback", json={"request_id": answer["request_id"], "row": row, "label": label})
                assert sent.json()["joined"] is True
                served[answer["version"]].append((answer["predictions"][row], label))
        # one label whose row was never captured: counted by the stats, not by the gauges
        service.capture.rate = 0.0
        other = client.post("/predict", json={"rows": ROWS}).json()
        assert client.post("/feedback", json={"request_id": other["request_id"], "label": 1}).json()["joined"] is False
        assert client.get("/feedback/stats").json()["by_version"]["2"]["labels"] == 4
        found[2] = gauges(client)

    for version, pairs in served.items():
        expected = sum((p >= 0.5) == (label == 1) for p, label in pairs) / len(pairs)
        assert found[version][("inference_feedback_accuracy", MODEL, str(version))] == pytest.approx(
            expected, abs=1e-12
        )
        assert found[version][("inference_feedback_labels", MODEL, str(version))] == len(pairs)
    # once v2 serves, v1's gauges are gone: its last accuracy would otherwise hold the alert open forever
    assert {key[2] for key in found[2]} == {"2"}


def test_the_gauges_are_refreshed_at_most_every_interval_not_per_scrape(state):
    with client_for(feedback_metrics_s=3600.0) as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        flush(client)
        none_yet = {("inference_feedback_labels", MODEL, "1"): 0.0}  # the store was read: no label, no accuracy
        assert gauges(client) == none_yet
        client.post("/feedback", json={"request_id": answer["request_id"], "row": 0, "label": 1})
        assert gauges(client) == none_yet  # within the interval: the values already there

    with client_for(feedback_metrics_s=3600.0) as fresh:  # a new instance reads the store on its first scrape
        found = gauges(fresh)
    assert found[("inference_feedback_labels", MODEL, "1")] == 1
    p = answer["predictions"][0]
    assert found[("inference_feedback_accuracy", MODEL, "1")] == (1.0 if p >= 0.5 else 0.0)


SERVED_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_feedback_file_made_before_joining_gets_the_columns_and_its_rows_count_unjoined(tmp_path):
    path = tmp_path / "feedback.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE feedback (key TEXT PRIMARY KEY, model TEXT, env TEXT, version INTEGER,"
        " request_id TEXT, row INTEGER, label REAL, prediction REAL, received_at TEXT)"
    )
    # an entry of the old code: a prediction the caller claimed
    conn.execute("INSERT INTO feedback VALUES ('k', 'fraud', 'dev', 1, 'r', 0, 1, 0.0, '2026-03-01T00:00:00+00:00')")
    conn.commit()
    conn.close()

    store = SqliteFeedbackStore(path)
    store.record(
        {"model": "fraud", "env": "dev", "version": 1, "request_id": "s", "row": 0, "label": 1, "prediction": 0.75,
         "confidence": 0.75, "served_at": SERVED_AT, "joined": True, "received_at": SERVED_AT}
    )  # fmt: skip
    stats = store.stats("fraud", "dev")

    assert (stats["labels"], stats["with_prediction"], stats["accuracy"]) == (2, 1, 1.0)
    assert stats["mean_absolute_error"] == 0.25


def test_the_join_window_and_the_metrics_interval_come_from_the_environment():
    from mlops_inference.settings import SettingsError

    base = {"MODEL_NAME": MODEL, "ENV": "dev"}
    default = ServiceSettings.from_env(base)
    assert (default.feedback_join_days, default.feedback_metrics_s) == (7, 300.0)
    given = ServiceSettings.from_env(
        {**base, "INFERENCE_FEEDBACK_JOIN_DAYS": "2", "INFERENCE_FEEDBACK_METRICS_S": "15"}
    )
    assert (given.feedback_join_days, given.feedback_metrics_s) == (2, 15.0)
    for name in ("INFERENCE_FEEDBACK_JOIN_DAYS", "INFERENCE_FEEDBACK_METRICS_S"):
        with pytest.raises(SettingsError, match=name):
            ServiceSettings.from_env({**base, name: "0"})


def test_a_label_resent_without_a_capture_keeps_the_join_it_had_in_sqlite(tmp_path):
    store = SqliteFeedbackStore(tmp_path / "feedback.sqlite")
    base = {"model": "fraud", "env": "dev", "version": 1, "request_id": "r", "row": 0, "received_at": SERVED_AT}
    joined = {"joined": True, "prediction": 0.9, "confidence": 0.9, "served_at": SERVED_AT}
    unjoined = {"joined": False, "prediction": None, "confidence": None, "served_at": None}
    store.record({**base, **joined, "label": 1})
    store.record({**base, **unjoined, "label": 0})  # corrected after the capture left the lookup's window
    stats = store.stats("fraud", "dev")
    assert (stats["labels"], stats["with_prediction"], stats["accuracy"]) == (1, 1, 0.0)

    store.record({**base, **unjoined, "label": 1, "request_id": "s"})  # unjoined first...
    store.record({**base, **joined, "label": 1, "request_id": "s"})  # ...joined when sent again
    assert store.stats("fraud", "dev")["with_prediction"] == 2


class SlowObjects:
    """A bucket whose reads wait until released: lookups pile up as they would behind a slow GCS."""

    def __init__(self, release: threading.Event) -> None:
        self.release, self.waiting = release, threading.Semaphore(0)

    def list_objects(self, bucket: str, prefix: str = ""):
        self.waiting.release()
        self.release.wait(30)
        return []


class SlowCapturesDeps(ServiceDeps):
    def __init__(self, deps: Any, objects: SlowObjects) -> None:
        super().__init__(deps)
        self.slow = objects

    def captured(self, sink: str | None, env: str, bucket: str = "", days: int = 7) -> CapturedPredictions:
        return ObjectStoreCapturedPredictions(self.slow, bucket, days=days)  # type: ignore[arg-type]


def test_lookups_beyond_the_limit_are_a_503_to_retry_not_a_queue_on_the_predict_threads(state):
    from mlops_inference.feedback_routes import MAX_LOOKUPS

    release = threading.Event()
    slow = SlowObjects(release)
    with client_for(SlowCapturesDeps(current_deps(), slow)) as client:
        answer = client.post("/predict", json={"rows": ROWS}).json()
        body = {"request_id": answer["request_id"], "label": 1}
        with ThreadPoolExecutor(MAX_LOOKUPS) as pool:
            held = [pool.submit(client.post, "/feedback", json=body) for _ in range(MAX_LOOKUPS)]
            for _ in range(MAX_LOOKUPS):  # every one of them inside a lookup
                assert slow.waiting.acquire(timeout=30)
            refused = client.post("/feedback", json=body)
            assert client.post("/predict", json={"rows": ROWS}).status_code == 200  # /predict still answers
            release.set()
            assert [f.result().status_code for f in held] == [202] * MAX_LOOKUPS
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"


@settings(max_examples=80, deadline=None)
@given(sent=sends)
def test_a_versions_accuracy_is_the_summary_of_every_entry_in_sqlite(tmp_path_factory, sent):
    # GIVEN labels sent in any order, joined or not, some sent again
    store = SqliteFeedbackStore(tmp_path_factory.mktemp("feedback") / "feedback.sqlite")
    for entry in sent:
        store.record(entry)
    # THEN each version's aggregate (what the accuracy gauge reads) is what the rows say
    stats = store.stats("fraud", "dev")
    for version in (1, 2, 3):
        got = store.version_accuracy("fraud", "dev", version)
        want = expected_accuracy(stats, version)
        assert got["with_prediction"] == want["with_prediction"]
        assert got.get("accuracy") == pytest.approx(want.get("accuracy"))


def test_a_versions_accuracy_by_hand_in_sqlite(tmp_path):
    store = SqliteFeedbackStore(tmp_path / "feedback.sqlite")
    for entry in BY_HAND:
        store.record(entry)
    assert {v: store.version_accuracy("fraud", "dev", v) for v in (1, 2)} == BY_HAND_ACCURACY
