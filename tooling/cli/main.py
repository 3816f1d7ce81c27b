"""`mlops-events`: replay saved events, inspect the registry, generate events, run the demo, build deploy
bundles, run the local cloud. One module per command group; this one only assembles them."""

from __future__ import annotations

import click

from tooling.cli.dead_letters import dead_letters
from tooling.cli.demo import demo
from tooling.cli.generate_event import generate_event
from tooling.cli.local_cloud import down, status, trigger, up, upload
from tooling.cli.manifest_commands import build, functions_command
from tooling.cli.options import EXIT_DONE, EXIT_NOT_PROCESSED, EXIT_REJECTED, exit_code, outcome_exit_code
from tooling.cli.registry import registry
from tooling.cli.replay import replay
from tooling.cli.user_errors import FriendlyGroup

__all__ = ["EXIT_DONE", "EXIT_NOT_PROCESSED", "EXIT_REJECTED", "cli", "exit_code", "main", "outcome_exit_code"]


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlops-events", prog_name="mlops-events")
@click.option("-v", "--verbose", is_flag=True, help="show the traceback of an error instead of its one line")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Event-driven functions that run an ML platform on GCP and AWS by themselves."""
    ctx.obj = {"verbose": verbose}
    # Everything the CLI prints goes through the same redaction as the logs: a replayed function's outcome
    # detail, an error message, must not show a secret the process loaded (a webhook URL from the env).
    from shared.secret_values import redact_standard_streams

    redact_standard_streams()


for command in (replay, functions_command, build, registry, generate_event, demo, up, trigger, upload, status, down):
    cli.add_command(command)
cli.add_command(dead_letters)


def main() -> None:
    cli(prog_name="mlops-events")


if __name__ == "__main__":
    main()
