"""Check schedules against the baselines and against the best possible schedule, and the
cost model.

A model driven by the real code: every check time of our profiles comes from
`tiqets_tracker.check_schedule.next_check` with the very `check_phase(order, placed_at)` the
status check uses, for `SEEDS` different order ids (the jitter's seeds). Lambda run time between
checks is left out (tens of ms against waits of minutes).

The optimum: for the fulfilment pattern (`tiqets_tracker.fulfilment_pattern`) and a number of
checks N (the first at once, the last on the deadline), the check times that minimise the
expected time from fulfilment to the check that sees it. A dynamic program over a grid of
candidate times (10 s apart up to 2 h, 30 s up to 6 h, 60 s up to 24 h; the pattern's times
are on it): best[n][j] = min over i < j of best[n-1][i] + cost(i, j), where cost(i, j) is the
expected latency contributed by fulfilments between grid times i and j. The cost satisfies the
quadrangle inequality, so the best i moves right as j does, and each layer is solved by divide
and conquer in O(M log M) (M grid times) instead of O(M^2). On the grid, so an upper bound of the
continuous optimum by at most a few seconds.

Per check round the state machine makes 3 state transitions (check, route, wait or park); an
order that ends at its first check makes 8 (done) or 7 (timed out / failed). These per-path
counts are re-measured on the local stack by `bench.stack_runs.verify_model`.

    .venv/bin/python -m bench.schedule_model
"""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from bench.common import human_seconds, median, percentile, table  # noqa: E402
from tiqets_tracker.check_schedule import (  # noqa: E402
    POLLING_PROFILE,
    WEBHOOK_PROFILE,
    CheckSchedule,
    check_phase,
    next_check,
)
from tiqets_tracker.fulfilment_pattern import (  # noqa: E402
    FULFILMENT_PATTERN,
    intervals,
    share_fulfilled_by,
)
from tiqets_tracker.timestamps import format_timestamp  # noqa: E402

SEEDS = 200
DEADLINE = 86_400
PLACED_AT = datetime(2026, 1, 1, tzinfo=UTC)
DELAYS: tuple[tuple[str, int | None], ...] = (
    ("0 s", 0),
    ("1 min", 60),
    ("11 min", 660),
    ("30 min", 1_800),
    ("45 min", 2_700),
    ("60 min", 3_600),
    ("2 h", 7_200),
    ("6 h", 21_600),
    ("23 h", 82_800),
    ("never", None),
)
FULFILMENT_SPREAD = 60.0

# Transitions per path, measured on the local stack (see bench.stack_runs.verify_model).
TRANSITIONS_DONE_FIRST_CHECK = 8
TRANSITIONS_TIMEOUT_FIRST_CHECK = 7
TRANSITIONS_PER_ROUND = 3


@dataclass(frozen=True)
class Policy:
    name: str
    webhook: bool
    description: str
    times: Callable[[int], list[int]]
    """Offsets (s after placement) of every check of an order never fulfilled, per seed."""


def schedule_times(schedule: CheckSchedule, seed: int) -> list[int]:
    """Offsets of every check of an order that never finishes, decided by the real next_check
    with the phase the status check gives the order."""
    phase = check_phase(f"model-{seed}", format_timestamp(PLACED_AT))
    offsets = [0]
    while True:
        decision = next_check(
            schedule,
            placed_at=PLACED_AT,
            checked_at=PLACED_AT + timedelta(seconds=offsets[-1]),
            phase=phase,
        )
        if decision.wait_seconds is None:
            return offsets
        offsets.append(offsets[-1] + decision.wait_seconds)


def longest_wait(name: str, seeds: int) -> int:
    """The longest wait between two checks of the named policy over every seed: the worst
    detection latency for a fulfilment at any moment."""
    policy = next(p for p in policies() if p.name == name)
    return max(b - a for seed in range(seeds) for a, b in itertools.pairwise(policy.times(seed)))


def fixed_times(interval: int) -> Callable[[int], list[int]]:
    def times(seed: int) -> list[int]:
        return [*range(0, DEADLINE, interval), DEADLINE]

    return times


def exponential_times(seed: int) -> list[int]:
    """Plain exponential back-off: 60 s, doubling, no cap but the deadline, 10 % jitter down."""
    rng = random.Random(f"exponential-{seed}")
    offsets, wait = [0], 60.0
    while offsets[-1] < DEADLINE:
        jittered = math.ceil(wait * (1 - 0.1 * rng.random()))
        offsets.append(min(DEADLINE, offsets[-1] + jittered))
        wait *= 2
    return offsets


def describe_schedule(schedule: CheckSchedule) -> str:
    return (
        f"densest spacing {schedule.densest_spacing_seconds} s, longest wait "
        f"{schedule.longest_wait_seconds} s, jitter {schedule.jitter_ratio:g}"
    )


def policies() -> list[Policy]:
    return [
        Policy(
            "ours, webhook on",
            True,
            f"WEBHOOK_PROFILE ({describe_schedule(WEBHOOK_PROFILE)}), parked on a task token a "
            "webhook ends",
            lambda seed: schedule_times(WEBHOOK_PROFILE, seed),
        ),
        Policy(
            "ours, polling only",
            False,
            f"POLLING_PROFILE ({describe_schedule(POLLING_PROFILE)})",
            lambda seed: schedule_times(POLLING_PROFILE, seed),
        ),
        Policy("fixed 5 min", False, "a check every 300 s, no jitter", fixed_times(300)),
        Policy(
            "fixed 10 min",
            False,
            "a check every 600 s, no jitter (Tiqets' 5-10 minute guidance)",
            fixed_times(600),
        ),
        Policy(
            "plain exponential",
            False,
            "60 s, doubling, no cap but the 24 h deadline, 10 % jitter",
            exponential_times,
        ),
    ]


@dataclass(frozen=True)
class Run:
    """One order under one policy and one seed."""

    calls: int
    latency: float | None
    """Fulfilment to the check that sees it (None: never detected, timed out)."""
    parks: int
    """Rounds parked on a task token (webhook mode) or plain waits (polling)."""
    done: bool
    webhooks: int

    @property
    def transitions(self) -> int:
        first = TRANSITIONS_DONE_FIRST_CHECK if self.done else TRANSITIONS_TIMEOUT_FIRST_CHECK
        return first + TRANSITIONS_PER_ROUND * (self.calls - 1)


def fulfilment_at(delay: int | None, seed: int) -> float | None:
    """When the order is fulfilled in the run with this seed: `delay` plus an offset uniform in
    [0, 60) s (so a fixed schedule does not check at exactly the fulfilment instant by luck of
    phase); 0 stays 0 (fulfilled at once)."""
    if delay is None or delay == 0:
        return delay
    return delay + random.Random(f"fulfilment-{seed}").uniform(0.0, FULFILMENT_SPREAD)


def run(times: Sequence[int], delay: float | None, *, webhook: bool, delivered: bool) -> Run:
    rounds = len(times) - 1
    if delay is None:
        return Run(calls=len(times), latency=None, parks=rounds, done=False, webhooks=0)
    if webhook and delivered and delay > 0:
        before = sum(1 for t in times if t < delay)
        return Run(calls=before + 1, latency=0.0, parks=before, done=True, webhooks=1)
    for index, at in enumerate(times):
        if at >= delay:
            return Run(
                calls=index + 1,
                latency=float(at - delay),
                parks=index,
                done=True,
                webhooks=int(webhook and delivered),
            )
    return Run(calls=len(times), latency=None, parks=rounds, done=False, webhooks=0)


# -- expected latency under the pattern, and the optimum -----------------------------------------


def _spent_by(seconds: float) -> float:
    """The integral of t f(t) dt from 0 to `seconds`, f the pattern's density."""
    total = 0.0
    for piece in intervals(DEADLINE):
        low, high = piece.start_seconds, min(piece.end_seconds, seconds)
        if high <= low:
            break
        total += piece.density * (high * high - low * low) / 2
    return total


def segment_latency(earlier: float, later: float) -> float:
    """Expected latency contributed by fulfilments between two consecutive checks: each is seen
    at `later`."""
    share = share_fulfilled_by(later) - share_fulfilled_by(earlier)
    return later * share - (_spent_by(later) - _spent_by(earlier))


def expected_latency(times: Sequence[int]) -> float:
    """Expected seconds from fulfilment to detection for an order following the pattern."""
    return sum(segment_latency(a, b) for a, b in itertools.pairwise(times))


def _grid() -> list[int]:
    return [*range(0, 7_200, 10), *range(7_200, 21_600, 30), *range(21_600, DEADLINE + 1, 60)]


@cache
def optimal_latencies(most_checks: int) -> dict[int, float]:
    """The least expected latency with N checks (2 <= N <= most_checks), on the grid."""
    grid = _grid()
    share = [share_fulfilled_by(t) for t in grid]
    spent = [_spent_by(t) for t in grid]

    def cost(i: int, j: int) -> float:
        return grid[j] * (share[j] - share[i]) - (spent[j] - spent[i])

    best = [0.0] + [math.inf] * (len(grid) - 1)  # one check, at 0
    found: dict[int, float] = {}
    for checks in range(2, most_checks + 1):
        best = _next_layer(best, cost)
        found[checks] = best[-1]
    return found


def _next_layer(previous: list[float], cost: Callable[[int, int], float]) -> list[float]:
    """layer[j] = min over i < j of previous[i] + cost(i, j), by divide and conquer: the best i
    for j lies between the best ones for its neighbours (the quadrangle inequality)."""
    layer = [math.inf] * len(previous)
    # An explicit stack instead of recursion: (first j, last j, lowest i, highest i).
    pending = [(1, len(previous) - 1, 0, len(previous) - 2)]
    while pending:
        low, high, choice_low, choice_high = pending.pop()
        if low > high:
            continue
        middle = (low + high) // 2
        best_value, best_choice = math.inf, choice_low
        for i in range(choice_low, min(middle - 1, choice_high) + 1):
            value = previous[i] + cost(i, middle)
            if value < best_value:
                best_value, best_choice = value, i
        layer[middle] = best_value
        pending.append((low, middle - 1, choice_low, best_choice))
        pending.append((middle + 1, high, best_choice, choice_high))
    return layer


@dataclass(frozen=True)
class FrontierPoint:
    name: str
    calls: float
    """Checks of an order never fulfilled (median over seeds)."""
    latency: float
    """Expected detection latency under the pattern (mean over seeds), seconds."""
    optimum: float
    """The optimum's expected latency with that many checks."""

    @property
    def ratio(self) -> float:
        return self.latency / self.optimum


def frontier_points(seeds: int) -> list[FrontierPoint]:
    optimum = optimal_latencies(320)
    points = []
    for policy in policies():
        schedules = [policy.times(seed) for seed in range(seeds)]
        calls = median([len(times) for times in schedules])
        latency = sum(expected_latency(times) for times in schedules) / len(schedules)
        points.append(
            FrontierPoint(policy.name, calls, latency, optimum[min(320, max(2, round(calls)))])
        )
    return points


@dataclass(frozen=True)
class Variant:
    """Another webhook-mode schedule, in the figures of the trade-off."""

    calls_at_30: float
    """Tiqets calls (median) for an order fulfilled after 30 minutes, its webhook delivered."""
    calls_never: float
    latency: float
    """Expected detection latency under the pattern with the webhook lost, seconds."""


def variant(schedule: CheckSchedule, seeds: int) -> Variant:
    schedules = [schedule_times(schedule, seed) for seed in range(seeds)]
    at_30 = [
        run(times, fulfilment_at(1_800, seed), webhook=True, delivered=True).calls
        for seed, times in enumerate(schedules)
    ]
    return Variant(
        calls_at_30=median(at_30),
        calls_never=median([len(times) for times in schedules]),
        latency=sum(expected_latency(times) for times in schedules) / len(schedules),
    )


def frontier_table(points: Sequence[FrontierPoint]) -> str:
    return table(
        [
            "schedule",
            "checks, never fulfilled",
            "expected latency",
            "optimum at that count",
            "ratio",
        ],
        [
            (
                p.name,
                f"{p.calls:g}",
                human_seconds(p.latency),
                human_seconds(p.optimum),
                f"{p.ratio:.3f}",
            )
            for p in points
        ],
    )


def pattern_table() -> str:
    return table(
        ["by", "share of pending orders fulfilled"],
        [(human_seconds(t), f"{share:.0%}") for t, share in FULFILMENT_PATTERN],
    )


# -- cost model ---------------------------------------------------------------------------------

PRICES_NOTE = (
    "List prices, us-east-1, as of 2025 (not fetched live: check the AWS pricing pages for "
    "Step Functions, Lambda, API Gateway, DynamoDB, S3 and EventBridge before relying on them)."
)
PRICE = {
    "sfn_transition": 0.025 / 1_000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second_arm64": 0.0000133334,
    "apigw_http_request": 1.00 / 1_000_000,
    "dynamodb_wru": 1.25 / 1_000_000,
    "dynamodb_rru": 0.25 / 1_000_000,
    "s3_put": 0.005 / 1_000,
    "s3_gb_month": 0.023,
    "eventbridge_event": 1.00 / 1_000_000,
}
# Assumptions of the cost model (not measured on AWS).
CHECK_GB_SECONDS = 0.256 * 0.3  # 256 MB, ~300 ms billed (a Tiqets round trip + 2 DynamoDB)
VOUCHER_GB_SECONDS = 0.512 * 1.0  # 512 MB, ~1 s to download and store a small PDF
WEBHOOK_GB_SECONDS = 0.256 * 0.1  # 256 MB, ~100 ms (one UpdateItem, one SendTaskSuccess)
# 128 MB, ~10 ms: the outcome-metrics Lambda parses one event and prints one EMF line, once per
# order (every order ends with exactly one published outcome).
OUTCOME_METRICS_GB_SECONDS = 0.128 * 0.01
VOUCHER_MB = 0.2  # stored voucher + information document, kept 30 days
RETENTION_MONTHS = 1.0


def cost(result: Run) -> dict[str, float]:
    """Dollars per order, by service."""
    lambda_requests = result.calls + int(result.done) + result.webhooks + 1
    gb_seconds = (
        result.calls * CHECK_GB_SECONDS
        + int(result.done) * VOUCHER_GB_SECONDS
        + result.webhooks * WEBHOOK_GB_SECONDS
        + OUTCOME_METRICS_GB_SECONDS
    )
    # 2 writes per check (begin_check, record_check); a park writes the task token; the outcome
    # and the end of tracking write once each; a webhook counts itself (UpdateItem).
    writes = 2 * result.calls + result.parks + 2 + result.webhooks
    return {
        "Step Functions": result.transitions * PRICE["sfn_transition"],
        "Lambda": lambda_requests * PRICE["lambda_request"]
        + gb_seconds * PRICE["lambda_gb_second_arm64"],
        "API Gateway": result.webhooks * PRICE["apigw_http_request"],
        "DynamoDB": writes * PRICE["dynamodb_wru"],
        "S3": int(result.done)
        * (2 * PRICE["s3_put"] + VOUCHER_MB / 1024 * PRICE["s3_gb_month"] * RETENTION_MONTHS),
        "EventBridge": PRICE["eventbridge_event"],
    }


# -- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    policy: str
    webhook: str
    delay: str
    calls_median: float
    calls_p95: float
    transitions_median: float
    latency_median: float | None
    latency_p95: float | None
    latency_max: float | None
    cost_median: float


def scenario_rows(seeds: int = SEEDS) -> list[Row]:
    rows: list[Row] = []
    for policy in policies():
        schedules = [policy.times(seed) for seed in range(seeds)]
        variants = [("delivered", True), ("lost", False)] if policy.webhook else [("off", False)]
        for label, delivered in variants:
            for delay_name, delay in DELAYS:
                runs = [
                    run(
                        times,
                        fulfilment_at(delay, seed),
                        webhook=policy.webhook,
                        delivered=delivered,
                    )
                    for seed, times in enumerate(schedules)
                ]
                latencies = [r.latency for r in runs if r.latency is not None]
                rows.append(
                    Row(
                        policy=policy.name,
                        webhook=label,
                        delay=delay_name,
                        calls_median=median([r.calls for r in runs]),
                        calls_p95=percentile([r.calls for r in runs], 0.95),
                        transitions_median=median([r.transitions for r in runs]),
                        latency_median=median(latencies) if latencies else None,
                        latency_p95=percentile(latencies, 0.95) if latencies else None,
                        latency_max=max(latencies) if latencies else None,
                        cost_median=median([sum(cost(r).values()) for r in runs]),
                    )
                )
    return rows


def _latency(value: float | None) -> str:
    return "timed out" if value is None else human_seconds(value)


def scenario_table(rows: Sequence[Row]) -> str:
    return table(
        [
            "policy",
            "webhook",
            "fulfilled after",
            "Tiqets calls median (p95)",
            "transitions median",
            "detection latency median / p95 / max",
            "cost per order (median)",
        ],
        [
            (
                r.policy,
                r.webhook,
                r.delay,
                f"{r.calls_median:g} ({r.calls_p95:g})",
                f"{r.transitions_median:g}",
                "0 + handling (see time to voucher)"
                if r.webhook == "delivered" and r.delay != "never"
                else f"{_latency(r.latency_median)} / {_latency(r.latency_p95)} / "
                f"{_latency(r.latency_max)}",
                f"${r.cost_median:.6f}",
            )
            for r in rows
        ],
    )


def find(rows: Sequence[Row], policy: str, webhook: str, delay: str) -> Row:
    return next(r for r in rows if (r.policy, r.webhook, r.delay) == (policy, webhook, delay))


def cost_breakdown_table() -> str:
    """Per service, for the two defaults and the 10-minute baseline, one seed-median run."""
    lines = []
    for policy in policies():
        if policy.name not in {"ours, webhook on", "ours, polling only", "fixed 10 min"}:
            continue
        variants = [("delivered", True), ("lost", False)] if policy.webhook else [("off", False)]
        times_by_seed = [policy.times(seed) for seed in range(25)]
        for label, delivered in variants:
            for delay_name, delay in (("0 s", 0), ("30 min", 1_800), ("never", None)):
                runs = sorted(
                    (
                        run(
                            t,
                            fulfilment_at(delay, seed),
                            webhook=policy.webhook,
                            delivered=delivered,
                        )
                        for seed, t in enumerate(times_by_seed)
                    ),
                    key=lambda r: r.calls,
                )
                typical = runs[len(runs) // 2]
                parts = cost(typical)
                lines.append(
                    (
                        policy.name,
                        label,
                        delay_name,
                        typical.calls,
                        typical.transitions,
                        *(f"${value * 1e6:.1f}" for value in parts.values()),
                        f"${sum(parts.values()) * 1e6:.1f}",
                    )
                )
    header = ["policy", "webhook", "fulfilled after", "calls", "transitions"]
    header += [f"{name} (µ$)" for name in cost(Run(1, 0.0, 0, True, 0))]
    header += ["total (µ$ per order)"]
    return table(header, lines)


def text_chart(rows: Sequence[Row], delay: str = "30 min") -> str:
    """Calls against median latency, one mark per policy, as text."""
    points = [
        (
            r.policy + ("" if r.webhook == "off" else f" ({r.webhook})"),
            r.calls_median,
            r.latency_median or 0.0,
        )
        for r in rows
        if r.delay == delay
    ]
    width = 50
    top = max(p[1] for p in points)
    lines = [f"Tiqets calls (bar) and median detection latency, order fulfilled after {delay}:"]
    for name, calls, latency in points:
        bar = "#" * max(1, round(calls / top * width))
        lines.append(f"{name:<30} {bar:<{width}} {calls:>5g} calls, {human_seconds(latency)}")
    return "\n".join(lines)


if __name__ == "__main__":
    all_rows = scenario_rows()
    print(pattern_table())
    print(scenario_table(all_rows))
    print(text_chart(all_rows))
    print(frontier_table(frontier_points(SEEDS)))
    print(cost_breakdown_table())
