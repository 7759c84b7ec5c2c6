"""Many concurrent orders of mixed scenarios, with Tiqets and AWS faults, on the local stack, each
checked for its right outcome. Local-only tooling.

    plan = plan_orders(60, seed="make-test", first_id=6_100_000)
    with TiqetsSimulator(api_key=KEY) as tiqets, LocalStack(
        tiqets_base_url=tiqets.base_url, api_key=KEY, parameters=STACK_PARAMETERS
    ) as stack, LocalWebhookEndpoint(stack.webhook_function_name) as endpoint:
        result = run_round(stack, tiqets, endpoint, plan, timeout=300)
    assert result.problems == {}

The plan is seeded: the same seed and size give the same orders, scenarios, faults and voucher
sizes (the timing of a run is the machine's). The orders are started back to back, as fast as the
stack takes them (one StartExecution each); the round ends when every order has all its
expected outcome events and no execution runs any more. Then each order is checked: its outcome
events are exactly the expected ones, one each (none missing, no duplicate), each valid against
the published schema, with the right idempotency key; a TicketsReady voucher in S3 is
byte-identical (sha256) to the PDF the simulator served, with the event's sha256 and size; no
voucher is stored for an order without one; a cancelled order's voucher is tagged; every
execution of the order (first and re-checks) succeeded; the tracking record is finished with the
last outcome announced.

Tiqets faults come from the simulator (a scenario's `faults`). AWS faults (DynamoDB throttling,
S3 errors, PutEvents failed entries, Lambda crashes) come from aws_faults.AwsFaults, one kind for
a share of the orders, aimed at that order's calls only.

Shared by tests/workflow/test_load.py (a fast subset in `make test`) and bench/soak.py (`make
soak`, the longer campaign behind RELIABILITY.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from unittest import mock
from urllib.parse import urlsplit

import fastjsonschema

from tiqets_tracker.callback_urls import callback_url_for_order
from tiqets_tracker.validation import validator

from ..simulator import Fault, Scenario, TiqetsSimulator
from ..stack import LocalStack
from ..subscriber import OutcomeEvent
from ..webhook_server import LocalWebhookEndpoint

if TYPE_CHECKING:
    from ..aws_faults import AwsCall, AwsFaults

__all__ = [
    "AWS_FAULT_KINDS",
    "FAULT_KINDS",
    "MACHINES",
    "ORDER_KINDS",
    "STACK_PARAMETERS",
    "OrderKind",
    "PlannedOrder",
    "RoundResult",
    "plan_orders",
    "run_round",
]

validate_outcome: Final[Callable[[object], object]] = validator("outcome_event.schema.json")

# Status checks give up on a Tiqets answer after this long (TIQETS_READ_TIMEOUT_SECONDS, set for
# the round only): the "read timeout" fault answers a second later.
READ_TIMEOUT_SECONDS: Final = 3.0
RETRY_BUDGET: Final = 8  # the template's default (TiqetsRetryBudget empty)
BURST_RETRY_BUDGET: Final = 3  # the "fault_burst" orders' state machine: a shorter burst
SINGLE_PUT_LIMIT: Final = 8 * 1024 * 1024  # larger vouchers are uploaded in parts

# Durations in seconds instead of minutes, and a deadline far beyond any round. The stack's own
# state machine (the one re-checks after a late webhook run on) is the "webhook" one.
STACK_PARAMETERS: Final[dict[str, str]] = {
    "WebhookEnabled": "true",
    "BackoffBaseSeconds": "1",
    "BackoffCapSeconds": "2",
    "DeadlineSeconds": "1800",
}
MACHINES: Final[dict[str, dict[str, str]]] = {
    # Parked on a task token for 1-2 s at a time: a lost webhook costs seconds.
    "webhook": dict(STACK_PARAMETERS),
    # Parked for 12 s at a time: an order done sooner was woken by its webhook.
    "webhook_long": STACK_PARAMETERS | {"BackoffBaseSeconds": "12", "BackoffCapSeconds": "12"},
    # A retry budget of 3 instead of 8.
    "small_budget": STACK_PARAMETERS | {"TiqetsRetryBudget": str(BURST_RETRY_BUDGET)},
    # Plain waits, no webhook.
    "polling": STACK_PARAMETERS | {"WebhookEnabled": "false"},
    # Polling with an 8-second deadline.
    "deadline": STACK_PARAMETERS | {"WebhookEnabled": "false", "DeadlineSeconds": "8"},
}


# -- Tiqets faults ------------------------------------------------------------------------------


def _tickets_body(order_reference_id: str, **fields: object) -> bytes:
    return json.dumps({"order_reference_id": int(order_reference_id)} | fields).encode()


def _malformed(order_reference_id: str, rng: random.Random) -> Fault:
    bodies = (
        b"<html><body>502 Bad Gateway</body></html>",
        _tickets_body(order_reference_id, order_status="shipped", tickets_pdf_url=None),
        _tickets_body(order_reference_id, order_status="done", tickets_pdf_url="not a url"),
    )
    return Fault(body=rng.choice(bodies))


FAULT_KINDS: Final[dict[str, Callable[[str, random.Random], Fault]]] = {
    "429 + Retry-After": lambda _, rng: Fault(status=429, retry_after="1"),
    "429": lambda _, rng: Fault(status=429),
    "5xx": lambda _, rng: Fault(status=rng.choice((500, 502, 503, 504))),
    "dropped connection": lambda _, rng: Fault(drop=True),
    "slow answer": lambda _, rng: Fault(delay_seconds=round(rng.uniform(0.3, 1.2), 2)),
    "read timeout": lambda _, rng: Fault(delay_seconds=READ_TIMEOUT_SECONDS + 1.0),
    "malformed answer": _malformed,
}
"""Each makes one status call fail for a retryable reason, except "slow answer" (answered late
but within the read timeout)."""
_FAILING_FAULTS: Final = tuple(name for name in FAULT_KINDS if name != "slow answer")


# -- AWS faults ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsFaultKind:
    name: str
    times: int
    """How many of the order's matching calls it acts on."""
    needs_voucher_upload: bool = False


AWS_FAULT_KINDS: Final[tuple[AwsFaultKind, ...]] = (
    AwsFaultKind("DynamoDB throttling: status check record", 2),
    AwsFaultKind("DynamoDB throttling: outcome record", 2),
    AwsFaultKind("status check Lambda timed out", 1),
    AwsFaultKind("S3 PutObject 500", 2, needs_voucher_upload=True),
    AwsFaultKind("voucher Lambda died after its upload", 1, needs_voucher_upload=True),
    AwsFaultKind("PutEvents failed entry", 1),
)
AWS_FAULT_SHARE: Final = 0.3
"""The share of orders given one AWS fault (when AWS faults are on)."""


# -- the order mix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderKind:
    """One kind of order in the mix and what must come of it."""

    name: str
    description: str
    weight: int
    machine: str
    expected: tuple[str, ...]
    """The outcome events that must be published, one each."""
    callback: bool = True
    """The order gets a signed callback URL (Tiqets sends webhooks for its status changes)."""
    max_faults: int = 3
    """Random Tiqets faults before the normal answers (0 to this many)."""
    failure: str | None = None
    """The `failure.Error` a TrackingFailed must name."""

    def timeline(self, rng: random.Random) -> tuple[tuple[float, str], ...]:
        delay = round(rng.uniform(2.0, 5.0), 1)
        match self.name:
            case "delayed":
                return ((0.0, "new"), (1.0, "pending"), (delay, "done"))
            case "woken" | "polling":
                return ((0.0, "pending"), (delay, "done"))
            case "failed":
                return ((0.0, "pending"), (delay, "failed"))
            case "never" | "refused":
                return ((0.0, "pending"),)
            case _:
                return ((0.0, "done"),)

    def faults(self, order_reference_id: str, rng: random.Random) -> tuple[list[Fault], list[str]]:
        """The Tiqets faults of one order, and their names."""
        names: list[str] = []
        if self.name == "fault_burst":
            names = [rng.choice(_FAILING_FAULTS) for _ in range(BURST_RETRY_BUDGET + 1)]
        elif self.max_faults and rng.random() < 0.6:
            names = [rng.choice(list(FAULT_KINDS)) for _ in range(rng.randint(1, self.max_faults))]
        faults = [FAULT_KINDS[name](order_reference_id, rng) for name in names]
        if self.name == "refused":
            # A refusal is for good: every later call is refused too.
            faults.extend([Fault(status=404)] * (RETRY_BUDGET + 2))
            names.extend(["404 (refusal)"] * (RETRY_BUDGET + 2))
        return faults, names


ORDER_KINDS: Final[tuple[OrderKind, ...]] = (
    OrderKind("instant", "done at the first check", 18, "webhook", ("TicketsReady",)),
    OrderKind(
        "delayed",
        "new, pending, done after 2-5 s; no webhook comes (the 1-2 s parks time out)",
        12,
        "webhook",
        ("TicketsReady",),
    ),
    OrderKind(
        "woken",
        "pending, done after 2-5 s; its webhook can end a 12 s park",
        12,
        "webhook_long",
        ("TicketsReady",),
        max_faults=1,
    ),
    OrderKind(
        "polling",
        "pending, done after 2-5 s; webhook off, plain waits",
        12,
        "polling",
        ("TicketsReady",),
        callback=False,
    ),
    OrderKind("failed", "pending, failed after 2-5 s", 10, "webhook", ("OrderFailed",)),
    OrderKind(
        "cancelled_after_done",
        "done; cancelled (with a webhook) as soon as TicketsReady is out",
        10,
        "webhook",
        ("TicketsReady", "OrderCancelled"),
    ),
    OrderKind(
        "never",
        "pending for ever; 8 s deadline, polling",
        8,
        "deadline",
        ("FulfilmentTimedOut",),
        callback=False,
    ),
    OrderKind(
        "refused",
        "the API answers 404 (after 0-2 retryable faults)",
        8,
        "webhook",
        ("TrackingFailed",),
        max_faults=2,
        failure="TiqetsRequestRejectedError",
    ),
    OrderKind(
        "fault_burst",
        f"{BURST_RETRY_BUDGET + 1} failing answers in a row: one more than the retry budget "
        f"(TiqetsRetryBudget {BURST_RETRY_BUDGET})",
        5,
        "small_budget",
        ("TrackingFailed",),
        failure="TiqetsUnavailableError",
    ),
    OrderKind(
        "bad_voucher",
        "done, but every voucher download is truncated",
        5,
        "webhook",
        ("TrackingFailed",),
        max_faults=1,
        failure="VoucherDownloadError",
    ),
)


@dataclass(frozen=True)
class PlannedOrder:
    order_reference_id: str
    kind: OrderKind
    scenario: Scenario
    faults: tuple[str, ...]
    """The name of each of the scenario's Tiqets faults, in order: faults[i] answers the
    order's i-th status call (if it comes)."""
    aws_faults: tuple[str, ...] = ()
    """The names of the AWS faults aimed at the order (AWS_FAULT_KINDS)."""

    @property
    def external_reference(self) -> str:
        return f"load-{self.order_reference_id}"

    @property
    def deciding_call(self) -> int:
        """The status call that can decide the outcome (1 for the first): the first that
        answers (after the faults before it), or the one past the retry budget in a burst."""
        for number, name in enumerate(self.faults, start=1):
            if name in ("slow answer", "404 (refusal)"):
                return number
        return len(self.faults) + (0 if self.kind.name == "fault_burst" else 1)


def _voucher_size(rng: random.Random) -> int | None:
    roll = rng.random()
    if roll < 0.75:
        return None  # a small PDF (under 1 KB)
    if roll < 0.95:
        return 100_000
    if roll < 0.99:
        return 2_000_000
    return 9_000_000  # above the single-PUT limit: a multipart upload


def plan_orders(
    count: int, *, seed: str, first_id: int, aws_faults: bool = True
) -> list[PlannedOrder]:
    """`count` orders drawn from ORDER_KINDS by weight, reproducibly for a seed and count; every
    kind appears at least once when count allows. With `aws_faults`, AWS_FAULT_SHARE of them get
    one AWS fault."""
    rng = random.Random(f"{seed}:{count}")
    kinds = list(ORDER_KINDS[: min(count, len(ORDER_KINDS))])
    kinds += rng.choices(
        ORDER_KINDS, weights=[kind.weight for kind in ORDER_KINDS], k=count - len(kinds)
    )
    rng.shuffle(kinds)
    plan = []
    turns = list(AWS_FAULT_KINDS)
    for number, kind in enumerate(kinds):
        order_reference_id = str(first_id + number)
        faults, names = kind.faults(order_reference_id, rng)
        scenario = Scenario(
            timeline=kind.timeline(rng),
            faults=tuple(faults),
            voucher="truncated" if kind.name == "bad_voucher" else "pdf",
            voucher_size=_voucher_size(rng),
            send_webhooks=kind.name != "delayed",
        )
        uploads = "TicketsReady" in kind.expected and (scenario.voucher_size or 0) < (
            SINGLE_PUT_LIMIT
        )
        aws: tuple[str, ...] = ()
        if rng.random() < AWS_FAULT_SHARE:
            # The kind given least recently that the order can meet: every kind is injected as
            # soon as a few orders get one.
            pick = next(turn for turn in turns if uploads or not turn.needs_voucher_upload)
            turns.remove(pick)
            turns.append(pick)
            aws = (pick.name,)
        plan.append(
            PlannedOrder(
                order_reference_id, kind, scenario, tuple(names), aws if aws_faults else ()
            )
        )
    return plan


# -- AWS fault injection for a round ------------------------------------------------------------

_VOUCHER_PATH: Final = re.compile(r"/vouchers/(?P<order>[^/]+)/[a-z]{2}/tickets\.pdf$")


class _AwsFaultBudget:
    """Which order each AWS fault kind still acts on, how often, and how often it did."""

    def __init__(self, plan: Sequence[PlannedOrder]) -> None:
        times = {aws.name: aws.times for aws in AWS_FAULT_KINDS}
        self._left = {
            (name, order.order_reference_id): times[name]
            for order in plan
            for name in order.aws_faults
        }
        self._lock = threading.Lock()
        self.planned = bool(self._left)
        self.fired: Counter[str] = Counter()

    def take(self, name: str, order_reference_id: str | None) -> bool:
        with self._lock:
            left = self._left.get((name, order_reference_id or ""), 0)
            if left <= 0:
                return False
            self._left[(name, order_reference_id or "")] = left - 1
            self.fired[name] += 1
            return True


def _record_update(call: AwsCall, fragment: str) -> str | None:
    """The order of a tracking-record UpdateItem whose expression holds `fragment`."""
    body = call.json() or {}
    if fragment not in str(body.get("UpdateExpression", "")):
        return None
    order = body.get("Key", {}).get("order_reference_id", {}).get("S")
    return str(order) if order else None


def _voucher_upload(call: AwsCall) -> str | None:
    match = _VOUCHER_PATH.search(urlsplit(call.url).path)
    return match["order"] if match else None


def _published(call: AwsCall) -> str | None:
    for entry in (call.json() or {}).get("Entries", []):
        try:
            order = json.loads(entry.get("Detail", "{}")).get("order_reference_id")
        except ValueError:
            continue
        if order:
            return str(order)
    return None


def _inject_aws_faults(faults: AwsFaults, budget: _AwsFaultBudget) -> None:
    from ..aws_faults import SimulatedRuntimeFailure

    def aimed(name: str, order_of: Callable[[AwsCall], str | None]) -> Callable[[AwsCall], bool]:
        return lambda call: budget.take(name, order_of(call))

    begin_check = "first_checked_at = if_not_exists"  # records.TrackingRecords.begin_check
    outcome = "SET announced_outcome = :outcome"  # RecordOutcome, RecordTrackingFailed
    faults.crash_before(
        "dynamodb",
        "UpdateItem",
        SimulatedRuntimeFailure.timeout(30),
        when=aimed("status check Lambda timed out", lambda c: _record_update(c, begin_check)),
        times=None,
    )
    faults.error(
        "dynamodb",
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=aimed(
            "DynamoDB throttling: status check record", lambda c: _record_update(c, begin_check)
        ),
        times=None,
    )
    faults.error(
        "dynamodb",
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=aimed("DynamoDB throttling: outcome record", lambda c: _record_update(c, outcome)),
        times=None,
    )
    faults.error(
        "s3",
        "PutObject",
        "InternalError",
        status=500,
        when=aimed("S3 PutObject 500", _voucher_upload),
        times=None,
    )
    faults.crash_after(
        "s3",
        "PutObject",
        SimulatedRuntimeFailure.unknown(),
        when=aimed("voucher Lambda died after its upload", _voucher_upload),
        times=None,
    )
    faults.put_events_failed_entries(when=aimed("PutEvents failed entry", _published), times=None)


# -- a round --------------------------------------------------------------------------------------


@dataclass
class RoundResult:
    orders: int
    kinds: Counter[str]
    faults: Counter[str]
    """Tiqets faults served (the status calls they answered), by name."""
    aws_faults_planned: Counter[str]
    """AWS faults by name: the orders they were aimed at."""
    aws_faults_fired: Counter[str]
    """AWS faults by name: the calls they acted on."""
    problems: dict[str, list[str]]
    """Order ID -> what is wrong with it; empty when every order is right."""
    finished: bool
    """Every order reached its outcomes and every execution ended before the timeout."""
    start_seconds: float
    wall_seconds: float
    expected_events: int
    tiqets_calls: int
    webhook_deliveries: Counter[int]
    """Simulator webhook attempts by the HTTP status they got (0: no answer in time)."""
    peak_threads: int
    events: int = 0
    missing_events: int = 0
    duplicate_events: int = 0
    vouchers_checked: int = 0
    voucher_mismatches: int = 0
    executions: int = 0
    unsuccessful_executions: int = 0
    woken: int = 0
    """Orders of kind "woken" whose park a webhook ended (SendTaskSuccess)."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Kind -> seconds from placement to the first outcome decided, per order."""

    @property
    def correct(self) -> bool:
        return self.finished and not self.problems

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.wall_seconds if self.wall_seconds else 0.0


def _warm_up_webhook(stack: LocalStack, endpoint: LocalWebhookEndpoint) -> None:
    """One authentic callback for an order no one tracks, before the round: the webhook
    function's cold start (its imports) then does not hold up the round's first callbacks (the
    local endpoint runs one invocation at a time, like a single warm container)."""
    url = callback_url_for_order(
        "load-warm-up", webhook_url=endpoint.url, keys_secret=stack.webhook_keys_secret_name
    )
    body = json.dumps({"order_reference_id": "0"}).encode()
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer = json.loads(response.read())
    if answer != {"result": "unknown_order"}:
        raise RuntimeError(f"the webhook warm-up got {answer}")


def _events_by_order(events: Sequence[OutcomeEvent]) -> dict[str, Counter[str]]:
    seen: dict[str, Counter[str]] = {}
    for event in events:
        order_reference_id = str(event.detail.get("order_reference_id"))
        seen.setdefault(order_reference_id, Counter())[event.detail_type] += 1
    return seen


@contextmanager
def _round_conditions(budget: _AwsFaultBudget, retry_wait_scale: float) -> Iterator[None]:
    """The read timeout, the AWS faults and the retry waits of a round, while it runs."""
    with ExitStack() as active:
        active.enter_context(
            mock.patch.dict(os.environ, {"TIQETS_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS)})
        )
        if budget.planned:
            from ..aws_faults import AwsFaults

            _inject_aws_faults(active.enter_context(AwsFaults()), budget)
        if retry_wait_scale < 1:
            from ..aws_faults import faster_state_machine_retries

            active.enter_context(faster_state_machine_retries(retry_wait_scale))
        yield


def _settle(stack: LocalStack, quiet_seconds: float, *, limit: float) -> None:
    """Return once no execution has been running for `quiet_seconds` (or at `limit`, a
    time.perf_counter() value)."""
    quiet_since = time.perf_counter()
    while time.perf_counter() - quiet_since < quiet_seconds and time.perf_counter() < limit:
        time.sleep(0.25)
        if stack.executions("RUNNING"):
            quiet_since = time.perf_counter()


def _start_orders(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    plan: Sequence[PlannedOrder],
    *,
    machines: Mapping[str, str],
    say: Callable[[str], None],
) -> None:
    """Create each order in the simulator and start tracking it at once, as the distributor's
    order-placement Lambda does (one StartExecution per order)."""
    for number, order in enumerate(plan, start=1):
        callback = (
            callback_url_for_order(
                order.external_reference,
                webhook_url=endpoint.url,
                keys_secret=stack.webhook_keys_secret_name,
            )
            if order.kind.callback
            else None
        )
        tiqets.add_order(order.order_reference_id, order.scenario, callback_url=callback)
        stack.start_tracking(
            order.order_reference_id,
            state_machine_arn=machines[order.kind.machine],
            external_reference=order.external_reference,
        )
        if number % 100 == 0:
            say(f"started {number}/{len(plan)}")


def run_round(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    plan: Sequence[PlannedOrder],
    *,
    timeout: float,
    settle_seconds: float = 2.0,
    retry_wait_scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> RoundResult:
    """Start every planned order at once, drive the round to its end (or `timeout` seconds) and
    check every order. `stack` must run with STACK_PARAMETERS; order IDs must be new to it.

    After the last expected event, the events are counted once no execution (a late re-check
    included) has run for `settle_seconds`. `retry_wait_scale` below 1 shortens the waits
    between the state machine's Retry attempts (moto sleeps them in real time; see
    aws_faults.faster_state_machine_retries)."""
    machines = {name: stack.state_machine(**parameters) for name, parameters in MACHINES.items()}
    expected = {order.order_reference_id: Counter(order.kind.expected) for order in plan}
    to_cancel = {o.order_reference_id for o in plan if o.kind.name == "cancelled_after_done"}
    threads_before = threading.active_count()
    peak_threads = 0
    budget = _AwsFaultBudget(plan)

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    _warm_up_webhook(stack, endpoint)
    earlier_events = len(stack.outcome_events())
    with _round_conditions(budget, retry_wait_scale):
        began = time.perf_counter()
        _start_orders(stack, tiqets, endpoint, plan, machines=machines, say=say)
        start_seconds = time.perf_counter() - began
        say(f"all {len(plan)} started in {start_seconds:.1f} s")

        finished = False
        last_report = time.perf_counter()
        while True:
            peak_threads = max(peak_threads, threading.active_count() - threads_before)
            seen = _events_by_order(stack.outcome_events()[earlier_events:])
            for order_reference_id in sorted(to_cancel):
                if "TicketsReady" in seen.get(order_reference_id, Counter()):
                    # Days later in real life: Tiqets cancels the order and calls back.
                    tiqets.set_status(order_reference_id, "cancelled")
                    to_cancel.discard(order_reference_id)
            outstanding = sum(
                1
                for order_reference_id, wanted in expected.items()
                if wanted - seen.get(order_reference_id, Counter())
            )
            if not outstanding and not stack.executions("RUNNING"):
                finished = True
                break
            elapsed = time.perf_counter() - began
            if elapsed > timeout:
                break
            if time.perf_counter() - last_report > 15:
                last_report = time.perf_counter()
                say(f"{elapsed:5.0f} s: {outstanding} orders still without all their outcomes")
            time.sleep(1.0)
        wall_seconds = time.perf_counter() - began
        say(f"round ended after {wall_seconds:.1f} s ({'finished' if finished else 'TIMED OUT'})")
        if finished:
            # A callback still being answered can start a re-check now: wait until no execution
            # has run for settle_seconds, so that its events (a duplicate would be one) count.
            _settle(stack, settle_seconds, limit=began + timeout)
        events = stack.outcome_events()[earlier_events:]

    result = RoundResult(
        orders=len(plan),
        kinds=Counter(order.kind.name for order in plan),
        faults=Counter(
            name
            for order in plan
            for name in order.faults[: tiqets.ticket_calls(order.order_reference_id)]
        ),
        aws_faults_planned=Counter(name for order in plan for name in order.aws_faults),
        aws_faults_fired=budget.fired,
        problems={},
        finished=finished,
        start_seconds=start_seconds,
        wall_seconds=wall_seconds,
        expected_events=sum(len(order.kind.expected) for order in plan),
        tiqets_calls=sum(tiqets.ticket_calls(order.order_reference_id) for order in plan),
        webhook_deliveries=Counter(
            status
            for order in plan
            for status in tiqets.webhook_deliveries(order.order_reference_id)
        ),
        peak_threads=peak_threads,
    )
    _Checker(stack, tiqets, result).check(plan, events)
    return result


# -- checking ---------------------------------------------------------------------------------


class _Checker:
    def __init__(
        self,
        stack: LocalStack,
        tiqets: TiqetsSimulator,
        result: RoundResult,
    ) -> None:
        self.stack = stack
        self.tiqets = tiqets
        self.result = result
        self.s3 = stack.client("s3")
        self.dynamodb = stack.client("dynamodb")

    def problem(self, order_reference_id: str, text: str) -> None:
        self.result.problems.setdefault(order_reference_id, []).append(text)

    def check(self, plan: Sequence[PlannedOrder], events: Sequence[OutcomeEvent]) -> None:
        mine: dict[str, list[OutcomeEvent]] = {order.order_reference_id: [] for order in plan}
        strangers = set()
        for event in events:
            order_reference_id = str(event.detail.get("order_reference_id"))
            if order_reference_id in mine:
                mine[order_reference_id].append(event)
            else:
                strangers.add(order_reference_id)
        for order_reference_id in sorted(strangers):
            self.problem(order_reference_id, "an outcome event for an order not in this round")
        self.result.events = sum(len(found) for found in mine.values())
        executions: dict[str, list[Any]] = {order.order_reference_id: [] for order in plan}
        for execution in self.stack.executions():
            order_reference_id = execution["name"].partition("-recheck-")[0]
            if order_reference_id in executions:
                executions[order_reference_id].append(execution)
        for order in plan:
            self.check_events(order, mine[order.order_reference_id])
            self.check_storage(order, mine[order.order_reference_id])
            self.check_executions(order, executions[order.order_reference_id])

    def check_events(self, order: PlannedOrder, found: Sequence[OutcomeEvent]) -> None:
        wanted = Counter(order.kind.expected)
        got = Counter(event.detail_type for event in found)
        missing, extra = wanted - got, got - wanted
        self.result.missing_events += sum(missing.values())
        self.result.duplicate_events += sum(extra.values())
        if missing or extra:
            self.problem(
                order.order_reference_id,
                f"outcome events {sorted(got.elements())}, expected {sorted(wanted.elements())}",
            )
        for event in found:
            for text in _event_problems(order, event):
                self.problem(order.order_reference_id, text)
        first = next((e for e in found if e.detail_type == order.kind.expected[0]), None)
        if first is not None:
            self.result.latencies.setdefault(order.kind.name, []).append(_latency(first))

    def check_storage(self, order: PlannedOrder, found: Sequence[OutcomeEvent]) -> None:
        order_reference_id = order.order_reference_id
        ready = [event for event in found if event.detail_type == "TicketsReady"]
        for event in ready:
            self.result.vouchers_checked += 1
            text = _voucher_problem(self.s3, self.tiqets, order, event)
            if text:
                self.result.voucher_mismatches += 1
                self.problem(order_reference_id, text)
        if "TicketsReady" not in order.kind.expected and self.stack.stored_voucher_keys(
            order_reference_id
        ):
            self.problem(order_reference_id, "a voucher was stored for an order without one")
        if ready and any(event.detail_type == "OrderCancelled" for event in found):
            voucher = ready[0].detail.get("voucher") or {}
            if voucher.get("key"):
                tags = self.s3.get_object_tagging(Bucket=voucher["bucket"], Key=voucher["key"])
                if {"Key": "order-status", "Value": "cancelled"} not in tags["TagSet"]:
                    self.problem(order_reference_id, "the cancelled order's voucher is not tagged")
        record = self.record(order_reference_id)
        if record.get("tracking_state") != "finished":
            self.problem(order_reference_id, f"tracking_state {record.get('tracking_state')!r}")
        if record.get("announced_outcome") != order.kind.expected[-1]:
            self.problem(
                order_reference_id, f"announced_outcome {record.get('announced_outcome')!r}"
            )

    def record(self, order_reference_id: str) -> dict[str, Any]:
        """The tracking record as plain values (LocalStack.record, with one client for all)."""
        from boto3.dynamodb.types import TypeDeserializer

        item = self.dynamodb.get_item(
            TableName=self.stack.tracking_table_name,
            Key={"order_reference_id": {"S": order_reference_id}},
            ConsistentRead=True,
        ).get("Item", {})
        deserializer = TypeDeserializer()
        return {key: deserializer.deserialize(value) for key, value in item.items()}

    def check_executions(self, order: PlannedOrder, runs: Sequence[Any]) -> None:
        self.result.executions += len(runs)
        if not runs:
            self.problem(order.order_reference_id, "no execution")
        for run in runs:
            if run["status"] != "SUCCEEDED":
                self.result.unsuccessful_executions += 1
                self.problem(
                    order.order_reference_id, f"execution {run['name']} ended {run['status']}"
                )
        if order.kind.name == "woken" and self.woken_by_webhook(runs):
            self.result.woken += 1

    def woken_by_webhook(self, runs: Sequence[Any]) -> bool:
        """Whether a park of the order's first execution ended by SendTaskSuccess."""
        first = next((run for run in runs if "-recheck-" not in run["name"]), None)
        if first is None:
            return False
        state = ""
        for event in self.stack.history(first["executionArn"]):
            details = event.get("stateEnteredEventDetails")
            if details:
                state = details["name"]
            elif state == "ParkUntilWebhookOrTimeout" and event["type"] == "TaskSucceeded":
                return True
        return False


def _event_problems(order: PlannedOrder, event: OutcomeEvent) -> list[str]:
    problems: list[str] = []
    detail = event.detail
    try:
        validate_outcome(detail)
    except fastjsonschema.JsonSchemaException as error:
        problems.append(f"{event.detail_type} does not match the schema: {error}")
    if detail.get("outcome") != event.detail_type:
        problems.append(f"detail-type {event.detail_type} but outcome {detail.get('outcome')}")
    if event.source != "tiqets-tracker":
        problems.append(f"source {event.source!r}")
    if detail.get("idempotency_key") != f"{order.order_reference_id}:{event.detail_type}":
        problems.append(f"idempotency_key {detail.get('idempotency_key')!r}")
    if event.detail_type == "TrackingFailed" and order.kind.failure is not None:
        named = (detail.get("failure") or {}).get("Error")
        if named != order.kind.failure:
            problems.append(f"TrackingFailed for {named}, expected {order.kind.failure}")
    return problems


def _voucher_problem(
    s3: Any, tiqets: TiqetsSimulator, order: PlannedOrder, event: OutcomeEvent
) -> str | None:
    voucher = event.detail.get("voucher")
    if not isinstance(voucher, dict):
        return "TicketsReady without a voucher"
    served = tiqets.voucher_bytes(order.order_reference_id)
    served_sha256 = hashlib.sha256(served).hexdigest()
    try:
        stored = s3.get_object(Bucket=voucher["bucket"], Key=voucher["key"])["Body"].read()
    except Exception as error:  # reported as the order's problem
        return f"the stored voucher cannot be read: {error}"
    stored_sha256 = hashlib.sha256(stored).hexdigest()
    if stored_sha256 != served_sha256:
        return f"stored voucher sha256 {stored_sha256} != served {served_sha256}"
    if voucher.get("sha256") != served_sha256 or voucher.get("size_bytes") != len(served):
        return (
            f"the event says sha256 {voucher.get('sha256')}, {voucher.get('size_bytes')} bytes; "
            f"served {served_sha256}, {len(served)} bytes"
        )
    return None


def _latency(event: OutcomeEvent) -> float:
    placed = (event.detail.get("order") or {}).get("placed_at")
    decided = event.detail.get("decided_at")
    if not isinstance(placed, str) or not isinstance(decided, str):
        return float("nan")
    return (_parse(decided) - _parse(placed)).total_seconds()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
