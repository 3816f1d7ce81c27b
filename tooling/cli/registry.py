"""`mlops-events registry list|show|alias`: read the model registry of a profile, and move its aliases."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from tooling.cli.options import apply_profile, profile_options


@click.group()
def registry() -> None:
    """Read the model registry of a profile, and move its aliases."""


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
    store = current_deps().registry
    rows = store.artifacts(model, env)
    aliases = store.aliases(model, env) if rows else []
    if as_json:
        # Each row names the aliases pointing at its version in its env: the list keeps its shape.
        pointing: dict[tuple[str, int], list[str]] = {}
        for a in aliases:
            pointing.setdefault((a.env, a.version), []).append(a.alias)
        rows = [row | {"aliases": pointing.get((row["env"], int(row["version"])), [])} for row in rows]
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
    for a in aliases:
        click.echo(f"{a.env:<8} {a.alias} -> v{a.version}  (moved {a.moved_at} by {a.moved_by})")


@registry.group("alias")
def alias_group() -> None:
    """Named pointers to a version per model and env (champion, candidate, ...). A rollback is an alias move."""


def _version(ctx: click.Context, param: click.Parameter, value: str) -> int:
    found = re.fullmatch(r"v?([0-9]{1,18})", value.strip())
    if not found:
        raise click.BadParameter(f"{value!r} is not a version (3 or v3)")
    return int(found.group(1))


def _actor(by: str | None, profile: str) -> str:
    """Who moves the alias: --by, else the service account the cloud credentials name, else the local user."""
    if by is not None:
        if not by.strip() or len(by) > 256 or any(not c.isprintable() for c in by):
            raise click.BadParameter("must be 1-256 printable characters", param_hint="--by")
        return by.strip()
    if profile == "cloud":
        import google.auth

        credentials, _ = google.auth.default()
        email = getattr(credentials, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            return email
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        return "unknown"


@alias_group.command("set")
@click.argument("model")
@click.argument("alias")
@click.argument("version", callback=_version)
@click.option("--env", required=True, help="the environment whose alias moves (prod, dev, ...)")
@click.option("--by", help="who moves it (default: the credentials' service account, else your user name)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@profile_options
def alias_set(
    model: str,
    alias: str,
    version: int,
    env: str,
    by: str | None,
    as_json: bool,
    profile: str | None,
    state_dir: Path | None,
) -> None:
    """Point ALIAS of MODEL in --env at VERSION (3 or v3); moving it back is a rollback."""
    from shared.deps import current_deps, utc_now
    from shared.model_registry import alias_name

    alias_name(alias)  # a bad name fails before any backend is asked
    apply_profile(profile, state_dir)
    deps = current_deps()
    result = deps.registry.set_alias(model, env, alias, version, by=_actor(by, deps.profile), at=utc_now())
    move = result.current
    if as_json:
        click.echo(json.dumps({"moved": result.moved, **move.as_dict()}, indent=2))
    elif result.moved:
        previous = _version_text(move.previous_version) if move.previous_version is not None else "(new)"
        click.echo(f"{env}/{model} {alias}: {previous} -> v{move.version} (by {move.moved_by})")
    else:
        click.echo(f"{env}/{model} {alias} already points at v{move.version}: nothing recorded")


@alias_group.command("list")
@click.argument("model")
@click.option("--env", help="only this environment")
@click.option("--history", is_flag=True, help="every move, oldest first, instead of where each alias points")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@profile_options
def alias_list(
    model: str, env: str | None, history: bool, as_json: bool, profile: str | None, state_dir: Path | None
) -> None:
    """Where each alias of MODEL points, or (--history) who moved it when, from which version to which."""
    from shared.deps import current_deps

    apply_profile(profile, state_dir)
    store = current_deps().registry
    moves = store.alias_history(model, env) if history else store.aliases(model, env)
    if as_json:
        click.echo(json.dumps([m.as_dict() for m in moves], indent=2))
        return
    if not moves:
        click.echo(f"no aliases for {model!r}" + (f" in {env}" if env else ""))
        return
    click.echo(f"{'ENV':<10} {'ALIAS':<16} {'VERSION':<8} {'FROM':<8} {'MOVED AT':<33} BY")
    for m in moves:
        previous = _version_text(m.previous_version)
        click.echo(f"{m.env:<10} {m.alias:<16} v{m.version:<7} {previous:<8} {m.moved_at:<33} {m.moved_by}")


def _version_text(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"
