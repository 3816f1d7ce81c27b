"""`mlops-events functions` and `build`: the manifest's functions, listed and bundled for deploy."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("functions")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def functions_command(as_json: bool) -> None:
    """List the functions of the manifest and their triggers."""
    from tooling.event_routes import subscription
    from tooling.manifest import load_manifest

    specs = load_manifest()
    if as_json:
        click.echo(json.dumps([{**s.__dict__} for s in specs], default=str, indent=2))
        return
    for spec in specs:
        trigger = spec.trigger
        takes = subscription(spec).removeprefix(spec.name).removeprefix(" to ")
        job = trigger.get("attributes", {}).get("scheduler_job") or (
            spec.name.replace("_", "-") if "schedule" in trigger else None
        )
        schedule = f"; job {job} at {trigger['schedule']!r} ({trigger.get('time_zone', 'UTC')})" if job else ""
        click.echo(f"{spec.name:<22} {spec.platform:<13} {spec.source}:{spec.entry_point}")
        click.echo(f"{'':<22} takes {takes}{schedule}; {len(spec.fixture_files())} fixtures")


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
