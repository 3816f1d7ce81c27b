"""Invokes a Lambda handler of the manifest in this process, as the Lambda runtime would: the module
imported once (its init), then `handler(event, context)` with a context that counts down."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooling.manifest import FunctionSpec

_modules: dict[str, Any] = {}


@dataclass
class LocalLambdaContext:
    """The attributes powertools and our handler read from `aws_lambda_powertools...LambdaContext`."""

    function_name: str
    timeout_s: float = 900.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    account: str = "000000000000"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.timeout_s - (time.monotonic() - self._started)) * 1000), 0)


def lambda_handler(spec: FunctionSpec) -> Any:
    """The handler of `spec`, its module imported once per process (what a warm container keeps)."""
    if spec.name not in _modules:
        name = f"_lambda_{spec.name}"
        loader = importlib.util.spec_from_file_location(name, spec.source_path)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        _modules[spec.name] = module
    return getattr(_modules[spec.name], spec.entry_point)


def invoke(spec: FunctionSpec, event: Any, *, timeout_s: float | None = None) -> Any:
    context = LocalLambdaContext(spec.name, timeout_s or float(spec.timeout_s or 900))
    return lambda_handler(spec)(event, context)
