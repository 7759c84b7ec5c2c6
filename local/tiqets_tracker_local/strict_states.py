"""moto's Step Functions interpreter made as strict as AWS where our definition depends on it.

- `States.ALL` and `States.TaskFailed` do not match `States.DataLimitExceeded` or
  `States.Runtime`: on AWS those two are caught only where a Retry or Catch names them
  (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). moto's
  `ErrorEqualsDecl` lets `States.ALL` match them, so an oversized state looked like an ordinary
  failure that a Catch turned into `TrackingFailed`; on AWS the execution fails outright.
- An execution history holds at most 25,000 events; AWS fails the execution that reaches it
  (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). moto's history
  grows without bound. Here, entering a state with `HISTORY_EVENT_LIMIT` events already
  recorded fails the execution with `States.Runtime`, which nothing catches.

moto already enforces the 256 KB quota on state input/output and task results
(`_verify_size_quota`). These are moto internals: moto is pinned to the 5.2 series in
pyproject.toml, and `strict_states()` refuses to start if the patched names are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

__all__ = ["HISTORY_EVENT_LIMIT", "UNCATCHABLE_BY_WILDCARDS", "strict_states"]

HISTORY_EVENT_LIMIT = 25_000
UNCATCHABLE_BY_WILDCARDS = frozenset({"States.DataLimitExceeded", "States.Runtime"})


def _strict_error_equals(self: Any, env: Any) -> None:
    """ErrorEqualsDecl._eval_body: as moto's, but the wildcards leave the two errors alone."""
    error_name = env.stack.pop()
    raised = getattr(error_name, "error_name", None)
    named = {getattr(name, "error_name", None) for name in self.error_names}
    if raised in UNCATCHABLE_BY_WILDCARDS:
        matches = raised in named
    else:
        # moto's own rules: States.ALL matches anything, States.TaskFailed what a task raised.
        matches = (
            "States.ALL" in named
            or ("States.TaskFailed" in named and not raised_by_states(error_name))
            or error_name in self.error_names
        )
    env.stack.append(matches)


def raised_by_states(error_name: Any) -> bool:
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )

    return isinstance(error_name, StatesErrorName)


def _history_size(env: Any) -> int:
    return len(env.event_manager._history_event_list)


@contextmanager
def strict_states() -> Iterator[None]:
    """While active, moto's interpreter matches errors and bounds history as AWS does."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if not hasattr(error_equals_decl.ErrorEqualsDecl, "_eval_body") or not hasattr(
        CommonStateField, "_eval_body"
    ):
        raise RuntimeError("moto's interpreter changed: review local/strict_states.py")
    original_state_body = CommonStateField._eval_body

    def bounded_state_body(self: Any, env: Any) -> None:
        if _history_size(env) >= HISTORY_EVENT_LIMIT:
            runtime = StatesErrorNameType.StatesRuntime
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=runtime),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]  # total=True in moto
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=runtime.to_name(),
                            cause=(
                                "The execution reached the maximum number of history events "
                                f"({HISTORY_EVENT_LIMIT})."
                            ),
                        )
                    ),
                )
            )
        original_state_body(self, env)

    with (
        mock.patch.object(error_equals_decl.ErrorEqualsDecl, "_eval_body", _strict_error_equals),
        mock.patch.object(CommonStateField, "_eval_body", bounded_state_body),
    ):
        yield
