"""Loading the Tiqets API key: a source that names nothing is refused before any AWS call.
Loading it from Secrets Manager (on moto): tests/moto/test_secret_store.py."""

from __future__ import annotations

import pytest

from tiqets_tracker.errors import ConfigurationError
from tiqets_tracker.secret_store import load_api_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("source", ["", "   "])
def test_an_empty_source_is_a_configuration_error(source: str) -> None:
    with pytest.raises(ConfigurationError, match="Tiqets API key source is invalid"):
        load_api_key(source)
