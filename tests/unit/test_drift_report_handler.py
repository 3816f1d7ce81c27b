"""drift_report: profile, decide, write the report, record the run, alert once; fakes for the stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from handlers import drift_report
from shared.adapters.parquet_profiler import LocalParquetFiles, ParquetProfiler
from shared.errors import EventParseError, PermanentError, TransientError
from shared.events.drift import parse_drift_request
from shared.outcome import Status
from tests.fakes import FakeDeps

RUN = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def table(rng, rows: int, *, shifted: bool, end: datetime) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array(
                [end - timedelta(minutes=int(m)) for m in rng.integers(1, 600, rows)], pa.timestamp("us", tz="UTC")
            ),
            "amount": rng.normal(50 + (15 if shifted else 0), 10, rows),
            "country": np.array(["FR", "US"], dtype=object)[
                rng.choice(2, rows, p=[0.2, 0.8] if shifted else [0.8, 0.2])
            ],
        }
    )


@pytest.fixture
def deps(tmp_path) -> FakeDeps:
    rng = np.random.default_rng(4)
    for side, shifted, end in (("reference", False, RUN - timedelta(days=30)), ("current", True, RUN)):
        folder = tmp_path / "ml-drift-dev" / "fraud" / side
        folder.mkdir(parents=True)
        pq.write_table(table(rng, 4_000, shifted=shifted, end=end), folder / "part-0.parquet")
    deps = FakeDeps()
    deps.feature_profiler = ParquetProfiler(LocalParquetFiles(tmp_path))
    return deps


BODY = {
    "model": "fraud",
    "env": "dev",
    "reference": {"uri": "gs://ml-drift-dev/fraud/reference/*.parquet"},
    "current": {"uri": "gs://ml-drift-dev/fraud/current/*.parquet", "timestamp_column": "ts", "window_hours": 24},
}


def request(body=BODY, schedule_time=RUN):
    return parse_drift_request(body, event_id="e1", job="drift-fraud", schedule_time=schedule_time)


def test_a_drifted_run_writes_the_report_records_the_run_and_alerts_once(deps):
    outcome = drift_report.handle(request(), deps)

    assert outcome.status is Status.APPLIED and "DRIFT in 2 of 2 features" in outcome.detail
    written = sorted(name for (bucket, name) in deps.objects.objects if bucket == "ml-drift-logs-dev")
    [cached_reference] = [name for name in written if name.startswith("drift-cache/reference/")]
    html, summary = [name for name in written if name != cached_reference]
    assert html == "drift/fraud/dev/2026-11-20/060000-drift-fraud-report.html"
    assert summary == "drift/fraud/dev/2026-11-20/060000-drift-fraud-summary.json"
    stored = json.loads(deps.objects.objects[("ml-drift-logs-dev", summary)][1])
    assert stored["dataset_drifted"] is True
    [row] = deps.drift_runs.rows.values()
    assert (row["run_key"], row["dataset_drifted"], sorted(row["drifted_features"])) == (
        "drift-fraud@2026-11-20T06:00:00+00:00",
        True,
        ["amount", "country"],
    )
    [alert] = deps.notifier.posts
    assert "Data drift in fraud (dev): 2 of 2 features drifted" in alert["text"]
    assert alert["blocks"][-1]["elements"][0]["text"].startswith(
        "<https://console.cloud.google.com/storage/browser/_details/ml-drift-logs-dev/drift/fraud/dev/2026-11-20/"
    )

    again = drift_report.handle(request(), deps)
    assert again.status is Status.DUPLICATE and len(deps.notifier.posts) == 1


def test_no_drift_posts_nothing(deps):
    same = {**BODY, "current": {"uri": "gs://ml-drift-dev/fraud/reference/*.parquet"}}
    outcome = drift_report.handle(request(same), deps)
    assert "no dataset drift" in outcome.detail
    assert deps.notifier.posts == []


def test_an_empty_window_is_a_clear_outcome_not_a_crash(deps):
    outcome = drift_report.handle(request(schedule_time=RUN + timedelta(days=90)), deps)
    assert outcome.status is Status.APPLIED and "no data in the current window" in outcome.detail
    assert deps.notifier.posts == []


def test_slack_down_releases_the_run_for_redelivery(deps):
    deps.notifier.failures = 1
    with pytest.raises(TransientError):
        drift_report.handle(request(), deps)
    assert drift_report.handle(request(), deps).status is Status.APPLIED
    assert len(deps.notifier.posts) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "../etc"}, "model"),
        ({"reference": {"uri": "s3://x/y"}}, "reference.uri"),
        ({"current": {"uri": "gs://b/../x"}}, "current.uri"),
        ({"current": {"uri": "gs://ml-drift-dev/x", "window_hours": 24}}, "current.timestamp_column"),
        ({"drift_share": 2}, "drift_share"),
        ({"methods": {"amount": {"method": "psi", "threshold": "high"}}}, "methods.amount.threshold"),
    ],
)
def test_bad_requests_name_the_field(change, field):
    with pytest.raises(EventParseError) as caught:
        request({**BODY, **change})
    assert caught.value.field == field


def test_a_job_name_cannot_reach_outside_its_report_folder():
    with pytest.raises(EventParseError) as caught:
        parse_drift_request(BODY, event_id="e1", job="../../etc", schedule_time=RUN)
    assert caught.value.field == "job"


def test_data_that_is_not_there_is_a_permanent_error(deps):
    with pytest.raises(PermanentError, match="no Parquet file matches"):
        drift_report.handle(request({**BODY, "reference": {"uri": "gs://ml-drift-dev/none/*.parquet"}}), deps)
    assert deps.drift_runs.rows == {}
