"""Load on the local stack: a few dozen concurrent orders of every kind in the mix, with
Tiqets faults and AWS faults injected, all started at once; every order must reach its right
outcome with exactly one event per outcome and a byte-identical voucher.

The fast subset of `make soak` (bench/soak.py, RELIABILITY.md), with the same seeded mix and
checks (tiqets_tracker_local.oracles.load). One round runs once per module; the tests read its
result.
Nothing here asserts a duration: the round's time limit only bounds a hung round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.workflow.conftest import API_KEY
from tiqets_tracker_local.oracles.load import (
    AWS_FAULT_KINDS,
    BURST_RETRY_BUDGET,
    FAULT_KINDS,
    ORDER_KINDS,
    STACK_PARAMETERS,
    PlannedOrder,
    RoundResult,
    plan_orders,
    run_round,
)
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

pytestmark = [
    pytest.mark.workflow,
    # Powertools' metrics object is shared by a handler's concurrent in-process invocations (a
    # Lambda container runs one at a time), which it warns about; a crashed handler (an AWS
    # fault) publishes no metrics.
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
    pytest.mark.filterwarnings("ignore:Dimension .* has already been added:UserWarning"),
]

ORDERS = 40
SEED = "make-test"
FIRST_ID = 6_100_001


@pytest.fixture(scope="module")
def tiqets() -> Iterator[TiqetsSimulator]:
    # A failed callback is retried after 10 s instead of Tiqets' minute: under load the local
    # endpoint can fail one (see RELIABILITY.md), and a cancellation waits for its callback.
    with TiqetsSimulator(api_key=API_KEY, webhook_retry_schedule=(10, 20, 40, 80)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def stack(tiqets: TiqetsSimulator) -> Iterator[LocalStack]:
    with LocalStack(
        tiqets_base_url=tiqets.base_url,
        api_key=API_KEY,
        parameters=STACK_PARAMETERS,
        log_level="CRITICAL",  # the faults make the handlers log errors on purpose
    ) as local_stack:
        yield local_stack


@pytest.fixture(scope="module")
def plan() -> list[PlannedOrder]:
    return plan_orders(ORDERS, seed=SEED, first_id=FIRST_ID)


@pytest.fixture(scope="module")
def result(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    plan: list[PlannedOrder],
) -> RoundResult:
    # The waits between the state machine's retries at a quarter of their length; events are
    # counted once no execution has run for a second.
    return run_round(
        stack, tiqets, endpoint, plan, timeout=240, settle_seconds=1.0, retry_wait_scale=0.25
    )


def test_the_seeded_mix_holds_every_kind_of_order_tiqets_fault_and_aws_fault(
    plan: list[PlannedOrder],
) -> None:
    assert plan == plan_orders(ORDERS, seed=SEED, first_id=FIRST_ID)
    assert {order.kind.name for order in plan} == {kind.name for kind in ORDER_KINDS}
    injected = {name for order in plan for name in order.faults}
    assert set(FAULT_KINDS) <= injected
    assert {name for order in plan for name in order.aws_faults} == {
        kind.name for kind in AWS_FAULT_KINDS
    }


def test_every_order_reaches_its_outcomes_and_every_execution_ends(result: RoundResult) -> None:
    assert result.finished
    assert result.unsuccessful_executions == 0
    assert result.executions >= ORDERS


def test_every_order_is_right(result: RoundResult) -> None:
    # Order ID -> what is wrong with it (outcomes, schema, voucher, executions, record).
    assert result.problems == {}


def test_exactly_one_event_per_expected_outcome(
    result: RoundResult, plan: list[PlannedOrder]
) -> None:
    assert result.duplicate_events == 0
    assert result.missing_events == 0
    assert result.events == sum(len(order.kind.expected) for order in plan)


def test_every_stored_voucher_is_the_pdf_the_simulator_served(
    result: RoundResult, plan: list[PlannedOrder]
) -> None:
    assert result.vouchers_checked == sum(
        1 for order in plan if "TicketsReady" in order.kind.expected
    )
    assert result.voucher_mismatches == 0


def test_every_injected_fault_was_met(
    result: RoundResult, plan: list[PlannedOrder], tiqets: TiqetsSimulator
) -> None:
    times = {kind.name: kind.times for kind in AWS_FAULT_KINDS}
    assert result.aws_faults_fired == Counter(
        {name: count * times[name] for name, count in result.aws_faults_planned.items()}
    )
    calls = {
        order.order_reference_id: tiqets.ticket_calls(order.order_reference_id) for order in plan
    }
    for order in plan:
        made = calls[order.order_reference_id]
        if order.kind.name == "fault_burst":
            # The budget's failures and one more, then TrackingFailed: no further call.
            assert made == order.deciding_call == BURST_RETRY_BUDGET + 1, order
        elif order.kind.name == "never":
            # The deadline decides, after however many of the faults fitted before it.
            assert made >= 1, order
        else:
            # Every fault before the answer that decided the outcome was served.
            assert made >= order.deciding_call, order
    # Every kind of Tiqets fault answered at least one status call.
    assert set(FAULT_KINDS) <= set(result.faults)
