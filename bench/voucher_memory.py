"""Memory and time storing vouchers of 1, 10 and 50 MB.

The parent serves the vouchers from the Tiqets simulator; each measurement is a fresh child
process that runs the real `store_voucher` (download, verify, upload) once on a small voucher
(so lazy imports and pools are warm), reads its resident set size, stores the big voucher and
reads the peak (`ru_maxrss`). The growth is peak minus the RSS just before.

Two S3s: "hashing S3" is a stand-in that only hashes what it is sent (so the figure is our
code's and botocore's own memory, nothing kept); "moto S3" is moto in-process, which keeps every
stored byte in this process's memory (so the stored object is counted too).

    .venv/bin/python -m bench.voucher_memory
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "local"), str(ROOT)]

from bench.common import table  # noqa: E402

SIZES_MB = (1, 10, 50)
BUCKET = "bench-vouchers"


class HashingS3:
    """The S3 calls store_voucher makes, answered without keeping any body."""

    def __init__(self) -> None:
        self.received = 0
        self._digest = hashlib.sha256()

    def _take(self, body: Any) -> None:
        data = body.read() if hasattr(body, "read") else body
        self._digest.update(data)
        self.received += len(data)

    def head_object(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def put_object(self, *, Body: Any, **_: Any) -> dict[str, Any]:  # noqa: N803
        self._take(Body)
        return {"ETag": '"x"'}

    def upload_fileobj(self, file: Any, bucket: str, key: str, **_: Any) -> None:
        """What s3transfer without threads holds: one part of the file at a time."""
        from tiqets_tracker.s3 import PART_BYTES

        while chunk := file.read(PART_BYTES):
            self._take(chunk)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux 4.0+); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(base_url: str, order_id: str, mode: str) -> dict[str, float]:
    """Runs in the fresh process: store the warm-up voucher, then the measured one."""
    from contextlib import ExitStack

    from tiqets_tracker.vouchers import VoucherConfig, VoucherRequest, store_voucher

    os.environ.update(
        {
            "VOUCHER_BUCKET_NAME": BUCKET,
            "VOUCHER_ALLOW_LOOPBACK_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    with ExitStack() as stack:
        s3: Any
        if mode == "moto":
            import boto3
            from moto import mock_aws

            stack.enter_context(mock_aws())
            s3 = boto3.client("s3", region_name="eu-west-1")
            s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        else:
            s3 = HashingS3()
        config = VoucherConfig.from_env()

        def request(order: str) -> VoucherRequest:
            return VoucherRequest.from_event(
                {
                    "order": {"order_reference_id": order, "lang": "en"},
                    "tickets_pdf_url": f"{base_url}/vouchers/{order}-en.pdf",
                }
            )

        store_voucher(request("warm"), config=config, s3=s3)
        before = _status_kib("VmRSS")
        # ru_maxrss survives fork and exec (a child started by a big parent reports the
        # parent's size); VmHWM is this process's own peak, reset here to the RSS now.
        if not _reset_peak():
            before = max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        started = time.perf_counter()
        stored = store_voucher(request(order_id), config=config, s3=s3)
        seconds = time.perf_counter() - started
        peak = _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "size_mb": stored.size / 1_048_576 if hasattr(stored, "size") else 0.0,
        "seconds": seconds,
        "rss_before_mib": before / 1024,
        "peak_growth_mib": (peak - before) / 1024,
    }


def measure() -> tuple[str, dict[tuple[str, int], float]]:
    """The table, and the peak growth in MiB by (S3, size in MB)."""
    from urllib.parse import urlsplit

    from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator

    rows = []
    growth: dict[tuple[str, int], float] = {}
    with TiqetsSimulator() as tiqets:
        parts = urlsplit(tiqets.base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        tiqets.add_order("warm", Scenario())
        for size in SIZES_MB:
            tiqets.add_order(f"size{size}", Scenario(voucher_size=size * 1_048_576))
        for mode, label in (("hashing", "hashing S3 (keeps nothing)"), ("moto", "moto S3")):
            for size in SIZES_MB:
                answer = subprocess.run(  # noqa: S603 - our interpreter, our module
                    [
                        sys.executable,
                        "-m",
                        "bench.voucher_memory",
                        "child",
                        origin,
                        f"size{size}",
                        mode,
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=300,
                )
                if answer.returncode != 0:
                    raise RuntimeError(answer.stderr[-2000:])
                result = json.loads(answer.stdout.strip().splitlines()[-1])
                growth[(mode, size)] = float(result["peak_growth_mib"])
                rows.append(
                    (
                        label,
                        f"{size} MB",
                        f"{result['seconds']:.2f} s",
                        f"{result['rss_before_mib']:.0f} MiB",
                        f"{result['peak_growth_mib']:.1f} MiB",
                    )
                )
    return (
        table(["S3", "voucher", "store_voucher time", "RSS before", "peak RSS growth"], rows),
        growth,
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        print(measure()[0])
