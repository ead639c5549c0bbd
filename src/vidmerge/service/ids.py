"""Identifiers as they enter: tokens, render, template, campaign and endpoint ids, external ids,
idempotency keys, CSV cells. One rule, checked before any query: no control character.

PostgreSQL cannot store a NUL in text at all (a query carrying one fails), and no id of ours or
of an MA tool contains a C0 control or DEL; refused here, they are a 4xx naming the field on
every database instead of a 500 on one. An id in a path with one is an unknown id (404), as a
public token with one is an unknown link.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from vidmerge.errors import InvalidInput, NotFound

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"  # the same rule in /openapi.json (ECMA-262, as JSON Schema reads it)


def check(value: str | None, where: str) -> str | None:
    """`value` as given, or InvalidInput naming `where` when it holds a control character."""
    if value is not None and CONTROL.search(value):
        raise InvalidInput("must not contain control characters (U+0000 to U+001F, U+007F)", where=where)
    return value


def check_text(value: str, where: str) -> str:
    """Free text (a CSV cell may hold a line break or a tab): refused only for a NUL."""
    if "\x00" in value:
        raise InvalidInput("must not contain a NUL character (U+0000)", where=where)
    return value


def check_request(request: Request) -> None:
    """Every route's path and query parameters (a dependency of the whole app). An id in the
    path with one names nothing there is: 404, as for any unknown id (and on a public link's
    route, an unknown link must look like any other)."""
    for value in request.path_params.values():
        if isinstance(value, str) and CONTROL.search(value):
            raise NotFound("not found")
    for name, value in request.query_params.multi_items():
        check(value, f"query.{name}")


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document saying what `check_request` refuses: each string query parameter gets
    PATTERN (a generated request within the document is then one this server accepts)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    for kind in (parameter["schema"], *parameter["schema"].get("anyOf", [])):
                        if kind.get("type") == "string":
                            kind.setdefault("pattern", PATTERN)
    return schema
