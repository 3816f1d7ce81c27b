"""A scheduled drift run: profile reference and current data where they live, decide, report, alert.

Once per run key (job + schedule time): the report (HTML + JSON) lands in the drift-logs bucket
under `drift/{model}/{env}/{date}/`, a summary row in `ml_monitoring.drift_runs` (with each feature's
score, which later reports chart as its history), and a Slack alert goes out when the dataset drifted.
Every write is keyed on the run, so a redelivery after a failure rewrites the same objects and posts at
most once more (see budget_alert for that window).

Nothing is written before the whole request has been checked: a run refused for bad input (no data at
a URI, a misspelled timestamp column, a method that does not fit a column) leaves no object, no row
and no post behind, and the reference's profile is kept for the next run only once this one succeeded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from shared import slack_format as slack
from shared.bucket_names import is_bucket_name
from shared.drift.detect import DriftConfig, DriftResult, detect_drift
from shared.drift.history import HISTORY_RUNS, PastRun, feature_scores, past_runs
from shared.drift.reference_cache import ObjectStoreReferenceCache, PendingReferenceCache
from shared.drift.report import ReportContext, render_html, render_json
from shared.drift.served import merged, served_drift
from shared.idempotency import run_once
from shared.outcome import Outcome
from shared.payloads.drift import DriftRequest

if TYPE_CHECKING:
    from shared.ports import Clock, DriftRunStore, FeatureProfiler, IdempotencyStore, ObjectStore, SlackNotifier

CONSOLE_OBJECT = "https://console.cloud.google.com/storage/browser/_details/{bucket}/{name}"
ALERT_FEATURES = 8  # the most drifted features named in the Slack alert; the report has them all
log = logging.getLogger(__name__)


class DriftSettings(Protocol):
    @property
    def claim_ttl_s(self) -> float: ...
    @property
    def drift_logs_bucket(self) -> str: ...  # may hold {env}


class DriftDeps(Protocol):
    @property
    def settings(self) -> DriftSettings: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def feature_profiler(self) -> FeatureProfiler: ...
    @property
    def objects(self) -> ObjectStore: ...
    @property
    def drift_runs(self) -> DriftRunStore: ...
    @property
    def notifier(self) -> SlackNotifier: ...
    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True)
class ReportObjects:
    bucket: str
    html: str
    json: str

    def uri(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"

    @property
    def console_url(self) -> str | None:
        """The report in the Cloud Console, from percent-encoded parts; None for a bucket without a bucket's
        name, ValueError for an object name no URL can carry."""
        if not is_bucket_name(self.bucket):
            return None
        return slack.url(CONSOLE_OBJECT, bucket=self.bucket, name=slack.path(self.html))


def _describe(location: Any, window: tuple[Any, Any] | None = None) -> str:
    start, end = window or (location.start, location.end)
    if not (start or end):
        return location.uri
    bounds = f"{start.isoformat() if start else '...'} to {end.isoformat() if end else '...'}"
    return f"{location.uri}, {location.timestamp_column} from {bounds}"


def render_alert(request: DriftRequest, result: DriftResult, report: ReportObjects) -> dict[str, Any]:
    """Every name here (model, env, features, job, bucket, object) is outside data: in through
    `slack.text` / `slack.plain`, the console URL through `slack.url` (shared/slack_format.py)."""
    drifted = [f for f in result.features if f.drifted]
    names = ", ".join(f"`{slack.text(f.feature, 100)}`" for f in drifted[:ALERT_FEATURES])
    more = f" and {len(drifted) - ALERT_FEATURES} more" if len(drifted) > ALERT_FEATURES else ""
    model = f"{slack.text(request.model, 100)} ({slack.text(request.env, 40)})"
    text = f"Data drift in {model}: {len(drifted)} of {len(result.features)} features drifted"
    try:
        address = report.console_url
    except ValueError:  # a name no URL can carry (not UTF-8, too long): the object's path is still shown
        address = None
    where = f"`{slack.text(report.uri(report.html), slack.PATH_MAX)}`"
    return {
        "text": slack.fallback(text),
        "blocks": [
            slack.header(f"Data drift: {slack.plain(request.model, 80)} ({slack.plain(request.env, 40)})"),
            slack.section(f"{text} ({result.drifted_share:.0%} of those compared)."),
            slack.fields(
                [
                    ("Drifted", (names + more) or "-"),
                    ("Current rows", f"{result.current_rows:,}"),
                    ("Reference rows", f"{result.reference_rows:,}"),
                    ("Run", slack.text(request.run_key, slack.PATH_MAX)),
                ]
            ),
            slack.context(f"{slack.link(address, 'Open the report')} · {where}" if address else where),
        ],
    }


def _history(request: DriftRequest, deps: DriftDeps) -> tuple[PastRun, ...] | None:
    """The model's earlier runs, oldest first; None when they cannot be read (the report says so)."""
    try:
        # One more than charted: a redelivery may find its own run, recorded by an earlier attempt.
        rows = deps.drift_runs.history(request.model, request.env, limit=HISTORY_RUNS + 1)
        return past_runs(rows, exclude=request.run_key)[-HISTORY_RUNS:]
    except Exception as exc:  # the history adds to the report; it must never cost the run
        log.warning("drift history of %s (%s) not read, reporting without it: %r", request.model, request.env, exc)
        return None


def handle(request: DriftRequest, deps: DriftDeps) -> Outcome:
    key = f"drift:{request.run_key}"

    def run() -> dict[str, Any]:
        now = deps.clock()
        window = request.current_window(now)
        bucket = deps.settings.drift_logs_bucket.format(env=request.env)
        # The reference's profile is kept beside the reports, for the next scheduled run: committed
        # below, once the run has succeeded.
        reference_cache = PendingReferenceCache(ObjectStoreReferenceCache(deps.objects, bucket))
        profile = deps.feature_profiler.profile(
            request.reference,
            request.current,
            current_window=window,
            features=request.features,
            reference_cache=reference_cache,
        )
        config = DriftConfig(methods=request.methods)
        if request.drift_share is not None:
            config = replace(config, drift_share=request.drift_share)
        result = detect_drift(profile, config)
        histograms = {h.feature: h for h in profile.histograms}
        current = _describe(request.current, window)
        versions: tuple[str, ...] = ()
        if request.current.captured:  # what the service served: its outputs' drift too, and who answered
            served = served_drift(deps.feature_profiler, request.current, window, config)
            result = merged(result, served, config.drift_share)
            histograms.update(served.histograms)
            versions = served.versions
            current += f"; model versions served: {', '.join(versions) or 'none'}; outputs against {served.baseline}"
        context = ReportContext(
            model=request.model,
            env=request.env,
            run_key=request.run_key,
            generated_at=now,
            reference=_describe(request.reference),
            current=current,
            drift_share=config.drift_share,
            history=_history(request, deps),
        )
        when = request.schedule_time or now
        # The job is in the name: two jobs of one model firing at the same time must not overwrite each other.
        prefix = f"drift/{request.model}/{request.env}/{when:%Y-%m-%d}/{when:%H%M%S}-{request.job}"
        report = ReportObjects(bucket, f"{prefix}-report.html", f"{prefix}-summary.json")
        deps.objects.put(
            report.bucket,
            report.html,
            render_html(context, result, histograms).encode(),
            content_type="text/html; charset=utf-8",
        )
        summary = render_json(context, result, histograms)
        if request.current.captured:
            summary["model_versions"] = list(versions)
        deps.objects.put(
            report.bucket,
            report.json,
            json.dumps(summary, allow_nan=False, indent=1).encode(),
            content_type="application/json",
        )
        drifted = [f.feature for f in result.features if f.drifted]
        deps.drift_runs.record(
            {
                "run_key": request.run_key,
                "model": request.model,
                "env": request.env,
                "job": request.job,
                "schedule_time": request.schedule_time.isoformat() if request.schedule_time else None,
                "started_at": now.isoformat(),
                "reference": context.reference,
                "current": context.current,
                "reference_rows": result.reference_rows,
                "current_rows": result.current_rows,
                "features": len(result.features),
                "drifted_features": drifted,
                "drifted_share": result.drifted_share,
                "drift_share_threshold": config.drift_share,
                "dataset_drifted": result.dataset_drifted,
                "report_uri": report.uri(report.html),
                "summary_uri": report.uri(report.json),
                "feature_scores": feature_scores(result),
            }
        )
        reference_cache.commit()
        if result.dataset_drifted:
            deps.notifier.post(render_alert(request, result, report))
        return {
            "dataset_drifted": result.dataset_drifted,
            "drifted": drifted,
            "features": len(result.features),
            "current_rows": result.current_rows,
            "report": report.uri(report.html),
            "versions": list(versions),
        }

    fresh, result = run_once(deps.idempotency, key, run, clock=deps.clock, claim_ttl_s=deps.settings.claim_ttl_s)
    label = f"{request.model} ({request.env})"
    if not fresh:
        return Outcome.duplicate(f"drift run {request.run_key} already reported", key=key)
    if result["current_rows"] == 0:
        return Outcome.applied(f"{label}: no data in the current window; report {result['report']}", key=key)
    verdict = (
        f"DRIFT in {len(result['drifted'])} of {result['features']} features ({', '.join(result['drifted'][:8])})"
        if result["dataset_drifted"]
        else f"no dataset drift ({len(result['drifted'])} of {result['features']} features drifted)"
    )
    served = f"; versions served: {', '.join(result['versions'])}" if result.get("versions") else ""
    return Outcome.applied(
        f"{label}: {verdict}{served}; report {result['report']}", key=key, **{"drifted": result["drifted"]}
    )
