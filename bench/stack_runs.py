"""Benchmarks on the local stack (the app on moto, in this process): the transition model
checked against real executions, time to voucher after a webhook, and throughput.

    .venv/bin/python -m bench.stack_runs [verify|voucher|throughput]
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]

from bench.common import median, percentile, table  # noqa: E402
from bench.schedule_model import (  # noqa: E402
    TRANSITIONS_DONE_FIRST_CHECK,
    TRANSITIONS_PER_ROUND,
    TRANSITIONS_TIMEOUT_FIRST_CHECK,
)
from tiqets_tracker.check_schedule import check_phase, next_check  # noqa: E402
from tiqets_tracker.timestamps import format_timestamp  # noqa: E402
from tiqets_tracker.tracking_settings import TrackingSettings  # noqa: E402

API_KEY = "sk-bench-5d1e"


def transitions(history: list[dict[str, Any]]) -> int:
    """State transitions as Step Functions bills them: one per state entered."""
    return sum(1 for event in history if event["type"].endswith("StateEntered"))


# -- the transition model against real executions ---------------------------------------------


@dataclass(frozen=True)
class VerifyCase:
    name: str
    webhook: bool
    base: int
    cap: int
    deadline: int
    fulfilled_after: float | None
    """Seconds after the order is added; None: stays pending."""


VERIFY_CASES = (
    VerifyCase("instant done, polling", False, 1, 1, 60, 0.0),
    VerifyCase("done after 10.5 s, polling base 3 cap 6", False, 3, 6, 60, 10.5),
    VerifyCase("never, polling base 3 cap 6, deadline 15 s", False, 3, 6, 15, None),
    VerifyCase("done after 6.5 s, webhook on but lost, base 2 cap 3", True, 2, 3, 60, 6.5),
    VerifyCase("never, webhook on but lost, base 2 cap 3, deadline 10 s", True, 2, 3, 10, None),
)


def model_checks(
    case: VerifyCase, order_id: str, placed_at: datetime, fulfilled: float | None
) -> tuple[int, bool]:
    """The model's Tiqets calls and whether it ends done, with the execution's real jitter."""
    schedule = TrackingSettings.from_raw(
        {
            "webhook_enabled": "true" if case.webhook else "false",
            "backoff_base_seconds": case.base,
            "backoff_cap_seconds": case.cap,
            "deadline_seconds": case.deadline,
        }
    ).schedule
    phase = check_phase(order_id, format_timestamp(placed_at))
    offset = 0
    made = 1
    while True:
        if fulfilled is not None and offset >= fulfilled:
            return made, True
        decision = next_check(
            schedule,
            placed_at=placed_at,
            checked_at=placed_at + timedelta(seconds=offset),
            phase=phase,
        )
        if decision.wait_seconds is None:
            return made, False
        offset += decision.wait_seconds
        made += 1


def verify_model() -> str:
    from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
    from tiqets_tracker_local.stack import LocalStack

    rows = []
    with (
        TiqetsSimulator(api_key=API_KEY) as tiqets,
        LocalStack(tiqets_base_url=tiqets.base_url, api_key=API_KEY) as stack,
    ):
        started = []
        for number, case in enumerate(VERIFY_CASES):
            arn = stack.state_machine(
                WebhookEnabled="true" if case.webhook else "false",
                BackoffBaseSeconds=str(case.base),
                BackoffCapSeconds=str(case.cap),
                DeadlineSeconds=str(case.deadline),
            )
            order_id = str(7_300_000 + number)
            timeline: tuple[tuple[float, str], ...] = (
                ((0.0, "done"),)
                if case.fulfilled_after == 0.0
                else ((0.0, "pending"),)
                if case.fulfilled_after is None
                else ((0.0, "pending"), (case.fulfilled_after, "done"))
            )
            tiqets.add_order(order_id, Scenario(timeline=timeline, send_webhooks=False))
            started.append((case, order_id, stack.start_tracking(order_id, state_machine_arn=arn)))
        for case, order_id, execution in started:
            described = stack.wait_for(execution.execution_arn, timeout=case.deadline + 60)
            history = stack.history(execution.execution_arn)
            record = stack.record(order_id) or {}
            placed_at = datetime.fromisoformat(str(record["placed_at"]).replace("Z", "+00:00"))
            # The simulator's clock starts when the order is added, a moment before placement.
            calls, done = model_checks(case, order_id, placed_at, case.fulfilled_after)
            first = TRANSITIONS_DONE_FIRST_CHECK if done else TRANSITIONS_TIMEOUT_FIRST_CHECK
            rows.append(
                (
                    case.name,
                    described["status"],
                    f"{tiqets.ticket_calls(order_id)} / {calls}",
                    f"{transitions(history)} / {first + TRANSITIONS_PER_ROUND * (calls - 1)}",
                    len(history),
                )
            )
    return table(
        [
            "short real execution (local stack)",
            "status",
            "Tiqets calls real / model",
            "transitions real / model",
            "history events",
        ],
        rows,
    )


# -- time to voucher after a webhook --------------------------------------------------------------


def _by_state(history: list[dict[str, Any]]) -> list[tuple[str, str, datetime]]:
    """(state name, event type, timestamp) for every event, named by the state it is in."""
    state = ""
    named = []
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details:
            state = details["name"]
        named.append((state, event["type"], event["timestamp"]))
    return named


def _first(
    named: list[tuple[str, str, datetime]], state: str, kind: str, after: datetime | None = None
) -> datetime:
    return next(
        at
        for name, event_type, at in named
        if name == state and event_type == kind and (after is None or at >= after)
    )


def time_to_voucher(orders: int = 200, batch: int = 20) -> tuple[str, float]:
    """The table, and the median seconds from callback POST to voucher stored."""
    from tiqets_tracker.callback_urls import callback_url_for_order
    from tiqets_tracker_local import lambdas
    from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
    from tiqets_tracker_local.stack import LocalStack
    from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

    parked = {
        "WebhookEnabled": "true",
        "BackoffBaseSeconds": "600",
        "BackoffCapSeconds": "600",
        "DeadlineSeconds": "3600",
    }
    split: dict[str, list[float]] = {
        "callback POST answered (webhook handling, client side)": [],
        "webhook Lambda duration (invocations log)": [],
        "POST sent -> park task succeeded (SendTaskSuccess)": [],
        "park succeeded -> status check task started (resume)": [],
        "status check task (scheduled -> succeeded)": [],
        "voucher storage task (scheduled -> succeeded)": [],
        "POST sent -> voucher stored (total)": [],
    }
    with (
        TiqetsSimulator(api_key=API_KEY) as tiqets,
        LocalStack(tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=parked) as stack,
    ):
        assert stack.webhook_function_name
        webhook_name = stack.webhook_function_name
        with LocalWebhookEndpoint(webhook_name) as endpoint:
            for first in range(0, orders, batch):
                numbers = range(first, min(orders, first + batch))
                pending = []
                for number in numbers:
                    order_id = str(8_200_000 + number)
                    reference = f"bench-{order_id}"
                    tiqets.add_order(
                        order_id, Scenario(timeline=((0.0, "pending"),), send_webhooks=False)
                    )
                    execution = stack.start_tracking(order_id, external_reference=reference)
                    pending.append((order_id, reference, execution.execution_arn))
                for order_id, _, _ in pending:
                    stack.wait_until(
                        lambda order_id=order_id: (stack.record(order_id) or {}).get("task_token"),
                        what="the order to park",
                    )
                for order_id, reference, arn in pending:
                    url = callback_url_for_order(
                        reference,
                        webhook_url=endpoint.url,
                        keys_secret=stack.webhook_keys_secret_name,
                    )
                    body = json.dumps({"order_reference_id": order_id}).encode()
                    post = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
                    tiqets.set_status(order_id, "done")
                    before = len(lambdas.invocations.calls)
                    sent_at = datetime.now().astimezone()
                    started = time.perf_counter()
                    with urllib.request.urlopen(post, timeout=10) as response:  # noqa: S310
                        assert response.status == 200
                    answered = time.perf_counter() - started
                    stack.wait_for(arn, timeout=60)
                    history = stack.history(arn)
                    with lambdas.invocations.lock:
                        webhook_runs = [
                            seconds
                            for name, seconds in lambdas.invocations.calls[before:]
                            if name == webhook_name
                        ]
                    named = _by_state(history)
                    resumed = _first(named, "ParkUntilWebhookOrTimeout", "TaskSucceeded")
                    check_scheduled = _first(named, "CheckOrderStatus", "TaskScheduled", resumed)
                    check_done = _first(named, "CheckOrderStatus", "TaskSucceeded", resumed)
                    store_scheduled = _first(named, "StoreVouchers", "TaskScheduled", resumed)
                    stored = _first(named, "StoreVouchers", "TaskSucceeded", resumed)
                    split["callback POST answered (webhook handling, client side)"].append(answered)
                    split["webhook Lambda duration (invocations log)"].extend(webhook_runs[:1])
                    split["POST sent -> park task succeeded (SendTaskSuccess)"].append(
                        (resumed - sent_at).total_seconds()
                    )
                    split["park succeeded -> status check task started (resume)"].append(
                        (check_scheduled - resumed).total_seconds()
                    )
                    split["status check task (scheduled -> succeeded)"].append(
                        (check_done - check_scheduled).total_seconds()
                    )
                    split["voucher storage task (scheduled -> succeeded)"].append(
                        (stored - store_scheduled).total_seconds()
                    )
                    split["POST sent -> voucher stored (total)"].append(
                        (stored - sent_at).total_seconds()
                    )
    total = median(split["POST sent -> voucher stored (total)"])
    return table(
        ["part", "n", "median", "p99", "max"],
        [
            (
                name,
                len(values),
                f"{median(values) * 1000:.1f} ms",
                f"{percentile(values, 0.99) * 1000:.1f} ms",
                f"{max(values) * 1000:.1f} ms",
            )
            for name, values in split.items()
            if values
        ],
    ), total


# -- throughput ---------------------------------------------------------------------------------


def throughput(sizes: tuple[int, ...] = (25, 50, 100, 200), budget: float = 100.0) -> str:
    """Start `size` orders at once (half done at once, half done after 3 s, polling every
    second); time until every execution has finished; check each published exactly one
    TicketsReady. Stops early when the time budget is spent."""
    from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
    from tiqets_tracker_local.stack import LocalStack

    rows = []
    spent = 0.0
    fast = {
        "WebhookEnabled": "false",
        "BackoffBaseSeconds": "1",
        "BackoffCapSeconds": "1",
        "DeadlineSeconds": "600",
    }
    delayed = Scenario(timeline=((0.0, "pending"), (3.0, "done")))
    for size in sizes:
        if spent > budget:
            rows.append((size, "skipped (time budget)", "", "", "", ""))
            continue
        with (
            TiqetsSimulator(api_key=API_KEY) as tiqets,
            LocalStack(tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=fast) as stack,
        ):
            orders = [str(9_000_000 + number) for number in range(size)]
            for number, order_id in enumerate(orders):
                tiqets.add_order(order_id, "instant" if number % 2 == 0 else delayed)
            threads_before = threading.active_count()
            started = time.perf_counter()
            arns = [stack.start_tracking(order_id).execution_arn for order_id in orders]
            start_seconds = time.perf_counter() - started
            peak_threads = threading.active_count() - threads_before
            statuses = []
            for arn in arns:
                statuses.append(stack.wait_for(arn, timeout=600)["status"])
                peak_threads = max(peak_threads, threading.active_count() - threads_before)
            elapsed = time.perf_counter() - started
            spent += elapsed
            events = stack.outcome_events()
            ready = [e.detail.get("order_reference_id") for e in events]
            correct = sum(
                1
                for order_id in orders
                if ready.count(order_id) == 1
                and all(
                    e.detail_type == "TicketsReady"
                    for e in events
                    if e.detail.get("order_reference_id") == order_id
                )
            )
            rows.append(
                (
                    size,
                    f"{correct}/{size} ({sum(1 for s in statuses if s == 'SUCCEEDED')} SUCCEEDED)",
                    f"{start_seconds:.1f} s",
                    f"{elapsed:.1f} s",
                    f"{size / elapsed:.1f}",
                    str(peak_threads),
                )
            )
    return table(
        [
            "concurrent orders",
            "right outcome, exactly once",
            "time to start all",
            "time until all finished",
            "orders per second",
            "extra threads seen",
        ],
        rows,
    )


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "verify"
    if which == "verify":
        print(verify_model())
    elif which == "voucher":
        print(time_to_voucher(int(sys.argv[2]) if len(sys.argv) > 2 else 200)[0])
    else:
        print(throughput())
