"""The status-check Lambda handler end to end: moto's DynamoDB and Secrets Manager, the local
Tiqets simulator, the real handler module. Also: the API key appears in no log line, no output,
no error and no returned state."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from moto import mock_aws

from tests.check_states import first_check_state
from tests.conftest import emf_records, use_fake_aws
from tests.lambda_context import lambda_context
from tests.tracking_table import create_tracking_table
from tiqets_tracker.aws import forget_clients
from tiqets_tracker.errors import InvalidExecutionInputError, TiqetsRequestRejectedError
from tiqets_tracker.secret_store import clear_secret_cache
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.template import PROJECT_ROOT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytestmark = pytest.mark.moto

REGION: Final = "eu-west-1"
TABLE: Final = "tiqets-tracker-handler-test"
BUCKET: Final = "tiqets-tracker-handler-test-vouchers"
SECRET_NAME: Final = "tiqets-tracker/api-key"
WRONG_SECRET_NAME: Final = "tiqets-tracker/stale-api-key"
# Values that occur nowhere else, so finding one anywhere means it leaked.
API_KEY: Final = "tq-handler-5c9e1a7b3d2f4e6a8b0c"
WRONG_API_KEY: Final = "tq-revoked-0f8e6d4c2b1a3957e1d3"

Handler = Callable[[Any], dict[str, Any]]

_order_ids = itertools.count(3_100_001)


@pytest.fixture(scope="module")
def simulator() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def dynamodb(
    monkeypatch: pytest.MonkeyPatch, simulator: TiqetsSimulator
) -> Iterator[DynamoDBClient]:
    use_fake_aws(monkeypatch, REGION)
    monkeypatch.setenv("TRACKING_TABLE_NAME", TABLE)
    monkeypatch.setenv("VOUCHER_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("TIQETS_BASE_URL", simulator.base_url)
    monkeypatch.setenv("TIQETS_API_KEY_SECRET", SECRET_NAME)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tiqets-tracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TiqetsTracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    clear_secret_cache()
    forget_clients()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(client, TABLE)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name=SECRET_NAME, SecretString=API_KEY)
        secrets.create_secret(Name=WRONG_SECRET_NAME, SecretString=WRONG_API_KEY)
        yield client
    clear_secret_cache()
    forget_clients()


@pytest.fixture
def handler(dynamodb: DynamoDBClient) -> Handler:
    from check_order_status.app import lambda_handler

    from tests.conftest import empty_powertools_metrics

    def invoke(event: Any) -> dict[str, Any]:
        # Each call as one invocation of a container, whose flush empties the metric state
        # (with metrics disabled, as here, Powertools never does).
        empty_powertools_metrics()
        state: dict[str, Any] = lambda_handler(
            event, lambda_context("check-order-status", remaining_millis=60_000)
        )
        return state

    return invoke


def new_order(simulator: TiqetsSimulator, scenario: str) -> str:
    order_id = str(next(_order_ids))
    simulator.add_order(order_id, scenario)
    return order_id


def record(dynamodb: DynamoDBClient, order_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=TABLE, Key={"order_reference_id": {"S": order_id}})
    assert "Item" in item, f"no tracking record for {order_id}"
    return dict(item["Item"])


def table_items(dynamodb: DynamoDBClient) -> list[dict[str, Any]]:
    return [dict(item) for item in dynamodb.scan(TableName=TABLE)["Items"]]


# -- behaviour -----------------------------------------------------------------------------------


def test_pending_order_comes_back_with_a_polling_wait(
    handler: Handler, simulator: TiqetsSimulator, dynamodb: DynamoDBClient
) -> None:
    order_id = new_order(simulator, "always_pending")

    state = handler(first_check_state(order_id))

    assert state["status"] == "pending"
    assert state["outcome"] is None
    assert state["outcome_already_announced"] is False
    assert state["checks_made"] == 1
    assert state["webhooks_seen"] == 0
    # Placed 5 s ago; the polling profile's second check is at the end of the first minute,
    # moved later by the order's jitter (at most a quarter of the 62 s wait after it).
    assert 55 <= state["next_wait_seconds"] <= 55 + 16
    assert simulator.ticket_calls(order_id) == 1
    stored = record(dynamodb, order_id)
    assert stored["last_status"] == {"S": "pending"}
    assert stored["tracking_state"] == {"S": "active"}
    assert stored["checks_made"] == {"N": "1"}


def test_returned_state_is_the_next_check_input(
    handler: Handler, simulator: TiqetsSimulator, dynamodb: DynamoDBClient
) -> None:
    order_id = new_order(simulator, "always_pending")

    first = handler(first_check_state(order_id))
    second = handler(json.loads(json.dumps(first)))

    assert second["checks_made"] == 2
    assert second["order"] == first["order"]
    assert second["settings"] == first["settings"]
    assert len(record(dynamodb, order_id)["status_history"]["L"]) == 1


def test_done_order_comes_back_with_tickets_ready_and_the_voucher_url(
    handler: Handler, simulator: TiqetsSimulator, dynamodb: DynamoDBClient
) -> None:
    order_id = new_order(simulator, "instant")

    state = handler(first_check_state(order_id))

    assert state["status"] == "done"
    assert state["outcome"] == "TicketsReady"
    assert state["next_wait_seconds"] is None
    origin = simulator.base_url.removesuffix("v2/")
    assert state["tickets_pdf_url"] == f"{origin}vouchers/{order_id}-en.pdf"
    # The informational fields wait beside the voucher; the state names where.
    assert state["information_key"] == f"vouchers/{order_id}/en/tiqets_information.json"
    staged = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=state["information_key"]
    )
    assert json.loads(staged["Body"].read())["how_to_use"] == (
        "Show the PDF voucher on your phone at the entrance."
    )
    assert record(dynamodb, order_id)["last_status"] == {"S": "done"}


def test_wrong_api_key_is_a_rejected_request(
    handler: Handler,
    simulator: TiqetsSimulator,
    dynamodb: DynamoDBClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIQETS_API_KEY_SECRET", WRONG_SECRET_NAME)
    order_id = new_order(simulator, "instant")

    with pytest.raises(TiqetsRequestRejectedError) as caught:
        handler(first_check_state(order_id))

    assert caught.value.status_code == 401
    assert str(caught.value) == "Tiqets answered HTTP 401 (the API key was refused)"
    assert record(dynamodb, order_id)["last_error"] == {
        "M": {
            "error": {"S": "TiqetsRequestRejectedError"},
            "reason": {"S": "Tiqets answered HTTP 401 (the API key was refused)"},
        }
    }


@pytest.mark.parametrize(
    "event",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"order": {"order_reference_id": "../etc"}, "settings": {}}, id="bad-order"),
        pytest.param({"settings": {"webhook_enabled": "false"}}, id="no-order"),
    ],
)
def test_malformed_event_is_refused_and_changes_nothing(
    handler: Handler, simulator: TiqetsSimulator, dynamodb: DynamoDBClient, event: Any
) -> None:
    calls_before = len(simulator.request_log())

    with pytest.raises(InvalidExecutionInputError):
        handler(event)

    assert table_items(dynamodb) == []
    assert len(simulator.request_log()) == calls_before


# -- secrecy -------------------------------------------------------------------------------------


@contextlib.contextmanager
def powertools_logging_to_current_stdout() -> Iterator[None]:
    """Powertools' handler keeps the stdout it found when the logger was made, and pytest gives
    each test phase a fresh captured stdout: point the handler at the one in use now, and let
    the logger write everything."""
    from check_order_status.app import logger

    stream_handler = logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    previous_stream = stream_handler.setStream(sys.stdout)
    previous_level = logger.log_level
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(previous_level)
        if previous_stream is not None:
            stream_handler.setStream(previous_stream)


def run_every_kind_of_check(
    handler: Handler,
    simulator: TiqetsSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> list[str]:
    """Pending, done, malformed and wrong-key checks at DEBUG; the states and error texts."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    seen.append(json.dumps(handler(first_check_state(new_order(simulator, "always_pending")))))
    seen.append(json.dumps(handler(first_check_state(new_order(simulator, "instant")))))
    malformed: list[object] = [[], {"order": {"order_reference_id": "../etc"}, "settings": {}}]
    for event in malformed:
        with pytest.raises(InvalidExecutionInputError) as refused:
            handler(event)
        seen.append("".join(traceback.format_exception(refused.value)))
    monkeypatch.setenv("TIQETS_API_KEY_SECRET", WRONG_SECRET_NAME)
    with pytest.raises(TiqetsRequestRejectedError) as rejected:
        handler(first_check_state(new_order(simulator, "instant")))
    seen.append("".join(traceback.format_exception(rejected.value)))
    seen.append(repr(rejected.value.args))

    return seen


def test_api_key_appears_in_no_output_log_error_state_or_record(
    *,
    handler: Handler,
    simulator: TiqetsSimulator,
    dynamodb: DynamoDBClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with powertools_logging_to_current_stdout():
        seen = run_every_kind_of_check(handler, simulator, monkeypatch, caplog)
        captured = capsys.readouterr()

    seen.extend([captured.out, captured.err, caplog.text])
    seen.extend(repr(vars(log_record)) for log_record in caplog.records)
    seen.append(json.dumps(table_items(dynamodb)))

    # The capture did capture: the handler's own log line and botocore's debug lines.
    assert '"message":"order checked"' in captured.out
    assert any(log_record.name.startswith("botocore") for log_record in caplog.records)
    everything = "\n".join(seen)
    assert API_KEY not in everything
    assert WRONG_API_KEY not in everything


def test_each_check_is_counted_per_status_seen_in_an_emf_metric(
    handler: Handler,
    simulator: TiqetsSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    order_id = new_order(simulator, "always_pending")

    handler(first_check_state(order_id))

    (metrics,) = emf_records(capsys.readouterr().out)
    (directive,) = metrics["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "TiqetsTracker"
    assert [m["Name"] for m in directive["Metrics"]] == ["StatusChecks"]
    assert "status" in directive["Dimensions"][0]
    assert metrics["status"] == "pending"
    assert metrics["StatusChecks"] == [1.0]


def test_a_malformed_event_is_refused_before_the_api_key_is_loaded(
    handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret that does not exist: loading it would raise ConfigurationError instead.
    monkeypatch.setenv("TIQETS_API_KEY_SECRET", "tiqets-tracker/no-such-secret")

    with pytest.raises(InvalidExecutionInputError):
        handler({"order": {"order_reference_id": "../etc"}, "settings": {}})


def first_execution_state(order_id: str) -> dict[str, Any]:
    arn = f"arn:aws:states:{REGION}:123456789012:execution:tracker:{order_id}"
    return first_check_state(order_id) | {"execution_arn": arn}


def test_an_orders_first_check_counts_it_started_and_later_checks_do_not(
    handler: Handler,
    simulator: TiqetsSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    order_id = new_order(simulator, "always_pending")

    state = handler(first_execution_state(order_id))
    (first,) = emf_records(capsys.readouterr().out)
    handler(state)
    (second,) = emf_records(capsys.readouterr().out)

    (directive,) = first["_aws"]["CloudWatchMetrics"]
    assert [m["Name"] for m in directive["Metrics"]] == ["StatusChecks", "OrdersStarted"]
    assert first["OrdersStarted"] == [1.0]
    assert first["status"] == "pending"
    assert "OrdersStarted" not in second


def test_a_first_check_that_ends_tracking_still_counts_the_order_started(
    handler: Handler,
    simulator: TiqetsSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("TIQETS_API_KEY_SECRET", WRONG_SECRET_NAME)
    order_id = new_order(simulator, "instant")

    with pytest.raises(TiqetsRequestRejectedError):
        handler(first_execution_state(order_id))

    (metrics,) = emf_records(capsys.readouterr().out)
    assert metrics["error"] == "TiqetsRequestRejectedError"
    assert metrics["FailedChecks"] == [1.0]
    assert metrics["OrdersStarted"] == [1.0]


def test_the_errors_counted_as_ending_a_first_check_are_those_the_definition_ends_tracking_on(
    handler: Handler,
) -> None:
    """check_order_status.app counts an order started when its first check raises one of
    _ENDS_TRACKING: the errors CheckOrderStatus neither retries nor pauses after, but routes
    to TrackingFailed. Read from the definition, so the two cannot drift apart."""
    from check_order_status.app import _ENDS_TRACKING

    from tiqets_tracker import errors

    definition = PROJECT_ROOT / "statemachine" / "order_tracking.asl.json"
    task = json.loads(definition.read_text("utf-8"))["States"]["CheckOrderStatus"]

    def first(rules: list[dict[str, Any]], name: str) -> dict[str, Any]:
        # A handler's error is a task failure: States.TaskFailed and States.ALL match it too.
        wildcards = {name, "States.TaskFailed", "States.ALL"}
        return next(rule for rule in rules if wildcards & set(rule["ErrorEquals"]))

    ending = {
        error.__name__
        for error in vars(errors).values()
        if isinstance(error, type)
        and issubclass(error, errors.TiqetsTrackerError)
        and error is not errors.TiqetsTrackerError
        and first(task["Retry"], error.__name__).get("MaxAttempts") == 0
        and first(task["Catch"], error.__name__)["Next"] == "NoteTrackingFailed"
    }

    assert {error.__name__ for error in _ENDS_TRACKING} == ending
