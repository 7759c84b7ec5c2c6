"""The stack's CloudWatch dashboard: it shows what the issue of adoption asked for, from metrics
the code really emits, for a stack with the webhook and one without."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tiqets_tracker.outcomes import Outcome
from tiqets_tracker.tiqets import OrderStatus
from tiqets_tracker_local.template import PROJECT_ROOT, Resolver, load_sam_template, translate

pytestmark = pytest.mark.unit

NAMESPACE = "TiqetsTracker"
SERVICE = ["service", "dash"]  # the stack name


def stack(webhook_enabled: str) -> tuple[dict[str, Any], Resolver]:
    """The expanded template and its names, for a stack with or without the webhook."""
    template = translate(load_sam_template(), "eu-west-1")
    resolver = Resolver.for_template(
        template,
        stack_name="dash",
        region="eu-west-1",
        overrides={"WebhookEnabled": webhook_enabled},
    )
    return template, resolver


def created(template: dict[str, Any], resolver: Resolver, kind: str) -> list[str]:
    """The logical IDs of the resources of one type that the stack creates."""
    return [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
        and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    ]


def dashboard(webhook_enabled: str) -> dict[str, Any]:
    template, resolver = stack(webhook_enabled)
    body = resolver.resolve(template["Resources"]["TrackerDashboard"]["Properties"])
    parsed: dict[str, Any] = json.loads(body["DashboardBody"])
    return parsed


@pytest.fixture(scope="module", params=["true", "false"])
def widgets(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard(request.param)["widgets"]
    return found


def metric_widget(widgets: list[dict[str, Any]], title_start: str) -> dict[str, Any]:
    (widget,) = [w for w in widgets if w["properties"]["title"].startswith(title_start)]
    properties: dict[str, Any] = widget["properties"]
    return properties


def plain_metrics(properties: dict[str, Any]) -> list[list[Any]]:
    """The widget's metric rows that name a metric (not expressions), without render options."""
    return [
        [part for part in row if not isinstance(part, dict)]
        for row in properties["metrics"]
        if isinstance(row[0], str)
    ]


def emitted_metric_names() -> set[str]:
    """Every metric name a shipped Lambda adds with Powertools (literal names and the sweep's
    f-string names, expanded)."""
    names: set[str] = set()
    for path in (PROJECT_ROOT / "functions").rglob("app.py"):
        text = path.read_text("utf-8")
        names.update(re.findall(r'add_metric\(\s*name="(\w+)"', text))
        if 'name=f"Sweep{action.value}"' in text:
            names.update({"SweepTrackingRestarted", "SweepTrackingAbandoned"})
        names.update(re.findall(r'"(VouchersMarkedCancelled|CancelledWithoutVoucher)"', text))
    return names


def test_outcomes_by_type_and_orders_started_are_shown(widgets: list[dict[str, Any]]) -> None:
    properties = metric_widget(widgets, "Orders started and outcomes")
    expressions = [
        row[0]["expression"] for row in properties["metrics"] if isinstance(row[0], dict)
    ]

    assert plain_metrics(properties) == [
        [NAMESPACE, "Outcomes", "outcome", outcome.value, *SERVICE] for outcome in Outcome
    ]
    assert any('MetricName="OrdersStarted"' in expression for expression in expressions)
    assert properties["stat"] == "Sum"


@pytest.mark.parametrize(("stat", "title"), [("p50", "median"), ("p95", "95th percentile")])
def test_time_from_placement_to_each_outcome_is_shown_at_p50_and_p95(
    widgets: list[dict[str, Any]], stat: str, title: str
) -> None:
    properties = metric_widget(widgets, f"Time from placement to outcome, {title}")

    assert properties["stat"] == stat
    assert plain_metrics(properties) == [
        [NAMESPACE, "SecondsToOutcome", "outcome", outcome.value, *SERVICE] for outcome in Outcome
    ]


def test_tiqets_calls_are_shown_per_status_and_errors(widgets: list[dict[str, Any]]) -> None:
    checks = metric_widget(widgets, "Tiqets status checks")
    failed = metric_widget(widgets, "Status checks that failed")

    assert plain_metrics(checks) == [
        [NAMESPACE, "StatusChecks", "status", status, *SERVICE]
        for status in [*(s.value for s in OrderStatus), "tiqets_error"]
    ]
    assert 'MetricName=\\"FailedChecks\\"' in json.dumps(failed["metrics"])


def test_webhook_results_and_running_executions_are_shown(widgets: list[dict[str, Any]]) -> None:
    webhook = metric_widget(widgets, "Webhook answers by result")
    running = metric_widget(widgets, "Orders open and executions running")

    assert "{TiqetsTracker,outcome,service}" in webhook["metrics"][0][0]["expression"]
    assert 'MetricName="WebhookRequests"' in webhook["metrics"][0][0]["expression"]
    assert [NAMESPACE, "RunningExecutions", *SERVICE] in plain_metrics(running)
    assert [NAMESPACE, "OpenOrders", *SERVICE] in plain_metrics(running)


def test_every_tiqets_tracker_metric_on_the_dashboard_is_one_the_code_emits(
    widgets: list[dict[str, Any]],
) -> None:
    emitted = emitted_metric_names()
    shown: set[str] = set()
    for widget in widgets:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], str) and row[0] == NAMESPACE:
                shown.add(row[1])
            elif isinstance(row[0], dict):
                shown.update(re.findall(r'MetricName="(\w+)"', row[0]["expression"]))

    assert {"OrdersStarted", "Outcomes", "SecondsToOutcome", "OpenOrders"} <= shown
    assert shown <= emitted, shown - emitted


def test_every_search_is_for_this_stacks_metrics(widgets: list[dict[str, Any]]) -> None:
    searches = [
        row[0]["expression"]
        for widget in widgets
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], dict) and row[0]["expression"].startswith("SEARCH(")
    ]

    assert len(searches) == 3
    assert all('service="dash"' in search for search in searches)


def test_the_alarm_widget_lists_every_alarm_of_the_stack() -> None:
    for webhook_enabled in ("true", "false"):
        template, resolver = stack(webhook_enabled)
        alarms = {
            resolver.arns[name] for name in created(template, resolver, "AWS::CloudWatch::Alarm")
        }
        (widget,) = [w for w in dashboard(webhook_enabled)["widgets"] if w["type"] == "alarm"]

        assert set(widget["properties"]["alarms"]) == alarms
        assert len(alarms) == (8 if webhook_enabled == "true" else 7)


def test_every_lambda_function_of_the_stack_has_its_errors_and_throttles_shown() -> None:
    for webhook_enabled in ("true", "false"):
        template, resolver = stack(webhook_enabled)
        functions = {
            resolver.physical_ids[name]
            for name in created(template, resolver, "AWS::Lambda::Function")
        }
        properties = metric_widget(dashboard(webhook_enabled)["widgets"], "Lambda errors")
        shown = plain_metrics(properties)

        assert len(functions) == (5 if webhook_enabled == "true" else 4)
        for metric in ("Errors", "Throttles"):
            assert {row[3] for row in shown if row[1] == metric} == functions


def test_operations_md_explains_every_widget(widgets: list[dict[str, Any]]) -> None:
    text = (PROJECT_ROOT / "OPERATIONS.md").read_text("utf-8")
    table = text.split("## The dashboard", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("|")]
    explained = rows[2:]  # after the header and its rule
    # "Time from placement to outcome, median and 95th percentile" stands for both widgets.
    starts = [entry.split(", median")[0] for entry in explained]

    assert len(explained) == 8
    for widget in widgets:
        title = widget["properties"]["title"]
        assert any(title.startswith(start) for start in starts), title
