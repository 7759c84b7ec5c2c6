"""The worked example of an order-placement function (examples/order_placement): its template
uses only what the tracker stack exports, its handler only what the order-placement layer ships,
and bad input is refused before anything would be booked on Tiqets.

tests/workflow/test_order_placement_example.py runs the handler on the local stack.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.order_placement_support import (
    EXAMPLE,
    HANDLER,
    build_layer_module,
    example_handler,
)
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template, translate

pytestmark = pytest.mark.unit

TRACKER_STACK_PARAMETER = "TrackerStackName"
# What the example imports from the tracker stack, by output name: written out, so that a new
# dependency on the tracker shows in review.
EXPECTED_IMPORTS = {
    "StartTrackingPolicyArn",
    "StateMachineArn",
    "WebhookUrl",
    "WebhookKeysSecretName",
    "OutcomeEventBusName",
}
SETTINGS = {
    "TRACKER_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:tracker",
    "TRACKER_WEBHOOK_URL": "https://hooks.example/tiqets/callbacks",
    "TRACKER_WEBHOOK_KEYS_SECRET": "tiqets-tracker/webhook-keys",
}


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    with example_handler("order_placement_example_app") as module:
        yield module


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return load_sam_template(EXAMPLE / "template.yaml")


@pytest.fixture(scope="module")
def tracker() -> dict[str, Any]:
    return load_sam_template()


def _export_suffixes(tracker: dict[str, Any]) -> dict[str, str]:
    """Output name by the part of its export name after "<stack name>-"."""
    suffixes: dict[str, str] = {}
    for output_name, output in tracker["Outputs"].items():
        export = output.get("Export", {}).get("Name")
        if export is None:
            continue
        assert isinstance(export, dict), f"{output_name}'s export name is not a Fn::Sub"
        pattern = export["Fn::Sub"]
        assert pattern.startswith("${AWS::StackName}-"), pattern
        suffixes[pattern.removeprefix("${AWS::StackName}-")] = output_name
    return suffixes


def _imports(node: Any) -> Iterator[Any]:
    """Every Fn::ImportValue argument in a template fragment."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue":
                yield value
            else:
                yield from _imports(value)
    elif isinstance(node, list):
        for item in node:
            yield from _imports(item)


def _imported_suffix(argument: Any) -> str:
    """The export an ImportValue names, "<TrackerStackName>-<suffix>", as its suffix."""
    assert isinstance(argument, dict), argument
    assert list(argument) == ["Fn::Sub"], argument
    pattern = argument["Fn::Sub"]
    prefix = "${" + TRACKER_STACK_PARAMETER + "}-"
    assert isinstance(pattern, str), pattern
    assert pattern.startswith(prefix), pattern
    return pattern.removeprefix(prefix)


def _import_of(output_name: str) -> dict[str, Any]:
    return {"Fn::ImportValue": {"Fn::Sub": "${" + TRACKER_STACK_PARAMETER + "}-" + output_name}}


def test_every_value_the_example_imports_is_exported_by_the_tracker_stack(
    example: dict[str, Any], tracker: dict[str, Any]
) -> None:
    exported = _export_suffixes(tracker)
    imported = {_imported_suffix(argument) for argument in _imports(example["Resources"])}

    assert imported - set(exported) == set()
    assert {exported[suffix] for suffix in imported} == EXPECTED_IMPORTS
    assert example["Parameters"][TRACKER_STACK_PARAMETER]["Type"] == "String"


def test_the_function_runs_on_the_layer_with_the_start_tracking_policy_and_the_trackers_names(
    example: dict[str, Any], tracker: dict[str, Any]
) -> None:
    function = example["Resources"]["OrderPlacementFunction"]["Properties"]
    layer = tracker["Resources"]["OrderPlacementLayer"]["Properties"]

    assert function["Layers"] == [{"Ref": "OrderPlacementLayerArn"}]
    assert function["Policies"] == [_import_of("StartTrackingPolicyArn")]
    assert function["Environment"]["Variables"] == {
        "TRACKER_STATE_MACHINE_ARN": _import_of("StateMachineArn"),
        "TRACKER_WEBHOOK_URL": _import_of("WebhookUrl"),
        "TRACKER_WEBHOOK_KEYS_SECRET": _import_of("WebhookKeysSecretName"),
    }
    assert (function["CodeUri"], function["Handler"]) == ("src/", "app.lambda_handler")
    assert (EXAMPLE / function["CodeUri"] / "app.py") == HANDLER
    assert function["Runtime"] in layer["CompatibleRuntimes"]
    assert set(function["Architectures"]) <= set(layer["CompatibleArchitectures"])


def test_sam_attaches_the_imported_policy_to_the_functions_role_and_grants_nothing_else(
    example: dict[str, Any],
) -> None:
    expanded = translate(example, "eu-west-1")
    function = expanded["Resources"]["OrderPlacementFunction"]["Properties"]
    role_name = function["Role"]["Fn::GetAtt"][0]
    role = expanded["Resources"][role_name]["Properties"]

    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        _import_of("StartTrackingPolicyArn"),
    ]
    assert "Policies" not in role
    assert function["Layers"] == [{"Ref": "OrderPlacementLayerArn"}]


def test_the_layer_version_is_read_from_the_trackers_parameter_at_each_deployment(
    example: dict[str, Any], tracker: dict[str, Any]
) -> None:
    parameter = example["Parameters"]["OrderPlacementLayerArn"]
    published = tracker["Resources"]["OrderPlacementLayerArnParameter"]["Properties"]

    # Not an import: the layer's ARN changes with every version, an imported export cannot.
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    # The parameter the tracker writes when its stack is named tiqets-tracker.
    assert published["Name"] == {"Fn::Sub": "/${AWS::StackName}/order-placement-layer-arn"}
    assert parameter["Default"] == "/tiqets-tracker/order-placement-layer-arn"
    assert "Export" not in tracker["Outputs"]["OrderPlacementLayerArn"]


def test_the_outcome_rule_sends_the_trackers_outcomes_to_the_queue_and_nothing_else_may(
    example: dict[str, Any],
) -> None:
    resources = example["Resources"]
    rule = resources["OutcomesRule"]["Properties"]
    policy = resources["OutcomeQueuesPolicy"]["Properties"]
    (target,) = rule["Targets"]
    (statement,) = policy["PolicyDocument"]["Statement"]

    assert rule["EventBusName"] == _import_of("OutcomeEventBusName")
    # The outcomes' source only: the sweep's events (tiqets-tracker.sweep) are not outcomes.
    assert rule["EventPattern"] == {"source": ["tiqets-tracker"]}
    assert target["Arn"] == {"Fn::GetAtt": ["OutcomeQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["OutcomeDeliveryFailures", "Arn"]}
    assert "RoleArn" not in target  # SQS targets are authorized by the queue policy
    assert policy["Queues"] == [{"Ref": "OutcomeQueue"}, {"Ref": "OutcomeDeliveryFailures"}]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["OutcomeQueue", "Arn"]},
        {"Fn::GetAtt": ["OutcomeDeliveryFailures", "Arn"]},
    ]
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["OutcomesRule", "Arn"]}}
    }
    for queue in ("OutcomeQueue", "OutcomeDeliveryFailures"):
        assert resources[queue]["Properties"]["SqsManagedSseEnabled"] is True


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it, by its full dotted name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import cannot work in a Lambda's app.py"
            assert node.module is not None
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _layer_modules() -> list[str]:
    modules: list[str] = build_layer_module().layer_modules()
    return modules


def test_the_handler_imports_the_standard_library_and_the_layers_entry_modules_only() -> None:
    imported = _imported_modules(HANDLER)
    standard = set(sys.stdlib_module_names) | {"__future__"}
    tracker = {name for name in imported if name.split(".")[0] == "tiqets_tracker"}

    assert {name for name in imported if name.split(".")[0] not in standard} == tracker
    assert {name.split(".", 1)[1] for name in tracker} <= set(_layer_modules())
    assert tracker == {"tiqets_tracker.tracking", "tiqets_tracker.callback_urls"}


def test_the_makefile_lints_the_example_template() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text("utf-8")
    recipe = makefile.split("\nvalidate-template:", 1)[1].split("\n\n", 1)[0]

    assert "cfn-lint" in recipe
    assert "examples/order_placement/template.yaml" in recipe.split()


class NeverBooks:
    """A place_order that fails the test if it is reached."""

    def __call__(self, order: Any, callback_url: str) -> str:
        raise AssertionError(f"booked {order} although the input was refused")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(
    ("event", "message"),
    [
        (["shop-42"], "the event must be a JSON object"),
        ({}, "external_reference is required"),
        ({"external_reference": None}, "external_reference is required"),
        ({"external_reference": "  "}, "external_reference is required"),
        ({"external_reference": 42}, "external_reference is required"),
        ({"external_reference": "shop-42", "lang": 7}, "lang must be a string"),
        ({"external_reference": "shop-42", "visit_date": "15/01/2027"}, "YYYY-MM-DD"),
        ({"external_reference": "shop-42", "visit_date": 20270115}, "YYYY-MM-DD"),
        ({"external_reference": "shop-42", "visit_date": "2027-02-30"}, "not a calendar date"),
    ],
)
def test_a_malformed_event_is_refused_before_anything_is_booked(
    app: ModuleType, event: object, message: str
) -> None:
    with pytest.raises(app.InvalidOrderRequestError, match=message):
        app.lambda_handler(event, None, place_order=NeverBooks())


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"external_reference": "shop-42", "lang": "xx"}, "lang must be one of"),
        ({"external_reference": "x" * 256}, "external_reference must be shorter"),
        ({"external_reference": "shop-42", "visit_date": "2999-01-01"}, "more than 3 years"),
    ],
)
def test_a_value_the_tracker_would_refuse_is_refused_before_anything_is_booked(
    app: ModuleType, event: object, message: str
) -> None:
    with pytest.raises(InvalidExecutionInputError, match=message):
        app.lambda_handler(event, None, place_order=NeverBooks())


@pytest.mark.parametrize("missing", sorted(SETTINGS))
def test_a_missing_setting_is_named_before_anything_is_booked(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)

    with pytest.raises(app.MissingSettingError, match=f"^{missing} not set"):
        app.lambda_handler({"external_reference": "shop-42"}, None, place_order=NeverBooks())


def test_the_event_becomes_the_order_and_the_cart_is_every_other_field(app: ModuleType) -> None:
    order = app.parse_order_request(
        {
            "external_reference": "shop-42",
            "lang": "nl",
            "visit_date": "2027-01-15",
            "product_id": 1006356,
            "variants": [{"variant_id": 38100, "count": 2}],
        }
    )
    defaults = app.parse_order_request({"external_reference": "shop-43", "lang": None})

    assert order.external_reference == "shop-42"
    assert order.lang == "nl"
    assert order.visit_date == date(2027, 1, 15)
    assert order.cart == {"product_id": 1006356, "variants": [{"variant_id": 38100, "count": 2}]}
    assert (defaults.lang, defaults.visit_date, defaults.cart) == ("en", None, {})


def test_the_stub_says_it_is_the_place_for_the_distributors_own_booking_code(
    app: ModuleType,
) -> None:
    order = app.parse_order_request({"external_reference": "shop-42"})

    with pytest.raises(NotImplementedError, match="place_order_on_tiqets is where your Tiqets"):
        app.place_order_on_tiqets(order, "https://hooks.example/tiqets/callbacks?sig=x")
