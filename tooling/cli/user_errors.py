"""What a user can cause is an error message, not a traceback: configuration, credentials, a service that
does not answer. `mlops-events -v COMMAND` shows the traceback instead; anything else (a bug) always does."""

from __future__ import annotations

import os
import sys
from typing import Any

import click


def user_message(exc: BaseException) -> str | None:
    """The one line to print for an error the user can fix, or None for a bug."""
    from shared.errors import MlopsEventsError

    if isinstance(exc, MlopsEventsError):
        return str(exc)
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    if kind == "google.auth.exceptions.DefaultCredentialsError":
        return (
            "no Google Cloud credentials: `gcloud auth application-default login`, or GOOGLE_APPLICATION_CREDENTIALS "
            "naming a service account key (or use --profile embedded or emulators)"
        )
    if kind in ("botocore.exceptions.NoCredentialsError", "botocore.exceptions.NoRegionError"):
        return f"AWS: {exc} (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and AWS_REGION)"
    if isinstance(exc, ConnectionError | TimeoutError) and not isinstance(exc, BrokenPipeError):
        what = f"{type(exc).__name__}: {exc}"
        return f"a service did not answer ({what}); is it running, and is the profile's endpoint right?"
    return None


class FriendlyGroup(click.Group):
    """A click group that turns a user's error into click's one-line error (exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # `mlops-events functions | head`: the reader left; leave quietly, as cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            message = user_message(exc)
            if message is None or (ctx.obj or {}).get("verbose"):
                raise
            raise click.ClickException(message) from None
