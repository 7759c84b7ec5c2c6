"""Thousands of generated requests at the webhook handler (functions/webhook/app.py), on moto.

Whatever arrives (any method, path, headers, query, body bytes, encoding, and any secret: none,
forged, retired, another order's, a near miss of a real one), the handler answers a small JSON
4xx or 200, never a 5xx and never an exception; and any answer but 200 changes nothing: the
tracking table is the same item for item, no write reached DynamoDB, and no SendTaskSuccess or
StartExecution was sent. Only an authentic request can get a 200.

The moto fixtures are built once per test function and reused across its examples.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhook_support import (
    CURRENT_KEY,
    PREVIOUS_KEY,
    RETIRED_KEY,
    WebhookAws,
    invoke,
    request,
    signed_query,
    webhook_aws,
)
from tiqets_tracker.callback_urls import CALLBACK_PATH
from tiqets_tracker.wakeups import WakeResult

pytestmark = pytest.mark.property

FUZZ = settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
NEAR_MISSES = settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WRITES = ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
WAKES = ("SendTaskSuccess", "SendTaskFailure", "StartExecution", "StopExecution")
ALLOWED_STATUSES = {200, 400, 401, 403, 404, 405, 413}
RESULTS = {result.value for result in WakeResult}
SIGNATURE_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class State:
    items: list[dict[str, Any]]
    executions: int


def state_of(aws: WebhookAws) -> State:
    return State(items=aws.scan(), executions=len(aws.executions()))


# The orders in the table: (order ID, external reference, state).
ORDERS = [
    ("100", "shop-A", "parked"),
    ("200", "shop-B", "finished"),
    ("300", None, "active"),
    ("400", "shop-A", "active"),
]
KNOWN_REFERENCES = ["shop-A", "shop-B", "shop-C"]


@dataclass
class Fuzzed:
    """The moto AWS under fire, and its state as last seen. Nothing but the handler changes it
    (executions do not run), so the state before a request is the one seen after the last."""

    aws: WebhookAws
    known: State


@pytest.fixture
def fuzzed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fuzzed]:
    # Executions are not run: SendTaskSuccess and StartExecution are only recorded, which is
    # all these properties look at (and keeps thousands of requests fast).
    with webhook_aws(monkeypatch, execute_state_machine=False) as moto_aws:
        for order_id, reference, state in ORDERS:
            moto_aws.track(
                order_id,
                external_reference=reference,
                finished=state == "finished",
                task_token=f"token-{order_id}" if state == "parked" else None,
            )
        yield Fuzzed(moto_aws, state_of(moto_aws))


# -- what to throw -----------------------------------------------------------------------------

T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each drawn about as often as its weight says."""
    expanded = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(expanded).flatmap(lambda strategy: strategy)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)
known_order_ids = st.sampled_from([order_id for order_id, _, _ in ORDERS])
order_ids = weighted(
    (3, known_order_ids),
    (1, known_order_ids.map(int)),
    (1, st.sampled_from(["999", "0", "-1", "1" * 64, "1" * 65, "../x", "1 ", "١٢٣"])),
    (1, st.integers(min_value=-5, max_value=10**70)),
    (1, st.text(max_size=70)),
    (1, json_values),
)
references = weighted(
    (3, st.sampled_from([*KNOWN_REFERENCES, None])),
    (1, st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)),
)


def encode_body(document: Any) -> bytes:
    return json.dumps(document).encode()


bodies = weighted(
    (4, st.builds(dict, order_reference_id=order_ids).map(encode_body)),
    (1, st.builds(dict, orderReferenceId=order_ids).map(encode_body)),
    (
        2,
        st.fixed_dictionaries(
            {},
            optional={
                "order_reference_id": order_ids,
                "orderReferenceId": order_ids,
                "extra": json_values,
            },
        ).map(encode_body),
    ),
    (1, st.none()),
    (1, json_values.map(encode_body)),
    (1, st.binary(max_size=200)),
    (1, st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass"))),
    (
        1,
        st.integers(min_value=4090, max_value=6000).map(
            lambda size: encode_body({"order_reference_id": "100", "pad": "x" * size})
        ),
    ),
)
methods = weighted(
    (8, st.just("POST")),
    (1, st.sampled_from(["post", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])),
    (1, st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)),
)
paths = weighted(
    (8, st.just(CALLBACK_PATH)),
    (1, st.sampled_from(["/", "/tiqets", CALLBACK_PATH + "/", "/TIQETS/CALLBACKS", "//"])),
    (1, st.text(max_size=30).map(lambda text: "/" + text)),
)
headers = st.lists(
    st.tuples(
        st.sampled_from(["content-type", "Content-Type", "x-forwarded-for", "cookie"])
        | st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12),
        st.sampled_from(["application/json", "text/plain", "application/octet-stream", ""])
        | st.text(max_size=30),
    ),
    max_size=5,
)


@dataclass(frozen=True)
class Credentials:
    query: str
    authentic: bool  # signed with a valid key for the reference it carries, unambiguously


def random_signature(draw: st.DrawFn) -> str:
    return draw(st.text(alphabet=SIGNATURE_ALPHABET, min_size=43, max_size=43))


def ref_part(reference: str | None) -> str:
    return "" if reference is None else f"ref={quote(reference, safe='')}&"


@st.composite
def credentials(draw: st.DrawFn) -> Credentials:
    reference = draw(references)
    kind = draw(
        st.sampled_from(
            [
                *["authentic"] * 5,
                *["authentic_previous"] * 2,
                "none",
                "retired_key",
                "random_signature",
                "random_text",
                "other_reference",
                "repeated",
                "flipped",
                "raw_garbage",
            ]
        )
    )
    if kind == "none":
        return Credentials(draw(st.sampled_from(["", ref_part(reference).rstrip("&")])), False)
    if kind == "authentic":
        return Credentials(signed_query(reference, key=CURRENT_KEY), True)
    if kind == "authentic_previous":
        return Credentials(signed_query(reference, key=PREVIOUS_KEY), True)
    if kind == "retired_key":
        return Credentials(signed_query(reference, key=RETIRED_KEY), False)
    if kind == "random_signature":
        return Credentials(f"{ref_part(reference)}sig={random_signature(draw)}", False)
    if kind == "random_text":
        signature = quote(draw(st.text(min_size=1, max_size=60)).encode("utf-8", "surrogatepass"))
        return Credentials(f"{ref_part(reference)}sig={signature}", False)
    if kind == "other_reference":
        other = draw(references)
        if other == reference:
            other = (reference or "") + "-other"
        signature = signed_query(other).rpartition("sig=")[2]
        return Credentials(f"{ref_part(reference)}sig={signature}", False)
    if kind == "repeated":
        query = signed_query(reference)
        return Credentials(f"{query}&{query}", False)
    if kind == "flipped":
        query = signed_query(reference)
        position = draw(st.integers(min_value=len(query) - 43, max_value=len(query) - 1))
        replacement = draw(
            st.sampled_from(SIGNATURE_ALPHABET).filter(lambda c: c != query[position])
        )
        return Credentials(query[:position] + replacement + query[position + 1 :], False)
    return Credentials(draw(st.text(max_size=120)), False)


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, Any], Credentials]:
    given_credentials = draw(credentials())
    body = draw(bodies)
    event = request(
        query=given_credentials.query,
        body=body,
        method=draw(methods),
        path=draw(paths),
        headers=draw(headers),
        base64_always=draw(st.booleans()),
    )
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        # What API Gateway never sends but a hand-made event might: a body that does not
        # match its isBase64Encoded flag.
        event["isBase64Encoded"] = not event["isBase64Encoded"]
        if body and not event["isBase64Encoded"]:
            event["body"] = base64.b64encode(body).decode()
    return event, given_credentials


# -- what must hold ----------------------------------------------------------------------------


def answer_is_well_formed_and_safe(fuzzed: Fuzzed, event: dict[str, Any], authentic: bool) -> int:
    aws = fuzzed.aws
    before = fuzzed.known
    aws.calls.clear()

    answer = invoke(event)  # an exception fails the example

    hypothesis.event(f"answered {answer.status_code} {answer.result or answer.error}")
    assert answer.status_code in ALLOWED_STATUSES, answer
    assert answer.headers["content-type"] == "application/json"
    if answer.status_code == 200:
        assert authentic, answer
        assert set(answer.body) == {"result"}
        assert answer.result in RESULTS
        fuzzed.known = state_of(aws)
    else:
        assert set(answer.body) == {"error"}
        assert isinstance(answer.error, str)
        assert 0 < len(answer.error) <= 40
        assert aws.calls_of(*WRITES, *WAKES) == 0, aws.calls
        assert state_of(aws) == before
    if not authentic:
        assert answer.status_code >= 400
        assert aws.calls_of("GetItem") == 0, "an unauthenticated request read the table"
    return answer.status_code


@FUZZ
@given(generated=requests())
def test_any_request_gets_json_and_only_an_authentic_one_changes_anything(
    fuzzed: Fuzzed, generated: tuple[dict[str, Any], Credentials]
) -> None:
    event, given_credentials = generated
    answer_is_well_formed_and_safe(fuzzed, event, given_credentials.authentic)


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[str, str]:
    """A real callback's query string, slightly wrong; and the order it names."""
    order_id, reference, _ = draw(st.sampled_from(ORDERS))
    query = signed_query(reference)
    signature = query.rpartition("sig=")[2]
    prefix = query.rpartition("sig=")[0]
    change = draw(
        st.sampled_from(
            ["truncate", "extend", "case", "padding", "flip", "other_key", "reference", "hex"]
        )
    )
    if change == "truncate":
        signature = signature[: draw(st.integers(min_value=0, max_value=42))]
    elif change == "extend":
        signature += draw(st.text(alphabet=SIGNATURE_ALPHABET, min_size=1, max_size=4))
    elif change == "case":
        swapped = signature.swapcase()
        signature = swapped if swapped != signature else signature[::-1]
    elif change == "padding":
        signature += "="
    elif change == "flip":
        position = draw(st.integers(min_value=0, max_value=42))
        replacement = draw(
            st.sampled_from(SIGNATURE_ALPHABET).filter(lambda c: c != signature[position])
        )
        signature = signature[:position] + replacement + signature[position + 1 :]
    elif change == "other_key":
        key = draw(st.sampled_from([RETIRED_KEY, CURRENT_KEY[:-1] + "x", PREVIOUS_KEY.upper()]))
        signature = signed_query(reference, key=key).rpartition("sig=")[2]
    elif change == "reference":
        altered = draw(
            st.sampled_from(
                [
                    None,
                    (reference or "") + " ",
                    (reference or "x").upper(),
                    (reference or "x") + "%00",
                    "shop-A,shop-B",
                ]
            )
        )
        if altered == reference:
            altered = "zz" + (reference or "")
        prefix = ref_part(altered)
    else:
        signature = "0" * 64
    return f"{prefix}sig={signature}", order_id


@NEAR_MISSES
@given(near_miss=near_misses(), base64_always=st.booleans())
def test_a_near_miss_of_a_real_secret_is_refused_and_changes_nothing(
    fuzzed: Fuzzed, near_miss: tuple[str, str], base64_always: bool
) -> None:
    query, order_id = near_miss
    event = request(
        query=query,
        body=json.dumps({"order_reference_id": order_id}).encode(),
        base64_always=base64_always,
    )

    status_code = answer_is_well_formed_and_safe(fuzzed, event, authentic=False)

    assert status_code in (401, 403)
