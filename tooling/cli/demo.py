"""`mlops-events demo`: the main job on the embedded profile, every saved event replayed in order."""

from __future__ import annotations

import html
import os
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
@click.option("--reset", is_flag=True, help="start from an empty registry (deletes the state dir's databases)")
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
        ):
            for suffix in ("", "-wal", "-shm"):
                (settings.state_dir / f"{name}{suffix}").unlink(missing_ok=True)
        for name in ("slack-outbox.jsonl", "rollouts.jsonl", "dry-run-cluster.json"):
            (settings.state_dir / name).unlink(missing_ok=True)
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
    # The fixtures hold bad events on purpose: their rejections are the demo's, not a failure of it.
    sys.exit(EXIT_NOT_PROCESSED if exit_code(counts) == EXIT_NOT_PROCESSED else EXIT_DONE)


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
