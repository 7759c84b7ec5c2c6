"""The webhook Lambda (functions/webhook/app.py) against moto DynamoDB, Step Functions and
Secrets Manager: one test per rule of the webhook issue."""

from __future__ import annotations

import base64
import json
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from botocore.exceptions import ClientError

from tests.webhook_support import (
    CURRENT_KEY,
    PREVIOUS_KEY,
    RETIRED_KEY,
    TABLE_NAME,
    WebhookAws,
    callback,
    callback_body,
    captured_handler_logs,
    invoke,
    lambda_context,
    request,
    signed_query,
    webhook_aws,
)
from tiqets_tracker.callback_urls import CALLBACK_PATH

pytestmark = pytest.mark.moto

WRITES = ("UpdateItem", "PutItem", "DeleteItem", "SendTaskSuccess", "StartExecution")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookAws]:
    with webhook_aws(monkeypatch) as moto_aws:
        yield moto_aws


def wait_until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def parked(aws: WebhookAws, order_id: str, external_reference: str | None = None) -> str:
    """A tracked order whose (stand-in) execution is parked on a task token."""
    aws.track(order_id, external_reference=external_reference)
    execution_arn = aws.park(order_id)
    wait_until(lambda: "task_token" in (aws.record(order_id) or {}), "the order to park")
    return execution_arn


def status_of(aws: WebhookAws, execution_arn: str) -> str:
    return str(aws.stepfunctions.describe_execution(executionArn=execution_arn)["status"])


def webhook_count(aws: WebhookAws, order_id: str) -> int:
    record = aws.record(order_id)
    assert record is not None
    return int(record["webhook_count"]["N"])


# -- authentic callbacks -------------------------------------------------------------------


def test_authentic_callback_wakes_the_parked_execution(aws: WebhookAws) -> None:
    execution_arn = parked(aws, "1111111", "shop-42")

    answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.body) == (200, {"result": "woken"})
    assert answer.headers["content-type"] == "application/json"
    wait_until(lambda: status_of(aws, execution_arn) == "SUCCEEDED", "the execution to resume")
    assert webhook_count(aws, "1111111") == 1
    assert aws.calls_of("SendTaskSuccess") == 1


def test_callback_with_an_integer_id_in_a_base64_body_wakes_the_order(aws: WebhookAws) -> None:
    execution_arn = parked(aws, "1111112", "shop-43")

    answer = invoke(callback(1111112, "shop-43", base64_always=True))

    assert answer.result == "woken"
    wait_until(lambda: status_of(aws, execution_arn) == "SUCCEEDED", "the execution to resume")


def test_callback_in_camel_case_without_a_content_type_is_accepted(aws: WebhookAws) -> None:
    aws.track("1111113", external_reference="shop-44")

    answer = invoke(
        request(
            query=signed_query("shop-44"),
            body=json.dumps({"orderReferenceId": "1111113"}).encode(),
            headers=(),
        )
    )

    assert (answer.status_code, answer.result) == (200, "noted")


def test_callback_signed_with_the_previous_key_is_accepted_during_rotation(
    aws: WebhookAws,
) -> None:
    aws.track("1111114", external_reference="shop-45")

    answer = invoke(callback("1111114", "shop-45", key=PREVIOUS_KEY))

    assert (answer.status_code, answer.result) == (200, "noted")
    assert webhook_count(aws, "1111114") == 1


def test_callback_while_a_status_check_runs_is_noted_for_the_parking_step(
    aws: WebhookAws,
) -> None:
    aws.track("1111115", external_reference="shop-46")  # active, not parked: a check runs

    answer = invoke(callback("1111115", "shop-46"))

    assert (answer.status_code, answer.result) == (200, "noted")
    assert webhook_count(aws, "1111115") == 1
    assert aws.calls_of("SendTaskSuccess", "StartExecution") == 0


def test_callback_with_a_stale_token_answers_200(aws: WebhookAws) -> None:
    aws.track("1111116", external_reference="shop-47", task_token="a-token-no-one-waits-on")

    answer = invoke(callback("1111116", "shop-47"))

    assert (answer.status_code, answer.result) == (200, "noted")
    assert aws.calls_of("SendTaskSuccess") == 1
    assert webhook_count(aws, "1111116") == 1


def test_callback_with_an_already_used_token_answers_200(aws: WebhookAws) -> None:
    execution_arn = parked(aws, "1111117", "shop-48")
    record = aws.record("1111117")
    assert record is not None
    assert invoke(callback("1111117", "shop-48")).result == "woken"
    wait_until(lambda: status_of(aws, execution_arn) == "SUCCEEDED", "the execution to resume")
    # The record still holds the token, as it would if a callback came before the workflow
    # cleared it: Step Functions refuses it, and that is nothing to retry.
    aws.track("1111117", external_reference="shop-48", task_token=record["task_token"]["S"])

    answer = invoke(callback("1111117", "shop-48"))

    assert (answer.status_code, answer.result) == (200, "noted")
    assert aws.calls_of("SendTaskSuccess") == 2
    assert webhook_count(aws, "1111117") == 2


def test_callback_for_an_unknown_order_answers_200_and_creates_nothing(aws: WebhookAws) -> None:
    answer = invoke(callback("999999999", "shop-42"))

    assert (answer.status_code, answer.body) == (200, {"result": "unknown_order"})
    assert aws.record("999999999") is None
    assert aws.scan() == []
    assert aws.calls_of(*WRITES) == 0


def test_callback_for_a_finished_order_starts_one_recheck(aws: WebhookAws) -> None:
    aws.track("1111118", external_reference="shop-49", finished=True)

    first = invoke(callback("1111118", "shop-49"))
    second = invoke(callback("1111118", "shop-49"))

    assert (first.status_code, first.result) == (200, "recheck_started")
    # The re-check made the order active again: the retry is counted for it, nothing more.
    assert (second.status_code, second.result) == (200, "noted")
    assert [execution["name"] for execution in aws.executions()] == ["1111118-recheck-1"]
    assert aws.calls_of("StartExecution") == 1


def test_callback_for_a_finished_order_while_its_recheck_starts_answers_200(
    aws: WebhookAws,
) -> None:
    aws.track("1111119", external_reference="shop-50", finished=True)
    aws.stepfunctions.start_execution(
        stateMachineArn=aws.state_machine_arn,
        name="1111119-recheck-1",
        input=json.dumps({"order_reference_id": "1111119"}),
    )

    answer = invoke(callback("1111119", "shop-50"))

    assert (answer.status_code, answer.result) == (200, "recheck_running")


def test_callback_for_an_order_rechecked_moments_ago_asks_tiqets_to_retry_later(
    aws: WebhookAws,
) -> None:
    aws.track("1111122", external_reference="shop-53", finished=True)
    assert invoke(callback("1111122", "shop-53")).result == "recheck_started"
    # The re-check ended (as the state machine's EndTracking leaves it) moments later.
    aws.dynamodb.update_item(
        TableName=aws.records.table_name,
        Key={"order_reference_id": {"S": "1111122"}},
        UpdateExpression="SET tracking_state = :finished",
        ExpressionAttributeValues={":finished": {"S": "finished"}},
    )

    answer = invoke(callback("1111122", "shop-53"))

    assert (answer.status_code, answer.error) == (429, "recheck_too_soon")
    assert answer.headers["retry-after"] == "60"
    assert aws.calls_of("StartExecution") == 1


def test_stack_wide_url_wakes_any_tracked_order(aws: WebhookAws) -> None:
    aws.track("1111120", external_reference="shop-51")
    aws.track("1111121")

    assert invoke(callback("1111120", None)).result == "noted"
    assert invoke(callback("1111121", None)).result == "noted"


# -- a URL for another order -----------------------------------------------------------------


def test_url_issued_for_another_order_is_refused_and_counts_nothing(aws: WebhookAws) -> None:
    aws.track("2222221", external_reference="shop-A")
    aws.track("2222222", external_reference="shop-B")
    before = aws.scan()

    answer = invoke(callback("2222222", "shop-A"))

    assert (answer.status_code, answer.body) == (403, {"error": "callback_not_for_this_order"})
    assert webhook_count(aws, "2222222") == 0
    assert aws.scan() == before
    assert aws.calls_of(*WRITES) == 0


def test_url_with_a_reference_cannot_wake_an_order_placed_without_one(aws: WebhookAws) -> None:
    aws.track("2222223")

    answer = invoke(callback("2222223", "shop-A"))

    assert (answer.status_code, answer.error) == (403, "callback_not_for_this_order")
    assert webhook_count(aws, "2222223") == 0


# -- requests that are not authentic ---------------------------------------------------------


def test_callback_without_a_signature_is_401(aws: WebhookAws) -> None:
    aws.track("3333331", external_reference="shop-42")

    for query in ("", "ref=shop-42", "ref=shop-42&sig="):
        answer = invoke(request(query=query, body=callback_body("3333331")))
        assert (answer.status_code, answer.body) == (401, {"error": "missing_signature"})
    assert webhook_count(aws, "3333331") == 0


@pytest.mark.parametrize(
    "query",
    [
        "ref=shop-42&sig=" + "A" * 43,
        "ref=shop-42&sig=not-a-signature",
        signed_query("shop-42", key=RETIRED_KEY),
        signed_query("shop-42").replace("ref=shop-42", "ref=shop-43"),
        signed_query("shop-42").replace("ref=shop-42&", ""),
        signed_query(None).replace("sig=", "ref=shop-42&sig="),
    ],
)
def test_callback_with_a_bad_signature_is_403_and_changes_nothing(
    aws: WebhookAws, query: str
) -> None:
    aws.track("3333332", external_reference="shop-42")
    before = aws.scan()

    answer = invoke(request(query=query, body=callback_body("3333332")))

    assert (answer.status_code, answer.body) == (403, {"error": "bad_signature"})
    assert aws.scan() == before
    assert aws.calls_of(*WRITES) == 0
    assert aws.calls_of("GetItem") == 0  # the table is not even read


def test_repeated_credentials_are_400(aws: WebhookAws) -> None:
    query = signed_query("shop-42")

    answer = invoke(request(query=f"{query}&{query}", body=callback_body("1")))

    assert (answer.status_code, answer.error) == (400, "ambiguous_query")


# -- malformed requests ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_wrong_method_is_405(aws: WebhookAws, method: str) -> None:
    answer = invoke(callback("1", "shop-42", method=method))

    assert (answer.status_code, answer.body) == (405, {"error": "method_not_allowed"})
    assert answer.headers["allow"] == "POST"
    assert aws.calls == []


@pytest.mark.parametrize(
    "path", ["/", "/tiqets", "/tiqets/callbacks/", "/tiqets/callbacks/1", "/TIQETS/CALLBACKS"]
)
def test_other_paths_are_404(aws: WebhookAws, path: str) -> None:
    answer = invoke(callback("1", "shop-42", path=path))

    assert (answer.status_code, answer.body) == (404, {"error": "not_found"})
    assert aws.calls == []


@pytest.mark.parametrize(
    ("body", "base64_always", "expected"),
    [
        (None, False, (400, "missing_body")),
        (b"x" * 4097, False, (413, "body_too_large")),
        (b"x" * 5000, True, (413, "body_too_large")),
        (b"order_reference_id=1111111", False, (400, "body_not_json")),
        (b"\xff\xfe\x00garbage", False, (400, "body_not_json")),
        (b'["1111111"]', False, (400, "body_not_json")),
        (b'{"order_reference_id": "1111111"', False, (400, "body_not_json")),
        (b'{"order_reference_id": 1.5}', False, (400, "invalid_order_reference_id")),
        (b'{"order_reference_id": true}', False, (400, "invalid_order_reference_id")),
        (b'{"order_reference_id": "../../x"}', True, (400, "invalid_order_reference_id")),
        (b'{"id": "1111111"}', False, (400, "invalid_order_reference_id")),
    ],
)
def test_malformed_body_is_4xx_with_a_reason_and_changes_nothing(
    aws: WebhookAws, body: bytes | None, base64_always: bool, expected: tuple[int, str]
) -> None:
    aws.track("1111111", external_reference="shop-42")
    before = aws.scan()

    answer = invoke(request(query=signed_query("shop-42"), body=body, base64_always=base64_always))

    assert (answer.status_code, answer.error) == expected
    assert aws.scan() == before
    assert aws.calls_of(*WRITES) == 0


def test_base64_body_that_is_not_base64_is_400(aws: WebhookAws) -> None:
    event = request(query=signed_query("shop-42"))
    event["body"] = "%%% not base64 %%%"
    event["isBase64Encoded"] = True

    answer = invoke(event)

    assert (answer.status_code, answer.error) == (400, "body_not_json")


def test_an_event_that_is_not_from_an_http_api_is_400(aws: WebhookAws) -> None:
    from webhook.app import lambda_handler

    for event in ({}, {"body": "{}"}, {"requestContext": {"http": {}}, "rawPath": "/"}):
        response = lambda_handler(event, lambda_context())
        assert response["statusCode"] == 400
        assert json.loads(response["body"]) == {"error": "unsupported_event"}


# -- infrastructure failures -----------------------------------------------------------------


def test_missing_keys_secret_is_503_try_again_later(
    monkeypatch: pytest.MonkeyPatch, aws: WebhookAws
) -> None:
    monkeypatch.setenv("WEBHOOK_KEYS_SECRET", "tiqets-tracker/no-such-secret")

    answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.body) == (503, {"error": "try_again_later"})
    assert answer.headers["retry-after"] == "60"


def test_missing_configuration_is_503(monkeypatch: pytest.MonkeyPatch, aws: WebhookAws) -> None:
    aws.track("1111111", external_reference="shop-42")
    monkeypatch.delenv("STATE_MACHINE_ARN")

    answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.error) == (503, "try_again_later")
    assert webhook_count(aws, "1111111") == 0


def test_missing_table_is_503(aws: WebhookAws) -> None:
    aws.dynamodb.delete_table(TableName=TABLE_NAME)

    answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.error) == (503, "try_again_later")


def test_step_functions_failure_is_503(aws: WebhookAws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.track("1111111", external_reference="shop-42", task_token="some-token")
    from tiqets_tracker.aws import stepfunctions_client

    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendTaskSuccess"
        )

    monkeypatch.setattr(stepfunctions_client(), "send_task_success", throttled)

    with captured_handler_logs() as logs:
        answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.error) == (503, "try_again_later")
    logged = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [(line["error"], line["detail"]) for line in logged if "error" in line] == [
        ("WorkflowUnavailableError", "Step Functions answered ThrottlingException to the wake-up")
    ]


def test_an_unexpected_error_is_a_500_without_its_message(
    aws: WebhookAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook import app as webhook_app

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError(f"boom with {CURRENT_KEY}")

    monkeypatch.setattr(webhook_app, "wake_for_callback", broken)
    aws.track("1111111", external_reference="shop-42")

    with captured_handler_logs() as logs:
        answer = invoke(callback("1111111", "shop-42"))

    assert (answer.status_code, answer.error) == (500, "internal_error")
    assert "RuntimeError" in logs.getvalue()
    assert CURRENT_KEY not in logs.getvalue()


# -- secrecy -----------------------------------------------------------------------------------


def test_no_secret_reaches_the_logs_or_metrics(
    aws: WebhookAws, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    execution_arn = parked(aws, "4444441", "shop-42")
    record = aws.record("4444441")
    assert record is not None
    token = record["task_token"]["S"]
    authentic = callback("4444441", "shop-42")
    signature = authentic["queryStringParameters"]["sig"]
    forged = request(query="ref=shop-42&sig=" + "Q" * 43, body=callback_body("4444441"))
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()

    with captured_handler_logs() as logs:
        answers = [
            invoke(forged),
            invoke(authentic),
            invoke(authentic),
            invoke(callback("4444441", "shop-43")),
            invoke(request(query=authentic["rawQueryString"], method="GET")),
            invoke(request(query=authentic["rawQueryString"], path="/secret-path/x")),
        ]
    wait_until(lambda: status_of(aws, execution_arn) == "SUCCEEDED", "the execution to resume")

    assert [answer.status_code for answer in answers] == [403, 200, 200, 403, 405, 404]
    handler_log = logs.getvalue()
    written = handler_log + capsys.readouterr().out + caplog.text
    # The capture works: the handler's own records and botocore's debug records are there.
    assert '"order_reference_id":"4444441"' in handler_log
    assert '"result":"woken"' in handler_log
    assert '"reason":"bad_signature"' in handler_log
    assert "WebhookRequests" in written
    assert any(record.name.startswith("botocore") for record in caplog.records)
    for secret in (
        signature,
        "Q" * 43,
        authentic["rawQueryString"],
        token,
        CURRENT_KEY,
        PREVIOUS_KEY,
        "/secret-path/x",
        "shop-42",
    ):
        assert secret not in written, secret


def test_debug_mode_of_the_event_handler_stays_off(
    monkeypatch: pytest.MonkeyPatch, aws: WebhookAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Powertools' debug mode prints whole events; the resolver is built with debug=False.
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    event = callback("5555551", "shop-42")

    invoke(event)

    assert event["queryStringParameters"]["sig"] not in capsys.readouterr().out


# -- the sample events ---------------------------------------------------------------------


def test_the_sample_events_are_well_formed_http_api_events(aws: WebhookAws) -> None:
    from tiqets_tracker_local.template import PROJECT_ROOT

    callback_event = json.loads((PROJECT_ROOT / "events/webhook_callback.json").read_text())
    bad_signature = json.loads((PROJECT_ROOT / "events/webhook_bad_signature.json").read_text())

    for event in (callback_event, bad_signature):
        assert event["version"] == "2.0"
        assert event["routeKey"] == f"POST {CALLBACK_PATH}"
        assert event["rawPath"] == CALLBACK_PATH
        assert event["requestContext"]["http"]["method"] == "POST"
    # Their signatures are placeholders, so against real keys both are refused as forgeries.
    assert invoke(callback_event).error == "bad_signature"
    assert invoke(bad_signature).error == "bad_signature"
    body = json.loads(
        base64.b64decode(callback_event["body"])
        if callback_event["isBase64Encoded"]
        else callback_event["body"]
    )
    assert body == {"order_reference_id": "1111111"}


def test_the_sample_callback_is_accepted_once_its_placeholder_is_signed(
    monkeypatch: pytest.MonkeyPatch, aws: WebhookAws
) -> None:
    from tiqets_tracker_local.template import PROJECT_ROOT

    event = json.loads((PROJECT_ROOT / "events/webhook_callback.json").read_text())
    reference = event["queryStringParameters"]["ref"]
    query = signed_query(reference)
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(parse_qsl(query))
    aws.track("1111111", external_reference=reference)

    assert invoke(event).result == "noted"


def test_keys_secret_with_a_previous_key_only_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_aws(monkeypatch, keys=json.dumps({"previous": PREVIOUS_KEY})):
        answer = invoke(callback("1", "shop-42"))
    assert (answer.status_code, answer.error) == (503, "try_again_later")


def test_with_metrics_disabled_no_local_invocation_inherits_the_last_ones_metrics(
    monkeypatch: pytest.MonkeyPatch, aws: WebhookAws
) -> None:
    # Powertools skips the flush when metrics are disabled (as on the local stack), so the
    # process's metric state would keep each invocation's metric and dimension for the next;
    # the local stack's invoker gives each invocation its own, as each Lambda container has.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    from webhook.app import metrics

    from tiqets_tracker_local import lambdas
    from tiqets_tracker_local.template import PROJECT_ROOT

    context = lambda_context()
    function = lambdas.RegisteredFunction(
        code_dir=PROJECT_ROOT / "functions",
        handler_path="webhook.app.lambda_handler",
        memory_mb=context.memory_limit_in_mb,
        timeout_seconds=context.timeout_seconds,
        arn=context.invoked_function_arn,
    )

    def status_of(event: dict[str, Any]) -> int:
        payload, errored = lambdas.invoke_registered(context.function_name, event)
        assert not errored, payload
        return int(json.loads(payload)["statusCode"])

    lambdas.register(context.function_name, function)
    try:
        with lambdas.in_process_lambdas(), warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(3):
                assert status_of(callback("1", "shop-42", method="GET")) == 405
                assert status_of(callback("1", "shop-42")) == 200
    finally:
        lambdas.unregister(context.function_name)

    assert metrics.provider.metric_set == {}  # each invocation's went with it


def test_a_malformed_signature_is_refused_before_the_keys_are_loaded(
    monkeypatch: pytest.MonkeyPatch, aws: WebhookAws
) -> None:
    monkeypatch.setenv("WEBHOOK_KEYS_SECRET", "tiqets-tracker/no-such-secret")

    answer = invoke(request(query="ref=shop-42&sig=short", body=callback_body("1")))

    assert (answer.status_code, answer.error) == (403, "bad_signature")  # not 503
