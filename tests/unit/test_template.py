"""template.yaml and the state machine definition, checked where the AWS linters cannot look.

cfn-lint (make validate-template) and asl-validator (make validate-asl) check each file on its
own; these tests check what ties them together, on the template as the SAM translator expands
it, and the rules this project holds itself to (least privilege, no secrets in logs).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tiqets_tracker_local.template import (
    PROJECT_ROOT,
    Resolver,
    load_sam_template,
    local_artifact_path,
    translate,
)

pytestmark = pytest.mark.unit

DEFINITION = PROJECT_ROOT / "statemachine" / "order_tracking.asl.json"
MAX_DEADLINE_SECONDS = 86_400


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_sam_template()


@pytest.fixture(scope="module")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template, "eu-west-1")


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return dict(json.loads(DEFINITION.read_text("utf-8")))


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def policy_statements(cfn_template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every inline, managed and bucket policy, with where it stands."""

    def statements_of(document: Any) -> list[dict[str, Any]]:
        found = document.get("Statement", [])
        return found if isinstance(found, list) else [found]

    for name, resource in cfn_template["Resources"].items():
        properties = resource.get("Properties", {})
        for policy in properties.get("Policies", []):
            if "Fn::If" in policy:  # a conditional policy: check both branches
                branches = [b for b in policy["Fn::If"][1:] if "PolicyDocument" in b]
            else:
                branches = [policy]
            for branch in branches:
                for statement in statements_of(branch["PolicyDocument"]):
                    yield name, statement
        if "PolicyDocument" in properties:
            for statement in statements_of(properties["PolicyDocument"]):
                yield name, statement


def test_every_placeholder_in_the_definition_has_a_substitution_and_back(
    sam_template: dict[str, Any],
) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text("utf-8")))
    (machine,) = resources_of(sam_template, "AWS::Serverless::StateMachine").values()
    substitutions = set(machine["Properties"]["DefinitionSubstitutions"])

    assert placeholders == substitutions


def test_the_state_machine_definition_is_the_file_in_statemachine(
    cfn_template: dict[str, Any],
) -> None:
    (machine,) = resources_of(cfn_template, "AWS::StepFunctions::StateMachine").values()
    location = machine["Properties"]["DefinitionS3Location"]

    assert local_artifact_path(f"s3://{location['Bucket']}/{location['Key']}") == DEFINITION


def test_no_iam_statement_allows_a_wildcard_action(cfn_template: dict[str, Any]) -> None:
    checked = 0
    for where, statement in policy_statements(cfn_template):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            checked += 1
            assert "*" not in action, f"{where} allows {action}"
    assert checked > 10


# CloudWatch Logs delivery for Step Functions supports no resource-level permissions.
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


# Sending X-Ray traces supports no resource-level permissions either.
TRACE_WRITING_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}


def test_only_log_delivery_and_trace_writing_are_granted_on_all_resources(
    cfn_template: dict[str, Any],
) -> None:
    unscoped = set()
    for where, statement in policy_statements(cfn_template):
        if statement.get("Effect") == "Allow" and statement.get("Resource") == "*":
            actions = set(statement["Action"])
            assert actions <= LOG_DELIVERY_ACTIONS | TRACE_WRITING_ACTIONS, where
            unscoped |= actions
    assert unscoped == LOG_DELIVERY_ACTIONS | TRACE_WRITING_ACTIONS


def test_every_role_is_the_templates_own_without_aws_managed_policies(
    cfn_template: dict[str, Any],
) -> None:
    """SAM would attach AWSLambdaBasicExecutionRole (logs on every log group) and
    AWSXrayWriteOnlyAccess; the template's own roles grant each function its log group only."""
    roles = resources_of(cfn_template, "AWS::IAM::Role")
    for name, role in roles.items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert arn == {"Ref": "TraceWritingPolicy"}, f"{name} attaches {arn}"
    functions = resources_of(cfn_template, "AWS::Lambda::Function")
    assert len(functions) == 5
    for name, function in functions.items():
        (role_name, attribute) = function["Properties"]["Role"]["Fn::GetAtt"]
        assert attribute == "Arn"
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        (policy,) = roles[role_name]["Properties"]["Policies"][:1]
        (logs,) = [
            statement
            for statement in policy["PolicyDocument"]["Statement"]
            if any(action.startswith("logs:") for action in statement["Action"])
        ]
        assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}, name
        assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, name


# The property that gives each resource type its physical name, for the types the template
# makes; None where the type has none (or only one scoped inside another resource).
PHYSICAL_NAME_PROPERTIES: dict[str, str | None] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::S3::BucketPolicy": None,
    "AWS::Events::EventBus": "Name",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SNS::TopicPolicy": None,
    "AWS::SNS::Subscription": None,
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Lambda::Permission": None,
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::ApiGatewayV2::Api": "Name",
    "AWS::ApiGatewayV2::Stage": None,  # named within its API
    # The distributor's own domain, given as a parameter: one stack per name by design.
    "AWS::ApiGatewayV2::DomainName": None,
    "AWS::ApiGatewayV2::ApiMapping": None,
}


def names_without_the_stack_name(template: dict[str, Any]) -> dict[str, Any]:
    """The resources whose physical name is fixed: set, and not built from the stack name."""
    fixed = {}
    for name, resource in template["Resources"].items():
        assert resource["Type"] in PHYSICAL_NAME_PROPERTIES, f"classify {resource['Type']}"
        name_property = PHYSICAL_NAME_PROPERTIES[resource["Type"]]
        value = resource.get("Properties", {}).get(name_property) if name_property else None
        if value is not None and "AWS::StackName" not in json.dumps(value):
            fixed[name] = value
    return fixed


def test_no_resource_has_a_fixed_name_that_a_second_stack_would_collide_with(
    cfn_template: dict[str, Any],
) -> None:
    assert names_without_the_stack_name(cfn_template) == {}


def test_the_sweep_schedule_would_get_a_fixed_name_without_omit_name(
    sam_template: dict[str, Any],
) -> None:
    # What the test above guards against: SAM names a ScheduleV2 schedule after its function
    # and event unless told otherwise.
    changed = copy.deepcopy(sam_template)
    events = changed["Resources"]["SweepOrdersFunction"]["Properties"]["Events"]
    (schedule,) = events.values()
    del schedule["Properties"]["OmitName"]

    fixed = names_without_the_stack_name(translate(changed, "eu-west-1"))

    assert fixed == {"SweepOrdersFunctionSweep": "SweepOrdersFunctionSweep"}


def test_the_execution_has_a_hard_timeout_beyond_the_longest_deadline(
    definition: dict[str, Any], sam_template: dict[str, Any]
) -> None:
    pattern = re.compile(sam_template["Parameters"]["DeadlineSeconds"]["AllowedPattern"])
    assert pattern.fullmatch(str(MAX_DEADLINE_SECONDS))
    assert not pattern.fullmatch(str(MAX_DEADLINE_SECONDS + 1))
    assert definition["TimeoutSeconds"] > MAX_DEADLINE_SECONDS


def test_every_wait_for_a_callback_is_bounded(definition: dict[str, Any]) -> None:
    callbacks = [
        state
        for state in definition["States"].values()
        if state.get("Resource", "").endswith(".waitForTaskToken")
    ]
    assert callbacks
    for state in callbacks:
        assert "TimeoutSecondsPath" in state or "TimeoutSeconds" in state
        assert any("States.Timeout" in c["ErrorEquals"] for c in state["Catch"])


def test_every_task_and_wait_leads_somewhere(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} -> {target}"
        if state["Type"] not in {"Succeed", "Fail", "Choice"}:
            assert "Next" in state or state.get("End"), name


def test_state_machine_logs_no_execution_data_and_is_traced(
    sam_template: dict[str, Any],
) -> None:
    (machine,) = resources_of(sam_template, "AWS::Serverless::StateMachine").values()
    properties = machine["Properties"]

    assert properties["Type"] == "STANDARD"
    assert properties["Logging"]["IncludeExecutionData"] is False
    assert properties["Tracing"]["Enabled"] is True


def test_voucher_bucket_blocks_public_access_encrypts_and_refuses_plain_http(
    cfn_template: dict[str, Any],
) -> None:
    (bucket,) = resources_of(cfn_template, "AWS::S3::Bucket").values()
    properties = bucket["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert properties["VersioningConfiguration"]["Status"] == "Enabled"
    rules = properties["LifecycleConfiguration"]["Rules"]
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)

    (policy,) = resources_of(cfn_template, "AWS::S3::BucketPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_every_log_group_has_a_retention(cfn_template: dict[str, Any]) -> None:
    groups = resources_of(cfn_template, "AWS::Logs::LogGroup")
    functions = resources_of(cfn_template, "AWS::Lambda::Function")

    assert len(groups) >= len(functions) + 1
    assert all("RetentionInDays" in group["Properties"] for group in groups.values())
    assert all("LoggingConfig" in f["Properties"] for f in functions.values())


def test_webhook_api_is_throttled_and_its_access_log_holds_no_path_or_query(
    cfn_template: dict[str, Any],
) -> None:
    (api,) = resources_of(cfn_template, "AWS::ApiGatewayV2::Api").values()
    (stage,) = resources_of(cfn_template, "AWS::ApiGatewayV2::Stage").values()
    route_settings = stage["Properties"]["DefaultRouteSettings"]
    log_format = stage["Properties"]["AccessLogSettings"]["Format"]

    assert "post" in json.dumps(api["Properties"]["Body"]["paths"]["/tiqets/callbacks"])
    assert route_settings["ThrottlingRateLimit"]
    assert route_settings["ThrottlingBurstLimit"]
    for leaking in ("$context.path", "$context.routeKey}?", "querystring", "$input"):
        assert leaking not in log_format


def test_the_start_tracking_policy_allows_starting_and_signing_and_nothing_more(
    cfn_template: dict[str, Any],
) -> None:
    resolver = Resolver.for_template(cfn_template, stack_name="check", region="eu-west-1")
    policy = cfn_template["Resources"]["StartTrackingPolicy"]["Properties"]["PolicyDocument"]
    start, sign = resolver.resolve(policy["Statement"])

    assert start["Action"] == "states:StartExecution"
    assert start["Resource"] == resolver.arns["TrackerStateMachine"]
    assert sign["Action"] == "secretsmanager:GetSecretValue"
    assert sign["Resource"].endswith(":secret:tiqets-tracker/webhook-keys-??????")


def test_every_handler_exists_in_the_code_folder(cfn_template: dict[str, Any]) -> None:
    for name, function in resources_of(cfn_template, "AWS::Lambda::Function").items():
        module, _, attribute = function["Properties"]["Handler"].rpartition(".")
        path = PROJECT_ROOT / "functions" / (module.replace(".", "/") + ".py")
        assert path.is_file(), name
        assert f"def {attribute}(" in path.read_text("utf-8"), name


def test_local_stack_resolves_every_resource_the_template_creates(
    cfn_template: dict[str, Any],
) -> None:
    resolver = Resolver.for_template(cfn_template, stack_name="check", region="eu-west-1")

    for name, resource in cfn_template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        resolved = json.dumps(resolver.resolve(resource.get("Properties", {})))
        assert '"Ref"' not in resolved, name
        assert "Fn::" not in resolved, name


def test_webhook_resources_exist_only_when_the_webhook_is_on(
    cfn_template: dict[str, Any],
) -> None:
    off = Resolver.for_template(
        cfn_template, stack_name="check", region="eu-west-1", overrides={"WebhookEnabled": "false"}
    )
    on = Resolver.for_template(cfn_template, stack_name="check", region="eu-west-1")

    webhook = cfn_template["Resources"]["WebhookFunction"]
    assert on.condition(webhook["Condition"]) is True
    assert off.condition(webhook["Condition"]) is False


def test_each_lambda_task_outlasts_its_function_so_a_slow_run_is_not_retried_while_it_runs(
    definition: dict[str, Any], cfn_template: dict[str, Any]
) -> None:
    (machine,) = resources_of(cfn_template, "AWS::StepFunctions::StateMachine").values()
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    functions = resources_of(cfn_template, "AWS::Lambda::Function")
    tasks = [
        state
        for state in definition["States"].values()
        if state.get("Resource", "").startswith("arn:aws:states:::lambda:invoke")
    ]
    assert tasks
    for state in tasks:
        placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Parameters"]["FunctionName"])
        assert placeholder
        (function_name, attribute) = substitutions[placeholder[1]]["Fn::GetAtt"]
        assert attribute == "Arn"
        assert state["TimeoutSeconds"] > functions[function_name]["Properties"]["Timeout"]


def test_the_largest_voucher_allowed_fits_the_voucher_functions_ephemeral_storage(
    sam_template: dict[str, Any],
) -> None:
    pattern = re.compile(sam_template["Parameters"]["VoucherMaxBytes"]["AllowedPattern"])
    largest = 400 * 1024 * 1024
    assert pattern.fullmatch(str(largest))
    assert not pattern.fullmatch(str(largest + 1))
    function = sam_template["Resources"]["StoreVouchersFunction"]["Properties"]
    storage_bytes = function["EphemeralStorage"]["Size"] * 1000 * 1000
    # The spooled download and the runtime's own use of /tmp must both fit.
    assert largest < storage_bytes * 0.85


ALARM_TARGET = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(
    cfn_template: dict[str, Any],
) -> None:
    found = alarms(cfn_template)
    assert len(found) == 8
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [ALARM_TARGET], name
        assert alarm["OKActions"] == [ALARM_TARGET], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_every_alarm_says_what_to_do(cfn_template: dict[str, Any]) -> None:
    for name, alarm in alarms(cfn_template).items():
        description = alarm["AlarmDescription"]
        assert re.search(r"\b(Look|Raise|Find|Check|check)\b", description), name
        assert len(description) <= 1024, name  # CloudWatch's limit for AlarmDescription


def test_alarms_go_to_a_topic_of_the_stack_or_to_the_one_given(
    cfn_template: dict[str, Any],
) -> None:
    given = Resolver.for_template(
        cfn_template,
        stack_name="check",
        region="eu-west-1",
        overrides={
            "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:on-call",
            "AlarmEmail": "ops@example.com",
        },
    )
    own = Resolver.for_template(
        cfn_template,
        stack_name="check",
        region="eu-west-1",
        overrides={"AlarmEmail": "ops@example.com"},
    )
    silent = Resolver.for_template(cfn_template, stack_name="check", region="eu-west-1")
    resources = cfn_template["Resources"]

    assert given.condition(resources["AlarmTopic"]["Condition"]) is False
    assert given.condition(resources["AlarmEmailSubscription"]["Condition"]) is False
    assert given.resolve(ALARM_TARGET) == "arn:aws:sns:eu-west-1:123456789012:on-call"
    assert own.condition(resources["AlarmTopic"]["Condition"]) is True
    assert own.condition(resources["AlarmEmailSubscription"]["Condition"]) is True
    assert silent.condition(resources["AlarmEmailSubscription"]["Condition"]) is False
    statement = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement == [
        {
            "Sid": "CloudWatchAlarmsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": "AlarmTopic"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]


def test_the_tiqets_error_rate_alarm_counts_every_status_the_check_reports(
    cfn_template: dict[str, Any],
) -> None:
    from tiqets_tracker.tiqets import OrderStatus

    queries = cfn_template["Resources"]["TiqetsErrorRateAlarm"]["Properties"]["Metrics"]
    statuses = {
        dimension["Value"]
        for query in queries
        if "MetricStat" in query
        for dimension in query["MetricStat"]["Metric"]["Dimensions"]
        if dimension["Name"] == "status"
    }
    # check_order_status.app reports each status seen, and "tiqets_error" for no usable answer.
    assert statuses == {status.value for status in OrderStatus} | {"tiqets_error"}


# Changes with every new layer version, which an imported export could not; other stacks read it
# from the SSM parameter that OrderPlacementLayerArnParameterName names.
NOT_EXPORTED = {"OrderPlacementLayerArn"}


def test_every_output_is_exported_under_the_stack_name(cfn_template: dict[str, Any]) -> None:
    for name, output in cfn_template["Outputs"].items():
        assert output.get("Description"), name
        if name in NOT_EXPORTED:
            assert "Export" not in output, name
            continue
        assert output["Export"] == {"Name": {"Fn::Sub": f"${{AWS::StackName}}-{name}"}}, name


def test_the_layer_version_is_published_where_a_new_version_can_replace_it(
    cfn_template: dict[str, Any],
) -> None:
    parameter = cfn_template["Resources"]["OrderPlacementLayerArnParameter"]["Properties"]

    # SAM names each layer version's resource after its content (OrderPlacementLayer<hash>).
    layer = cfn_template["Resources"][parameter["Value"]["Ref"]]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-order-placement"}
    assert parameter["Type"] == "String"
    assert cfn_template["Outputs"]["OrderPlacementLayerArnParameterName"]["Value"] == {
        "Ref": "OrderPlacementLayerArnParameter"
    }


# SAR's rules for AWS::ServerlessRepo::Application (AWS SAM developer guide, "AWS SAM template
# Metadata section properties").
SAR_NAME = re.compile(r"[a-zA-Z0-9\-]{1,140}")
SAR_AUTHOR = re.compile(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?")
SAR_LABEL = re.compile(r"[a-zA-Z0-9+\-_:/@]{1,127}")


def test_the_serverless_repo_metadata_follows_sars_rules(sam_template: dict[str, Any]) -> None:
    import tomllib

    metadata = sam_template["Metadata"]["AWS::ServerlessRepo::Application"]
    assert SAR_NAME.fullmatch(metadata["Name"])
    assert 1 <= len(metadata["Description"]) <= 256
    assert SAR_AUTHOR.fullmatch(metadata["Author"])
    assert len(metadata["Author"]) <= 127
    assert len(metadata["Labels"]) <= 10
    assert all(SAR_LABEL.fullmatch(label) for label in metadata["Labels"])
    assert "Fn::" not in json.dumps(metadata)
    assert "Ref" not in json.dumps(metadata)
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert metadata["SemanticVersion"] == project["version"]
    assert metadata["SpdxLicenseId"] == project["license"]
    assert "Apache License" in (PROJECT_ROOT / metadata["LicenseUrl"]).read_text("utf-8")
    assert (PROJECT_ROOT / metadata["ReadmeUrl"]).is_file()


def test_callback_urls_use_the_custom_domain_when_one_is_given(
    cfn_template: dict[str, Any],
) -> None:
    certificate = "arn:aws:acm:eu-west-1:123456789012:certificate/" + "0" * 8 + "-" + "0" * 27
    domain = Resolver.for_template(
        cfn_template,
        stack_name="check",
        region="eu-west-1",
        overrides={
            "WebhookDomainName": "callbacks.example.com",
            "WebhookCertificateArn": certificate,
        },
    )
    plain = Resolver.for_template(cfn_template, stack_name="check", region="eu-west-1")
    resources, outputs = cfn_template["Resources"], cfn_template["Outputs"]

    assert domain.resolve(outputs["WebhookUrl"]["Value"]) == (
        "https://callbacks.example.com/tiqets/callbacks"
    )
    assert ".execute-api.eu-west-1." in plain.resolve(outputs["WebhookUrl"]["Value"])
    for name in ("WebhookDomain", "WebhookDomainMapping"):
        assert domain.condition(resources[name]["Condition"]) is True
        assert plain.condition(resources[name]["Condition"]) is False
    mapping = resources["WebhookDomainMapping"]
    assert mapping["DependsOn"] in resources  # SAM's $default stage of the HTTP API
    assert mapping["Properties"]["Stage"] == "$default"


def test_a_custom_domain_without_a_certificate_is_refused_at_deploy(
    sam_template: dict[str, Any],
) -> None:
    rule = sam_template["Rules"]["WebhookDomainNeedsCertificate"]
    assert rule["RuleCondition"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookDomainName"}, ""]}]
    }
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookCertificateArn"}, ""]}]
    }


def test_each_stack_has_metrics_of_its_own(sam_template: dict[str, Any]) -> None:
    """The metrics' service dimension is the stack's name, so that a second stack in the account
    (staging beside production) neither feeds nor trips the first one's alarms."""
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    service_dimensions = [
        dimension["Value"]
        for alarm in resources_of(sam_template, "AWS::CloudWatch::Alarm").values()
        for metric in [alarm["Properties"], *alarm["Properties"].get("Metrics", [])]
        for dimension in (
            metric.get("Dimensions")
            or metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        )
        if dimension["Name"] == "service"
    ]

    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert len(service_dimensions) == 7
    assert all(value == {"Ref": "AWS::StackName"} for value in service_dimensions)
