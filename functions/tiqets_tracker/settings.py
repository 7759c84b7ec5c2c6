"""Configuration a Lambda reads from its environment (set by template.yaml).

Read at invocation, not at import: the local stack runs several configurations in one process,
and a Lambda container pays nothing for re-reading a few environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tiqets_tracker.errors import ConfigurationError


def require_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise ConfigurationError(f"the environment variable {name} is not set")
    return value


def float_env(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw[:20]!r}") from None
    if not 0 < value <= 900:
        raise ConfigurationError(f"{name} must be between 0 and 900 seconds")
    return value


@dataclass(frozen=True)
class TiqetsConfig:
    """Where and how the Lambda reaches the Tiqets API. The key itself is loaded separately
    (tiqets_tracker.secret_store) so that it never sits in a printable configuration object."""

    base_url: str
    api_key_source: str
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TiqetsConfig:
        return cls(
            base_url=require_env("TIQETS_BASE_URL", environ),
            api_key_source=require_env("TIQETS_API_KEY_SECRET", environ),
            connect_timeout=float_env("TIQETS_CONNECT_TIMEOUT_SECONDS", 3.05, environ),
            read_timeout=float_env("TIQETS_READ_TIMEOUT_SECONDS", 10.0, environ),
        )
