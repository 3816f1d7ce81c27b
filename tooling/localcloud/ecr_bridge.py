"""EventBridge between the local ECR (moto) and the rollout Lambda.

moto's ECR emits no EventBridge events, so its images are read every second and what changed becomes
the `ECR Image Action` event ECR would send (ecr_image_watcher.py). Each event goes to every Lambda whose
rule pattern matches it, invoked as EventBridge does: asynchronously, so Lambda's own retries apply
(two more attempts), then the on-failure destination (an SQS queue) receives Lambda's failure record.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from tooling.dead_letters.console import failure_queued
from tooling.localcloud.activity_log import ActivityLog, Attempt
from tooling.localcloud.dispatch import DeliveryResult, Target, deliver_with_retries
from tooling.localcloud.ecr_image_watcher import EcrImageWatcher
from tooling.localcloud.eventbridge_patterns import matches
from tooling.localcloud.retry import retry_policy
from tooling.localcloud.triggers import Request
from tooling.manifest import FunctionSpec

POLL_S = 1.0


class EcrToLambda:
    def __init__(
        self,
        lambdas: list[FunctionSpec],
        targets: dict[str, Target],
        *,
        aws: Callable[[str], Any],
        repositories: list[str],
        activity: ActivityLog,
        executor: Executor,
        backoff_scale: float,
        account: str,
        region: str,
    ) -> None:
        self._lambdas, self._targets, self._aws = lambdas, targets, aws
        self._activity, self._executor, self._scale = activity, executor, backoff_scale
        self._account, self._region = account, region
        self._patterns = {spec.name: rule_pattern(spec, repositories) for spec in lambdas}
        self._watcher = EcrImageWatcher(aws("ecr"), account=account, region=region)

    def baseline(self) -> None:
        """Read what the local ECR holds now, before `up` says it is ready: an image pushed right after is then
        a push (taken by the watch thread's first poll, a push racing it was part of the baseline and lost)."""
        try:
            self._watcher.poll()
        except Exception as exc:  # moto hiccup: the watch thread's first good poll takes the baseline instead
            self._activity.record(Attempt(source="ecr", function="-", subject="poll", outcome="error",
                                         detail=str(exc)[:200]))  # fmt: skip

    def watch(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                events = self._watcher.poll()
            except Exception as exc:  # moto gone at shutdown, or a hiccup: say so and try again
                if stopping.is_set():
                    return
                self._activity.record(Attempt(source="ecr", function="-", subject="poll", outcome="error",
                                             detail=str(exc)[:200]))  # fmt: skip
                stopping.wait(2.0)
                continue
            for event in events:
                self.route(event, stopping)
            stopping.wait(POLL_S)

    def route(self, event: dict[str, Any], stopping: threading.Event) -> None:
        detail = event.get("detail", {})
        subject = (
            f"{detail.get('repository-name')}:{detail.get('image-tag') or '(untagged)'} "
            + str(detail.get("image-digest", ""))[:19]
        )
        matched = [spec for spec in self._lambdas if matches(self._patterns[spec.name], event)]
        if not matched:
            what = f"{detail.get('action-type')} {detail.get('result')}: no EventBridge rule matches"
            self._activity.record(
                Attempt(source="ecr", function="-", subject=subject, outcome="unmatched", detail=what)
            )
        for spec in matched:
            invoke = self._activity.guarded("ecr", spec.name, subject, self._invoke)
            self._executor.submit(invoke, spec, event, subject, stopping)

    def _invoke(self, spec: FunctionSpec, event: dict[str, Any], subject: str, stopping: threading.Event) -> None:
        request = Request(
            "",
            {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
            json.dumps(event).encode(),
            str(event.get("id", "")),
            "ECR Image Action",
            subject,
        )
        queue = spec.retry.get("dead_letter_topic")
        policy = retry_policy(spec.retry, scale=self._scale)

        def on_failure(result: DeliveryResult, attempts: int, age_s: float) -> str:
            if not queue:
                return ""
            exhausted = policy.max_attempts is not None and attempts >= policy.max_attempts
            condition = "RetriesExhausted" if exhausted else "EventAgeExceeded"
            record = failure_record(
                spec.name, event, result, attempts, condition, account=self._account, region=self._region
            )
            sqs = self._aws("sqs")
            sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody=json.dumps(record))
            return failure_queued(queue, spec.name)

        deliver_with_retries(
            self._targets[spec.name],
            request,
            policy=policy,
            source="ecr",
            activity=self._activity,
            stopping=stopping,
            on_give_up=on_failure,
        )


def rule_pattern(spec: FunctionSpec, repositories: list[str]) -> dict[str, Any]:
    """The manifest's pattern, narrowed to the targets' repositories as the aws-ecr-rollout module does."""
    pattern = copy.deepcopy(spec.trigger.get("pattern", {}))
    if repositories:
        pattern.setdefault("detail", {})["repository-name"] = list(repositories)
    return pattern


def failure_record(
    function: str,
    event: dict[str, Any],
    result: DeliveryResult,
    attempts: int,
    condition: str,
    *,
    account: str,
    region: str,
) -> dict[str, Any]:
    """What Lambda sends an on-failure destination once an asynchronous invocation is given up."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"arn:aws:lambda:{region}:{account}:function:{function}:$LATEST",
            "condition": condition,  # RetriesExhausted | EventAgeExceeded
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": result.http_status,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": result.error_payload or {"errorMessage": result.detail},
    }
