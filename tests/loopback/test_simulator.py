"""The local Tiqets simulator served on loopback: its clock and scenarios, faults, vouchers and
webhooks. Time-based cases run on a fast simulated clock or move it forward explicitly. Its
scenarios and PDFs in plain Python: tests/unit/test_simulator.py."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tiqets_tracker_local.simulator import (
    Fault,
    Scenario,
    TiqetsSimulator,
)

pytestmark = pytest.mark.loopback

KEY = "sim-api-key"
AUTH = {"Authorization": f"Token {KEY}"}


def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> bool:
    """Poll `condition` until it holds or `limit` real seconds pass (a generous safety net only:
    the cases below are over in a fraction of that)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.fixture
def simulator() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator() as running:
        yield running


def tickets(simulator: TiqetsSimulator, order: str, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", AUTH)
    return requests.get(
        f"{simulator.base_url}orders/{order}/tickets", headers=headers, timeout=5, **kwargs
    )


def raw_get(url: str) -> tuple[int, dict[str, str], bytes, bool]:
    """GET with http.client: status, headers, the bytes received, and whether the body was whole."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        try:
            return response.status, headers, response.read(), True
        except http.client.IncompleteRead as incomplete:
            return response.status, headers, incomplete.partial, False
    finally:
        connection.close()


class WebhookReceiver:
    """A tiny HTTP server that records webhook POSTs and answers them from a script of statuses
    (the last status repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(
                        (self.path, self.headers.get("Content-Type", ""), body)
                    )
                    index = min(len(receiver.received), len(receiver.statuses)) - 1
                    status = receiver.statuses[index]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=1)


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[list[int]], WebhookReceiver]]:
    receivers: list[WebhookReceiver] = []

    def make(statuses: list[int]) -> WebhookReceiver:
        receivers.append(WebhookReceiver(statuses))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


# -- the clock and scenarios -----------------------------------------------------------------


def test_a_delayed_order_is_done_after_eleven_simulated_minutes_on_a_fast_clock() -> None:
    with TiqetsSimulator(time_scale=3600) as simulator:  # 660 simulated s = about 0.18 real s
        simulator.add_order("1111111", "delayed")
        seen = [tickets(simulator, "1111111").json()["order_status"]]

        assert wait_until(lambda: simulator.status_of("1111111") == "done")
        seen.append(tickets(simulator, "1111111").json()["order_status"])

    assert seen == ["pending", "done"]


def test_moving_the_clock_forward_walks_an_order_through_its_timeline(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", "new_then_done")
    seen = [simulator.status_of("1111111")]
    for step in (11, 50):
        simulator.advance(step)
        seen.append(simulator.status_of("1111111"))

    assert seen == ["new", "pending", "done"]


@pytest.mark.parametrize(
    ("name", "later", "expected"),
    [
        ("instant", 10**6, ["done", "done"]),
        ("always_pending", 10**6, ["pending", "pending"]),
        ("failed", 61, ["pending", "failed"]),
        ("cancelled_after_done", 3601, ["done", "cancelled"]),
        ("delayed", 661, ["pending", "done"]),
    ],
)
def test_each_named_scenario_follows_its_timeline(
    simulator: TiqetsSimulator, name: str, later: float, expected: list[str]
) -> None:
    simulator.add_order("order-1", name)
    before = simulator.status_of("order-1")
    simulator.advance(later)

    assert [before, simulator.status_of("order-1")] == expected


def test_a_forced_status_replaces_the_rest_of_the_timeline(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "delayed")
    simulator.set_status("1111111", "failed")
    simulator.advance(10_000)

    assert simulator.status_of("1111111") == "failed"
    assert tickets(simulator, "1111111").json()["order_status"] == "failed"


def test_the_tickets_body_looks_like_the_real_api(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant", lang="nl")
    simulator.add_order("order-x", "always_pending")

    done = tickets(simulator, "1111111", params={"lang": "nl"}).json()
    pending = tickets(simulator, "order-x").json()

    assert done["order_reference_id"] == 1111111
    assert pending["order_reference_id"] == "order-x"
    assert done["tickets_pdf_url"] == f"{simulator.base_url[:-4]}/vouchers/1111111-nl.pdf"
    assert pending["tickets_pdf_url"] is None
    assert set(done) >= {"how_to_use", "inclusions", "exclusions", "starting_point"}
    assert set(done["starting_point"]) == {"address", "lat", "lng"}


def test_the_order_information_endpoint_reports_the_status(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "always_pending")

    answer = requests.get(f"{simulator.base_url}orders/1111111", headers=AUTH, timeout=5)

    assert answer.status_code == 200
    assert answer.json()["order_status"] == "pending"
    assert answer.json()["external_reference"] is None
    assert simulator.ticket_calls("1111111") == 0


# -- requests, faults and counting -----------------------------------------------------------


def test_ticket_calls_count_authenticated_calls_only(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")

    statuses = [
        tickets(simulator, "1111111").status_code,
        tickets(simulator, "1111111", headers={"Authorization": "Token wrong"}).status_code,
        tickets(simulator, "1111111", headers={}).status_code,
        tickets(simulator, "1111111").status_code,
    ]

    assert statuses == [200, 401, 401, 200]
    assert simulator.ticket_calls("1111111") == 2


def test_faults_are_used_in_order_then_answers_are_normal(simulator: TiqetsSimulator) -> None:
    scenario = Scenario(
        faults=(
            Fault(status=503, retry_after="30"),
            Fault(status=429),
            Fault(body=b"{oops"),
        )
    )
    simulator.add_order("1111111", scenario)

    answers = [tickets(simulator, "1111111") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [503, 429, 200, 200]
    assert answers[0].headers["Retry-After"] == "30"
    assert "Retry-After" not in answers[1].headers
    assert answers[2].content == b"{oops"
    assert answers[3].json()["order_status"] == "done"
    assert simulator.ticket_calls("1111111") == 4


def test_a_dropped_connection_gets_no_answer_and_still_counts(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", Scenario(faults=(Fault(drop=True),)))

    with pytest.raises(requests.ConnectionError):
        tickets(simulator, "1111111")

    assert simulator.ticket_calls("1111111") == 1
    assert tickets(simulator, "1111111").status_code == 200


def test_a_delayed_answer_outlasts_a_short_read_timeout(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", Scenario(faults=(Fault(delay_seconds=2.0),)))

    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{simulator.base_url}orders/1111111/tickets", headers=AUTH, timeout=0.2)


def test_unknown_orders_paths_and_methods_are_refused(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")
    base = simulator.base_url

    assert tickets(simulator, "2222222").status_code == 404
    assert requests.get(f"{base}products", headers=AUTH, timeout=5).status_code == 404
    assert requests.post(f"{base}orders/1111111/tickets", headers=AUTH, timeout=5).status_code == (
        405
    )
    assert tickets(simulator, "1111111", params={"lang": "english"}).status_code == 400


def test_the_request_log_records_authorization_without_its_value() -> None:
    with TiqetsSimulator(api_key="sk-sim-SECRET") as simulator:
        simulator.add_order("1111111", "instant")
        tickets(simulator, "1111111", headers={"Authorization": "Token sk-sim-SECRET"})
        tickets(simulator, "1111111", headers={"Authorization": "Token sk-sim-SECRET-typo"})
        log = simulator.request_log()

    assert [entry["authorized"] for entry in log] == ["yes", "no"]
    assert log[0] == {"method": "GET", "path": "/v2/orders/1111111/tickets", "authorized": "yes"}
    assert "SECRET" not in repr(log)


def test_adding_an_order_twice_or_with_a_bad_id_is_refused(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")

    with pytest.raises(ValueError, match="already"):
        simulator.add_order("1111111", "instant")
    with pytest.raises(ValueError, match="order_reference_id"):
        simulator.add_order("../x", "instant")
    with pytest.raises(KeyError):
        simulator.status_of("missing")


# -- vouchers --------------------------------------------------------------------------------


def voucher_url(simulator: TiqetsSimulator, order: str) -> str:
    url = tickets(simulator, order).json()["tickets_pdf_url"]
    assert isinstance(url, str)
    return url


def test_a_good_voucher_is_the_exact_pdf_with_its_length(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", "instant")

    status, headers, body, whole = raw_get(voucher_url(simulator, "1111111"))

    assert (status, whole) == (200, True)
    assert headers["content-type"] == "application/pdf"
    assert int(headers["content-length"]) == len(body)
    assert body == simulator.voucher_bytes("1111111")
    assert body.startswith(b"%PDF-")
    assert body.endswith(b"%%EOF\n")


def test_a_large_voucher_is_served_whole_at_its_requested_size(
    simulator: TiqetsSimulator,
) -> None:
    size = 3 * 1024 * 1024 + 17
    simulator.add_order("1111111", Scenario(voucher_size=size))

    answer = requests.get(voucher_url(simulator, "1111111"), timeout=10)

    assert len(answer.content) == size
    assert answer.content == simulator.voucher_bytes("1111111")
    assert simulator.voucher_bytes("1111111") is simulator.voucher_bytes("1111111")


def test_a_truncated_voucher_sends_less_than_its_content_length(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", Scenario(voucher="truncated"))

    status, headers, body, whole = raw_get(voucher_url(simulator, "1111111"))

    full = simulator.voucher_bytes("1111111")
    assert (status, whole) == (200, False)
    assert int(headers["content-length"]) == len(full)
    assert 0 < len(body) < len(full)
    assert full.startswith(body)


def test_a_voucher_with_a_wrong_length_gives_a_trusting_client_a_cut_file(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", Scenario(voucher="wrong_length"))

    status, headers, body, whole = raw_get(voucher_url(simulator, "1111111"))

    full = simulator.voucher_bytes("1111111")
    assert (status, whole) == (200, True)
    assert int(headers["content-length"]) == len(body) < len(full)
    assert not body.endswith(b"%%EOF\n")


def test_a_non_pdf_voucher_is_an_html_page_answered_200(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", Scenario(voucher="not_pdf"))

    status, headers, body, _ = raw_get(voucher_url(simulator, "1111111"))

    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert not body.startswith(b"%PDF-")
    assert b"<html>" in body


def test_an_empty_voucher_is_answered_200_with_no_bytes(simulator: TiqetsSimulator) -> None:
    simulator.add_order("1111111", Scenario(voucher="empty"))

    status, headers, body, whole = raw_get(voucher_url(simulator, "1111111"))

    assert (status, body, whole, headers["content-length"]) == (200, b"", True, "0")


def test_a_slow_voucher_outlasts_a_short_timeout_and_stop_cuts_it_short() -> None:
    simulator = TiqetsSimulator()
    simulator.start()
    simulator.add_order("1111111", Scenario(voucher="slow"))
    url = voucher_url(simulator, "1111111")
    with pytest.raises(requests.ReadTimeout):
        requests.get(url, timeout=0.2)
    outcome: list[str] = []

    def download() -> None:
        try:
            requests.get(url, timeout=20)
            outcome.append("answered")
        except requests.RequestException as error:
            outcome.append(type(error).__name__)

    waiter = threading.Thread(target=download, daemon=True)
    waiter.start()
    assert wait_until(lambda: len(simulator.request_log()) == 3)
    simulator.stop()
    waiter.join(timeout=10)

    assert not waiter.is_alive()
    assert outcome == ["ConnectionError"]


def test_a_voucher_for_an_unknown_order_or_language_is_not_found(
    simulator: TiqetsSimulator,
) -> None:
    simulator.add_order("1111111", "instant", lang="de")
    origin = simulator.base_url[:-4]

    assert requests.get(f"{origin}/vouchers/1111111-de.pdf", timeout=5).status_code == 200
    assert requests.get(f"{origin}/vouchers/1111111-en.pdf", timeout=5).status_code == 404
    assert requests.get(f"{origin}/vouchers/2222222-de.pdf", timeout=5).status_code == 404


# -- webhooks --------------------------------------------------------------------------------


def test_a_status_change_is_posted_to_the_callback_url_without_anyone_polling(
    receiver_factory: Callable[[list[int]], WebhookReceiver],
) -> None:
    receiver = receiver_factory([200])
    with TiqetsSimulator(time_scale=3600) as simulator:
        simulator.add_order("1111111", "delayed", callback_url=receiver.url)

        assert wait_until(lambda: simulator.webhook_deliveries("1111111") == [200])
        assert simulator.ticket_calls("1111111") == 0

    [(path, content_type, body)] = receiver.received
    assert path == "/hooks/secret-token"
    assert content_type == "application/json"
    assert json.loads(body) == {"order_reference_id": "1111111"}


def test_a_failed_webhook_is_retried_until_it_is_answered_200(
    receiver_factory: Callable[[list[int]], WebhookReceiver],
) -> None:
    receiver = receiver_factory([500, 404, 200])
    with TiqetsSimulator(time_scale=1000, webhook_retry_schedule=(60, 120, 240)) as simulator:
        simulator.add_order("1111111", "always_pending", callback_url=receiver.url)
        simulator.set_status("1111111", "done")

        assert wait_until(lambda: simulator.webhook_deliveries("1111111") == [500, 404, 200])
        simulator.advance(10_000)  # far past any further retry
        time.sleep(0.05)

        assert simulator.webhook_deliveries("1111111") == [500, 404, 200]
    assert receiver.count() == 3


def test_a_webhook_is_given_up_after_the_retry_schedule(
    receiver_factory: Callable[[list[int]], WebhookReceiver],
) -> None:
    receiver = receiver_factory([503])
    with TiqetsSimulator(time_scale=1000, webhook_retry_schedule=(1, 2)) as simulator:
        simulator.add_order("1111111", "always_pending", callback_url=receiver.url)
        simulator.set_status("1111111", "failed")

        assert wait_until(lambda: len(simulator.webhook_deliveries("1111111")) == 3)
        simulator.advance(10_000)
        time.sleep(0.05)

        assert simulator.webhook_deliveries("1111111") == [503, 503, 503]
    assert receiver.count() == 3


def test_a_webhook_nobody_answers_is_recorded_as_zero(simulator: TiqetsSimulator) -> None:
    with TiqetsSimulator(webhook_retry_schedule=()) as closed:
        dead_url = f"{closed.base_url}hook"
    simulator.add_order("1111111", "always_pending", callback_url=dead_url)

    simulator.set_status("1111111", "cancelled")

    assert wait_until(lambda: simulator.webhook_deliveries("1111111") != [])
    assert simulator.webhook_deliveries("1111111")[0] == 0


def test_each_change_fires_its_own_webhook_but_the_initial_status_does_not(
    receiver_factory: Callable[[list[int]], WebhookReceiver], simulator: TiqetsSimulator
) -> None:
    receiver = receiver_factory([200])
    simulator.add_order("a", "new_then_done", callback_url=receiver.url)
    simulator.add_order("b", "instant", callback_url=receiver.url)
    simulator.add_order(
        "c",
        Scenario(timeline=((0.0, "pending"), (1.0, "done")), send_webhooks=False),
        callback_url=receiver.url,
    )

    simulator.advance(100)

    assert wait_until(lambda: simulator.webhook_deliveries("a") == [200, 200])
    bodies = sorted(json.loads(body)["order_reference_id"] for _, _, body in receiver.received)
    assert bodies == ["a", "a"]
    assert simulator.webhook_deliveries("b") == []
    assert simulator.webhook_deliveries("c") == []


def test_stop_ends_every_background_thread_even_with_a_webhook_retry_pending(
    receiver_factory: Callable[[list[int]], WebhookReceiver],
) -> None:
    receiver = receiver_factory([500])
    simulator = TiqetsSimulator(time_scale=1, webhook_retry_schedule=(3600,))
    simulator.start()
    simulator.add_order("1111111", "always_pending", callback_url=receiver.url)
    simulator.set_status("1111111", "done")
    assert wait_until(lambda: simulator.webhook_deliveries("1111111") == [500])

    simulator.stop()

    threads = [t for t in threading.enumerate() if t.name.startswith("tiqets-simulator")]
    assert threads == []
