"""What `make test-aws` deletes after a run (aws_run.AwsRun.delete), on moto's CloudFormation:
everything the run made, the resources the template retains included, and nothing else."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping

import boto3
import pytest
from moto import mock_aws

from tests.conftest import use_fake_aws
from tiqets_tracker_local.aws_run import RETAINED_TYPES, AwsRun, delete_retained

REGION = "eu-west-1"
RUN_ID = "tiqets-test-20261203101500"

# What the tracker template leaves behind when its stack is deleted: the retained table and
# versioned bucket, here standing for the real stack's.
TRACKER = {
    "Resources": {
        "TrackingTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "order_reference_id", "AttributeType": "S"}
                ],
                "KeySchema": [{"AttributeName": "order_reference_id", "KeyType": "HASH"}],
            },
        },
        "VoucherBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
        },
    }
}
# moto's CloudFormation makes no secrets, so the test stack here holds only its queue and the
# secrets' deletion without recovery window is not covered.
TEST_STACK = {"Resources": {"OutcomeQueue": {"Type": "AWS::SQS::Queue"}}}
SAM_MANAGED = {
    "Resources": {"SamCliSourceBucket": {"Type": "AWS::S3::Bucket"}},
    "Outputs": {"SourceBucket": {"Value": {"Ref": "SamCliSourceBucket"}}},
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_aws(monkeypatch, REGION)
    with mock_aws():
        yield


def _create(name: str, template: Mapping[str, object]) -> dict[str, str]:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


@pytest.mark.usefixtures("aws")
def test_everything_a_run_made_is_deleted_and_nothing_else() -> None:
    run = AwsRun(region=REGION, run_id=RUN_ID, stream=io.StringIO())
    test = _create(run.test_stack, TEST_STACK)
    webhook = _create(run.webhook_stack, TRACKER)
    polling = _create(run.polling_stack, TRACKER)
    run.created = [run.test_stack, run.webhook_stack, run.polling_stack]
    managed = _create("aws-sam-cli-managed-default", SAM_MANAGED)["SamCliSourceBucket"]
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (webhook["VoucherBucket"], polling["VoucherBucket"]):
        s3.put_object(Bucket=bucket, Key="vouchers/9000001/en.pdf", Body=b"%PDF-1")
        s3.put_object(Bucket=bucket, Key="vouchers/9000001/en.pdf", Body=b"%PDF-2")
        s3.delete_object(Bucket=bucket, Key="vouchers/9000001/en.pdf")  # a delete marker
    s3.put_object(Bucket=managed, Key=f"{RUN_ID}/tracker.zip", Body=b"zip")
    s3.put_object(Bucket=managed, Key="another-deploy/app.zip", Body=b"zip")
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=f"/aws/lambda/{RUN_ID}-webhook-CheckOrderStatus-AbC")
    logs.create_log_group(logGroupName="/aws/lambda/someone-elses-function")

    assert run.delete() == []

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    live = [
        s["StackName"]
        for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert live == ["aws-sam-cli-managed-default"]
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert buckets == [managed]
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    queues = boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", [])
    assert test["OutcomeQueue"] not in queues
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=managed)["Contents"]] == [
        "another-deploy/app.zip"
    ]
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert groups == ["/aws/lambda/someone-elses-function"]


@pytest.mark.usefixtures("aws")
def test_the_test_stack_goes_first_since_its_rules_stand_on_the_trackers_buses() -> None:
    said = io.StringIO()
    run = AwsRun(region=REGION, run_id=RUN_ID, stream=said)
    for name in (run.test_stack, run.webhook_stack, run.polling_stack):
        _create(name, TEST_STACK if name == run.test_stack else TRACKER)
    run.created = [run.test_stack, run.webhook_stack, run.polling_stack]

    run.delete()

    deleted = [line.split("deleting the stack ")[1] for line in said.getvalue().splitlines()
               if "deleting the stack " in line]  # fmt: skip
    assert deleted[0] == run.test_stack
    assert sorted(deleted[1:]) == sorted([run.webhook_stack, run.polling_stack])


@pytest.mark.usefixtures("aws")
def test_a_run_whose_first_deploy_failed_has_nothing_to_delete() -> None:
    said = io.StringIO()
    run = AwsRun(region=REGION, run_id=RUN_ID, stream=said)
    run.created = [run.test_stack]  # sam deploy failed before CloudFormation made it

    assert run.delete() == []
    assert f"{run.test_stack}: ClientError, nothing to delete" in said.getvalue()


@pytest.mark.usefixtures("aws")
def test_a_retained_layer_version_is_deleted_by_its_arn() -> None:
    # moto's CloudFormation makes no layer versions, so this one is published directly; the
    # template retains every version of OrderPlacementLayer (RetentionPolicy: Retain).
    awslambda = boto3.client("lambda", region_name=REGION)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as layer:
        layer.writestr("python/tiqets_tracker/__init__.py", "")
    published = awslambda.publish_layer_version(
        LayerName=f"{RUN_ID}-webhook-order-placement", Content={"ZipFile": archive.getvalue()}
    )

    delete_retained(
        boto3.Session(region_name=REGION), "AWS::Lambda::LayerVersion", published["LayerVersionArn"]
    )

    versions = awslambda.list_layer_versions(LayerName=f"{RUN_ID}-webhook-order-placement")
    assert versions["LayerVersions"] == []
    assert "AWS::Lambda::LayerVersion" in RETAINED_TYPES
