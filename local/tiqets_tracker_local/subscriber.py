"""A subscriber to the outcome bus, as a distributor's consumer would be: every event the
tracker publishes lands in an SQS queue (an EventBridge rule's target), and is read from there.

The local stack and `make test-aws` read their queues with the same `OutcomeQueue`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["OUTCOME_SOURCES", "OutcomeEvent", "OutcomeQueue"]

OUTCOME_SOURCES = ("tiqets-tracker", "tiqets-tracker.sweep")


@dataclass(frozen=True)
class OutcomeEvent:
    detail_type: str
    detail: dict[str, Any]
    source: str
    resources: list[str]


class OutcomeQueue:
    """The events a queue has received, in the order they were read; append-only."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._events: list[OutcomeEvent] = []
        self._lock = threading.Lock()

    def events(self, *, wait_seconds: int = 0) -> list[OutcomeEvent]:
        """Every event received so far: the queue is drained into the list first (waiting up
        to `wait_seconds` for the first message, SQS's long polling)."""
        with self._lock:
            wait = wait_seconds
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
                ).get("Messages", [])
                if not messages:
                    break
                wait = 0
                for message in messages:
                    event = json.loads(message["Body"])
                    self._events.append(
                        OutcomeEvent(
                            detail_type=event["detail-type"],
                            detail=event["detail"],
                            source=event["source"],
                            resources=list(event.get("resources", [])),
                        )
                    )
                    self._sqs.delete_message(
                        QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
            return list(self._events)

    def outcomes(self, *, wait_seconds: int = 0) -> list[OutcomeEvent]:
        """The outcome events (not the sweep's) received so far."""
        return [e for e in self.events(wait_seconds=wait_seconds) if e.source == OUTCOME_SOURCES[0]]
