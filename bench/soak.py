"""The soak campaign (`make soak`, not part of `make test`): rounds of N concurrent orders of
mixed scenarios with Tiqets and AWS faults on the local stack, every order checked for its right
outcome, exactly one event per outcome and a byte-identical voucher
(local/tiqets_tracker_local/oracles/load.py); the figures of each round go into RELIABILITY.md.

    .venv/bin/python bench/soak.py [--rounds 200,800] [--seed soak-1] [--no-write]
        [--save figures.json]
    .venv/bin/python bench/soak.py --from-json figures.json   # rewrite RELIABILITY.md only

Each round runs in a fresh process (one local stack per process, and a peak RSS of its own).
A round that does not finish within its time limit ends the campaign: larger rounds are skipped.
Every round also searches everything it produced for its secrets
(tiqets_tracker_local/oracles/leaks.py).
Exit status 0 only when every round was right and no secret was found.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]

from bench.common import median, percentile, table  # noqa: E402
from bench.run import machine  # noqa: E402

if TYPE_CHECKING:
    from tiqets_tracker_local.oracles.leaks import LeakScan

OUTPUT = ROOT / "RELIABILITY.md"
BEGIN_MARK = "<!-- soak figures: begin (bench/soak.py rewrites this part) -->"
END_MARK = "<!-- soak figures: end -->"
DEFAULT_ROUNDS = (200, 800)
DEFAULT_SEED = "soak-1"


def round_timeout(orders: int) -> float:
    """Seconds a round may take before it counts as not finished."""
    return 180.0 + 2.0 * orders


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- one round, in its own process -------------------------------------------------------------


@contextmanager
def output_captured(folder: Path) -> Iterator[tuple[TextIO, list[Path]]]:
    """Everything this process writes to its stdout and stderr goes to files in `folder` (at the
    file descriptor, whatever stream a logger bound), to be searched for secrets; yields a
    stream to the real stderr, for progress, and the files."""
    files = [folder / "stdout.txt", folder / "stderr.txt"]
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, path in zip((1, 2), files, strict=True):
        with path.open("wb") as captured:
            os.dup2(captured.fileno(), fd)
    progress = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    try:
        yield progress, files
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
        progress.close()


def one_round(orders: int, seed: str, first_id: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, output_captured(Path(folder)) as (to_user, files):
        figures, scan = _tracked_and_scanned(orders, seed, first_id, to_user)
        scan.search_printed(
            line for path in files for line in path.read_text("utf-8", "replace").splitlines()
        )
    return figures | {
        "secrets_found": len(scan.leaks),
        "leaks": scan.leaks[:20],
        "searched": dict(scan.searched),
        "task_tokens": scan.task_tokens,
    }


def _tracked_and_scanned(
    orders: int, seed: str, first_id: int, progress_stream: TextIO
) -> tuple[dict[str, Any], LeakScan]:
    from tiqets_tracker_local.oracles.leaks import scan_stack
    from tiqets_tracker_local.oracles.load import STACK_PARAMETERS, plan_orders, run_round
    from tiqets_tracker_local.simulator import TiqetsSimulator
    from tiqets_tracker_local.stack import LocalStack
    from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

    def progress(message: str) -> None:
        print(f"    [{orders}] {message}", file=progress_stream, flush=True)

    # Powertools' metrics are one object per handler module, shared by the handler's concurrent
    # in-process invocations, which it warns about (a Lambda runs one invocation at a time).
    warnings.filterwarnings("ignore", module=r"aws_lambda_powertools\.")

    # A fresh canary key each round: finding it anywhere but in the simulator is a leak.
    api_key = f"sk-soak-{secrets.token_hex(16)}"
    plan = plan_orders(orders, seed=seed, first_id=first_id)
    with (
        TiqetsSimulator(api_key=api_key) as tiqets,
        LocalStack(
            tiqets_base_url=tiqets.base_url,
            api_key=api_key,
            parameters=STACK_PARAMETERS,
            log_level="INFO",
        ) as stack,
    ):
        assert stack.webhook_function_name
        with LocalWebhookEndpoint(stack.webhook_function_name) as endpoint:
            result = run_round(
                stack, tiqets, endpoint, plan, timeout=round_timeout(orders), progress=progress
            )
        # Before the search, which reads every stored voucher back.
        peak_rss = peak_rss_mib()
        progress("searching everything the round produced for the keys and task tokens")
        scan = scan_stack(stack, api_key=api_key)
    latencies = [
        value for values in result.latencies.values() for value in values if math.isfinite(value)
    ]
    figures = {
        "orders": result.orders,
        "seed": seed,
        "kinds": dict(result.kinds),
        "faults": dict(result.faults),
        "aws_faults_planned": dict(result.aws_faults_planned),
        "aws_faults_fired": dict(result.aws_faults_fired),
        "correct": result.correct,
        "finished": result.finished,
        "wrong_orders": len(result.problems),
        "problems": dict(sorted(result.problems.items())[:20]),
        "start_seconds": result.start_seconds,
        "wall_seconds": result.wall_seconds,
        "orders_per_second": result.orders_per_second,
        "events": result.events,
        "expected_events": result.expected_events,
        "missing_events": result.missing_events,
        "duplicate_events": result.duplicate_events,
        "vouchers_checked": result.vouchers_checked,
        "voucher_mismatches": result.voucher_mismatches,
        "executions": result.executions,
        "unsuccessful_executions": result.unsuccessful_executions,
        "tiqets_calls": result.tiqets_calls,
        "webhook_deliveries": {str(k): v for k, v in result.webhook_deliveries.items()},
        "woken": result.woken,
        "latency_median": median(latencies) if latencies else None,
        "latency_p95": percentile(latencies, 0.95) if latencies else None,
        "latency_max": max(latencies) if latencies else None,
        "latency_by_kind": {
            name: [median(finite), max(finite)]
            for name, values in result.latencies.items()
            if (finite := [value for value in values if math.isfinite(value)])
        },
        "peak_threads": result.peak_threads,
        "peak_rss_mib": peak_rss,
    }
    return figures, scan


# -- the campaign --------------------------------------------------------------------------------


@dataclass
class Round:
    orders: int
    figures: dict[str, Any] | None
    note: str = ""


def run_campaign(rounds: tuple[int, ...], seed: str) -> list[Round]:
    results: list[Round] = []
    stop = False
    for index, orders in enumerate(rounds):
        if stop:
            results.append(Round(orders, None, "skipped: the round before did not finish"))
            continue
        print(f"round {index + 1}/{len(rounds)}: {orders} concurrent orders", file=sys.stderr)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "round.json"
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--one-round",
                str(orders),
                "--seed",
                seed,
                "--first-id",
                str(10_000_000 + index * 1_000_000),
                "--json",
                str(out),
            ]
            completed = subprocess.run(command, check=False, cwd=ROOT)  # noqa: S603
            if completed.returncode != 0 or not out.exists():
                results.append(Round(orders, None, f"crashed (exit {completed.returncode})"))
                stop = True
                continue
            figures = json.loads(out.read_text())
        results.append(Round(orders, figures))
        print(
            f"  -> {'all correct' if figures['correct'] else 'NOT ALL CORRECT'}, "
            f"{figures['wall_seconds']:.0f} s, {figures['orders_per_second']:.2f} orders/s, "
            f"peak RSS {figures['peak_rss_mib']:.0f} MiB",
            file=sys.stderr,
        )
        if not figures["finished"]:
            stop = True
    return results


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def summary_table(results: list[Round]) -> str:
    rows = []
    for result in results:
        f = result.figures
        if f is None:
            rows.append((result.orders, result.note, *[""] * 13))
            continue
        rows.append(
            (
                f["orders"],
                "**yes**" if f["correct"] else f"**no** ({f['wrong_orders']} orders wrong)",
                f"{f['events']} / {f['expected_events']}",
                f["duplicate_events"],
                f["missing_events"],
                f"{f['voucher_mismatches']} of {f['vouchers_checked']}",
                f"**{f['secrets_found']}**" if f["secrets_found"] else "0",
                f"{f['executions']} ({f['unsuccessful_executions']} not SUCCEEDED)",
                f["tiqets_calls"],
                f"{f['start_seconds']:.0f} s",
                f"{f['wall_seconds']:.0f} s",
                f"{f['orders_per_second']:.2f}",
                f"{_seconds(f['latency_median'])} / {_seconds(f['latency_p95'])} / "
                f"{_seconds(f['latency_max'])}",
                f["peak_threads"],
                f"{f['peak_rss_mib']:.0f} MiB",
            )
        )
    return table(
        [
            "orders",
            "all correct",
            "events / expected",
            "duplicate events",
            "missing events",
            "voucher mismatches",
            "secrets found",
            "executions",
            "Tiqets calls",
            "time to start all",
            "wall time",
            "orders/s",
            "placement to outcome: median / p95 / max",
            "peak extra threads",
            "peak RSS",
        ],
        rows,
    )


def mix_table(results: list[Round]) -> str:
    from tiqets_tracker_local.oracles.load import ORDER_KINDS

    done = [r for r in results if r.figures is not None]
    rows = []
    for kind in ORDER_KINDS:
        cells: list[object] = [kind.name, kind.description, ", ".join(kind.expected)]
        for result in done:
            assert result.figures is not None
            count = result.figures["kinds"].get(kind.name, 0)
            latency = result.figures["latency_by_kind"].get(kind.name)
            cells.append(
                f"{count} ({latency[0]:.1f} s / {latency[1]:.1f} s)" if latency else str(count)
            )
        rows.append(cells)
    header = ["kind", "scenario", "expected events"] + [
        f"N={r.orders}: orders (median / max to outcome)" for r in done
    ]
    return table(header, rows)


def fault_table(results: list[Round]) -> str:
    """Tiqets faults served and AWS faults met (calls acted on / aimed at), per round."""
    done = [r for r in results if r.figures is not None]
    tiqets: Counter[str] = Counter()
    aws: Counter[str] = Counter()
    for result in done:
        assert result.figures is not None
        tiqets.update(result.figures["faults"])
        aws.update(result.figures.get("aws_faults_planned", {}))
    rows: list[list[str]] = [
        [f"Tiqets: {name}"] + [str((r.figures or {})["faults"].get(name, 0)) for r in done]
        for name in sorted(tiqets)
    ]
    rows += [
        [f"AWS: {name}"]
        + [
            f"{(r.figures or {}).get('aws_faults_fired', {}).get(name, 0)} calls, "
            f"{(r.figures or {}).get('aws_faults_planned', {}).get(name, 0)} orders"
            for r in done
        ]
        for name in sorted(aws)
    ]
    return table(["fault"] + [f"N={r.orders}" for r in done], rows)


def problems_text(results: list[Round]) -> str:
    lines = []
    for result in results:
        if result.figures and result.figures["problems"]:
            lines.append(f"N={result.orders} (first 20 orders):")
            for order, problems in result.figures["problems"].items():
                lines.append(f"- {order}: {'; '.join(problems)}")
    return "\n".join(lines) if lines else "None: every order of every round was right."


def secrets_text(results: list[Round]) -> str:
    """What each round searched for the keys and task tokens, and any find (cut short)."""
    lines = []
    for result in results:
        f = result.figures
        if f is None:
            continue
        searched = ", ".join(f"{count} {place}" for place, count in f["searched"].items())
        lines.append(
            f"- N={result.orders}: {f['secrets_found']} found in {searched}; searched for the"
            f" round's API key, webhook signing key and its {f['task_tokens']} task tokens."
        )
        lines.extend(f"  - {leak}" for leak in f["leaks"])
    return "\n".join(lines)


def all_right(results: list[Round]) -> bool:
    """Every round ran, every order was right and no secret was found anywhere."""
    return all(
        r.figures and r.figures["correct"] and not r.figures["secrets_found"] for r in results
    )


def figures_block(results: list[Round], seed: str, command: str, took: float, stamp: str) -> str:
    webhook = "; ".join(
        f"N={r.orders}: "
        + ", ".join(
            f"{count} answered {status if status != '0' else 'nothing (timed out)'}"
            for status, count in sorted(r.figures["webhook_deliveries"].items())
        )
        + f"; {r.figures['woken']} of {r.figures['kinds'].get('woken', 0)} 'woken' orders "
        "had a park ended by their webhook"
        for r in results
        if r.figures is not None
    )
    return f"""{BEGIN_MARK}
Run: `{command}` on {stamp} (seed `{seed}`); the campaign took {took / 60:.1f} min.

Machine: {machine()}.

{summary_table(results)}

"events / expected": outcome events received on the subscriber queue for the round's orders,
against the events the mix must produce (one per order, two for a cancellation after `done`).
"placement to outcome": `decided_at` minus `placed_at` of each order's first outcome event.

Order mix (per round: orders of the kind, and median / max seconds from placement to the first
outcome):

{mix_table(results)}

Faults: Tiqets faults by the status calls they answered (each fails the call, except the slow
answer); AWS faults by the calls they acted on and the orders they were aimed at.

{fault_table(results)}

Webhook deliveries by the simulator: {webhook}.

Secrets (the search of `tiqets_tracker_local/oracles/leaks.py`: every line the round's process
printed, its handlers' logs at INFO among them; every execution history and description; every
error in them; every outcome and sweep event; every tracking record; every version of every stored
object, with its metadata and tags; task tokens everywhere but in the histories themselves):

{secrets_text(results)}

Orders found wrong:

{problems_text(results)}
{END_MARK}"""


def write_reliability(block: str) -> None:
    if OUTPUT.exists():
        text = OUTPUT.read_text(encoding="utf-8")
        if BEGIN_MARK in text and END_MARK in text:
            head, _, rest = text.partition(BEGIN_MARK)
            _, _, tail = rest.partition(END_MARK)
            OUTPUT.write_text(head + block + tail, encoding="utf-8")
            return
        OUTPUT.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    OUTPUT.write_text(f"# Reliability\n\n{block}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", default=",".join(str(n) for n in DEFAULT_ROUNDS))
    parser.add_argument("--seed", default=DEFAULT_SEED)
    parser.add_argument("--no-write", action="store_true", help="do not rewrite RELIABILITY.md")
    parser.add_argument(
        "--save", type=Path, help="also write every round's figures to this JSON file"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="rewrite RELIABILITY.md from figures saved with --save instead of running",
    )
    parser.add_argument("--one-round", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first-id", type=int, default=10_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_round is not None:
        figures = one_round(args.one_round, args.seed, args.first_id)
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=1))
        else:
            print(json.dumps(figures, indent=1))
        return 0
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        results = [Round(r["orders"], r["figures"], r["note"]) for r in saved["rounds"]]
        command, took, stamp = saved["command"], saved["seconds"], saved["stamp"]
        seed = saved["seed"]
    else:
        rounds = tuple(int(part) for part in args.rounds.split(",") if part.strip())
        began = time.perf_counter()
        results = run_campaign(rounds, args.seed)
        took = time.perf_counter() - began
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        seed = args.seed
        command = (
            "make soak"
            if rounds == DEFAULT_ROUNDS and seed == DEFAULT_SEED
            else f".venv/bin/python bench/soak.py --rounds {args.rounds} --seed {seed}"
        )
        if args.save is not None:
            args.save.write_text(
                json.dumps(
                    {
                        "command": command,
                        "seed": seed,
                        "seconds": took,
                        "stamp": stamp,
                        "rounds": [vars(result) for result in results],
                    },
                    indent=1,
                )
            )
    print(summary_table(results))
    if not args.no_write:
        write_reliability(figures_block(results, seed, command, took, stamp))
        print(f"wrote {OUTPUT.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all_right(results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
