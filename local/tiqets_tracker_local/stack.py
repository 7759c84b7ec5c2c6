"""The whole application on moto, in this process: the local stack.

    with TiqetsSimulator() as tiqets, LocalStack(tiqets_base_url=tiqets.base_url,
                                                 api_key=tiqets.api_key) as stack:
        started = stack.start_tracking("1111111")
        stack.wait_for(started.execution_arn)
        print(stack.outcome_events())

Resources come from template.yaml as the SAM translator expands it (see template.py), with the
state machine's real definition file and substitutions; moto's interpreter runs the definition
and invokes our real handlers in-process (see lambdas.py). Only what the template declares
through parameters differs from a deployment: durations in seconds, the Tiqets URL pointing at
the simulator, and vouchers allowed over http from loopback.

The bus's rules come from the template too, and a rule's Lambda targets (the outcome metrics)
are invoked asynchronously as EventBridge invokes them, which moto does not do (event_rules.py):
only with the AWS::Lambda::Permission the template gives the rule, and each invocation is kept
with the function's answer (`target_invocations`).

IAM is enforced (see iam.py): each handler signs as its role, the state machine's tasks as its
role, everything else as an operator with every permission; a call the template does not grant
is denied. Not simulated: log groups, alarms, the IAM conditions moto cannot evaluate and the
voucher bucket's TLS-only policy (moto sees no aws:SecureTransport on its in-process requests
and would deny them all); tests/unit/test_template.py and tests/workflow/test_iam.py check those
on the expanded template instead.

Corrected where moto answers unlike AWS under concurrency: callbacks while an execution starts
(callbacks_skip_executions_not_yet_running) and the atomicity of each single-item DynamoDB
request (dynamodb_single_item_actions_atomic); tests/workflow/test_local_stack_seams.py checks both.
These, the in-process Lambdas, IAM and strict_states hook into moto through the seams of
moto_seams.py, which holds every patch of a moto, botocore or Powertools internal and refuses
to load with versions other than those pyproject.toml pins.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from io import BytesIO
from typing import TYPE_CHECKING, Any

from tiqets_tracker.information import STAGED_INFORMATION_NAME
from tiqets_tracker_local import iam, lambdas, moto_seams
from tiqets_tracker_local.event_rules import LambdaTargetDeliveries, TargetInvocation, create_rules
from tiqets_tracker_local.strict_states import strict_states
from tiqets_tracker_local.subscriber import OUTCOME_SOURCES, OutcomeEvent, OutcomeQueue
from tiqets_tracker_local.template import (
    Resolver,
    load_sam_template,
    local_artifact_path,
    translate,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_stepfunctions.client import SFNClient

    from tiqets_tracker.tracking import TrackingStarted
    from tiqets_tracker.wakeups import WakeResult

DEFAULT_REGION = "eu-west-1"
FINISHED_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

# Parameters only the state machine definition reads; each set of values gets its own state
# machine on the shared resources (webhook on and off side by side in one demo).
DEFINITION_PARAMETERS = frozenset(
    {
        "WebhookEnabled",
        "BackoffBaseSeconds",
        "BackoffCapSeconds",
        "DeadlineSeconds",
        "TiqetsRetryBudget",
    }
)

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-stack",
    "AWS_SECRET_ACCESS_KEY": "local-stack",
    "AWS_SESSION_TOKEN": "local-stack",
}

_stack_lock = threading.Lock()


def _dummy_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "the local stack runs this function in-process")
    return buffer.getvalue()


class LocalStack:
    def __init__(
        self,
        *,
        tiqets_base_url: str,
        api_key: str,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = "tiqets-tracker-local",
        region: str = DEFAULT_REGION,
        log_level: str = "WARNING",
        allow_loopback_vouchers: bool = True,
    ) -> None:
        self.stack_name = stack_name
        self.region = region
        self._api_key = api_key
        self._tiqets_base_url = tiqets_base_url
        self._log_level = log_level
        # Vouchers over http from loopback (the simulator); False keeps the production rules.
        self._allow_loopback_vouchers = allow_loopback_vouchers
        self._base_parameters = dict(parameters or {})
        self._sam_template = load_sam_template()
        self.template = translate(self._sam_template, region)
        self.resolver = Resolver.for_template(
            self.template,
            stack_name=stack_name,
            region=region,
            overrides=self._base_parameters,
        )
        self._exit = ExitStack()
        self._saved_environ: dict[str, str | None] = {}
        self._state_machines: dict[tuple[tuple[str, str], ...], str] = {}
        self._outcome_queue: OutcomeQueue | None = None
        self._function_names: list[str] = []
        self.webhook_function_name: str | None = None
        self.sweep_function_name = ""
        self._stepfunctions: SFNClient | None = None
        self._target_deliveries: LambdaTargetDeliveries | None = None

    def __repr__(self) -> str:
        return f"LocalStack(stack_name={self.stack_name!r}, region={self.region!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        if not _stack_lock.acquire(blocking=False):
            raise RuntimeError("only one local stack can run in a process at a time")
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def _start(self) -> None:
        from moto import mock_aws

        from tiqets_tracker.aws import forget_clients
        from tiqets_tracker.secret_store import clear_secret_cache

        self._set_environ(_FAKE_CREDENTIALS | {"AWS_DEFAULT_REGION": self.region})
        self._exit.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        )
        self._exit.enter_context(lambdas.in_process_lambdas())
        self._exit.enter_context(
            iam.enforced(
                region=self.region,
                placeholder_access_key_ids={_FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]},
            )
        )
        self._exit.enter_context(strict_states())
        self._exit.enter_context(callbacks_skip_executions_not_yet_running())
        self._exit.enter_context(dynamodb_single_item_actions_atomic())
        self._target_deliveries = LambdaTargetDeliveries()
        self._exit.enter_context(
            moto_seams.eventbridge_lambda_targets(self._target_deliveries.deliver)
        )
        forget_clients()
        clear_secret_cache()
        self._create_resources()
        self.state_machine_arn = self.state_machine()

    def _stop(self) -> None:
        if self._target_deliveries is not None:
            self._target_deliveries.drain()  # before the functions they invoke go
        for name in self._function_names:
            lambdas.unregister(name)
        self._exit.close()
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ.clear()
        from tiqets_tracker.aws import forget_clients
        from tiqets_tracker.secret_store import clear_secret_cache

        forget_clients()
        clear_secret_cache()
        if _stack_lock.locked():
            _stack_lock.release()

    def _set_environ(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    # -- resources -------------------------------------------------------------------------

    def _resources_of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Resources of one type that the template creates with these parameters."""
        return [
            (logical, self.resolver.resolve(resource.get("Properties", {})))
            for logical, resource in self.template["Resources"].items()
            if resource["Type"] == kind
            and ("Condition" not in resource or self.resolver.condition(resource["Condition"]))
        ]

    def client(self, service: str) -> Any:
        """A client of the operator (every permission; iam.py), also inside a handler's call."""
        import boto3

        if iam.enforcing():
            return iam.active().operator.client(service, self.region)
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def _create_resources(self) -> None:
        self._create_tables()
        self._create_buckets()
        self._create_event_buses()
        self._create_secrets()
        self._create_roles()
        iam.create_managed_policies(
            self.client("iam"), self.template, self.resolver, self.stack_name
        )
        self._create_functions()
        create_rules(
            self.client("events"),
            self._resources_of("AWS::Events::Rule"),
            [properties for _, properties in self._resources_of("AWS::Lambda::Permission")],
            physical_ids=self.resolver.physical_ids,
            arns=self.resolver.arns,
        )

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for logical, properties in self._resources_of("AWS::DynamoDB::Table"):
            name = self.resolver.physical_ids[logical]
            dynamodb.create_table(**create_table_request(name, properties))
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            self.tracking_table_name = name

    def _create_buckets(self) -> None:
        s3 = self.client("s3")
        for logical, properties in self._resources_of("AWS::S3::Bucket"):
            name = self.resolver.physical_ids[logical]
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region}
            )
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"],
            )
            # CloudFormation's ServerSideEncryptionByDefault is the API's
            # ApplyServerSideEncryptionByDefault.
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
                }
                for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
            )
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"]
            )
            self.voucher_bucket_name = name

    def _create_event_buses(self) -> None:
        events = self.client("events")
        sqs = self.client("sqs")
        for logical, _ in self._resources_of("AWS::Events::EventBus"):
            name = self.resolver.physical_ids[logical]
            events.create_event_bus(Name=name)
            self.event_bus_name = name
        # A subscriber, as a distributor's consumer would be: every outcome lands in a queue.
        queue_url = sqs.create_queue(QueueName=f"{self.stack_name}-outcomes")["QueueUrl"]
        self._outcome_queue = OutcomeQueue(sqs, queue_url)
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name=f"{self.stack_name}-all-outcomes",
            EventBusName=self.event_bus_name,
            EventPattern=json.dumps({"source": list(OUTCOME_SOURCES)}),
        )
        events.put_targets(
            Rule=f"{self.stack_name}-all-outcomes",
            EventBusName=self.event_bus_name,
            Targets=[{"Id": "outcomes-queue", "Arn": queue_arn}],
        )

    def _create_secrets(self) -> None:
        secretsmanager = self.client("secretsmanager")
        self.api_key_secret_name = self.resolver.parameters["TiqetsApiKeySecretName"]
        secretsmanager.create_secret(Name=self.api_key_secret_name, SecretString=self._api_key)
        # The key that signs callback URLs; a deployment creates its own (see README).
        self.webhook_keys_secret_name = self.resolver.parameters["WebhookKeysSecretName"]
        self.webhook_signing_key = secrets.token_hex(32)
        secretsmanager.create_secret(
            Name=self.webhook_keys_secret_name,
            SecretString=json.dumps({"current": self.webhook_signing_key}),
        )

    def _create_roles(self) -> None:
        iam = self.client("iam")
        for logical, properties in self._resources_of("AWS::IAM::Role"):
            name = self.resolver.physical_ids[logical]
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
            )
            for policy in properties.get("Policies", []):
                # SAM's policy templates omit Version, which IAM accepts and moto does not.
                document = {"Version": "2012-10-17"} | policy["PolicyDocument"]
                iam.put_role_policy(
                    RoleName=name,
                    PolicyName=policy["PolicyName"],
                    PolicyDocument=json.dumps(document),
                )

    def _create_functions(self) -> None:
        awslambda = self.client("lambda")
        environment: dict[str, str] = {}
        for logical, properties in self._resources_of("AWS::Lambda::Function"):
            name = self.resolver.physical_ids[logical]
            code = properties["Code"]
            code_dir = local_artifact_path(f"s3://{code['S3Bucket']}/{code['S3Key']}")
            variables = {
                key: str(value)
                for key, value in properties.get("Environment", {}).get("Variables", {}).items()
            }
            environment.update(variables)
            awslambda.create_function(
                FunctionName=name,
                Runtime=properties["Runtime"],
                Role=properties["Role"],
                Handler=properties["Handler"],
                Code={"ZipFile": _dummy_zip()},
                Timeout=int(properties.get("Timeout", 3)),
                MemorySize=int(properties.get("MemorySize", 128)),
                Environment={"Variables": variables},
            )
            lambdas.register(
                name,
                lambdas.RegisteredFunction(
                    code_dir=code_dir,
                    handler_path=properties["Handler"],
                    memory_mb=int(properties.get("MemorySize", 128)),
                    timeout_seconds=int(properties.get("Timeout", 3)),
                    arn=self.resolver.arns[logical],
                    role_arn=properties["Role"],
                ),
            )
            self._function_names.append(name)
            if logical == "WebhookFunction":
                self.webhook_function_name = name
            if logical == "SweepOrdersFunction":
                self.sweep_function_name = name
        # In-process handlers share this process's environment; the functions' variables do
        # not conflict, and these are the ones that differ from a deployment.
        environment.update(
            {
                "TIQETS_BASE_URL": self._tiqets_base_url,
                "VOUCHER_ALLOW_LOOPBACK_HTTP": "true" if self._allow_loopback_vouchers else "false",
                "POWERTOOLS_LOG_LEVEL": self._log_level,
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        self._set_environ(environment)

    def state_machine(self, **definition_parameters: str) -> str:
        """The ARN of the tracker state machine for these definition parameters (created on
        first use; all variants share the table, bucket, bus and functions)."""
        unknown = set(definition_parameters) - DEFINITION_PARAMETERS
        if unknown:
            raise ValueError(f"not definition parameters: {sorted(unknown)}")
        values = {
            name: self._base_parameters.get(name, self.resolver.parameters[name])
            for name in DEFINITION_PARAMETERS
        } | definition_parameters
        key = tuple(sorted(values.items()))
        if key in self._state_machines:
            return self._state_machines[key]
        resolver = Resolver.for_template(
            self.template,
            stack_name=self.stack_name,
            region=self.region,
            overrides=self._base_parameters | values,
        )
        ((logical, properties),) = [
            (logical, resolver.resolve(resource["Properties"]))
            for logical, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::StepFunctions::StateMachine"
        ]
        location = properties["DefinitionS3Location"]
        definition = local_artifact_path(f"s3://{location['Bucket']}/{location['Key']}").read_text(
            "utf-8"
        )
        definition = render_definition(definition, properties.get("DefinitionSubstitutions", {}))
        suffix = "" if not self._state_machines else f"-{len(self._state_machines)}"
        arn: str = self.client("stepfunctions").create_state_machine(
            name=f"{self.stack_name}-{logical}{suffix}",
            definition=definition,
            roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        if suffix:
            iam.grant_state_machine_variant(
                self.client("iam"),
                self.template,
                self.resolver,
                original_arn=self.resolver.arns[logical],
                variant_arn=arn,
            )
        self._state_machines[key] = arn
        return arn

    # -- using the stack -------------------------------------------------------------------

    def start_tracking(
        self,
        order_reference_id: str,
        *,
        state_machine_arn: str | None = None,
        **order: Any,
    ) -> TrackingStarted:
        from tiqets_tracker.tracking import start_tracking

        return start_tracking(
            order_reference_id,
            state_machine_arn=state_machine_arn or self.state_machine_arn,
            client=self._sfn(),
            **order,
        )

    def wake(self, order_reference_id: str) -> WakeResult:
        """What the webhook does for an authentic callback (without the HTTP around it)."""
        from tiqets_tracker.records import TrackingRecords
        from tiqets_tracker.wakeups import wake_tracker

        dynamodb: DynamoDBClient = self.client("dynamodb")
        return wake_tracker(
            order_reference_id,
            records=TrackingRecords(self.tracking_table_name, dynamodb),
            stepfunctions=self.client("stepfunctions"),
            now=datetime.now(UTC),
            state_machine_arn=self.state_machine_arn,
        )

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self._sfn().describe_execution(executionArn=execution_arn))

    def wait_for(self, execution_arn: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the execution finishes; return its description."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.describe(execution_arn)
            if described["status"] in FINISHED_STATUSES:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout}s")
            time.sleep(0.05)

    def wait_until(self, predicate: Any, *, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what or predicate}")
            time.sleep(0.02)

    def _sfn(self) -> SFNClient:
        """One Step Functions client, reused: the load driver starts and polls often, and a
        boto3 client per call would cost more than the stack it drives."""
        if self._stepfunctions is None:
            self._stepfunctions = self.client("stepfunctions")
        return self._stepfunctions

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every execution of every state machine of the stack, all pages of them, or only
        those in `status` (RUNNING, SUCCEEDED, ...)."""
        found: list[dict[str, Any]] = []
        for machine_arn in self._state_machines.values():
            token: str | None = None
            while True:
                request: dict[str, Any] = {"stateMachineArn": machine_arn, "maxResults": 1000}
                if status:
                    request["statusFilter"] = status
                if token:
                    request["nextToken"] = token
                page = self._sfn().list_executions(**request)
                found.extend(dict(execution) for execution in page["executions"])
                token = page.get("nextToken")
                if not token:
                    break
        return found

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self._sfn().get_paginator("get_execution_history")
        return [
            dict(event)
            for page in pages.paginate(executionArn=execution_arn)
            for event in page["events"]
        ]

    def target_invocations(self) -> list[TargetInvocation]:
        """EventBridge's invocations of the template's Lambda targets (the outcome metrics)
        finished so far, with what each function answered."""
        assert self._target_deliveries is not None, "the stack is not running"
        return self._target_deliveries.invocations

    def outcome_events(self) -> list[OutcomeEvent]:
        """Every outcome event published so far (drained from the subscriber queue)."""
        return [event for event in self._published_events() if event.source == "tiqets-tracker"]

    def sweep_events(self) -> list[OutcomeEvent]:
        """Every event the sweep published so far (what it did to which order)."""
        return [
            event for event in self._published_events() if event.source == "tiqets-tracker.sweep"
        ]

    def sweep(self) -> dict[str, Any]:
        """Run the scheduled sweep once, as its schedule would (through Lambda, in-process);
        returns its report, or raises RuntimeError with the Lambda's error."""
        scheduler = iam.schedule_client(self.template, self.resolver, self.region)
        response = scheduler.invoke(FunctionName=self.sweep_function_name, Payload=b"{}")
        payload: dict[str, Any] = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"the sweep failed: {payload.get('errorType')}: {payload}")
        return payload

    def _published_events(self) -> list[OutcomeEvent]:
        if self._outcome_queue is None:
            raise RuntimeError("the local stack is not started")
        return self._outcome_queue.events()

    def outcomes_for(self, order_reference_id: str) -> list[OutcomeEvent]:
        return [
            event
            for event in self.outcome_events()
            if event.detail.get("order_reference_id") == order_reference_id
        ]

    def record(self, order_reference_id: str) -> dict[str, Any] | None:
        """The tracking record as plain Python values."""
        item = (
            self.client("dynamodb")
            .get_item(
                TableName=self.tracking_table_name,
                Key={"order_reference_id": {"S": order_reference_id}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return None if item is None else _plain(item)

    def stored_voucher_keys(self, order_reference_id: str) -> list[str]:
        """The keys of the order's vouchers and information documents in the bucket, without
        the informational fields the status check stages there (information.py) whatever the
        outcome."""
        listed = self.client("s3").list_objects_v2(
            Bucket=self.voucher_bucket_name, Prefix=f"vouchers/{order_reference_id}/"
        )
        return [
            item["Key"]
            for item in listed.get("Contents", [])
            if not item["Key"].endswith(f"/{STAGED_INFORMATION_NAME}")
        ]

    def expire_records(self, now: datetime) -> list[str]:
        """Delete the tracking records whose `expires_at` lies before `now`, as DynamoDB's TTL
        does (moto keeps expired items forever); return their order IDs."""
        expired = [
            str(record["order_reference_id"])
            for record in self.records()
            if "expires_at" in record and int(record["expires_at"]) < now.timestamp()
        ]
        dynamodb = self.client("dynamodb")
        for order_reference_id in expired:
            dynamodb.delete_item(
                TableName=self.tracking_table_name,
                Key={"order_reference_id": {"S": order_reference_id}},
            )
        return expired

    def records(self) -> list[dict[str, Any]]:
        """Every tracking record, all pages of them, as plain Python values."""
        pages = self.client("dynamodb").get_paginator("scan")
        return [
            _plain(item)
            for page in pages.paginate(TableName=self.tracking_table_name, ConsistentRead=True)
            for item in page["Items"]
        ]


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as Decimal)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def executions_with_a_running_worker(executions: list[Any]) -> list[Any]:
    """The executions whose interpreter has started (its worker has an environment)."""
    return [
        execution
        for execution in executions
        if getattr(getattr(execution, "exec_worker", None), "env", None) is not None
    ]


@contextmanager
def callbacks_skip_executions_not_yet_running() -> Iterator[None]:
    """moto's SendTaskSuccess (and its other callbacks) walk every RUNNING execution and read
    `execution.exec_worker.env`, which is None until the execution's thread has started: a
    callback while another order's execution is starting raised AttributeError (a 500 to the
    webhook; RELIABILITY.md). Such an execution holds no task token yet, so the callbacks skip
    it. Every caller of `_get_executions` in moto's parser backend is such a lookup
    (`moto_seams.parser_execution_lookups`)."""
    with moto_seams.parser_execution_lookups(executions_with_a_running_worker):
        yield


class _ItemLocks:
    """One lock per item (table and key), created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def of(self, table_name: str, key: str) -> threading.Lock:
        """The lock of the item with this key (its key attributes as JSON) in the table."""
        with self._guard:
            return self._locks.setdefault((table_name, key), threading.Lock())


@contextmanager
def dynamodb_single_item_actions_atomic() -> Iterator[None]:
    """DynamoDB applies each write to an item atomically; moto reads the item, evaluates the
    condition and the update expression, then writes, with no lock. Two concurrent updates of
    one record (a webhook's `ADD webhook_count` and a status check's `begin_check`) could then
    lose one (RELIABILITY.md). The local stack runs moto's single-item actions one at a time
    per item, which is the atomicity AWS gives them; requests for different items still run
    side by side, as they do on AWS (one lock for all of them made a loaded stack queue up).
    The seam: `moto_seams.dynamodb_single_item_actions`."""
    with moto_seams.dynamodb_single_item_actions(_ItemLocks().of):
        yield


def create_table_request(table_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTable's arguments for an AWS::DynamoDB::Table's (resolved) properties."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return request


def render_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """Fill `${Name}` placeholders the way Step Functions applies DefinitionSubstitutions."""
    for name, value in substitutions.items():
        definition = definition.replace("${" + name + "}", str(value))
    return definition
