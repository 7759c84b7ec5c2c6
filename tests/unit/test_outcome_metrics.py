"""The outcome-metrics Lambda: each published outcome counted once, with the time from the
order's placement to the decision, and anything else refused by name."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

import pytest

from tests.conftest import emf_records
from tests.lambda_context import lambda_context
from tiqets_tracker.errors import InvalidOutcomeEventError
from tiqets_tracker.outcome_metrics import MeasuredOutcome, measure_outcome
from tiqets_tracker.outcomes import EVENT_SOURCE, Outcome
from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template

pytestmark = pytest.mark.unit

SAMPLES = PROJECT_ROOT / "events" / "outcomes"


def sample(outcome: Outcome) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / f"{outcome.value}.json").read_text("utf-8"))
    return event


def timed(outcome: Outcome, *, placed_at: str | None, decided_at: str) -> dict[str, Any]:
    event = sample(outcome)
    event["detail"]["order"]["placed_at"] = placed_at
    event["detail"]["decided_at"] = decided_at
    return event


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_measured_from_placement_to_decision(outcome: Outcome) -> None:
    event = timed(
        outcome, placed_at="2026-06-02T10:00:00.000Z", decided_at="2026-06-02T10:02:30.5Z"
    )

    assert measure_outcome(event) == MeasuredOutcome(outcome, 150.5)


def test_an_outcome_without_a_placement_time_is_counted_without_a_duration() -> None:
    event = timed(Outcome.TRACKING_FAILED, placed_at=None, decided_at="2026-06-02T10:00:00Z")

    assert measure_outcome(event) == MeasuredOutcome(Outcome.TRACKING_FAILED, None)


def test_a_placement_just_ahead_of_the_decision_counts_as_no_time() -> None:
    event = timed(
        Outcome.TICKETS_READY, placed_at="2026-06-02T10:00:01Z", decided_at="2026-06-02T10:00:00Z"
    )

    assert measure_outcome(event).seconds_to_outcome == 0.0


def broken(change: str) -> object:
    event = sample(Outcome.TICKETS_READY)
    if change == "not-an-object":
        return [event]
    if change == "other-source":
        return event | {"source": "tiqets-tracker.sweep"}
    if change == "detail-type-differs":
        return event | {"detail-type": "OrderFailed"}
    if change == "no-voucher":
        event["detail"]["voucher"] = None
        return event
    if change == "bad-decided-at":
        event["detail"]["decided_at"] = "yesterday"
        return event
    raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("not-an-object", "must be a JSON object"),
        ("other-source", "source must be 'tiqets-tracker'"),
        ("detail-type-differs", "detail-type must be its detail's outcome"),
        ("no-voucher", "the event's detail rejected"),
        ("bad-decided-at", "decided_at is not an RFC 3339 timestamp"),
    ],
)
def test_anything_but_a_published_outcome_is_refused_by_name(change: str, message: str) -> None:
    with pytest.raises(InvalidOutcomeEventError, match=message):
        measure_outcome(broken(change))


def test_the_handler_writes_one_emf_record_per_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the template's Globals set them; Powertools reads them when the module is imported.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tiqets-tracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TiqetsTracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from outcome_metrics.app import lambda_handler

    event = timed(
        Outcome.TICKETS_READY, placed_at="2026-06-02T10:00:00Z", decided_at="2026-06-02T10:01:00Z"
    )

    # Not capsys: the handler's logger keeps the stdout it found at import, which capsys closes.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        answer = lambda_handler(copy.deepcopy(event), lambda_context("outcome-metrics"))

    (record,) = emf_records(printed.getvalue())
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "TiqetsTracker"
    assert directive["Dimensions"] == [["outcome", "service"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "Outcomes": "Count",
        "SecondsToOutcome": "Seconds",
    }
    assert record["outcome"] == "TicketsReady"
    assert record["Outcomes"] == [1.0]
    assert record["SecondsToOutcome"] == [60.0]
    assert answer == {"outcome": "TicketsReady", "seconds_to_outcome": 60.0}


def test_the_rule_hands_the_lambda_every_outcome_and_nothing_else() -> None:
    function = load_sam_template()["Resources"]["OutcomeMetricsFunction"]
    (event,) = function["Properties"]["Events"].values()

    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["EventBusName"] == {"Ref": "OutcomeEventBus"}
    assert event["Properties"]["Pattern"] == {
        "source": [EVENT_SOURCE],
        "detail-type": [outcome.value for outcome in Outcome],
    }
    assert function["Properties"]["Handler"] == "outcome_metrics.app.lambda_handler"
    assert (PROJECT_ROOT / "functions" / "outcome_metrics" / "app.py").is_file()
