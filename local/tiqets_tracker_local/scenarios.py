"""The scenarios the tracker is shown and checked with, and the code that runs and checks them.

`make demo` runs them on the local stack with the local Tiqets simulator; the scenario test in
`make test` runs them on the local stack with Tiqets behind an emulated function URL; and
`make test-aws` runs them on a deployed stack with the simulator behind a real one (aws_run.py).
All three go through `run_scenarios` and `problems`: they only differ in the `Tracker`s and
the Tiqets side they are given.

Time is scaled: the simulator's timelines are simulated seconds, `Pace.time_scale` of them to a
real second, while the stack parameters are real seconds as deployed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tiqets_tracker.callback_urls import callback_url

from .simulator import Fault, Scenario
from .stack import FINISHED_STATUSES, LocalStack
from .subscriber import OutcomeEvent

__all__ = [
    "DEMO_PACE",
    "DemoOrder",
    "OrderProgress",
    "Pace",
    "TiqetsSide",
    "Tracker",
    "demo_orders",
    "local_trackers",
    "problems",
    "render_table",
    "run_scenarios",
    "simulated",
]


@dataclass(frozen=True)
class Pace:
    """How fast the scenarios run: the simulator's time scale and each variant's parameters."""

    time_scale: float
    webhook_parameters: dict[str, str]
    polling_parameters: dict[str, str]
    timeout_seconds: float
    """Real seconds to wait for every order's outcomes."""


# At 60x the deadline comes 40 simulated minutes (40 real seconds) after placement. The check
# schedule's pattern is in real seconds, and its first interval (the first minute) already
# outlasts that deadline, so each mode checks at its BackoffBaseSeconds: the webhook safety net
# every 10 simulated minutes, polling every 2. The template accepts these values, so a deployed
# stack runs them as the local one does.
DEMO_PACE = Pace(
    time_scale=60,
    webhook_parameters={
        "WebhookEnabled": "true",
        "BackoffBaseSeconds": "10",
        "BackoffCapSeconds": "30",
        "DeadlineSeconds": "40",
    },
    polling_parameters={
        "WebhookEnabled": "false",
        "BackoffBaseSeconds": "2",
        "BackoffCapSeconds": "10",
        "DeadlineSeconds": "40",
    },
    timeout_seconds=100.0,
)


@dataclass(frozen=True)
class DemoOrder:
    scenario: str
    order_reference_id: str
    tiqets: Scenario
    expected: tuple[str, ...]
    polling_only: bool = False
    lang: str = "en"


def demo_orders() -> list[DemoOrder]:
    minute = 60.0
    return [
        DemoOrder("instant done", "9000001", Scenario(), ("TicketsReady",)),
        DemoOrder(
            "done after 11 min, woken by webhook",
            "9000002",
            Scenario(timeline=((0.0, "pending"), (11 * minute, "done"))),
            ("TicketsReady",),
        ),
        DemoOrder(
            "done after 11 min, polling only",
            "9000003",
            Scenario(timeline=((0.0, "pending"), (11 * minute, "done")), send_webhooks=False),
            ("TicketsReady",),
            polling_only=True,
        ),
        DemoOrder(
            "failed after 3 min",
            "9000004",
            Scenario(timeline=((0.0, "pending"), (3 * minute, "failed"))),
            ("OrderFailed",),
        ),
        DemoOrder(
            "cancelled 20 min after done (late webhook)",
            "9000005",
            # Timed from when the order is added, not from when the tracker saw it done: 20
            # simulated minutes (10 s at the scenario test's pace) leave the first check room
            # on a loaded machine, where 5 minutes (2.5 s) were seen to be overtaken.
            Scenario(timeline=((0.0, "done"), (20 * minute, "cancelled"))),
            ("TicketsReady", "OrderCancelled"),
            lang="de",
        ),
        DemoOrder(
            "never fulfilled (deadline)",
            "9000006",
            Scenario(timeline=((0.0, "pending"),)),
            ("FulfilmentTimedOut",),
        ),
        DemoOrder(
            "API refuses the order (404)",
            "9000007",
            Scenario(faults=(Fault(status=404),)),
            ("TrackingFailed",),
        ),
        DemoOrder(
            "429, 503, dropped connection, then done",
            "9000008",
            Scenario(
                faults=(Fault(status=429, retry_after="2"), Fault(status=503), Fault(drop=True))
            ),
            ("TicketsReady",),
        ),
    ]


class TiqetsSide(Protocol):
    """What the scenarios use of Tiqets: `TiqetsSimulator`, or `RemoteTiqets` behind a
    function URL."""

    def add_order(
        self,
        order_reference_id: str,
        scenario: Scenario,
        *,
        callback_url: str | None = None,
        lang: str = "en",
    ) -> None: ...

    def ticket_calls(self, order_reference_id: str) -> int: ...

    def voucher_bytes(self, order_reference_id: str) -> bytes: ...


@dataclass(frozen=True)
class Tracker:
    """One deployment of the template as the scenarios reach it: what its outputs name, and a
    client factory (moto's for the local stack, an AWS session's for a deployed one)."""

    state_machine_arn: str
    tracking_table_name: str
    client: Callable[[str], Any]
    webhook_url: str | None = None
    """The callback route; None for a deployment without the webhook."""
    webhook_signing_key: bytes | None = None

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.client("stepfunctions").describe_execution(executionArn=execution_arn))

    def executions_of(self, order_reference_id: str, first_execution_arn: str) -> list[str]:
        """The order's execution, its re-checks after a late callback and the sweep's restarts
        of it."""
        pages = self.client("stepfunctions").get_paginator("list_executions")
        prefixes = (f"{order_reference_id}-recheck-", f"{order_reference_id}-sweep-")
        restarts = [
            execution["executionArn"]
            for page in pages.paginate(stateMachineArn=self.state_machine_arn)
            for execution in page["executions"]
            if execution["name"].startswith(prefixes)
        ]
        return [first_execution_arn, *restarts]

    def state_transitions(self, execution_arn: str) -> int:
        """States entered: what Step Functions bills a transition for."""
        pages = self.client("stepfunctions").get_paginator("get_execution_history")
        return sum(
            1
            for page in pages.paginate(executionArn=execution_arn)
            for event in page["events"]
            if event["type"].endswith("StateEntered")
        )

    def webhook_wakeups(self, order_reference_id: str) -> int:
        item = (
            self.client("dynamodb")
            .get_item(
                TableName=self.tracking_table_name,
                Key={"order_reference_id": {"S": order_reference_id}},
                ConsistentRead=True,
            )
            .get("Item", {})
        )
        return int(item.get("webhook_count", {}).get("N", "0"))

    def object_bytes(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


def local_trackers(stack: LocalStack, webhook_url: str, pace: Pace) -> tuple[Tracker, Tracker]:
    """The two deployments the scenarios need, on one local stack: its own state machine (built
    with `pace.webhook_parameters`) with callbacks to `webhook_url`, and a second state machine
    with `pace.polling_parameters`. Both share the stack's table, bucket and buses."""
    webhook = Tracker(
        state_machine_arn=stack.state_machine_arn,
        tracking_table_name=stack.tracking_table_name,
        client=stack.client,
        webhook_url=webhook_url,
        webhook_signing_key=stack.webhook_signing_key.encode(),
    )
    polling = Tracker(
        state_machine_arn=stack.state_machine(**pace.polling_parameters),
        tracking_table_name=stack.tracking_table_name,
        client=stack.client,
    )
    return webhook, polling


@dataclass
class OrderProgress:
    order: DemoOrder
    tracker: Tracker
    execution_arn: str = ""
    started_at: float = 0.0
    outcomes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    finished_at: float | None = None
    finished: bool = False
    checks: int = 0
    wakeups: int = 0
    transitions: int = 0
    voucher: bytes | None = None
    """The stored voucher, as read back from S3 (the first outcome's that names one)."""
    information: bytes | None = None
    expected_voucher: bytes | None = None
    """What Tiqets served for the order, for a TicketsReady order."""

    @property
    def correct(self) -> bool:
        return tuple(self.outcomes) == self.order.expected


def run_scenarios(
    orders: Sequence[DemoOrder],
    *,
    webhook: Tracker,
    polling: Tracker,
    tiqets: TiqetsSide,
    outcome_events: Callable[[], list[OutcomeEvent]],
    pace: Pace,
    say: Callable[[str], None] = lambda message: None,
    reference_prefix: str = "demo",
) -> list[OrderProgress]:
    """Place each order with Tiqets, start tracking it, follow it until its outcomes are in and
    its executions ended (or `pace.timeout_seconds` passed), and read back what it stored."""
    from tiqets_tracker.tracking import start_tracking

    progress: list[OrderProgress] = []
    for order in orders:
        tracker = polling if order.polling_only else webhook
        external_reference = f"{reference_prefix}-{order.order_reference_id}"
        url = None
        if not order.polling_only:
            if tracker.webhook_url is None or tracker.webhook_signing_key is None:
                raise ValueError("the webhook deployment has no webhook URL or signing key")
            url = callback_url(
                tracker.webhook_url,
                external_reference=external_reference,
                key=tracker.webhook_signing_key,
            )
        tiqets.add_order(order.order_reference_id, order.tiqets, lang=order.lang, callback_url=url)
        started = start_tracking(
            order.order_reference_id,
            lang=order.lang,
            external_reference=external_reference,
            state_machine_arn=tracker.state_machine_arn,
            client=tracker.client("stepfunctions"),
        )
        progress.append(
            OrderProgress(
                order, tracker, execution_arn=started.execution_arn, started_at=time.monotonic()
            )
        )
        say(f"{order.order_reference_id} tracking: {order.scenario}")
    _follow(progress, outcome_events, pace.timeout_seconds, say)
    for item in progress:
        _read_back(item, tiqets)
    return progress


def _follow(
    progress: list[OrderProgress],
    outcome_events: Callable[[], list[OutcomeEvent]],
    timeout_seconds: float,
    say: Callable[[str], None],
) -> None:
    by_id = {item.order.order_reference_id: item for item in progress}
    seen = 0
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        events = outcome_events()  # append-only: everything published so far
        for event in events[seen:]:
            item = by_id.get(event.detail.get("order_reference_id", ""))
            if item is None:
                continue  # another run's order, on a queue shared with it
            item.outcomes.append(event.detail_type)
            item.finished_at = time.monotonic()
            failure = event.detail.get("failure")
            if failure:
                item.failures.append(str(failure["Error"]))
            why = f" ({failure['Error']})" if failure else ""
            say(f"{item.order.order_reference_id} {event.detail_type}{why}")
            if event.detail.get("voucher") and item.voucher is None:
                voucher = event.detail["voucher"]
                item.voucher = item.tracker.object_bytes(voucher["bucket"], voucher["key"])
                item.information = item.tracker.object_bytes(
                    voucher["bucket"], voucher["information_key"]
                )
        seen = len(events)
        if all(len(item.outcomes) >= len(item.order.expected) for item in progress) and all(
            _ended(item) for item in progress
        ):
            break
        time.sleep(0.25)
    for item in progress:
        item.finished = _ended(item)


def _ended(item: OrderProgress) -> bool:
    return all(
        item.tracker.describe(arn)["status"] in FINISHED_STATUSES
        for arn in item.tracker.executions_of(item.order.order_reference_id, item.execution_arn)
    )


def _read_back(item: OrderProgress, tiqets: TiqetsSide) -> None:
    order_reference_id = item.order.order_reference_id
    item.checks = tiqets.ticket_calls(order_reference_id)
    item.wakeups = item.tracker.webhook_wakeups(order_reference_id)
    item.transitions = sum(
        item.tracker.state_transitions(arn)
        for arn in item.tracker.executions_of(order_reference_id, item.execution_arn)
    )
    if "TicketsReady" in item.order.expected:
        item.expected_voucher = tiqets.voucher_bytes(order_reference_id)


def problems(item: OrderProgress) -> list[str]:
    """What is wrong with how an order ended; empty when it ended as its scenario says."""
    found: list[str] = []
    if not item.correct:
        found.append(
            f"outcomes {' + '.join(item.outcomes) or 'none'},"
            f" expected {' + '.join(item.order.expected)}"
        )
    if not item.finished:
        found.append("an execution is still running")
    if item.expected_voucher is not None:
        if item.voucher is None:
            found.append("no voucher stored")
        elif item.voucher != item.expected_voucher:
            found.append(
                f"the stored voucher ({len(item.voucher)} bytes) is not the one Tiqets served"
                f" ({len(item.expected_voucher)} bytes)"
            )
        if item.information is None or not isinstance(json.loads(item.information), dict):
            found.append("no information document stored beside the voucher")
    elif item.voucher is not None:
        found.append("a voucher was stored for an order that should have none")
    return found


def simulated(seconds: float, time_scale: float) -> str:
    """Real seconds as simulated minutes and seconds ("11m05s")."""
    total = round(seconds * time_scale)
    return f"{total // 60}m{total % 60:02d}s"


def render_table(
    progress: Sequence[OrderProgress],
    time_scale: float,
    voucher_paths: Mapping[str, Path] | None = None,
) -> str:
    """One line per order: its outcomes, whether it ended right, what it cost, its voucher."""
    header = ("scenario", "outcome", "ok", "checks", "wakeups", "transitions", "time", "voucher")
    paths = voucher_paths or {}
    rows = [
        (
            p.order.scenario,
            " + ".join(p.outcomes) or "-",
            "NO: " + "; ".join(found) if (found := problems(p)) else "yes",
            str(p.checks),
            str(p.wakeups),
            str(p.transitions),
            simulated(p.finished_at - p.started_at, time_scale) if p.finished_at else "-",
            str(paths[p.order.order_reference_id])
            if p.order.order_reference_id in paths
            else (f"{len(p.voucher)} bytes" if p.voucher is not None else "-"),
        )
        for p in progress
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
