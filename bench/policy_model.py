"""Polling policy against the baselines, and the cost model.

A model, driven by the real back-off code: every check time comes from
`tiqets_tracker.backoff.next_check` with the very `seeded_rng(order, placed_at, checks_made)`
the status check uses, for `SEEDS` different order ids (the jitter's seeds). Lambda run time
between checks is left out (tens of ms against waits of minutes).

Per check round the state machine makes 3 state transitions (check, route, wait or park); an
order that ends at its first check makes 8 (done) or 7 (timed out / failed). These per-path
counts are re-measured on the local stack by `bench.stack_runs.verify_model`.

    .venv/bin/python -m bench.policy_model
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from bench.common import human_seconds, median, percentile, table  # noqa: E402
from tiqets_tracker.backoff import (  # noqa: E402
    POLLING_PROFILE,
    WEBHOOK_PROFILE,
    BackoffPolicy,
    next_check,
    seeded_rng,
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
    backoff: BackoffPolicy
    webhook: bool
    description: str


def policies() -> list[Policy]:
    return [
        Policy(
            "ours, webhook on",
            WEBHOOK_PROFILE,
            True,
            "WEBHOOK_PROFILE "
            f"(base {WEBHOOK_PROFILE.base_seconds} s, cap {WEBHOOK_PROFILE.cap_seconds} s, "
            f"x{WEBHOOK_PROFILE.multiplier}, jitter {WEBHOOK_PROFILE.jitter_ratio}), parked on "
            "a task token a webhook ends",
        ),
        Policy(
            "ours, polling only",
            POLLING_PROFILE,
            False,
            "POLLING_PROFILE "
            f"(base {POLLING_PROFILE.base_seconds} s, cap {POLLING_PROFILE.cap_seconds} s, "
            f"x{POLLING_PROFILE.multiplier}, jitter {POLLING_PROFILE.jitter_ratio})",
        ),
        Policy(
            "fixed 5 min",
            BackoffPolicy(300, 300, DEADLINE, multiplier=1.0, jitter_ratio=0.0),
            False,
            "a check every 300 s, no jitter",
        ),
        Policy(
            "fixed 10 min",
            BackoffPolicy(600, 600, DEADLINE, multiplier=1.0, jitter_ratio=0.0),
            False,
            "a check every 600 s, no jitter (Tiqets' guidance)",
        ),
        Policy(
            "plain exponential",
            BackoffPolicy(60, DEADLINE, DEADLINE, multiplier=2.0, jitter_ratio=0.1),
            False,
            "base 60 s, x2, no cap but the 24 h deadline, jitter 0.1, no webhook",
        ),
    ]


def check_times(policy: BackoffPolicy, seed: int) -> list[int]:
    """Offsets (s after placement) of every check of an order that never finishes, decided by
    the real next_check with the rng the status check seeds."""
    order = f"model-{seed}"
    placed = format_timestamp(PLACED_AT)
    offsets = [0]
    while True:
        made = len(offsets)
        decision = next_check(
            policy,
            placed_at=PLACED_AT,
            checked_at=PLACED_AT + timedelta(seconds=offsets[-1]),
            checks_made=made,
            rng=seeded_rng(order, placed, made),
        )
        if decision.wait_seconds is None:
            return offsets
        offsets.append(offsets[-1] + decision.wait_seconds)


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
VOUCHER_MB = 0.2  # stored voucher + information document, kept 30 days
RETENTION_MONTHS = 1.0


def cost(result: Run) -> dict[str, float]:
    """Dollars per order, by service."""
    lambda_requests = result.calls + int(result.done) + result.webhooks
    gb_seconds = (
        result.calls * CHECK_GB_SECONDS
        + int(result.done) * VOUCHER_GB_SECONDS
        + result.webhooks * WEBHOOK_GB_SECONDS
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
        schedules = [check_times(policy.backoff, seed) for seed in range(seeds)]
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
        times_by_seed = [check_times(policy.backoff, seed) for seed in range(25)]
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


# -- searching a better polling default ---------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    policy: BackoffPolicy
    never_calls_p95: float
    never_calls_median: float
    latency_30min_median: float
    latency_window_median: float
    worst_latency: float
    early_latency_11min_median: float

    def meets(self) -> bool:
        return (
            self.never_calls_p95 <= 150
            and self.worst_latency <= 600
            and self.latency_30min_median <= 180
        )


def evaluate(policy: BackoffPolicy, seeds: int) -> Candidate:
    schedules = [check_times(policy, seed) for seed in range(seeds)]
    never = [len(times) for times in schedules]
    at_30 = [
        run(t, fulfilment_at(1_800, seed), webhook=False, delivered=False).latency or 0.0
        for seed, t in enumerate(schedules)
    ]
    at_11 = [
        run(t, fulfilment_at(660, seed), webhook=False, delivered=False).latency or 0.0
        for seed, t in enumerate(schedules)
    ]
    # Fulfilment anywhere from 25 to 35 minutes: robust to a check landing exactly on 30:00.
    window = [
        run(t, delay, webhook=False, delivered=False).latency or 0.0
        for t in schedules
        for delay in range(1_500, 2_101, 20)
    ]
    worst = max(max(b - a for a, b in itertools.pairwise(t)) for t in schedules)
    return Candidate(
        policy=policy,
        never_calls_p95=percentile(never, 0.95),
        never_calls_median=median(never),
        latency_30min_median=median(at_30),
        latency_window_median=median(window),
        worst_latency=float(worst),
        early_latency_11min_median=median(at_11),
    )


GRID_BASES = (60, 120, 180, 210, 240, 300)
GRID_CAPS = (540, 600)
GRID_MULTIPLIERS = (1.0, 1.1, 1.2, 1.3, 1.5)
GRID_JITTERS = (0.0, 0.02, 0.05, 0.1)


def grid_search(seeds: int = 20) -> list[Candidate]:
    found: list[Candidate] = []
    for base in GRID_BASES:
        for cap in GRID_CAPS:
            for multiplier in GRID_MULTIPLIERS:
                if multiplier == 1.0 and base != cap:
                    pass  # a fixed interval at `base`: the cap never applies
                for jitter in GRID_JITTERS:
                    policy = replace(
                        POLLING_PROFILE,
                        base_seconds=base,
                        cap_seconds=cap,
                        multiplier=multiplier,
                        jitter_ratio=jitter,
                    )
                    found.append(evaluate(policy, seeds))
    return found


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Those that meet the targets, best first: lowest latency around 30 minutes (the window,
    not the single instant), then fewest calls, then more jitter (spreads load)."""
    meeting = [c for c in candidates if c.meets() and c.latency_window_median <= 180]
    return sorted(
        meeting,
        key=lambda c: (
            round(c.latency_window_median / 15),
            c.never_calls_p95,
            -c.policy.jitter_ratio,
        ),
    )


def describe_policy(policy: BackoffPolicy) -> str:
    return (
        f"base {policy.base_seconds} s, cap {policy.cap_seconds} s, x{policy.multiplier:g}, "
        f"jitter {policy.jitter_ratio:g}"
    )


def candidate_table(candidates: Sequence[Candidate]) -> str:
    return table(
        [
            "policy",
            "calls never (median / p95)",
            "worst latency",
            "latency @30 min median",
            "latency 25-35 min median",
            "latency @11 min median",
            "meets the 3 polling targets",
            "also <= 3 min over 25-35 min",
        ],
        [
            (
                describe_policy(c.policy),
                f"{c.never_calls_median:g} / {c.never_calls_p95:g}",
                human_seconds(c.worst_latency),
                human_seconds(c.latency_30min_median),
                human_seconds(c.latency_window_median),
                human_seconds(c.early_latency_11min_median),
                "yes" if c.meets() else "no",
                "yes" if c.latency_window_median <= 180 else "no",
            )
            for c in candidates
        ],
    )


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
    print(scenario_table(all_rows))
    print(text_chart(all_rows))
    print(cost_breakdown_table())
    ranked = rank(grid_search())
    print(candidate_table(ranked[:10]))
