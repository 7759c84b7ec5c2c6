"""The sample events under events/: execution input that the schema accepts, and status-check
inputs that are what the state machine really hands to check_order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tiqets_tracker.checking import check_order
from tiqets_tracker.information import staged_information_key
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.records import RecordSnapshot
from tiqets_tracker.timestamps import parse_timestamp
from tiqets_tracker.tiqets import OrderStatus, Tickets
from tiqets_tracker.validation import validator

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SCHEMA_FILE = ROOT / "functions" / "tiqets_tracker" / "schemas" / "execution_input.schema.json"
ASL_FILE = ROOT / "statemachine" / "order_tracking.asl.json"

STATE_MACHINE_INPUT = EVENTS / "state_machine_input.json"
FIRST_CHECK = EVENTS / "check_order_status_first_check.json"
PENDING_CHECK = EVENTS / "check_order_status_pending.json"
# A "now" after every sample's placement, so no sample counts as placed in the future.
LATER = datetime(2100, 1, 1, tzinfo=UTC)


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def execution_inputs_in_samples() -> list[tuple[str, dict[str, Any]]]:
    """Every execution-input-shaped object in the samples: a sample that is one, and the
    `order` of a sample that carries one."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(EVENTS.rglob("*.json")):
        sample = json.loads(path.read_text("utf-8"))
        name = str(path.relative_to(EVENTS))
        if isinstance(sample, dict) and "order_reference_id" in sample:
            found.append((name, sample))
        if isinstance(sample, dict) and isinstance(sample.get("order"), dict):
            found.append((f"{name}: order", sample["order"]))
    return found


# -- fakes ---------------------------------------------------------------------------------------


@dataclass
class FakeRecords:
    webhook_count: int = 0
    checked: list[str] = field(default_factory=list)

    def begin_check(
        self, order: OrderToTrack, now: datetime, *, execution_arn: str | None = None
    ) -> RecordSnapshot:
        return RecordSnapshot(
            webhook_count=self.webhook_count, announced_outcome=None, last_status=None
        )

    def record_check(
        self,
        order_reference_id: str,
        *,
        status: str,
        previous_status: str | None,
        checked_at: datetime,
    ) -> None:
        self.checked.append(status)

    def record_failed_check(
        self, order_reference_id: str, *, error: str, reason: str, checked_at: datetime
    ) -> None:
        self.checked.append(error)


@dataclass
class FakeInformation:
    staged: list[str] = field(default_factory=list)

    def stage(self, order_reference_id: str, lang: str, information: Mapping[str, Any]) -> str:
        key = staged_information_key(order_reference_id, lang)
        self.staged.append(key)
        return key


@dataclass
class FakeTickets:
    status: OrderStatus

    def get_tickets(self, order_reference_id: str, lang: str = "en") -> Tickets:
        done = self.status is OrderStatus.DONE
        return Tickets(
            order_reference_id=order_reference_id,
            status=self.status,
            tickets_pdf_url="https://api-tiqt-test.steq.it/v2/tickets.pdf" if done else None,
            information={"how_to_use": "Show the ticket on your phone at the entrance."},
        )


# -- samples -------------------------------------------------------------------------------------


def test_the_samples_are_there_and_pretty_printed() -> None:
    for path in (STATE_MACHINE_INPUT, FIRST_CHECK, PENDING_CHECK):
        text = path.read_text("utf-8")
        assert text == json.dumps(json.loads(text), indent=2) + "\n", path.name


def test_the_samples_hold_execution_input() -> None:
    names = [name for name, _ in execution_inputs_in_samples()]

    assert "state_machine_input.json" in names
    assert "check_order_status_first_check.json: order" in names
    assert "check_order_status_pending.json: order" in names


@pytest.mark.parametrize(
    ("name", "execution_input"),
    [pytest.param(name, sample, id=name) for name, sample in execution_inputs_in_samples()],
)
def test_execution_input_sample_validates_against_the_schema(
    name: str, execution_input: dict[str, Any]
) -> None:
    validate = validator(SCHEMA_FILE.name)

    validate(execution_input)
    order = OrderToTrack.from_input(execution_input, default_placed_at=LATER, now=LATER)
    assert order.order_reference_id == execution_input["order_reference_id"], name


@pytest.mark.parametrize(
    "path", [STATE_MACHINE_INPUT, FIRST_CHECK, PENDING_CHECK], ids=lambda path: path.name
)
def test_our_samples_carry_the_order_in_normalised_form(path: Path) -> None:
    sample = load(path)
    execution_input = sample.get("order", sample)

    order = OrderToTrack.from_input(execution_input, default_placed_at=LATER, now=LATER)

    assert order.to_json() == execution_input


def test_state_machine_input_sample_is_the_documented_order() -> None:
    assert load(STATE_MACHINE_INPUT) == {
        "order_reference_id": "1111111",
        "lang": "en",
        "external_reference": "shop-order-42",
        "placed_at": "2026-11-26T22:00:00.000Z",
        "visit_date": "2027-03-14",
    }


def test_first_check_sample_is_what_prepare_tracking_builds() -> None:
    parameters = json.loads(ASL_FILE.read_text("utf-8"))["States"]["PrepareTracking"]["Parameters"]
    sample = load(FIRST_CHECK)

    assert set(sample) == {key.removesuffix(".$") for key in parameters}
    # "order.$": "$" - the execution input itself.
    assert parameters["order.$"] == "$"
    assert sample["order"] == load(STATE_MACHINE_INPUT)
    # "execution_arn.$": the execution's own ARN, from the context object.
    assert parameters["execution_arn.$"] == "$$.Execution.Id"
    assert sample["execution_arn"].startswith("arn:aws:states:")
    # The pause after AWS failures: the template's default, a number.
    assert parameters["aws_retry_pause_seconds.$"] == (
        "States.StringToJson('${AwsRetryPauseSeconds}')"
    )
    assert sample["aws_retry_pause_seconds"] == 60
    for key, value in parameters.items():
        if key not in {"order.$", "execution_arn.$", "aws_retry_pause_seconds.$", "settings"}:
            assert sample[key] == value, key
    assert set(sample["settings"]) == set(parameters["settings"])
    # The template substitutes concrete values, its defaults with the webhook on.
    assert sample["settings"] == {
        "backoff_base_seconds": "176",
        "backoff_cap_seconds": "5400",
        "deadline_seconds": "86400",
        "webhook_enabled": "true",
        "retry_budget": "8",
    }


def test_first_check_sample_is_accepted_and_returns_the_pending_sample() -> None:
    pending = load(PENDING_CHECK)
    records = FakeRecords(webhook_count=pending["webhooks_seen"])

    result = check_order(
        load(FIRST_CHECK),
        now=parse_timestamp(pending["checked_at"], field="checked_at"),
        tiqets=FakeTickets(OrderStatus.PENDING),
        records=records,
        information=FakeInformation(),
    )

    assert records.checked == ["pending"]
    assert result.state == pending


def test_pending_sample_is_a_later_check_waiting_for_tickets() -> None:
    pending = load(PENDING_CHECK)

    assert pending["status"] == "pending"
    assert pending["outcome"] is None
    assert pending["checks_made"] == 1
    assert isinstance(pending["next_wait_seconds"], int)


def test_pending_sample_is_accepted_as_the_next_check_input() -> None:
    pending = load(PENDING_CHECK)
    records = FakeRecords(webhook_count=1)
    checked_at = parse_timestamp(pending["checked_at"], field="checked_at")
    now = checked_at + timedelta(minutes=10)

    information = FakeInformation()
    result = check_order(
        pending,
        now=now,
        tiqets=FakeTickets(OrderStatus.DONE),
        records=records,
        information=information,
    )

    assert result.state["checks_made"] == 2
    assert result.state["outcome"] == "TicketsReady"
    assert result.state["webhooks_seen"] == 1
    assert result.state["information_key"] == "vouchers/1111111/en/tiqets_information.json"
    assert information.staged == [result.state["information_key"]]
