"""One round of the tracking loop (check_order) with in-memory fakes for Tiqets, the tracking
record and the information store: what comes back for each status, failure handling and the
retry budget, the webhook count snapshot, and that the returned state holds every field the
state machine reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.check_states import first_check_state
from tiqets_tracker.check_schedule import check_phase
from tiqets_tracker.checking import (
    DEFAULT_AWS_RETRY_PAUSE,
    CheckResult,
    InformationStager,
    RecordStore,
    TicketsSource,
    begins_tracking,
    check_order,
)
from tiqets_tracker.errors import (
    InvalidExecutionInputError,
    TiqetsRequestRejectedError,
    TiqetsResponseInvalidError,
    TiqetsUnavailableError,
)
from tiqets_tracker.information import staged_information_key
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.outcomes import Outcome
from tiqets_tracker.records import RecordSnapshot
from tiqets_tracker.timestamps import format_timestamp
from tiqets_tracker.tiqets import OrderStatus, Tickets
from tiqets_tracker.tracking_settings import TrackingSettings

pytestmark = pytest.mark.unit

ASL_FILE = Path(__file__).resolve().parents[2] / "statemachine" / "order_tracking.asl.json"
ORDER_ID = "1111111"
PLACED_AT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
PDF_URL = "https://api-tiqt-test.steq.it/v2/orders/1111111/tickets.pdf"
INFORMATION: dict[str, Any] = {
    "how_to_use": "Show the ticket on your phone at the entrance.",
    "inclusions": ["Entry ticket"],
    "starting_point": {"address": "Museumstraat 1, Amsterdam", "lat": 52.36, "lng": 4.885},
}
STAGED_KEY = staged_information_key(ORDER_ID, "en")


# -- fakes ---------------------------------------------------------------------------------------


@dataclass
class FakeRecord:
    webhook_count: int = 0
    announced_outcome: str | None = None
    last_status: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    failed_checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeRecords:
    """An in-memory RecordStore; `journal` is shared with FakeTickets to show call order."""

    journal: list[str]
    records: dict[str, FakeRecord] = field(default_factory=dict)

    def begin_check(
        self, order: OrderToTrack, now: datetime, *, execution_arn: str | None = None
    ) -> RecordSnapshot:
        self.journal.append("begin_check")
        record = self.records.setdefault(order.order_reference_id, FakeRecord())
        return RecordSnapshot(
            webhook_count=record.webhook_count,
            announced_outcome=record.announced_outcome,
            last_status=record.last_status,
        )

    def record_check(
        self,
        order_reference_id: str,
        *,
        status: str,
        previous_status: str | None,
        checked_at: datetime,
    ) -> None:
        self.journal.append("record_check")
        record = self.records[order_reference_id]
        record.checks.append(
            {"status": status, "previous_status": previous_status, "checked_at": checked_at}
        )
        record.last_status = status

    def record_failed_check(
        self, order_reference_id: str, *, error: str, reason: str, checked_at: datetime
    ) -> None:
        self.journal.append("record_failed_check")
        self.records[order_reference_id].failed_checks.append(
            {"error": error, "reason": reason, "checked_at": checked_at}
        )

    def note_webhook(self, order_reference_id: str) -> None:
        self.records.setdefault(order_reference_id, FakeRecord()).webhook_count += 1


@dataclass
class FakeTickets:
    """A TicketsSource that answers (or raises) from a script, one entry per call."""

    journal: list[str]
    script: list[Tickets | Exception] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    during_call: list[Any] = field(default_factory=list)

    def get_tickets(self, order_reference_id: str, lang: str = "en") -> Tickets:
        self.journal.append("get_tickets")
        self.calls.append((order_reference_id, lang))
        for action in self.during_call:
            action()
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeInformation:
    """An InformationStager that keeps what it is given, by key."""

    journal: list[str]
    staged: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stage(self, order_reference_id: str, lang: str, information: Mapping[str, Any]) -> str:
        self.journal.append("stage_information")
        key = staged_information_key(order_reference_id, lang)
        self.staged[key] = dict(information)
        return key


@dataclass
class World:
    journal: list[str]
    tiqets: FakeTickets
    records: FakeRecords
    information: FakeInformation

    def answer(self, *answers: Tickets | Exception) -> None:
        self.tiqets.script.extend(answers)

    @property
    def record(self) -> FakeRecord:
        return self.records.records[ORDER_ID]

    def check(self, state: object, now: datetime) -> CheckResult:
        return check_order(
            state,
            now=now,
            tiqets=self.tiqets,
            records=self.records,
            information=self.information,
        )


@pytest.fixture
def world() -> World:
    journal: list[str] = []
    return World(journal, FakeTickets(journal), FakeRecords(journal), FakeInformation(journal))


def test_the_fakes_implement_the_ports(world: World) -> None:
    tiqets: TicketsSource = world.tiqets
    records: RecordStore = world.records
    information: InformationStager = world.information

    assert callable(tiqets.get_tickets)
    assert callable(records.begin_check)
    assert callable(information.stage)


# -- helpers -------------------------------------------------------------------------------------


def tickets(status: OrderStatus) -> Tickets:
    done = status is OrderStatus.DONE
    return Tickets(
        order_reference_id=ORDER_ID,
        status=status,
        tickets_pdf_url=PDF_URL if done else None,
        information=dict(INFORMATION),
    )


POLLING_SETTINGS = {
    "backoff_base_seconds": "60",
    "backoff_cap_seconds": "600",
    "deadline_seconds": "86400",
    "webhook_enabled": "false",
    "retry_budget": "3",
}


def order_check_times() -> tuple[int, ...]:
    """The check times (s after placement) of ORDER_ID under POLLING_SETTINGS, its jitter in."""
    schedule = TrackingSettings.from_raw(POLLING_SETTINGS).schedule
    return schedule.offsets(check_phase(ORDER_ID, format_timestamp(PLACED_AT)))


def tracker_state(**changes: Any) -> dict[str, Any]:
    """The state as PrepareTracking builds it (explicit settings: polling 60 s apart where
    fulfilment is densest and at most 600 s apart, a 24-hour deadline, 3 failures in a row
    tolerated), with `changes` applied."""
    state = first_check_state(ORDER_ID, placed_at=PLACED_AT, settings=POLLING_SETTINGS)
    state.update(changes)
    return state


WEBHOOK_SETTINGS = {
    "backoff_base_seconds": "600",
    "backoff_cap_seconds": "3600",
    "deadline_seconds": "86400",
    "webhook_enabled": "true",
    "retry_budget": "3",
}


def at(seconds: float) -> datetime:
    return PLACED_AT + timedelta(seconds=seconds)


# -- statuses ------------------------------------------------------------------------------------


def test_pending_order_waits_the_first_backoff_without_outcome(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(), at(1))

    assert result.status is OrderStatus.PENDING
    assert result.outcome is None
    assert result.state["status"] == "pending"
    assert result.state["outcome"] is None
    assert result.state["outcome_already_announced"] is False
    # Until the order's second check time: the first minute's end, moved later by its jitter.
    assert result.state["next_wait_seconds"] == order_check_times()[1] - 1
    assert 59 <= result.state["next_wait_seconds"] <= 59 + 0.25 * 60
    assert result.state["tickets_pdf_url"] is None
    assert result.state["information_key"] is None
    assert world.information.staged == {}


def test_a_later_check_waits_until_the_next_check_time_of_the_schedule(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(checks_made=2, status="pending"), at(200))

    next_time = next(offset for offset in order_check_times() if offset >= 201)
    assert result.state["next_wait_seconds"] == next_time - 200


def test_a_check_woken_early_leaves_the_later_check_times_where_they_were(world: World) -> None:
    times = order_check_times()
    world.answer(tickets(OrderStatus.PENDING), tickets(OrderStatus.PENDING))

    on_time = world.check(tracker_state(checks_made=3, status="pending"), at(times[3]))
    woken = world.check(tracker_state(checks_made=3, status="pending"), at(times[3] + 7))

    assert times[3] + on_time.state["next_wait_seconds"] == times[4]
    assert times[3] + 7 + woken.state["next_wait_seconds"] == times[4]


def test_the_same_check_plans_the_same_wait(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING), tickets(OrderStatus.PENDING))

    first = world.check(tracker_state(checks_made=4), at(600))
    again = world.check(tracker_state(checks_made=4), at(600))

    assert first.state["next_wait_seconds"] == again.state["next_wait_seconds"]


def test_new_order_is_still_on_its_way(world: World) -> None:
    world.answer(tickets(OrderStatus.NEW))

    result = world.check(tracker_state(), at(1))

    assert result.state["status"] == "new"
    assert result.outcome is None
    assert result.state["next_wait_seconds"] is not None


def test_wait_is_cut_short_at_the_deadline(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(checks_made=40, status="pending"), at(86_400 - 10))

    assert result.outcome is None
    assert result.state["next_wait_seconds"] == 10


def test_done_order_announces_tickets_ready_with_the_voucher_url(world: World) -> None:
    world.answer(tickets(OrderStatus.DONE))

    result = world.check(tracker_state(), at(1))

    assert result.outcome is Outcome.TICKETS_READY
    assert result.state["outcome"] == "TicketsReady"
    assert result.state["status"] == "done"
    assert result.state["tickets_pdf_url"] == PDF_URL
    assert result.state["next_wait_seconds"] is None
    assert result.state["outcome_already_announced"] is False
    # The informational fields wait beside the voucher; only their key is in the state.
    assert result.state["information_key"] == STAGED_KEY
    assert world.information.staged == {STAGED_KEY: INFORMATION}
    assert "how_to_use" not in json.dumps(result.state)


def test_a_done_order_announced_before_stages_nothing(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(announced_outcome="TicketsReady")
    world.answer(tickets(OrderStatus.DONE))

    result = world.check(tracker_state(), at(1))

    assert result.state["outcome_already_announced"] is True
    assert result.state["information_key"] is None
    assert "stage_information" not in world.journal


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(OrderStatus.FAILED, "OrderFailed"), (OrderStatus.CANCELLED, "OrderCancelled")],
)
def test_failed_or_cancelled_order_announces_its_outcome(
    world: World, status: OrderStatus, outcome: str
) -> None:
    world.answer(tickets(status))

    result = world.check(tracker_state(checks_made=3, status="pending"), at(300))

    assert result.state["outcome"] == outcome
    assert result.state["status"] == status.value
    assert result.state["next_wait_seconds"] is None
    assert result.state["tickets_pdf_url"] is None


def test_pending_order_at_the_deadline_times_out(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(checks_made=150, status="pending"), at(86_400))

    assert result.outcome is Outcome.FULFILMENT_TIMED_OUT
    assert result.state["outcome"] == "FulfilmentTimedOut"
    assert result.state["status"] == "pending"
    assert result.state["next_wait_seconds"] is None


def test_done_at_the_deadline_is_tickets_ready_not_timed_out(world: World) -> None:
    world.answer(tickets(OrderStatus.DONE))

    result = world.check(tracker_state(checks_made=150, status="pending"), at(86_401))

    assert result.state["outcome"] == "TicketsReady"


def test_order_placed_long_before_tracking_times_out_at_its_first_check(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(), at(3 * 86_400))

    assert result.state["outcome"] == "FulfilmentTimedOut"


def test_outcome_announced_before_is_flagged(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(
        webhook_count=1, announced_outcome="TicketsReady", last_status="done"
    )
    world.answer(tickets(OrderStatus.DONE))

    result = world.check(tracker_state(checks_made=1, status="done"), at(10))

    assert result.state["outcome"] == "TicketsReady"
    assert result.state["outcome_already_announced"] is True


def test_new_outcome_after_an_announced_one_is_not_flagged(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(
        announced_outcome="TicketsReady", last_status="done"
    )
    world.answer(tickets(OrderStatus.CANCELLED))

    result = world.check(tracker_state(checks_made=1, status="done"), at(7200))

    assert result.state["outcome"] == "OrderCancelled"
    assert result.state["outcome_already_announced"] is False


def test_pending_order_is_never_flagged_as_announced(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(announced_outcome="TicketsReady")
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(), at(1))

    assert result.state["outcome_already_announced"] is False


# -- what is recorded ----------------------------------------------------------------------------


def test_successful_check_is_recorded_against_the_previous_status(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(last_status="pending")
    world.answer(tickets(OrderStatus.DONE))

    world.check(tracker_state(checks_made=2, status="pending"), at(90))

    assert world.record.checks == [
        {"status": "done", "previous_status": "pending", "checked_at": at(90)}
    ]
    assert world.record.failed_checks == []


def test_tiqets_is_asked_in_the_order_language(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))
    state = tracker_state()
    state["order"]["lang"] = "nl"

    world.check(state, at(1))

    assert world.tiqets.calls == [(ORDER_ID, "nl")]


def test_webhook_count_is_read_before_tiqets_is_asked(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(webhook_count=2)
    # A webhook lands while the status call is in flight.
    world.tiqets.during_call.append(lambda: world.records.note_webhook(ORDER_ID))
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(webhooks_seen=2), at(1))

    assert world.journal == ["begin_check", "get_tickets", "record_check"]
    # The state machine compares this with the record (now 3) and checks again at once.
    assert result.state["webhooks_seen"] == 2
    assert world.record.webhook_count == 3


def test_webhooks_seen_comes_from_the_record_not_the_incoming_state(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(webhook_count=5)
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(tracker_state(webhooks_seen=1), at(1))

    assert result.state["webhooks_seen"] == 5


@pytest.mark.parametrize(("before", "after"), [(0, 1), (5, 6), (None, 1)])
def test_checks_made_counts_this_check(world: World, before: int | None, after: int) -> None:
    world.answer(tickets(OrderStatus.PENDING))
    state = tracker_state(checks_made=before)

    assert world.check(state, at(1)).state["checks_made"] == after


def test_checks_made_counts_failed_checks_too(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))

    assert world.check(tracker_state(checks_made=4), at(1)).state["checks_made"] == 5


def test_returned_state_carries_the_normalised_order_and_the_settings(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))
    state = tracker_state()
    state["order"] = {"order_reference_id": ORDER_ID}

    result = world.check(state, at(1))

    assert result.state["order"] == {
        "order_reference_id": ORDER_ID,
        "lang": "en",
        "external_reference": None,
        "placed_at": format_timestamp(at(1)),
        "visit_date": None,
    }
    assert result.state["settings"] == tracker_state()["settings"]
    assert result.state["checked_at"] == format_timestamp(at(1))


# -- failures ------------------------------------------------------------------------------------


def test_retryable_failure_plans_a_retry_and_keeps_the_status(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503", retry_after_seconds=None))

    result = world.check(
        tracker_state(checks_made=1, status="pending", consecutive_failures=1), at(60)
    )

    assert result.state["last_error"] == {
        "error": "TiqetsUnavailableError",
        "reason": "Tiqets answered HTTP 503",
    }
    assert result.state["consecutive_failures"] == 2
    assert result.state["status"] == "pending"
    assert result.status is OrderStatus.PENDING
    assert result.state["outcome"] is None
    # The second failure in a row: 60 * 2 = 120 s, less up to 10 % jitter.
    assert 108 <= result.state["next_wait_seconds"] <= 120
    assert world.record.failed_checks == [
        {
            "error": "TiqetsUnavailableError",
            "reason": "Tiqets answered HTTP 503",
            "checked_at": at(60),
        }
    ]
    assert world.record.checks == []


def test_retryable_failure_honours_retry_after(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 429", retry_after_seconds=299.2))

    result = world.check(tracker_state(), at(1))

    assert result.state["next_wait_seconds"] == 300


def test_unreadable_answer_is_a_retryable_failure(world: World) -> None:
    world.answer(TiqetsResponseInvalidError("Tiqets answered 200 with a body that is not JSON"))

    result = world.check(tracker_state(), at(1))

    assert result.state["last_error"]["error"] == "TiqetsResponseInvalidError"
    assert result.state["consecutive_failures"] == 1
    assert result.state["status"] is None


def test_failure_on_the_first_check_has_no_status(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets could not be reached (read timeout)"))

    result = world.check(tracker_state(), at(1))

    assert result.state["status"] is None
    assert result.outcome is None
    assert result.state["next_wait_seconds"] is not None


def test_status_that_is_not_a_string_counts_as_unknown_after_a_failure(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 502"))

    result = world.check(tracker_state(status=["pending"]), at(1))

    assert result.state["status"] is None


def test_success_after_failures_clears_the_error_and_the_count(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    result = world.check(
        tracker_state(
            checks_made=3,
            consecutive_failures=2,
            last_error={"error": "TiqetsUnavailableError", "reason": "x"},
        ),
        at(300),
    )

    assert result.state["last_error"] is None
    assert result.state["consecutive_failures"] == 0


def test_failure_at_the_deadline_times_out(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))

    result = world.check(tracker_state(checks_made=100, status="pending"), at(86_400))

    assert result.state["outcome"] == "FulfilmentTimedOut"
    assert result.state["next_wait_seconds"] is None


def test_last_failure_within_the_budget_still_plans_a_retry(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))

    result = world.check(tracker_state(checks_made=3, consecutive_failures=2), at(300))

    assert result.state["consecutive_failures"] == 3
    assert result.state["next_wait_seconds"] is not None


def test_failure_beyond_the_budget_raises_naming_the_attempts(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503", retry_after_seconds=30))

    with pytest.raises(TiqetsUnavailableError) as caught:
        world.check(tracker_state(checks_made=4, consecutive_failures=3), at(600))

    assert str(caught.value) == (
        "Tiqets answered HTTP 503; gave up after 4 failed attempts in a row"
    )
    assert caught.value.retry_after_seconds == 30
    assert caught.value.__cause__ is None
    assert len(world.record.failed_checks) == 1


def test_zero_budget_gives_up_at_the_first_failure(world: World) -> None:
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 500"))
    state = tracker_state()
    state["settings"]["retry_budget"] = "0"

    with pytest.raises(TiqetsUnavailableError, match="after 1 failed attempts"):
        world.check(state, at(1))


def test_permanent_failure_is_raised_and_recorded(world: World) -> None:
    rejected = TiqetsRequestRejectedError(
        "Tiqets answered HTTP 404 (no such order)", status_code=404
    )
    world.answer(rejected)

    with pytest.raises(TiqetsRequestRejectedError) as caught:
        world.check(tracker_state(), at(1))

    assert caught.value is rejected
    assert world.record.failed_checks == [
        {
            "error": "TiqetsRequestRejectedError",
            "reason": "Tiqets answered HTTP 404 (no such order)",
            "checked_at": at(1),
        }
    ]
    assert world.journal == ["begin_check", "get_tickets", "record_failed_check"]


def test_retryable_failure_after_done_never_asks_for_a_voucher_without_url(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(webhook_count=1, last_status="done")
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))
    previous = tracker_state(
        checks_made=1,
        status="done",
        outcome="TicketsReady",
        tickets_pdf_url=PDF_URL,
        information_key=STAGED_KEY,
    )

    result = world.check(previous, at(30))

    assert not (
        result.state["outcome"] == "TicketsReady" and result.state["tickets_pdf_url"] is None
    )
    # Before the deadline an unconfirmed status announces nothing: the next check confirms it.
    assert result.state["outcome"] is None
    assert result.state["next_wait_seconds"] >= 1


def test_retryable_failure_at_the_deadline_announces_the_last_known_done_with_its_url(
    world: World,
) -> None:
    world.records.records[ORDER_ID] = FakeRecord(webhook_count=1, last_status="done")
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))
    previous = tracker_state(
        checks_made=1, status="done", tickets_pdf_url=PDF_URL, information_key=STAGED_KEY
    )

    result = world.check(previous, at(86_400))

    assert result.state["outcome"] == "TicketsReady"
    assert result.state["tickets_pdf_url"] == PDF_URL
    assert result.state["information_key"] == STAGED_KEY


def test_a_staged_information_key_of_another_order_is_refused(world: World) -> None:
    world.records.records[ORDER_ID] = FakeRecord(webhook_count=1, last_status="done")
    world.answer(TiqetsUnavailableError("Tiqets answered HTTP 503"))
    previous = tracker_state(
        checks_made=1,
        status="done",
        tickets_pdf_url=PDF_URL,
        information_key=staged_information_key("9999999", "en"),
    )

    with pytest.raises(InvalidExecutionInputError, match="information_key"):
        world.check(previous, at(86_400))


# -- after AWS failed a step ---------------------------------------------------------------------


def test_the_pause_after_an_aws_failure_travels_on_and_defaults_for_older_executions(
    world: World,
) -> None:
    world.answer(tickets(OrderStatus.PENDING), tickets(OrderStatus.PENDING))

    carried = world.check(tracker_state(aws_retry_pause_seconds=7), at(1))
    older = world.check(tracker_state(), at(1))

    assert carried.state["aws_retry_pause_seconds"] == 7
    assert older.state["aws_retry_pause_seconds"] == DEFAULT_AWS_RETRY_PAUSE


@pytest.mark.parametrize("pause", [0, -1, True, "60", 86_401])
def test_a_malformed_aws_retry_pause_is_refused(world: World, pause: object) -> None:
    with pytest.raises(InvalidExecutionInputError, match="aws_retry_pause_seconds"):
        world.check(tracker_state(aws_retry_pause_seconds=pause), at(1))
    assert world.journal == []


def test_a_check_after_an_aws_failure_is_not_an_early_wake_up(world: World) -> None:
    world.answer(tickets(OrderStatus.DONE))
    # The voucher step failed for good on S3: the state machine paused and sent the order back
    # with the outcome the last check planned and the failure it caught.
    previous = tracker_state(
        checks_made=1,
        status="done",
        outcome="TicketsReady",
        tickets_pdf_url=PDF_URL,
        information_key=STAGED_KEY,
        aws_failure={"Error": "VoucherStoreUnavailableError", "Cause": "..."},
    )

    result = world.check(previous, at(300))

    assert result.state["early_wakeups"] == 0
    assert result.state["outcome"] == "TicketsReady"
    assert "aws_failure" not in result.state


# -- malformed tracker state -------------------------------------------------------------------


@pytest.mark.parametrize("state", [None, [], "state", 7])
def test_tracker_state_that_is_not_an_object_is_refused(world: World, state: object) -> None:
    with pytest.raises(InvalidExecutionInputError, match="tracker state must be a JSON object"):
        world.check(state, at(1))

    assert world.journal == []


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("checks_made", -1),
        ("checks_made", True),
        ("checks_made", "3"),
        ("checks_made", 1.0),
        ("consecutive_failures", -1),
        ("consecutive_failures", False),
    ],
)
def test_malformed_counter_is_refused_before_any_io(
    world: World, field_name: str, value: object
) -> None:
    with pytest.raises(InvalidExecutionInputError, match=field_name):
        world.check(tracker_state(**{field_name: value}), at(1))

    assert world.journal == []


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"order": None}, "must be object"),
        ({"order": {"order_reference_id": "../1"}}, "order_reference_id"),
        ({"settings": None}, "settings must be an object"),
        ({"settings": {"webhook_enabled": "maybe"}}, "settings.webhook_enabled"),
    ],
)
def test_malformed_order_or_settings_are_refused_before_any_io(
    world: World, changes: dict[str, Any], field_name: str
) -> None:
    with pytest.raises(InvalidExecutionInputError, match=re.escape(field_name)):
        world.check(tracker_state(**changes), at(1))

    assert world.journal == []


# -- the contract with the state machine -------------------------------------------------------

# Keys that take a path reading the state (Choice comparisons end in "Path" too). ResultPath and
# OutputPath write or select the task result; ResultSelector reads the task result, not the state.
_NOT_STATE_READS = frozenset({"ResultPath", "OutputPath", "ResultSelector"})
_STATE_FIELD = re.compile(r"(?<![$\w])\$\.([A-Za-z_][A-Za-z0-9_]*)")


def state_fields_read_by_the_definition() -> set[str]:
    """The first segment of every `$.field` path the definition reads from the state."""
    definition = json.loads(ASL_FILE.read_text("utf-8"))
    fields: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _NOT_STATE_READS:
                    continue
                reads_path = key.endswith(".$") or key.endswith("Path") or key == "Variable"
                if reads_path and isinstance(value, str):
                    fields.update(_STATE_FIELD.findall(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(definition)
    return fields


def test_the_definition_parser_finds_the_fields_it_routes_on() -> None:
    fields = state_fields_read_by_the_definition()

    assert {"order", "outcome", "outcome_already_announced", "next_wait_seconds"} <= fields
    assert {
        "wake_on_webhook",
        "recheck_pause_seconds",
        "webhooks_seen",
        "tickets_pdf_url",
    } <= fields
    assert "Payload" not in fields
    assert "Task" not in fields


def results_of_every_kind(world: World) -> Iterator[CheckResult]:
    world.answer(
        tickets(OrderStatus.PENDING),
        tickets(OrderStatus.DONE),
        tickets(OrderStatus.FAILED),
        TiqetsUnavailableError("Tiqets answered HTTP 503", retry_after_seconds=12.5),
        tickets(OrderStatus.PENDING),
    )
    yield world.check(tracker_state(), at(1))
    yield world.check(tracker_state(checks_made=1, status="pending"), at(60))
    yield world.check(tracker_state(checks_made=1, status="pending"), at(60))
    yield world.check(tracker_state(checks_made=1, status="pending"), at(60))
    yield world.check(tracker_state(checks_made=150, status="pending"), at(86_400))


def test_returned_state_has_every_field_the_definition_reads(world: World) -> None:
    needed = state_fields_read_by_the_definition()

    for result in results_of_every_kind(world):
        missing = needed - result.state.keys()
        assert not missing, f"check_order does not return {sorted(missing)}"


def test_returned_state_is_plain_json(world: World) -> None:
    for result in results_of_every_kind(world):
        assert json.loads(json.dumps(result.state, allow_nan=False)) == result.state


def test_next_wait_is_a_whole_number_when_there_is_no_outcome(world: World) -> None:
    for result in results_of_every_kind(world):
        wait = result.state["next_wait_seconds"]
        if result.state["outcome"] is None:
            assert isinstance(wait, int)
            assert wait >= 1
        else:
            assert wait is None


def test_checks_woken_before_the_planned_wait_are_counted_as_early_wakeups(
    world: World,
) -> None:
    world.answer(tickets(OrderStatus.PENDING))
    first = world.check(tracker_state(settings=WEBHOOK_SETTINGS), at(0)).state
    world.answer(tickets(OrderStatus.PENDING))

    woken = world.check(first, at(5)).state
    world.answer(tickets(OrderStatus.PENDING))
    on_time = world.check(woken, at(5 + woken["next_wait_seconds"])).state

    assert first["early_wakeups"] == 0
    assert woken["early_wakeups"] == 1
    assert on_time["early_wakeups"] == 1
    assert woken["wake_on_webhook"] is True
    assert woken["recheck_pause_seconds"] == 2


def test_past_the_early_wakeup_budget_the_order_stops_parking_and_rechecks_on_the_backoff(
    world: World,
) -> None:
    from tiqets_tracker.checking import EARLY_WAKEUP_BUDGET

    world.answer(tickets(OrderStatus.PENDING))
    state = world.check(tracker_state(settings=WEBHOOK_SETTINGS), at(0)).state
    for second in range(1, EARLY_WAKEUP_BUDGET + 1):
        world.answer(tickets(OrderStatus.PENDING))
        state = world.check(state, at(second)).state

    assert state["early_wakeups"] == EARLY_WAKEUP_BUDGET
    assert state["wake_on_webhook"] is False
    assert state["recheck_pause_seconds"] == state["next_wait_seconds"]
    assert state["recheck_pause_seconds"] > 2


def test_polling_orders_never_park_on_a_token(world: World) -> None:
    world.answer(tickets(OrderStatus.PENDING))

    state = world.check(tracker_state(), at(1)).state

    assert state["wake_on_webhook"] is False


def test_a_recheck_after_an_outcome_was_planned_counts_as_an_early_wakeup(world: World) -> None:
    world.answer(tickets(OrderStatus.FAILED))
    planned = world.check(tracker_state(settings=WEBHOOK_SETTINGS), at(0)).state
    world.answer(tickets(OrderStatus.FAILED))

    rechecked = world.check(planned, at(3)).state

    assert planned["outcome"] == "OrderFailed"
    assert planned["early_wakeups"] == 0
    assert rechecked["early_wakeups"] == 1


FIRST_EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:tracker:4444444"


def test_an_orders_first_check_in_its_first_execution_begins_tracking() -> None:
    state = first_check_state("4444444") | {"execution_arn": FIRST_EXECUTION}

    assert begins_tracking(state)
    assert begins_tracking(state | {"checks_made": None})


@pytest.mark.parametrize(
    "changes",
    [
        {"checks_made": 1},
        {"execution_arn": FIRST_EXECUTION + "-recheck-1"},
        {"execution_arn": FIRST_EXECUTION + "-sweep-1"},
        {"execution_arn": FIRST_EXECUTION.replace("4444444", "14444444")},
        {"execution_arn": None},
        {"order": "4444444"},
        {"order": {"order_reference_id": 4444444}},
    ],
)
def test_later_checks_re_checks_restarts_and_malformed_states_do_not(
    changes: dict[str, Any],
) -> None:
    state = first_check_state("4444444") | {"execution_arn": FIRST_EXECUTION} | changes

    assert not begins_tracking(state)
    assert not begins_tracking(["not", "a", "state"])
