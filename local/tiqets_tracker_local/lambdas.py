"""Runs our Lambda handlers in-process when moto invokes a function.

moto's own Lambda runner needs Docker, which this project does not assume. Its Step Functions
interpreter invokes Lambdas through moto's Lambda backend, which ends in
`moto.awslambda.models.LambdaFunction.invoke`: that one method is replaced, while a local stack
is up, by a call of the handler registered for the function's name. Errors come back the way the
Lambda Python runtime reports them (`errorType` is the exception class name), so the state
machine's Retry and Catch see the same names as on AWS. A `SimulatedRuntimeFailure` (see
aws_faults.py) stands for the runtime itself dying (a timeout, an out-of-memory kill): it is
reported with its AWS error type (`Sandbox.Timedout`, `Lambda.Unknown`) and no stack trace, as
Lambda reports those. This is a moto internal, replaced through
`moto_seams.lambda_invocations`: moto is pinned to the 5.2 series in pyproject.toml,
moto_seams.py refuses any other, and tests/workflow prove the seam still works.

Each invocation has its own Powertools metric state, as each Lambda container has its own
process and a flush empties it after every invocation. Here handlers of one function run in
several threads of one process at once, and the `Metrics()` of every handler module share one
state (class attributes of Powertools' Metrics) that, with metrics disabled (the local stack's
POWERTOOLS_METRICS_DISABLED), no flush ever empties: concurrent checks warned `Dimension
'status' has already been added` and each invocation inherited the metrics of all before it.
While `in_process_lambdas` is active, `invoke_registered` runs each handler in its own
`moto_seams.invocation_metrics()`; invocations are not serialized (a function runs as many at
once as AWS would run containers).

A function's reserved concurrency is enforced as Lambda enforces it: set it with the Lambda API
(`put_function_concurrency`; the template sets none), and an invocation through the API while
that many invocations of the function are running is refused with HTTP 429
`TooManyRequestsException`, `Reason` `ReservedFunctionConcurrentInvocationLimitExceeded`, before
its handler runs (Step Functions names it `Lambda.TooManyRequestsException`). Every
invocation counts while its handler runs, the local webhook endpoint's too (which invokes
without the API, so is never refused). The account's concurrency is not modelled; a burst of
throttles of any kind is a fault (`AwsFaults.lambda_throttled`).

A function's Timeout is not enforced: handlers run in real time here, the retries' waits are
scaled down (`aws_faults.faster_state_machine_retries`) but the 30 s and 300 s Timeouts are not,
and a loaded local stack runs every handler in one process, so its durations are not Lambda's.
A timeout is injected instead (`AwsFaults.lambda_timed_out`, `SimulatedRuntimeFailure.timeout`).
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

from tiqets_tracker_local import iam, moto_seams
from tiqets_tracker_local.aws_faults import (
    SimulatedRuntimeFailure,
    ThrottleReason,
    lambda_throttle_answer,
)

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
    # The function's execution role: the handler's AWS calls sign as it (iam.py).
    role_arn: str | None = None
    _handler: Handler | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _throttled: int = 0
    _slots_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def handler(self) -> Handler:
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.code_dir, self.handler_path)
            return self._handler

    @property
    def in_flight(self) -> int:
        """How many invocations of the function are running now."""
        with self._slots_lock:
            return self._in_flight

    @property
    def throttled(self) -> int:
        """How many invocations its reserved concurrency refused so far."""
        with self._slots_lock:
            return self._throttled

    def admit(self, reserved_concurrency: int | None) -> None:
        """Count one more invocation running, or raise ConcurrencyLimitExceededError if
        `reserved_concurrency` (None: no limit) are running already."""
        with self._slots_lock:
            if reserved_concurrency is not None and self._in_flight >= reserved_concurrency:
                self._throttled += 1
                raise ConcurrencyLimitExceededError(reserved_concurrency)
            self._in_flight += 1

    def release(self) -> None:
        """One invocation admitted earlier ended."""
        with self._slots_lock:
            self._in_flight -= 1


class ConcurrencyLimitExceededError(Exception):
    """The function already runs as many invocations as its reserved concurrency allows."""

    reason = ThrottleReason.RESERVED_CONCURRENCY

    def __init__(self, reserved_concurrency: int) -> None:
        super().__init__(f"{reserved_concurrency} invocations running (reserved concurrency)")
        self.reserved_concurrency = reserved_concurrency


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


def registered(function_name: str) -> RegisteredFunction:
    """The function registered under this name (LookupError if none is)."""
    with _registry_lock:
        function = _registry.get(function_name)
    if function is None:
        raise LookupError(f"no in-process handler registered for {function_name}")
    return function


def invoke_registered(
    function_name: str, event: Any, *, reserved_concurrency: int | None = None
) -> tuple[bytes, bool]:
    """Run the handler; return the response payload and whether it is a function error.
    Raises ConcurrencyLimitExceededError instead, before the handler runs, if
    `reserved_concurrency` invocations of the function are running already."""
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
    function.admit(reserved_concurrency)
    started = time.perf_counter()
    try:
        with iam.acting_as_role(function.role_arn), moto_seams.invocation_metrics():
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
        function.release()
    return json.dumps(result).encode("utf-8"), False


def _throttled_error(reason: ThrottleReason) -> Exception:
    """Lambda's 429 TooManyRequestsException, as moto's error for the Invoke it is raised in
    (moto answers it with this status, headers and body)."""
    status, headers, body = lambda_throttle_answer(reason)
    return moto_seams.moto_error(
        "TooManyRequestsException",
        json.loads(body)["message"],
        status=status,
        body=body,
        headers=headers,
    )


def _moto_invoke(invocation: moto_seams.LambdaInvocation) -> tuple[bytes, bool]:
    event = json.loads(invocation.body) if invocation.body else {}
    # Set by PutFunctionConcurrency (moto keeps it); 0 throttles every invocation. Lambda
    # queues an asynchronous invocation instead of refusing it: only synchronous ones are.
    reserved = invocation.reserved_concurrency
    if invocation.invocation_type != "RequestResponse":
        reserved = None
    try:
        return invoke_registered(
            invocation.function_name,
            event,
            reserved_concurrency=None if reserved is None else int(reserved),
        )
    except ConcurrencyLimitExceededError as refused:
        raise _throttled_error(refused.reason) from refused


@contextmanager
def in_process_lambdas() -> Iterator[None]:
    """While active, moto runs Lambda invocations through the registered handlers, and each
    invocation `invoke_registered` runs has its own Powertools metric state."""
    with (
        moto_seams.lambda_invocations(_moto_invoke),
        moto_seams.powertools_metrics_per_invocation(),
    ):
        yield
