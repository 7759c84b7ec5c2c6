"""moto's Step Functions interpreter made to refuse what AWS refuses.

`strict_states()` corrects moto 5.2's interpreter (moto.stepfunctions.parser) while a local stack
is up (stack.py enters it next to the in-process Lambdas). The rules are here; the patches that
install them are seams of moto_seams.py (`error_equals_evaluation`, `branch_error_names`,
`history_event_adding`):

1. The wildcards leave `States.DataLimitExceeded` and `States.Runtime` alone. On AWS, States.ALL
   "can't catch the States.DataLimitExceeded terminal error or Runtime error types"
   (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html, under
   States.ALL, States.DataLimitExceeded and States.Runtime). moto's `ErrorEqualsDecl._eval_body`
   matched every error to States.ALL, so a Retry retried them and a Catch turned an oversized
   result or a failed JSONPath into an ordinary failure, where AWS fails the execution (ours:
   the `States.ALL` catchers of CheckOrderStatus, StoreVouchers, MarkVoucherCancelled...).
   Patched: a Retrier or Catcher matches these two only where its ErrorEquals names them.
   (States.TaskFailed matches neither in moto already: it skips every States.* error.)
2. A Parallel branch or a Map iteration that fails with a States.* error fails its state with
   that error. moto re-raised it as a `CustomErrorName`, which refuses names that start with
   "States.": a branch's States.DataLimitExceeded came out as a States.Runtime about custom
   error names. Patched: the `CustomErrorName` that `branches_decl` and `iteration_worker` call
   keeps a States.* name as the States error it is (needed by 1 for a Pass state, which has no
   Catch of its own: it is caught, or not, at its Parallel).
3. An execution history holds at most `HISTORY_EVENT_LIMIT` (25,000) events. AWS: "Maximum
   execution history size: 25,000 events. If the execution history reaches this quota, the
   execution will fail" (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html);
   at 24,999 events "it waits for the next event to happen. If the event number 25,000 is
   ExecutionSucceeded, the execution finishes successfully. If [not], the ExecutionFailed event
   is logged" (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html), with
   error States.Runtime and cause "The execution reached the maximum number of history events
   (25000)." (as executions that reach it report: https://github.com/loads/ardere/issues/86).
   moto's history grew without bound: a loop AWS would end ran forever. Patched:
   `EventManager.add_event` refuses any event but the execution's ending one once the history
   holds limit - 1 events, and the refusal fails the execution with that error and cause, so
   event number `HISTORY_EVENT_LIMIT` is its ExecutionFailed. No Retry or Catch gets to see the
   refusal (the failing state's own failure event is refused in turn). The limit is read on each
   event, so a test can lower it: `with history_event_limit(40):`, or monkeypatch the constant.

The 256 KB payload quota (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html,
"Maximum input or output size for a task, state, or execution": 262,144 bytes) moto enforces
itself with States.DataLimitExceeded: on every state's output after OutputPath
(`CommonStateField._eval_body` -> `_verify_size_quota`: Pass, Task, Choice, Wait, Parallel,
Map, and so the execution's output), on a Lambda task's result
(`StateTaskLambda._verify_size_quota`) and on a service integration's result
(`StateTaskService._verify_size_quota`, aws-sdk included). The last two are raised inside the
state's Retry/Catch loop, where 1 matters. Not checked by moto: a task's input after Parameters
and StartExecution's input (the first state's output is); and it refuses exactly 262,144 bytes,
which AWS allows.

These are moto internals: moto is pinned to the 5.2 series in pyproject.toml, and
`strict_states()` raises `MotoInternalsChangedError` instead of starting if moto is of another
series or lacks a name it patches or uses (`moto_seams.step_functions_internals`).
tests/workflow/test_strict_states.py shows each rule on small state machines of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any

from tiqets_tracker_local import moto_seams
from tiqets_tracker_local.moto_seams import MOTO_SERIES, MotoInternalsChangedError

__all__ = [
    "HISTORY_EVENT_LIMIT",
    "MOTO_SERIES",
    "UNCATCHABLE_BY_WILDCARDS",
    "MotoInternalsChangedError",
    "history_event_limit",
    "strict_states",
]

HISTORY_EVENT_LIMIT = 25_000
UNCATCHABLE_BY_WILDCARDS = frozenset({"States.DataLimitExceeded", "States.Runtime"})

# The events that end an execution: the only ones the last place in a full history takes.
_EXECUTION_ENDING_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)
_HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events ({limit})."


@contextmanager
def history_event_limit(limit: int) -> Iterator[None]:
    """Another history limit for a while (a test's, to reach it in a few events)."""
    global HISTORY_EVENT_LIMIT  # noqa: PLW0603 - the module constant is the setting
    if limit < 2:
        raise ValueError("a history holds at least ExecutionStarted and its ending event")
    saved, HISTORY_EVENT_LIMIT = HISTORY_EVENT_LIMIT, limit
    try:
        yield
    finally:
        HISTORY_EVENT_LIMIT = saved


# -- 1. the wildcards leave DataLimitExceeded and Runtime alone --------------------------------


def _named_only(original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """ErrorEqualsDecl._eval_body (pops the error name, pushes whether it matches): moto's,
    except that the two errors match only an ErrorEquals that names them."""

    def eval_body(self: Any, env: Any) -> None:
        raised = getattr(env.stack[-1], "error_name", None)
        if raised not in UNCATCHABLE_BY_WILDCARDS:
            original(self, env)
            return
        env.stack.pop()
        env.stack.append(any(name.error_name == raised for name in self.error_names))

    return eval_body


# -- 2. branches and iterations fail their state with their own error -------------------------


def _branch_error_name(internals: SimpleNamespace) -> Callable[..., Any]:
    """What branches_decl and iteration_worker call as `CustomErrorName(error_name=...)` for
    the error a branch or iteration failed with: a States.* name stays that States error
    (moto's CustomErrorName raises ValueError on it, which became a States.Runtime)."""

    def error_name(error_name: str | None) -> Any:
        if error_name is not None and error_name.startswith("States."):
            try:
                return internals.StatesErrorName.from_name(error_name)
            except ValueError:  # a States.* name moto's grammar lacks (States.Http.Socket)
                return internals.ErrorName(error_name=error_name)
        return internals.CustomErrorName(error_name=error_name)

    return error_name


# -- 3. the history limit ---------------------------------------------------------------------


class _EnvironmentOf:
    """What FailureEvent reads of an environment, in add_event, which has none: the event's
    history context (and no state name: AWS's failure at the limit names no state either)."""

    def __init__(self, context: Any) -> None:
        self.next_state_name = None
        self.event_history_context = context


def _history_limit_failure(internals: SimpleNamespace) -> Callable[[Any], Exception]:
    """The exception that fails an execution whose history is full: a FailureEventException
    (what moto's Program turns into ExecutionFailed) of States.Runtime with AWS's cause, which
    moto would otherwise prefix as a state's runtime error."""

    class HistoryLimitReached(internals.FailureEventException):  # type: ignore[misc,name-defined]
        def get_execution_failed_event_details(self) -> Any:
            return self.failure_event.event_details["executionFailedEventDetails"]

    def failure(context: Any) -> Exception:
        runtime = internals.StatesRuntime
        details = internals.ExecutionFailedEventDetails(
            error=runtime.to_name(), cause=_HISTORY_LIMIT_CAUSE.format(limit=HISTORY_EVENT_LIMIT)
        )
        return HistoryLimitReached(
            failure_event=internals.FailureEvent(
                env=_EnvironmentOf(context),
                error_name=internals.StatesErrorName(typ=runtime),
                event_type=internals.ExecutionFailed,
                event_details=internals.EventDetails(executionFailedEventDetails=details),
            )
        )

    return failure


def _bounded(internals: SimpleNamespace, original: Callable[..., int]) -> Callable[..., int]:
    """EventManager.add_event (moto's: `original`), refusing the event that would take the
    history's last place unless it ends the execution; the refusal fails the execution. The
    check and the append are one step (a lock per history: a Parallel's branches add events
    from their own threads). ExecutionStarted is never refused (the execution's worker adds it
    outside any state)."""
    failure = _history_limit_failure(internals)
    ended_at_the_limit = "_strict_states_ended_at_limit"

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        kind = getattr(event_type, "value", event_type)
        with self.__dict__.setdefault("_strict_states_lock", threading.Lock()):
            next_id: int = self._event_id_gen._next_id
            if next_id < HISTORY_EVENT_LIMIT or kind == "ExecutionStarted":
                return original(self, context, event_type, *args, **kwargs)
            if kind in _EXECUTION_ENDING_EVENTS:
                if not self.__dict__.get(ended_at_the_limit):
                    # The execution's one ending event, in the history's last place.
                    self.__dict__[ended_at_the_limit] = True
                    return original(self, context, event_type, *args, **kwargs)
                # A second ending event (moto logs a failed Parallel's failure as
                # ExecutionFailed, then the execution's own): the history is closed already.
                return next_id - 1
        raise failure(context)

    return add_event


# -- the patch --------------------------------------------------------------------------------


@contextmanager
def strict_states() -> Iterator[None]:
    """While active, moto's interpreter matches errors and bounds histories as AWS does."""
    internals = moto_seams.step_functions_internals()
    with ExitStack() as patches:
        patches.enter_context(moto_seams.error_equals_evaluation(internals, _named_only))
        patches.enter_context(
            moto_seams.branch_error_names(internals, _branch_error_name(internals))
        )
        patches.enter_context(
            moto_seams.history_event_adding(
                internals, lambda original: _bounded(internals, original)
            )
        )
        yield
