"""Where dead letters wait, read from the manifest's `retry.dead_letter_topic`, named as Terraform and
`mlops-events up` name them:

- a Pub/Sub-fed function (`pubsub`, `schedule` triggers): its push subscription dead-letters to that topic,
  and a pull subscription on the topic holds what arrives: `<topic>-hold`, in the cloud (the platform
  module, 7 days) and on `up` (provision.py);
- the Lambda (`aws-lambda`): Lambda's on-failure destination, an SQS queue named after the same field,
  `<name>-<env>` in the cloud (the aws-ecr-rollout module), `<name>` on `up`.

Eventarc's GCS trigger has no dead letter (reconcile_registry is its path back), nor has an HTTP schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tooling.dead_letters.errors import DeadLetterError
from tooling.manifest import FunctionSpec

# The pull subscription holding a dead-letter topic's messages (a tuple: where another name was used).
HOLD_SUFFIXES = ("-hold",)


@dataclass(frozen=True)
class Hold:
    kind: Literal["pubsub", "sqs"]
    name: str  # the dead-letter topic (pubsub) or the queue (sqs), as deployed
    functions: tuple[FunctionSpec, ...]  # the functions that dead-letter here (in practice one)
    deployed_suffix: str = ""  # what the deployment adds to a Lambda's name (`-dev` in the cloud, nothing on up)

    def deployed_name(self, spec: FunctionSpec) -> str:
        """The Lambda a redrive may invoke for `spec`: the aws-ecr-rollout module's `<name with dashes>-<env>`
        in the cloud, the manifest's name on `up`. Never a name a message carries."""
        return f"{spec.name.replace('_', '-')}{self.deployed_suffix}" if self.deployed_suffix else spec.name

    def function_for(self, source_subscription: str | None) -> FunctionSpec | None:
        """The function whose push subscription a dead letter came from: `<name>-push` on `up`,
        `<name with dashes>-push` in the cloud (gcp-function module); the only one if that does not tell."""
        short = (source_subscription or "").rsplit("/", 1)[-1]
        for spec in self.functions:
            if short in (f"{spec.name}-push", f"{spec.name.replace('_', '-')}-push"):
                return spec
        return self.functions[0] if len(self.functions) == 1 else None


def locate(specs: list[FunctionSpec], *, function: str | None = None, queue_suffix: str = "") -> list[Hold]:
    """Every hold of the manifest, or the one of `function`; `queue_suffix` is what the deployment adds to
    an SQS queue's name (`-dev` in the cloud, nothing on `up`)."""
    pubsub: dict[str, list[FunctionSpec]] = {}
    sqs: dict[str, list[FunctionSpec]] = {}
    for spec in specs:
        if function is not None and spec.name != function:
            continue
        name = spec.retry.get("dead_letter_topic")
        if not name:
            continue
        if spec.platform == "aws-lambda":
            sqs.setdefault(f"{name}{queue_suffix}", []).append(spec)
        elif spec.trigger.get("topic"):
            pubsub.setdefault(name, []).append(spec)
    holds = [Hold("pubsub", name, tuple(found)) for name, found in sorted(pubsub.items())]
    holds += [Hold("sqs", name, tuple(found), queue_suffix) for name, found in sorted(sqs.items())]
    if function is not None and not holds:
        raise DeadLetterError(_no_hold(specs, function))
    return holds


def _no_hold(specs: list[FunctionSpec], function: str) -> str:
    with_holds = sorted(spec.name for hold in locate(specs) for spec in hold.functions)
    spec = next((s for s in specs if s.name == function), None)
    if spec is None:
        return f"no function {function!r} in the manifest; functions with dead letters: {', '.join(with_holds)}"
    why = spec.retry.get("reconciled_by")
    because = f" ({why} is its way back)" if why else ""
    return f"{function} has no dead-letter hold{because}; functions with dead letters: {', '.join(with_holds)}"
