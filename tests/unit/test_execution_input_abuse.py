"""Abusive execution input: start_tracking and build_execution_input, and
OrderToTrack.from_input behind the status check, refuse it before anything starts, with a
readable reason that never echoes a long value. (The execution input carries no durations; the
absurd values here are placement times, language codes, IDs and lengths.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.order_input import OrderToTrack, latest_visit_date
from tiqets_tracker.timestamps import format_timestamp
from tiqets_tracker.tracking import build_execution_input, start_tracking

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
LONG = "x" * 10_000
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:tracker"
# A refusal names the field and the rule; it may list what is allowed, never a long given value.
MAX_REASON_LENGTH = 400
T = TypeVar("T")


class NeverCalledStepFunctions:
    """A Step Functions client that fails the test if anything is started."""

    class exceptions:  # noqa: N801 (boto3 spells it so)
        class ExecutionAlreadyExists(Exception):  # noqa: N818 (boto3 spells it so)
            pass

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        raise AssertionError("an execution was started for refused input")


def refusal_to_start(order_reference_id: Any, **order: Any) -> str:
    """The reason start_tracking gives, having checked that nothing was started."""
    client = NeverCalledStepFunctions()
    with pytest.raises(InvalidExecutionInputError) as caught:
        start_tracking(
            order_reference_id,
            state_machine_arn=STATE_MACHINE_ARN,
            client=client,  # type: ignore[arg-type]
            **order,
        )
    assert client.calls == []
    reason = str(caught.value)
    assert 0 < len(reason) <= MAX_REASON_LENGTH
    assert reason.isprintable()
    return reason


def input_refusal(raw: object) -> str:
    with pytest.raises(InvalidExecutionInputError) as caught:
        OrderToTrack.from_input(raw, default_placed_at=NOW, now=NOW)
    reason = str(caught.value)
    assert 0 < len(reason) <= MAX_REASON_LENGTH
    return reason


# -- wrong types and missing fields -----------------------------------------------------------


@pytest.mark.parametrize(
    "order_reference_id", [None, 1234567, 12.5, True, ["1234567"], {"id": "1"}, b"1234567"]
)
def test_an_order_id_that_is_not_a_string_is_refused_naming_the_field(
    order_reference_id: Any,
) -> None:
    reason = refusal_to_start(order_reference_id)
    assert "order_reference_id" in reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lang", None),
        ("lang", 7),
        ("lang", ["en"]),
        ("external_reference", 42),
        ("external_reference", {"shop": 1}),
    ],
)
def test_an_optional_field_of_the_wrong_type_is_refused_naming_the_field(
    field: str, value: Any
) -> None:
    reason = refusal_to_start("1234567", **{field: value})
    assert field in reason


@pytest.mark.parametrize(
    "raw",
    [{}, {"lang": "en"}, {"order_reference_id": None}, {"external_reference": "shop-1"}],
    ids=["empty", "lang only", "null id", "reference only"],
)
def test_execution_input_without_an_order_id_is_refused_naming_the_field(raw: object) -> None:
    assert "order_reference_id" in input_refusal(raw)


@pytest.mark.parametrize("raw", [None, "1234567", 1234567, ["1234567"], True])
def test_execution_input_that_is_not_an_object_is_refused(raw: object) -> None:
    assert "must be object" in input_refusal(raw)


@pytest.mark.parametrize("placed_at", ["2026-06-01T12:00:00Z", 1_780_000_000, float("nan")])
def test_a_placement_time_that_is_not_a_datetime_is_refused_with_a_reason(placed_at: Any) -> None:
    assert "placed_at" in refusal_to_start("1234567", placed_at=placed_at)


def test_a_naive_placement_time_is_refused() -> None:
    reason = refusal_to_start("1234567", placed_at=datetime(2026, 6, 1, 11, 0))
    assert reason == "placed_at must be timezone-aware"


# -- absurd placement times -------------------------------------------------------------------


@pytest.mark.parametrize(
    "ahead", [timedelta(minutes=6), timedelta(days=1), timedelta(days=365 * 1000)]
)
def test_a_placement_time_in_the_future_is_refused(ahead: timedelta) -> None:
    placed_at = datetime.now(UTC) + ahead
    assert refusal_to_start("1234567", placed_at=placed_at) == "placed_at lies in the future"


def test_the_far_future_execution_input_is_refused_by_the_status_check_too() -> None:
    reason = input_refusal({"order_reference_id": "1", "placed_at": "9999-12-31T23:59:59Z"})
    assert reason == "placed_at lies in the future"


def test_a_placement_time_in_year_one_is_accepted_as_long_past_its_deadline() -> None:
    # Documented (state.py): a placement already past the deadline is accepted, and its first
    # check decides. It must be normalised, not crash.
    payload = build_execution_input("1234567", placed_at=datetime(1, 1, 1, tzinfo=UTC), now=NOW)
    assert payload["placed_at"] == "0001-01-01T00:00:00.000Z"
    order = OrderToTrack.from_input(payload, default_placed_at=NOW, now=NOW)
    assert order.placed_at == datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "placed_at",
    [
        "yesterday",
        "2026-06-01",
        "2026-06-01 12:00:00Z",
        "2026-06-01T12:00:00",
        "2026-13-01T12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-06-01T24:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-06-01T12:00:00+99:00",
        "2026-06-01T12:00:00Z\n",
        "",
    ],
)
def test_a_placement_time_that_is_not_an_rfc3339_timestamp_is_refused(placed_at: str) -> None:
    raw = {"order_reference_id": "1234567", "placed_at": placed_at}
    assert "placed_at" in input_refusal(raw)


def test_a_null_placement_time_means_not_given() -> None:
    raw = {"order_reference_id": "1234567", "placed_at": None}
    assert OrderToTrack.from_input(raw, default_placed_at=NOW, now=NOW).placed_at == NOW


OVERFLOWING_PLACEMENTS = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("placed_at", OVERFLOWING_PLACEMENTS)
def test_a_placement_time_outside_the_representable_range_in_utc_is_refused(
    placed_at: str,
) -> None:
    assert "placed_at" in input_refusal({"order_reference_id": "1", "placed_at": placed_at})


@pytest.mark.parametrize(
    "placed_at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
    ],
    ids=["year 1 east of UTC", "year 9999 west of UTC"],
)
def test_an_aware_placement_time_that_overflows_in_utc_is_refused_before_starting(
    placed_at: datetime,
) -> None:
    assert "placed_at" in refusal_to_start("1234567", placed_at=placed_at)


# -- language codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["xx", "EN", "english", "en-GB", "", " en", "e", "zz" * 5_000])
def test_an_unknown_language_code_is_refused_without_echoing_it(lang: str) -> None:
    reason = refusal_to_start("1234567", lang=lang)
    assert "lang" in reason
    if len(lang) > 3:
        assert lang not in reason


# -- IDs with path characters and very long strings -------------------------------------------


@pytest.mark.parametrize(
    "order_reference_id",
    [
        "../x",
        "a/b",
        "..",
        "%2e%2e",
        "%2F",
        "a\\b",
        "\u0000",
        "123\u0000456",
        "1234567\n",
        "12 34",
        "١٢٣",  # Arabic-Indic digits
        "",
        "a" * 65,
        LONG,
    ],
)
def test_an_order_id_with_path_or_odd_characters_is_refused_without_echoing_it(
    order_reference_id: str,
) -> None:
    reason = refusal_to_start(order_reference_id)
    assert "order_reference_id" in reason
    if len(order_reference_id) > 3:
        assert order_reference_id not in reason


def test_a_ten_thousand_character_external_reference_is_refused_without_echoing_it() -> None:
    reason = refusal_to_start("1234567", external_reference=LONG)
    assert "external_reference" in reason
    assert "x" * 20 not in reason


def test_an_empty_external_reference_is_refused() -> None:
    assert "external_reference" in refusal_to_start("1234567", external_reference="")


def test_an_unknown_property_is_refused_without_echoing_its_long_name() -> None:
    raw = {"order_reference_id": "1234567", LONG: "value"}
    reason = input_refusal(raw)
    assert "properties other than" in reason
    assert "x" * 20 not in reason


def test_a_well_formed_order_is_normalised() -> None:
    payload = build_execution_input("1234567", external_reference="shop-42", now=NOW)
    assert payload == {
        "order_reference_id": "1234567",
        "lang": "en",
        "external_reference": "shop-42",
        "placed_at": format_timestamp(NOW),
        "visit_date": None,
    }


# -- property: any JSON object is either a normalised order or a named refusal ----------------

KNOWN_FIELDS = ("order_reference_id", "lang", "external_reference", "placed_at", "visit_date")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
plausible_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True) | st.text(max_size=70)
# Timestamps the schema's pattern accepts, in every year, including the ends where the offset
# pushes the UTC time out of range.
plausible_timestamps = st.builds(
    lambda year, month, day, hour, minute, second, fraction, offset: (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
    ),
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".123", ".123456789"]),
    st.sampled_from(["Z", "+00:00", "+05:30", "-11:00", "+14:00", "-23:59", "+24:00"]),
)
# Dates the schema's pattern accepts, some of them not on the calendar (2026-02-30).
plausible_visit_dates = st.builds(
    lambda year, month, day: f"{year:04d}-{month:02d}-{day:02d}",
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
)
field_values = {
    "order_reference_id": plausible_ids | json_values,
    "lang": st.sampled_from(["en", "de", "xx", "EN", ""]) | json_values,
    "external_reference": st.text(min_size=0, max_size=300) | json_values,
    "placed_at": plausible_timestamps | json_values,
    "visit_date": plausible_visit_dates | json_values,
}
execution_inputs = st.fixed_dictionaries(
    {},
    optional=dict(field_values),
) | st.dictionaries(st.sampled_from(KNOWN_FIELDS) | st.text(max_size=20), json_values, max_size=6)


def outcome_of(call: Callable[[], T]) -> T | str:
    """What the call returns, or the reason of its InvalidExecutionInputError; any other
    exception propagates and fails the property."""
    try:
        return call()
    except InvalidExecutionInputError as error:
        return str(error)


@settings(max_examples=300, deadline=None)
@given(raw=execution_inputs | json_values)
@example(raw={"order_reference_id": "../x"})
@example(raw={"order_reference_id": "1", "placed_at": "2026-06-01T12:00:00.123456789+05:30"})
def test_any_json_execution_input_is_either_a_normalised_order_or_a_named_refusal(
    raw: object,
) -> None:
    order = outcome_of(lambda: OrderToTrack.from_input(raw, default_placed_at=NOW, now=NOW))
    if isinstance(order, str):
        assert 0 < len(order) <= MAX_REASON_LENGTH
        return
    assert ORDER_ID.fullmatch(order.order_reference_id)
    assert len(order.lang) == 2
    assert order.external_reference is None or 1 <= len(order.external_reference) <= 255
    assert order.placed_at.utcoffset() == timedelta(0)
    assert order.placed_at <= NOW + timedelta(minutes=5)
    assert order.visit_date is None or order.visit_date <= latest_visit_date(order.placed_at)
    # The normalised order survives a second round unchanged (what the next check reads).
    again = OrderToTrack.from_input(order.to_json(), default_placed_at=NOW, now=NOW)
    assert again.to_json() == order.to_json()


@settings(max_examples=150, deadline=None)
@given(
    order_reference_id=plausible_ids,
    lang=st.sampled_from(["en", "de", "nl", "xx", ""]),
    external_reference=st.none() | st.text(max_size=300),
)
def test_build_execution_input_returns_valid_input_or_a_named_refusal(
    order_reference_id: str, lang: str, external_reference: str | None
) -> None:
    payload = outcome_of(
        lambda: build_execution_input(
            order_reference_id, lang=lang, external_reference=external_reference, now=NOW
        )
    )
    if isinstance(payload, str):
        assert 0 < len(payload) <= MAX_REASON_LENGTH
        if len(order_reference_id) > 3 and not ORDER_ID.fullmatch(order_reference_id):
            assert order_reference_id not in payload
        return
    assert ORDER_ID.fullmatch(payload["order_reference_id"])
    assert payload["order_reference_id"] == order_reference_id
    assert OrderToTrack.from_input(payload, default_placed_at=NOW, now=NOW).to_json() == payload
