"""The one fake Lambda context of the tests: tiqets_tracker_local's LocalLambdaContext (what the
local stack hands its handlers), its clock running from the function's timeout or stopped at a
given remaining time."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from tiqets_tracker_local.lambdas import LocalLambdaContext

REGION = "eu-west-1"
ACCOUNT = "123456789012"


@dataclass
class _StoppedClockContext(LocalLambdaContext):
    remaining_millis: int = 0

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def lambda_context(
    function_name: str = "tiqets-tracker-test",
    *,
    memory_mb: int = 256,
    timeout_seconds: int = 60,
    remaining_millis: int | None = None,
) -> LocalLambdaContext:
    """A context for a handler called directly. Without remaining_millis its clock runs down
    from timeout_seconds in real time; with it, the time left stays that many milliseconds."""
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
    if remaining_millis is None:
        return LocalLambdaContext(function_name, memory_mb, arn, timeout_seconds)
    return _StoppedClockContext(
        function_name, memory_mb, arn, timeout_seconds, remaining_millis=remaining_millis
    )


def without_clock(context: LocalLambdaContext) -> object:
    """The context's attributes without get_remaining_time_in_millis: a context that cannot
    tell how long the invocation has left."""
    return SimpleNamespace(
        **{name: value for name, value in vars(context).items() if not name.startswith("_")}
    )
