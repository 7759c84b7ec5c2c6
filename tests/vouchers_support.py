"""What the voucher tests of both tiers share: the bucket's name and the sample event of
events/store_vouchers.json (tests/unit/test_vouchers.py reads configuration and events in plain
Python; tests/moto/test_vouchers.py stores vouchers in moto's S3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BUCKET = "tiqets-vouchers-test"
EVENT_FILE = Path(__file__).resolve().parents[1] / "events" / "store_vouchers.json"


def sample_event() -> dict[str, Any]:
    event = json.loads(EVENT_FILE.read_text("utf-8"))
    assert isinstance(event, dict)
    return event
