"""`mlops-events demo`: the main job on the embedded profile, every saved event replayed in order."""

from __future__ import annotations

import html
import os
import shutil
import sys
from pathlib import Path

import click

from tooling.cli.options import (
    EXIT_DONE,
    EXIT_NOT_PROCESSED,
    STATE_DIR_HELP,
    apply_profile,
    exit_code,
    route_function_logs,
)
from tooling.cli.registry import registry_list


@click.command()
@click.option(
    "--reset",
    is_flag=True,
    help="start from scratch: deletes the state dir's databases, outbox, journals and buckets (keeps trained models)",
)
@click.option("--state-dir", type=click.Path(path_type=Path), help=STATE_DIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="show the functions' own log lines on stderr")
def demo(reset: bool, state_dir: Path | None, verbose: bool) -> None:
    """Run every saved fixture through its function on the embedded profile, then show the registry.

    Exit 0; 4 when an event was not processed (retry or error). The fixtures' rejections are on purpose."""
    from shared.adapters.slack_outbox import read_outbox
    from shared.config import load_settings
    from tooling.demo import run_demo
    from tooling.manifest import REPO_ROOT

    apply_profile("embedded", state_dir)
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
            "feedback.sqlite",
        ):
            for suffix in ("", "-wal", "-shm"):
                (settings.state_dir / f"{name}{suffix}").unlink(missing_ok=True)
        for name in ("slack-outbox.jsonl", "rollouts.jsonl", "dry-run-cluster.json"):
            (settings.state_dir / name).unlink(missing_ok=True)
        # The buckets too: the versions, captures and reports a previous run left would otherwise be found by
        # the replayed reconcile pass and served as the newest versions, and this run would differ from the first.
        # Only the state dir's own: a buckets dir set elsewhere (MLOPS_EVENTS_LOCAL_BUCKETS_DIR) is the user's.
        if settings.buckets_dir.resolve() == (settings.state_dir / "buckets").resolve():
            shutil.rmtree(settings.buckets_dir, ignore_errors=True)
    log_path, log_stream = route_function_logs(verbose)
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
    _show_ct_inference(settings, replayer)
    looped = _show_loop(settings, replayer)
    # The fixtures hold bad events on purpose: their rejections are the demo's, not a failure of it.
    sys.exit(EXIT_NOT_PROCESSED if exit_code(counts) == EXIT_NOT_PROCESSED or not looped else EXIT_DONE)


def _show_inference(settings, replayer) -> None:
    from tooling.demo import serve_demo_model

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


def _show_ct_inference(settings, replayer) -> None:
    from tooling.demo import serve_ct_demo_model

    click.echo("\nImages: training the CT model on synthetic slices, registering it as ct-scan-classifier v1...")
    served = serve_ct_demo_model(settings.state_dir, settings.buckets_dir, replayer)
    if served is None:
        click.echo("  skipped: torch is not installed (pip install torch==2.13.0)")
        return
    ready, answer = served["ready"], served["prediction"]
    metrics = ready.get("trained", {}).get("metrics", {}) or ready.get("metrics", {})
    click.echo(
        f"  {served['url']} is serving {ready.get('model')} v{ready.get('version')}"
        f" (held-out AUC {metrics.get('auc', float('nan')):.3f})"
    )
    for path, found in zip(served["samples"], answer.get("predictions", []), strict=False):
        click.echo(f"  POST /predict  -F file=@{path}  ->  {found.get('label')} {found.get('confidence', 0):.3f}")
    click.echo(
        f"  the slices are DICOM files: send your own with curl -F file=@{served['samples'][0]} {served['url']}/predict"
    )


def _show_loop(settings, replayer) -> bool:
    """The loop: served traffic captured, drift on it, a new version through the gate, the service following
    the alias, a rollback. False when a step of it failed (the demo then exits 4)."""
    from shared.adapters.slack_outbox import read_outbox
    from tooling.demo_loop import ALIAS, ENV, MODEL, LoopFailed, run_loop

    click.echo(f"\nThe loop: {MODEL} {ALIAS} served and captured, drift on what was served, a new version")
    click.echo("through the quality gate, the service following its alias, a rollback (in this process, no server):")
    posted = len(read_outbox(settings.slack_outbox))
    try:
        loop = run_loop(settings.state_dir, settings.buckets_dir, replayer)
    except LoopFailed as exc:
        click.echo(f"  the loop stopped: {exc}")
        return False
    if loop is None:
        click.echo("  skipped: torch is not installed (pip install torch==2.13.0)")
        return True
    first, drift, gate = loop.first_gate, loop.drift, loop.new_gate
    click.echo(f"  v{first.version}/metrics.json -> evaluate_model: {_after_model(first.detail)}")
    folder = loop.capture_files[0].parent.parent if loop.capture_files else settings.buckets_dir
    click.echo(
        f"  MODEL_ALIAS={ALIAS} serves v{loop.served.version}: answered {loop.captured_rows} rows (half like the"
        f" reference, then half shifted), every row captured as Parquet under {folder}/"
    )
    click.echo(
        f"  drift_report on the captured window ({drift.current_rows} rows served_at after the shift):"
        f" features drifted: {', '.join(drift.drifted_features) or 'none'}"
    )
    click.echo(
        f"    prediction drift: {_names(drift.prediction_drift)}; confidence drift: {_names(drift.confidence_drift)};"
        f" versions in the window: {', '.join(drift.versions) or 'none'}"
    )
    click.echo(f"    report: {drift.report}")
    compared = ", ".join(
        f"{c['metric']} {c['champion']} -> {c['candidate']} {c['verdict']}"
        for c in gate.comparisons
        if c.get("champion") is not None and c.get("candidate") is not None
    )
    click.echo(f"  v{gate.version} (retrained) uploaded with its metrics.json -> register_model, evaluate_model:")
    click.echo(f"    {_after_model(gate.detail)}{f' ({compared})' if compared else ''}")
    aliases = ", ".join(f"{name} v{version}" for name, version in sorted(gate.aliases.items()))
    click.echo(
        f"  the same service, no restart: POST /predict -> v{loop.after_gate.version}"
        f" ({loop.after_gate.probability:.3f}); {ENV} aliases: {aliases}"
    )
    click.echo(f"  registry alias set {MODEL} {ALIAS} {loop.after_rollback.version} --env {ENV}: {loop.rollback}")
    click.echo(
        f"  POST /predict -> v{loop.after_rollback.version} ({loop.after_rollback.probability:.3f}):"
        " a rollback is an alias move"
    )
    if not settings.slack_webhook_url:
        posted = len(read_outbox(settings.slack_outbox)) - posted
        click.echo(f"  Slack: {posted} more messages in {settings.slack_outbox} (the drift alert, the gate's tables)")
    return True


def _after_model(detail: str) -> str:
    """evaluate_model's outcome line without its leading `fraud-detector vN (dev) `."""
    head, _, rest = detail.partition(") ")
    return rest if rest and head.count("(") == 1 else detail


def _names(drifted: list[str]) -> str:
    return ", ".join(name.split(": ", 1)[1] for name in drifted) or "none"


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
