"""Run every benchmark and rewrite BENCHMARKS.md (`make bench`). Benchmarks measure; they
assert nothing about timings.

    .venv/bin/python bench/run.py [--quick]

--quick uses fewer seeds and orders (a smoke run; the figures are then rougher).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]

from bench import cold_start, policy_model, stack_runs, voucher_memory  # noqa: E402
from bench.common import human_seconds, table  # noqa: E402
from tiqets_tracker.backoff import POLLING_PROFILE, WEBHOOK_PROFILE  # noqa: E402

OUTPUT = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split()[1])
        memory = f", {total_kib / 1_048_576:.1f} GiB RAM"
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("moto", "boto3", "botocore", "aws-lambda-powertools", "requests")
    )
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} CPUs{memory}; Python {platform.python_version()}; {versions}"
    )


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def plot(rows: list[policy_model.Row]) -> str:
    """A PNG of calls against latency when matplotlib is installed; a note otherwise."""
    import importlib
    from typing import Any

    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return (
            "_matplotlib is not installed, so no PNG plot was drawn (it is not a dependency of "
            "the project); the text chart above shows the same trade-off._"
        )
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in sorted({(r.policy, r.webhook) for r in rows}):
        points = [
            (r.calls_median, (r.latency_median or 0.0) / 60)
            for r in rows
            if (r.policy, r.webhook) == name and r.latency_median is not None
        ]
        axis.plot(*zip(*points, strict=True), marker="o", label=f"{name[0]} ({name[1]})")
    axis.set_xscale("log")
    axis.set_xlabel("Tiqets calls per order (median)")
    axis.set_ylabel("median detection latency (min)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(ROOT / "bench" / "calls_vs_latency.png", dpi=100)
    return "![calls against latency](bench/calls_vs_latency.png)"


def main() -> None:
    quick = "--quick" in sys.argv
    began = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seeds = 40 if quick else policy_model.SEEDS

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {name}", file=sys.stderr, flush=True)

    step("policy model")
    rows = policy_model.scenario_rows(seeds)
    step("grid search for the polling default")
    candidates = policy_model.grid_search(10 if quick else 20)
    ranked = policy_model.rank(candidates)
    closest = sorted(
        (c for c in candidates if not c.meets() or c.latency_window_median > 180),
        key=lambda c: (c.never_calls_p95 > 150, c.latency_window_median),
    )[:5]
    current = policy_model.evaluate(POLLING_PROFILE, seeds)
    # The best qualifying policy again, with as many seeds as the main table.
    best = [policy_model.evaluate(ranked[0].policy, seeds)] if ranked else []
    jittered = policy_model.evaluate(
        replace(POLLING_PROFILE, base_seconds=180, multiplier=1.1, jitter_ratio=0.1), seeds
    )
    step("model against real executions")
    verification = stack_runs.verify_model()
    step("cold start")
    cold_table, ratios = cold_start.measure(3 if quick else cold_start.RUNS)
    step("voucher memory")
    memory_table, growth = voucher_memory.measure()
    step("time to voucher")
    voucher_table, callback_to_voucher = stack_runs.time_to_voucher(40 if quick else 200)
    step("throughput")
    # 200 concurrent orders take about 100 s more: run only when the smaller sizes were quick
    # (`python -m bench.stack_runs throughput` always runs them all).
    throughput_table = stack_runs.throughput((10, 25) if quick else (25, 50, 100, 200), budget=60.0)
    total = time.perf_counter() - began
    step("writing BENCHMARKS.md")

    find = policy_model.find
    hooked = "ours, webhook on"
    polling = "ours, polling only"
    delivered_30 = find(rows, hooked, "delivered", "30 min")
    delivered_never = find(rows, hooked, "delivered", "never")
    lost = [r for r in rows if r.policy == hooked and r.webhook == "lost"]
    lost_worst = max(r.latency_max or 0.0 for r in lost)
    poll = [r for r in rows if r.policy == polling]
    poll_worst = max(r.latency_max or 0.0 for r in poll)
    poll_never = find(rows, polling, "off", "never")
    poll_30 = find(rows, polling, "off", "30 min")
    handler_ratios = {m: r for m, r in ratios.items() if m != "boto3"}
    headline = table(
        ["target", "measured", "verdict"],
        [
            (
                "webhook delivered: callback to voucher stored, median < 0.5 s (local stack)",
                f"{callback_to_voucher * 1000:.0f} ms",
                verdict(callback_to_voucher < 0.5),
            ),
            (
                "webhook delivered: <= 4 Tiqets calls, order fulfilled after 30 min",
                f"median {delivered_30.calls_median:g}, p95 {delivered_30.calls_p95:g}",
                verdict(delivered_30.calls_p95 <= 4),
            ),
            (
                "webhook on: <= 30 calls for an order never fulfilled (fixed 10 min: 145)",
                f"median {delivered_never.calls_median:g}, p95 {delivered_never.calls_p95:g}",
                verdict(delivered_never.calls_p95 <= 30),
            ),
            (
                "webhook lost: worst-case detection latency bounded by the safety-net cap "
                f"({WEBHOOK_PROFILE.cap_seconds} s)",
                f"max {human_seconds(lost_worst)} over all delays and seeds",
                verdict(lost_worst <= WEBHOOK_PROFILE.cap_seconds),
            ),
            (
                "polling only: <= 150 calls for an order never fulfilled",
                f"median {poll_never.calls_median:g}, p95 {poll_never.calls_p95:g}",
                verdict(poll_never.calls_p95 <= 150),
            ),
            (
                "polling only: worst-case detection latency <= 10 min",
                f"max {human_seconds(poll_worst)}",
                verdict(poll_worst <= 600),
            ),
            (
                "polling only: median detection latency <= 3 min, fulfilled after 30 min",
                f"median {human_seconds(poll_30.latency_median or 0.0)}, "
                f"p95 {human_seconds(poll_30.latency_p95 or 0.0)}",
                verdict((poll_30.latency_median or 0.0) <= 180),
            ),
            (
                "cold start of every handler <= 1.3x a bare `import boto3`",
                ", ".join(f"{m} {r:.2f}x" for m, r in handler_ratios.items()),
                verdict(all(r <= 1.3 for r in handler_ratios.values())),
            ),
            (
                "peak memory growth storing a 50 MB voucher < 32 MB",
                f"{growth[('hashing', 50)]:.1f} MiB (hashing S3); "
                f"{growth[('moto', 50)]:.1f} MiB with moto S3, which keeps the object in memory",
                verdict(growth[("hashing", 50)] < 32),
            ),
        ],
    )

    text = f"""# Benchmarks

Generated by `make bench` (`.venv/bin/python bench/run.py`) on {stamp}; the whole run took
{total:.0f} s. Benchmarks measure; they assert nothing, and `make test` does not run them.

Machine: {machine()}.

All timings on the local stack are moto in-process on this machine: they say where time goes and
how the design compares, not what AWS will show.

## Headline: against the targets

{headline}

Current defaults: `POLLING_PROFILE` = {policy_model.describe_policy(POLLING_PROFILE)};
`WEBHOOK_PROFILE` = {policy_model.describe_policy(WEBHOOK_PROFILE)}; deadline 24 h.

## 1. Polling policy against the baselines

Reproduce: `.venv/bin/python -m bench.policy_model` (tables and the grid search).

A model driven by the real code: every check time comes from `tiqets_tracker.backoff.next_check`
with the very `seeded_rng(order, placed_at, checks_made)` the status check seeds, over {seeds}
orders (seeds) per scenario. An order "fulfilled after D" is fulfilled at D plus an offset
uniform in [0, 60) s that differs per seed (so a fixed schedule does not score a latency of 0 by
checking exactly at the instant of fulfilment); "0 s" is fulfilled at once. Lambda run time
between checks is left out (tens of ms against waits of minutes). Detection latency is
fulfilment to the check that sees `done` (the voucher is stored within a second after, see
section 5); with the webhook delivered it is the webhook handling time (section 5), shown as 0.
Tiqets sends a webhook per status change; "lost" means every delivery of it failed.

Policies: {"; ".join(f"**{p.name}**: {p.description}" for p in policy_model.policies())}.

State transitions are counted with the per-path figures measured on the local stack: an order
that ends at its first check makes {policy_model.TRANSITIONS_DONE_FIRST_CHECK} (done) or
{policy_model.TRANSITIONS_TIMEOUT_FIRST_CHECK} (timed out), and every further check round
(check, route, wait or park) adds {policy_model.TRANSITIONS_PER_ROUND}. The table below checks
that model against real short executions (scaled parameters; the model is given each
execution's real order id and placement time, so its jitter is the execution's):

Reproduce: `.venv/bin/python -m bench.stack_runs verify`.

{verification}

The fulfilment instants are chosen away from check instants: a real round takes 0.1-0.3 s on
moto, which the model leaves out, so a fulfilment a few tenths of a second after a modelled check
can be caught one check earlier in reality; each real round still adds exactly 3 transitions.

{policy_model.scenario_table(rows)}

```
{policy_model.text_chart(rows)}
{policy_model.text_chart(rows, "11 min")}
```

{plot(rows)}

### Searching a polling default that meets the targets

Reproduce: `.venv/bin/python -m bench.policy_model` (last table).

The current polling default: never fulfilled {current.never_calls_median:g} calls (p95
{current.never_calls_p95:g}); median latency for an order fulfilled after 30 min
{human_seconds(current.latency_30min_median)}, and {human_seconds(current.latency_window_median)}
for one fulfilled anywhere from 25 to 35 min.

Grid: base {policy_model.GRID_BASES} s, cap {policy_model.GRID_CAPS} s (Tiqets' 5-10 minute
guidance keeps it <= 600), multiplier {policy_model.GRID_MULTIPLIERS}, jitter
{policy_model.GRID_JITTERS}; 20 seeds each. A policy qualifies when it makes <= 150 calls (p95)
for a never-fulfilled order, waits at most 600 s, and its median latency is <= 180 s both at 30
minutes and over fulfilment anywhere from 25 to 35 minutes (the window guards against a
schedule that merely happens to check just after 30:00).

Why the targets pull against each other: fixed 10-minute polling alone makes 145 checks a day, so
<= 150 leaves about 5 checks of slack for the whole ramp; a median latency <= 3 min around 30
minutes needs waits of about 6 min or less there, and every wait shorter than 600 s spends part
of a check. Jitter costs too: with ratio j the mean wait at the cap is 600 (1 - j/2) s, so 10 %
jitter alone turns 145 checks into about 152.

Qualifying policies, best first ({len(ranked)} of {len(candidates)}):

{policy_model.candidate_table(ranked[:8]) if ranked else "_none in this grid_"}

The best of them again with {seeds} seeds, beside the current default and a jittered
compromise:

{policy_model.candidate_table([current, *best, jittered])}

What stands in the way of adopting the best qualifying policy
({policy_model.describe_policy(ranked[0].policy) if ranked else "none"}) as `POLLING_PROFILE`:
it meets
the three polling targets with no margin (150 calls, median ~3 min), and only without jitter;
orders placed in the same second would then poll Tiqets in lock-step all day (today's 10 %
jitter spreads them by up to a minute); it also detects an order fulfilled after 1 minute
later than today's ramp (its first wait is ~3.5 min instead of 1 min). It was not made the
default in this change: the template's parameter descriptions and a handler test
(tests/moto/test_check_order_status_handler.py, "60 s less up to 10 % jitter") encode today's
60-second start and have to change with it. The choice between the 150-call target and jitter
is the product owner's; relaxing the call target to about 160, or letting the cap grow past
10 minutes late in the day, would let a jittered policy meet the latency targets (the
jittered compromise in the table above).

Closest that do not qualify (a policy can meet the three targets as the issue words them, at
exactly 30 minutes, yet miss them for an order fulfilled a few minutes earlier or later: its
checks merely happen to fall just after 30:00):

{policy_model.candidate_table(closest)}

## 2. Cost model (AWS, per order)

Reproduce: `.venv/bin/python -m bench.policy_model` (the per-order cost column above and this
breakdown).

{policy_model.PRICES_NOTE}

| item | price |
|---|---|
| Step Functions Standard | $0.025 per 1,000 state transitions |
| Lambda (arm64) | $0.20 per 1M requests; $0.0000133334 per GB-second |
| API Gateway HTTP API | $1.00 per million requests |
| DynamoDB on-demand | $1.25 per million write request units; $0.25 per million read request units |
| S3 Standard | PUT $0.005 per 1,000; storage $0.023 per GB-month |
| EventBridge custom events | $1.00 per million |

Assumptions (not measured on AWS): a status check bills 256 MB x 0.3 s, a voucher store 512 MB x
1 s, a webhook 256 MB x 0.1 s; every DynamoDB write is one WRU (items < 1 KB): 2 per check
(begin, record), 1 per park (the task token), 2 at the end (outcome, end of tracking), 1 per
webhook; S3 holds a {policy_model.VOUCHER_MB} MB voucher and its information document (2 PUTs)
for a month; one outcome event per order; one API Gateway request per delivered webhook; free
tiers ignored. Step Functions transitions are 85-95 % of the cost in every scenario: the cost of
an order is, to first order, (5 + 3 x its number of checks) x $0.000025.

{policy_model.cost_breakdown_table()}

Quotas that bound orders per second (check the exact numbers in Service Quotas for the region;
they are soft limits and differ by region): `StartExecution` is throttled as a token bucket
(a bucket size and a refill rate per second, per account and region), so the order-placement
Lambda must retry `ThrottlingException` with back-off; state transitions of Standard workflows
are also a token bucket per account and region, and every check round spends 3 of them, so a
steady state of N orders in flight checking every w seconds uses about 3N/w transitions per
second (10,000 parked orders at the 10-minute cap: 50 per second); `SendTaskSuccess` (the
webhook) has its own token bucket; open executions per account are limited too (a soft limit
of the order of a million), and each tracked order is one open execution for up to 24 h.

## 3. Cold start of the handlers

Reproduce: `.venv/bin/python -m bench.cold_start`.

Fresh interpreter per run (`python -X importtime`, PYTHONPATH=functions), {cold_start.RUNS} runs,
median; "import + init" is measured inside the process, "process wall" includes interpreter
start-up. Self times by package come from `-X importtime` (which adds its own overhead).

{cold_table}

Why `check_order_status.app` costs more than a bare `import boto3` (from a `-X importtime` run,
cumulative times): it imports everything boto3 does and more. `tiqets_tracker.secret_store` imports
`aws_lambda_powertools.utilities.parameters`, whose AppConfig module imports boto3 and with it
s3transfer (about 115 ms) at import; `tiqets_tracker.tiqets` imports requests (about 95 ms with
urllib3, charset_normalizer and idna), and `tiqets_tracker.outcomes` imports
`tiqets_tracker.tiqets`. `webhook.app` imports `tiqets_tracker.secret_store` (and with it the
Parameters utility) only once a request carries a well-formed signature, and
`aws_bodies_unlogged` now lives in `tiqets_tracker.quiet_logs`. What to make lazy in the check
(the handlers were not changed by this benchmark): import the Parameters utility inside
`load_api_key`, or read the secret with a botocore Secrets Manager client from
`tiqets_tracker.aws` and cache it, so that the check never loads boto3 and
s3transfer (DynamoDB needs only botocore); requests is used by every check, so a lazy import
would only move its cost into the first invocation; talking to Tiqets through urllib3, already
loaded by botocore, would save its share (requests, charset_normalizer, idna: 30-40 ms).

## 4. Memory and time storing vouchers

Reproduce: `.venv/bin/python -m bench.voucher_memory`.

A fresh process per row runs the real `store_voucher` (download from the simulator, verify,
upload: one PutObject up to 8 MiB, multipart above) after a warm-up store; growth = peak RSS
(`VmHWM` in /proc/self/status, reset to the current RSS just before the store) minus the RSS just
before (`ru_maxrss` is not used: Linux carries it over fork and exec from the parent). The
hashing S3 is a stand-in that only hashes the bodies it is sent, so it measures our code (spool
file on disk, one part in memory) without botocore's request serialisation; moto S3 keeps every
stored byte in the process, so its figure includes the stored object itself (and moto's copies
of the parts).

{memory_table}

## 5. Time to voucher after a webhook (local stack)

Reproduce: `.venv/bin/python -m bench.stack_runs voucher 200`.

Orders parked on their task token (webhook on, back-off 600 s); for each, the Tiqets status is
set to `done` and a signed callback is POSTed over HTTP to the local API Gateway endpoint; times
come from the client and the execution's history events (millisecond timestamps). Orders are
parked in batches of 20; the callbacks are sent one at a time.

{voucher_table}

## 6. Throughput of the local stack

Reproduce: `.venv/bin/python -m bench.stack_runs throughput`.

N orders started at once (half done at once, half done after 3 s), webhook off, polling every
second; time until every execution finished, and each order checked for exactly one
`TicketsReady` event. moto's Step Functions interpreter runs each execution in its own thread,
and our handlers run in-process: everything shares one interpreter (one GIL) on this 2-core
machine, so the rate stops growing once the process is CPU-bound. A size is skipped once the
sizes before it took 60 s, to keep `make bench` well under 10 minutes; `.venv/bin/python -m
bench.stack_runs throughput` runs 25, 50, 100 and 200 (200 measured 200/200 right outcomes, 97 s,
2.1 orders per second, on 2026-11-26).

{throughput_table}
"""
    OUTPUT.write_text(text, encoding="utf-8")
    step(f"done in {total:.0f} s")


if __name__ == "__main__":
    main()
