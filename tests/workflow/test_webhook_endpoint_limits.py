"""The local API Gateway endpoint's payload limits, over real sockets and in front of the real
webhook function on the local stack (what `track --webhook-port` serves).

Like API Gateway, the endpoint answers every request it accepts: a body up to HTTP API's 10 MB
quota is read in full and the function answers it (it refuses over 4 KB itself); a body declared
over the quota gets the endpoint's own 413, and the client reads it rather than a reset
connection. Repeated rather than timed: nothing here asserts a duration.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.workflow.support import signed_url
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import MAX_REQUEST_BYTES, LocalWebhookEndpoint

pytestmark = pytest.mark.workflow

ENDPOINT_TOO_LARGE = {"message": "Request Entity Too Large"}
FUNCTION_TOO_LARGE = {"error": "body_too_large"}


def callback_target(stack: LocalStack, endpoint: LocalWebhookEndpoint) -> str:
    """The signed callback path and query, as the order-placement Lambda gives Tiqets."""
    url = urlsplit(signed_url(stack, endpoint, "shop-limits"))
    return f"{url.path}?{url.query}"


def post(endpoint: LocalWebhookEndpoint, target: str, body: bytes) -> tuple[int, Any]:
    """POST over a fresh connection, sending the whole body before reading, as a plain client
    does; the status and the JSON answer."""
    host, port = endpoint.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("POST", target, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def exchange(endpoint: LocalWebhookEndpoint, head: bytes, body: bytes = b"") -> bytes:
    """Send a raw request and read everything until the endpoint closes the connection."""
    with socket.create_connection(endpoint.address, timeout=30) as connection:
        connection.sendall(head + body)
        return read_to_close(connection)


def read_to_close(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def request_head(target: str, length: int, *extra: str) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split_answer(answer: bytes) -> tuple[int, Any]:
    """The status code and the JSON body of one raw HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    version, status, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
    assert version == b"HTTP/1.1"
    return int(status), json.loads(body)


def test_a_two_megabyte_callback_is_read_and_answered_by_the_function_every_time(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    # The issue: answering before the body was read reset the connection 1 time in 4.
    target = callback_target(stack, endpoint)
    answered_before = len(endpoint.responses())

    answers = [post(endpoint, target, b"x" * 2_000_000) for _ in range(8)]

    assert answers == [(413, FUNCTION_TOO_LARGE)] * 8
    assert [r.status_code for r in endpoint.responses()[answered_before:]] == [413] * 8


def test_a_body_just_under_the_quota_reaches_the_function(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    target = callback_target(stack, endpoint)
    answered_before = len(endpoint.responses())

    assert post(endpoint, target, b"x" * (MAX_REQUEST_BYTES - 1)) == (413, FUNCTION_TOO_LARGE)
    # Only the function's answers are recorded: this one was not the endpoint's own refusal.
    assert len(endpoint.responses()) == answered_before + 1


def test_a_body_over_the_quota_sent_whole_gets_the_endpoints_413_every_time(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    target = callback_target(stack, endpoint)
    answered_before = len(endpoint.responses())
    length = MAX_REQUEST_BYTES + 1

    for _ in range(8):
        answer = exchange(endpoint, request_head(target, length), b"x" * length)

        assert split_answer(answer) == (413, ENDPOINT_TOO_LARGE)
    assert len(endpoint.responses()) == answered_before  # the function never ran


def test_a_content_length_over_the_quota_is_refused_without_waiting_for_the_body(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    target = callback_target(stack, endpoint)

    answer = exchange(endpoint, request_head(target, 50 * 1024 * 1024))

    assert split_answer(answer) == (413, ENDPOINT_TOO_LARGE)
    assert b"Connection: close" in answer


def test_expect_100_continue_over_the_quota_gets_the_413_instead_of_continue(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    target = callback_target(stack, endpoint)

    answer = exchange(endpoint, request_head(target, MAX_REQUEST_BYTES + 1, "Expect: 100-continue"))

    assert split_answer(answer) == (413, ENDPOINT_TOO_LARGE)
    assert b"100 Continue" not in answer


def test_expect_100_continue_under_the_quota_is_continued_and_read_in_full(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    # What curl does for a large body: it waits for `100 Continue` before sending it.
    target = callback_target(stack, endpoint)
    body = b"x" * 2_000_000
    head = request_head(target, len(body), "Expect: 100-continue", "Connection: close")

    with socket.create_connection(endpoint.address, timeout=30) as connection:
        connection.sendall(head)
        continued = b""
        while not continued.endswith(b"\r\n\r\n"):
            chunk = connection.recv(1)
            assert chunk, "the endpoint closed instead of asking for the body"
            continued += chunk
        connection.sendall(body)
        answer = read_to_close(connection)

    assert continued == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert split_answer(answer) == (413, FUNCTION_TOO_LARGE)
