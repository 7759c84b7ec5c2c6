"""The local endpoint that plays API Gateway (HTTP API, payload 2.0) in front of a handler, on
loopback."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tiqets_tracker_local import lambdas
from tiqets_tracker_local.webhook_server import (
    MAX_REQUEST_BYTES,
    LocalWebhookEndpoint,
    http_api_event,
)

pytestmark = pytest.mark.loopback


class Recorder:
    """A handler that answers with what it was given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer: Any = None

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if self.answer is not None:
            return self.answer
        return {
            "statusCode": 202,
            "headers": {"Content-Type": "application/json", "X-Seen": "yes"},
            "body": json.dumps({"method": event["requestContext"]["http"]["method"]}),
            "isBase64Encoded": False,
        }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def endpoint(recorder: Recorder) -> Iterator[LocalWebhookEndpoint]:
    with LocalWebhookEndpoint(handler=recorder) as running:
        yield running


def send(
    endpoint: LocalWebhookEndpoint,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = endpoint.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_url_is_the_callback_route_on_a_free_loopback_port(endpoint: LocalWebhookEndpoint) -> None:
    host, port = endpoint.address

    assert host == "127.0.0.1"
    assert port > 0
    assert endpoint.url == f"http://127.0.0.1:{port}/tiqets/callbacks"


def test_a_post_becomes_an_http_api_v2_event(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    status, headers, body = send(
        endpoint,
        "POST",
        "/tiqets/callbacks?ref=shop%2042&sig=abc&sig=def",
        b'{"order_reference_id": "1"}',
        {"Content-Type": "application/json", "X-Custom": "One", "Cookie": "a=1; b=2"},
    )

    assert (status, body) == (202, b'{"method": "POST"}')
    assert headers["X-Seen"] == "yes"
    (event,) = recorder.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /tiqets/callbacks"
    assert event["rawPath"] == "/tiqets/callbacks"
    assert event["rawQueryString"] == "ref=shop%2042&sig=abc&sig=def"
    assert event["queryStringParameters"] == {"ref": "shop 42", "sig": "abc,def"}
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-custom"] == "One"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"order_reference_id": "1"}'
    assert event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == (
        "POST",
        "/tiqets/callbacks",
        "127.0.0.1",
    )
    assert event["requestContext"]["routeKey"] == "POST /tiqets/callbacks"
    assert event["requestContext"]["requestId"]


def test_other_methods_and_paths_reach_the_handler_as_the_default_route(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    for method, target in [("GET", "/tiqets/callbacks"), ("DELETE", "/x"), ("BREW", "/")]:
        status, _, _ = send(endpoint, method, target)
        assert status == 202

    assert [event["routeKey"] for event in recorder.events] == ["$default"] * 3
    assert [event["requestContext"]["http"]["method"] for event in recorder.events] == [
        "GET",
        "DELETE",
        "BREW",
    ]
    assert all("body" not in event for event in recorder.events)


def test_a_body_that_is_not_utf8_is_sent_base64_encoded(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    send(endpoint, "POST", "/tiqets/callbacks", b"\xff\x00\xfe")

    (event,) = recorder.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"


def test_a_request_over_the_payload_quota_is_read_then_refused_with_413_every_time(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    # API Gateway answers what it accepted; answering before the body is read would make the
    # kernel reset the connection under the client, which then sees no 413 at all.
    host, port = endpoint.address
    for _ in range(4):
        with socket.create_connection((host, port), timeout=10) as connection:
            connection.sendall(
                b"POST /tiqets/callbacks HTTP/1.1\r\nHost: x\r\n"
                + f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n".encode()
                + b"x" * (MAX_REQUEST_BYTES + 1)
            )
            answer = b""
            while chunk := connection.recv(4096):  # the endpoint closes after a 413
                answer += chunk

        assert answer.startswith(b"HTTP/1.1 413")
        assert answer.endswith(b'{"message":"Request Entity Too Large"}')
    assert recorder.events == []


def test_a_request_of_two_megabytes_is_passed_on_for_the_function_to_answer(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    # Under API Gateway's quota: the webhook function itself refuses it (413 body_too_large).
    status, _, _ = send(endpoint, "POST", "/tiqets/callbacks", b"x" * (2 * 1000 * 1000))

    assert status == 202
    assert len(recorder.events[0]["body"]) == 2 * 1000 * 1000


def test_a_request_of_the_whole_quota_is_passed_on(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    status, _, _ = send(endpoint, "POST", "/tiqets/callbacks", b"x" * MAX_REQUEST_BYTES)

    assert status == 202
    assert len(recorder.events[0]["body"]) == MAX_REQUEST_BYTES


def test_a_chunked_request_is_refused_with_411(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    status, _, _ = send(
        endpoint, "POST", "/tiqets/callbacks", b"", {"Transfer-Encoding": "chunked"}
    )

    assert status == 411
    assert recorder.events == []


def test_a_failing_handler_is_a_500_as_api_gateway_answers(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    with LocalWebhookEndpoint(handler=broken) as failing:
        status, _, body = send(failing, "POST", "/tiqets/callbacks", b"{}")

    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_a_bare_value_is_answered_as_json_with_200(
    endpoint: LocalWebhookEndpoint, recorder: Recorder
) -> None:
    recorder.answer = ["bare"]

    status, _, body = send(endpoint, "POST", "/tiqets/callbacks", b"{}")

    assert (status, json.loads(body)) == (200, ["bare"])


def test_a_registered_function_is_invoked_through_the_lambda_registry(
    tmp_path: Any,
) -> None:
    package = tmp_path / "echo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': context.function_name}\n"
    )
    lambdas.register(
        "echo-function",
        lambdas.RegisteredFunction(
            code_dir=tmp_path,
            handler_path="echo.app.handler",
            memory_mb=128,
            timeout_seconds=3,
            arn="arn:aws:lambda:eu-west-1:123456789012:function:echo-function",
        ),
    )
    try:
        with LocalWebhookEndpoint("echo-function") as registered:
            status, _, body = send(registered, "POST", "/tiqets/callbacks", b"{}")
    finally:
        lambdas.unregister("echo-function")

    assert (status, body) == (200, b"echo-function")
    assert [response.status_code for response in registered.responses()] == [200]


def test_invocations_run_one_at_a_time(recorder: Recorder) -> None:
    running = 0
    overlapped = False
    lock = threading.Lock()

    def slow(event: dict[str, Any], context: Any) -> Any:
        nonlocal running, overlapped
        with lock:
            running += 1
            overlapped = overlapped or running > 1
        time.sleep(0.05)
        with lock:
            running -= 1
        return {"statusCode": 200, "body": "{}"}

    with LocalWebhookEndpoint(handler=slow) as serial:
        threads = [
            threading.Thread(target=send, args=(serial, "POST", "/tiqets/callbacks", b"{}"))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(serial.responses()) == 4
    assert not overlapped


def test_stop_is_prompt_even_with_an_idle_connection_open(recorder: Recorder) -> None:
    endpoint = LocalWebhookEndpoint(handler=recorder)
    endpoint.start()
    idle = socket.create_connection(endpoint.address, timeout=5)
    try:
        started = time.monotonic()
        endpoint.stop()
        assert time.monotonic() - started < 1.0
    finally:
        idle.close()


def test_either_a_function_name_or_a_handler_is_needed() -> None:
    with pytest.raises(ValueError, match="either"):
        LocalWebhookEndpoint()
    with pytest.raises(ValueError, match="either"):
        LocalWebhookEndpoint("name", handler=Recorder())


def test_the_event_builder_matches_api_gateway_conventions() -> None:
    event = http_api_event(
        "POST",
        "/tiqets/callbacks",
        query="a=1&a=2&b=",
        headers=[("X-A", "1"), ("x-a", "2")],
        body=b"{}",
        base64_always=True,
    )

    assert event["headers"] == {"x-a": "1,2"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"{}"
