"""`mlops-events`: replay saved events, inspect the registry, generate events, run the demo, build deploy bundles."""

from __future__ import annotations

import html
import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from shared.cli.local_cloud import trigger, up
from shared.config import PROFILES

_STATE_DIR_HELP = "where local state lives (env MLOPS_EVENTS_STATE_DIR, default .mlops-events/)"

# Exit codes of the commands that report event outcomes (replay, demo); the README's CLI section lists them.
# 1 stays a failure of the command itself (click's ClickException), 2 click's usage error.
EXIT_DONE = 0  # applied, duplicate, ignored (with --url also delivered)
EXIT_REJECTED = 3  # bad input: an event was rejected (acknowledged, never redelivered)
EXIT_NOT_PROCESSED = 4  # retry or error: nothing was processed; send it again once the cause is fixed
_DONE = frozenset({"applied", "duplicate", "ignored", "delivered"})


def outcome_exit_code(outcome: str) -> int:
    """An outcome this CLI does not know (a served function's own word) counts as not processed."""
    return EXIT_DONE if outcome in _DONE else EXIT_REJECTED if outcome == "rejected" else EXIT_NOT_PROCESSED


def exit_code(outcomes: Iterable[str]) -> int:
    """The worst outcome's code: not processed, then rejected, then done."""
    return max((outcome_exit_code(o) for o in outcomes), default=EXIT_DONE)


def _apply_profile(profile: str | None, state_dir: Path | None) -> None:
    """Functions read their settings from the environment, in this process as in the cloud."""
    if profile:
        os.environ["MLOPS_EVENTS_PROFILE"] = profile
    if state_dir:
        os.environ["MLOPS_EVENTS_STATE_DIR"] = str(state_dir)


def _route_function_logs(verbose: bool) -> tuple[Path, TextIO]:
    """Function logs go to a file (or stderr with -v) so stdout stays one JSON line per event."""
    from shared.config import load_settings
    from shared.log import configure_logging

    log_path = load_settings().state_dir / "logs" / "functions.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = sys.stderr if verbose else log_path.open("a", encoding="utf-8")
    configure_logging(stream, force=True)
    _route_library_logs(stream)
    return log_path, stream


def _route_library_logs(stream: TextIO) -> None:
    """What the functions' libraries log (slack_sdk's failed request, Flask's "Exception on /") goes where
    the functions' own lines go: with no handler, Python prints it on stderr, and without -v stderr shows
    nothing of a function (its outcome line says what happened). Removed when the command ends."""
    from shared.log import JsonFormatter
    from shared.secret_values import add_filter

    handler = add_filter(logging.StreamHandler(stream))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    click.get_current_context().call_on_close(lambda: root.removeHandler(handler))


def profile_options(command):
    command = click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)(command)
    command = click.option(
        "--profile", type=click.Choice(PROFILES), help="backend profile (env MLOPS_EVENTS_PROFILE, default embedded)"
    )(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Event-driven functions that run an ML platform on GCP and AWS by themselves."""
    # Everything the CLI prints goes through the same redaction as the logs: a replayed function's outcome
    # detail, an error message, must not show a secret the process loaded (a webhook URL from the env).
    from shared.secret_values import redact_standard_streams

    redact_standard_streams()


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http:// or https:// URL, got {value!r}")
    return value


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--function", "function", help="send every file to this function instead of the manifest's choice")
@click.option(
    "--url",
    callback=_http_url,
    help="send to a function already served there (functions-framework, or a Lambda Invoke API "
    "http://HOST:PORT/2015-03-31/functions/NAME/invocations) instead of running it in this process",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="seconds to wait for each answer (with --url)",
)
@click.option("-v", "--verbose", is_flag=True, help="show the functions' own log lines on stderr")
@profile_options
def replay(
    files: tuple[Path, ...],
    function: str | None,
    url: str | None,
    timeout_s: float,
    verbose: bool,
    profile: str | None,
    state_dir: Path | None,
):
    """Send saved events through the real functions-framework app of their function, or to a served one (--url).

    Prints one JSON line per event (with --url also "url" and "http_status"; a CloudEvent function's 200 is
    outcome "delivered": its outcome is in its own log). Exit code, the worst event's: 0 applied, duplicate,
    ignored or delivered; 3 rejected (bad input); 4 retry or error (not processed); 2 is a usage error.
    """
    outcomes = set()
    for result in _replayed(files, function, url, timeout_s, verbose, profile, state_dir):
        outcomes.add(result.outcome)
        line = result.as_dict() if url is None else {**result.as_dict(), "url": url, "http_status": result.http_status}
        click.echo(json.dumps(line))
    sys.exit(exit_code(outcomes))


def _replayed(files, function, url, timeout_s, verbose, profile, state_dir):
    """Over HTTP to the function served at `url`, else in this process with the profile's backends."""
    from shared.replay import Replayer, replay_to_url

    if url:
        for path in files:
            yield replay_to_url(path, url, function, timeout_s=timeout_s)
        return
    _apply_profile(profile, state_dir)
    _, log_stream = _route_function_logs(verbose)
    replayer = Replayer(lambda_stdout=log_stream)
    for path in files:
        yield replayer.replay_file(path, function)


@cli.command("functions")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def functions_command(as_json: bool) -> None:
    """List the functions of the manifest and their triggers."""
    from shared.manifest import load_manifest

    specs = load_manifest()
    if as_json:
        click.echo(json.dumps([{**s.__dict__} for s in specs], default=str, indent=2))
        return
    for spec in specs:
        trigger = spec.trigger
        what = ", ".join(spec.event_types) or trigger.get("kind", "?")
        extra = f" schedule {trigger['schedule']!r}" if "schedule" in trigger else ""
        extra += f" bucket {trigger['filters']['bucket']}" if "filters" in trigger else ""
        click.echo(f"{spec.name:<22} {spec.platform:<13} {spec.source}:{spec.entry_point}")
        click.echo(f"{'':<22} on {what}{extra}; {len(spec.fixture_files())} fixtures")


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "build_all", is_flag=True, help="every function of the manifest")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("dist"), show_default=True, help="output folder"
)
@click.option("--no-vendor", is_flag=True, help="do not install a Lambda bundle's distributions (a quick look)")
def build(names: tuple[str, ...], build_all: bool, out_dir: Path, no_vendor: bool) -> None:
    """Write each function's deploy bundle: OUT/<function>/ (what Terraform deploys) and OUT/<function>.zip."""
    from shared.bundle import build_bundle
    from shared.errors import ConfigError
    from shared.manifest import function_named, load_manifest

    specs = load_manifest()
    if build_all == bool(names):
        raise click.UsageError("name the functions to build, or pass --all")
    try:
        chosen = specs if build_all else [function_named(name, specs) for name in names]
        for spec in chosen:
            bundle = build_bundle(spec, out_dir, vendor=not no_vendor)
            resolved = bundle.resolved
            click.echo(
                f"{spec.name:<20} {spec.platform:<13} {len(resolved.plan.modules):>3} modules "
                f"{len(resolved.pinned):>3} distributions {bundle.size_bytes / 1e6:>6.1f} MB  "
                f"{bundle.zip_path} sha256:{bundle.sha256[:12]}"
            )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@cli.group()
def registry() -> None:
    """Read the model registry of a profile."""


@registry.command("list")
@click.option("--env", help="only this environment")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@profile_options
def registry_list(env: str | None, as_json: bool, profile: str | None, state_dir: Path | None) -> None:
    """Every registered model with its latest version."""
    from shared.deps import current_deps

    _apply_profile(profile, state_dir)
    models = current_deps().registry.list_models(env)
    if as_json:
        click.echo(json.dumps([m.as_dict() for m in models], indent=2))
        return
    if not models:
        click.echo("no models registered")
        return
    click.echo(f"{'ENV':<10} {'MODEL':<24} {'LATEST':<7} {'VERSIONS':<16} UPDATED")
    for m in models:
        latest = f"v{m.latest_version}" if m.latest_version is not None else "-"
        versions = ",".join(f"v{v}" for v in m.versions) or "-"
        click.echo(f"{m.env:<10} {m.model:<24} {latest:<7} {versions:<16} {m.updated_at}")


@registry.command("show")
@click.argument("model")
@click.option("--env", help="only this environment")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@profile_options
def registry_show(model: str, env: str | None, as_json: bool, profile: str | None, state_dir: Path | None) -> None:
    """Every registered object version of MODEL."""
    from shared.deps import current_deps

    _apply_profile(profile, state_dir)
    rows = current_deps().registry.artifacts(model, env)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"model {model!r} is not registered")
        sys.exit(1)
    for row in rows:
        state = "deleted" if row["deleted_at"] else "superseded" if row["superseded_by_generation"] else "live"
        fmt = row["format"] + (" UNSAFE" if row["format_unsafe"] else "")
        click.echo(
            f"{row['env']:<8} v{row['version']:<4} {row['path']:<28} {fmt:<18} "
            f"gen {row['generation']} {state:<10} {row['size'] or 0:>8} B  by {row['uploader'] or '-'}"
        )


@cli.group("generate-event")
def generate_event() -> None:
    """Print a valid event, ready for `replay` (the spirit of `sam local generate-event`)."""


def _mode_option(command):
    return click.option(
        "--mode", type=click.Choice(["structured", "binary", "legacy"]), default="structured", show_default=True
    )(command)


def _storage_event(
    event_type: str,
    bucket: str,
    name: str,
    file: Path | None,
    generation: int | None,
    metadata: tuple[str, ...],
    content_type: str,
    event_id: str | None,
    mode: str,
) -> None:
    from shared.event_factory import render, storage_cloud_event, storage_object_data

    now = datetime.now(UTC)
    pairs = dict(item.split("=", 1) for item in metadata)
    data = storage_object_data(
        bucket,
        name,
        generation=generation or int(now.timestamp() * 1_000_000),
        content=file.read_bytes() if file else None,
        content_type=content_type,
        metadata=pairs,
        time_created=now,
    )
    click.echo(json.dumps(render(storage_cloud_event(event_type, data, event_id=event_id, time=now), mode), indent=2))


def _storage_command(name: str, event_type: str, doc: str):
    @generate_event.command(name, help=doc)
    @click.option("--bucket", required=True, help="e.g. ml-models-dev")
    @click.option("--name", "object_name", required=True, help="object name, e.g. my-model/v1/model.safetensors")
    @click.option(
        "--file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="take size, md5Hash and crc32c from this local file",
    )
    @click.option("--generation", type=int, help="object generation (default: now in microseconds)")
    @click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="custom metadata, repeatable")
    @click.option("--content-type", default="application/octet-stream", show_default=True)
    @click.option("--id", "event_id", help="CloudEvent id (default: random)")
    @_mode_option
    def command(bucket, object_name, file, generation, metadata, content_type, event_id, mode):
        bad = [m for m in metadata if "=" not in m]
        if bad:
            raise click.BadParameter(f"expected KEY=VALUE, got {bad[0]!r}", param_hint="--metadata")
        _storage_event(event_type, bucket, object_name, file, generation, metadata, content_type, event_id, mode)

    return command


_storage_command("gcs-finalize", "google.cloud.storage.object.v1.finalized", "A Cloud Storage object finalized event.")
_storage_command("gcs-delete", "google.cloud.storage.object.v1.deleted", "A Cloud Storage object deleted event.")
_storage_command(
    "gcs-archive",
    "google.cloud.storage.object.v1.archived",
    "A Cloud Storage object archived event: on a versioned bucket, the live object deleted or overwritten.",
)


def _json_payload(ctx: click.Context, param: click.Parameter, value: str) -> object:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


def _schedule_time(now: datetime, value: datetime | None) -> datetime:
    """Cloud Scheduler fires on the minute; a naive time given on the command line is UTC."""
    return value.replace(tzinfo=value.tzinfo or UTC) if value else now.replace(second=0, microsecond=0)


@generate_event.command("scheduler")
@click.option("--job", required=True, help="the Cloud Scheduler job")
@click.option("--topic", help="the topic the job publishes to (default: the job's name)")
@click.option("--payload", default="{}", show_default=True, callback=_json_payload, help="the job's JSON body")
@click.option("--id", "event_id", help="CloudEvent id (default: random)")
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured", show_default=True)
def scheduler_event(job: str, topic: str | None, payload: object, event_id: str | None, mode: str) -> None:
    """A Cloud Scheduler run delivered through Pub/Sub (messagePublished)."""
    from shared.event_factory import pubsub_cloud_event, render

    now = datetime.now(UTC)
    attributes = {"scheduler_job": job, "schedule_time": _schedule_time(now, None).strftime("%Y-%m-%dT%H:%M:%SZ")}
    event = pubsub_cloud_event(payload, topic=topic or job, attributes=attributes, event_id=event_id, time=now)
    click.echo(json.dumps(render(event, mode), indent=2))


@generate_event.command("scheduler-http")
@click.option("--job", required=True, help="the Cloud Scheduler job (X-CloudScheduler-JobName)")
@click.option("--payload", default="{}", show_default=True, callback=_json_payload, help="the job's JSON body")
@click.option(
    "--schedule-time",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    help="X-CloudScheduler-ScheduleTime, UTC (default: this minute)",
)
@click.option("--run-now", is_flag=True, help="no schedule time, as a job forced from the console")
def scheduler_http_event(job: str, payload: object, schedule_time: datetime | None, run_now: bool) -> None:
    """A Cloud Scheduler HTTP target's call (the drift_report_http function), as a {"headers", "body"} fixture."""
    from shared.event_factory import scheduler_http_request

    if run_now and schedule_time:
        raise click.UsageError("--run-now and --schedule-time exclude each other")
    when = None if run_now else _schedule_time(datetime.now(UTC), schedule_time)
    click.echo(json.dumps(scheduler_http_request(job, payload, schedule_time=when), indent=2))


_MONEY = click.FloatRange(min=0)


@generate_event.command("budget")
@click.option("--budget-id", required=True, help="the budget's id (attribute budgetId)")
@click.option("--amount", type=_MONEY, required=True, help="the budget amount")
@click.option("--cost", type=_MONEY, required=True, help="the cost so far in the interval")
@click.option("--threshold", type=_MONEY, help="the crossed threshold as a fraction (0.5 = 50%); none: a routine one")
@click.option("--forecast", is_flag=True, help="the threshold was crossed by the forecast, not the actual cost")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code")
@click.option("--name", "display_name", default="ml-platform", show_default=True, help="budgetDisplayName")
@click.option("--interval-start", type=click.DateTime(["%Y-%m-%d"]), help="costIntervalStart (default: this month)")
@click.option("--billing-account", default="01D4EE-079462-DFD6EC", show_default=True, help="billingAccountId")
@click.option("--topic", default="billing-budget-alerts", show_default=True, help="the budget's Pub/Sub topic")
@click.option("--id", "event_id", help="CloudEvent id (default: random)")
@click.option("--mode", type=click.Choice(["structured", "binary"]), default="structured", show_default=True)
def budget_event(
    budget_id: str,
    amount: float,
    cost: float,
    threshold: float | None,
    forecast: bool,
    currency: str,
    display_name: str,
    interval_start: datetime | None,
    billing_account: str,
    topic: str,
    event_id: str | None,
    mode: str,
) -> None:
    """A Cloud Billing budget notification delivered through the budget's topic (messagePublished)."""
    from shared.event_factory import budget_cloud_event, budget_notification_data, render

    now = datetime.now(UTC)
    start = interval_start.replace(tzinfo=UTC) if interval_start else now.replace(day=1, hour=0, minute=0, second=0)
    try:
        data = budget_notification_data(
            display_name=display_name,
            amount=amount,
            cost=cost,
            interval_start=start,
            currency=currency.upper(),
            threshold=threshold,
            forecast=forecast,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    event = budget_cloud_event(
        data, budget_id=budget_id, billing_account=billing_account, topic=topic, event_id=event_id, time=now
    )
    click.echo(json.dumps(render(event, mode), indent=2))


@generate_event.command("ecr-push")
@click.option("--repository", required=True, help="the ECR repository name, e.g. ml/inference")
@click.option("--digest", help="the image digest sha256:<64 hex> (default: a random one)")
@click.option("--tag", help="the pushed tag (omit for a push by digest)")
@click.option("--action", type=click.Choice(["PUSH", "DELETE"]), default="PUSH", show_default=True)
@click.option("--result", type=click.Choice(["SUCCESS", "FAILURE"]), default="SUCCESS", show_default=True)
@click.option("--account", default="123456789012", show_default=True)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--id", "event_id", help="EventBridge event id (default: random)")
def ecr_push_event(repository, digest, tag, action, result, account, region, event_id) -> None:
    """An ECR Image Action event, as EventBridge delivers it to the rollout Lambda."""
    import hashlib
    import re
    import uuid

    from shared.event_factory import ecr_image_action_event

    digest = digest or "sha256:" + hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise click.BadParameter("expected sha256: and 64 lowercase hex digits", param_hint="--digest")
    event = ecr_image_action_event(
        repository, digest, tag=tag, action=action, result=result, account=account, region=region, event_id=event_id
    )
    click.echo(json.dumps(event, indent=2))


@cli.command()
@click.option("--reset", is_flag=True, help="start from an empty registry (deletes the state dir's databases)")
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="show the functions' own log lines on stderr")
def demo(reset: bool, state_dir: Path | None, verbose: bool) -> None:
    """Run every saved fixture through its function on the embedded profile, then show the registry.

    Exit 0; 4 when an event was not processed (retry or error). The fixtures' rejections are on purpose."""
    from shared.adapters.slack_outbox import read_outbox
    from shared.config import load_settings
    from shared.demo import run_demo
    from shared.manifest import REPO_ROOT

    _apply_profile("embedded", state_dir)
    # The demo's rollout is a dry run on the sample targets: a KUBECONFIG in the shell must not make
    # it patch a real cluster.
    os.environ.setdefault("MLOPS_EVENTS_ROLLOUT_TARGETS_FILE", str(REPO_ROOT / "events" / "ecr" / "targets.yaml"))
    for variable in ("KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG", "MLOPS_EVENTS_KUBECONFIG_SECRET"):
        os.environ.pop(variable, None)
    settings = load_settings()
    if reset:
        for name in (
            "registry.sqlite",
            "idempotency.sqlite",
            "alerts.sqlite",
            "monitoring.sqlite",
            "rollout-idempotency.sqlite",
        ):
            for suffix in ("", "-wal", "-shm"):
                (settings.state_dir / f"{name}{suffix}").unlink(missing_ok=True)
        for name in ("slack-outbox.jsonl", "rollouts.jsonl", "dry-run-cluster.json"):
            (settings.state_dir / name).unlink(missing_ok=True)
    log_path, log_stream = _route_function_logs(verbose)
    outbox_before = len(read_outbox(settings.slack_outbox))
    journal_before = _journal_length(settings.state_dir / "rollouts.jsonl")
    seeded, results, replayer = run_demo(settings.buckets_dir, lambda_stdout=log_stream)
    click.echo(f"seeded {seeded} sample model files into {settings.buckets_dir}/")
    click.echo(f"replaying {len(results)} events through their functions (embedded profile):\n")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
        click.echo(f"  {r.outcome:<9} {Path(r.event).name:<54} {r.detail[:110]}")
    click.echo("\n" + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())))
    click.echo(f"function logs: {log_path}\n")
    ctx = click.get_current_context()
    ctx.invoke(registry_list, env=None, as_json=False, profile=None, state_dir=None)
    posted = read_outbox(settings.slack_outbox)[outbox_before:]
    where = "a real Slack webhook" if settings.slack_webhook_url else f"the outbox {settings.slack_outbox}"
    click.echo(f"\nSlack messages posted to {where}: {len(posted)}")
    for payload in posted:
        click.echo(f"  - {html.unescape(payload.get('text', ''))}")
    reports = sorted(settings.buckets_dir.glob("ml-drift-logs-*/drift/**/*-report.html"))
    click.echo(f"\nDrift reports ({len(reports)}), open them in a browser:")
    for report in reports:
        click.echo(f"  - {report}")
    _show_rollout_plans(settings.state_dir / "rollouts.jsonl", journal_before)
    _show_inference(settings, replayer)
    # The fixtures hold bad events on purpose: their rejections are the demo's, not a failure of it.
    sys.exit(EXIT_NOT_PROCESSED if exit_code(counts) == EXIT_NOT_PROCESSED else EXIT_DONE)


def _show_inference(settings, replayer) -> None:
    from shared.demo import serve_demo_model

    click.echo("\nInference: training the demo model, registering it as fraud-detector v3, serving it...")
    served = serve_demo_model(settings.state_dir, settings.buckets_dir, replayer)
    if served is None:
        click.echo("  skipped: torch is not installed (pip install torch==2.13.0)")
        return
    ready, prediction = served["ready"], served["prediction"]
    metrics = ready.get("trained", {}).get("metrics", {})
    click.echo(
        f"  {served['url']} is serving {ready['model']} v{ready['version']}"
        f" (held-out AUC {metrics.get('auc', float('nan')):.3f}; features {', '.join(ready['features'])})"
    )
    for row, probability in zip(served["rows"], prediction["predictions"], strict=True):
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        click.echo(f"  POST /predict  {shown}  ->  {prediction['output']} {probability:.3f}")
    drift = served["drift"]
    click.echo(
        f"  GET /monitoring/drift  -> last run {drift.get('run_key')}: dataset drifted {drift.get('dataset_drifted')},"
        f" features {', '.join(drift.get('drifted_features') or []) or '-'}"
    )
    click.echo(f"  GET /feedback/stats  -> {served['feedback']['labels']} label(s) recorded")


def _journal_length(path: Path) -> int:
    from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal

    return len(JsonlRolloutJournal(path).entries())


def _show_rollout_plans(path: Path, before: int) -> None:
    """The ECR rollouts of this run, as the dry run recorded them (no cluster on the embedded profile)."""
    from shared.adapters.jsonl_rollout_journal import JsonlRolloutJournal

    entries = JsonlRolloutJournal(path).entries()[before:]
    click.echo(f"\nRollout plans ({len(entries)}) recorded in {path} (dry run, no cluster):")
    for entry in entries:
        old_image = entry.get("old_image") or ""
        old = old_image.rsplit("@", 1)[1][:19] if "@" in old_image else "unknown"
        new = entry["new_image"].rsplit("@", 1)[-1][:19]
        click.echo(
            f"  {entry['status']:<8} {entry['target']:<34} {entry.get('old_tag') or '-':>12} {old:<19}"
            f" -> {entry.get('new_tag') or '(untagged)':>12} {new}"
        )


cli.add_command(up)  # the local cloud's commands live in their own module
cli.add_command(trigger)


def main() -> None:
    cli(prog_name="mlops-events")


if __name__ == "__main__":
    main()
