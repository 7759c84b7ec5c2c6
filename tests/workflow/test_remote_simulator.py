"""The Tiqets simulator as `make test-aws` serves it from a function URL: the same answers as
the local simulator, its orders in DynamoDB (moto here), and a refusal for what a function URL
cannot play."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import use_fake_aws
from tiqets_tracker_local.remote_simulator import (
    MAX_PLAYABLE_BYTES,
    FunctionUrlSimulator,
    OrderBook,
    SimulatedDropError,
    playable,
)
from tiqets_tracker_local.simulator import SCENARIOS, Fault, Scenario, voucher_pdf

API_KEY = "sk-remote-simulator-9d2e"
TABLE = "simulated-orders"
ADDED_AT = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = ADDED_AT

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book(monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderBook]:
    use_fake_aws(monkeypatch, "eu-west-1")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "order_reference_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "order_reference_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield OrderBook(TABLE, dynamodb)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def simulator(book: OrderBook, clock: Clock, slept: list[float]) -> FunctionUrlSimulator:
    return FunctionUrlSimulator(book, API_KEY, clock=clock, sleep=slept.append)


def _event(path: str, *, query: str = "", key: str | None = API_KEY, method: str = "GET") -> Any:
    headers = {"x-forwarded-proto": "https"}
    if key is not None:
        headers["authorization"] = f"Token {key}"
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "domainName": "abc123.lambda-url.eu-west-1.on.aws",
            "http": {"method": method, "path": path},
        },
        "isBase64Encoded": False,
    }


def _body(answer: dict[str, Any]) -> bytes:
    assert answer["isBase64Encoded"] is True
    return base64.b64decode(answer["body"])


def _json(answer: dict[str, Any]) -> Any:
    return json.loads(_body(answer))


def _add(book: OrderBook, order_id: str, scenario: Scenario, lang: str = "en") -> None:
    book.add(order_id, scenario, lang=lang, added_at=ADDED_AT, time_scale=60.0)


def test_the_status_follows_the_timeline_on_the_functions_clock(
    book: OrderBook, simulator: FunctionUrlSimulator, clock: Clock
) -> None:
    _add(book, "5000001", SCENARIOS["delayed"])  # pending, done after 660 simulated seconds
    tickets = _event("/v2/orders/5000001/tickets", query="lang=en")
    assert _json(simulator.answer(tickets))["order_status"] == "pending"
    clock.now = ADDED_AT + 10.9  # 654 simulated seconds
    assert _json(simulator.answer(tickets))["tickets_pdf_url"] is None
    clock.now = ADDED_AT + 11.0
    answer = _json(simulator.answer(tickets))
    assert answer["order_status"] == "done"
    assert answer["order_reference_id"] == 5000001
    assert answer["tickets_pdf_url"] == (
        "https://abc123.lambda-url.eu-west-1.on.aws/vouchers/5000001-en.pdf"
    )
    order = _json(simulator.answer(_event("/v2/orders/5000001")))
    assert order["order_status"] == "done"
    assert order["lang"] == "en"
    assert book.ticket_calls("5000001") == 3  # the order endpoint is not a tickets call


def test_faults_come_one_per_tickets_call_in_order(
    book: OrderBook, simulator: FunctionUrlSimulator, slept: list[float]
) -> None:
    _add(
        book,
        "5000002",
        Scenario(
            faults=(
                Fault(status=429, retry_after="2"),
                Fault(status=503),
                Fault(drop=True),
                Fault(body=b"<html>oops</html>"),
                Fault(delay_seconds=1.5),
            )
        ),
    )
    tickets = _event("/v2/orders/5000002/tickets")
    throttled = simulator.answer(tickets)
    assert throttled["statusCode"] == 429
    assert throttled["headers"]["Retry-After"] == "2"
    assert simulator.answer(tickets)["statusCode"] == 503
    with pytest.raises(SimulatedDropError):  # the function URL answers 502 for it
        simulator.answer(tickets)
    assert _body(simulator.answer(tickets)) == b"<html>oops</html>"
    delayed = simulator.answer(tickets)
    assert slept == [1.5]
    assert _json(delayed)["order_status"] == "done"
    assert _json(simulator.answer(tickets))["order_status"] == "done"
    assert book.ticket_calls("5000002") == 6


def test_vouchers_are_the_bytes_the_local_simulator_serves(
    book: OrderBook, simulator: FunctionUrlSimulator
) -> None:
    _add(book, "5000003", Scenario(voucher_size=200_000), lang="de")
    _add(book, "5000004", Scenario(voucher="not_pdf"))
    _add(book, "5000005", Scenario(voucher="empty"))
    served = simulator.answer(_event("/vouchers/5000003-de.pdf", key=None))
    assert served["headers"]["Content-Type"] == "application/pdf"
    assert _body(served) == voucher_pdf("5000003", 200_000)
    assert len(_body(served)) == 200_000
    assert simulator.answer(_event("/vouchers/5000003-en.pdf"))["statusCode"] == 404
    not_pdf = simulator.answer(_event("/vouchers/5000004-en.pdf"))
    assert not_pdf["headers"]["Content-Type"].startswith("text/html")
    assert _body(simulator.answer(_event("/vouchers/5000005-en.pdf"))) == b""


def test_the_api_refuses_as_tiqets_does(book: OrderBook, simulator: FunctionUrlSimulator) -> None:
    _add(book, "5000006", Scenario())
    assert simulator.answer(_event("/v2/orders/5000006/tickets", key=None))["statusCode"] == 401
    assert simulator.answer(_event("/v2/orders/5000006/tickets", key="wrong"))["statusCode"] == 401
    assert simulator.answer(_event("/v2/orders/5000007/tickets"))["statusCode"] == 404
    assert simulator.answer(_event("/v2/orders/5000007"))["statusCode"] == 404
    assert simulator.answer(_event("/v2/products"))["statusCode"] == 404
    bad_lang = simulator.answer(_event("/v2/orders/5000006/tickets", query="lang=english"))
    assert bad_lang["statusCode"] == 400
    posted = simulator.answer(_event("/v2/orders/5000006/tickets", method="POST"))
    assert posted["statusCode"] == 405
    assert posted["headers"]["Allow"] == "GET"
    # Refusals are not tickets calls of the order: its faults stay where they were.
    assert book.ticket_calls("5000006") == 0


def test_the_clock_answers_the_functions_time(simulator: FunctionUrlSimulator) -> None:
    assert _json(simulator.answer(_event("/clock", key=None))) == {"now": ADDED_AT}


def test_an_order_is_added_once(book: OrderBook) -> None:
    _add(book, "5000008", Scenario())
    with pytest.raises(book._dynamodb.exceptions.ConditionalCheckFailedException):
        _add(book, "5000008", Scenario())


@pytest.mark.parametrize(
    ("scenario", "refusal"),
    [
        (Scenario(voucher="truncated"), "cannot be served"),
        (Scenario(voucher="wrong_length"), "cannot be served"),
        (Scenario(voucher="slow"), "cannot be served"),
        (Scenario(voucher_size=MAX_PLAYABLE_BYTES + 1), "exceeds a function URL answer"),
        (Scenario(conditions_size=MAX_PLAYABLE_BYTES + 1), "exceed a function URL answer"),
        (Scenario(faults=(Fault(delay_seconds=25.0),)), "outlasts the function"),
    ],
)
def test_what_a_function_url_cannot_play_is_refused_before_the_run(
    book: OrderBook, scenario: Scenario, refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        playable(scenario)
    with pytest.raises(ValueError, match=refusal):
        _add(book, "5000009", scenario)


def test_every_playable_scenario_is_stored_and_read_back_unchanged(book: OrderBook) -> None:
    scenarios = [
        *(s for s in SCENARIOS.values() if s.voucher in ("pdf", "not_pdf", "empty")),
        Scenario(faults=(Fault(body=b"\x00\xff not json"), Fault(status=500, body=b"{}"))),
        Scenario(conditions_size=300_000, voucher_size=4096),
    ]
    for number, scenario in enumerate(scenarios):
        order_id = f"51{number:05d}"
        _add(book, order_id, scenario)
        stored = book.get(order_id)
        assert stored is not None
        assert stored.scenario == scenario
        assert stored.added_at == ADDED_AT


def test_the_staged_bundle_imports_without_any_local_only_dependency(tmp_path: Path) -> None:
    """What aws_run stages is all the function needs: its handler imports from the bundle,
    and nothing of moto, the local stack or the test support comes with it."""
    from tiqets_tracker_local.aws_run import _stage_simulator

    bundle = tmp_path / "simulator"
    _stage_simulator(bundle)
    assert (bundle / "requirements.txt").read_text() == Path(
        "functions/requirements.txt"
    ).read_text()
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import tiqets_tracker_local.remote_simulator as m;"
        "assert m.__file__.startswith(sys.argv[1]), m.__file__;"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in"
        " ('moto', 'tests', 'pytest', 'hypothesis'));"
        "assert not bad, bad; print(m.handler.__name__)"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe, str(bundle)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "handler"
