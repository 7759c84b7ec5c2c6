"""Looking for secrets where they must never be: the Tiqets API key, the
webhook signing key and the task tokens a run issued, in what a local stack produced.

Task tokens are by design in two places that are not logs: the execution history (Step
Functions records the parameters of ParkUntilWebhookOrTimeout, which writes `$$.Task.Token` to
the tracking record) and the tracking record while an execution is parked. The product promises
tokens stay out of logs, URLs, error messages, events and stored objects, so only those, and
records once tracking has ended, are searched for tokens.

Used by the soak (bench/soak.py) on every round and by tests/workflow/test_secrets_never_leak.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiqets_tracker_local.stack import LocalStack


def key_needles(api_key: str, signing_key: str) -> list[str]:
    """The API key, its random part (an encoded or cut copy still shows it), the signing key and
    its first half."""
    return [api_key, api_key.rsplit("-", 1)[-1], signing_key, signing_key[: len(signing_key) // 2]]


def task_tokens_in(history: Iterable[dict[str, Any]]) -> list[str]:
    """Task tokens an execution issued: the `:token` value ParkUntilWebhookOrTimeout wrote."""
    tokens = []
    for event in history:
        details = event.get("taskScheduledEventDetails")
        if not details or ":token" not in details.get("parameters", ""):
            continue
        parameters = json.loads(details["parameters"])
        tokens.append(parameters["ExpressionAttributeValues"][":token"]["S"])
    return tokens


def found(needles: Iterable[str], haystack: str) -> list[str]:
    """The needles in the haystack, shown cut short (at most a third of each, and 6 characters)
    so that a report does not print a secret."""
    return [
        f"{needle[: min(6, len(needle) // 3)]}... ({len(needle)} chars)"
        for needle in needles
        if needle in haystack
    ]


@dataclass
class LeakScan:
    """What was searched (items per place) and what was found where."""

    searched: Counter[str] = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)
    task_tokens: int = 0
    secrets: list[str] = field(default_factory=list, repr=False)
    """Every secret searched for (the keys, then the tokens); never to be printed."""

    def search_printed(self, lines: Iterable[str]) -> None:
        """Search what the process printed (the handlers' logs among it) for every secret."""
        self.search("printed lines", self.secrets, lines)

    def search(self, place: str, needles: Sequence[str], haystacks: Iterable[str]) -> None:
        for haystack in haystacks:
            self.searched[place] += 1
            self.leaks.extend(f"{place}: {needle}" for needle in found(needles, haystack))


def _failures(history: Iterable[dict[str, Any]]) -> list[str]:
    """The error details of a history's failed and timed-out events."""
    return [
        json.dumps(details, default=str)
        for event in history
        for name, details in event.items()
        if name.endswith(("FailedEventDetails", "TimedOutEventDetails"))
    ]


def scan_stack(stack: LocalStack, *, api_key: str) -> LeakScan:
    """Search everything `stack` holds for the keys, and for the task tokens its executions
    issued wherever a token must not be. Call it once no execution runs: no record then holds a
    token by design. What the process printed is searched after (`LeakScan.search_printed`)."""
    scan = LeakScan()
    keys = key_needles(api_key, stack.webhook_signing_key)
    histories = [
        (stack.describe(execution["executionArn"]), stack.history(execution["executionArn"]))
        for execution in stack.executions()
    ]
    tokens = sorted({token for _, history in histories for token in task_tokens_in(history)})
    scan.task_tokens = len(tokens)
    every_secret = scan.secrets = [*keys, *tokens]

    scan.search(
        "execution histories and descriptions",
        keys,
        (json.dumps([description, history], default=str) for description, history in histories),
    )
    scan.search(
        "errors in execution histories",
        every_secret,
        (failure for _, history in histories for failure in _failures(history)),
    )
    scan.search(
        "outcome and sweep events",
        every_secret,
        (
            json.dumps([event.detail_type, event.detail, event.resources])
            for event in [*stack.outcome_events(), *stack.sweep_events()]
        ),
    )
    scan.search(
        "tracking records",
        every_secret,
        (json.dumps(record, default=str) for record in stack.records()),
    )
    scan.search(
        "stored objects",
        every_secret,
        # The body apart: JSON-escaping a PDF's binary text would take six times its size.
        (
            json.dumps({name: value for name, value in stored.items() if name != "body_latin1"})
            + "\n"
            + stored["body_latin1"]
            for stored in stored_objects(stack)
        ),
    )
    return scan


def stored_objects(stack: LocalStack) -> Iterator[dict[str, Any]]:
    """Every version of every object in the voucher bucket: its key, metadata, tags and body
    (as latin-1 text, one character per byte)."""
    s3 = stack.client("s3")
    bucket = stack.voucher_bucket_name
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            where = {"Bucket": bucket, "Key": version["Key"], "VersionId": version["VersionId"]}
            got = s3.get_object(**where)
            body: bytes = got["Body"].read()
            yield {
                "key": version["Key"],
                "metadata": got.get("Metadata", {}),
                "tags": s3.get_object_tagging(**where)["TagSet"],
                "body_latin1": body.decode("latin-1"),
            }
