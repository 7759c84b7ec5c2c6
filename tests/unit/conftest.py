"""The unit tier: plain Python. A unit test that starts moto or opens a socket fails here; it
belongs to tests/moto (AWS through moto, Tiqets through the loopback simulator) or
tests/loopback (loopback HTTP servers, no moto) instead."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class UnitTierError(AssertionError):
    """A unit test reached for what the unit tier does not have."""


def _refuse(what: str) -> Any:
    def refused(*args: object, **kwargs: object) -> Any:
        raise UnitTierError(f"a unit test {what}: move it to tests/moto or tests/loopback")

    return refused


@pytest.fixture(autouse=True)
def _no_moto_and_no_sockets(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.models import MockAWS

    # moto started by a module- or session-scoped fixture is already running when this fixture
    # runs, too late to refuse its start; moto counts its active mocks (pinned to 5.2).
    if MockAWS._nested_count:
        raise UnitTierError("a unit test ran inside moto started by a wider-scoped fixture")
    monkeypatch.setattr(MockAWS, "start", _refuse("started moto"))
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse(f"opened a socket ({name})"))
    monkeypatch.setattr(socket, "create_connection", _refuse("opened a connection"))
    monkeypatch.setattr(socket, "getaddrinfo", _refuse("resolved a host name"))
