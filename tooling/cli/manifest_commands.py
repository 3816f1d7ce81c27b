"""`mlops-events functions` and `build`: the manifest's functions, listed and bundled for deploy."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("functions")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def functions_command(as_json: bool) -> None:
    """List the functions of the manifest: what triggers each (topic, bucket, job and its schedule, EventBridge
    rule), where its failures go, and its saved events."""
    from tooling.event_routes import subscription
    from tooling.localcloud.provision import scheduled_jobs
    from tooling.manifest import load_manifest

    specs = load_manifest()
    jobs = {spec.name: job for job, spec in scheduled_jobs(specs)}
    if as_json:
        listed = [
            {
                **s.__dict__,
                "takes": subscription(s).removeprefix(s.name).removeprefix(" to "),
                "topic": s.trigger.get("topic"),
                "job": jobs.get(s.name),
                "schedule": s.trigger.get("schedule") if s.name in jobs else None,
                "dead_letter_topic": s.retry.get("dead_letter_topic"),
            }
            for s in specs
        ]
        click.echo(json.dumps(listed, default=str, indent=2))
        return
    for spec in specs:
        trigger = spec.trigger
        takes = subscription(spec).removeprefix(spec.name).removeprefix(" to ")
        job = jobs.get(spec.name)
        schedule = f"; job {job} at {trigger['schedule']!r} ({trigger.get('time_zone', 'Etc/UTC')})" if job else ""
        dead = spec.retry.get("dead_letter_topic")
        failures = f"; failures to {dead}" if dead else ""
        click.echo(f"{spec.name:<22} {spec.platform:<13} {spec.source}:{spec.entry_point}")
        click.echo(f"{'':<22} takes {takes}{schedule}{failures}; {len(spec.fixture_files())} fixtures")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "build_all", is_flag=True, help="every function of the manifest")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("dist"), show_default=True, help="output folder"
)
@click.option("--no-vendor", is_flag=True, help="do not install a Lambda bundle's distributions (a quick look)")
def build(names: tuple[str, ...], build_all: bool, out_dir: Path, no_vendor: bool) -> None:
    """Write each function's deploy bundle: OUT/<function>/ (what Terraform deploys) and OUT/<function>.zip."""
    from shared.errors import ConfigError
    from tooling.bundle import build_bundle
    from tooling.manifest import function_named, load_manifest

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
