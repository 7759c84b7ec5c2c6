"""Scale on paper: the loads, the AWS limits they meet and the monthly cost at 1,000 to 1,000,000
orders a day, from the schedule and cost model (bench/schedule_model.py) and the template.

Nothing here is measured. The per-order figures come from the model's `run` and `cost` over the
real check times (`schedule_times(WEBHOOK_PROFILE, seed)`, the deployed default: webhook on),
with fulfilment delays drawn from the fulfilment pattern at evenly spaced quantiles (one per
seed, so the jitter phases vary too). Every load scales linearly with orders per day, so the
limit that binds first is the same at every volume; the tables say how close each volume is.

The quota figures are the us-east-1 defaults of the AWS pages named in `limits()` (Step
Functions' figures apply to us-east-1, us-west-2 and eu-west-1; most other regions are lower).

    .venv/bin/python -m bench.scale
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "functions", ROOT / "local", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench.common import human_seconds, table  # noqa: E402
from bench.schedule_model import (  # noqa: E402
    CHECK_GB_SECONDS,
    OUTCOME_METRICS_GB_SECONDS,
    PRICE,
    PRICES_NOTE,
    RETENTION_MONTHS,
    VOUCHER_GB_SECONDS,
    VOUCHER_MB,
    WEBHOOK_GB_SECONDS,
    Run,
    cost,
    run,
    schedule_times,
)
from tiqets_tracker.check_schedule import WEBHOOK_PROFILE  # noqa: E402
from tiqets_tracker.fulfilment_pattern import FULFILMENT_PATTERN  # noqa: E402
from tiqets_tracker_local.template import load_sam_template  # noqa: E402

# -- assumptions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """What a day of orders looks like. Our assumptions, not Tiqets' data."""

    instant_share: float = 0.90
    """Fulfilled at once: the first check sees `done` (Tiqets: "most products")."""
    never_share: float = 0.001
    """Never fulfilled: checked until the 24-hour deadline, then timed out."""
    webhook_delivered_share: float = 0.95
    """Orders whose webhook reaches us; for the rest every delivery fails and the safety-net
    checks find the order."""
    peak_factor: float = 5.0
    """Orders placed per second at the busiest moment, over the daily average."""
    samples: int = 400
    """Fulfilment delays drawn from the pattern (evenly spaced quantiles), one seed each."""

    @property
    def delayed_share(self) -> float:
        """Fulfilled later, following the pattern in fulfilment_pattern.py."""
        return 1.0 - self.instant_share - self.never_share


MIX = Mix()
VOLUMES: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000)
DAYS_PER_MONTH = 365 / 12
SECONDS_PER_DAY = 86_400
RECHECK_TRANSITIONS = 5
"""A re-check execution for an order whose outcome was announced: PrepareTracking,
CheckOrderStatus, RouteByStatus, EndTracking, Tracked (read off the ASL, not measured)."""
TEMPLATE_RETENTION_PARAMETER = "VoucherRetentionDays"


@cache
def _template() -> dict[str, Any]:
    return load_sam_template()


def template_default(parameter: str) -> int:
    """A numeric parameter's default in template.yaml (the figure a plain deploy runs with)."""
    return int(_template()["Parameters"][parameter]["Default"])


def template_maximum(parameter: str) -> int:
    return int(_template()["Parameters"][parameter]["MaxValue"])


def _memory_gb(function: str) -> float:
    """A function's memory in GB the way the cost model writes it (256 MB = 0.256 GB)."""
    template = _template()
    size = template["Resources"][function]["Properties"].get(
        "MemorySize", template["Globals"]["Function"]["MemorySize"]
    )
    return int(size) / 1000


@dataclass(frozen=True)
class Durations:
    """Seconds per invocation: the cost model's GB-seconds over the template's memory sizes, so
    the concurrency below rests on the same assumptions as the cost."""

    check: float
    voucher: float
    webhook: float
    outcome_metrics: float


@cache
def durations() -> Durations:
    return Durations(
        check=CHECK_GB_SECONDS / _memory_gb("CheckOrderStatusFunction"),
        voucher=VOUCHER_GB_SECONDS / _memory_gb("StoreVouchersFunction"),
        webhook=WEBHOOK_GB_SECONDS / _memory_gb("WebhookFunction"),
        outcome_metrics=OUTCOME_METRICS_GB_SECONDS / _memory_gb("OutcomeMetricsFunction"),
    )


# -- per-order figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class PerOrder:
    """Expected figures for one order (a class of orders, or the whole mix)."""

    tiqets_calls: float
    transitions: float
    start_executions: float
    lambda_invocations: float
    lambda_seconds: float
    dynamodb_writes: float
    eventbridge_events: float
    apigw_requests: float
    send_task_success: float
    """Webhooks that resume a parked execution (the webhook's only Step Functions call)."""
    open_seconds: float
    """Placement to the end of the execution."""
    vouchers: float
    cost: float
    """Dollars, the model's `cost()` summed over services."""
    dynamodb_cost: float
    storage_cost: float
    """The part of `cost` that pays for keeping the voucher RETENTION_MONTHS in S3."""


def figures(result: Run, open_seconds: float, woken: bool) -> PerOrder:
    """One modelled order's figures; `woken`: a webhook resumed its parked execution."""
    parts = cost(result)
    took = durations()
    done = int(result.done)
    return PerOrder(
        tiqets_calls=result.calls,
        transitions=result.transitions,
        start_executions=1.0,
        lambda_invocations=result.calls + done + result.webhooks + 1,
        lambda_seconds=result.calls * took.check
        + done * took.voucher
        + result.webhooks * took.webhook
        + took.outcome_metrics,
        # Counts read back from the model's own cost, so they cannot drift from it.
        dynamodb_writes=parts["DynamoDB"] / PRICE["dynamodb_wru"],
        eventbridge_events=parts["EventBridge"] / PRICE["eventbridge_event"],
        apigw_requests=parts["API Gateway"] / PRICE["apigw_http_request"],
        send_task_success=float(woken),
        open_seconds=open_seconds,
        vouchers=done,
        cost=sum(parts.values()),
        dynamodb_cost=parts["DynamoDB"],
        storage_cost=done * VOUCHER_MB / 1024 * PRICE["s3_gb_month"] * RETENTION_MONTHS,
    )


def weighted(parts: Sequence[tuple[float, PerOrder]]) -> PerOrder:
    """The weighted mean of every field (weights need not sum to 1)."""
    total = sum(weight for weight, _ in parts)
    values = {
        field.name: sum(weight * getattr(p, field.name) for weight, p in parts) / total
        for field in dataclasses.fields(PerOrder)
    }
    return PerOrder(**values)


def delay_at_share(share: float) -> float:
    """Seconds after placement by which `share` of the pending orders are fulfilled: the
    inverse of `share_fulfilled_by` (even growth within each interval of the pattern)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    start, before = 0, 0.0
    for end, by in FULFILMENT_PATTERN:
        if share <= by:
            return start + (share - before) / (by - before) * (end - start)
        start, before = end, by
    return float(FULFILMENT_PATTERN[-1][0])


@cache
def _schedules(samples: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(schedule_times(WEBHOOK_PROFILE, seed)) for seed in range(samples))


def _first_check_at_or_after(times: Sequence[int], moment: float) -> float:
    return float(next((t for t in times if t >= moment), times[-1]))


@cache
def order_classes(mix: Mix = MIX) -> dict[str, PerOrder]:
    """Expected figures of an instant, a delayed and a never-fulfilled order."""
    took = durations()
    delivered = mix.webhook_delivered_share
    instant: list[tuple[float, PerOrder]] = []
    delayed: list[tuple[float, PerOrder]] = []
    never: list[tuple[float, PerOrder]] = []
    # An order that is done ends its execution with one more check and the voucher store.
    handled = took.check + took.voucher
    for index, times in enumerate(_schedules(mix.samples)):
        for weight, arrives in ((delivered, True), (1 - delivered, False)):
            instant.append(
                (weight, figures(run(times, 0, webhook=True, delivered=arrives), handled, False))
            )
        delay = delay_at_share((index + 0.5) / mix.samples)
        # A delivered webhook resumes the parked execution at once; a lost one leaves the order
        # to the first safety-net check at or after the fulfilment.
        seen = {True: delay, False: _first_check_at_or_after(times, delay)}
        for weight, arrives in ((delivered, True), (1 - delivered, False)):
            result = run(times, delay, webhook=True, delivered=arrives)
            open_seconds = (seen[arrives] if result.done else times[-1]) + handled
            delayed.append((weight, figures(result, open_seconds, arrives and result.done)))
        unfulfilled = run(times, None, webhook=True, delivered=False)
        never.append((1.0, figures(unfulfilled, times[-1] + took.check, False)))
    return {"instant": weighted(instant), "delayed": weighted(delayed), "never": weighted(never)}


def per_order(mix: Mix = MIX) -> PerOrder:
    """The expected figures of one order of the mix."""
    classes = order_classes(mix)
    return weighted(
        [
            (mix.instant_share, classes["instant"]),
            (mix.delayed_share, classes["delayed"]),
            (mix.never_share, classes["never"]),
        ]
    )


# -- limits -------------------------------------------------------------------------------------

SFN_QUOTAS = (
    '"Step Functions service quotas", AWS Step Functions Developer Guide, '
    "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
)
# The stored current page was readable only to its opening; the throttling tables were read in
# the older GitHub copy of the guide, so the figures are worth a look in Service Quotas.
SFN_QUOTAS_COPY = (
    " (figures from the stored, older GitHub copy of that page: "
    "awsdocs/aws-step-functions-developer-guide, doc_source/limits-overview.md)"
)


@dataclass(frozen=True)
class Limit:
    name: str
    default: str
    """The default quota as the page states it (us-east-1)."""
    capacity: float | None
    """The steady-state figure the peak load is held against; None: nothing numeric known."""
    adjustable: str
    source: str
    knob: str
    per_order: Callable[[PerOrder], float]
    """The limited thing per order; at a volume the load is this x orders placed per second
    at the peak (Little's law for the open executions and the Lambda concurrency)."""
    unit: str
    prose: str
    """The limit's name inside a sentence."""


def limits() -> list[Limit]:
    rate = template_default("WebhookThrottleRatePerSecond")
    burst = template_default("WebhookThrottleBurst")
    return [
        Limit(
            "Step Functions StartExecution (Standard)",
            "token bucket of 1,300, refill 300 per second, per account and region",
            300,
            "yes (soft quota)",
            SFN_QUOTAS + SFN_QUOTAS_COPY,
            "Service Quotas increase; the order-placement Lambda retries ThrottlingException "
            "with back-off",
            lambda p: p.start_executions,
            "per second",
            "the Step Functions StartExecution bucket",
        ),
        Limit(
            "Step Functions state transitions (Standard)",
            "token bucket of 5,000, refill 1,500 per second, per account and region; new "
            "accounts start lower",
            1_500,
            "yes (soft quota; AWS also raises it with usage)",
            SFN_QUOTAS + SFN_QUOTAS_COPY,
            "Service Quotas increase; a larger BackoffBaseSeconds / BackoffCapSeconds (3 "
            "transitions per check round)",
            lambda p: p.transitions,
            "per second",
            "the Step Functions state-transition bucket",
        ),
        Limit(
            "Step Functions open executions",
            "1,000,000 per account and region (ExecutionLimitExceeded beyond)",
            1_000_000,
            'yes ("millions")',
            SFN_QUOTAS,
            "Service Quotas increase; a shorter DeadlineSeconds",
            lambda p: p.open_seconds,
            "open",
            "the open-execution quota",
        ),
        Limit(
            "Step Functions SendTaskSuccess / SendTaskFailure (the webhook's wake-up)",
            "token bucket of 3,000, refill 500 per second each, per account and region",
            500,
            "yes (soft quota)",
            SFN_QUOTAS + SFN_QUOTAS_COPY,
            f"Service Quotas increase; WebhookThrottleRatePerSecond caps it ({rate}/s)",
            lambda p: p.send_task_success,
            "per second",
            "the SendTaskSuccess bucket",
        ),
        Limit(
            "Lambda concurrent executions",
            "1,000 per region, shared by every function; new accounts start lower. Each "
            "function scales by at most 1,000 environments every 10 s",
            1_000,
            "yes (to tens of thousands)",
            '"Lambda quotas", https://docs.aws.amazon.com/lambda/latest/dg/limits.html; '
            '"Lambda scaling behavior", '
            "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
            "Service Quotas increase; reserved concurrency to keep other functions' share",
            lambda p: p.lambda_seconds,
            "concurrent",
            "the Lambda concurrency quota",
        ),
        Limit(
            "DynamoDB on-demand table throughput (the tracking table)",
            "40,000 write and 40,000 read request units per second per table",
            40_000,
            "yes (table-level throughput quota)",
            '"Quotas in Amazon DynamoDB", '
            "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
            'ServiceQuotas.html; "DynamoDB maximum throughput for on-demand tables", '
            "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
            "on-demand-capacity-mode-max-throughput.html",
            "Service Quotas increase (writes shown: reads are not in the model)",
            lambda p: p.dynamodb_writes,
            "WRU per second",
            "the DynamoDB table throughput quota",
        ),
        Limit(
            "API Gateway account throttle (HTTP, REST and WebSocket APIs together)",
            "10,000 requests per second, burst 5,000 (the burst is set by AWS), per account "
            "and region",
            10_000,
            "rate yes, burst no",
            '"Amazon API Gateway quotas", '
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
            "Service Quotas increase",
            lambda p: p.apigw_requests,
            "per second",
            "the API Gateway account throttle",
        ),
        Limit(
            "Webhook route throttle (this stack)",
            f"WebhookThrottleRatePerSecond = {rate} per second, WebhookThrottleBurst = "
            f"{burst} (template.yaml defaults); above them API Gateway answers 429",
            rate,
            f"yes: template parameters (rate up to "
            f"{template_maximum('WebhookThrottleRatePerSecond'):,}, never above the account "
            "throttle)",
            "template.yaml (WebhookApi DefaultRouteSettings); "
            '"Throttling requests to your HTTP API", '
            "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html",
            "WebhookThrottleRatePerSecond / WebhookThrottleBurst; a 429 is retried by Tiqets "
            "after 1, 2, 4 and 8 minutes, then Tiqets e-mails the distributor",
            lambda p: p.apigw_requests,
            "per second",
            "the stack's own webhook route throttle",
        ),
        Limit(
            "EventBridge PutEvents",
            "10,000 requests per second in us-east-1, per account and region (2,400 in "
            "us-east-2; lower in most other regions)",
            10_000,
            "yes (Service Quotas L-9B653E91)",
            '"Amazon EventBridge quotas", '
            "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
            "Service Quotas increase",
            lambda p: p.eventbridge_events,
            "per second",
            "the EventBridge PutEvents quota",
        ),
        Limit(
            "Tiqets' fair use",
            'no figure published: the Tiqets API notes name only 429 "too many requests '
            '(fair-use policy; limits may be enforced later)"',
            None,
            "ask Tiqets",
            "Tiqets API notes (TIQETS_API.md, Errors)",
            "BackoffBaseSeconds / BackoffCapSeconds (fewer checks), the webhook on, "
            "TiqetsRetryBudget; agree a rate with Tiqets first",
            lambda p: p.tiqets_calls,
            "calls per second",
            "Tiqets' fair use",
        ),
    ]


# -- loads per volume ---------------------------------------------------------------------------


def peak_orders_per_second(orders_per_day: int, mix: Mix = MIX) -> float:
    return orders_per_day / SECONDS_PER_DAY * mix.peak_factor


def monthly_cost(orders_per_day: int, mix: Mix = MIX) -> float:
    """Dollars a month at the model's prices (vouchers kept RETENTION_MONTHS, as it assumes)."""
    return per_order(mix).cost * orders_per_day * DAYS_PER_MONTH


def monthly_cost_at_template_retention(orders_per_day: int, mix: Mix = MIX) -> float:
    """As `monthly_cost`, with the S3 storage of a steady state in which every voucher is kept
    the template's VoucherRetentionDays instead of the model's month."""
    order = per_order(mix)
    stored_gb = (orders_per_day * order.vouchers * VOUCHER_MB / 1024) * template_default(
        TEMPLATE_RETENTION_PARAMETER
    )
    model_storage = order.storage_cost * orders_per_day * DAYS_PER_MONTH
    return monthly_cost(orders_per_day, mix) - model_storage + stored_gb * PRICE["s3_gb_month"]


def load(limit: Limit, orders_per_day: int, mix: Mix = MIX) -> float:
    return limit.per_order(per_order(mix)) * peak_orders_per_second(orders_per_day, mix)


def utilisation(limit: Limit, orders_per_day: int, mix: Mix = MIX) -> float | None:
    if limit.capacity is None:
        return None
    return load(limit, orders_per_day, mix) / limit.capacity


def binds_at(limit: Limit, mix: Mix = MIX) -> float | None:
    """Orders per day at which the peak load reaches the limit (loads are linear in volume)."""
    used = utilisation(limit, 1, mix)
    return None if used is None else 1 / used


def binding(orders_per_day: int, mix: Mix = MIX) -> tuple[Limit, float]:
    """The numeric limit closest to its capacity at this volume, and its utilisation."""
    found = [(limit, utilisation(limit, orders_per_day, mix)) for limit in limits()]
    return max(((limit, used) for limit, used in found if used is not None), key=lambda x: x[1])


# -- the section --------------------------------------------------------------------------------


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.01:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _percent(share: float) -> str:
    return f"{share * 100:.2g} %" if share < 0.1 else f"{share * 100:.0f} %"


def _dollars(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _per_order_table(mix: Mix) -> str:
    classes = order_classes(mix)
    rows = [
        ("fulfilled at once", mix.instant_share, classes["instant"]),
        ("fulfilled later (the pattern)", mix.delayed_share, classes["delayed"]),
        ("never fulfilled", mix.never_share, classes["never"]),
        ("**the mix**", 1.0, per_order(mix)),
    ]
    return table(
        [
            "order",
            "share",
            "Tiqets calls",
            "state transitions",
            "Lambda invocations (Lambda-seconds)",
            "DynamoDB writes",
            "EventBridge events",
            "API Gateway requests",
            "SendTaskSuccess",
            "execution open",
            "cost (µ$)",
        ],
        [
            (
                name,
                _percent(share),
                f"{p.tiqets_calls:.2f}",
                f"{p.transitions:.2f}",
                f"{p.lambda_invocations:.2f} ({p.lambda_seconds:.2f} s)",
                f"{p.dynamodb_writes:.2f}",
                f"{p.eventbridge_events:.2f}",
                f"{p.apigw_requests:.3f}",
                f"{p.send_task_success:.3f}",
                human_seconds(p.open_seconds),
                f"{p.cost * 1e6:.1f}",
            )
            for name, share, p in rows
        ],
    )


def _volume_table(mix: Mix) -> str:
    def at(name: str, volume: int) -> str:
        return _number(load(_limit(name), volume, mix))

    rows = []
    for volume in VOLUMES:
        limit, used = binding(volume, mix)
        rows.append(
            (
                f"{volume:,}",
                _number(peak_orders_per_second(volume, mix)),
                at("Tiqets' fair use", volume),
                at("Step Functions StartExecution (Standard)", volume),
                at("Step Functions state transitions (Standard)", volume),
                at("Step Functions open executions", volume),
                at(
                    "Step Functions SendTaskSuccess / SendTaskFailure (the webhook's wake-up)",
                    volume,
                ),
                at("Lambda concurrent executions", volume),
                at("DynamoDB on-demand table throughput (the tracking table)", volume),
                at("Webhook route throttle (this stack)", volume),
                at("EventBridge PutEvents", volume),
                _dollars(monthly_cost(volume, mix)),
                _dollars(monthly_cost_at_template_retention(volume, mix)),
                f"{limit.name}: {_percent(used)} of {limit.capacity or 0:,.0f} {limit.unit}"
                + (" **(binds)**" if used >= 1 else ""),
            )
        )
    return table(
        [
            "orders a day",
            "placed per second (peak)",
            "Tiqets calls/s",
            "StartExecution/s",
            "state transitions/s",
            "open executions",
            "SendTaskSuccess/s",
            "Lambda concurrency",
            "DynamoDB WRU/s",
            "webhook requests/s",
            "PutEvents/s",
            "AWS cost a month (model)",
            f"same, vouchers kept {template_default(TEMPLATE_RETENTION_PARAMETER)} days",
            "closest limit (peak use)",
        ],
        rows,
    )


def _limits_table(mix: Mix) -> str:
    rows = []
    for limit in limits():
        used = utilisation(limit, VOLUMES[-1], mix)
        at = binds_at(limit, mix)
        rows.append(
            (
                limit.name,
                limit.default,
                limit.adjustable,
                limit.source,
                limit.knob,
                f"{_number(load(limit, VOLUMES[-1], mix))} {limit.unit}"
                + ("" if used is None else f" ({_percent(used)})"),
                "unknown" if at is None else _volume(at),
            )
        )
    return table(
        [
            "limit",
            "default (us-east-1)",
            "adjustable",
            "source",
            "knob",
            f"peak load at {VOLUMES[-1]:,} a day",
            "binds at (orders a day)",
        ],
        rows,
    )


def _recheck_sensitivity(mix: Mix) -> str:
    """What the re-check executions the model leaves out would add, at most."""
    order = per_order(mix)
    extra_share = mix.instant_share * mix.webhook_delivered_share
    extra_transitions = extra_share * RECHECK_TRANSITIONS
    transitions = _limit("Step Functions state transitions (Standard)")
    at = binds_at(transitions, mix) or 0.0
    return (
        "The model leaves out one thing that can matter: a webhook that arrives after an "
        "order's tracking ended starts a short re-check execution (`tiqets_tracker/wakeups.py`). "
        "If every instant order's webhook came after its first check, each order would add "
        f"{extra_share:.2f} StartExecution, {extra_share:.2f} Tiqets calls and about "
        f"{extra_transitions:.1f} state transitions ({RECHECK_TRANSITIONS} per re-check, read "
        "off the ASL, not measured): "
        f"{_percent(extra_transitions / order.transitions)} more transitions, and the "
        "state-transition bucket would bind at about "
        f"{_volume(at * order.transitions / (order.transitions + extra_transitions))} orders a "
        f"day instead of {_volume(at)}. When Tiqets sends the webhook of an order fulfilled at "
        "once (before, during or after the first check) is not documented."
    )


def _limit(name: str) -> Limit:
    return next(limit for limit in limits() if limit.name == name)


def _volume(orders_per_day: float) -> str:
    """Orders a day to two significant figures: the inputs are not better than that."""
    rounded = float(f"{orders_per_day:.2g}")
    if rounded < 1_000_000:
        return f"{rounded:,.0f}"
    millions = rounded / 1_000_000
    return f"{millions:.1f} million" if millions < 10 else f"{millions:,.0f} million"


# CloudWatch's monthly charges per stack, whatever the volume (third-party stored pricing pages,
# us-east-1, 2025; the stored AWS pricing page shows only the free tier: 3 dashboards, 10 alarm
# metrics). A custom metric is one name with one set of dimension values.
CUSTOM_METRIC_MONTH = 0.30
DASHBOARD_MONTH = 3.00
ALARM_METRIC_MONTH = 0.10
# About this many series: StatusChecks by 6 statuses, FailedChecks and OrdersStarted by status or
# error (about 15), WebhookRequests by about 17 results and refusals, Outcomes and
# SecondsToOutcome by 5 outcomes, 6 voucher counts, 4 sweep figures.
CUSTOM_METRIC_SERIES = 60


def alarm_metrics() -> int:
    """Alarm metrics as CloudWatch bills them: one per alarm on a metric, one per metric an
    alarm's math reads."""
    count = 0
    for resource in _template()["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            queries = resource["Properties"].get("Metrics")
            count += sum(1 for query in queries if "MetricStat" in query) if queries else 1
    return count


def _cloudwatch_paragraph() -> str:
    alarms = alarm_metrics()
    metrics = CUSTOM_METRIC_SERIES * CUSTOM_METRIC_MONTH
    alarm_cost = alarms * ALARM_METRIC_MONTH
    total = metrics + DASHBOARD_MONTH + alarm_cost
    return (
        "Not in the table, because it does not grow with orders: CloudWatch's monthly charges "
        f"for one stack, about ${total:.2f} a month (stored third-party pricing pages, "
        f"us-east-1, before the free tier): about {CUSTOM_METRIC_SERIES} custom metric series "
        f"at ${CUSTOM_METRIC_MONTH:.2f} (${metrics:.2f}), the dashboard at "
        f"${DASHBOARD_MONTH:.2f} and {alarms} alarm metrics at ${ALARM_METRIC_MONTH:.2f} "
        f"(${alarm_cost:.2f}). The free tier (3 dashboards, 10 alarm metrics; the AWS pricing "
        "page) takes part of it off in an account with little else."
    )


def _paragraph(text: str) -> str:
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def section(mix: Mix = MIX) -> str:
    """The "Scale on paper" section of BENCHMARKS.md, in Markdown."""
    order = per_order(mix)
    ranked = sorted(
        (
            (used, limit)
            for limit in limits()
            if (used := utilisation(limit, VOLUMES[-1], mix)) is not None
        ),
        key=lambda pair: pair[0],
        reverse=True,
    )
    (first_used, first), (_, second) = ranked[0], ranked[1]
    dynamodb_share = order.dynamodb_cost / order.cost
    took = durations()
    retention = template_default(TEMPLATE_RETENTION_PARAMETER)
    blocks = [
        "## Scale on paper",
        _paragraph(
            "Reproduce: `.venv/bin/python -m bench.scale`. Nothing here is measured: the "
            "per-order figures are the model of sections 1 and 2 (`bench.schedule_model.run` and "
            "`cost`) over the real check times of the default deployment (webhook on, "
            f"`WEBHOOK_PROFILE`, {mix.samples} seeds), and the limits are the documented default "
            "quotas of the pages named in the last table."
        ),
        _paragraph(
            f"Assumptions (`bench/scale.py`, `Mix`): {_percent(mix.instant_share)} of orders are "
            f"fulfilled at once, {_percent(mix.delayed_share)} later following the fulfilment "
            f"pattern of section 1 (delays at {mix.samples} evenly spaced quantiles of the "
            f"pattern, one seed each), and {_percent(mix.never_share)} never (checked until the "
            "24-hour deadline, then timed out). The webhook is on and "
            f"{_percent(mix.webhook_delivered_share)} of orders get theirs; for the rest every "
            "delivery fails and the safety-net checks find the order. At the peak, orders are "
            f"placed at {mix.peak_factor:g}x the daily average rate, and every load below is that "
            "peak rate times the per-order figure (conservative: the later checks of delayed "
            "orders spread out past the peak). Open executions and Lambda concurrency follow "
            "from Little's law: the peak rate times how long an execution stays open, or how "
            f"many Lambda-seconds an order uses ({took.check:.1f} s a status check, "
            f"{took.voucher:.1f} s a voucher store, {took.webhook:.1f} s a webhook: the cost "
            "model's GB-seconds over the template's memory sizes). A month is "
            f"{DAYS_PER_MONTH:.2f} days."
        ),
        "### Per order",
        _per_order_table(mix),
        _paragraph(
            "The mix's figures lie between those of the instant and the never-fulfilled order, "
            "but for SendTaskSuccess: only a delayed order's webhook wakes a parked execution "
            "(an instant order's webhook finds it busy or finished, and a never-fulfilled order "
            "gets none)."
        ),
        "### Load, cost and the closest limit, by volume",
        _volume_table(mix),
        _paragraph(
            f"The cost is the model's (section 2). {PRICES_NOTE} Free tiers are ignored, and so "
            "are CloudWatch Logs, X-Ray, Secrets Manager calls (cached), DynamoDB storage, "
            "reads and the OpenOrders index's writes, the sweep (one small Lambda run every 15 "
            "minutes) and data transfer. The "
            f"model keeps each voucher in S3 for a month; the template keeps it {retention} days "
            "by default, which the next-to-last column prices as a steady state. DynamoDB is "
            f"{_percent(dynamodb_share)} of the cost at the model's $1.25 per million write "
            "request units; stored third-party pricing pages say AWS halved on-demand request "
            "prices in November 2024 ($0.625 per million in us-east-1), which would take "
            f"{_percent(dynamodb_share / 2)} off the total (not confirmed on an AWS page in the "
            "stored documentation)."
        ),
        _paragraph(
            "Every load is linear in orders per day, so the same limit comes first at every "
            f"volume: **{first.prose}**, at {_percent(first_used)} of its default at "
            f"{VOLUMES[-1]:,} orders a day; it binds at about "
            f"{_volume(binds_at(first, mix) or 0.0)} orders a day. The knob: {first.knob}. "
            f"Next comes {second.prose}, at about "
            f"{_volume(binds_at(second, mix) or 0.0)} orders a day. Tiqets' fair use has no "
            "published figure, so the Tiqets calls per second above are the number to agree "
            "with Tiqets."
        ),
        _paragraph(_cloudwatch_paragraph()),
        "### The limits",
        _limits_table(mix),
        _paragraph(
            "Region: the figures are us-east-1's, the highest. Step Functions' are the same in "
            "us-west-2 and eu-west-1 and lower elsewhere (StartExecution 800 / 150 per second, "
            "state transitions 800 / 500, SendTaskSuccess 1,500 / 300); API Gateway's default "
            "is 2,500 requests per second (burst 1,250) in thirteen newer regions; PutEvents is "
            "10,000 per second in us-east-1 and lower in most other regions (2,400 in "
            "us-east-2). New accounts start with lower state-transition "
            "and Lambda concurrency quotas that AWS raises with use: check Service Quotas in the "
            "deployment account before a launch."
        ),
        _paragraph(_recheck_sensitivity(mix)),
    ]
    return "\n\n".join(blocks) + "\n"


if __name__ == "__main__":
    print(section())
