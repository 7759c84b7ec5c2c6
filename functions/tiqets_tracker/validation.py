"""The JSON Schemas under schemas/, and the one cached compiler that validates against them.

Every input rule is written once, in a schema: the execution input (execution_input), the voucher
step's input (voucher_step_input), the tracking settings (tracking_settings), and the pieces they
share (definitions: the order ID, the language, the external reference). Code that needs a rule
outside a schema reads it from there (`ORDER_REFERENCE_ID`, `LANGS`).

A `$ref` to a sibling schema (`definitions.schema.json#/$defs/lang`) is resolved from the package,
never fetched: the schemas' `$id`s name where they are published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, Final, cast
from urllib.parse import urlsplit

from tiqets_tracker.errors import InvalidExecutionInputError

__all__ = [
    "LANGS",
    "MAX_URL_LENGTH",
    "ORDER_REFERENCE_ID",
    "check",
    "load_schema",
    "schema_definition",
    "validator",
]

_PUBLISHED_AT: Final = "https://github.com/tiqets-tracker/tiqets-tracker/schemas/"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema file of the package, as JSON."""
    text = resources.files("tiqets_tracker").joinpath("schemas", name).read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


def _sibling(uri: str) -> dict[str, Any]:
    """A `$ref` to another of our schemas, from the package (never the network)."""
    if not uri.startswith(_PUBLISHED_AT):
        raise ValueError(f"a schema may refer only to its siblings, not to {uri!r}")
    return load_schema(urlsplit(uri).path.rsplit("/", 1)[-1])


@cache
def validator(name: str) -> Callable[[object], object]:
    """The compiled validator of a schema file (compiled once per container): it returns the
    data, or raises fastjsonschema.JsonSchemaValueException naming the field and the rule."""
    # fastjsonschema comes with aws-lambda-powertools[validation].
    import fastjsonschema

    return cast(
        Callable[[object], object],
        fastjsonschema.compile(load_schema(name), handlers={"https": _sibling}),
    )


def check(name: str, data: object, *, what: str) -> None:
    """Validate `data` against a schema file; InvalidExecutionInputError("<what> rejected: ...")
    names the field and the rule, never the offending value."""
    import fastjsonschema

    try:
        validator(name)(data)
    except fastjsonschema.JsonSchemaValueException as error:
        # fastjsonschema names the field and the rule, never the value, except for
        # additionalProperties, whose message lists the unknown property names as given.
        message = error.message
        if error.rule == "additionalProperties":
            allowed = ", ".join(load_schema(name)["properties"])
            message = f"{error.name} has properties other than {allowed}"
        raise InvalidExecutionInputError(f"{what} rejected: {message}") from None


def schema_definition(name: str) -> dict[str, Any]:
    """One of the shared definitions (definitions.schema.json's `$defs`)."""
    return cast(dict[str, Any], load_schema("definitions.schema.json")["$defs"][name])


ORDER_REFERENCE_ID: Final = re.compile(schema_definition("order_reference_id")["pattern"])
"""The order-ID rule; use with `fullmatch` (its pattern is anchored already)."""
LANGS: Final = frozenset(schema_definition("lang")["enum"])
MAX_URL_LENGTH: Final[int] = schema_definition("tickets_pdf_url")["maxLength"]
