"""`mlops-events registry list|show`: read the model registry of a profile."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tooling.cli.options import apply_profile, profile_options


@click.group()
def registry() -> None:
    """Read the model registry of a profile."""


@registry.command("list")
@click.option("--env", help="only this environment")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@profile_options
def registry_list(env: str | None, as_json: bool, profile: str | None, state_dir: Path | None) -> None:
    """Every registered model with its latest version."""
    from shared.deps import current_deps

    apply_profile(profile, state_dir)
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

    apply_profile(profile, state_dir)
    rows = current_deps().registry.artifacts(model, env)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        if not rows:  # as the text form: an unknown model is a failure of the command
            sys.exit(1)
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
