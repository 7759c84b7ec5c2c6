"""`tiqets-tracker demo`: every outcome, through the real workflow, on this machine.

The local stack runs the real state machine and handlers on moto; the Tiqets simulator plays the
API and calls the real webhook handler over HTTP, through a local endpoint that plays API
Gateway. Time runs 60 times faster than on AWS: a simulated minute passes in a real second,
back-off and timeouts are divided the same way, and the 24-hour deadline is cut to 40 minutes so
that the never-fulfilled order ends within the demo.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tiqets_tracker_local.simulator import Fault, Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import FINISHED_STATUSES, LocalStack

TIME_SCALE = 60  # simulated seconds per real second
API_KEY = "demo-api-key"
# Real seconds. At 60x: the webhook safety net polls every 10 to 30 simulated minutes, polling
# every 1 to 10 minutes, and the deadline comes 40 simulated minutes after placement.
STACK_PARAMETERS = {
    "WebhookEnabled": "true",
    "BackoffBaseSeconds": "10",
    "BackoffCapSeconds": "30",
    "DeadlineSeconds": "40",
}
POLLING_PARAMETERS = {
    "WebhookEnabled": "false",
    "BackoffBaseSeconds": "1",
    "BackoffCapSeconds": "10",
    "DeadlineSeconds": "40",
}
TIMEOUT_SECONDS = 100.0


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
            "cancelled 5 min after done (late webhook)",
            "9000005",
            Scenario(timeline=((0.0, "done"), (5 * minute, "cancelled"))),
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


@dataclass
class OrderProgress:
    order: DemoOrder
    execution_arn: str = ""
    started_at: float = 0.0
    outcomes: list[str] = field(default_factory=list)
    finished_at: float | None = None
    checks: int = 0
    wakeups: int = 0
    transitions: int = 0
    voucher_path: Path | None = None

    @property
    def correct(self) -> bool:
        return tuple(self.outcomes) == self.order.expected


def _simulated(seconds: float) -> str:
    total = round(seconds * TIME_SCALE)
    return f"{total // 60}m{total % 60:02d}s"


class Demo:
    def __init__(self, out_dir: Path, stream: TextIO) -> None:
        self.out_dir = out_dir
        self.stream = stream
        self._started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self._started
        print(f"[{elapsed:5.1f}s = {_simulated(elapsed):>7}] {message}", file=self.stream)

    def run(self) -> list[OrderProgress]:
        from tiqets_tracker.callbacks import callback_url
        from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

        orders = demo_orders()
        with (
            TiqetsSimulator(api_key=API_KEY, time_scale=TIME_SCALE) as tiqets,
            LocalStack(
                tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=STACK_PARAMETERS
            ) as stack,
            LocalWebhookEndpoint(function_name=stack.webhook_function_name) as webhook,
        ):
            self.say(f"local stack up; Tiqets simulator at {tiqets.base_url}")
            self.say(f"webhook endpoint at {webhook.url}")
            polling = stack.state_machine(**POLLING_PARAMETERS)
            progress = [OrderProgress(order) for order in orders]
            for item in progress:
                order = item.order
                external_reference = f"demo-{order.order_reference_id}"
                tiqets.add_order(
                    order.order_reference_id,
                    order.tiqets,
                    lang=order.lang,
                    callback_url=None
                    if order.polling_only
                    else callback_url(
                        webhook.url,
                        external_reference=external_reference,
                        key=stack.webhook_signing_key.encode(),
                    ),
                )
                started = stack.start_tracking(
                    order.order_reference_id,
                    lang=order.lang,
                    external_reference=external_reference,
                    state_machine_arn=polling if order.polling_only else None,
                )
                item.execution_arn = started.execution_arn
                item.started_at = time.monotonic()
                self.say(f"{order.order_reference_id} tracking: {order.scenario}")
            self._follow(stack, tiqets, progress)
            self._export_vouchers(stack, progress)
        return progress

    def _follow(
        self, stack: LocalStack, tiqets: TiqetsSimulator, progress: list[OrderProgress]
    ) -> None:
        by_id = {item.order.order_reference_id: item for item in progress}
        seen = 0
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            events = stack.outcome_events()  # append-only: everything published so far
            for event in events[seen:]:
                item = by_id[event.detail["order_reference_id"]]
                item.outcomes.append(event.detail_type)
                item.finished_at = time.monotonic()
                failure = event.detail["failure"]
                why = f" ({failure['Error']})" if failure else ""
                self.say(f"{item.order.order_reference_id} {event.detail_type}{why}")
            seen = len(events)
            if all(
                len(item.outcomes) >= len(item.order.expected) and self._quiet(stack, item)
                for item in progress
            ):
                break
            time.sleep(0.25)
        for item in progress:
            item.checks = tiqets.ticket_calls(item.order.order_reference_id)
            record = stack.record(item.order.order_reference_id) or {}
            item.wakeups = int(record.get("webhook_count", 0))
            item.transitions = sum(
                _state_transitions(stack, arn) for arn in _executions_of(stack, item)
            )

    def _quiet(self, stack: LocalStack, item: OrderProgress) -> bool:
        return all(
            stack.describe(arn)["status"] in FINISHED_STATUSES
            for arn in _executions_of(stack, item)
        )

    def _export_vouchers(self, stack: LocalStack, progress: list[OrderProgress]) -> None:
        folder = self.out_dir / "vouchers"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        s3 = stack.client("s3")
        for item in progress:
            events = stack.outcomes_for(item.order.order_reference_id)
            voucher = next((e.detail["voucher"] for e in events if e.detail["voucher"]), None)
            if voucher is None:
                continue
            path = folder / f"{item.order.order_reference_id}-{item.order.lang}.pdf"
            path.write_bytes(
                s3.get_object(Bucket=voucher["bucket"], Key=voucher["key"])["Body"].read()
            )
            information = s3.get_object(Bucket=voucher["bucket"], Key=voucher["information_key"])
            path.with_suffix(".json").write_bytes(information["Body"].read())
            item.voucher_path = path


def _executions_of(stack: LocalStack, item: OrderProgress) -> list[str]:
    sfn = stack.client("stepfunctions")
    arns = [item.execution_arn]
    listed = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    prefix = f"{item.order.order_reference_id}-recheck-"
    arns += [e["executionArn"] for e in listed if e["name"].startswith(prefix)]
    return arns


def _state_transitions(stack: LocalStack, execution_arn: str) -> int:
    # Step Functions bills a transition for each state entered.
    return sum(1 for e in stack.history(execution_arn) if e["type"].endswith("StateEntered"))


def render_table(progress: list[OrderProgress]) -> str:
    header = ("scenario", "outcome", "ok", "checks", "wakeups", "transitions", "time", "voucher")
    rows = [
        (
            p.order.scenario,
            " + ".join(p.outcomes) or "-",
            "yes" if p.correct else f"NO (expected {' + '.join(p.order.expected)})",
            str(p.checks),
            str(p.wakeups),
            str(p.transitions),
            _simulated(p.finished_at - p.started_at) if p.finished_at else "-",
            str(p.voucher_path) if p.voucher_path else "-",
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


def run_demo(out_dir: Path, stream: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when every order ended with its expected outcomes."""
    started = time.monotonic()
    progress = Demo(out_dir, stream).run()
    print("", file=stream)
    print(render_table(progress), file=stream)
    print("", file=stream)
    wall = time.monotonic() - started
    print(
        f"{sum(p.correct for p in progress)} of {len(progress)} orders ended as expected,"
        f" in {wall:.0f} s of wall time ({TIME_SCALE}x faster than real time).",
        file=stream,
    )
    print(f"Vouchers exported to {out_dir / 'vouchers'}", file=stream)
    summary = out_dir / "summary.json"
    summary.write_text(
        json.dumps(
            [
                {
                    "scenario": p.order.scenario,
                    "order_reference_id": p.order.order_reference_id,
                    "outcomes": p.outcomes,
                    "expected": list(p.order.expected),
                    "checks": p.checks,
                    "webhook_wakeups": p.wakeups,
                    "state_transitions": p.transitions,
                    "voucher_path": str(p.voucher_path) if p.voucher_path else None,
                }
                for p in progress
            ],
            indent=2,
        )
    )
    return 0 if all(p.correct for p in progress) else 1
