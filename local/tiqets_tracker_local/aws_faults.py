"""AWS-side fault injection for the local stack (local-only tooling, never shipped to Lambda).

moto answers every botocore request from one `before-send` handler,
`moto.core.botocore_stubber.BotocoreStubber.__call__(self, event_name, request, **kwargs)`, where
`event_name` is `before-send.<service id>.<Operation>` (`before-send.dynamodb.UpdateItem`,
`before-send.s3.PutObject`, `before-send.eventbridge.PutEvents`, `before-send.sfn.SendTaskSuccess`,
`before-send.lambda.Invoke`). While an `AwsFaults` is active that method is replaced (the seam
`moto_seams.botocore_stubber_calls`; every patch of a moto internal is in moto_seams.py), so every
boto3 client of the process goes through it before moto answers: the test's clients, our Lambdas'
clients (tiqets_tracker.aws) and the clients moto's Step Functions interpreter creates for its
`aws-sdk:` and `events:putEvents` tasks. A call that a fault matches gets the fault's answer;
every other call goes on to moto unchanged.

    with AwsFaults() as faults:
        throttled = faults.error(
            "dynamodb", "UpdateItem", "ProvisionedThroughputExceededException",
            when=lambda call: "announced_outcome = :outcome" in call.text, times=2,
        )
        ...
        assert throttled.calls == 2

What a fault can do to a call it matches:
- answer an error in the service's wire protocol (`error`): JSON 1.0/1.1 with `__type` for
  DynamoDB, EventBridge, Step Functions; S3's XML `<Error><Code>`; REST-JSON and Query XML for
  the others. botocore parses it as it parses AWS's answer, so retries (botocore's own, the
  state machine's) and error names are the real ones.
- answer anything else (`respond`), e.g. `put_events_failed_entries`: HTTP 200 with
  `FailedEntryCount`, which the `events:putEvents` integration turns into
  `EventBridge.FailedEntry`.
- crash the Lambda whose call it is, before the call (`crash_before`: the function hung on it
  and timed out) or after moto answered it (`crash_after`: the call took effect, then the
  runtime died). The crash is a `SimulatedRuntimeFailure`, which `lambdas.py` reports the way
  Lambda reports a timeout or an out-of-memory kill.
- run a callable first and then let the call through (`before`), to hold a call back until
  something else happened (races).
- let the call take effect and then answer something else (`respond_after`): an answer lost
  or replaced on the way back.

Lambda's own faults, on the `Invoke` calls of one function (`invocation_of`), the state
machine's among them (moto's interpreter invokes through a boto3 client with botocore's
retries off, so each fault is one failed attempt of the Task, named as on AWS):
- `lambda_throttled`: a burst of throttles. Lambda answers HTTP 429 `TooManyRequestsException`
  with its `Reason` (`ThrottleReason`) and never runs the handler; Step Functions reports
  `Lambda.TooManyRequestsException`.
- `lambda_timed_out`: the invocation ran past its function's Timeout. Lambda answers 200 with
  `X-Amz-Function-Error: Unhandled` and a `Sandbox.Timedout` payload ("Task timed out after
  30.00 seconds"), which Step Functions reports as `Sandbox.Timedout`. Either the handler never
  answered (`after_running=False`: it is not run, as if it hung at once) or it did all its
  work and the answer came too late (`after_running=True`). Injected, not measured: the local
  stack does not enforce a function's Timeout in real time (see lambdas.py).
A function at its reserved concurrency needs no fault: `PutFunctionConcurrency` on the local
stack is enforced by lambdas.py, which answers the same 429 as `lambda_throttled`, with
`ReservedFunctionConcurrentInvocationLimitExceeded`.

A fault acts on at most `times` calls (None: on every matching call); once spent it lets calls
through. `Fault.calls` counts the calls it acted on and `Fault.answers` what each got.

`faster_state_machine_retries(scale)` shortens the waits of the state machine's `Retry` fields
(moto sleeps them in real time; the seam `moto_seams.state_machine_retry_sleeps`) for a test that
has to run a long retry chain to its end.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from io import BytesIO
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from tiqets_tracker_local import moto_seams

__all__ = [
    "LAMBDA_THROTTLE_MESSAGE",
    "Answer",
    "AwsCall",
    "AwsFaults",
    "Fault",
    "FaultKind",
    "SimulatedRuntimeFailure",
    "ThrottleReason",
    "aws_error_response",
    "faster_state_machine_retries",
    "invocation_of",
    "invoked_function_name",
    "lambda_throttle_answer",
]

# DynamoDB's errors carry the service's namespace in `__type`, as AWS sends them.
_JSON_ERROR_NAMESPACES: Final = {"dynamodb": "com.amazonaws.dynamodb.v20120810"}


class SimulatedRuntimeFailure(BaseException):
    """The Lambda runtime dying under the handler: a timeout, an out-of-memory kill.

    A BaseException, so no `except Exception` in the handler, Powertools or botocore can
    swallow it, as nothing in a function survives the runtime killing it. `lambdas.py` reports
    it as the invocation's unhandled error with `error_type` as the payload's `errorType`.
    Raise it only inside a Lambda that `lambdas.py` runs."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message

    @classmethod
    def timeout(cls, seconds: float = 60.0) -> SimulatedRuntimeFailure:
        """What Lambda reports for a function that ran past its timeout (`Sandbox.Timedout`)."""
        return cls("Sandbox.Timedout", f"Task timed out after {seconds:.2f} seconds")

    @classmethod
    def unknown(
        cls, message: str = "Runtime exited with error: signal: killed"
    ) -> SimulatedRuntimeFailure:
        """An unhandled runtime failure as Step Functions names it (`Lambda.Unknown`)."""
        return cls("Lambda.Unknown", message)

    def fresh(self) -> SimulatedRuntimeFailure:
        """A new instance to raise (one exception object per crash, each its own traceback)."""
        return type(self)(self.error_type, self.message)

    def payload(self, request_id: str) -> dict[str, str]:
        """The invocation's error payload, as Lambda returns it."""
        return {
            "errorType": self.error_type,
            "errorMessage": f"RequestId: {request_id} Error: {self.message}",
        }


@dataclass(frozen=True)
class AwsCall:
    """One botocore request, as the fault injector sees it before moto does."""

    service: str
    """botocore's hyphenated service id: dynamodb, s3, eventbridge, sfn, lambda, sqs, ..."""
    operation: str
    """The API operation: UpdateItem, PutObject, PutEvents, SendTaskSuccess, ..."""
    method: str
    url: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (empty for a body that is not UTF-8)."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return ""

    def json(self) -> Any:
        """The body parsed as JSON; None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @classmethod
    def from_request(cls, event_name: str, request: AWSPreparedRequest) -> AwsCall:
        _, service, operation = event_name.split(".", 2)
        raw = request.body
        if isinstance(raw, str):
            body = raw.encode("utf-8")
        elif isinstance(raw, bytes | bytearray):
            body = bytes(raw)
        else:  # a stream (a file upload): not inspected
            body = b""
        return cls(
            service=service,
            operation=operation,
            method=str(request.method),
            url=str(request.url),
            headers={str(name).lower(): str(value) for name, value in request.headers.items()},
            body=body,
        )


@dataclass(frozen=True)
class Answer:
    """What one call a fault acted on got: the HTTP status, and the error code if any."""

    status: int
    error_code: str | None


class _RawBody(BytesIO):
    """A response body botocore can read (`read`) and stream (`stream`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def _response(call: AwsCall, status: int, headers: Mapping[str, str], body: bytes) -> AWSResponse:
    return AWSResponse(call.url, status, dict(headers), _RawBody(body))  # type: ignore[arg-type]


def _protocol(call: AwsCall) -> str:
    if "x-amz-target" in call.headers:
        return "json"
    if call.service == "s3":
        return "rest-xml"
    if call.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-json"


def aws_error_response(call: AwsCall, code: str, status: int, message: str) -> AWSResponse:
    """An error answer to `call` in its service's wire protocol, as AWS sends it."""
    request_id = str(uuid.uuid4())
    protocol = _protocol(call)
    if protocol == "json":
        namespace = _JSON_ERROR_NAMESPACES.get(call.service)
        body = json.dumps(
            {"__type": f"{namespace}#{code}" if namespace else code, "message": message}
        ).encode()
        content_type = call.headers.get("content-type", "application/x-amz-json-1.0")
        headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id}
    elif protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id[:16].upper()}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        headers = {
            "Content-Type": "application/xml",
            "x-amz-request-id": request_id[:16].upper(),
            "x-amz-id-2": request_id,
        }
        if call.method == "HEAD":  # S3 answers HEAD errors without a body
            body = b""
    elif protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    else:
        body = json.dumps({"message": message}).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": request_id,
        }
    return _response(call, status, headers, body)


Responder = Callable[[AwsCall], AWSResponse]
Predicate = Callable[[AwsCall], bool]


class ThrottleReason(StrEnum):
    """Why Lambda throttled an invocation: the `Reason` of its TooManyRequestsException (the
    API's ThrottleReason)."""

    ACCOUNT_CONCURRENCY = "ConcurrentInvocationLimitExceeded"
    """The account's (unreserved) concurrency is used up, by any of its functions."""
    RESERVED_CONCURRENCY = "ReservedFunctionConcurrentInvocationLimitExceeded"
    """The function runs as many invocations as its reserved concurrency allows."""
    FUNCTION_RATE = "FunctionInvocationRateLimitExceeded"
    RESERVED_RATE = "ReservedFunctionInvocationRateLimitExceeded"
    CALLER_RATE = "CallerRateLimitExceeded"


# What Lambda says when it throttles an invocation (and Step Functions repeats in the cause).
LAMBDA_THROTTLE_MESSAGE: Final = "Rate Exceeded."


def lambda_throttle_answer(
    reason: ThrottleReason | str, message: str = LAMBDA_THROTTLE_MESSAGE
) -> tuple[int, dict[str, str], bytes]:
    """Lambda's answer to an Invoke it throttles (status, headers, body): HTTP 429,
    `TooManyRequestsException` in `x-amzn-ErrorType`, and the body Lambda sends,
    `{"Reason": ..., "Type": "User", "message": ...}`, which botocore parses into the error's
    `Reason`, `Type` and `message`."""
    body = json.dumps({"Reason": str(reason), "Type": "User", "message": message}).encode()
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "TooManyRequestsException",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return 429, headers, body


def invoked_function_name(call: AwsCall) -> str | None:
    """The name of the function a Lambda `Invoke` call invokes (given by name, ARN or partial
    ARN, with or without a qualifier); None for any other call."""
    if call.service != "lambda" or call.operation != "Invoke":
        return None
    parts = urlsplit(call.url).path.split("/")
    if len(parts) < 2 or parts[-1] != "invocations":
        return None
    named = unquote(parts[-2])
    if ":function:" in named:
        named = named.split(":function:", 1)[1]
    return named.split(":", 1)[0]


def invocation_of(function_name: str) -> Predicate:
    """A Lambda `Invoke` of this function (by its name; the state machine invokes by ARN)."""
    return lambda call: invoked_function_name(call) == function_name


class FaultKind(StrEnum):
    RESPOND = "respond"
    RESPOND_AFTER = "respond_after"
    CRASH_BEFORE = "crash_before"
    CRASH_AFTER = "crash_after"
    BEFORE = "before"


@dataclass(eq=False)
class Fault:
    """What to do to the calls of one operation that `when` accepts, at most `times` times."""

    service: str
    operation: str
    kind: FaultKind
    when: Predicate | None = None
    times: int | None = 1
    respond: Responder | None = None
    failure: SimulatedRuntimeFailure | None = None
    hook: Callable[[AwsCall], None] | None = None
    _calls: list[AwsCall] = field(default_factory=list)
    _answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError("a fault acts on at least one call (times=None: on every call)")
        needs = {
            FaultKind.RESPOND: self.respond,
            FaultKind.RESPOND_AFTER: self.respond,
            FaultKind.CRASH_BEFORE: self.failure,
            FaultKind.CRASH_AFTER: self.failure,
            FaultKind.BEFORE: self.hook,
        }
        if needs[self.kind] is None:
            raise ValueError(f"a {self.kind} fault needs its action")

    def __repr__(self) -> str:
        return (
            f"Fault({self.service}.{self.operation}, {self.kind}, times={self.times}, "
            f"calls={self.calls})"
        )

    @property
    def calls(self) -> int:
        """How many calls this fault acted on."""
        with self._lock:
            return len(self._calls)

    @property
    def matched(self) -> list[AwsCall]:
        """The calls this fault acted on, in order."""
        with self._lock:
            return list(self._calls)

    @property
    def answers(self) -> list[Answer]:
        """What each call this fault acted on got (none for a crash before the call)."""
        with self._lock:
            return list(self._answers)

    def _claim(self, call: AwsCall) -> bool:
        """Take this call if it matches and the fault is not spent."""
        if call.service != self.service or call.operation != self.operation:
            return False
        if self.when is not None and not self.when(call):
            return False
        with self._lock:
            if self.times is not None and len(self._calls) >= self.times:
                return False
            self._calls.append(call)
            return True

    def _note(self, response: AWSResponse | None) -> None:
        if response is None:
            return
        with self._lock:
            self._answers.append(Answer(response.status_code, _error_code(response)))


def _error_code(response: AWSResponse) -> str | None:
    if response.status_code < 300:
        return None
    header = response.headers.get("x-amzn-ErrorType")
    if header:
        return str(header).split(":", 1)[0]
    content = response.content or b""
    try:
        parsed = json.loads(content)
    except ValueError:
        start, end = content.find(b"<Code>"), content.find(b"</Code>")
        return content[start + 6 : end].decode() if 0 <= start < end else None
    code = parsed.get("__type") if isinstance(parsed, dict) else None
    return str(code).rsplit("#", 1)[-1] if code else None


class AwsFaults:
    """Faults for the AWS calls of this process, active inside `with`. See the module docstring.

    Faults are tried in the order they were added; the first that takes a call acts on it.
    Only calls moto answers are touched (nothing when moto is not mocking)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._patch: ExitStack | None = None

    def __repr__(self) -> str:
        return f"AwsFaults({self._faults!r})"

    def __enter__(self) -> AwsFaults:
        def handle(
            event_name: str,
            request: AWSPreparedRequest,
            delegate: Callable[[], AWSResponse | None],
        ) -> AWSResponse | None:
            return self._handle(AwsCall.from_request(event_name, request), delegate)

        patch = ExitStack()
        patch.enter_context(moto_seams.botocore_stubber_calls(handle))
        self._patch = patch
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._patch is not None:
            self._patch.close()
            self._patch = None

    # -- adding faults ----------------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def error(
        self,
        service: str,
        operation: str,
        code: str,
        *,
        status: int = 400,
        message: str | None = None,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Answer `code` with `status` in the service's protocol, instead of moto."""
        text = message or f"injected {code}"
        return self.add(
            Fault(
                service,
                operation,
                FaultKind.RESPOND,
                when=when,
                times=times,
                respond=lambda call: aws_error_response(call, code, status, text),
            )
        )

    def respond(
        self,
        service: str,
        operation: str,
        responder: Responder,
        *,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Answer with whatever `responder` builds for the call, instead of moto."""
        return self._respond(
            FaultKind.RESPOND, service, operation, responder, when=when, times=times
        )

    def respond_after(
        self,
        service: str,
        operation: str,
        responder: Responder,
        *,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Let moto answer the call (it takes effect), then answer what `responder` builds
        instead of moto's answer."""
        return self._respond(
            FaultKind.RESPOND_AFTER, service, operation, responder, when=when, times=times
        )

    def _respond(
        self,
        kind: FaultKind,
        service: str,
        operation: str,
        responder: Responder,
        *,
        when: Predicate | None,
        times: int | None,
    ) -> Fault:
        return self.add(Fault(service, operation, kind, when=when, times=times, respond=responder))

    def lambda_throttled(
        self,
        function_name: str,
        *,
        times: int | None = 1,
        reason: ThrottleReason | str = ThrottleReason.ACCOUNT_CONCURRENCY,
        message: str = LAMBDA_THROTTLE_MESSAGE,
        when: Predicate | None = None,
    ) -> Fault:
        """The next `times` invocations of the function (that `when` accepts) are throttled:
        Lambda answers 429 TooManyRequestsException with `reason`, and the handler never runs.
        """

        def throttled(call: AwsCall) -> AWSResponse:
            status, headers, body = lambda_throttle_answer(reason, message)
            return _response(call, status, headers, body)

        return self.respond(
            "lambda", "Invoke", throttled, when=_invoking(function_name, when), times=times
        )

    def lambda_timed_out(
        self,
        function_name: str,
        *,
        times: int | None = 1,
        seconds: float | None = None,
        after_running: bool = False,
        when: Predicate | None = None,
    ) -> Fault:
        """The next `times` invocations of the function (that `when` accepts) time out: Lambda
        answers the `Sandbox.Timedout` function error "Task timed out after <seconds>" (by
        default the function's configured Timeout). With `after_running` the handler runs and
        its effects stay, only its answer is lost; without, it is not run at all (it hung at
        its start). The timeout is reported at once, not after `seconds` of real time."""
        if seconds is None:
            from tiqets_tracker_local import lambdas

            seconds = lambdas.registered(function_name).timeout_seconds
        failure = SimulatedRuntimeFailure.timeout(seconds)

        def timed_out(call: AwsCall) -> AWSResponse:
            request_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "X-Amz-Function-Error": "Unhandled",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-RequestId": request_id,
            }
            return _response(call, 200, headers, json.dumps(failure.payload(request_id)).encode())

        add = self.respond_after if after_running else self.respond
        return add("lambda", "Invoke", timed_out, when=_invoking(function_name, when), times=times)

    def put_events_failed_entries(
        self,
        *,
        error_code: str = "InternalFailure",
        message: str = "injected failed entry",
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """PutEvents answers HTTP 200 but reports every entry failed (`FailedEntryCount`), as
        EventBridge does for entries it could not take; nothing is put on the bus."""

        def failed(call: AwsCall) -> AWSResponse:
            entries = (call.json() or {}).get("Entries") or [{}]
            body = {
                "FailedEntryCount": len(entries),
                "Entries": [{"ErrorCode": error_code, "ErrorMessage": message} for _ in entries],
            }
            headers = {
                "Content-Type": call.headers.get("content-type", "application/x-amz-json-1.1"),
                "x-amzn-RequestId": str(uuid.uuid4()),
            }
            return _response(call, 200, headers, json.dumps(body).encode())

        return self.respond("eventbridge", "PutEvents", failed, when=when, times=times)

    def crash_before(
        self,
        service: str,
        operation: str,
        failure: SimulatedRuntimeFailure,
        *,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """The Lambda making the call dies on it: the call never reaches AWS."""
        fault = Fault(
            service, operation, FaultKind.CRASH_BEFORE, when=when, times=times, failure=failure
        )
        return self.add(fault)

    def crash_after(
        self,
        service: str,
        operation: str,
        failure: SimulatedRuntimeFailure,
        *,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """The call takes effect (moto answers it), then the Lambda making it dies."""
        fault = Fault(
            service, operation, FaultKind.CRASH_AFTER, when=when, times=times, failure=failure
        )
        return self.add(fault)

    def before(
        self,
        service: str,
        operation: str,
        hook: Callable[[AwsCall], None],
        *,
        when: Predicate | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Run `hook` (in the calling thread; it may block) and then let the call through."""
        return self.add(
            Fault(service, operation, FaultKind.BEFORE, when=when, times=times, hook=hook)
        )

    # -- acting -----------------------------------------------------------------------------

    def _handle(
        self, call: AwsCall, delegate: Callable[[], AWSResponse | None]
    ) -> AWSResponse | None:
        with self._lock:
            faults = list(self._faults)
        fault = next((fault for fault in faults if fault._claim(call)), None)
        if fault is None:
            return delegate()
        if fault.kind is FaultKind.RESPOND:
            assert fault.respond is not None
            answer = fault.respond(call)
            fault._note(answer)
            return answer
        if fault.kind is FaultKind.RESPOND_AFTER:
            assert fault.respond is not None
            delegate()
            answer = fault.respond(call)
            fault._note(answer)
            return answer
        if fault.kind is FaultKind.CRASH_BEFORE:
            assert fault.failure is not None
            raise fault.failure.fresh()
        if fault.kind is FaultKind.BEFORE:
            assert fault.hook is not None
            fault.hook(call)
        response = delegate()
        fault._note(response)
        if fault.kind is FaultKind.CRASH_AFTER:
            assert fault.failure is not None
            raise fault.failure.fresh()
        return response


def _invoking(function_name: str, when: Predicate | None) -> Predicate:
    of_function = invocation_of(function_name)
    if when is None:
        return of_function
    return lambda call: of_function(call) and when(call)


@contextmanager
def faster_state_machine_retries(scale: float) -> Iterator[None]:
    """Run the waits between a Task's retries (IntervalSeconds, BackoffRate, MaxDelaySeconds,
    jitter, all as the definition says) at `scale` times their length, e.g. 0.05. moto's
    interpreter sleeps them in real time, so a six-attempt chain can take a minute; nothing
    else about the state machine changes. Applies to every execution while active."""
    if not (math.isfinite(scale) and 0 < scale <= 1):
        raise ValueError("scale must be in (0, 1]")

    def scaled_sleep(seconds: float) -> None:
        time.sleep(seconds * scale)

    with moto_seams.state_machine_retry_sleeps(scaled_sleep):
        yield
