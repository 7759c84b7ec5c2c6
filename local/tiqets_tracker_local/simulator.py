"""A local stand-in for the Tiqets Distributor API (local-only tooling, never shipped to Lambda).

It serves the two order endpoints the tracker uses, the vouchers their `tickets_pdf_url` points
at, and POSTs order-change webhooks, all driven by per-order scenarios on a clock of its own that
can run faster than real time:

    with TiqetsSimulator(time_scale=600) as simulator:          # ten simulated minutes a second
        simulator.add_order("1111111", "delayed", callback_url=...)
        client = TiqetsClient("sim-api-key", simulator.base_url)

Faults (error statuses, slow answers, dropped connections, unusable bodies) and bad vouchers
(truncated, not a PDF, empty, lying about their length, slow) are part of a scenario.
It binds only the host it is given (127.0.0.1 by default) and talks to no one but the clients
that call it and the callback URLs it is given.
"""

from __future__ import annotations

import heapq
import hmac
import http.client
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Final, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from tiqets_tracker.errors import TiqetsResponseInvalidError
from tiqets_tracker.tiqets import OrderStatus
from tiqets_tracker.validation import ORDER_REFERENCE_ID

# Relative: mypy cannot follow the editable install's mapping of local/ to tiqets_tracker_local.
from .pdfs import make_pdf, minimal_pdf_size
from .servers import LoopbackServer, Running

__all__ = [
    "SCENARIOS",
    "Fault",
    "Scenario",
    "TiqetsSimulator",
    "VoucherBehaviour",
    "is_tiqets_lang",
    "order_document",
    "scenario_for_test_product",
    "status_at",
    "tickets_document",
    "voucher_pdf",
]

VoucherBehaviour = Literal["pdf", "truncated", "not_pdf", "empty", "wrong_length", "slow"]

_CHUNK: Final = 64 * 1024
_SLOW_VOUCHER_SECONDS: Final = 30.0
_WEBHOOK_TIMEOUT_SECONDS: Final = 2.0
_MAX_TICKER_WAIT: Final = 0.25
# Tiqets' own rule for `lang` (any ISO 639-1 shape); the tracker's is narrower (LANGS).
_TIQETS_LANG = re.compile(r"[a-z]{2}")
_TICKETS_PATH = re.compile(r"/v2/orders/(?P<id>[^/]+)/tickets")
_ORDER_PATH = re.compile(r"/v2/orders/(?P<id>[^/]+)")
_VOUCHER_PATH = re.compile(r"/vouchers/(?P<id>[^/]+)-(?P<lang>[a-z]{2})\.pdf")


def _check_status(status: str) -> None:
    try:
        OrderStatus.parse(status)
    except TiqetsResponseInvalidError:
        raise ValueError(f"unknown order status {status!r}") from None


@dataclass(frozen=True)
class Fault:
    """What to do, instead of answering normally, to one tickets call."""

    status: int | None = None
    """Answer this HTTP status (with a small JSON error body, or `body` when given)."""
    retry_after: str | None = None
    """The value of a `Retry-After` header to send with `status`."""
    delay_seconds: float = 0.0
    """Sleep this many real seconds before answering (cut short by `stop()`)."""
    drop: bool = False
    """Close the connection without any answer."""
    body: bytes | None = None
    """Answer 200 with exactly these bytes."""

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"a fault's status must be an HTTP status, not {self.status}")
        if not math.isfinite(self.delay_seconds) or self.delay_seconds < 0:
            raise ValueError("a fault's delay_seconds must be a finite number >= 0")
        if self.retry_after is not None and any(ch in self.retry_after for ch in "\r\n"):
            raise ValueError("a fault's retry_after must be a single header line")


@dataclass(frozen=True)
class Scenario:
    """How one order behaves.

    `timeline` lists (simulated seconds after the order is added, status), in order; before its
    first entry an order is "new". Any spelling `OrderStatus.parse` accepts is allowed and is
    served as written ("canceled", " DONE "), to exercise the client.
    """

    timeline: tuple[tuple[float, str], ...] = ((0.0, "done"),)
    faults: tuple[Fault, ...] = ()
    """faults[i] applies to the i-th authenticated tickets call for the order."""
    voucher: VoucherBehaviour = "pdf"
    voucher_size: int | None = None
    """Size in bytes of the served PDF; None for a small one."""
    send_webhooks: bool = True
    conditions_size: int = 0
    """Bytes of conditions text in a done answer (Tiqets' free text can be long)."""

    def __post_init__(self) -> None:
        if not self.timeline:
            raise ValueError("a scenario's timeline needs at least one entry")
        previous = 0.0
        for offset, status in self.timeline:
            if not math.isfinite(offset) or offset < previous:
                raise ValueError("timeline offsets must be finite, >= 0 and in ascending order")
            previous = offset
            _check_status(status)
        if self.voucher not in get_args(VoucherBehaviour):
            raise ValueError(f"unknown voucher behaviour {self.voucher!r}")
        if self.voucher_size is not None and self.voucher_size < 0:
            raise ValueError("voucher_size must be >= 0")
        if self.conditions_size < 0:
            raise ValueError("conditions_size must be >= 0")


SCENARIOS: dict[str, Scenario] = {
    "instant": Scenario(timeline=((0.0, "done"),)),
    "delayed": Scenario(timeline=((0.0, "pending"), (660.0, "done"))),
    "always_pending": Scenario(timeline=((0.0, "pending"),)),
    "failed": Scenario(timeline=((0.0, "pending"), (60.0, "failed"))),
    "cancelled_after_done": Scenario(timeline=((0.0, "done"), (3600.0, "cancelled"))),
    "new_then_done": Scenario(timeline=((0.0, "new"), (10.0, "pending"), (60.0, "done"))),
    "canceled_spelling": Scenario(timeline=((0.0, "done"), (60.0, "canceled"))),
    "flaky": Scenario(
        timeline=((0.0, "pending"), (120.0, "done")),
        faults=(Fault(status=503, retry_after="30"), Fault(status=429), Fault(drop=True)),
    ),
    "truncated_voucher": Scenario(voucher="truncated"),
    "not_pdf_voucher": Scenario(voucher="not_pdf"),
    "empty_voucher": Scenario(voucher="empty"),
    "wrong_length_voucher": Scenario(voucher="wrong_length"),
    "slow_voucher": Scenario(voucher="slow"),
}

_TEST_PRODUCTS: Final[dict[tuple[int, int], str]] = {
    (1006356, 38100): "instant",
    (1006356, 38102): "always_pending",
    (1006356, 38285): "delayed",
    (1006518, 38270): "instant",
    (1006518, 38271): "always_pending",
}


def scenario_for_test_product(product_id: int, variant_id: int) -> Scenario:
    """The behaviour Tiqets' test environment gives a product variant (KeyError for others)."""
    try:
        name = _TEST_PRODUCTS[(product_id, variant_id)]
    except KeyError:
        raise KeyError(
            f"no fixed test behaviour for product {product_id} variant {variant_id}"
        ) from None
    return SCENARIOS[name]


@dataclass
class _Order:
    order_reference_id: str
    scenario: Scenario
    callback_url: str | None
    lang: str
    added_at: float
    events: list[tuple[float, str]]
    """(simulated clock time, status), ascending."""
    notified: int
    """How many events the webhook dispatcher has looked at."""
    ticket_calls: int = 0
    deliveries: list[int] = field(default_factory=list)
    voucher: bytes | None = None
    voucher_lock: threading.Lock = field(default_factory=threading.Lock)

    def status_at(self, now: float) -> str:
        return status_at(self.events, now)

    @property
    def wants_webhooks(self) -> bool:
        return self.callback_url is not None and self.scenario.send_webhooks


class _Server(LoopbackServer):
    def __init__(self, address: tuple[str, int], simulator: TiqetsSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "TiqetsSimulator/1.0"
    sys_version = ""
    timeout = 30.0  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.server.simulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.simulator._serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.simulator._serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.simulator._serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.simulator._serve(self, "DELETE")

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_body(status, json.dumps(payload).encode(), headers=headers)

    def send_error_json(
        self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_json(status, {"success": False, "message": message}, headers)


def _json_order_id(order_reference_id: str) -> int | str:
    """Like the real API: a number when the id is all digits."""
    if order_reference_id.isascii() and order_reference_id.isdigit():
        return int(order_reference_id)
    return order_reference_id


def _post_json(url: str, payload: object, timeout: float) -> int:
    """POST `payload` as JSON; the answer's status, or 0 when no answer came."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = json.dumps(payload).encode()
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(
            "POST",
            target,
            body=data,
            headers={"Content-Type": "application/json", "User-Agent": "TiqetsSimulator/1.0"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


class TiqetsSimulator(Running):
    """A local Tiqets API. See the module docstring.

    `time_scale` is simulated seconds per real second. Timeline offsets and the webhook retry
    schedule are simulated seconds; `Fault.delay_seconds` and the slow voucher are real seconds.
    A failed webhook attempt is retried after webhook_retry_schedule[0] simulated seconds, a
    second failure after webhook_retry_schedule[1] more, and so on; then it is given up.
    """

    def __init__(
        self,
        *,
        api_key: str = "sim-api-key",
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_schedule: tuple[float, ...] = (60, 120, 240, 480),
    ) -> None:
        if not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError("time_scale must be a positive, finite number")
        if any(not math.isfinite(delay) or delay < 0 for delay in webhook_retry_schedule):
            raise ValueError("webhook_retry_schedule must hold finite numbers >= 0")
        self._expected_authorization = f"Token {api_key}".encode()
        self._time_scale = float(time_scale)
        self._host = host
        self._port = port
        self._retry_schedule = tuple(float(delay) for delay in webhook_retry_schedule)
        self._clock_start = time.monotonic()
        self._advanced = 0.0
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._stop_event = threading.Event()
        self._orders: dict[str, _Order] = {}
        self._requests: list[dict[str, str]] = []
        self._retries: list[tuple[float, int, str, int]] = []
        self._sequence = itertools.count()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._delivery_threads: set[threading.Thread] = set()
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in daemon threads."""
        if self._server is not None or self._stopped:
            raise RuntimeError("a TiqetsSimulator starts once")
        self._server = _Server((self._host, self._port), self)
        clock = threading.Thread(
            target=self._run_dispatcher, name="tiqets-simulator-clock", daemon=True
        )
        clock.start()
        self._threads = [
            self._server.serve_in_thread("tiqets-simulator-http", poll_interval=0.02),
            clock,
        ]

    def stop(self) -> None:
        """Stop serving and every background thread (promptly) and close the socket."""
        with self._wakeup:
            if self._stopped:
                return
            self._stopped = True
            self._wakeup.notify_all()
            deliveries = list(self._delivery_threads)
        self._stop_event.set()
        server = self._server
        if server is not None:
            server.stop_serving()
        # Everything left is a daemon thread: wait for them briefly, never for long.
        deadline = time.monotonic() + 0.9
        for thread in [*self._threads, *deliveries]:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. "http://127.0.0.1:54321/v2/" (once started)."""
        return f"{self._origin()}/v2/"

    def _origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        port = self._server.server_address[1]
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # -- the clock ----------------------------------------------------------------------------

    def _now(self) -> float:
        """The simulated clock, in simulated seconds."""
        return (time.monotonic() - self._clock_start) * self._time_scale + self._advanced

    def advance(self, simulated_seconds: float) -> None:
        """Move the simulated clock forward now; timeline entries passed fire their webhooks."""
        if not math.isfinite(simulated_seconds) or simulated_seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._wakeup:
            self._advanced += simulated_seconds
            self._wakeup.notify_all()

    # -- orders -------------------------------------------------------------------------------

    def add_order(
        self,
        order_reference_id: str,
        scenario: Scenario | str = "instant",
        *,
        callback_url: str | None = None,
        lang: str = "en",
    ) -> None:
        """Create an order following `scenario` (a Scenario or a SCENARIOS name) from now on.

        The status it starts with is not a change: only later ones fire webhooks.
        """
        if not ORDER_REFERENCE_ID.fullmatch(order_reference_id):
            raise ValueError("order_reference_id must be 1 to 64 characters of [A-Za-z0-9_-]")
        if not is_tiqets_lang(lang):
            raise ValueError("lang must be two lowercase letters")
        chosen = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
        if callback_url is not None:
            parts = urlsplit(callback_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("callback_url must be an absolute http(s) URL")
        if chosen.voucher_size is not None:
            minimal = minimal_pdf_size(_voucher_title(order_reference_id))
            if chosen.voucher_size < minimal:
                raise ValueError(f"voucher_size must be at least {minimal} bytes")
        with self._wakeup:
            if order_reference_id in self._orders:
                raise ValueError(f"order {order_reference_id} already exists")
            now = self._now()
            events = [(now + offset, status) for offset, status in chosen.timeline]
            self._orders[order_reference_id] = _Order(
                order_reference_id=order_reference_id,
                scenario=chosen,
                callback_url=callback_url,
                lang=lang,
                added_at=now,
                events=events,
                notified=sum(1 for at, _ in events if at <= now),
            )
            self._wakeup.notify_all()

    def _order(self, order_reference_id: str) -> _Order:
        try:
            return self._orders[order_reference_id]
        except KeyError:
            raise KeyError(f"no order {order_reference_id!r} in the simulator") from None

    def status_of(self, order_reference_id: str) -> str:
        """The order's status now, spelled as its scenario spells it."""
        with self._lock:
            return self._order(order_reference_id).status_at(self._now())

    def set_status(self, order_reference_id: str, status: str) -> None:
        """Force a status now; the rest of the order's timeline is dropped. A change fires the
        webhook like a timeline change does."""
        _check_status(status)
        with self._wakeup:
            order = self._order(order_reference_id)
            now = self._now()
            order.events = [event for event in order.events if event[0] <= now]
            order.events.append((now, status))
            self._wakeup.notify_all()

    def ticket_calls(self, order_reference_id: str) -> int:
        """Authenticated tickets calls received for the order, faulted ones included."""
        with self._lock:
            return self._order(order_reference_id).ticket_calls

    def webhook_deliveries(self, order_reference_id: str) -> list[int]:
        """The HTTP status of each webhook attempt for the order, in order (0: no answer)."""
        with self._lock:
            return list(self._order(order_reference_id).deliveries)

    def request_log(self) -> list[dict[str, str]]:
        """Method, path and authorized ("yes"/"no") of every request received."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    def connection_count(self) -> int:
        """TCP connections accepted so far (to check that clients keep connections alive)."""
        return 0 if self._server is None else self._server.connections_accepted

    def voucher_bytes(self, order_reference_id: str) -> bytes:
        """The good PDF served for the order (what a correct download must equal). Made once."""
        with self._lock:
            order = self._order(order_reference_id)
        with order.voucher_lock:
            if order.voucher is None:
                order.voucher = voucher_pdf(order_reference_id, order.scenario.voucher_size)
            return order.voucher

    # -- webhooks -----------------------------------------------------------------------------

    def _run_dispatcher(self) -> None:
        """Fires the webhooks of status changes at their simulated time, and their retries."""
        while True:
            with self._wakeup:
                if self._stopped:
                    return
                now = self._now()
                due, next_at = self._collect_due(now)
                if not due:
                    wait = (next_at - now) / self._time_scale
                    self._wakeup.wait(min(max(wait, 0.0), _MAX_TICKER_WAIT))
                    continue
            for order_reference_id, url, attempts in due:
                self._start_delivery(order_reference_id, url, attempts)

    def _collect_due(self, now: float) -> tuple[list[tuple[str, str, int]], float]:
        """(order, callback URL, attempts made so far) of each webhook to send now, and when the
        next one is due. Called with the lock held."""
        due: list[tuple[str, str, int]] = []
        next_at = math.inf
        for order in self._orders.values():
            while order.notified < len(order.events) and order.events[order.notified][0] <= now:
                status = order.events[order.notified][1]
                previous = order.events[order.notified - 1][1] if order.notified else "new"
                order.notified += 1
                if status != previous and order.wants_webhooks and order.callback_url:
                    due.append((order.order_reference_id, order.callback_url, 0))
            if order.notified < len(order.events):
                next_at = min(next_at, order.events[order.notified][0])
        while self._retries and self._retries[0][0] <= now:
            _, _, order_reference_id, attempts = heapq.heappop(self._retries)
            callback_url = self._orders[order_reference_id].callback_url
            if callback_url is not None:
                due.append((order_reference_id, callback_url, attempts))
        if self._retries:
            next_at = min(next_at, self._retries[0][0])
        return due, next_at

    def _start_delivery(self, order_reference_id: str, url: str, attempts: int) -> None:
        thread = threading.Thread(
            target=self._deliver,
            args=(order_reference_id, url, attempts),
            name="tiqets-simulator-webhook",
            daemon=True,
        )
        with self._lock:
            if self._stopped:
                return
            self._delivery_threads.add(thread)
            thread.start()  # under the lock, so stop() never sees a thread it cannot join yet

    def _deliver(self, order_reference_id: str, url: str, attempts: int) -> None:
        status = _post_json(
            url, {"order_reference_id": order_reference_id}, _WEBHOOK_TIMEOUT_SECONDS
        )
        with self._wakeup:
            self._delivery_threads.discard(threading.current_thread())
            self._orders[order_reference_id].deliveries.append(status)
            if status != 200 and not self._stopped and attempts < len(self._retry_schedule):
                due_at = self._now() + self._retry_schedule[attempts]
                heapq.heappush(
                    self._retries, (due_at, next(self._sequence), order_reference_id, attempts + 1)
                )
                self._wakeup.notify_all()

    # -- HTTP ---------------------------------------------------------------------------------

    def _is_authorized(self, header: str | None) -> bool:
        return is_authorized(header, self._expected_authorization)

    def _serve(self, handler: _Handler, method: str) -> None:
        try:
            self._route(handler, method)
        except OSError:
            # The client went away mid-answer (or stop() cut the connection).
            handler.close_connection = True

    def _route(self, handler: _Handler, method: str) -> None:
        path = urlsplit(handler.path).path
        authorized = self._is_authorized(handler.headers.get("Authorization"))
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "authorized": "yes" if authorized else "no"}
            )
        route = parse_route(path)
        if route is None:
            handler.send_error_json(404, "Not found")
            return
        kind, order_reference_id, voucher_lang = route
        if method != "GET":
            handler.close_connection = True  # any request body stays unread
            handler.send_error_json(
                405, "Method not allowed", (("Allow", "GET"), ("Connection", "close"))
            )
            return
        if kind == "voucher":
            self._serve_voucher(handler, order_reference_id, voucher_lang)
            return
        if not authorized:
            handler.send_error_json(401, "Invalid or missing API key")
            return
        query = parse_qs(urlsplit(handler.path).query)
        lang = query.get("lang", ["en"])[-1]
        if not is_tiqets_lang(lang):
            handler.send_error_json(400, "lang must be an ISO 639-1 language code")
            return
        fault: Fault | None = None
        with self._lock:
            order = self._orders.get(order_reference_id)
            if order is not None and kind == "tickets":
                faults = order.scenario.faults
                if order.ticket_calls < len(faults):
                    fault = faults[order.ticket_calls]
                order.ticket_calls += 1
        if order is None:
            handler.send_error_json(404, "Order not found")
            return
        if fault is not None and self._apply_fault(handler, fault):
            return
        with self._lock:
            status = order.status_at(self._now())
        if kind == "tickets":
            handler.send_json(
                200,
                tickets_document(
                    order.order_reference_id,
                    order.lang,
                    status,
                    self._origin(),
                    order.scenario.conditions_size,
                ),
            )
        else:
            handler.send_json(200, order_document(order.order_reference_id, order.lang, status))

    def _apply_fault(self, handler: _Handler, fault: Fault) -> bool:
        """Act out the fault; False when the normal answer should follow (a mere delay)."""
        if fault.delay_seconds and self._stop_event.wait(fault.delay_seconds):
            handler.close_connection = True
            return True
        if fault.drop:
            handler.close_connection = True
            return True
        if fault.status is not None:
            headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
            if fault.body is not None:
                handler.send_body(fault.status, fault.body, headers=headers)
            else:
                handler.send_error_json(
                    fault.status, f"Simulated fault: HTTP {fault.status}", headers
                )
            return True
        if fault.body is not None:
            handler.send_body(200, fault.body)
            return True
        return False

    def _serve_voucher(self, handler: _Handler, order_reference_id: str, lang: str) -> None:
        with self._lock:
            order = self._orders.get(order_reference_id)
        if order is None or lang != order.lang:
            handler.send_error_json(404, "Not found")
            return
        behaviour = order.scenario.voucher
        if behaviour == "not_pdf":
            page = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>\n"
            handler.send_body(200, page, "text/html; charset=utf-8")
            return
        if behaviour == "empty":
            handler.send_body(200, b"", "application/pdf")
            return
        if behaviour == "slow" and self._stop_event.wait(_SLOW_VOUCHER_SECONDS):
            handler.close_connection = True
            return
        data = self.voucher_bytes(order_reference_id)
        length, sent = len(data), len(data)
        if behaviour == "truncated":
            sent = len(data) // 2  # the full length announced, half of it sent
        elif behaviour == "wrong_length":
            length = len(data) * 3 // 4  # the whole file sent, three quarters of it announced
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(length))
        if sent != length:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        view = memoryview(data)
        for start in range(0, sent, _CHUNK):
            if self._stop_event.is_set():
                handler.close_connection = True
                return
            handler.wfile.write(view[start : min(start + _CHUNK, sent)])


def is_tiqets_lang(lang: str) -> bool:
    """Whether Tiqets accepts `lang` (two lowercase letters)."""
    return _TIQETS_LANG.fullmatch(lang) is not None


def is_authorized(header: str | None, expected: bytes) -> bool:
    """Whether an Authorization header is the expected `Token <api key>` (in constant time)."""
    if header is None:
        return False
    try:
        given = header.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, expected)


def parse_route(path: str) -> tuple[str, str, str] | None:
    """("tickets" | "order" | "voucher", order ID, voucher lang or "") for a path the API
    serves, None for any other."""
    if tickets := _TICKETS_PATH.fullmatch(path):
        return "tickets", tickets["id"], ""
    if order := _ORDER_PATH.fullmatch(path):
        return "order", order["id"], ""
    if voucher := _VOUCHER_PATH.fullmatch(path):
        return "voucher", voucher["id"], voucher["lang"]
    return None


def _voucher_title(order_reference_id: str) -> str:
    return f"Tiqets voucher {order_reference_id}"


def voucher_pdf(order_reference_id: str, size: int | None) -> bytes:
    """The good PDF voucher of an order (the same bytes wherever the simulator runs)."""
    return make_pdf(_voucher_title(order_reference_id), size=size)


def status_at(timeline: Sequence[tuple[float, str]], elapsed: float) -> str:
    """An order's status `elapsed` simulated seconds after it was added ("new" before its
    timeline's first entry)."""
    status = "new"
    for offset, timeline_status in timeline:
        if offset > elapsed:
            break
        status = timeline_status
    return status


def voucher_path(order_reference_id: str, lang: str) -> str:
    return f"/vouchers/{order_reference_id}-{lang}.pdf"


def tickets_document(
    order_reference_id: str, lang: str, status: str, origin: str, conditions_size: int
) -> dict[str, Any]:
    """The tickets endpoint's answer for an order in `status`; vouchers are served at `origin`."""
    done = OrderStatus.parse(status) is OrderStatus.DONE
    pdf_url = f"{origin}{voucher_path(order_reference_id, lang)}" if done else None
    extra = {"conditions": _conditions_text(conditions_size)} if done and conditions_size else {}
    return extra | {
        "order_reference_id": _json_order_id(order_reference_id),
        "order_status": status,
        "tickets_pdf_url": pdf_url,
        "how_to_use": "Show the PDF voucher on your phone at the entrance.",
        "important_information": "A simulated order: nothing about it is real.",
        "post_purchase_information": "Arrive 15 minutes before your timeslot.",
        "inclusions": ["Entry ticket", "Audio guide"],
        "exclusions": ["Food and drinks"],
        "starting_point": {"address": "Museumplein 6, Amsterdam", "lat": 52.358, "lng": 4.881},
    }


def order_document(order_reference_id: str, lang: str, status: str) -> dict[str, Any]:
    """The order endpoint's answer."""
    return {
        "order_reference_id": _json_order_id(order_reference_id),
        "order_status": status,
        "external_reference": None,
        "product_id": None,
        "lang": lang,
    }


def _conditions_text(size: int) -> str:
    """`size` bytes of plausible conditions text (empty for 0)."""
    sentence = "Tickets are valid on the chosen date only; entry closes one hour before closing. "
    return (sentence * (size // len(sentence) + 1))[:size]
