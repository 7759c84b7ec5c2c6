"""`make test-aws`: the scenarios of `make demo`, on AWS. Opt-in: never in `make test` or CI.

In order (README, "Proving it on AWS"):

1. stages the simulator's bundle and deploys the test stack (local/aws/test-stack.yaml): the
   Tiqets simulator behind a Lambda function URL, its order table, and the API key and webhook
   keys secrets the trackers read;
2. builds the tracker (`sam build`) and deploys it twice beside it, with the webhook and
   polling only, both pointed at the simulator (`TiqetsBaseUrl`) and the test stack's secrets,
   at the demo's pace (`scenarios.DEMO_PACE`);
3. updates the test stack to subscribe a queue to both outcome buses;
4. runs the scenarios and checks every order (`scenarios.run_scenarios`, `scenarios.problems`:
   the code `make demo` and `make test` run), outcomes read from the queue and vouchers from S3;
5. deletes what it created, whatever happened: the three stacks, the tracking tables and voucher
   buckets the template retains, the secrets (without the recovery window, so a later run's
   names are free), the log groups, and the run's artifacts in SAM's managed bucket.

Only 1-3 and 5 are AWS-only. The Tiqets side (remote_simulator.py) is exercised in `make test`
too, through an emulated function URL (tests/workflow/test_scenarios.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .operate import DeployedStack, OperateError, open_stack
from .remote_simulator import OrderBook, RemoteTiqets, clock_offset
from .scenarios import DEMO_PACE, Tracker, demo_orders, problems, render_table, run_scenarios
from .subscriber import OutcomeQueue

REPOSITORY = Path(__file__).resolve().parents[2]
BUILD = REPOSITORY / "build" / "test-aws"
TEST_STACK_TEMPLATE = REPOSITORY / "local" / "aws" / "test-stack.yaml"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
# What the tracker template keeps when its stack is deleted (DeletionPolicy Retain).
RETAINED_TYPES = frozenset({"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Lambda::LayerVersion"})


class AwsRunError(Exception):
    """A step of the run failed; the message says which."""


@dataclass
class AwsRun:
    region: str
    run_id: str
    stream: TextIO = sys.stdout
    created: list[str] = field(default_factory=list)
    """Stacks created so far, in order."""

    @property
    def test_stack(self) -> str:
        return f"{self.run_id}-tiqets"

    @property
    def webhook_stack(self) -> str:
        return f"{self.run_id}-webhook"

    @property
    def polling_stack(self) -> str:
        return f"{self.run_id}-polling"

    def say(self, message: str) -> None:
        print(f"[test-aws {datetime.now(UTC):%H:%M:%S}] {message}", file=self.stream, flush=True)

    def sam_deploy(self, template: Path, stack: str, parameters: Mapping[str, str]) -> None:
        overrides = [f"{name}={value}" for name, value in parameters.items()]
        command = [
            "sam",
            "deploy",
            "--template-file",
            str(template),
            "--stack-name",
            stack,
            "--region",
            self.region,
            "--resolve-s3",
            "--s3-prefix",
            self.run_id,
            "--capabilities",
            *CAPABILITIES,
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--tags",
            f"tiqets-tracker-test-run={self.run_id}",
        ]
        if overrides:
            command += ["--parameter-overrides", *overrides]
        if stack not in self.created:
            self.created.append(stack)
        _run(command)

    def deploy(self) -> tuple[DeployedStack, DeployedStack, DeployedStack]:
        """Steps 1 to 3; the test stack and the two trackers, as deployed."""
        _stage_simulator(BUILD / "simulator")
        self.say(f"deploying the test stack {self.test_stack} (the simulator, the secrets)")
        _run(_sam_build(TEST_STACK_TEMPLATE, BUILD / "test-stack"))
        self.sam_deploy(BUILD / "test-stack" / "template.yaml", self.test_stack, {})
        test = open_stack(self.test_stack, self.region)
        self.say("building the tracker")
        _run(_sam_build(REPOSITORY / "template.yaml", BUILD / "tracker"))
        shared = {
            "TiqetsBaseUrl": test.output("SimulatorBaseUrl"),
            "TiqetsApiKeySecretName": test.output("ApiKeySecretName"),
            "WebhookKeysSecretName": test.output("WebhookKeysSecretName"),
            "LogRetentionDays": "1",
        }
        for stack, parameters in (
            (self.webhook_stack, DEMO_PACE.webhook_parameters),
            (self.polling_stack, DEMO_PACE.polling_parameters),
        ):
            self.say(f"deploying the tracker {stack}")
            self.sam_deploy(BUILD / "tracker" / "template.yaml", stack, shared | parameters)
        self.say("subscribing a queue to both outcome buses")
        self.sam_deploy(
            BUILD / "test-stack" / "template.yaml",
            self.test_stack,
            {"WebhookTrackerStack": self.webhook_stack, "PollingTrackerStack": self.polling_stack},
        )
        return (
            open_stack(self.test_stack, self.region),
            open_stack(self.webhook_stack, self.region),
            open_stack(self.polling_stack, self.region),
        )

    def scenarios(self, test: DeployedStack, webhook: DeployedStack, polling: DeployedStack) -> int:
        """Step 4; 0 when every order ended as its scenario says."""
        import boto3
        import requests

        session = boto3.Session(region_name=self.region)

        def client(service: str) -> Any:
            return session.client(service)  # type: ignore[call-overload]

        keys = json.loads(
            session.client("secretsmanager").get_secret_value(
                SecretId=test.output("WebhookKeysSecretName")
            )["SecretString"]
        )
        base_url = test.output("SimulatorBaseUrl")

        def get_json(url: str) -> Any:
            response = requests.get(url, timeout=10)
            if response.status_code != 200:
                raise AwsRunError(
                    f"the simulator's function URL answered {response.status_code} to {url}"
                    " (a SAM CLI too old to grant lambda:InvokeFunction to function URLs?)"
                )
            return response.json()

        offset = clock_offset(get_json, base_url)
        self.say(f"simulator up at {base_url}; its clock is {offset:+.3f} s from this machine's")
        queue = OutcomeQueue(session.client("sqs"), test.output("OutcomeQueueUrl"))
        trackers = {
            stack.name: Tracker(
                state_machine_arn=stack.output("StateMachineArn"),
                tracking_table_name=stack.output("TrackingTableName"),
                client=client,
                webhook_url=stack.outputs.get("WebhookUrl"),
                webhook_signing_key=str(keys["current"]).encode()
                if "WebhookUrl" in stack.outputs
                else None,
            )
            for stack in (webhook, polling)
        }
        with RemoteTiqets(
            OrderBook(test.output("SimulatedOrdersTableName"), session.client("dynamodb")),
            base_url=base_url,
            time_scale=DEMO_PACE.time_scale,
            clock_offset_seconds=offset,
        ) as tiqets:
            progress = run_scenarios(
                demo_orders(),
                webhook=trackers[webhook.name],
                polling=trackers[polling.name],
                tiqets=tiqets,
                outcome_events=lambda: queue.outcomes(wait_seconds=1),
                pace=DEMO_PACE,
                say=self.say,
                reference_prefix=self.run_id,
            )
        print("", file=self.stream)
        print(render_table(progress, DEMO_PACE.time_scale), file=self.stream)
        failed = [item for item in progress if problems(item)]
        print(
            f"\n{len(progress) - len(failed)} of {len(progress)} orders ended as expected on AWS"
            f" ({self.region}).",
            file=self.stream,
        )
        return 1 if failed else 0

    def delete(self) -> list[str]:
        """Step 5, for whatever was created; what could not be deleted, one line each."""
        import boto3

        session = boto3.Session(region_name=self.region)
        left: list[str] = []
        retained: list[tuple[str, str]] = []
        # The test stack first: its rules stand on the trackers' buses.
        order = sorted(self.created, key=lambda stack: stack != self.test_stack)
        for stack in order:
            try:
                resources = session.client("cloudformation").describe_stack_resources(
                    StackName=stack
                )["StackResources"]
            except Exception as error:
                self.say(f"{stack}: {type(error).__name__}, nothing to delete")
                continue
            for resource in resources:
                kind, physical = resource["ResourceType"], resource.get("PhysicalResourceId", "")
                # The template retains these (the layer's versions so that functions deployed
                # on one keep it through an update); a test run deletes them itself.
                if kind in RETAINED_TYPES and physical:
                    retained.append((kind, physical))
                if kind == "AWS::SecretsManager::Secret" and physical:
                    session.client("secretsmanager").delete_secret(
                        SecretId=physical, ForceDeleteWithoutRecovery=True
                    )
            self.say(f"deleting the stack {stack}")
            cloudformation = session.client("cloudformation")
            cloudformation.delete_stack(StackName=stack)
            try:
                cloudformation.get_waiter("stack_delete_complete").wait(
                    StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 90}
                )
            except Exception as error:
                left.append(f"stack {stack}: {error}")
        for kind, physical in retained:
            try:
                delete_retained(session, kind, physical)
            except Exception as error:
                if "NotFound" not in type(error).__name__ and "NoSuch" not in str(error):
                    left.append(f"{kind} {physical}: {error}")
        left += self._delete_log_groups(session)
        left += self._delete_artifacts(session)
        return left

    def _delete_log_groups(self, session: Any) -> list[str]:
        # The template's log groups go with their stacks; these are the ones Lambda and the
        # stacks' custom resources may have made beside them.
        logs = session.client("logs")
        left: list[str] = []
        for prefix in (f"/aws/lambda/{self.run_id}-", f"/aws/vendedlogs/states/{self.run_id}-"):
            for page in logs.get_paginator("describe_log_groups").paginate(
                logGroupNamePrefix=prefix
            ):
                for group in page["logGroups"]:
                    try:
                        logs.delete_log_group(logGroupName=group["logGroupName"])
                    except Exception as error:
                        left.append(f"log group {group['logGroupName']}: {error}")
        return left

    def _delete_artifacts(self, session: Any) -> list[str]:
        """The run's uploads in SAM's managed bucket (the bucket itself is SAM's, shared by every
        `sam deploy --resolve-s3` in the account and region, and stays)."""
        try:
            managed = open_stack("aws-sam-cli-managed-default", self.region)
        except OperateError as error:
            if str(error).startswith("no stack "):
                return []  # SAM never made its bucket: nothing of this run's was uploaded
            return [f"artifacts under {self.run_id}/ in SAM's managed bucket: {error}"]
        try:
            bucket = managed.output("SourceBucket")
            s3 = session.client("s3")
            for page in s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=f"{self.run_id}/"
            ):
                _delete_versions(s3, bucket, page)
        except Exception as error:
            return [f"artifacts under {self.run_id}/ in SAM's managed bucket: {error}"]
        return []


def _delete_versions(s3: Any, bucket: str, page: Mapping[str, Any]) -> None:
    objects = [
        {"Key": item["Key"], "VersionId": item["VersionId"]}
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    ]
    for start in range(0, len(objects), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start : start + 1000]})


def delete_retained(session: Any, kind: str, physical: str) -> None:
    """Delete one resource of RETAINED_TYPES, by its physical ID."""
    if kind == "AWS::S3::Bucket":
        _delete_bucket(session.client("s3"), physical)
    elif kind == "AWS::Lambda::LayerVersion":
        # The physical ID is the version's ARN: ...:layer:<name>:<version>.
        name, _, version = physical.rpartition(":")
        session.client("lambda").delete_layer_version(LayerName=name, VersionNumber=int(version))
    else:
        session.client("dynamodb").delete_table(TableName=physical)


def _delete_bucket(s3: Any, bucket: str) -> None:
    """Every version and delete marker, then the (versioned) bucket. Listed again after each
    deletion rather than paged, since what is deleted would shift the pages."""
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=1000)
        if not page.get("Versions") and not page.get("DeleteMarkers"):
            break
        _delete_versions(s3, bucket, page)
    s3.delete_bucket(Bucket=bucket)


def _sam_build(template: Path, build_dir: Path) -> list[str]:
    return [
        "sam",
        "build",
        "--template-file",
        str(template),
        "--build-dir",
        str(build_dir),
    ]


def _stage_simulator(folder: Path) -> None:
    """The simulator's bundle: this package and the tiqets_tracker package it imports, with the
    tracker's requirements (the simulator needs nothing else)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(
        REPOSITORY / "local" / "tiqets_tracker_local",
        folder / "tiqets_tracker_local",
        ignore=ignore,
    )
    shutil.copytree(
        REPOSITORY / "functions" / "tiqets_tracker", folder / "tiqets_tracker", ignore=ignore
    )
    shutil.copy(REPOSITORY / "functions" / "requirements.txt", folder / "requirements.txt")


def _run(command: Sequence[str]) -> None:
    completed = subprocess.run(list(command), cwd=REPOSITORY, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise AwsRunError(f"{' '.join(command[:2])} failed (exit status {completed.returncode})")


def preflight(region: str | None) -> str:
    """The region to run in, once the tools and credentials are there; AwsRunError if not."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if shutil.which("sam") is None:
        raise AwsRunError(
            "the SAM CLI is not on PATH (https://docs.aws.amazon.com/serverless-application-model/"
            "latest/developerguide/install-sam-cli.html)"
        )
    session = boto3.Session(region_name=region)
    if session.region_name is None:
        raise AwsRunError("no AWS region configured (set AWS_REGION or AWS_DEFAULT_REGION)")
    try:
        identity = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        raise AwsRunError(f"no usable AWS credentials: {error}") from None
    print(f"[test-aws] account {identity['Account']}, region {session.region_name}")
    return str(session.region_name)


def run_on_aws(region: str | None = None, *, stream: TextIO = sys.stdout) -> int:
    """The whole run; its exit status (0 when every scenario ended as expected and everything
    was deleted)."""
    try:
        chosen = preflight(region)
    except AwsRunError as error:
        print(f"test-aws: {error}", file=sys.stderr)
        return 2
    run = AwsRun(
        region=chosen,
        run_id=f"tiqets-test-{datetime.now(UTC):%Y%m%d%H%M%S}",
        stream=stream,
    )
    status = 1
    started = time.monotonic()
    try:
        status = run.scenarios(*run.deploy())
    except AwsRunError as error:
        print(f"test-aws: {error}", file=sys.stderr)
    finally:
        left = run.delete()
        for line in left:
            print(f"test-aws: NOT DELETED: {line}", file=sys.stderr)
        if left:
            status = 1
        run.say(f"done in {time.monotonic() - started:.0f} s")
    return status
