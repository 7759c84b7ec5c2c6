"""IAM on the local stack: every call is authorized against the template's own policies.

While a local stack is up, moto's IAM access control is on (moto's `enable_iam_authentication`:
INITIAL_NO_AUTH_ACTION_COUNT 0), so moto checks each request's SigV4 signature and evaluates
the policies of the principal that signed it. What is decided here (who signs, which resources
and action names are authorized, how a refusal is answered, how a pattern matches) is installed
through seams of moto_seams.py (`iam_authentication_enforced`, `request_signing`,
`interpreter_task_clients`, `iam_authorization`, `iam_policy_element_matching`), which holds every
patch of a moto or botocore internal. The principals:

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
from urllib.parse import unquote, urlsplit

from tiqets_tracker_local import moto_seams
from tiqets_tracker_local.moto_seams import IamRefusal, RefusedRequest

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.credentials import Credentials

    from tiqets_tracker_local.template import Resolver

OPERATOR_USER_NAME = "local-stack-operator"
PARTITION = "aws"

# IAM's names for the API operations moto authorizes under another name.
IAM_ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}

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
        patches.enter_context(moto_seams.request_signing(_signing_credentials))
        patches.enter_context(
            moto_seams.iam_authorization(
                resources_of=request_resources,
                action_names=IAM_ACTION_NAMES,
                answer=_json_refusal,
            )
        )
        patches.enter_context(moto_seams.iam_policy_element_matching(_statement_element_matches))
        patches.enter_context(moto_seams.interpreter_task_clients(_execution_role_client))
        patches.enter_context(moto_seams.iam_authentication_enforced())
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


def _signing_credentials(credentials: Any) -> Credentials | None:
    """What botocore signs a request made with `credentials` with instead (None: with them)."""
    identity = _identity_for(credentials)
    return None if identity is None else identity.credentials()


def _execution_identity(enforcement: Enforcement, role_arn: str) -> Identity:
    """The execution role's session; the operator for a role IAM does not know (a state
    machine a test made with a made-up role: AWS would have refused to create it)."""
    from moto.iam.exceptions import NotFoundException

    try:
        return enforcement.role(role_arn)
    except NotFoundException:
        return enforcement.operator


def _execution_role_client(role_arn: str, service: str, region: str, config: Config) -> Any:
    """moto's interpreter makes its task clients with made-up keys ("ak"); they sign as the
    execution's role instead, as Step Functions' calls do (None: moto's own client, when no
    stack enforces IAM)."""
    if _active is None:
        return None
    return _execution_identity(_active, role_arn).client(service, region, config=config)


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


def _json_refusal(refused: RefusedRequest) -> Exception | None:
    """AWS's answer to a request moto's IAM refuses, from a JSON service: moto answers in the
    Query protocol's XML, which botocore cannot read from a JSON service (the error code became
    "403"); AWS answers AccessDeniedException (UnrecognizedClientException,
    InvalidSignatureException). None for the other services: moto's answer stands."""
    if refused.service not in _JSON_SERVICES:
        return None
    status = 403 if refused.service == "lambda" else 400
    if refused.refusal is IamRefusal.ACCESS_DENIED:
        return moto_seams.moto_error(
            "AccessDeniedException",
            f"User: {refused.principal_arn} is not authorized to perform: {refused.action} on"
            f" resource: {refused.resource} because no identity-based policy allows the"
            f" {refused.action} action",
            status=status,
        )
    if refused.refusal is IamRefusal.INVALID_ACCESS_KEY:
        return moto_seams.moto_error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            status=status,
        )
    return moto_seams.moto_error(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
        status=status,
    )


@functools.cache
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character."""
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _statement_element_matches(element: str, patterns: Any, value: str) -> bool:
    """Whether a statement's Action, NotAction, Resource or NotResource (one pattern or a list)
    matches `value` as IAM matches it: globs, actions case-insensitive. moto turned a pattern
    into a regular expression with only `*` handled."""
    ignore_case = element in {"Action", "NotAction"}
    return any(
        glob_matches(str(pattern), value, ignore_case=ignore_case)
        for pattern in ([patterns] if isinstance(patterns, str) else patterns)
    )


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
