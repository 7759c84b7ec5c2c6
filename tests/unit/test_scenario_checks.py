"""`scenarios.problems`, the check `make demo`, the scenario test and `make test-aws` apply to
every order: it must see each way an order can end wrong."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tiqets_tracker_local.scenarios import (
    DemoOrder,
    OrderProgress,
    Tracker,
    problems,
    render_table,
)
from tiqets_tracker_local.simulator import Scenario

PDF = b"%PDF-1.4 the voucher Tiqets served"


def _no_aws(service: str) -> Any:
    raise AssertionError(f"the check reads no AWS ({service})")


TRACKER = Tracker(state_machine_arn="arn", tracking_table_name="table", client=_no_aws)
READY = DemoOrder("instant done", "9000001", Scenario(), ("TicketsReady",))
FAILED = DemoOrder("failed", "9000004", Scenario(timeline=((0.0, "failed"),)), ("OrderFailed",))


def _ended_right(order: DemoOrder) -> OrderProgress:
    ready = "TicketsReady" in order.expected
    return OrderProgress(
        order,
        TRACKER,
        outcomes=list(order.expected),
        finished=True,
        voucher=PDF if ready else None,
        information=b'{"how_to_use": "Show it"}' if ready else None,
        expected_voucher=PDF if ready else None,
    )


def test_orders_that_ended_as_their_scenarios_say_have_no_problem() -> None:
    assert problems(_ended_right(READY)) == []
    assert problems(_ended_right(FAILED)) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"outcomes": ["TrackingFailed"]}, "outcomes TrackingFailed, expected TicketsReady"),
        ({"outcomes": []}, "outcomes none, expected TicketsReady"),
        ({"outcomes": ["TicketsReady", "TicketsReady"]}, "expected TicketsReady"),
        ({"finished": False}, "an execution is still running"),
        ({"voucher": None}, "no voucher stored"),
        ({"voucher": PDF[:-1]}, "is not the one Tiqets served"),
        ({"information": None}, "no information document"),
        ({"information": b"[]"}, "no information document"),
    ],
)
def test_each_way_of_ending_wrong_is_a_problem(change: dict[str, Any], problem: str) -> None:
    found = problems(replace(_ended_right(READY), **change))
    assert len(found) == 1
    assert problem in found[0]


def test_a_voucher_for_an_order_that_should_have_none_is_a_problem() -> None:
    assert problems(replace(_ended_right(FAILED), voucher=PDF)) == [
        "a voucher was stored for an order that should have none"
    ]


def test_the_table_says_which_orders_ended_wrong_and_why() -> None:
    wrong = replace(_ended_right(FAILED), outcomes=[], finished=False)
    table = render_table([_ended_right(READY), wrong], time_scale=60)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["scenario", "outcome", "ok"]
    assert "yes" in lines[2]
    assert "NO: outcomes none, expected OrderFailed; an execution is still running" in lines[3]
    assert f"{len(PDF)} bytes" in lines[2]
