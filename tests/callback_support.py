"""What the callback URL tests of both tiers share (tests/unit/test_callbacks.py signs and
verifies in plain Python; tests/moto/test_callbacks.py loads the keys from moto)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

WEBHOOK_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/tiqets/callbacks"


def signature_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]
