"""The loopback tier: our code against HTTP servers on 127.0.0.1 (the Tiqets simulator, the
local webhook endpoint), without AWS. A test here that starts moto fails; it belongs to
tests/moto instead."""

from __future__ import annotations

from typing import Any

import pytest


class LoopbackTierError(AssertionError):
    """A loopback test reached for moto, which the loopback tier does not have."""


def _refuse_moto(*args: object, **kwargs: object) -> Any:
    raise LoopbackTierError("a loopback test started moto: move it to tests/moto")


@pytest.fixture(autouse=True)
def _no_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.models import MockAWS

    # moto started by a module- or session-scoped fixture is already running when this fixture
    # runs, too late to refuse its start; moto counts its active mocks (pinned to 5.2).
    if MockAWS._nested_count:
        raise LoopbackTierError("a loopback test ran inside moto started by a wider-scoped fixture")
    monkeypatch.setattr(MockAWS, "start", _refuse_moto)
