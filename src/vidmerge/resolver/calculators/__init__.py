"""Calculators: computed values implemented in Python, found through entry points.

A company adds its own by declaring, in its package's pyproject.toml::

    [project.entry-points."vidmerge.calculators"]
    my_calc = "my_package.calc:MyCalculator"

and referring to it in a manifest as `computed: {x: {calculator: my_calc, ...}}`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Collection, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from vidmerge.errors import BundleError

GROUP = "vidmerge.calculators"
# Used when the distribution metadata is absent (e.g. running from a source checkout).
_BUILTIN = {
    "plan_savings": "vidmerge.resolver.calculators.plan_savings:PlanSavings",
    "http_lookup": "vidmerge.resolver.calculators.http_lookup:HttpLookup",
}


class Calculator(Protocol):
    """What a calculator class provides.

    `inputs` names the manifest keys that are evaluated for each render (they may be
    expressions such as "{{ monthly_kwh }}"); every other key is a static parameter handed
    to `from_params` once, when the template loads. `compute` returns the value put in the
    context and a JSON-able explanation; it raises DataError for a problem with the data.
    """

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    # Optional: True when computing reaches nothing outside the bundle (no network), so the upload
    # may try it for every choice of enumerable inputs. A calculator that does not say is not tried.
    # offline: ClassVar[bool]

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path, where: str) -> Self: ...

    def compute(self, inputs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]: ...


@functools.cache
def _declared() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    return {**_BUILTIN, **found}


def available() -> tuple[str, ...]:
    """Names of all installed calculators."""
    return tuple(sorted(_declared()))


def load_calculator(name: str) -> type[Calculator]:
    """The calculator class registered as `name`; KeyError if none is."""
    target = _declared()[name]
    module_name, _, attribute = target.partition(":")
    cls: type[Calculator] = getattr(importlib.import_module(module_name), attribute)
    return cls


def reject_unknown_keys(params: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """A calculator's parameters are checked at load: a key it does not know (a typo) is a
    BundleError naming it, not a silently ignored setting."""
    for key in params:
        if key not in allowed:
            raise BundleError("unknown key", where=f"{where}.{key}")
