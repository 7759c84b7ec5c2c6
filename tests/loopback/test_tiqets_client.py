"""The Tiqets client against the local simulator on loopback: parsing, the sorting of every
failure into the project's errors, input validation, connection reuse, and keeping the API key
secret. Its parsers and settings in plain Python: tests/unit/test_tiqets_client.py."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from tiqets_tracker.errors import (
    TiqetsRequestRejectedError,
    TiqetsResponseInvalidError,
    TiqetsUnavailableError,
)
from tiqets_tracker.tiqets import (
    MAX_ANSWER_BYTES,
    OrderStatus,
    Tickets,
    TiqetsClient,
)
from tiqets_tracker_local.simulator import Fault, Scenario, TiqetsSimulator

pytestmark = pytest.mark.loopback

API_KEY = "sim-test-key-42"
SECRET = "sk-test-SECRET-123"


@pytest.fixture
def simulator() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def client(simulator: TiqetsSimulator) -> Iterator[TiqetsClient]:
    tiqets = TiqetsClient(API_KEY, simulator.base_url, connect_timeout=2.0, read_timeout=5.0)
    yield tiqets
    tiqets.close()


def faulty(*faults: Fault) -> Scenario:
    return Scenario(timeline=((0.0, "done"),), faults=faults)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class RecordingAdapter(HTTPAdapter):
    """An adapter that remembers what each request was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.sent.append((request, kwargs))
        return super().send(request, **kwargs)


# -- parsing ---------------------------------------------------------------------------------


def test_a_done_order_comes_back_with_its_absolute_voucher_url(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", "instant")

    tickets = client.get_tickets("1111111")

    assert tickets.status is OrderStatus.DONE
    assert tickets.order_reference_id == "1111111"
    assert tickets.tickets_pdf_url == f"{simulator.base_url[:-4]}/vouchers/1111111-en.pdf"


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        ("pending", OrderStatus.PENDING),
        ("new", OrderStatus.NEW),
        ("failed", OrderStatus.FAILED),
        ("cancelled", OrderStatus.CANCELLED),
        ("canceled", OrderStatus.CANCELLED),
        (" DONE ", OrderStatus.DONE),
    ],
)
def test_each_order_status_is_read_and_only_done_has_a_voucher_url(
    simulator: TiqetsSimulator, client: TiqetsClient, served: str, expected: OrderStatus
) -> None:
    simulator.add_order("order-1", Scenario(timeline=((0.0, served),)))

    tickets = client.get_tickets("order-1")

    assert tickets.status is expected
    assert (tickets.tickets_pdf_url is not None) == (expected is OrderStatus.DONE)


def test_the_informational_fields_are_kept_as_found(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", "always_pending")

    information = client.get_tickets("1111111").information

    assert information["inclusions"] == ["Entry ticket", "Audio guide"]
    assert information["starting_point"]["lat"] == pytest.approx(52.358)
    assert {"how_to_use", "important_information", "post_purchase_information"} <= set(information)
    assert not {"order_reference_id", "order_status", "tickets_pdf_url"} & set(information)


def test_an_answer_without_an_order_reference_id_is_filed_under_the_requested_one(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("abc", faulty(Fault(body=b'{"order_status": "pending", "x": null}')))

    tickets = client.get_tickets("abc")

    assert tickets == Tickets("abc", OrderStatus.PENDING, None, {"x": None})


def test_an_answer_about_another_order_is_invalid(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    body = b'{"order_reference_id": 2222222, "order_status": "pending"}'
    simulator.add_order("1111111", faulty(Fault(body=body)))

    with pytest.raises(TiqetsResponseInvalidError, match=r"about order .2222222."):
        client.get_tickets("1111111")


def test_an_answer_over_the_size_bound_is_invalid_and_not_read_whole(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    filler = b"x" * (MAX_ANSWER_BYTES + 1)
    simulator.add_order(
        "1111111", faulty(Fault(body=b'{"order_status": "done", "conditions": "' + filler + b'"}'))
    )

    with pytest.raises(TiqetsResponseInvalidError, match="more than 5242880 bytes"):
        client.get_tickets("1111111")


def test_an_answer_of_300_kb_of_free_text_is_read(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", Scenario(conditions_size=300_000))

    tickets = client.get_tickets("1111111")

    assert len(tickets.information["conditions"]) == 300_000


def test_the_base_url_works_without_its_trailing_slash(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")
    tiqets = TiqetsClient(API_KEY, simulator.base_url.rstrip("/"))

    assert tiqets.get_tickets("1111111").status is OrderStatus.DONE
    assert tiqets.base_url == simulator.base_url


# -- the request -----------------------------------------------------------------------------


def test_the_request_carries_the_token_json_accept_a_user_agent_and_both_timeouts(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", "instant")
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    tiqets = TiqetsClient(
        API_KEY, simulator.base_url, connect_timeout=1.5, read_timeout=4.0, session=session
    )

    tiqets.get_tickets("1111111", lang="nl")

    [(request, options)] = adapter.sent
    assert request.headers["Authorization"] == f"Token {API_KEY}"
    assert request.headers["Accept"] == "application/json"
    assert "tiqets-tracker" in request.headers["User-Agent"]
    assert request.url == f"{simulator.base_url}orders/1111111/tickets?lang=nl"
    assert options["timeout"] == (1.5, 4.0)
    assert simulator.request_log()[-1]["authorized"] == "yes"


def test_one_connection_is_reused_across_calls(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", "always_pending")

    for _ in range(3):
        client.get_tickets("1111111")

    assert simulator.ticket_calls("1111111") == 3
    assert simulator.connection_count() == 1


def test_the_client_never_retries_by_itself(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("a", faulty(Fault(status=503)))
    simulator.add_order("b", faulty(Fault(drop=True)))

    with pytest.raises(TiqetsUnavailableError):
        client.get_tickets("a")
    with pytest.raises(TiqetsUnavailableError):
        client.get_tickets("b")

    assert simulator.ticket_calls("a") == 1
    assert simulator.ticket_calls("b") == 1


@pytest.mark.parametrize(
    "order_reference_id", ["../etc", "", "a" * 65, "a/b", "a b", "caf\u00e9", "1?x=1", "%2e%2e"]
)
def test_an_order_id_that_is_not_path_safe_is_refused_before_any_request(
    simulator: TiqetsSimulator, client: TiqetsClient, order_reference_id: str
) -> None:
    with pytest.raises(ValueError, match="order_reference_id"):
        client.get_tickets(order_reference_id)

    assert simulator.request_log() == []


@pytest.mark.parametrize("lang", ["EN", "eng", "e1", "", "e"])
def test_a_language_that_is_not_two_lowercase_letters_is_refused_before_any_request(
    simulator: TiqetsSimulator, client: TiqetsClient, lang: str
) -> None:
    simulator.add_order("1111111", "instant")

    with pytest.raises(ValueError, match="lang"):
        client.get_tickets("1111111", lang=lang)

    assert simulator.request_log() == []


# -- refusals --------------------------------------------------------------------------------


def test_a_wrong_api_key_is_a_rejection_with_status_401(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")
    tiqets = TiqetsClient("not-the-key", simulator.base_url)

    with pytest.raises(TiqetsRequestRejectedError, match="API key") as raised:
        tiqets.get_tickets("1111111")

    assert raised.value.status_code == 401
    assert simulator.ticket_calls("1111111") == 0


def test_an_unknown_order_is_a_rejection_with_status_404(client: TiqetsClient) -> None:
    with pytest.raises(TiqetsRequestRejectedError) as raised:
        client.get_tickets("9999999")

    assert raised.value.status_code == 404
    assert "404" in raised.value.reason


@pytest.mark.parametrize("status", [400, 403, 405, 409, 418, 422])
def test_a_client_error_status_is_a_rejection(
    simulator: TiqetsSimulator, client: TiqetsClient, status: int
) -> None:
    simulator.add_order("1111111", faulty(Fault(status=status)))

    with pytest.raises(TiqetsRequestRejectedError) as raised:
        client.get_tickets("1111111")

    assert raised.value.status_code == status
    assert raised.value.reason.startswith(f"Tiqets answered HTTP {status}")


# -- unavailability --------------------------------------------------------------------------


def test_too_many_requests_carries_the_retry_after_seconds(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", faulty(Fault(status=429, retry_after="7")))

    with pytest.raises(TiqetsUnavailableError) as raised:
        client.get_tickets("1111111")

    assert not isinstance(raised.value, TiqetsResponseInvalidError)
    assert raised.value.retry_after_seconds == 7
    assert "429" in raised.value.reason


def test_too_many_requests_without_retry_after_has_no_retry_after_seconds(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", faulty(Fault(status=429)))

    with pytest.raises(TiqetsUnavailableError) as raised:
        client.get_tickets("1111111")

    assert raised.value.retry_after_seconds is None


def test_a_retry_after_http_date_becomes_the_seconds_until_then(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    simulator.add_order("1111111", faulty(Fault(status=503, retry_after=later)))

    with pytest.raises(TiqetsUnavailableError) as raised:
        client.get_tickets("1111111")

    assert raised.value.retry_after_seconds is not None
    assert 60 < raised.value.retry_after_seconds <= 120


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 599])
def test_a_server_error_status_is_unavailability(
    simulator: TiqetsSimulator, client: TiqetsClient, status: int
) -> None:
    simulator.add_order("1111111", faulty(Fault(status=status)))

    with pytest.raises(TiqetsUnavailableError) as raised:
        client.get_tickets("1111111")

    assert type(raised.value) is TiqetsUnavailableError
    assert raised.value.reason.startswith(f"Tiqets answered HTTP {status}")


def test_an_answer_slower_than_the_read_timeout_is_unavailability_named_timeout(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", faulty(Fault(delay_seconds=2.0)))
    tiqets = TiqetsClient(API_KEY, simulator.base_url, read_timeout=0.2)

    with pytest.raises(TiqetsUnavailableError, match="timeout") as raised:
        tiqets.get_tickets("1111111")

    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


def test_a_dropped_connection_is_unavailability(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", faulty(Fault(drop=True)))

    with pytest.raises(TiqetsUnavailableError, match="connection") as raised:
        client.get_tickets("1111111")

    assert type(raised.value) is TiqetsUnavailableError


def test_nobody_listening_is_unavailability() -> None:
    tiqets = TiqetsClient(API_KEY, f"http://127.0.0.1:{unused_port()}/v2/", connect_timeout=1.0)

    with pytest.raises(TiqetsUnavailableError, match="connection"):
        tiqets.get_tickets("1111111")


def test_a_redirect_is_not_followed_and_counts_as_an_invalid_answer(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", faulty(Fault(status=302)))

    with pytest.raises(TiqetsResponseInvalidError, match="302"):
        client.get_tickets("1111111")

    assert simulator.ticket_calls("1111111") == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Bad gateway</html>",
        b'{"order_status": "done"',
        b"",
        b"\xff\xfe\x00garbage",
        b'["done"]',
        b'{"order_status": NaN}',
        b'{"order_reference_id": "1111111"}',
        b'{"order_status": "shipped"}',
        b'{"order_status": 3}',
        b'{"order_status": "done"}',
        b'{"order_status": "done", "tickets_pdf_url": null}',
        b'{"order_status": "done", "tickets_pdf_url": "/vouchers/1.pdf"}',
        b'{"order_status": "done", "tickets_pdf_url": "ftp://example.com/1.pdf"}',
        b'{"order_status": "done", "tickets_pdf_url": "https://"}',
        b'{"order_status": "done", "tickets_pdf_url": "https://exa mple.com/1.pdf"}',
        b'{"order_status": "done", "tickets_pdf_url": 42}',
        b'{"order_status": "pending", "order_reference_id": true}',
    ],
)
def test_a_200_with_an_unusable_body_is_an_invalid_answer(
    simulator: TiqetsSimulator, client: TiqetsClient, body: bytes
) -> None:
    simulator.add_order("1111111", faulty(Fault(body=body)))

    with pytest.raises(TiqetsResponseInvalidError) as raised:
        client.get_tickets("1111111")

    assert raised.value.reason.startswith("Tiqets answered")
    assert raised.value.__context__ is None


def test_an_unknown_status_is_named_in_the_error(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    simulator.add_order("1111111", faulty(Fault(body=b'{"order_status": "shipped"}')))

    with pytest.raises(TiqetsResponseInvalidError, match="shipped"):
        client.get_tickets("1111111")


def test_a_pending_order_ignores_a_stray_voucher_url(
    simulator: TiqetsSimulator, client: TiqetsClient
) -> None:
    body = b'{"order_status": "pending", "tickets_pdf_url": "not a url"}'
    simulator.add_order("1111111", faulty(Fault(body=body)))

    assert client.get_tickets("1111111").tickets_pdf_url is None


# -- secrecy ---------------------------------------------------------------------------------


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def test_the_api_key_appears_in_no_log_error_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    caplog.set_level(logging.DEBUG, logger="tiqets_tracker")
    scenarios = {
        "ok": Scenario(timeline=((0.0, "done"),)),
        "pending": Scenario(timeline=((0.0, "pending"),)),
        "s401": faulty(Fault(status=401)),
        "s404": faulty(Fault(status=404)),
        "s429": faulty(Fault(status=429, retry_after="7")),
        "s503": faulty(Fault(status=503)),
        "slow": faulty(Fault(delay_seconds=2.0)),
        "drop": faulty(Fault(drop=True)),
        "junk": faulty(Fault(body=b"not json")),
        "badurl": faulty(Fault(body=b'{"order_status": "done", "tickets_pdf_url": "x"}')),
    }
    errors: list[BaseException] = []
    results: list[Tickets] = []
    with (
        TiqetsSimulator(api_key=SECRET) as simulator,
        TiqetsSimulator(api_key="another-key") as stranger,
    ):
        for order_reference_id, scenario in scenarios.items():
            simulator.add_order(order_reference_id, scenario)
        stranger.add_order("ok", "instant")
        clients = [
            TiqetsClient(SECRET, simulator.base_url, read_timeout=0.2),
            TiqetsClient(SECRET, stranger.base_url, read_timeout=0.2),
            TiqetsClient(SECRET, f"http://127.0.0.1:{unused_port()}/v2/"),
        ]
        for tiqets in clients:
            for order_reference_id in [*scenarios, "missing", "../etc"]:
                try:
                    results.append(tiqets.get_tickets(order_reference_id))
                except (ValueError, TiqetsUnavailableError, TiqetsRequestRejectedError) as error:
                    errors.append(error)
        for bad_key in (f"{SECRET} ", f"{SECRET}\n"):
            try:
                TiqetsClient(bad_key)
            except ValueError as error:
                errors.append(error)
        log_entries = simulator.request_log()

    kinds = {type(raised).__name__ for raised in errors}
    assert {"TiqetsRequestRejectedError", "TiqetsResponseInvalidError", "ValueError"} <= kinds
    assert "TiqetsUnavailableError" in kinds
    assert [tickets.status for tickets in results] == [OrderStatus.DONE, OrderStatus.PENDING]
    texts = [caplog.text, repr(log_entries), *(repr(t) for t in results), *map(repr, clients)]
    texts += [record.getMessage() for record in caplog.records]
    for raised in errors:
        for linked in _chain(raised):
            texts += [str(linked), repr(linked), repr(linked.args)]
    assert caplog.records, "urllib3 logs each request at DEBUG; the capture must have seen them"
    for text in texts:
        assert SECRET not in text
    assert repr(clients[0]) == f"TiqetsClient(base_url={simulator.base_url!r})"
