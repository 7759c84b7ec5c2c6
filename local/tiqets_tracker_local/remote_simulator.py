"""The Tiqets simulator behind a Lambda function URL, for `make test-aws` (local-only tooling: it
ships in the test stack of local/aws/, never in the tracker's bundles).

A Lambda keeps nothing that two of its containers share, so the orders live in a DynamoDB
table: the runner writes each order's scenario and the moment it was added (`OrderBook.add`),
and the function answers every call from that item, counting tickets calls with an atomic ADD
that also picks the call's fault. It answers as `TiqetsSimulator` does (the documents, the
vouchers and the checks come from simulator.py), with three differences a function URL forces:

- a dropped connection cannot be played; the function fails instead, and the function URL
  answers 502 (for the tracker another retryable failure, like the drop);
- a voucher that lies about its length or arrives truncated or slowly cannot be played either
  (the function URL sets Content-Length itself), nor one over 4 MiB (a function URL answer
  holds 6 MB, base64 included): `playable` refuses those scenarios before a run starts;
- the webhooks come from the runner's machine (`RemoteTiqets`), which holds the same timelines
  in a `TiqetsSimulator` whose clock starts with the order's: a function cannot act later with
  no request running, and Tiqets' webhook is just a POST to the public callback URL.

`GET /clock` answers the function's own time, so the runner can place each order on AWS's
clock rather than its own (`clock_offset`): at the 60x time scale of the scenarios one second of
skew would be a simulated minute.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qs

from .servers import Running
from .simulator import (
    Fault,
    Scenario,
    TiqetsSimulator,
    is_authorized,
    is_tiqets_lang,
    order_document,
    parse_route,
    status_at,
    tickets_document,
    voucher_pdf,
)

__all__ = ["OrderBook", "RemoteTiqets", "clock_offset", "handler", "playable"]

ORDER_TABLE_ENV: Final = "SIMULATOR_ORDER_TABLE"
API_KEY_SECRET_ENV: Final = "SIMULATOR_API_KEY_SECRET"  # noqa: S105 (a variable's name)
# A function URL answer is at most 6 MB, a binary body base64-encoded: 4 MiB of voucher or
# conditions fits with room to spare (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_PLAYABLE_BYTES: Final = 4 * 1024 * 1024
# The test stack gives the function 30 s; a fault's delay must leave it time to answer.
MAX_PLAYABLE_DELAY_SECONDS: Final = 20.0
_PLAYABLE_VOUCHERS: Final = ("pdf", "not_pdf", "empty")


def playable(scenario: Scenario) -> None:
    """Refuse (ValueError) a scenario a function URL cannot act out; see the module docstring."""
    if scenario.voucher not in _PLAYABLE_VOUCHERS:
        raise ValueError(f"a {scenario.voucher!r} voucher cannot be served by a function URL")
    if (scenario.voucher_size or 0) > MAX_PLAYABLE_BYTES:
        raise ValueError(f"a voucher over {MAX_PLAYABLE_BYTES} bytes exceeds a function URL answer")
    if scenario.conditions_size > MAX_PLAYABLE_BYTES:
        raise ValueError(f"conditions over {MAX_PLAYABLE_BYTES} bytes exceed a function URL answer")
    if any(fault.delay_seconds > MAX_PLAYABLE_DELAY_SECONDS for fault in scenario.faults):
        raise ValueError(
            f"a fault's delay over {MAX_PLAYABLE_DELAY_SECONDS} s outlasts the function"
        )


def _scenario_document(scenario: Scenario) -> str:
    return json.dumps(
        {
            "timeline": [list(entry) for entry in scenario.timeline],
            "faults": [
                {
                    "status": fault.status,
                    "retry_after": fault.retry_after,
                    "delay_seconds": fault.delay_seconds,
                    "drop": fault.drop,
                    "body": None if fault.body is None else base64.b64encode(fault.body).decode(),
                }
                for fault in scenario.faults
            ],
            "voucher": scenario.voucher,
            "voucher_size": scenario.voucher_size,
            "conditions_size": scenario.conditions_size,
        }
    )


def _scenario_from_document(text: str) -> Scenario:
    document = json.loads(text)
    return Scenario(
        timeline=tuple((float(offset), str(status)) for offset, status in document["timeline"]),
        faults=tuple(
            Fault(
                status=fault["status"],
                retry_after=fault["retry_after"],
                delay_seconds=float(fault["delay_seconds"]),
                drop=bool(fault["drop"]),
                body=None if fault["body"] is None else base64.b64decode(fault["body"]),
            )
            for fault in document["faults"]
        ),
        voucher=document["voucher"],
        voucher_size=document["voucher_size"],
        conditions_size=int(document["conditions_size"]),
    )


@dataclass(frozen=True)
class BookedOrder:
    order_reference_id: str
    scenario: Scenario
    lang: str
    added_at: float
    """When the order was added, in seconds since the epoch on the function's clock."""
    time_scale: float
    ticket_calls: int

    def status(self, now: float) -> str:
        return status_at(self.scenario.timeline, (now - self.added_at) * self.time_scale)


class OrderBook:
    """The simulated orders, in the test stack's DynamoDB table."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def add(
        self,
        order_reference_id: str,
        scenario: Scenario,
        *,
        lang: str,
        added_at: float,
        time_scale: float,
    ) -> None:
        playable(scenario)
        self._dynamodb.put_item(
            TableName=self._table_name,
            Item={
                "order_reference_id": {"S": order_reference_id},
                "scenario": {"S": _scenario_document(scenario)},
                "lang": {"S": lang},
                "added_at": {"N": repr(added_at)},
                "time_scale": {"N": repr(float(time_scale))},
                "ticket_calls": {"N": "0"},
            },
            ConditionExpression="attribute_not_exists(order_reference_id)",
        )

    def get(self, order_reference_id: str) -> BookedOrder | None:
        item = self._dynamodb.get_item(
            TableName=self._table_name,
            Key={"order_reference_id": {"S": order_reference_id}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else _booked(item)

    def count_ticket_call(self, order_reference_id: str) -> BookedOrder | None:
        """Count one tickets call; the order as it was before it (its `ticket_calls` is the
        call's index, which picks its fault), None for an order not in the book."""
        try:
            item = self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"order_reference_id": {"S": order_reference_id}},
                UpdateExpression="ADD ticket_calls :one",
                ConditionExpression="attribute_exists(order_reference_id)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return _booked(item)

    def ticket_calls(self, order_reference_id: str) -> int:
        order = self.get(order_reference_id)
        if order is None:
            raise KeyError(f"no order {order_reference_id!r} in the book")
        return order.ticket_calls


def _booked(item: Mapping[str, Any]) -> BookedOrder:
    return BookedOrder(
        order_reference_id=item["order_reference_id"]["S"],
        scenario=_scenario_from_document(item["scenario"]["S"]),
        lang=item["lang"]["S"],
        added_at=float(Decimal(item["added_at"]["N"])),
        time_scale=float(Decimal(item["time_scale"]["N"])),
        ticket_calls=int(item["ticket_calls"]["N"]),
    )


class SimulatedDropError(RuntimeError):
    """Raised to play a dropped connection: the function URL answers 502 for a failed run."""


def _answer(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **(headers or {})},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def _json_answer(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return _answer(status, json.dumps(payload).encode(), headers=headers)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return _json_answer(status, {"success": False, "message": message}, headers)


class FunctionUrlSimulator:
    """Answers function URL events (payload format 2.0) as the Tiqets API would."""

    def __init__(
        self,
        orders: OrderBook,
        api_key: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._orders = orders
        self._expected_authorization = f"Token {api_key}".encode()
        self._clock = clock
        self._sleep = sleep

    def answer(self, event: Mapping[str, Any]) -> dict[str, Any]:
        http = event["requestContext"]["http"]
        method, path = http["method"], event.get("rawPath", http.get("path", "/"))
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        if method == "GET" and path == "/clock":
            return _json_answer(200, {"now": self._clock()})
        route = parse_route(path)
        if route is None:
            return _error(404, "Not found")
        if method != "GET":
            return _error(405, "Method not allowed", {"Allow": "GET"})
        kind, order_reference_id, voucher_lang = route
        if kind == "voucher":
            return self._voucher(order_reference_id, voucher_lang)
        if not is_authorized(headers.get("authorization"), self._expected_authorization):
            return _error(401, "Invalid or missing API key")
        lang = parse_qs(event.get("rawQueryString") or "").get("lang", ["en"])[-1]
        if not is_tiqets_lang(lang):
            return _error(400, "lang must be an ISO 639-1 language code")
        if kind == "order":
            order = self._orders.get(order_reference_id)
            if order is None:
                return _error(404, "Order not found")
            return _json_answer(
                200, order_document(order_reference_id, order.lang, order.status(self._clock()))
            )
        order = self._orders.count_ticket_call(order_reference_id)
        if order is None:
            return _error(404, "Order not found")
        faults = order.scenario.faults
        if order.ticket_calls < len(faults):
            faulted = self._fault(faults[order.ticket_calls])
            if faulted is not None:
                return faulted
        proto = headers.get("x-forwarded-proto", "https")
        origin = f"{proto}://{event['requestContext']['domainName']}"
        document = tickets_document(
            order_reference_id,
            order.lang,
            order.status(self._clock()),
            origin,
            order.scenario.conditions_size,
        )
        return _json_answer(200, document)

    def _fault(self, fault: Fault) -> dict[str, Any] | None:
        """The fault's answer; None when the normal answer follows (a mere delay)."""
        if fault.delay_seconds:
            self._sleep(fault.delay_seconds)
        if fault.drop:
            raise SimulatedDropError("a dropped connection, played as a failed function")
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.status is not None:
            if fault.body is not None:
                return _answer(fault.status, fault.body, headers=headers)
            return _error(fault.status, f"Simulated fault: HTTP {fault.status}", headers)
        if fault.body is not None:
            return _answer(200, fault.body)
        return None

    def _voucher(self, order_reference_id: str, lang: str) -> dict[str, Any]:
        order = self._orders.get(order_reference_id)
        if order is None or lang != order.lang:
            return _error(404, "Not found")
        if order.scenario.voucher == "not_pdf":
            page = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>\n"
            return _answer(200, page, "text/html; charset=utf-8")
        if order.scenario.voucher == "empty":
            return _answer(200, b"", "application/pdf")
        return _answer(
            200, voucher_pdf(order_reference_id, order.scenario.voucher_size), "application/pdf"
        )


@functools.cache
def _simulator_from_environment() -> FunctionUrlSimulator:
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=os.environ[API_KEY_SECRET_ENV]
    )
    return FunctionUrlSimulator(
        OrderBook(os.environ[ORDER_TABLE_ENV], boto3.client("dynamodb")), secret["SecretString"]
    )


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The test stack's function URL handler."""
    return _simulator_from_environment().answer(event)


def forget_simulator() -> None:
    """Drop the handler's cached simulator (a test's next stack has another table and key)."""
    _simulator_from_environment.cache_clear()


def clock_offset(get_json: Callable[[str], Any], base_url: str) -> float:
    """Seconds to add to this machine's clock to read the function's (from `GET /clock`, with
    the round trip halved)."""
    origin = base_url.removesuffix("/").removesuffix("/v2")
    before = time.time()
    remote = float(get_json(f"{origin}/clock")["now"])
    after = time.time()
    return remote - (before + after) / 2


class RemoteTiqets(Running):
    """Tiqets for a run against a function URL: the answers come from the function (through
    the order book), the webhooks from a `TiqetsSimulator` on this machine holding the same
    timelines. Offers what the scenarios use of a `TiqetsSimulator`."""

    def __init__(
        self,
        orders: OrderBook,
        *,
        base_url: str,
        time_scale: float,
        clock_offset_seconds: float = 0.0,
    ) -> None:
        self.base_url = base_url
        self._orders = orders
        self._time_scale = time_scale
        self._clock_offset = clock_offset_seconds
        self._webhooks = TiqetsSimulator(time_scale=time_scale)

    def start(self) -> None:
        self._webhooks.start()

    def stop(self) -> None:
        self._webhooks.stop()

    def add_order(
        self,
        order_reference_id: str,
        scenario: Scenario,
        *,
        callback_url: str | None = None,
        lang: str = "en",
    ) -> None:
        playable(scenario)
        # The local simulator checks the order as TiqetsSimulator.add_order always does, and its
        # clock, started now, sends the webhooks when the function's answers change.
        self._webhooks.add_order(order_reference_id, scenario, callback_url=callback_url, lang=lang)
        self._orders.add(
            order_reference_id,
            scenario,
            lang=lang,
            added_at=time.time() + self._clock_offset,
            time_scale=self._time_scale,
        )

    def ticket_calls(self, order_reference_id: str) -> int:
        return self._orders.ticket_calls(order_reference_id)

    def voucher_bytes(self, order_reference_id: str) -> bytes:
        return self._webhooks.voucher_bytes(order_reference_id)

    def webhook_deliveries(self, order_reference_id: str) -> list[int]:
        return self._webhooks.webhook_deliveries(order_reference_id)
