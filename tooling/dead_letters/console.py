"""What `mlops-events up`'s console says as a message is dead-lettered, so the next step is on screen:
where it waits, under which id, and the command that sends it again.

Wired by one line in tooling/localcloud/routes.py's `pubsub_dead_letter` (the forward there returns the
text of the `dead-lettered` line): return `dead_lettered(topic, f"{topic}-hold", message_id)` with the
id `publish(...).result(30)` gives."""

from __future__ import annotations


def dead_lettered(topic: str, hold: str, message_id: str | None = None) -> str:
    """The detail of the console's `dead-lettered` line for a message forwarded to `topic`."""
    if not message_id:
        return f"topic {topic}, held in {hold}: `mlops-events dead-letters list` shows it"
    return (
        f"topic {topic}, held in {hold} as message {message_id}: "
        f"`mlops-events dead-letters redrive --message {message_id}` sends it again"
    )


def failure_queued(queue: str, function: str) -> str:
    """The same for the Lambda's failure record sent to its on-failure queue (ecr_bridge.py's `on_failure`)."""
    return (
        f"SQS queue {queue}: `mlops-events dead-letters list --function {function}` shows it, "
        "`redrive` invokes the Lambda again"
    )
