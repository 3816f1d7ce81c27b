"""drift_report: profile, decide, write the report, record the run, alert once; fakes for the stores."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from handlers import drift_report
from shared.adapters.local_parquet_files import LocalParquetFiles
from shared.adapters.sqlite_drift_runs import SqliteDriftRunStore
from shared.drift.engines.parquet_files import ParquetProfiler
from shared.errors import EventParseError, TransientError
from shared.outcome import Status
from shared.payloads.drift import parse_drift_request
from tests.support.fakes import FakeDeps
from tests.unit.shared.drift.test_drift_history import sparklines

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
        ({"methods": {"amount": {"method": "psi", "threshold": float("nan")}}}, "methods.amount.threshold"),
        ({"methods": {"amount": {"method": "psi", "threshold": "0.2"}}}, "methods.amount.threshold"),
        ({"methods": {"amount": {"method": "psi", "threshold": -0.1}}}, "methods.amount.threshold"),
        ({"methods": {"amount": {"method": "psi", "threshold": 10**400}}}, "methods.amount.threshold"),
        ({"methods": {"x" * 1025: {"method": "psi", "threshold": 0.1}}}, "methods"),
        ({"features": [f"c{i}" for i in range(10_001)]}, "features"),
        ({"features": ["amount", "x" * 1025]}, "features"),
        ({"features": ["amount", 7]}, "features"),
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


def test_data_that_is_not_there_is_a_bad_request_naming_its_side(deps):
    with pytest.raises(EventParseError, match="no Parquet file matches") as caught:
        drift_report.handle(request({**BODY, "reference": {"uri": "gs://ml-drift-dev/none/*.parquet"}}), deps)
    assert caught.value.field == "reference.uri"
    assert deps.drift_runs.rows == {} and deps.objects.objects == {}


# -- each feature's history -----------------------------------------------------------------------------


def stored_json(deps: FakeDeps, uri: str) -> dict:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return json.loads(deps.objects.objects[(bucket, name)][1])


def stored_text(deps: FakeDeps, uri: str) -> str:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return deps.objects.objects[(bucket, name)][1].decode()


def test_the_third_run_charts_the_scores_the_first_two_recorded(tmp_path):
    # GIVEN the embedded profile's SQLite run store, and a current window that moves a little further
    # from the reference each day (amount's mean up by 0, 0.6 then 1.5 std: its Wasserstein/std creeps up)
    rng = np.random.default_rng(9)
    reference = tmp_path / "ml-drift-dev" / "fraud" / "reference"
    reference.mkdir(parents=True)
    pq.write_table(table(rng, 4_000, shifted=False, end=RUN - timedelta(days=30)), reference / "part-0.parquet")
    series = tmp_path / "ml-drift-dev" / "fraud" / "series"
    series.mkdir()
    for day, shift in enumerate((0.0, 0.6, 1.5)):
        part = table(rng, 2_000, shifted=False, end=RUN + timedelta(days=day))
        part = part.set_column(1, "amount", pa.array(part["amount"].to_numpy() + shift))
        pq.write_table(part, series / f"part-{day}.parquet")
    deps = FakeDeps()
    deps.feature_profiler = ParquetProfiler(LocalParquetFiles(tmp_path))
    deps.drift_runs = SqliteDriftRunStore(tmp_path / "monitoring.sqlite")
    body = {**BODY, "current": {**BODY["current"], "uri": "gs://ml-drift-dev/fraud/series/*.parquet"}}

    # WHEN three daily runs happen
    summaries = []
    for day in range(3):
        deps.clock.now = RUN + timedelta(days=day, minutes=2)
        outcome = drift_report.handle(request(body, schedule_time=RUN + timedelta(days=day)), deps)
        assert outcome.status is Status.APPLIED, outcome.detail
        [row] = [r for r in deps.drift_runs.history("fraud", "dev", limit=1)]
        summaries.append(stored_json(deps, row["summary_uri"]))

    # THEN the third summary's history holds each run's own score, in order, as each run reported it
    amounts = [next(f["value"] for f in s["features"] if f["feature"] == "amount") for s in summaries]
    assert amounts[0] < amounts[1] < 0.1 <= amounts[2]  # the slow drift, before it crossed
    third = summaries[2]
    assert third["history"]["runs"] == [s["run_key"] for s in summaries]
    assert third["history"]["features"]["amount"] == {
        "method": "wasserstein",
        "threshold": 0.1,
        "values": amounts,
        "drifted": [False, False, True],
    }
    # AND its HTML charts amount's first two scores before its own
    page = stored_text(deps, row["report_uri"])
    section = next(i for i, f in enumerate(third["features"]) if f["feature"] == "amount")
    spark = sparklines(page)[(f"f-{section}", "spark")]
    tips = [tip for _, _, tip in spark["circles"]]
    assert tips == [
        f"2026-11-20 06:02: {amounts[0]:.3f}",
        f"2026-11-21 06:02: {amounts[1]:.3f}",
        f"this run: {amounts[2]:.3f} (drifted)",
    ]
    assert "2 runs, 2026-11-20 06:02 to 2026-11-21 06:02, charted for each feature" in page


def test_a_history_that_cannot_be_read_costs_the_chart_not_the_run(deps, caplog):
    deps.drift_runs.history_failure = TransientError("BigQuery is down")

    with caplog.at_level(logging.WARNING, logger="handlers.drift_report"):
        outcome = drift_report.handle(request(), deps)

    assert outcome.status is Status.APPLIED
    [row] = deps.drift_runs.rows.values()
    assert stored_json(deps, row["summary_uri"])["history"] is None
    assert "not available: no history is charted" in stored_text(deps, row["report_uri"])
    assert "drift history of fraud (dev) not read" in caplog.text and "BigQuery is down" in caplog.text
    assert row["feature_scores"]["amount"]["drifted"] is True  # and this run's scores are recorded all the same


def test_a_redelivery_does_not_chart_its_own_earlier_attempt(deps):
    # GIVEN a first attempt that recorded its row, then failed to post to Slack
    deps.notifier.failures = 1
    with pytest.raises(TransientError):
        drift_report.handle(request(), deps)
    assert len(deps.drift_runs.rows) == 1

    # WHEN it is redelivered THEN its report has no earlier run: its own row is not history
    assert drift_report.handle(request(), deps).status is Status.APPLIED
    [row] = deps.drift_runs.rows.values()
    assert stored_json(deps, row["summary_uri"])["history"]["runs"] == [row["run_key"]]


# -- a refused request writes nothing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"methods": {"amount": {"method": "chi2", "threshold": 0.05}}}, "methods.amount"),
        ({"current": {**BODY["current"], "timestamp_column": "tss"}}, "current.timestamp_column"),
        ({"current": {**BODY["current"], "timestamp_column": "amount"}}, "current.timestamp_column"),
        ({"current": {**BODY["current"], "uri": "gs://ml-drift-dev/fraud/none/*.parquet"}}, "current.uri"),
        (
            {
                "reference": {
                    "uri": BODY["reference"]["uri"],
                    "timestamp_column": "tss",
                    "start": "2026-10-01T00:00:00Z",
                }
            },
            "reference.timestamp_column",
        ),
    ],
)
def test_a_request_refused_after_the_reference_was_profiled_leaves_no_cache_behind(deps, change, field):
    with pytest.raises(EventParseError) as caught:
        drift_report.handle(request({**BODY, **change}), deps)

    assert caught.value.field == field
    assert deps.objects.objects == {} and deps.drift_runs.rows == {} and deps.notifier.posts == []
    # and the claim was released: the corrected request runs at once, and keeps the reference's profile
    assert drift_report.handle(request(), deps).status is Status.APPLIED
    assert len([name for _, name in deps.objects.objects if name.startswith("drift-cache/reference/")]) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "fraud-detector\n"}, "model"),  # `$` let a trailing newline through: a folder `x\n`
        ({"env": "dev\n"}, "env"),
        ({"features": ["amount", "\ud800"]}, "features"),
        ({"features": ["amount", "a\tb"]}, "features"),
    ],
)
def test_names_are_matched_whole_and_hold_no_control_or_surrogate(change, field):
    with pytest.raises(EventParseError) as caught:
        request({**BODY, **change})
    assert caught.value.field == field


def test_a_job_name_longer_than_the_local_store_takes_is_a_rejection_not_a_crash(tmp_path):
    from shared.adapters.local_object_store import LocalObjectStore
    from shared.errors import PermanentError

    store = LocalObjectStore(tmp_path / "buckets")
    with pytest.raises(PermanentError, match="path segment over 200 bytes"):
        store.put("ml-drift-logs-dev", "drift/" + "j" * 400 + "-report.html", b"x")
    assert not (tmp_path / "buckets").exists()
