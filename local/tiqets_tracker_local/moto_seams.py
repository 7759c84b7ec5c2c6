"""Every patch the local stack makes to moto's, botocore's and Powertools' internals, in one place.

The local stack (stack.py) runs the application on moto in this process, and corrects moto where
it answers unlike AWS or cannot run our Lambdas. Each correction replaces one internal name for
as long as a context manager below is active. The logic of each replacement (what AWS does) stays
in the feature module that needs it; this module only knows where to hook it in. Someone
upgrading moto, botocore or Powertools reads this module to see everything that may break.

Versions. At import, this module refuses a moto outside `MOTO_VERSIONS` and a Powertools outside
`POWERTOOLS_VERSIONS`, the ranges pyproject.toml pins, with an error that says what to do
(`require_moto`, `require_powertools`); `step_functions_internals` checks moto's version again,
and that every name strict_states.py uses is there. A seam whose name is gone fails when it is
entered (`mock.patch.object` raises AttributeError), never silently. tests/workflow prove that
each seam still does its work (test_local_stack_seams.py, test_iam.py, test_aws_faults.py,
test_lambda_throttling.py, test_strict_states.py).

The seams, by the internal each replaces, and who installs it:

moto
- `lambda_invocations`: `moto.awslambda.models.LambdaFunction.invoke`. moto's runner needs
  Docker; ours runs the registered handler in-process (lambdas.py).
- `moto_error`: builds a `moto.core.exceptions.JsonRESTError` with its status, body and headers
  replaced, which moto answers as it is (lambdas.py's 429, iam.py's JSON refusals).
- `botocore_stubber_calls`: `moto.core.botocore_stubber.BotocoreStubber.__call__`, the
  `before-send` handler through which moto answers every botocore request; fault injection
  (aws_faults.py).
- `state_machine_retry_sleeps`: the `time` module of
  `moto.stepfunctions.parser.asl.component.common.retry.retrier_decl`, which sleeps a Retry's
  waits in real time; faster retries (aws_faults.py).
- `iam_authentication_enforced`: `moto.core.authorization.enable_iam_authentication` (moto's
  `settings.INITIAL_NO_AUTH_ACTION_COUNT` set to 0) (iam.py).
- `iam_authorization`: `ActionAuthenticatorMixin._authenticate_and_authorize_normal_action`,
  with a subclass of `moto.iam.access_control.IAMRequest` (its `_action`, `_service`,
  `_access_key`, `check_action_permitted`, `_raise_access_denied`, `_raise_invalid_access_key`,
  `_raise_signature_does_not_match`, `_create_aws_request`); the resources and action names
  AWS authorizes, and AWS's answers to a refusal (iam.py).
- `iam_policy_element_matching`: `moto.iam.access_control.IAMPolicyStatement
  ._check_element_matches`; IAM's wildcards (iam.py).
- `interpreter_task_clients`: `boto_client_for` where each module of moto's Step Functions
  interpreter that makes a task's AWS client imported it (`INTERPRETER_CLIENT_MODULES`); tasks
  sign as the execution's role (iam.py).
- `parser_execution_lookups`: `moto.stepfunctions.parser.models.StepFunctionsParserBackend
  ._get_executions`; callbacks skip executions not yet running (stack.py).
- `eventbridge_lambda_targets`: `moto.events.models.Rule.send_to_targets`, which raises
  NotImplementedError for a Lambda target; a rule's Lambda targets are handed to the local
  stack's asynchronous delivery instead (event_rules.py).
- `dynamodb_single_item_actions`: `moto.dynamodb.responses.DynamoHandler`'s `get_item`,
  `put_item`, `update_item` and `delete_item`; one request at a time per item (stack.py).
- `step_functions_internals`, `error_equals_evaluation`, `branch_error_names`,
  `history_event_adding`: moto's Step Functions parser (`ErrorEqualsDecl._eval_body`, the
  `CustomErrorName` of `branches_decl` and `iteration_worker`, `EventManager.add_event`);
  the errors no wildcard catches and the history limit (strict_states.py).

botocore
- `request_signing`: `botocore.signers.RequestSigner.get_auth_instance`; each request signs as
  the principal iam.py picks (the handler's role, the operator).

Powertools (aws_lambda_powertools)
- `powertools_metrics_per_invocation` and `invocation_metrics`: the `metric_set`,
  `dimension_set`, `metadata_set` and `dimension_sets` attributes of
  `AmazonCloudWatchEMFProvider`, for the providers of the metric state that every `Metrics()` of
  the process shares (`Metrics._metrics`, `_dimensions`, `_metadata`: class attributes). In a
  Lambda container one invocation runs at a time and the flush after each empties that state;
  here several handlers run in threads of one process, and with metrics disabled (the local
  stack's POWERTOOLS_METRICS_DISABLED) nothing ever empties it. Each invocation lambdas.py runs
  gets its own state instead (lambdas.py).

Read, not patched (may break on an upgrade too): iam.py reads `moto.iam.models.iam_backends`,
`moto.sts.models.sts_backends` (`assume_role`), `moto.secretsmanager.models
.secretsmanager_backends`, a moto response's `_get_action()`, `current_account`, `region`,
`service_name`, `body`, `raw_body`, `path`, `querystring` and `stepfunction_backend`, and an
execution's `exec_worker.env.callback_pool_manager`; stack.py reads an execution's
`exec_worker.env` and uses `moto.mock_aws`; lambdas.py reads a function's `reserved_concurrency`
(in `lambda_invocations`). tests/workflow/test_local_stack_seams.py patches
`ExecutionWorker.start` and `UpdateExpressionExecutor.execute` to force the races it checks.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse
    from botocore.config import Config

__all__ = [
    "INTERPRETER_CLIENT_MODULES",
    "MOTO_SERIES",
    "MOTO_VERSIONS",
    "POWERTOOLS_VERSIONS",
    "IamRefusal",
    "InternalsChangedError",
    "InvocationMetrics",
    "LambdaInvocation",
    "MotoInternalsChangedError",
    "PowertoolsInternalsChangedError",
    "RefusedRequest",
    "VersionRange",
    "botocore_stubber_calls",
    "branch_error_names",
    "dynamodb_single_item_actions",
    "error_equals_evaluation",
    "eventbridge_lambda_targets",
    "history_event_adding",
    "iam_authentication_enforced",
    "iam_authorization",
    "iam_policy_element_matching",
    "interpreter_task_clients",
    "invocation_metrics",
    "lambda_invocations",
    "moto_error",
    "parser_execution_lookups",
    "powertools_metrics_per_invocation",
    "request_signing",
    "require_moto",
    "require_powertools",
    "state_machine_retry_sleeps",
    "step_functions_internals",
]

# -- versions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRange:
    """The versions of one distribution the seams were written for: `lowest` <= v < `below`."""

    distribution: str
    lowest: tuple[int, ...]
    below: tuple[int, ...]

    def __str__(self) -> str:
        def dotted(release: tuple[int, ...]) -> str:
            return ".".join(str(part) for part in release)

        return f"{self.distribution}>={dotted(self.lowest)},<{dotted(self.below)}"

    def admits(self, version: str) -> bool:
        """Whether `version` (its release part: "5.2.6.dev3" is 5.2.6) lies in the range."""
        found = re.match(r"\d+(?:\.\d+)*", version.strip())
        if found is None:
            return False
        release = tuple(int(part) for part in found.group().split("."))
        return self.lowest <= release < self.below


# Change these only together with the pins in pyproject.toml (test_local_stack_seams.py checks
# that they agree), after reviewing every seam below against the new version.
MOTO_VERSIONS: Final = VersionRange("moto", lowest=(5, 2, 5), below=(5, 3))
MOTO_SERIES: Final = "5.2."
POWERTOOLS_VERSIONS: Final = VersionRange("aws-lambda-powertools", lowest=(3, 20), below=(4,))

_THIS_MODULE = "local/tiqets_tracker_local/moto_seams.py"
_INSTALL = "install the pinned versions (`.venv/bin/pip install -e '.[dev]'`)"


class InternalsChangedError(RuntimeError):
    """A library the local stack patches is not the version its seams were written for, or
    lacks a name they patch or use."""


class MotoInternalsChangedError(InternalsChangedError):
    """moto is not the series the seams were written for, or lacks what they patch."""


class PowertoolsInternalsChangedError(InternalsChangedError):
    """aws_lambda_powertools is not the major version the metrics seam was written for, or
    lacks what it patches."""


def require_moto(version: str) -> None:
    """Refuse (MotoInternalsChangedError) a moto `version` outside MOTO_VERSIONS."""
    if MOTO_VERSIONS.admits(version):
        return
    raise MotoInternalsChangedError(
        f"moto {version} is installed, but {_THIS_MODULE} patches moto {MOTO_SERIES}x internals"
        f" and was written for {MOTO_VERSIONS} (pyproject.toml's pin): {_INSTALL}, or, to move"
        f" to moto {version}, review every seam in {_THIS_MODULE} against it, run"
        " tests/workflow, then change MOTO_VERSIONS there and the pin in pyproject.toml together"
    )


def require_powertools(version: str) -> None:
    """Refuse (PowertoolsInternalsChangedError) a Powertools `version` outside
    POWERTOOLS_VERSIONS."""
    if POWERTOOLS_VERSIONS.admits(version):
        return
    raise PowertoolsInternalsChangedError(
        f"aws-lambda-powertools {version} is installed, but {_THIS_MODULE} patches its metric"
        f" state and was written for {POWERTOOLS_VERSIONS} (pyproject.toml's pin): {_INSTALL},"
        f" or, to move to {version}, review powertools_metrics_per_invocation against it, run"
        " tests/workflow, then change POWERTOOLS_VERSIONS there and the pin in pyproject.toml"
        " together"
    )


def _installed(distribution: str, error: type[InternalsChangedError]) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise error(f"{distribution} is not installed: {_INSTALL}") from None


# Once, at import: the local stack refuses to start on versions its seams were not written for
# (read from the installed metadata: importing moto itself costs a fifth of a second).
require_moto(_installed("moto", MotoInternalsChangedError))
require_powertools(_installed("aws-lambda-powertools", PowertoolsInternalsChangedError))


def moto_error(
    error_type: str,
    message: str,
    *,
    status: int,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Exception:
    """An exception that, raised while moto handles a request, is answered with `status`, the
    JSON body `{"__type": error_type, "message": message}` (or `body`) and moto's headers (or
    `headers`): a `moto.core.exceptions.JsonRESTError` whose `code`, `description` and
    `get_headers` are replaced (what moto renders an error from)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(error_type, message)
    error.code = status
    if body is not None:
        error.description = body.decode("utf-8")
    if headers is not None:
        answer_headers = list(headers.items())
        error.get_headers = lambda *_, **__: answer_headers  # type: ignore[method-assign]
    return error


# -- Lambda (lambdas.py) ----------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaInvocation:
    """One Invoke, as moto's LambdaFunction.invoke gets it."""

    function_name: str
    body: str | None
    """The payload as moto received it (None or "" for none)."""
    invocation_type: str
    """X-Amz-Invocation-Type: RequestResponse (the default), Event or DryRun."""
    reserved_concurrency: Any
    """What PutFunctionConcurrency set (moto keeps it on the function); None if nothing did."""


@contextmanager
def lambda_invocations(run: Callable[[LambdaInvocation], tuple[bytes, bool]]) -> Iterator[None]:
    """Replaces `moto.awslambda.models.LambdaFunction.invoke(self, body, request_headers,
    response_headers)`, which moto's Lambda API (and so its Step Functions interpreter) ends in
    and which needs Docker: `run(invocation)` answers instead, with the response payload and
    whether it is a function error (answered with `X-Amz-Function-Error: Unhandled`, as Lambda
    does). An exception `run` raises is moto's answer to the Invoke (see `moto_error`)."""
    from moto.awslambda.models import LambdaFunction

    def invoke(self: Any, body: str | None, request_headers: Any, response_headers: Any) -> bytes:
        payload, errored = run(
            LambdaInvocation(
                function_name=self.function_name,
                body=body,
                invocation_type=request_headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                reserved_concurrency=getattr(self, "reserved_concurrency", None),
            )
        )
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    with mock.patch.object(LambdaFunction, "invoke", invoke):
        yield


# -- EventBridge (event_rules.py) -------------------------------------------------------------


@contextmanager
def eventbridge_lambda_targets(
    deliver: Callable[[str, dict[str, Any]], None],
) -> Iterator[None]:
    """Replaces `moto.events.models.Rule.send_to_targets(self, original_event, transform_input)`
    so that an event matching a rule is handed to `deliver(function_arn, event)` for each of the
    rule's Lambda targets (moto raises NotImplementedError for them); its other targets go
    through moto as before. `event` is moto's event message as it stands (a copy)."""
    import copy

    from moto.events.models import Rule

    original = Rule.send_to_targets

    def is_lambda(target: Mapping[str, Any]) -> bool:
        return str(target["Arn"]).split(":")[2] == "lambda"

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        lambda_targets = [target for target in self.targets if is_lambda(target)]
        if not lambda_targets:
            original(self, original_event, transform_input)
            return
        others = copy.copy(self)
        others.targets = [target for target in self.targets if not is_lambda(target)]
        original(others, original_event, transform_input)
        if self.event_pattern.matches_event(original_event):
            for target in lambda_targets:
                if "InputTransformer" in target or "Input" in target or "InputPath" in target:
                    raise NotImplementedError("the local stack delivers whole events only")
                deliver(str(target["Arn"]), copy.deepcopy(dict(original_event)))

    with mock.patch.object(Rule, "send_to_targets", send_to_targets):
        yield


# -- Powertools metrics (lambdas.py) ----------------------------------------------------------

_METRIC_STATE: Final = ("metric_set", "dimension_set", "metadata_set", "dimension_sets")


@dataclass
class InvocationMetrics:
    """One invocation's Powertools metric state: what a Lambda container holds between two
    flushes. Empty at the start; the dimension set starts from the provider's default
    dimensions, as after Powertools' `clear_metrics`."""

    metric_set: dict[str, Any] = field(default_factory=dict)
    dimension_set: dict[str, str] | None = None
    metadata_set: dict[str, Any] = field(default_factory=dict)
    dimension_sets: list[dict[str, str]] = field(default_factory=list)

    def state(self, name: str, provider: Any) -> Any:
        if name == "dimension_set" and self.dimension_set is None:
            defaults = getattr(provider, "default_dimensions", None) or {}
            self.dimension_set = {
                key: value if isinstance(value, str) else str(value)
                for key, value in defaults.items()
            }
        return getattr(self, name)


_invocation: ContextVar[InvocationMetrics | None] = ContextVar(
    "tiqets_local_invocation_metrics", default=None
)


@contextmanager
def invocation_metrics() -> Iterator[InvocationMetrics]:
    """The block is one Lambda invocation to Powertools' shared metric state: it starts empty
    and goes with the block (what the flush after each invocation leaves in a container). A
    context variable, so the handlers of other threads each keep their own. In effect while
    `powertools_metrics_per_invocation` is installed."""
    state = InvocationMetrics()
    token = _invocation.set(state)
    try:
        yield state
    finally:
        _invocation.reset(token)


class _PerInvocation:
    """A data descriptor for one metric-state attribute of AmazonCloudWatchEMFProvider. The
    provider's own value stays in its instance dict (what Powertools sets in `__init__`); inside
    `invocation_metrics` a provider of the shared state (its own metric_set is
    `Metrics._metrics`) sees the invocation's state instead. Other providers (single_metric's,
    EphemeralMetrics) and every access outside an invocation see their own."""

    def __init__(self, name: str, shared_metric_set: dict[str, Any]) -> None:
        self._name = name
        self._shared_metric_set = shared_metric_set

    def __get__(self, provider: Any, owner: type | None = None) -> Any:
        if provider is None:
            return self
        own = vars(provider)
        if self._name not in own:
            raise AttributeError(self._name)
        invocation = _invocation.get()
        if invocation is None or own.get("metric_set") is not self._shared_metric_set:
            return own[self._name]
        return invocation.state(self._name, provider)

    def __set__(self, provider: Any, value: Any) -> None:
        vars(provider)[self._name] = value


@contextmanager
def powertools_metrics_per_invocation() -> Iterator[None]:
    """Gives `aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch
    .AmazonCloudWatchEMFProvider` data descriptors for `metric_set`, `dimension_set`,
    `metadata_set` and `dimension_sets` (instance attributes in Powertools 3) that resolve, for
    a provider of the state every `Metrics()` shares (`Metrics._metrics`, `_dimensions`,
    `_metadata`, class attributes), to the state of the running `invocation_metrics`. Without
    it concurrent handlers share one metric state: `Dimension 'status' has already been added`
    (PowertoolsUserWarning) when two checks see different statuses, and with metrics disabled
    every invocation inherits the metrics of all before it."""
    from aws_lambda_powertools.metrics import Metrics
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    shared = {
        name: getattr(Metrics, name, None) for name in ("_metrics", "_dimensions", "_metadata")
    }
    probe = vars(AmazonCloudWatchEMFProvider())
    missing = [
        f"Metrics.{name} (a dict)" for name, value in shared.items() if not isinstance(value, dict)
    ]
    missing += [
        f"AmazonCloudWatchEMFProvider().{name}"
        for name in _METRIC_STATE
        if name not in probe or hasattr(AmazonCloudWatchEMFProvider, name)
    ]
    if missing:
        raise PowertoolsInternalsChangedError(
            f"aws-lambda-powertools lacks {', '.join(missing)} as {_THIS_MODULE} expects:"
            " review powertools_metrics_per_invocation against it"
        )
    shared_metric_set = shared["_metrics"]
    assert isinstance(shared_metric_set, dict)
    with ExitStack() as patches:
        for name in _METRIC_STATE:
            patches.enter_context(
                mock.patch.object(
                    AmazonCloudWatchEMFProvider,
                    name,
                    _PerInvocation(name, shared_metric_set),
                    create=True,
                )
            )
        yield


# -- fault injection (aws_faults.py) ----------------------------------------------------------

Delegate = Callable[[], "AWSResponse | None"]


@contextmanager
def botocore_stubber_calls(
    handle: Callable[[str, AWSPreparedRequest, Delegate], AWSResponse | None],
) -> Iterator[None]:
    """Replaces `moto.core.botocore_stubber.BotocoreStubber.__call__(self, event_name, request,
    **kwargs)`, the `before-send` handler through which moto answers every botocore request of
    the process (`event_name` is `before-send.<service id>.<Operation>`): while moto mocks
    (`stubber.enabled`), `handle(event_name, request, delegate)` answers, `delegate()` being
    moto's own answer; otherwise moto's handler runs as it is."""
    from moto.core.botocore_stubber import BotocoreStubber

    original: Callable[..., AWSResponse | None] = BotocoreStubber.__call__

    def intercept(
        stubber: Any, event_name: str, request: AWSPreparedRequest, **kwargs: Any
    ) -> AWSResponse | None:
        def delegate() -> AWSResponse | None:
            return original(stubber, event_name, request, **kwargs)

        if not stubber.enabled:
            return delegate()
        return handle(event_name, request, delegate)

    with mock.patch.object(BotocoreStubber, "__call__", intercept):
        yield


class _TimeWithSleep:
    """Stands in for the `time` module: the same, but for `sleep`."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def state_machine_retry_sleeps(sleep: Callable[[float], None]) -> Iterator[None]:
    """Replaces the `time` module of moto's
    `moto.stepfunctions.parser.asl.component.common.retry.retrier_decl`, which sleeps the wait
    before each retry of a Retrier with `time.sleep`: those waits call `sleep(seconds)`."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    with mock.patch.object(retrier_decl, "time", _TimeWithSleep(sleep)):
        yield


# -- IAM (iam.py) -----------------------------------------------------------------------------


@contextmanager
def request_signing(credentials_for: Callable[[Any], Any | None]) -> Iterator[None]:
    """Replaces `botocore.signers.RequestSigner.get_auth_instance(self, signing_name,
    region_name, signature_version=None, request_credentials=None, **kwargs)`, where botocore
    picks the credentials each request is signed with: `credentials_for(the credentials botocore
    would use)` returns the botocore Credentials to sign with instead, or None to keep them."""
    from botocore.signers import RequestSigner

    original = RequestSigner.get_auth_instance

    @functools.wraps(original)
    def get_auth_instance(
        self: Any,
        signing_name: str,
        region_name: str,
        signature_version: str | None = None,
        request_credentials: Any = None,
        **kwargs: Any,
    ) -> Any:
        replacement = credentials_for(request_credentials or self._credentials)
        if replacement is not None:
            request_credentials = replacement
        return original(
            self, signing_name, region_name, signature_version, request_credentials, **kwargs
        )

    with mock.patch.object(RequestSigner, "get_auth_instance", get_auth_instance):
        yield


@contextmanager
def iam_authentication_enforced() -> Iterator[None]:
    """moto's `moto.core.authorization.enable_iam_authentication`: from the first request on
    (`settings.INITIAL_NO_AUTH_ACTION_COUNT` 0), moto checks each request's SigV4 signature and
    evaluates the policies of the principal that signed it."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        yield


class IamRefusal(StrEnum):
    """Why moto's IAM refuses a request."""

    ACCESS_DENIED = "AccessDenied"
    INVALID_ACCESS_KEY = "InvalidAccessKey"
    SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"


@dataclass(frozen=True)
class RefusedRequest:
    """A request moto's IAM refuses, as `iam_authorization` reports it."""

    refusal: IamRefusal
    service: str
    """The request's signing name, as moto read it: dynamodb, states, lambda, s3, ..."""
    action: str
    """The action as authorized (IAM's name: lambda:InvokeFunction)."""
    resource: str
    """The resource authorized ("*" if the request was refused before its authorization)."""
    principal_arn: str | None
    """Who signed the request (ACCESS_DENIED only)."""


@contextmanager
def iam_authorization(
    *,
    resources_of: Callable[[Any], list[str]],
    action_names: Mapping[str, str],
    answer: Callable[[RefusedRequest], Exception | None],
) -> Iterator[None]:
    """Replaces `moto.core.authorization.ActionAuthenticatorMixin
    ._authenticate_and_authorize_normal_action(self, resource="*")`, moto's authorization of a
    request to any service but S3, with one that authorizes each resource
    `resources_of(moto's response object)` names when moto names "*" (all must be allowed;
    none: the request is not authorized), through a subclass of
    `moto.iam.access_control.IAMRequest` that:
    - authorizes an action by IAM's name, `action_names.get(moto's name, moto's name)`;
    - raises `answer(refused)` instead of moto's error for a refusal, when it returns one;
    - checks the signature of a request without a body (a REST GET, HEAD or DELETE) over the
      empty body botocore signed: moto's `_create_aws_request` used its parsed parameters, a
      SignatureDoesNotMatch for a correctly signed request."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest

    class NamedIAMRequest(IAMRequest):
        _resource = "*"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._action = action_names.get(self._action, self._action)

        def check_action_permitted(self, resource: str) -> None:
            self._resource = resource
            super().check_action_permitted(resource)

        def _answer(
            self, refusal: IamRefusal, principal_arn: str | None = None
        ) -> Exception | None:
            return answer(
                RefusedRequest(
                    refusal=refusal,
                    service=self._service,
                    action=self._action,
                    resource=self._resource,
                    principal_arn=principal_arn,
                )
            )

        def _raise_access_denied(self) -> None:
            error = self._answer(IamRefusal.ACCESS_DENIED, str(self._access_key.arn))
            if error is not None:
                raise error
            super()._raise_access_denied()

        def _raise_invalid_access_key(self, reason: str) -> None:
            error = self._answer(IamRefusal.INVALID_ACCESS_KEY)
            if error is not None:
                raise error
            super()._raise_invalid_access_key(reason)

        def _raise_signature_does_not_match(self) -> None:
            error = self._answer(IamRefusal.SIGNATURE_DOES_NOT_MATCH)
            if error is not None:
                raise error
            super()._raise_signature_does_not_match()

        def _create_aws_request(self) -> Any:
            request = super()._create_aws_request()
            if not self._body and self._method in {"GET", "HEAD", "DELETE"}:
                request.data = b""
            return request

    def authorize(self: Any, resource: str = "*") -> None:
        resources = [resource] if resource != "*" else resources_of(self)
        for named in resources:
            self._authenticate_and_authorize_action(NamedIAMRequest, named)

    with mock.patch.object(
        ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", authorize
    ):
        yield


@contextmanager
def iam_policy_element_matching(matches: Callable[[str, Any, str], bool]) -> Iterator[None]:
    """Replaces `moto.iam.access_control.IAMPolicyStatement._check_element_matches(self,
    element, value)`, which matches a policy statement's Action, NotAction, Resource or
    NotResource against a request's: `matches(element, the statement's patterns (a string or a
    list), value)` decides."""
    from moto.iam.access_control import IAMPolicyStatement

    def check_element_matches(self: Any, element: str, value: str) -> bool:
        return matches(element, self._statement[element], value)

    with mock.patch.object(IAMPolicyStatement, "_check_element_matches", check_element_matches):
        yield


# moto's Step Functions interpreter modules that make AWS clients for a state's task.
INTERPRETER_CLIENT_MODULES: Final = tuple(
    "moto.stepfunctions.parser.asl.component.state.exec." + name
    for name in (
        "state_task.lambda_eval_utils",
        "state_task.service.state_task_service_aws_sdk",
        "state_task.service.state_task_service_dynamodb",
        "state_task.service.state_task_service_events",
        "state_task.service.state_task_service_sfn",
        "state_task.service.state_task_service_sqs",
        "state_task.service.state_task_service_sns",
        "state_task.service.state_task_service_unsupported",
        "state_task.service.state_task_service_glue",
        "state_task.service.state_task_service_ecs",
        "state_task.service.state_task_service_batch",
        "state_map.item_reader.eval.resource_eval_s3",
        "state_map.result_writer.resource_eval.resource_eval_s3",
    )
)


def _task_client_config() -> Config:
    """The botocore Config of the clients moto's interpreter makes (boto_client_for's)."""
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    return Config(
        parameter_validation=False,
        retries={"max_attempts": 0, "total_max_attempts": 1},
        connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
    )


@contextmanager
def interpreter_task_clients(
    client_for_role: Callable[[str, str, str, Config], Any | None],
) -> Iterator[None]:
    """Replaces `moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for(region,
    service, state_credentials=None)` in each module of INTERPRETER_CLIENT_MODULES that imported
    it: moto makes a task's client with made-up keys ("ak"); for a state whose credentials name
    a role (`state_credentials.role_arn`: the execution's), `client_for_role(role_arn, service,
    region, config)` makes it instead, `config` being the botocore Config of moto's client (no
    parameter validation, no retries, moto's task timeouts). It may return None: moto's own."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if role_arn:
            client = client_for_role(str(role_arn), service, region, _task_client_config())
            if client is not None:
                return client
        return original(region=region, service=service, state_credentials=state_credentials)

    with ExitStack() as patches:
        for name in INTERPRETER_CLIENT_MODULES:
            module = importlib.import_module(name)
            if getattr(module, "boto_client_for", None) is original:
                patches.enter_context(mock.patch.object(module, "boto_client_for", boto_client_for))
        yield


# -- concurrency corrections (stack.py) -------------------------------------------------------


@contextmanager
def parser_execution_lookups(keep: Callable[[list[Any]], list[Any]]) -> Iterator[None]:
    """Replaces `moto.stepfunctions.parser.models.StepFunctionsParserBackend
    ._get_executions(self, execution_status=None)`, the walk over every execution (of a status)
    that each callback of moto's parser backend (SendTaskSuccess, SendTaskFailure,
    SendTaskHeartbeat) makes to find a task token's execution: moto's list, then `keep(it)`."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions

    def _get_executions(self: Any, execution_status: Any = None) -> list[Any]:
        return keep(original(self, execution_status))

    with mock.patch.object(StepFunctionsParserBackend, "_get_executions", _get_executions):
        yield


# moto's DynamoDB actions on one item, and so the ones DynamoDB makes atomic.
_SINGLE_ITEM_ACTIONS: Final = ("get_item", "put_item", "update_item", "delete_item")


def _item_of(handler: Any) -> tuple[str, str] | None:
    """The table name and key (its key attributes' values as JSON) of the item a single-item
    request names; None if it names no table moto knows (moto then answers as AWS does)."""
    from moto.dynamodb.exceptions import ResourceNotFoundException

    table_name = handler.body.get("TableName")
    try:
        table = handler.dynamodb_backend.get_table(table_name)
    except ResourceNotFoundException:
        return None
    attributes = handler.body.get("Key") or handler.body.get("Item") or {}
    key = json.dumps(
        [attributes.get(table.hash_key_attr), attributes.get(table.range_key_attr or "")],
        sort_keys=True,
    )
    return str(table_name), key


@contextmanager
def dynamodb_single_item_actions(
    lock_of: Callable[[str, str], threading.Lock],
) -> Iterator[None]:
    """Replaces `moto.dynamodb.responses.DynamoHandler`'s `get_item`, `put_item`,
    `update_item` and `delete_item` (moto's handlers of GetItem, PutItem, UpdateItem and
    DeleteItem, which read the item, evaluate, then write) with the same, run holding
    `lock_of(table_name, key)`; `key` is the request's key attributes as JSON. A request that
    names no table moto knows runs without a lock."""
    from moto.dynamodb.responses import DynamoHandler

    def locked(action: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(action)
        def run_alone(self: Any) -> Any:
            item = _item_of(self)
            if item is None:
                return action(self)
            with lock_of(*item):
                return action(self)

        return run_alone

    with ExitStack() as patches:
        for name in _SINGLE_ITEM_ACTIONS:
            action = getattr(DynamoHandler, name)
            patches.enter_context(mock.patch.object(DynamoHandler, name, locked(action)))
        yield


# -- the Step Functions parser (strict_states.py) ---------------------------------------------

_EXECUTION_EVENTS: Final = (
    "ExecutionStarted",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionAborted",
    "ExecutionTimedOut",
)
_REVIEW_STRICT_STATES = (
    f"review {_THIS_MODULE} and local/tiqets_tracker_local/strict_states.py against it"
)


def step_functions_internals() -> SimpleNamespace:
    """The names of moto's Step Functions parser that strict_states.py patches or uses;
    MotoInternalsChangedError if moto (as imported: `moto.__version__`) is outside
    MOTO_VERSIONS or any name is gone (a clear error instead of patches that do nothing)."""
    import moto

    require_moto(moto.__version__)
    try:
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
        from moto.stepfunctions.parser.asl.component.common.error_name import (
            custom_error_name,
            error_equals_decl,
            error_name,
            failure_event,
            states_error_name,
            states_error_name_type,
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
            iteration_worker,
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import (
            branches_decl,
        )
        from moto.stepfunctions.parser.asl.eval.event import event_detail, event_manager

        internals = SimpleNamespace(
            ErrorEqualsDecl=error_equals_decl.ErrorEqualsDecl,
            ErrorName=error_name.ErrorName,
            CustomErrorName=custom_error_name.CustomErrorName,
            StatesErrorName=states_error_name.StatesErrorName,
            StatesRuntime=states_error_name_type.StatesErrorNameType.StatesRuntime,
            FailureEvent=failure_event.FailureEvent,
            FailureEventException=failure_event.FailureEventException,
            EventManager=event_manager.EventManager,
            EventDetails=event_detail.EventDetails,
            ExecutionFailedEventDetails=ExecutionFailedEventDetails,
            ExecutionFailed=HistoryEventType.ExecutionFailed,
            modules_raising_branch_errors=[branches_decl, iteration_worker],
        )
        missing = [
            f"{getattr(owner, '__name__', owner)}.{name}"
            for owner, name in [
                (internals.ErrorEqualsDecl, "_eval_body"),
                (internals.StatesErrorName, "from_name"),
                (internals.EventManager, "add_event"),
                (branches_decl, "CustomErrorName"),
                (iteration_worker, "CustomErrorName"),
            ]
            if not hasattr(owner, name)
        ]
        if "failure_event" not in internals.FailureEventException.__annotations__:
            missing.append("FailureEventException.failure_event")
        if not hasattr(getattr(internals.EventManager(), "_event_id_gen", None), "_next_id"):
            missing.append("EventManager()._event_id_gen._next_id")
        missing += [
            f"HistoryEventType.{name}"
            for name in sorted(_EXECUTION_EVENTS)
            if name not in HistoryEventType.__members__
        ]
    except (ImportError, AttributeError) as error:
        raise MotoInternalsChangedError(
            f"moto {moto.__version__} lacks what strict_states.py patches ({error}):"
            f" {_REVIEW_STRICT_STATES}"
        ) from error
    if missing:
        raise MotoInternalsChangedError(
            f"moto {moto.__version__} lacks {', '.join(missing)}: {_REVIEW_STRICT_STATES}"
        )
    return internals


@contextmanager
def error_equals_evaluation(
    internals: SimpleNamespace, replace: Callable[[Callable[[Any, Any], None]], Callable[..., None]]
) -> Iterator[None]:
    """Replaces `ErrorEqualsDecl._eval_body(self, env)` (pops the raised error's name off
    `env.stack`, pushes whether a Retrier's or Catcher's ErrorEquals matches it) with
    `replace(moto's)`."""
    owner = internals.ErrorEqualsDecl
    with mock.patch.object(owner, "_eval_body", replace(owner._eval_body)):
        yield


@contextmanager
def branch_error_names(
    internals: SimpleNamespace, error_name: Callable[..., Any]
) -> Iterator[None]:
    """Replaces `CustomErrorName` where moto's `branches_decl` (Parallel) and `iteration_worker`
    (Map) call it, as `CustomErrorName(error_name=...)`, for the error a branch or iteration
    failed with: `error_name(error_name=...)` is called instead."""
    with ExitStack() as patches:
        for module in internals.modules_raising_branch_errors:
            patches.enter_context(mock.patch.object(module, "CustomErrorName", error_name))
        yield


@contextmanager
def history_event_adding(
    internals: SimpleNamespace, replace: Callable[[Callable[..., int]], Callable[..., int]]
) -> Iterator[None]:
    """Replaces `EventManager.add_event(self, context, event_type, ...)`, through which every
    event of an execution's history is added, with `replace(moto's)`."""
    owner = internals.EventManager
    with mock.patch.object(owner, "add_event", replace(owner.add_event)):
        yield
