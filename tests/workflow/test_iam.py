"""IAM on the local stack (local/tiqets_tracker_local/iam.py): every handler signs as its role,
the state machine's tasks as its role, and moto denies what the template does not grant.

The workflow tests elsewhere prove the grants suffice (the whole tracking path runs with IAM
enforced); these prove that enforcement bites: a call a role is not granted is denied, on the
wrong resource as well as for the wrong action, while the same call on the granted resource
gets through. The last section checks, on the expanded template, what moto cannot evaluate:
conditions, the KMS grants behind S3 and Secrets Manager, the trust policies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.workflow.conftest import API_KEY, PARKED_FOR_LONG
from tests.workflow.support import DONE_AT_ONCE, only_outcome, track, wait_until_parked
from tiqets_tracker_local import iam, lambdas
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.template import Resolver, load_sam_template, translate

pytestmark = pytest.mark.workflow

DENIED = {"AccessDenied", "AccessDeniedException"}
PROBE_ORDER = "iam-probe-0000"
NEVER = datetime.min.replace(tzinfo=UTC)


def role_arn(stack: LocalStack, logical: str) -> str:
    return stack.resolver.arns[logical]


def client_of(stack: LocalStack, logical_role: str, service: str) -> Any:
    """A client that signs as a session of the template's role."""
    return iam.active().role(role_arn(stack, logical_role)).client(service, stack.region)


def error_code(call: Callable[[], Any]) -> str | None:
    """The error code the call is answered with; None if it succeeds."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return None


def denied(call: Callable[[], Any]) -> bool:
    return error_code(call) in DENIED


def allowed(call: Callable[[], Any]) -> bool:
    """Authorized: answered, or refused for another reason than IAM."""
    return error_code(call) not in DENIED | {"InvalidClientTokenId", "SignatureDoesNotMatch"}


def update_missing_record(table: str) -> dict[str, Any]:
    """An UpdateItem that authorization lets through and that then changes nothing."""
    return {
        "TableName": table,
        "Key": {"order_reference_id": {"S": PROBE_ORDER}},
        "UpdateExpression": "SET probe = :probe",
        "ConditionExpression": "attribute_exists(order_reference_id)",
        "ExpressionAttributeValues": {":probe": {"S": "x"}},
    }


def other_state_machine(stack: LocalStack) -> str:
    """A state machine of the account that is not the template's."""
    arn: str = stack.client("stepfunctions").create_state_machine(
        name="iam-not-the-trackers",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=role_arn(stack, "TrackerStateMachineRole"),
    )["stateMachineArn"]
    return arn


# -- the principals ---------------------------------------------------------------------------


def test_credentials_no_principal_holds_are_refused(stack: LocalStack) -> None:
    stranger = boto3.client(
        "dynamodb",
        region_name=stack.region,
        aws_access_key_id="AKIAIAMPROBESTRANGER",
        aws_secret_access_key="not-a-key",
    )

    assert error_code(stranger.list_tables) == "UnrecognizedClientException"
    # The placeholder credentials of the stack's environment are the operator's.
    assert error_code(boto3.client("dynamodb", region_name=stack.region).list_tables) is None


def test_a_handlers_cached_client_signs_as_the_role_of_the_handler_running(
    stack: LocalStack,
) -> None:
    # As tiqets_tracker.aws caches them: made from the default chain, shared by all handlers.
    shared = boto3.client("dynamodb", region_name=stack.region)
    get_record = lambda: shared.get_item(  # noqa: E731
        TableName=stack.tracking_table_name, Key={"order_reference_id": {"S": PROBE_ORDER}}
    )

    with iam.acting_as_role(role_arn(stack, "CheckOrderStatusRole")):
        assert denied(get_record)  # the status check may only update its record
    with iam.acting_as_role(role_arn(stack, "WebhookRole")):
        assert allowed(get_record)
    assert allowed(get_record)  # outside a handler: the operator


def test_tracking_an_order_uses_the_roles_of_the_functions_and_of_the_state_machine(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    roles = stack.client("iam")
    used = ("CheckOrderStatusRole", "StoreVouchersRole", "TrackerStateMachineRole")

    def last_used(logical: str) -> datetime:
        role = roles.get_role(RoleName=stack.resolver.physical_ids[logical])["Role"]
        when: datetime = role.get("RoleLastUsed", {}).get("LastUsedDate", NEVER)
        return when

    before = {logical: last_used(logical) for logical in used}
    tiqets.add_order(order_id, DONE_AT_ONCE)

    assert track(stack, order_id)["status"] == "SUCCEEDED"

    assert only_outcome(stack, order_id).detail_type == "TicketsReady"
    for logical in used:
        assert last_used(logical) > before[logical], f"{logical} signed nothing"


# -- what each role is denied -----------------------------------------------------------------

Probe = Callable[[LocalStack], Callable[[], Any]]
TABLE = object()  # the stack's tracking table, in a probe's request


def _dynamodb(logical: str, action: str, **request: Any) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "dynamodb")
        values = {
            key: stack.tracking_table_name if value is TABLE else value
            for key, value in request.items()
        }
        return lambda: getattr(client, action)(**values)

    return probe


def _update_record(logical: str, table: object = TABLE) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "dynamodb")
        name = stack.tracking_table_name if table is TABLE else str(table)
        return lambda: client.update_item(**update_missing_record(name))

    return probe


def _get_record(logical: str) -> Probe:
    return _dynamodb(
        logical, "get_item", TableName=TABLE, Key={"order_reference_id": {"S": PROBE_ORDER}}
    )


def _query(logical: str, index: str | None) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "dynamodb")
        request: dict[str, Any] = {"TableName": stack.tracking_table_name}
        if index:
            request |= {
                "IndexName": index,
                "KeyConditionExpression": "sweep_partition = :p",
                "ExpressionAttributeValues": {":p": {"S": "open"}},
            }
        else:
            request |= {
                "KeyConditionExpression": "order_reference_id = :o",
                "ExpressionAttributeValues": {":o": {"S": PROBE_ORDER}},
            }
        return lambda: client.query(**request)

    return probe


def _secret(logical: str, which: str) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "secretsmanager")
        name = stack.api_key_secret_name if which == "api key" else stack.webhook_keys_secret_name
        return lambda: client.get_secret_value(SecretId=name)

    return probe


def _put_object(logical: str, key: str) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "s3")
        return lambda: client.put_object(
            Bucket=stack.voucher_bucket_name, Key=key, Body=b"{}", ContentType="application/json"
        )

    return probe


def _put_event(logical: str, bus: str | None) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "events")
        entry = {"Source": "iam-probe", "DetailType": "Probe", "Detail": "{}"}
        if bus != "default":
            entry["EventBusName"] = stack.event_bus_name
        return lambda: client.put_events(Entries=[entry])

    return probe


def _start_execution(logical: str, machine: str) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "stepfunctions")
        arn = other_state_machine(stack) if machine == "other" else stack.state_machine_arn
        # A name Step Functions refuses: authorized first, then refused; nothing starts.
        return lambda: client.start_execution(stateMachineArn=arn, name="not a valid name!")

    return probe


def _describe_execution(logical: str, machine: str) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "stepfunctions")
        arn = other_state_machine(stack) if machine == "other" else stack.state_machine_arn
        execution = arn.replace(":stateMachine:", ":execution:") + ":iam-probe"
        return lambda: client.describe_execution(executionArn=execution)

    return probe


def _invoke(logical: str, function: str) -> Probe:
    def probe(stack: LocalStack) -> Callable[[], Any]:
        client = client_of(stack, logical, "lambda")
        arn = stack.resolver.arns[function]
        # An empty event: the handler refuses it (a function error, no side effect).
        return lambda: client.invoke(FunctionName=arn, Payload=b"{}")

    return probe


GRANTS: list[tuple[str, Probe, bool]] = [
    # The status check: its record (UpdateItem only), the API key, staging information.
    ("check: UpdateItem on the table", _update_record("CheckOrderStatusRole"), True),
    ("check: UpdateItem on another table", _update_record("CheckOrderStatusRole", "other"), False),
    ("check: GetItem", _get_record("CheckOrderStatusRole"), False),
    ("check: the API key", _secret("CheckOrderStatusRole", "api key"), True),
    ("check: the webhook keys", _secret("CheckOrderStatusRole", "webhook keys"), False),
    (
        "check: staged information",
        _put_object("CheckOrderStatusRole", f"vouchers/{PROBE_ORDER}/tiqets_information.json"),
        True,
    ),
    (
        "check: a voucher",
        _put_object("CheckOrderStatusRole", f"vouchers/{PROBE_ORDER}/en/voucher.pdf"),
        False,
    ),
    ("check: PutEvents", _put_event("CheckOrderStatusRole", "outcomes"), False),
    ("check: StartExecution", _start_execution("CheckOrderStatusRole", "tracker"), False),
    # The voucher function: the vouchers prefix of the bucket, nothing else.
    (
        "vouchers: a voucher",
        _put_object("StoreVouchersRole", f"vouchers/{PROBE_ORDER}/en/voucher.pdf"),
        True,
    ),
    ("vouchers: outside the prefix", _put_object("StoreVouchersRole", "elsewhere/x.pdf"), False),
    ("vouchers: UpdateItem", _update_record("StoreVouchersRole"), False),
    ("vouchers: the API key", _secret("StoreVouchersRole", "api key"), False),
    # The sweep: the OpenOrders index, records, restarting, reading executions, its events.
    ("sweep: the OpenOrders index", _query("SweepOrdersRole", "OpenOrders"), True),
    ("sweep: a query of the table", _query("SweepOrdersRole", None), False),
    ("sweep: GetItem", _get_record("SweepOrdersRole"), True),
    ("sweep: StartExecution", _start_execution("SweepOrdersRole", "tracker"), True),
    ("sweep: StartExecution elsewhere", _start_execution("SweepOrdersRole", "other"), False),
    ("sweep: DescribeExecution", _describe_execution("SweepOrdersRole", "tracker"), True),
    ("sweep: DescribeExecution elsewhere", _describe_execution("SweepOrdersRole", "other"), False),
    ("sweep: PutEvents on the bus", _put_event("SweepOrdersRole", "outcomes"), True),
    ("sweep: PutEvents on the default bus", _put_event("SweepOrdersRole", "default"), False),
    ("sweep: the webhook keys", _secret("SweepOrdersRole", "webhook keys"), False),
    # The webhook: its record, waking and rechecking, the callback keys.
    ("webhook: the webhook keys", _secret("WebhookRole", "webhook keys"), True),
    ("webhook: the API key", _secret("WebhookRole", "api key"), False),
    ("webhook: StartExecution", _start_execution("WebhookRole", "tracker"), True),
    ("webhook: DescribeExecution", _describe_execution("WebhookRole", "tracker"), False),
    (
        "webhook: DeleteItem",
        _dynamodb(
            "WebhookRole",
            "delete_item",
            TableName=TABLE,
            Key={"order_reference_id": {"S": PROBE_ORDER}},
        ),
        False,
    ),
    # The state machine's role: its two functions, its record, publishing outcomes.
    (
        "machine: the status check",
        _invoke("TrackerStateMachineRole", "CheckOrderStatusFunction"),
        True,
    ),
    (
        "machine: the sweep function",
        _invoke("TrackerStateMachineRole", "SweepOrdersFunction"),
        False,
    ),
    ("machine: UpdateItem", _update_record("TrackerStateMachineRole"), True),
    ("machine: GetItem", _get_record("TrackerStateMachineRole"), False),
    ("machine: PutEvents on the bus", _put_event("TrackerStateMachineRole", "outcomes"), True),
    (
        "machine: PutEvents on the default bus",
        _put_event("TrackerStateMachineRole", "default"),
        False,
    ),
    # The outcome metrics: nothing but its logs (its metrics are log lines).
    ("metrics: GetItem", _get_record("OutcomeMetricsRole"), False),
    ("metrics: PutEvents on the bus", _put_event("OutcomeMetricsRole", "outcomes"), False),
    ("metrics: the API key", _secret("OutcomeMetricsRole", "api key"), False),
    # The sweep's schedule: invoking the sweep.
    ("schedule: the sweep", _invoke("SweepOrdersFunctionSweepRole", "SweepOrdersFunction"), True),
    (
        "schedule: the status check",
        _invoke("SweepOrdersFunctionSweepRole", "CheckOrderStatusFunction"),
        False,
    ),
]


@pytest.mark.parametrize(("what", "probe", "granted"), GRANTS, ids=[g[0] for g in GRANTS])
def test_each_role_gets_what_the_template_grants_and_nothing_more(
    stack: LocalStack, what: str, probe: Probe, granted: bool
) -> None:
    call = probe(stack)

    if granted:
        assert allowed(call), f"{what}: denied ({error_code(call)})"
    else:
        assert denied(call), f"{what}: not denied ({error_code(call)})"


def test_the_table_of_grants_covers_every_function_role(stack: LocalStack) -> None:
    roles = {logical for logical, _ in stack._resources_of("AWS::IAM::Role")}
    probed = {what.split(":", 1)[0] for what, _, _ in GRANTS}

    assert len(roles) == 7
    assert probed == {"check", "vouchers", "sweep", "webhook", "machine", "schedule", "metrics"}


# -- the handlers and the state machine, denied -------------------------------------------------


@contextmanager
def sweep_role_without(stack: LocalStack, sid: str) -> Iterator[None]:
    """The sweep's role without one statement of its inline policy, restored afterwards."""
    roles = stack.client("iam")
    name = stack.resolver.physical_ids["SweepOrdersRole"]
    document = roles.get_role_policy(RoleName=name, PolicyName="sweepOrdersRole")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    reduced = dict(document)
    reduced["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    assert len(reduced["Statement"]) == len(document["Statement"]) - 1
    roles.put_role_policy(
        RoleName=name, PolicyName="sweepOrdersRole", PolicyDocument=json.dumps(reduced)
    )
    try:
        yield
    finally:
        roles.put_role_policy(
            RoleName=name, PolicyName="sweepOrdersRole", PolicyDocument=json.dumps(document)
        )


# The failed sweep adds no metric, and Powertools says so when it flushes.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_handler_whose_role_lacks_a_grant_fails_with_access_denied(stack: LocalStack) -> None:
    # Through Lambda, as the schedule runs it: the handler's calls sign as SweepOrdersRole.
    with sweep_role_without(stack, "OpenOrders"):
        payload, errored = lambdas.invoke_registered(stack.sweep_function_name, {})
    answer, errored_after = lambdas.invoke_registered(stack.sweep_function_name, {})

    assert errored
    assert "the tracking table answered AccessDeniedException" in payload.decode("utf-8")
    assert "open_orders" in payload.decode("utf-8")  # the query of the OpenOrders index
    # The control: with its whole role the same sweep runs.
    assert not errored_after, answer


PROBE_DEFINITION = {
    "StartAt": "UpdateRecord",
    "States": {
        "UpdateRecord": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:updateItem",
            "Parameters": {},  # filled in by the test
            "ResultPath": "$.update",
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.update", "Next": "ReadRecord"}
            ],
            "Next": "ReadRecord",
        },
        "ReadRecord": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
            "Parameters": {},
            "ResultPath": "$.read",
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.read", "Next": "InvokeSweep"}
            ],
            "Next": "InvokeSweep",
        },
        "InvokeSweep": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "", "Payload": {}},
            "ResultPath": "$.invoke",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.invoke", "Next": "Done"}],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_the_state_machines_own_calls_are_made_with_its_role(stack: LocalStack) -> None:
    key = {"order_reference_id": {"S": PROBE_ORDER}}
    definition = json.loads(json.dumps(PROBE_DEFINITION))
    states = definition["States"]
    update = update_missing_record(stack.tracking_table_name)
    states["UpdateRecord"]["Parameters"] = update
    states["ReadRecord"]["Parameters"] = {"TableName": stack.tracking_table_name, "Key": key}
    states["InvokeSweep"]["Parameters"]["FunctionName"] = stack.resolver.arns["SweepOrdersFunction"]
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="iam-probe-machine",
        definition=json.dumps(definition),
        roleArn=role_arn(stack, "TrackerStateMachineRole"),
    )["stateMachineArn"]
    ran_before = lambdas.invocations.count(stack.sweep_function_name)

    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    output = json.loads(stack.wait_for(execution, timeout=30)["output"])

    # Granted: UpdateItem gets past IAM to the condition it fails.
    assert "ConditionalCheckFailed" in output["update"]["Error"]
    # Not granted: GetItem, and invoking a function other than the tracker's two.
    assert "not authorized to perform: dynamodb:GetItem" in output["read"]["Cause"]
    assert "lambda:InvokeFunction" in output["invoke"]["Cause"]
    assert lambdas.invocations.count(stack.sweep_function_name) == ran_before


def test_a_wake_up_is_allowed_to_the_webhook_role_only(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    # SendTaskSuccess is authorized against the state machine of the execution holding the
    # token: here a variant (other definition parameters), granted as the original is.
    tiqets.add_order(order_id, "always_pending")
    started = stack.start_tracking(
        order_id, state_machine_arn=stack.state_machine(**PARKED_FOR_LONG)
    )
    wait_until_parked(stack, order_id)
    record = stack.record(order_id)
    assert record is not None
    token = str(record["task_token"])

    def wake(logical: str) -> Callable[[], Any]:
        client = client_of(stack, logical, "stepfunctions")
        return lambda: client.send_task_success(taskToken=token, output="{}")

    try:
        assert denied(wake("CheckOrderStatusRole"))
        assert denied(wake("SweepOrdersRole"))
        assert error_code(wake("WebhookRole")) is None
    finally:
        stack.client("stepfunctions").stop_execution(executionArn=started.execution_arn)


# -- what moto cannot evaluate, checked on the template ------------------------------------------


def expanded(**parameters: str) -> tuple[dict[str, Any], Resolver]:
    template = translate(load_sam_template(), "eu-west-1")
    resolver = Resolver.for_template(
        template, stack_name="check", region="eu-west-1", overrides=parameters
    )
    return template, resolver


def identity_statements(
    template: dict[str, Any], resolver: Resolver
) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of the roles' inline policies and the managed policies, resolved."""
    found = []
    for logical, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents = [properties["PolicyDocument"]]
        for document in documents:
            statements = document["Statement"]
            for statement in [statements] if isinstance(statements, dict) else statements:
                found.append((logical, statement))
    return found


KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ALL_CONDITIONAL = {"SecretsKmsKeyArn": KMS_KEY, "VoucherKmsKeyArn": KMS_KEY}
VIA_SECRETS_MANAGER = {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}


def test_the_only_conditions_are_the_ones_checked_here() -> None:
    # moto passes every condition of an identity policy: each one is checked below instead.
    template, resolver = expanded(**ALL_CONDITIONAL)
    conditioned = sorted(
        (where, statement["Sid"], json.dumps(statement["Condition"], sort_keys=True))
        for where, statement in identity_statements(template, resolver)
        if "Condition" in statement
    )

    via = json.dumps(VIA_SECRETS_MANAGER, sort_keys=True)
    assert conditioned == [
        ("CheckOrderStatusRole", "SecretsKey", via),
        ("StartTrackingPolicy", "SecretsKey", via),
        ("StoreVouchersRole", "VoucherListing", '{"StringLike": {"s3:prefix": "vouchers/*"}}'),
        ("WebhookRole", "SecretsKey", via),
    ]


def test_no_statement_uses_an_element_moto_evaluates_unlike_iam() -> None:
    template, resolver = expanded(**ALL_CONDITIONAL)
    for where, statement in identity_statements(template, resolver):
        for element in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            assert element not in statement, f"{where} {statement.get('Sid')} uses {element}"
        assert statement["Effect"] == "Allow", where


def test_the_voucher_listing_is_limited_to_the_vouchers_prefix() -> None:
    template, resolver = expanded()
    (listing,) = [
        statement
        for where, statement in identity_statements(template, resolver)
        if "s3:ListBucket" in json.dumps(statement["Action"])
    ]

    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == resolver.arns["VoucherBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "vouchers/*"}}


def test_kms_is_granted_only_with_a_key_and_through_secrets_manager_only() -> None:
    # moto's S3 and Secrets Manager never ask KMS as the caller: these grants go unevaluated.
    without_keys = [
        statement
        for _, statement in identity_statements(*expanded())
        if "kms:" in json.dumps(statement["Action"])
    ]
    template, resolver = expanded(**ALL_CONDITIONAL)
    with_keys: dict[str, dict[str, set[str]]] = {}
    for where, statement in identity_statements(template, resolver):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            if action.startswith("kms:"):
                assert statement["Resource"] == KMS_KEY, where
                with_keys.setdefault(where, {}).setdefault(action, set()).add(
                    json.dumps(statement.get("Condition"), sort_keys=True)
                )

    assert without_keys == []
    via = json.dumps(VIA_SECRETS_MANAGER, sort_keys=True)
    assert with_keys == {
        "CheckOrderStatusRole": {"kms:GenerateDataKey": {"null"}, "kms:Decrypt": {via}},
        "StoreVouchersRole": {"kms:GenerateDataKey": {"null"}, "kms:Decrypt": {"null"}},
        "WebhookRole": {"kms:Decrypt": {via}},
        "StartTrackingPolicy": {"kms:Decrypt": {via}},
    }


def test_each_role_trusts_only_its_service_and_the_state_machine_only_this_account() -> None:
    # The local stack assumes the roles directly: moto cannot check a service principal.
    template, resolver = expanded()
    trusted = {}
    for logical, properties in [
        (logical, resolver.resolve(resource["Properties"]))
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    ]:
        (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] in ("sts:AssumeRole", ["sts:AssumeRole"])
        trusted[logical] = (statement["Principal"], statement.get("Condition"))

    lambda_only = ({"Service": "lambda.amazonaws.com"}, None)
    assert trusted == {
        "CheckOrderStatusRole": lambda_only,
        "StoreVouchersRole": lambda_only,
        "SweepOrdersRole": lambda_only,
        "WebhookRole": lambda_only,
        "OutcomeMetricsRole": lambda_only,
        "SweepOrdersFunctionSweepRole": ({"Service": ["scheduler.amazonaws.com"]}, None),
        "TrackerStateMachineRole": (
            {"Service": "states.amazonaws.com"},
            {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        ),
    }


# -- IAM's matching, as the local stack evaluates it ---------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (
            "arn:aws:secretsmanager:r:1:secret:name-??????",
            "arn:aws:secretsmanager:r:1:secret:name-AbCdEf",
            True,
        ),
        (
            "arn:aws:secretsmanager:r:1:secret:name-??????",
            "arn:aws:secretsmanager:r:1:secret:name-AbCdE",
            False,
        ),
        (
            "arn:aws:secretsmanager:r:1:secret:name-??????",
            "arn:aws:secretsmanager:r:1:secret:name2-AbCdEf",
            False,
        ),
        ("arn:aws:s3:::bucket/vouchers/*", "arn:aws:s3:::bucket/vouchers/1/en/v.pdf", True),
        ("arn:aws:s3:::bucket/vouchers/*", "arn:aws:s3:::bucket/other/v.pdf", False),
        ("arn:aws:s3:::bucket.a/x", "arn:aws:s3:::bucketXa/x", False),  # "." is no wildcard
        (
            "arn:aws:s3:::bucket/vouchers/*/tiqets_information.json",
            "arn:aws:s3:::bucket/vouchers/1/v.pdf",
            False,
        ),
    ],
)
def test_resource_patterns_match_as_iams_globs(pattern: str, value: str, matches: bool) -> None:
    assert iam.glob_matches(pattern, value) is matches


def test_action_patterns_match_regardless_of_case() -> None:
    assert iam.glob_matches("dynamodb:UpdateItem", "dynamodb:updateitem", ignore_case=True)
    assert not iam.glob_matches("dynamodb:UpdateItem", "dynamodb:updateitem")


def test_api_key_is_the_stacks(stack: LocalStack) -> None:
    # The probe reads the secret the status check reads (and the stack really holds it).
    answer = client_of(stack, "CheckOrderStatusRole", "secretsmanager").get_secret_value(
        SecretId=stack.api_key_secret_name
    )
    assert answer["SecretString"] == API_KEY
    assert answer["ARN"].startswith(
        f"arn:aws:secretsmanager:{stack.region}:123456789012:secret:{stack.api_key_secret_name}-"
    )


def test_the_sweeps_execution_grant_names_the_state_machine_by_its_name() -> None:
    # GetAtt TrackerStateMachine.Name is the name (its Ref is the ARN); the local resolver
    # used to put the ARN there, which only enforced IAM showed (the sweep's DescribeExecution).
    template, resolver = expanded()
    (reading,) = [
        statement
        for where, statement in identity_statements(template, resolver)
        if where == "SweepOrdersRole" and statement["Sid"] == "ReadExecutions"
    ]
    machine = resolver.arns["TrackerStateMachine"]

    assert reading["Resource"] == machine.replace(":stateMachine:", ":execution:") + ":*"
