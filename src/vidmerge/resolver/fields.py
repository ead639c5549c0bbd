"""Typed input fields: the `inputs:` section of a manifest, and validation of one value.

A field turns one raw value into a typed, normalized value or a reason (ValueError). A
value that is absent, null, or a string that is empty after cleaning counts as *missing*:
a required field reports it, an optional one takes its `default` (or None).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from vidmerge.errors import ProblemCollector
from vidmerge.resolver import coerce
from vidmerge.resolver.text import clean_text

TYPES = ("string", "integer", "number", "boolean", "date", "enum", "number_list")
_ORDERED = ("integer", "number", "date", "number_list")  # types that accept min/max
MISSING: Any = object()


@dataclass(frozen=True)
class Field:
    """One declared input. Defaults here are the documented manifest defaults."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    allowed: tuple[Any, ...] | None = None
    min: Any = None
    max: Any = None
    max_length: int = 100
    truncate: bool = False
    nfkc: bool = True
    multiline: bool = False
    length: int | None = None
    description: str = ""

    def normalize(self, raw: object) -> Any:
        """Typed value for `raw`, the default when missing; ValueError(reason) otherwise."""
        return self.take(raw)[0]

    def take(self, raw: object) -> tuple[Any, bool]:
        """(typed value, whether it is the default because `raw` was missing)."""
        value = MISSING if raw is None else self._typed(raw)
        if value is MISSING:
            if self.required:
                raise ValueError("is required")
            if self.default is None and self.type in ("string", "enum"):
                return "", True  # an optional text left out draws nothing (never "None")
            return self.default, True
        self._check_range(value)
        return value, False

    def _typed(self, raw: object) -> Any:
        if self.type in ("string", "enum"):
            return self._string(raw)
        if isinstance(raw, str) and not clean_text(raw):
            return MISSING
        value = coerce.COERCERS[self.type](raw)
        if self.allowed is not None and value not in self.allowed:
            raise ValueError(f"must be one of: {', '.join(map(str, self.allowed))}")
        return value

    def _string(self, raw: object) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError("must be a string")
        text = str(raw)
        # Bound the work done on hostile input before cleaning (cleaning only shortens).
        limit = 4 * self.max_length + 64
        if len(text) > limit and not self.truncate:
            raise ValueError(f"is longer than {self.max_length} characters")
        text = clean_text(text[:limit], nfkc=self.nfkc, widths_only=True, multiline=self.multiline)
        if not text:
            return MISSING
        if self.allowed is not None and text not in self.allowed:
            raise ValueError(f"must be one of: {', '.join(map(str, self.allowed))}")
        if len(text) > self.max_length:
            if not self.truncate:
                raise ValueError(f"is longer than {self.max_length} characters")
            text = text[: self.max_length]
        return text

    def _check_range(self, value: Any) -> None:
        if self.type == "number_list":
            if self.length is not None and len(value) != self.length:
                raise ValueError(f"must have exactly {self.length} values")
            for item in value:
                self._check_range_one(item)
        elif self.type in _ORDERED:
            self._check_range_one(value)

    def _check_range_one(self, value: Any) -> None:
        if self.min is not None and value < self.min:
            raise ValueError(f"must be at least {_show(self.min)}")
        if self.max is not None and value > self.max:
            raise ValueError(f"must be at most {_show(self.max)}")

    def describe(self) -> dict[str, Any]:
        """JSON-able description for the API and for form builders."""
        info: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": jsonable(self.default),
            "allowed": None if self.allowed is None else [jsonable(a) for a in self.allowed],
            "min": jsonable(self.min),
            "max": jsonable(self.max),
            "description": self.description,
        }
        if self.type in ("string", "enum"):
            info["max_length"] = self.max_length
        if self.type == "number_list":
            info["length"] = self.length
        return info


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def jsonable(value: Any) -> Any:
    """Dates as ISO strings, Decimals as strings, containers recursively; the rest as is."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# ---- parsing the manifest section -------------------------------------------------------

_KEYS = {f.name for f in fields(Field)} - {"name"}


def parse_fields(raw: object, problems: ProblemCollector, where: str) -> tuple[Field, ...]:
    """All fields of an `inputs:` mapping; every problem goes to `problems` (BundleError)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping of field name to field spec")
        return ()
    parsed = (parse_field(name, spec, problems, f"{where}.{name}") for name, spec in raw.items())
    return tuple(f for f in parsed if f is not None)


def parse_field(name: object, raw: object, problems: ProblemCollector, where: str) -> Field | None:
    """One field spec. `name: string` is shorthand for `name: {type: string}`."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        problems.add(where, "field name must be an ASCII identifier (letters, digits, _)")
        return None
    spec = {"type": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, Mapping):
        problems.add(where, "must be a type name or a mapping")
        return None
    before = len(problems.problems)
    for key in spec:
        if key not in _KEYS:
            problems.add(f"{where}.{key}", "unknown key")
    result = _build(name, spec, problems, where)
    return result if len(problems.problems) == before else None


def _build(name: str, spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> Field:
    kind = spec.get("type", "string")
    if kind not in TYPES:
        problems.add(f"{where}.type", f"must be one of: {', '.join(TYPES)}")
        kind = "string"
    base = Field(name=name, type=kind)
    _check_flags(spec, problems, where)
    _check_sizes(spec, problems, where)
    desc = spec.get("description", "")
    if not isinstance(desc, str):
        problems.add(f"{where}.description", "must be a string")
    result = replace(
        base,
        required=bool(spec.get("required", False)),
        max_length=spec.get("max_length", 100),
        truncate=bool(spec.get("truncate", False)),
        nfkc=bool(spec.get("nfkc", True)),
        multiline=bool(spec.get("multiline", False)),
        length=spec.get("length"),
        description=str(desc),
    )
    result = _with_bounds(result, spec, problems, where)
    result = _with_allowed(result, spec, problems, where)
    return _with_default(result, spec, problems, where)


def _check_flags(spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> None:
    for key in ("required", "truncate", "nfkc", "multiline"):
        if key in spec and not isinstance(spec[key], bool):
            problems.add(f"{where}.{key}", "must be true or false")


def _check_sizes(spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> None:
    for key in ("max_length", "length"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            problems.add(f"{where}.{key}", "must be a positive integer")
    if "length" in spec and spec.get("type") != "number_list":
        problems.add(f"{where}.length", "only applies to type number_list")


def _with_bounds(base: Field, spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> Field:
    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        if spec.get(key) is None:
            continue
        if base.type not in _ORDERED:
            problems.add(f"{where}.{key}", f"only applies to types {', '.join(_ORDERED)}")
            continue
        convert = coerce.to_date if base.type == "date" else coerce.to_number
        try:
            bounds[key] = convert(spec[key])
        except ValueError:
            problems.add(f"{where}.{key}", "must be a date" if base.type == "date" else "must be a number")
    return replace(base, **bounds)


def _with_allowed(base: Field, spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> Field:
    allowed = spec.get("allowed")
    if allowed is None:
        if base.type == "enum":
            problems.add(f"{where}.allowed", "is required for type enum")
        return base
    if not isinstance(allowed, list) or not allowed:
        problems.add(f"{where}.allowed", "must be a non-empty list")
        return base
    unrestricted = replace(base, allowed=None, required=True)
    values = []
    for index, item in enumerate(allowed):
        try:
            values.append(unrestricted._typed(item))
        except ValueError as exc:
            problems.add(f"{where}.allowed[{index}]", str(exc))
    return replace(base, allowed=tuple(values))


def _with_default(base: Field, spec: Mapping[str, Any], problems: ProblemCollector, where: str) -> Field:
    if spec.get("default") is None:
        return base
    if spec["default"] == "" and base.type == "string" and not base.required:
        return replace(base, default="")  # said explicitly: nothing
    if base.required:
        problems.add(f"{where}.default", "a required field cannot have a default")
        return base
    try:
        value = replace(base, required=True).normalize(spec["default"])
    except ValueError as exc:
        problems.add(f"{where}.default", str(exc))
        return base
    return replace(base, default=value)
