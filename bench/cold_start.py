"""Cold start of each Lambda handler module.

Each measurement is a fresh interpreter (PYTHONPATH=functions, as the Lambda package lays the
code out) that imports one module: the handler modules, and `boto3` as the reference. Two
figures per module, RUNS runs each, median: the import measured inside the process with
time.perf_counter (import plus the module's own initialisation, without interpreter start-up),
and the whole process's wall time. `python -X importtime` gives the self time per top-level
package, summed over the run with the median import time.

    .venv/bin/python -m bench.cold_start
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import median, table  # noqa: E402

RUNS = 10
MODULES = ("boto3", "check_order_status.app", "store_vouchers.app", "webhook.app")
# What a Lambda environment sets that the modules read at import (Powertools' service name).
ENVIRONMENT = {
    "PYTHONPATH": str(ROOT / "functions"),
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "tiqets-tracker",
    "POWERTOOLS_METRICS_NAMESPACE": "TiqetsTracker",
    "PYTHONDONTWRITEBYTECODE": "",
}


def one_run(module: str) -> tuple[float, float, dict[str, float]]:
    """(import seconds, process wall seconds, self seconds per top-level package)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | ENVIRONMENT
    environ.pop("PYTHONDONTWRITEBYTECODE")
    started = time.perf_counter()
    answer = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
        timeout=120,
    )
    wall = time.perf_counter() - started
    by_package: dict[str, float] = defaultdict(float)
    for line in answer.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        by_package[name.strip().split(".")[0]] += int(self_us) / 1e6
    return float(answer.stdout.strip().splitlines()[-1]), wall, dict(by_package)


def measure(runs: int = RUNS) -> tuple[str, dict[str, float]]:
    """The table, and the ratio of each handler's median import to boto3's."""
    rows = []
    medians: dict[str, float] = {}
    for module in MODULES:
        one_run(module)  # bytecode caches written, file system warm
    # Round-robin, so a burst of load on the machine hits every module alike.
    samples: dict[str, list[tuple[float, float, dict[str, float]]]] = {m: [] for m in MODULES}
    for _ in range(runs):
        for module in MODULES:
            samples[module].append(one_run(module))
    for module in MODULES:
        imports = [s[0] for s in samples[module]]
        walls = [s[1] for s in samples[module]]
        medians[module] = median(imports)
        typical = sorted(samples[module], key=lambda s: s[0])[len(imports) // 2][2]
        top = sorted(typical.items(), key=lambda item: -item[1])[:5]
        rows.append(
            [
                f"`{module}`",
                f"{median(imports) * 1000:.0f} ms (min {min(imports) * 1000:.0f})",
                f"{median(walls) * 1000:.0f} ms",
                "",
                ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in top),
            ]
        )
    reference = medians["boto3"]
    ratios = {module: medians[module] / reference for module in MODULES}
    for row, module in zip(rows, MODULES, strict=True):
        row[3] = f"{ratios[module]:.2f}x"
    return (
        table(
            [
                "module",
                "import + init (median, min)",
                "process wall (median)",
                "vs boto3",
                "largest self import times (by top-level package)",
            ],
            rows,
        ),
        ratios,
    )


if __name__ == "__main__":
    print(measure()[0])
