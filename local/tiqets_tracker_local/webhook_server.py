"""A local HTTP endpoint that plays API Gateway (HTTP API, payload format 2.0) in front of the real
webhook handler (local-only tooling, never shipped to Lambda).

    with LocalWebhookEndpoint(stack.webhook_function_name) as endpoint:
        tiqets.add_order("1111111", "delayed", callback_url=signed_url_for(endpoint.url))

Each request becomes the event API Gateway would send (`http_api_event`), the handler runs
in-process (through the local stack's registry of functions, or a handler given directly), and
its answer is written back. Like one Lambda container, it runs one invocation at a time.

Like API Gateway, it forwards every method and path (as the `$default` route when it is not
`POST /tiqets/callbacks`), reads every body up to its 10 MB payload quota in full and passes it
on (the webhook function refuses over 4 KB itself), and answers 500
`{"message": "Internal Server Error"}` when the function fails. A body declared over the quota
it refuses itself: 413 at once (instead of `100 Continue` to a client that waits for one), then
it drains what the client still sends, in chunks and for a few seconds at most, before closing,
so that the client reads the 413 rather than a reset connection. A chunked body is refused (411)
and a Content-Length that is not a length is a 400. It binds only the host it is given
(127.0.0.1 by default) and logs nothing.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from tiqets_tracker.callback_urls import CALLBACK_PATH

# Relative: mypy cannot follow the editable install's mapping of local/ to tiqets_tracker_local.
from . import lambdas
from .servers import LoopbackServer, Running

__all__ = ["MAX_REQUEST_BYTES", "EndpointResponse", "LocalWebhookEndpoint", "http_api_event"]

# HTTP API's payload quota ("Payload size 10 MB", not adjustable), over which API Gateway
# answers 413: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
_TOO_LARGE: Final = b'{"message":"Request Entity Too Large"}'
_DRAIN_CHUNK_BYTES: Final = 64 * 1024
# At most this long a refused body is drained after the 413 before the connection is closed
# (closing with unread data would reset it, and the client could lose the answer).
_LINGER_SECONDS: Final = 5.0
ROUTE_KEY: Final = f"POST {CALLBACK_PATH}"
_ACCOUNT_ID: Final = "123456789012"
_API_ID: Final = "localwebhook"
_READ_TIMEOUT_SECONDS: Final = 5.0
# What API Gateway answers when the function fails or returns something it cannot use.
_INTERNAL_SERVER_ERROR: Final = (
    500,
    (("Content-Type", "application/json"),),
    b'{"message":"Internal Server Error"}',
)

Handler = Callable[[dict[str, Any], Any], Any]


def http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
    domain_name: str = "localhost",
    base64_always: bool = False,
) -> dict[str, Any]:
    """The event API Gateway's HTTP API (payload format 2.0) hands a Lambda for this request.

    Header names are lowercased and repeated headers joined with commas (cookies go to
    `cookies`); query parameters are decoded and repeated ones joined with commas, as API
    Gateway does. A body that is not UTF-8 text (or any body with `base64_always`) is sent
    base64-encoded with `isBase64Encoded`. No body, no `body` key."""
    route_key = ROUTE_KEY if (method, path) == ("POST", CALLBACK_PATH) else "$default"
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lowered] = f"{joined[lowered]},{value}" if lowered in joined else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": _ACCOUNT_ID,
            "apiId": _API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": formatdate(now, usegmt=True),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if body:
        text: str | None = None
        if not base64_always:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


@dataclass(frozen=True)
class EndpointResponse:
    """What the endpoint answered to one request (for tests)."""

    method: str
    path: str
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(LoopbackServer):
    def __init__(self, address: tuple[str, int], endpoint: LocalWebhookEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "LocalApiGateway/1.0"
    sys_version = ""
    timeout = _READ_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet (and the request line holds the callback secret)."""

    def handle_one_request(self) -> None:
        # Every method goes to the handler, as API Gateway's $default route does.
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.close_connection = True
                self.send_plain(414, b'{"message":"Request-URI Too Long"}')
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.server.endpoint._serve(self)
            self.wfile.flush()
        except (TimeoutError, OSError):
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        """`Expect: 100-continue`: a body declared over the quota is refused before it is sent;
        any other is asked for (and then read in full)."""
        if _declared_length(self) > self.server.endpoint._max_request_bytes:
            self.refuse_and_close(413, _TOO_LARGE, unread=0)
            return False
        return super().handle_expect_100()

    def refuse_and_close(self, status_code: int, body: bytes, *, unread: int) -> None:
        """Answer at once, then close cleanly: stop writing (the client sees the answer end),
        and read and drop up to `unread` bytes the client may still send (for at most
        _LINGER_SECONDS, or until it hangs up), so that closing does not reset the connection
        under a client that sends its whole body before it reads."""
        self.close_connection = True
        self.send_plain(status_code, body)
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + _LINGER_SECONDS
        remaining = unread
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(remaining, _DRAIN_CHUNK_BYTES))
            except OSError:  # timed out, or the client went away
                return
            if not chunk:
                return
            remaining -= len(chunk)

    def send_plain(
        self, status_code: int, body: bytes, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.send_response_only(status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LocalWebhookEndpoint(Running):
    """See the module docstring. Give either the name of a function the local stack registered
    (`stack.webhook_function_name`) or a handler callable (`webhook.app.lambda_handler`)."""

    def __init__(
        self,
        function_name: str | None = None,
        *,
        handler: Handler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if (function_name is None) == (handler is None):
            raise ValueError("give either function_name or handler")
        self._function_name = function_name
        self._handler = handler
        self._host = host
        self._port = port
        self._max_request_bytes = max_request_bytes
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._invoke_lock = threading.Lock()  # one invocation at a time, like one container
        self._responses: list[EndpointResponse] = []
        self._responses_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalWebhookEndpoint(address={self.address!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("a LocalWebhookEndpoint starts once")
        self._server = _Server((self._host, self._port), self)
        self._thread = self._server.serve_in_thread("local-webhook-endpoint")

    def stop(self) -> None:
        """Stop serving, cut open connections and close the socket (within about a second)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop_serving()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    # -- addresses and observations ------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return (self._host, self._port)
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the endpoint is not running")
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The callback route's full URL (what callback_url() signs and Tiqets is given)."""
        return f"{self.base_url}{CALLBACK_PATH}"

    def responses(self) -> list[EndpointResponse]:
        """Every answer given so far, in order."""
        with self._responses_lock:
            return list(self._responses)

    # -- serving -----------------------------------------------------------------------------

    def _serve(self, request: _RequestHandler) -> None:
        method = request.command
        target = urlsplit(request.path)
        path = target.path or "/"
        body = self._read_body(request)
        if body is None:
            return
        event = http_api_event(
            method,
            path,
            query=target.query,
            headers=list(request.headers.items()),
            body=body,
            source_ip=str(request.client_address[0]),
            domain_name=request.headers.get("Host", "localhost").split(":", 1)[0],
        )
        status_code, headers, answer = self._invoke(event)
        with self._responses_lock:
            self._responses.append(EndpointResponse(method, path, status_code, answer))
        request.send_response_only(status_code)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(answer)

    def _read_body(self, request: _RequestHandler) -> bytes | None:
        """The request body (read in full), or None when an answer was already sent or the
        client hung up mid-body."""
        if request.headers.get("Transfer-Encoding", "").strip().lower() not in ("", "identity"):
            request.close_connection = True
            request.send_plain(411, b'{"message":"Length Required"}')
            return None
        length = _declared_length(request)
        if length == 0:
            return b""
        if length < 0:
            request.close_connection = True
            request.send_plain(400, b'{"message":"Bad Request"}')
            return None
        if length > self._max_request_bytes:
            request.refuse_and_close(413, _TOO_LARGE, unread=length)
            return None
        body = request.rfile.read(length)
        if len(body) < length:
            request.close_connection = True
            return None
        return body

    def _invoke(self, event: dict[str, Any]) -> tuple[int, Sequence[tuple[str, str]], bytes]:
        with self._invoke_lock:
            if self._handler is not None:
                try:
                    result: Any = self._handler(event, _context())
                    errored = False
                except Exception:
                    result, errored = None, True
            else:
                assert self._function_name is not None
                payload, errored = lambdas.invoke_registered(self._function_name, event)
                result = None if errored else json.loads(payload)
        if errored:
            return _INTERNAL_SERVER_ERROR
        return _http_response(result)


def _context() -> lambdas.LocalLambdaContext:
    return lambdas.LocalLambdaContext(
        function_name="local-webhook",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:eu-west-1:{_ACCOUNT_ID}:function:local-webhook",
        timeout_seconds=10,
    )


def _http_response(result: Any) -> tuple[int, Sequence[tuple[str, str]], bytes]:
    """The HTTP answer API Gateway makes of a payload format 2.0 response."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        # A bare value: API Gateway answers 200 with it as a JSON body.
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    try:
        status_code = int(result["statusCode"])
    except (TypeError, ValueError):
        status_code = 0
    if not 100 <= status_code <= 599:
        return _INTERNAL_SERVER_ERROR
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or ())
    raw_body = result.get("body")
    if raw_body is None:
        answer = b""
    elif result.get("isBase64Encoded"):
        answer = base64.b64decode(str(raw_body))
    else:
        answer = str(raw_body).encode("utf-8")
    return status_code, headers, answer


def _declared_length(request: BaseHTTPRequestHandler) -> int:
    """The request's Content-Length: 0 without one, -1 when it is not a length."""
    raw_length = request.headers.get("Content-Length")
    if raw_length is None:
        return 0
    try:
        return int(raw_length)
    except ValueError:
        return -1
