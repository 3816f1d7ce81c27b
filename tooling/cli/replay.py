"""`mlops-events replay`: saved events through their functions, in this process or to a served one."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tooling.cli.options import apply_profile, exit_code, http_url, profile_options, route_function_logs

if TYPE_CHECKING:
    from tooling.replay import ReplayResult


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--function", "function", help="send every file to this function instead of the manifest's choice")
@click.option(
    "--url",
    callback=http_url,
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

    Each event goes where the manifest's triggers send it in the cloud (a Pub/Sub message by its topic, a
    storage event by type and bucket, a scheduler call by its job, an EventBridge event by the rule's
    pattern); a repository fixture to the function whose fixtures hold it. FILE `-` reads standard input:
    one event, or JSON lines (`generate-event ... | mlops-events replay -`).

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
    from tooling.delivery import events_from_stream
    from tooling.replay import Replayer, replay_bytes_to_url, replay_to_url

    # Where each event goes: the same two ways for a file and for what standard input holds.
    send_file: Callable[[Path], ReplayResult]
    send_bytes: Callable[..., ReplayResult]  # (data, label=...)
    if url:
        send_file = functools.partial(replay_to_url, url=url, function=function, timeout_s=timeout_s)
        send_bytes = functools.partial(replay_bytes_to_url, url=url, function=function, timeout_s=timeout_s)
    else:
        apply_profile(profile, state_dir)
        _, log_stream = route_function_logs(verbose)
        replayer = Replayer(lambda_stdout=log_stream)
        send_file = functools.partial(replayer.replay_file, function=function)
        send_bytes = functools.partial(replayer.replay_bytes, function=function)
    for path in files:
        if str(path) == "-":
            for label, data in events_from_stream(sys.stdin.buffer.read()):
                yield send_bytes(data, label=label)
        else:
            yield send_file(path)
