"""A local AWS Lambda Invoke API for one Lambda of the manifest, as `sam local start-lambda` and the
Lambda Runtime Interface Emulator serve it, so boto3's own Lambda client can invoke it.

    python -m tooling.localcloud.lambda_endpoint --function ecr_rollout --port P [--host 127.0.0.1]

The handler runs under awslambdaric, the runtime interface client of Lambda's Python runtime, in a process
of its own fed by a local Runtime API (lambda_sandbox.py): the manifest's `timeout_s` is enforced (a handler
past it is killed, the invocation fails with `Sandbox.Timedout`, `Task timed out after N.NN seconds`), its
`memory` is a limit on the runtime's resident memory (`Runtime.OutOfMemory`), and after a timeout, a crash
or a failed init the next invocation gets a new environment, as in Lambda. The first environment is
initialised before the port opens, so a 200 on `GET /2015-03-31/functions/{name}` means warm. Lambda runs
one invocation at a time per environment; so does this process (a lock), whatever the HTTP concurrency.

Where awslambdaric is not installed (the `local` extra installs it on Linux only: it has no macOS wheel) or
with `--in-process`, the handler runs in this process instead, without its timeout or memory limit (the
context still counts down); the endpoint says so in its first line.

Invocation types, as Lambda answers them:
- `RequestResponse` (default): 200 with the handler's JSON; a handler exception is still a 200, with
  `X-Amz-Function-Error: Unhandled` and the runtime's `{errorMessage, errorType, stackTrace}` body.
- `Event`: 202 at once; the invocation runs in the background, after the ones already queued. Its
  failure is only logged: Lambda's async retries are not emulated here. `mlops-events up` therefore
  invokes EventBridge's events synchronously and applies the manifest's `lambda_async` retry policy
  itself, where it can see each failure.
- `DryRun`: 204, nothing runs.

Not emulated: `X-Amz-Log-Type: Tail` (logs go to stdout only), client context, versions and
aliases other than `$LATEST`. The process environment is the function's, set by the caller (`up`
starts from the manifest's `env` and overrides what points at the cloud, such as its profile `cloud`).

The handler's logs and the START/END/REPORT lines Lambda writes go to stdout, line-flushed, so the
caller's per-function log file gets them as they happen. SIGTERM and SIGINT stop it with exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tooling.local_lambda import LocalLambdaContext, lambda_handler
from tooling.local_server import write_answer
from tooling.localcloud.lambda_sandbox import INIT_TIMEOUT_S, Environment, RuntimeConfig, SandboxFailure
from tooling.manifest import MANIFEST_PATH, REPO_ROOT, function_named, load_manifest

if TYPE_CHECKING:
    from tooling.manifest import FunctionSpec

API = "/2015-03-31/functions"
_INVOKE_PATH = re.compile(rf"^{API}/(?P<name>[^/]+)/invocations$")
_FUNCTION_PATH = re.compile(rf"^{API}/(?P<name>[^/]+)$")
LATEST = "$LATEST"


def invoke_path(name: str) -> str:
    """Where the Invoke API of function `name` is served (as AWS and the Lambda RIE serve it)."""
    return f"{API}/{name}/invocations"


DEFAULT_ACCOUNT = "000000000000"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # Lambda's limit on a synchronous request body
_MEMORY_UNITS = {"": 1, "M": 1, "Mi": 1, "G": 1024, "Gi": 1024}


class ApiError(Exception):
    """An error the Lambda API itself answers (not the function's): a status and an error type."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the handler raised


def memory_mb(value: str | int | None, default: int = 128) -> int:
    """Kubernetes-style sizes in the manifest ("512Mi", "1Gi") as Lambda's MemorySize in MB."""
    if value is None:
        return default
    match = re.fullmatch(r"\s*(\d+)\s*(Mi|Gi|M|G|)\s*", str(value))
    if not match:
        raise ValueError(f"memory {value!r}: expected e.g. 512Mi or 1Gi")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def _manifest_entry(name: str, manifest: Path = MANIFEST_PATH) -> dict[str, Any]:
    """Fields FunctionSpec does not carry (runtime, memory), read from the manifest itself."""
    for entry in yaml.safe_load(manifest.read_text()).get("functions", []):
        if entry.get("name") == name:
            return dict(entry)
    return {}


def parse_function_name(raw: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """A name, `name:qualifier`, a partial ARN (`account:function:name`) or a full ARN, as Invoke takes."""
    parts = unquote(raw).split(":")
    if parts[0] == "arn" and len(parts) >= 7:
        parts = parts[6:]
    elif len(parts) >= 3 and parts[1] == "function":
        parts = parts[2:]
    name = parts[0]
    return name, (parts[1] if len(parts) > 1 else None) or qualifier


def _error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The Python runtime's shape for an unhandled error."""
    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return {"errorMessage": str(exc), "errorType": error_type or type(exc).__name__, "stackTrace": frames}


def _marshal(value: Any) -> InvocationResult:
    try:
        return InvocationResult(json.dumps(value).encode())
    except (TypeError, ValueError) as exc:
        error = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
        return InvocationResult(json.dumps({**error, "stackTrace": []}).encode(), "Unhandled")


class _Function:
    """What Lambda knows of one function (its configuration), whatever runs its handler."""

    def __init__(
        self, spec: FunctionSpec, *, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT,
        manifest: Path = MANIFEST_PATH,
    ) -> None:  # fmt: skip
        entry = _manifest_entry(spec.name, manifest)
        self.spec, self.region, self.account = spec, region, account
        self.runtime = str(entry.get("runtime", "python3.11"))
        self.memory_mb = memory_mb(getattr(spec, "memory", None) or entry.get("memory"))
        self.timeout_s = int(spec.timeout_s or 3)  # Lambda's default timeout is 3 s
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def handler(self) -> str:
        return f"{self.spec.source_path.stem}.{self.spec.entry_point}"

    def arn(self, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def configuration(self) -> dict[str, Any]:
        """What GetFunction's `Configuration` says about this function."""
        return {
            "FunctionName": self.name,
            "FunctionArn": self.arn(),
            "Runtime": self.runtime,
            "Handler": self.handler,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "Version": LATEST,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
        }

    def describe(self) -> str:
        raise NotImplementedError

    def invoke(self, event: Any, request_id: str) -> InvocationResult:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to stop by default."""


class WarmFunction(_Function):
    """The fallback: the handler imported once into this process, no timeout or memory limit enforced."""

    def __init__(self, spec: FunctionSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self._handler = lambda_handler(spec)  # the init phase, before the first invocation

    def describe(self) -> str:
        return (
            "in this process, without its timeout or memory limit (awslambdaric is not installed: "
            "`pip install -e '.[local]'` on Linux installs it)"
        )

    def invoke(self, event: Any, request_id: str) -> InvocationResult:
        """Run the handler once, waiting for the environment to be free; log as Lambda does."""
        with self._lock:
            context = LocalLambdaContext(
                self.name,
                float(self.timeout_s),
                self.memory_mb,
                aws_request_id=request_id,
                region=self.region,
                account=self.account,
            )
            print(f"START RequestId: {request_id} Version: {LATEST}", flush=True)
            started = time.perf_counter()
            try:
                result = _marshal(self._handler(event, context))
            except Exception as exc:  # the runtime reports any exception as the invocation's error
                print(f"[ERROR] {type(exc).__name__}: {exc}\n{traceback.format_exc()}", end="", flush=True)
                result = InvocationResult(json.dumps(_error_payload(exc)).encode(), "Unhandled")
            elapsed_ms = (time.perf_counter() - started) * 1000
            print(f"END RequestId: {request_id}", flush=True)
            print(
                f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tMemory Size: {self.memory_mb} MB",
                flush=True,
            )
            return result


class SandboxedFunction(_Function):
    """The handler under awslambdaric in an environment of its own, with its timeout and memory limit
    (lambda_sandbox.py); a new environment after one failed."""

    def __init__(self, spec: FunctionSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self._config = RuntimeConfig(
            name=self.name,
            handler=self.handler,
            task_root=spec.source_path.parent,
            timeout_s=float(self.timeout_s),
            memory_mb=self.memory_mb,
            env=dict(os.environ),
            extra_path=(str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))),
            region=self.region,
            account=self.account,
            runtime=self.runtime,
        )
        self._environment: Environment | None = None
        self.environments = 0
        # The first environment's init, before the port opens; one that fails is retried at the first invocation.
        with contextlib.suppress(SandboxFailure):
            self._warm().wait_init()

    def describe(self) -> str:
        pid = self._environment.pid if self._environment else "-"
        return f"under awslambdaric (runtime pid {pid}), timeout {self.timeout_s} s, memory {self.memory_mb} MB"

    def _warm(self) -> Environment:
        if self._environment is None or not self._environment.alive():
            if self._environment is not None:
                self._environment.kill()
            self._environment = Environment(self._config)
            self.environments += 1
        return self._environment

    def invoke(self, event: Any, request_id: str) -> InvocationResult:
        with self._lock:
            print(f"START RequestId: {request_id} Version: {LATEST}", flush=True)
            started = time.perf_counter()
            environment = self._warm()
            cold = environment.invocations == 0
            status = ""
            try:
                environment.wait_init(INIT_TIMEOUT_S + self.timeout_s)
                started = time.perf_counter()  # the invocation's clock, as REPORT's Duration counts it
                invocation = environment.invoke(event, request_id)
                if invocation.failed:
                    result = InvocationResult(json.dumps(invocation.error).encode(), "Unhandled")
                else:
                    result = InvocationResult(json.dumps(invocation.payload).encode())
            except SandboxFailure as failure:
                environment.kill()
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                print(f"{stamp} {request_id} {failure.message}", flush=True)
                body = {
                    "errorType": failure.error_type,
                    "errorMessage": f"RequestId: {request_id} Error: {failure.message}",
                }
                result = InvocationResult(json.dumps(body).encode(), "Unhandled")
                status = f"\tStatus: {failure.status}" + (
                    f"\tError Type: {failure.error_type}" if failure.status == "error" else ""
                )
            elapsed_ms = (time.perf_counter() - started) * 1000
            peak = environment.peak_mb()
            init = f"\tInit Duration: {environment.init_ms:.2f} ms" if cold and environment.init_ms else ""
            print(f"END RequestId: {request_id}", flush=True)
            print(
                f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tBilled Duration: "
                f"{max(1, math.ceil(elapsed_ms))} ms\tMemory Size: {self.memory_mb} MB\tMax Memory Used: "
                f"{math.ceil(peak)} MB{init}{status}",
                flush=True,
            )
            if status:  # Lambda starts a new environment for what comes next
                self._environment = None
                fresh = self._warm()
                print(f"lambda endpoint: new execution environment (runtime pid {fresh.pid})", flush=True)
            return result

    def close(self) -> None:
        with self._lock:
            if self._environment is not None:
                self._environment.kill()
                self._environment = None


def make_function(
    spec: FunctionSpec, *, in_process: bool = False, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT,
    manifest: Path = MANIFEST_PATH,
) -> _Function:  # fmt: skip
    """Under awslambdaric where it is installed (and not `in_process`), else in this process."""
    from tooling.localcloud.lambda_sandbox import runtime_available

    kind = WarmFunction if in_process or not runtime_available() else SandboxedFunction
    return kind(spec, region=region, account=account, manifest=manifest)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], function: _Function) -> None:
        super().__init__(address, _Handler)
        self.function = function
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"event-{function.name}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the START/END/REPORT lines say what ran."""

    def do_GET(self) -> None:
        self._answer(self._get_function)

    def do_POST(self) -> None:
        self._answer(self._invoke)

    def do_PUT(self) -> None:
        self._answer(self._not_allowed)

    do_DELETE = do_PATCH = do_HEAD = do_PUT

    def _answer(self, route: Any) -> None:
        body = self._read_body()
        request_id = str(uuid.uuid4())
        try:
            status, payload, headers = route(urlsplit(self.path), body, request_id)
        except ApiError as exc:
            status, headers = exc.status, {"x-amzn-ErrorType": exc.error_type}
            payload = json.dumps({"Type": "User", "message": exc.message}).encode()
        self._send(status, payload, {"X-Amz-Request-Id": request_id, "x-amzn-RequestId": request_id, **headers})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        write_answer(self, status, payload, {**({"Content-Type": "application/json"} if payload else {}), **headers})

    # -- routes: each returns (status, body, headers) or raises ApiError ---------------------------
    def _function_named(self, raw: str, query: str) -> _Function:
        given = parse_qs(query).get("Qualifier")
        name, qualifier = parse_function_name(raw, given[0] if given else None)
        function = self.server.function
        if name != function.name or qualifier not in (None, LATEST):
            arn = f"arn:aws:lambda:{function.region}:{function.account}:function:{name}"
            arn = f"{arn}:{qualifier}" if qualifier else arn
            raise ApiError(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Function not found: {arn}")
        return function

    def _get_function(self, url: Any, body: bytes, request_id: str) -> tuple[int, bytes, dict[str, str]]:
        match = _FUNCTION_PATH.match(url.path)
        if match is None:
            if _INVOKE_PATH.match(url.path):
                return self._not_allowed(url, body, request_id)
            raise ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"no operation at GET {url.path}")
        function = self._function_named(match["name"], url.query)
        return HTTPStatus.OK, json.dumps({"Configuration": function.configuration()}).encode(), {}

    def _not_allowed(self, url: Any, body: bytes, request_id: str) -> tuple[int, bytes, dict[str, str]]:
        if _INVOKE_PATH.match(url.path) or _FUNCTION_PATH.match(url.path):
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowedException", f"{self.command} not allowed")
        raise ApiError(HTTPStatus.NOT_FOUND, "UnknownOperationException", f"no operation at {self.command} {url.path}")

    def _invoke(self, url: Any, body: bytes, request_id: str) -> tuple[int, bytes, dict[str, str]]:
        match = _INVOKE_PATH.match(url.path)
        if match is None:
            return self._not_allowed(url, body, request_id)
        function = self._function_named(match["name"], url.query)
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException", f"{invocation_type!r}")
        if len(body) > MAX_SYNC_PAYLOAD:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestTooLargeException", "request too large")
        event = _parse_event(body)
        headers = {"X-Amz-Executed-Version": LATEST}
        if invocation_type == "DryRun":
            return HTTPStatus.NO_CONTENT, b"", {}
        if invocation_type == "Event":
            self.server.background.submit(function.invoke, event, request_id)
            return HTTPStatus.ACCEPTED, b"", {}
        result = function.invoke(event, request_id)
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        return HTTPStatus.OK, result.payload, headers


def _parse_event(body: bytes) -> Any:
    """An empty payload is `{}`, as the Invoke API gives the function; anything else must be JSON."""
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        message = f"Could not parse request body into json: {exc}"
        raise ApiError(HTTPStatus.BAD_REQUEST, "InvalidRequestContentException", message) from None


class LambdaEndpoint:
    """The Invoke API for one warm function on `host:port` (port 0: the OS picks one)."""

    def __init__(self, function: _Function, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.function = function
        self._server = _Server((host, port), function)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-endpoint", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LambdaEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop taking requests, finish the invocation under way, drop queued `Event` ones."""
        self._server.shutdown()
        self._server.server_close()
        self._server.background.shutdown(wait=True, cancel_futures=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", required=True, help="a Lambda (platform aws-lambda) of functions/manifest.yaml")
    parser.add_argument("--port", type=int, required=True, help="0 lets the OS pick (printed at start)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--region", default=None, help="for ARNs (default: AWS_REGION, else us-east-1)")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="for ARNs")
    parser.add_argument("--manifest", type=Path, default=MANIFEST_PATH, help="the manifest naming the function")
    parser.add_argument(
        "--in-process", action="store_true", help="run the handler in this process (no timeout or memory limit)"
    )
    return parser


def _line_buffered() -> None:
    """The caller's log file must get each line as it is written, not when a buffer fills."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _line_buffered()
    spec = function_named(args.function, load_manifest(args.manifest))
    if spec.platform != "aws-lambda":
        print(f"{spec.name} is a {spec.platform}, not an aws-lambda", file=sys.stderr)
        return 2
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    function = make_function(
        spec, in_process=args.in_process, region=region, account=args.account, manifest=args.manifest
    )
    endpoint = LambdaEndpoint(function, host=args.host, port=args.port)
    endpoint.start()
    print(f"lambda endpoint: {spec.name} on {endpoint.url}, {function.describe()}", flush=True)
    while not stop.wait(0.5):
        pass
    endpoint.stop()
    function.close()
    print(f"lambda endpoint: {spec.name} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
