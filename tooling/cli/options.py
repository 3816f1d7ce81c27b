"""What the commands share: the profile options, exit codes by outcome, where function logs go."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import click

from shared.config import PROFILES

STATE_DIR_HELP = "where local state lives (env MLOPS_EVENTS_STATE_DIR, default .mlops-events/)"

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


def apply_profile(profile: str | None, state_dir: Path | None) -> None:
    """Functions read their settings from the environment, in this process as in the cloud."""
    if profile:
        os.environ["MLOPS_EVENTS_PROFILE"] = profile
    if state_dir:
        os.environ["MLOPS_EVENTS_STATE_DIR"] = str(state_dir)
    from shared.config import load_settings

    if load_settings().profile == "emulators":
        # A shell still sourcing a stopped `up`'s up.env: one line in milliseconds, not a minute of retries.
        from tooling.localcloud.reachability import check_emulators

        check_emulators(os.environ)


def route_function_logs(verbose: bool) -> tuple[Path, TextIO]:
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
    command = click.option("--state-dir", type=click.Path(path_type=Path), help=STATE_DIR_HELP)(command)
    command = click.option(
        "--profile", type=click.Choice(PROFILES), help="backend profile (env MLOPS_EVENTS_PROFILE, default embedded)"
    )(command)
    return command


def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http:// or https:// URL, got {value!r}")
    return value
