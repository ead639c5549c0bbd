"""The data resolver: manifest `inputs:` + `computed:` -> a Spec; customer data -> Resolved."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidmerge.errors import BundleError, DataError, ProblemCollector
from vidmerge.resolver.computed import ComputedValue, ExpressionValue, parse_computed
from vidmerge.resolver.fields import Field, parse_fields


@dataclass(frozen=True)
class Resolved:
    """What one render sees. `context` feeds expressions; `explanations` answers
    「この金額はどう計算したのか」 for each computed value (JSON-able)."""

    context: dict[str, Any]
    explanations: dict[str, Any]
    defaulted: tuple[str, ...] = ()  # input fields that were missing (default or None used)


@dataclass(frozen=True)
class Spec:
    """Validated `inputs` and `computed` sections of one template version."""

    fields: tuple[Field, ...]
    computed: tuple[ComputedValue, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def computed_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.computed)

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.fields]

    def defaulted(self, data: Mapping[str, Any]) -> list[str]:
        """The inputs `data` leaves out (absent, null or blank): their default is what is drawn."""
        found = []
        for item in self.fields:
            try:
                if item.take(data.get(item.name))[1]:
                    found.append(item.name)
            except ValueError:
                continue  # a bad value, reported when the data is resolved
        return found

    @property
    def offline(self) -> bool:
        """Whether resolving reaches nothing outside the bundle (every calculator says so)."""
        return all(isinstance(c, ExpressionValue) or getattr(c.calculator, "offline", False) for c in self.computed)

    def choices(self, limit: int = 512) -> list[dict[str, Any]]:
        """Data of customers covering every combination of the inputs' choices: each value of an
        allowed list or a boolean, and a bounded number's minimum, default and maximum (the other
        inputs at their defaults). [] when there are more than `limit` combinations (or none)."""
        axes = {f.name: values for f in self.fields if (values := _choices(f))}
        if not axes or math.prod(len(values) for values in axes.values()) > limit:
            return []
        return [dict(zip(axes, combination, strict=True)) for combination in itertools.product(*axes.values())]

    def resolve(self, data: Mapping[str, Any] | None) -> Resolved:
        """Validate and normalize every field (all problems in one DataError), then compute.

        Keys in `data` that are not declared fields are ignored: MA tools send whole contacts.
        """
        context, defaulted = self._inputs({} if data is None else data)
        explanations: dict[str, Any] = {}
        for item in self.computed:
            context[item.name], explanations[item.name] = item.compute(context)
        return Resolved(context, explanations, defaulted)

    def _inputs(self, data: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
        if not isinstance(data, Mapping):
            raise DataError("data must be a JSON object", where="data")
        problems = ProblemCollector()
        context: dict[str, Any] = {}
        defaulted: list[str] = []
        for item in self.fields:
            try:
                context[item.name], missing = item.take(data.get(item.name))
            except ValueError as exc:
                problems.add(f"data.{item.name}", str(exc))
                continue
            if missing:
                defaulted.append(item.name)
        if problems.problems:
            raise DataError.from_problems(problems.problems)
        return context, tuple(defaulted)


def _choices(field: Field) -> list[Any]:
    if field.allowed is not None:
        return list(field.allowed)
    if field.type == "boolean":
        return [True, False]
    if field.type in ("number", "integer") and (field.min is not None or field.max is not None):
        return list(dict.fromkeys(v for v in (field.min, field.default, field.max) if v is not None))
    return []


def load_spec(
    inputs_raw: Mapping[str, Any] | None,
    computed_raw: Mapping[str, Any] | None,
    *,
    base_dir: Path,
    where: str = "template.yaml",
) -> Spec:
    """Parse the manifest sections; BundleError lists every problem as 'inputs.x.min: …'.

    `where` (the manifest file name) prefixes the error message, not each problem path.
    """
    problems = ProblemCollector()
    fields = parse_fields(inputs_raw, problems, "inputs")
    known = {f.name for f in fields}
    computed = parse_computed(computed_raw, problems, "computed", Path(base_dir), known)
    if problems.problems:
        text = "; ".join(str(p) for p in problems.problems)
        raise BundleError(text, where=where, problems=list(problems.problems))
    return Spec(fields, computed)
