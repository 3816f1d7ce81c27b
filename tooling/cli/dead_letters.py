"""`mlops-events dead-letters list|redrive`: what the functions' retries gave up on, and sending it again.

Reads the running `mlops-events up` of the state dir by default (its up.json), the deployed platform with
`--cloud`. Exit codes: 0 done; 1 the command failed (no local cloud, an unknown function or message id, a
hold that could not be read: whatever could be read is still printed); 2 usage; 4 a message could not be
sent again (it stays in its hold; send it again once the cause is fixed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tooling.cli.options import EXIT_NOT_PROCESSED, STATE_DIR_HELP

EXIT_FAILED = 1


def _where(command: Any) -> Any:
    """The options that say which platform's holds: the local cloud (default) or the cloud."""
    options = [
        click.option("--function", "function", help="only the hold of this function"),
        click.option("--state-dir", type=click.Path(path_type=Path), help=STATE_DIR_HELP),
        click.option("--cloud", is_flag=True, help="the deployed platform instead of the running `mlops-events up`"),
        click.option("--project", help="with --cloud: the GCP project (default: GOOGLE_CLOUD_PROJECT, then gcloud's)"),
        click.option(
            "--env", default="dev", show_default=True, help="with --cloud: the environment of the Lambda's queue"
        ),
        click.option("--aws-region", help="with --cloud: the Lambda's region (default: boto3's, AWS_REGION)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _place_and_holds(
    function: str | None, state_dir: Path | None, cloud: bool, project: str | None, env: str, aws_region: str | None
) -> tuple[Any, list[Any]]:
    from shared.config import load_settings
    from tooling.dead_letters.connect import cloud_place, local_place
    from tooling.dead_letters.holds import locate
    from tooling.manifest import load_manifest

    if not cloud and (project or aws_region):
        raise click.UsageError("--project and --aws-region are for --cloud")
    # The holds first: an unknown --function is told before any client is built or up.json is read.
    holds = locate(load_manifest(), function=function, queue_suffix=f"-{env}" if cloud else "")
    place = cloud_place(project, env, aws_region) if cloud else local_place(state_dir or load_settings().state_dir)
    return place, holds


@click.group("dead-letters")
def dead_letters() -> None:
    """What the retries gave up on: list it, send it again (local cloud, or --cloud)."""


@dead_letters.command("list")
@_where
@click.option("--json", "as_json", is_flag=True, help="a JSON array, one object per message")
def list_command(as_json: bool, **where: Any) -> None:
    """Every message waiting in a dead-letter hold; nothing is taken out.

    Each: where it waits, the function it was for, its delivery attempts, when it was first published, and
    a preview of its data (cut, control characters escaped, secrets left out)."""
    from tooling.dead_letters.operations import list_letters

    place, holds = _place_and_holds(**where)
    letters, problems = list_letters(place, holds)
    if as_json:
        click.echo(json.dumps([letter.as_dict() for letter in letters], indent=2))
    elif not letters:
        click.echo(f"no dead letters in {', '.join(h.name for h in holds)} ({place.describe})")
    else:
        _print_table(letters)
    _report(problems)


def _print_table(letters: list[Any]) -> None:
    click.echo(f"{'HOLD':<36} {'FUNCTION':<18} {'ID':<20} {'ATTEMPTS':>8}  {'FIRST PUBLISHED':<24}  PREVIEW")
    for letter in letters:
        attempts = "-" if letter.attempts is None else str(letter.attempts)
        first = letter.first_published or "-"
        click.echo(
            f"{letter.hold:<36} {letter.function or '?':<18} {letter.id:<20} {attempts:>8}  {first:<24}  "
            f"{letter.preview[:100]}{'…' if len(letter.preview) > 100 else ''}"
        )
        if letter.error:
            click.echo(f"{'':<36} error: {letter.error}")
    click.echo(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}")


@dead_letters.command("redrive")
@_where
@click.option("--message", "messages", multiple=True, help="the id `list` shows (repeatable)")
@click.option("--all", "redrive_all", is_flag=True, help="every message of the holds (narrow with --function)")
@click.option("--json", "as_json", is_flag=True, help="one JSON line per message")
def redrive_command(messages: tuple[str, ...], redrive_all: bool, as_json: bool, **where: Any) -> None:
    """Send dead letters again, and take each out of its hold only once it was sent.

    A Pub/Sub message is republished to its function's trigger topic (its original data and attributes);
    a Lambda failure record invokes the Lambda again with the original event and is deleted once the
    function answered without an error."""
    from tooling.dead_letters.operations import redrive

    if bool(messages) == redrive_all:
        raise click.UsageError("name the messages with --message ID, or pass --all")
    place, holds = _place_and_holds(**where)
    results, problems = redrive(place, holds, ids=None if redrive_all else set(messages))
    for result in results:
        if as_json:
            click.echo(json.dumps(result.as_dict()))
        else:
            word = "redriven" if result.ok else "FAILED"
            click.echo(f"{word} {result.letter.hold} {result.letter.id} ({result.letter.function}): {result.detail}")
    if not results and not problems and not as_json:
        click.echo(f"no dead letters in {', '.join(h.name for h in holds)} ({place.describe})")
    _report(problems, failed=any(not r.ok for r in results))


def _report(problems: list[str], *, failed: bool = False) -> None:
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_FAILED)
    if failed:
        sys.exit(EXIT_NOT_PROCESSED)
