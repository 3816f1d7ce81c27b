"""The Lambda's on-failure queue (SQS): what Lambda gave up on after its asynchronous retries.

Two shapes arrive there (aws-ecr-rollout sends both to the one queue): Lambda's on-failure record
(`requestContext` with the function's ARN, `approximateInvokeCount` and `condition`, the original event
as `requestPayload`, the error as `responsePayload`), and an event EventBridge could not hand to Lambda
at all (the event itself, with `ERROR_CODE` / `ERROR_MESSAGE` / `TARGET_ARN` message attributes).

Reading receives each message with a visibility timeout and makes it visible again at once, so a listing
takes nothing out. A redrive invokes the Lambda with the original event, synchronously (RequestResponse):
the record is deleted only once the function answered without an error; a failure leaves it in the queue
and its error is reported. The Lambda invoked is always the hold's own function, as deployed, in the
configured region: a message naming another (its ARN, or a TARGET_ARN attribute anyone who can send to
the queue can set) is shown as foreign and never redriven.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tooling.dead_letters.errors import DeadLetterError, describe_cloud_error
from tooling.dead_letters.holds import Hold
from tooling.dead_letters.letters import DeadLetter, Redriven, iso_utc
from tooling.dead_letters.preview import preview, safe_attributes, safe_text

LEASE_S = 60  # while a listing or a redrive holds a message, nobody else receives it
_BATCH = 10  # SQS's most per receive / change-visibility request


@dataclass(frozen=True)
class _Received:
    letter: DeadLetter
    receipt: str
    event: Any  # the original event; None when the message is neither shape
    function: str | None  # the Lambda to invoke: the hold's own, as deployed (None: not to be redriven)
    foreign: str | None = None  # another Lambda the message names: shown, never invoked


class LambdaFailureQueue:
    def __init__(
        self,
        hold: Hold,
        *,
        sqs: Any,
        lambda_client: Callable[[str | None], Any],
        wait_s: int = 0,
    ) -> None:
        """`lambda_client(region)` builds the Lambda client a redrive invokes with (None: the default
        region); `wait_s` is SQS's long-poll wait (short polls may miss messages on a large queue)."""
        self.hold = hold
        self._sqs, self._lambda_client, self._wait_s = sqs, lambda_client, wait_s
        self._url: str | None = None

    @property
    def where(self) -> str:
        return self.hold.name

    @property
    def url(self) -> str:
        if self._url is None:
            answer = self._call("find the queue", lambda: self._sqs.get_queue_url(QueueName=self.hold.name))
            self._url = str(answer["QueueUrl"])
        return self._url

    def letters(self, limit: int) -> list[DeadLetter]:
        received = self._receive(limit)
        self._release(received)
        return [r.letter for r in received]

    def redrive(self, wanted: Callable[[DeadLetter], bool], limit: int) -> list[Redriven]:
        received = self._receive(limit)
        chosen = [r for r in received if wanted(r.letter)]
        self._release([r for r in received if not wanted(r.letter)])
        results: list[Redriven] = []
        try:
            for one in chosen:
                results.append(self._redrive_one(one))
        finally:
            removed = {r.letter.id for r in results if r.removed}
            self._release([r for r in chosen if r.letter.id not in removed])
        return results

    # -- reading -------------------------------------------------------------------------------------
    def _receive(self, limit: int) -> list[_Received]:
        url = self.url
        found: dict[str, _Received] = {}
        while len(found) < limit:
            asked = min(_BATCH, limit - len(found))
            answer = self._call(
                "receive from the queue",
                self._sqs.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=asked,
                WaitTimeSeconds=self._wait_s,
                VisibilityTimeout=LEASE_S,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                one = self._read(message)
                found[one.letter.id] = one
        return list(found.values())

    def _read(self, message: dict[str, Any]) -> _Received:
        body = str(message.get("Body", ""))
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        system = message.get("Attributes", {})
        custom = {k: str(v.get("StringValue", "")) for k, v in message.get("MessageAttributes", {}).items()}
        spec = self.hold.functions[0] if len(self.hold.functions) == 1 else None
        sent = _from_millis(system.get("SentTimestamp"))
        event: Any = None
        arn, attempts, error, dead_lettered = "", None, None, sent
        if isinstance(record, dict) and isinstance(record.get("requestContext"), dict) and "requestPayload" in record:
            context = record["requestContext"]
            event = record["requestPayload"]
            arn = str(context.get("functionArn", ""))
            attempts = _int(context.get("approximateInvokeCount"))
            error = _lambda_error(record.get("responsePayload"), context.get("condition"))
            dead_lettered = iso_utc(record.get("timestamp")) or sent
        elif isinstance(record, dict) and "detail-type" in record:  # EventBridge could not invoke it at all
            event = record
            arn = custom.get("TARGET_ARN", "")
            attempts = _int(custom.get("RETRY_ATTEMPTS"))
            error = " ".join(filter(None, (custom.get("ERROR_CODE"), custom.get("ERROR_MESSAGE")))) or None
        named, _ = _function_of(arn)
        own = self.hold.deployed_name(spec) if spec is not None else None
        function = own if event is not None and own is not None and named in (None, own) else None
        foreign = named if named is not None and named != own else None
        payload = json.dumps(event) if event is not None else body
        if isinstance(event, dict) and "detail" in event:  # the envelope is the same for every event: show what differs
            payload = json.dumps({"detail-type": event.get("detail-type"), "detail": event["detail"]})
        letter = DeadLetter(
            id=safe_text(message.get("MessageId", ""), 256),
            kind="sqs",
            hold=self.where,
            function=spec.name if spec else None,
            destination=safe_text(function or foreign or "", 256) or None,
            attempts=attempts,
            first_published=iso_utc(event.get("time")) if isinstance(event, dict) else None,
            dead_lettered=dead_lettered,
            size=len((json.dumps(event) if event is not None else body).encode()),
            preview=preview(payload),
            attributes=safe_attributes(custom),
            error=preview(error, 300) if error else None,
        )
        return _Received(letter, str(message.get("ReceiptHandle", "")), event, function, foreign)

    def _release(self, received: list[_Received]) -> None:
        """Visible again at once, for the next reader or Lambda's own retry of the queue's consumers."""
        url = self.url
        for start in range(0, len(received), _BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": r.receipt, "VisibilityTimeout": 0}
                for i, r in enumerate(received[start : start + _BATCH])
            ]
            self._call(
                "hand messages back to the queue",
                self._sqs.change_message_visibility_batch,
                QueueUrl=url,
                Entries=entries,
            )

    # -- redriving -----------------------------------------------------------------------------------
    def _redrive_one(self, one: _Received) -> Redriven:
        letter = one.letter
        if one.foreign is not None:
            why = f"it names Lambda {safe_text(one.foreign, 128)}, not this hold's function"
            return Redriven(letter, False, f"not redriven: {why}; it stays in {self.where}")
        if one.event is None or one.function is None:
            return Redriven(letter, False, f"not redriven: no Lambda event in this message; it stays in {self.where}")
        try:
            client = self._lambda_client(None)  # the configured region, never one a message names
            answer = client.invoke(
                FunctionName=one.function, InvocationType="RequestResponse", Payload=json.dumps(one.event).encode()
            )
            body = answer["Payload"].read() if answer.get("Payload") is not None else b""
        except Exception as exc:  # botocore's errors, a connection refused: reported, the record stays
            return Redriven(letter, False, f"not invoked ({describe_cloud_error(exc)}); it stays in {self.where}")
        if answer.get("FunctionError"):
            why = _lambda_error(_json(body), None) or str(answer["FunctionError"])
            failed = f"{letter.destination} failed again: {preview(why, 300)}; it stays in {self.where}"
            return Redriven(letter, False, failed)
        outcome = _json(body)
        said = (
            f": {preview(str(outcome.get('outcome')), 40)}"
            if isinstance(outcome, dict) and "outcome" in outcome
            else ""
        )
        try:
            url = self.url
            self._call(
                "delete from the queue", lambda: self._sqs.delete_message(QueueUrl=url, ReceiptHandle=one.receipt)
            )
        except DeadLetterError as exc:
            return Redriven(letter, False, f"invoked {letter.destination}{said}, but still in {self.where} ({exc})")
        return Redriven(letter, True, f"invoked {letter.destination}{said}", removed=True)

    def _call(self, what: str, call: Callable[..., Any], **arguments: Any) -> Any:
        """`call(**arguments)`, boto's errors as one line naming what was asked of which queue."""
        try:
            return call(**arguments)
        except Exception as exc:
            if not type(exc).__module__.startswith(("botocore", "boto3")):
                raise
            raise DeadLetterError(f"SQS: could not {what} {self.hold.name}: {describe_cloud_error(exc)}") from exc


def _function_of(arn: str) -> tuple[str | None, str | None]:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` -> (NAME, REGION)."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function" and parts[6]:
        return parts[6], parts[3] or None
    return None, None


def _lambda_error(response: Any, condition: Any) -> str | None:
    if isinstance(response, dict) and ("errorMessage" in response or "errorType" in response):
        kind = response.get("errorType")
        return f"{kind}: {response.get('errorMessage', '')}" if kind else str(response.get("errorMessage"))
    return str(condition) if condition else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _from_millis(value: Any) -> str | None:
    millis = _int(value)
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
