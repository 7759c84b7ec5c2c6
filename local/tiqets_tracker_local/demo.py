"""`tiqets-tracker demo`: every outcome, through the real workflow, on this machine.

The local stack runs the real state machine and handlers on moto; the Tiqets simulator plays the
API and calls the real webhook handler over HTTP, through a local endpoint that plays API
Gateway. Time runs 60 times faster than on AWS: a simulated minute passes in a real second,
waits and timeouts are divided the same way, and the 24-hour deadline is cut to 40 minutes so
that the never-fulfilled order ends within the demo.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from tiqets_tracker_local.scenarios import (
    DEMO_PACE,
    OrderProgress,
    demo_orders,
    local_trackers,
    problems,
    render_table,
    run_scenarios,
    simulated,
)
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

API_KEY = "demo-api-key"
TIME_SCALE = DEMO_PACE.time_scale


class Demo:
    def __init__(self, out_dir: Path, stream: TextIO) -> None:
        self.out_dir = out_dir
        self.stream = stream
        self.voucher_paths: dict[str, Path] = {}
        self._started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self._started
        print(
            f"[{elapsed:5.1f}s = {simulated(elapsed, TIME_SCALE):>7}] {message}", file=self.stream
        )

    def run(self) -> list[OrderProgress]:
        from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

        with (
            TiqetsSimulator(api_key=API_KEY, time_scale=TIME_SCALE) as tiqets,
            LocalStack(
                tiqets_base_url=tiqets.base_url,
                api_key=API_KEY,
                parameters=DEMO_PACE.webhook_parameters,
            ) as stack,
            LocalWebhookEndpoint(function_name=stack.webhook_function_name) as webhook,
        ):
            self.say(f"local stack up; Tiqets simulator at {tiqets.base_url}")
            self.say(f"webhook endpoint at {webhook.url}")
            webhook_tracker, polling_tracker = local_trackers(stack, webhook.url, DEMO_PACE)
            progress = run_scenarios(
                demo_orders(),
                webhook=webhook_tracker,
                polling=polling_tracker,
                tiqets=tiqets,
                outcome_events=stack.outcome_events,
                pace=DEMO_PACE,
                say=self.say,
            )
        self._export_vouchers(progress)
        return progress

    def _export_vouchers(self, progress: list[OrderProgress]) -> None:
        folder = self.out_dir / "vouchers"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for item in progress:
            if item.voucher is None:
                continue
            path = folder / f"{item.order.order_reference_id}-{item.order.lang}.pdf"
            path.write_bytes(item.voucher)
            path.with_suffix(".json").write_bytes(item.information or b"")
            self.voucher_paths[item.order.order_reference_id] = path


def run_demo(out_dir: Path, stream: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when every order ended with its expected outcomes."""
    started = time.monotonic()
    demo = Demo(out_dir, stream)
    progress = demo.run()
    paths = demo.voucher_paths
    print("", file=stream)
    print(render_table(progress, TIME_SCALE, paths), file=stream)
    print("", file=stream)
    wall = time.monotonic() - started
    print(
        f"{sum(not problems(p) for p in progress)} of {len(progress)} orders ended as expected,"
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
                    "voucher_path": str(paths[p.order.order_reference_id])
                    if p.order.order_reference_id in paths
                    else None,
                    "problems": problems(p),
                }
                for p in progress
            ],
            indent=2,
        )
    )
    return 0 if not any(problems(p) for p in progress) else 1
