"""IAM on the local stack: every call is authorized against the template's own policies.

While a local stack is up, moto's IAM access control is on (moto's `enable_iam_authentication`:
INITIAL_NO_AUTH_ACTION_COUNT 0), so moto checks each request's SigV4 signature and evaluates
the policies of the principal that signed it. The principals:

- each Lambda handler signs as its function's role (`acting_as_role`, which lambdas.py wraps
  around the handler): credentials from an STS AssumeRole of the role the template gives the
  function, substituted at signing time for whatever credentials the handler's cached clients
  hold (a context variable, so concurrent handlers in other threads each keep their own role);
- moto's Step Functions interpreter signs its task calls (`lambda:invoke`, `aws-sdk:dynamodb`,
  `events:putEvents`) as the execution's role, the template's TrackerStateMachineRole;
- the sweep's schedule (`LocalStack.sweep`) invokes the sweep as the schedule's role, the one
  the SAM translator makes for EventBridge Scheduler (`schedule_client`);
- everything else the process signs with the stack's placeholder credentials (the stack's own
  setup and clients, the tests, the CLI) signs as an operator: an IAM user with an `*:*`
  inline policy. The stack's own clients (`LocalStack.client`) carry the operator's keys, so
  they stay the operator's even when a test's fault callback runs them inside a handler.

The roles get the template's inline policies (stack.py) and its managed policies
(`create_managed_policies`: TraceWritingPolicy attached where ManagedPolicyArns names it;
StartTrackingPolicy created, attached to nothing, as the template leaves it).

Where moto falls short of AWS, and what is done about it:

- Resources. moto authorizes most services' calls against Resource "*", which no scoped grant
  matches. `request_resources` names the resource AWS authorizes instead: the table (or its
  index, for Query and Scan), the secret's full ARN, the event bus of each PutEvents entry, the
  function (and qualifier) of an Invoke, the state machine of StartExecution, the execution of
  DescribeExecution, and for SendTaskSuccess/Failure/Heartbeat the state machine of the
  execution holding the task token (the resource the template grants them on). S3 names the
  bucket or object itself.
- Action names. moto calls an action by its API operation; where IAM's name differs
  (`lambda:Invoke` is authorized as `lambda:InvokeFunction`) the IAM name is used.
- Answers. moto answers a denial (and an unknown key, a bad signature) in the Query
  protocol's XML, which botocore cannot read from a JSON service: the handlers saw an error
  code "403". JSON services answer AccessDeniedException (UnrecognizedClientException,
  InvalidSignatureException) as AWS does. moto also checked the signature of a request without
  a body (a REST GET or DELETE, e.g. Lambda's DeleteFunctionConcurrency) over its parsed
  parameters, a SignatureDoesNotMatch for a correctly signed request; it is checked over the
  empty body botocore signed.
- Matching. moto turned a policy's Resource pattern into a regular expression with only `*`
  handled, so `?` (the secrets' `-??????` suffix) raised an error and `.` matched any character;
  patterns here are IAM's globs (`*`, `?`, everything else literal; actions case-insensitive).
- Not evaluated (moto has no context for them): conditions (`s3:prefix`, `kms:ViaService`,
  `aws:SourceAccount` in a trust policy, `aws:SecureTransport` in the bucket policy), resource
  policies (the bucket policy is not created), permissions AWS checks on a service's own
  follow-up calls (KMS behind S3 and Secrets Manager), Lambda's log and X-Ray writes, the state
  machine's log delivery, and trust policies (the roles are assumed directly). Nor does moto
  answer 403 instead of 404 for a missing object to a caller without s3:ListBucket (the
  reason StoreVouchersRole has it).
  tests/workflow/test_iam.py and tests/unit/test_template.py check those on the template.
- A SendTaskSuccess with a token no execution holds is not authorized here: AWS cannot tell its
  state machine either, and moto answers InvalidToken.
- A state machine made with a role IAM does not know (tests that make their own machine with a
  made-up role ARN; AWS would refuse to create it) runs its tasks as the operator.
- Variants of the state machine (`LocalStack.state_machine(**parameters)`) stand for other
  deployments of the template: the roles get the template's statements on the state machine
  and its executions for each variant too (`grant_state_machine_variant`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from botocore.credentials import Credentials

    from tiqets_tracker_local.template import Resolver

OPERATOR_USER_NAME = "local-stack-operator"
PARTITION = "aws"

# IAM's names for the API operations moto authorizes under another name.
IAM_ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}

# moto's Step Functions interpreter modules that make AWS clients for a state's task.
_INTERPRETER_CLIENT_MODULES = tuple(
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

# Signing names of the services that answer in a JSON protocol (JSON 1.0/1.1, REST-JSON).
_JSON_SERVICES = frozenset({"dynamodb", "states", "events", "secretsmanager", "kms", "lambda"})

_TASK_TOKEN_ACTIONS = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})
_EXECUTION_ACTIONS = frozenset(
    {"DescribeExecution", "StopExecution", "GetExecutionHistory", "RedriveExecution"}
)
_STATE_MACHINE_ACTIONS = frozenset(
    {
        "StartExecution",
        "StartSyncExecution",
        "ListExecutions",
        "DescribeStateMachine",
        "UpdateStateMachine",
        "DeleteStateMachine",
    }
)


@dataclass(frozen=True)
class Identity:
    """A principal's credentials: an IAM user's access key or a role session's."""

    arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def credentials(self) -> Credentials:
        from botocore.credentials import Credentials

        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)

    def client(self, service: str, region: str, **kwargs: Any) -> Any:
        """A boto3 client that signs as this principal (outside any handler)."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            **kwargs,
        )


class Enforcement:
    """The principals of one local stack while its IAM is enforced."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        operator: Identity,
        placeholder_access_key_ids: frozenset[str],
    ):
        self.account_id = account_id
        self.region = region
        self.operator = operator
        self.placeholder_access_key_ids = placeholder_access_key_ids
        self._roles: dict[str, Identity] = {}
        self._lock = threading.Lock()

    def role(self, role_arn: str) -> Identity:
        """Credentials of a session of the role (one per role, assumed on first use) as the
        service the role trusts would get them; its trust policy is not evaluated (moto's
        check of a service principal fails)."""
        with self._lock:
            identity = self._roles.get(role_arn)
            if identity is None:
                identity = self._roles[role_arn] = self._assume(role_arn)
            return identity

    def _assume(self, role_arn: str) -> Identity:
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        role_name = role_arn.rsplit("/", 1)[-1]
        # Fails for a role the stack did not create: a function can only run as a real role.
        iam_backends[self.account_id][PARTITION].get_role(role_name)
        assumed = sts_backends[self.account_id][PARTITION].assume_role(
            region_name=self.region,
            role_session_name="local-stack",
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        return Identity(
            arn=assumed.arn,
            access_key_id=assumed.access_key_id,
            secret_access_key=assumed.secret_access_key,
            session_token=assumed.session_token,
        )


_active: Enforcement | None = None
_acting: ContextVar[Identity | None] = ContextVar("tiqets_local_iam_acting", default=None)


def active() -> Enforcement:
    """The running stack's enforcement (RuntimeError when no stack enforces IAM)."""
    if _active is None:
        raise RuntimeError("no local stack enforces IAM in this process")
    return _active


def enforcing() -> bool:
    return _active is not None


@contextmanager
def acting_as(identity: Identity) -> Iterator[None]:
    """Every AWS call of this thread signs as `identity` while the block runs."""
    token = _acting.set(identity)
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def acting_as_role(role_arn: str | None) -> Iterator[None]:
    """What Lambda does for a handler: its calls sign as its role. Nothing when no stack
    enforces IAM (or the function has no role registered)."""
    if _active is None or not role_arn:
        yield
        return
    with acting_as(_active.role(role_arn)):
        yield


# -- the stack's side -----------------------------------------------------------------------


@contextmanager
def enforced(
    *, region: str, placeholder_access_key_ids: Collection[str] = ()
) -> Iterator[Enforcement]:
    """IAM enforced until the block ends (inside moto's mock_aws). Credentials with one of
    `placeholder_access_key_ids` or the access key of the environment (where mock_aws puts its
    fake one) sign as the operator."""
    global _active  # noqa: PLW0603 - one stack per process (stack.py's lock)
    from moto.core.authorization import enable_iam_authentication

    from tiqets_tracker_local.template import ACCOUNT_ID

    if _active is not None:
        raise RuntimeError("IAM is already enforced for another local stack")
    operator = _create_operator(region)
    with ExitStack() as patches:
        _active = Enforcement(
            account_id=ACCOUNT_ID,
            region=region,
            operator=operator,
            placeholder_access_key_ids=frozenset(
                {*placeholder_access_key_ids, os.environ.get("AWS_ACCESS_KEY_ID", "")} - {""}
            ),
        )
        patches.callback(_deactivate)
        patches.enter_context(_signing_as_acting_principal())
        patches.enter_context(_authorizing_named_resources())
        patches.enter_context(_iam_glob_matching())
        patches.enter_context(_interpreter_signing_as_execution_role())
        patches.enter_context(enable_iam_authentication())
        yield _active


def _deactivate() -> None:
    global _active  # noqa: PLW0603
    _active = None


def _create_operator(region: str) -> Identity:
    import boto3

    iam = boto3.client("iam", region_name=region)
    user = iam.create_user(UserName=OPERATOR_USER_NAME)["User"]
    iam.put_user_policy(
        UserName=OPERATOR_USER_NAME,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=OPERATOR_USER_NAME)["AccessKey"]
    return Identity(
        arn=user["Arn"],
        access_key_id=key["AccessKeyId"],
        secret_access_key=key["SecretAccessKey"],
    )


def create_managed_policies(
    iam: Any, template: Mapping[str, Any], resolver: Resolver, stack_name: str
) -> dict[str, str]:
    """Create the template's AWS::IAM::ManagedPolicy resources and attach each to the roles
    whose ManagedPolicyArns refer to it; return their ARNs by logical name."""
    arns: dict[str, str] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        document = resolver.resolve(resource["Properties"]["PolicyDocument"])
        arns[logical] = iam.create_policy(
            PolicyName=f"{stack_name}-{logical}", PolicyDocument=json.dumps(document)
        )["Policy"]["Arn"]
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        for reference in resource["Properties"].get("ManagedPolicyArns", []):
            name = reference.get("Ref") if isinstance(reference, dict) else None
            if name not in arns:
                raise ValueError(f"{logical} attaches {reference}, which the stack cannot make")
            iam.attach_role_policy(
                RoleName=resolver.physical_ids[logical], PolicyArn=arns[str(name)]
            )
    return arns


def grant_state_machine_variant(
    iam: Any,
    template: Mapping[str, Any],
    resolver: Resolver,
    *,
    original_arn: str,
    variant_arn: str,
) -> None:
    """Each variant of the state machine (other definition parameters) stands for another
    deployment of the template: the shared roles get the same grants on the variant as on the
    original (the template's statements on the state machine or its executions, with the
    variant's ARN and name)."""
    original_name = original_arn.rsplit(":", 1)[-1]
    variant_name = variant_arn.rsplit(":", 1)[-1]
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resolver.resolve(resource["Properties"])
        for policy in properties.get("Policies", []):
            statements = policy["PolicyDocument"]["Statement"]
            about_the_machine = [
                json.loads(
                    text.replace(f'{original_arn}"', f'{variant_arn}"').replace(
                        f":execution:{original_name}:", f":execution:{variant_name}:"
                    )
                )
                for text in map(json.dumps, statements)
                if f'{original_arn}"' in text or f":execution:{original_name}:" in text
            ]
            if not about_the_machine:
                continue
            iam.put_role_policy(
                RoleName=resolver.physical_ids[logical],
                PolicyName=f"{policy['PolicyName']}-{variant_name}",
                PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": about_the_machine}
                ),
            )


def schedule_client(template: Mapping[str, Any], resolver: Resolver, region: str) -> Any:
    """A Lambda client of the role EventBridge Scheduler invokes the sweep with (the
    template's one schedule); a plain client when no stack enforces IAM."""
    import boto3

    (target,) = [
        resolver.resolve(resource["Properties"]["Target"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Scheduler::Schedule"
    ]
    if _active is None:
        return boto3.client("lambda", region_name=region)
    return _active.role(str(target["RoleArn"])).client("lambda", region)


# -- signing ------------------------------------------------------------------------------


def _identity_for(credentials: Any) -> Identity | None:
    """Who signs a request made with `credentials`: for the placeholder credentials (the
    default chain's: every handler client, the tests' plain clients), the role of the handler
    running in this thread, or else the operator; explicit credentials sign as themselves."""
    if _active is None or credentials is None:
        return None
    if getattr(credentials, "access_key", None) not in _active.placeholder_access_key_ids:
        return None
    return _acting.get() or _active.operator


@contextmanager
def _signing_as_acting_principal() -> Iterator[None]:
    """botocore signs each request with the credentials `_identity_for` picks."""
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
        identity = _identity_for(request_credentials or self._credentials)
        if identity is not None:
            request_credentials = identity.credentials()
        return original(
            self, signing_name, region_name, signature_version, request_credentials, **kwargs
        )

    with mock.patch.object(RequestSigner, "get_auth_instance", get_auth_instance):
        yield


def _execution_identity(enforcement: Enforcement, role_arn: str) -> Identity:
    """The execution role's session; the operator for a role IAM does not know (a state
    machine a test made with a made-up role: AWS would have refused to create it)."""
    from moto.iam.exceptions import NotFoundException

    try:
        return enforcement.role(role_arn)
    except NotFoundException:
        return enforcement.operator


@contextmanager
def _interpreter_signing_as_execution_role() -> Iterator[None]:
    """moto's interpreter makes its task clients with made-up keys ("ak"); they sign as the
    execution's role instead, as Step Functions' calls do."""
    import importlib

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if _active is None or not role_arn:
            return original(region=region, service=service, state_credentials=state_credentials)
        from botocore.config import Config
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
            TimeoutSeconds,
        )

        return _execution_identity(_active, role_arn).client(
            service,
            region,
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
        )

    with ExitStack() as patches:
        for name in _INTERPRETER_CLIENT_MODULES:
            module = importlib.import_module(name)
            if getattr(module, "boto_client_for", None) is original:
                patches.enter_context(mock.patch.object(module, "boto_client_for", boto_client_for))
        yield


# -- authorizing ----------------------------------------------------------------------------


def _request_body(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    for raw in (body, getattr(response, "raw_body", None)):
        if not raw:
            continue
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(parsed, dict):
            return parsed
    return {}


def _dynamodb_resources(action: str, body: Mapping[str, Any], where: str) -> list[str]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else f"arn:{PARTITION}:dynamodb:{where}:table/{name}"

    if "TableName" in body:
        arn = table(str(body["TableName"]))
        if action in {"Query", "Scan"} and body.get("IndexName"):
            return [f"{arn}/index/{body['IndexName']}"]
        return [arn]
    if action in {"BatchGetItem", "BatchWriteItem"}:
        return sorted({table(name) for name in body.get("RequestItems", {})})
    if action in {"TransactGetItems", "TransactWriteItems"}:
        names = {
            str(request["TableName"])
            for item in body.get("TransactItems", [])
            for request in item.values()
            if isinstance(request, dict) and "TableName" in request
        }
        return sorted(table(name) for name in names)
    return ["*"]


def _state_machine_of_token(backend: Any, token: str) -> str | None:
    for execution in backend._get_executions():
        env = getattr(getattr(execution, "exec_worker", None), "env", None)
        manager = getattr(env, "callback_pool_manager", None)
        if manager is not None and manager.get(token) is not None:
            return str(execution.state_machine_arn)
    return None


def _states_resources(response: Any, action: str, body: Mapping[str, Any]) -> list[str]:
    if action in _STATE_MACHINE_ACTIONS and body.get("stateMachineArn"):
        return [str(body["stateMachineArn"])]
    if action in _EXECUTION_ACTIONS and body.get("executionArn"):
        return [str(body["executionArn"])]
    if action in _TASK_TOKEN_ACTIONS:
        token = str(body.get("taskToken", ""))
        machine = _state_machine_of_token(response.stepfunction_backend, token)
        return [] if machine is None else [machine]
    return ["*"]


def _events_resources(action: str, body: Mapping[str, Any], where: str) -> list[str]:
    def bus(name: str) -> str:
        return (
            name if name.startswith("arn:") else f"arn:{PARTITION}:events:{where}:event-bus/{name}"
        )

    if action == "PutEvents":
        names = {str(entry.get("EventBusName") or "default") for entry in body.get("Entries", [])}
        return sorted(bus(name) for name in names) or ["*"]
    if body.get("EventBusName"):
        return [bus(str(body["EventBusName"]))]
    return ["*"]


def _lambda_resources(response: Any, action: str, where: str) -> list[str]:
    if action != "Invoke":
        return ["*"]
    path = unquote(urlsplit(response.path).path)
    # /2015-03-31/functions/<name, ARN or partial ARN>/invocations
    name = path.split("/functions/", 1)[-1].rsplit("/invocations", 1)[0]
    qualifier = response.querystring.get("Qualifier", [None])[0]
    if not name.startswith("arn:"):
        name = f"arn:{PARTITION}:lambda:{where}:function:{name}"
    if qualifier and name.count(":") == 6:
        name = f"{name}:{qualifier}"
    return [name]


def _secretsmanager_resources(body: Mapping[str, Any], account_id: str, region: str) -> list[str]:
    from moto.secretsmanager.exceptions import SecretNotFoundException
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = body.get("SecretId")
    if not secret_id:
        return ["*"]
    try:
        return [str(secretsmanager_backends[account_id][region].describe_secret(secret_id).arn)]
    except SecretNotFoundException:
        # The ARN it would have; no grant ends in "-??????" without the suffix.
        return [f"arn:{PARTITION}:secretsmanager:{region}:{account_id}:secret:{secret_id}"]


def _kms_resources(body: Mapping[str, Any], where: str) -> list[str]:
    key = body.get("KeyId")
    if not key:
        return ["*"]
    key = str(key)
    if key.startswith("arn:"):
        return [key]
    return [f"arn:{PARTITION}:kms:{where}:{key if key.startswith('alias/') else 'key/' + key}"]


def request_resources(response: Any) -> list[str]:
    """The resources AWS authorizes the request of this moto response object against."""
    service = getattr(response, "service_name", "")
    action = response._get_action()
    account_id = str(response.current_account)
    region = str(response.region)
    where = f"{region}:{account_id}"
    if service == "dynamodb":
        return _dynamodb_resources(action, _request_body(response), where)
    if service == "stepfunctions":
        return _states_resources(response, action, _request_body(response))
    if service == "events":
        return _events_resources(action, _request_body(response), where)
    if service in {"lambda", "awslambda"}:
        return _lambda_resources(response, action, where)
    if service == "secretsmanager":
        return _secretsmanager_resources(_request_body(response), account_id, region)
    if service == "kms":
        return _kms_resources(_request_body(response), where)
    return ["*"]


@contextmanager
def _authorizing_named_resources() -> Iterator[None]:
    """moto's authorization of the services above checks each resource `request_resources`
    names (all must be allowed), under IAM's action names."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError
    from moto.iam.access_control import IAMRequest

    class NamedIAMRequest(IAMRequest):
        _resource = "*"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._action = IAM_ACTION_NAMES.get(self._action, self._action)

        def check_action_permitted(self, resource: str) -> None:
            self._resource = resource
            super().check_action_permitted(resource)

        def _raise_access_denied(self) -> None:
            # moto answers in the Query protocol's XML, which botocore cannot read from a
            # JSON service (the error code became "403"); AWS answers AccessDeniedException.
            if self._service not in _JSON_SERVICES:
                super()._raise_access_denied()
            error = JsonRESTError(
                "AccessDeniedException",
                f"User: {self._access_key.arn} is not authorized to perform: {self._action} on"
                f" resource: {self._resource} because no identity-based policy allows the"
                f" {self._action} action",
            )
            error.code = 403 if self._service == "lambda" else 400
            raise error

        def _raise_invalid_access_key(self, reason: str) -> None:
            if self._service not in _JSON_SERVICES:
                super()._raise_invalid_access_key(reason)
            error = JsonRESTError(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
            error.code = 403 if self._service == "lambda" else 400
            raise error

        def _raise_signature_does_not_match(self) -> None:
            if self._service not in _JSON_SERVICES:
                super()._raise_signature_does_not_match()
            error = JsonRESTError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
            error.code = 403 if self._service == "lambda" else 400
            raise error

        def _create_aws_request(self) -> Any:
            # moto checks the signature of a request without a body (a REST GET or DELETE)
            # over its parsed parameters, which botocore did not sign: SignatureDoesNotMatch.
            request = super()._create_aws_request()
            if not self._body and self._method in {"GET", "HEAD", "DELETE"}:
                request.data = b""
            return request

    def authorize(self: Any, resource: str = "*") -> None:
        resources = [resource] if resource != "*" else request_resources(self)
        for named in resources:
            self._authenticate_and_authorize_action(NamedIAMRequest, named)

    with mock.patch.object(
        ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", authorize
    ):
        yield


@functools.cache
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character."""
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


@contextmanager
def _iam_glob_matching() -> Iterator[None]:
    from moto.iam.access_control import IAMPolicyStatement

    def check_element_matches(self: Any, element: str, value: str) -> bool:
        patterns = self._statement[element]
        ignore_case = element in {"Action", "NotAction"}
        return any(
            glob_matches(str(pattern), value, ignore_case=ignore_case)
            for pattern in ([patterns] if isinstance(patterns, str) else patterns)
        )

    with mock.patch.object(IAMPolicyStatement, "_check_element_matches", check_element_matches):
        yield


def unsupported_policy_elements(document: Mapping[str, Any]) -> list[str]:
    """The elements of an identity policy that moto evaluates unlike IAM (NotResource is
    ignored, NotPrincipal unknown) or not at all (Condition)."""
    statements = document.get("Statement", [])
    found = []
    for statement in [statements] if isinstance(statements, dict) else statements:
        for element in ("NotResource", "NotPrincipal", "Condition"):
            if element in statement:
                found.append(f"{statement.get('Sid', '?')}: {element}")
    return found
