"""Runs our Lambda handlers in-process when moto invokes a function.

moto's own Lambda runner needs Docker, which this project does not assume. Its Step Functions
interpreter invokes Lambdas through moto's Lambda backend, which ends in
`moto.awslambda.models.LambdaFunction.invoke`: that one method is replaced, while a local stack
is up, by a call of the handler registered for the function's name. Errors come back the way the
Lambda Python runtime reports them (`errorType` is the exception class name), so the state
machine's Retry and Catch see the same names as on AWS. A `SimulatedRuntimeFailure` (see
aws_faults.py) stands for the runtime itself dying (a timeout, an out-of-memory kill): it is
reported with its AWS error type (`Sandbox.Timedout`, `Lambda.Unknown`) and no stack trace, as
Lambda reports those. This is a moto internal: moto is pinned to the 5.2 series in
pyproject.toml, and tests/workflow prove the seam still works.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from tiqets_tracker_local.aws_faults import SimulatedRuntimeFailure

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The parts of the Lambda context object our handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass
class RegisteredFunction:
    """A function of the stack; its handler module is imported on the first invocation, as a
    Lambda container imports it on a cold start."""

    code_dir: Path
    handler_path: str
    memory_mb: int
    timeout_seconds: int
    arn: str
    _handler: Handler | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def handler(self) -> Handler:
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.code_dir, self.handler_path)
            return self._handler


@dataclass
class InvocationLog:
    """What was invoked, for tests and benchmarks."""

    calls: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, function_name: str, seconds: float) -> None:
        with self.lock:
            self.calls.append((function_name, seconds))

    def count(self, function_name: str) -> int:
        with self.lock:
            return sum(1 for name, _ in self.calls if name == function_name)


_registry: dict[str, RegisteredFunction] = {}
_registry_lock = threading.Lock()
invocations = InvocationLog()


def load_handler(code_dir: Path, handler_path: str) -> Handler:
    """Import `package.module.function` from a function's code folder, as the runtime does."""
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name, _, function_name = handler_path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), function_name)
    return handler


def register(function_name: str, function: RegisteredFunction) -> None:
    with _registry_lock:
        _registry[function_name] = function


def unregister(function_name: str) -> None:
    with _registry_lock:
        _registry.pop(function_name, None)


def invoke_registered(function_name: str, event: Any) -> tuple[bytes, bool]:
    """Run the handler; return the response payload and whether it is a function error."""
    with _registry_lock:
        function = _registry.get(function_name)
    if function is None:
        raise LookupError(f"no in-process handler registered for {function_name}")
    context = LocalLambdaContext(
        function_name=function_name,
        memory_limit_in_mb=function.memory_mb,
        invoked_function_arn=function.arn,
        timeout_seconds=function.timeout_seconds,
    )
    started = time.perf_counter()
    try:
        result = function.handler(event, context)
    except Exception as error:  # the Lambda runtime turns any exception into a function error
        payload = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": context.aws_request_id,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        return json.dumps(payload).encode("utf-8"), True
    except SimulatedRuntimeFailure as failure:  # the runtime died under the handler
        return json.dumps(failure.payload(context.aws_request_id)).encode("utf-8"), True
    finally:
        invocations.add(function_name, time.perf_counter() - started)
    return json.dumps(result).encode("utf-8"), False


def _moto_invoke(self: Any, body: str | None, request_headers: Any, response_headers: Any) -> bytes:
    event = json.loads(body) if body else {}
    payload, errored = invoke_registered(self.function_name, event)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


@contextmanager
def in_process_lambdas() -> Iterator[None]:
    """While active, moto runs Lambda invocations through the registered handlers."""
    from moto.awslambda.models import LambdaFunction

    with mock.patch.object(LambdaFunction, "invoke", _moto_invoke):
        yield
