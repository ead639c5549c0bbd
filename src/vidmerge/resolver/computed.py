"""Computed values: the `computed:` section of a manifest.

Each entry is either an expression over the inputs and earlier computed values::

    greeting: "{{ name | honorific }}"          # shorthand for {expression: "..."}

or a calculator with its parameters::

    savings: {calculator: plan_savings, tariffs: example_tokyo.yaml, usage_kwh: "{{ monthly_kwh }}"}

Entries are computed in the order written, so later ones can use earlier ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidmerge.errors import BundleError, ExpressionError, Problem, ProblemCollector
from vidmerge.resolver.calculators import Calculator, available, load_calculator
from vidmerge.resolver.expressions import Expression, compile_expression
from vidmerge.resolver.fields import jsonable


@dataclass(frozen=True)
class ExpressionValue:
    name: str
    expression: Expression

    @property
    def names(self) -> frozenset[str]:
        return self.expression.names

    def compute(self, context: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        value = self.expression.evaluate(context)
        used = {n: jsonable(context[n]) for n in sorted(self.names) if n in context}
        explanation = {"kind": "expression", "source": self.expression.source, "inputs": used}
        return value, {**explanation, "value": jsonable(value)}


@dataclass(frozen=True)
class CalculatorValue:
    name: str
    calculator_name: str
    calculator: Calculator
    bindings: tuple[tuple[str, Any], ...]  # (key, Expression or literal)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(_names(binding) for _, binding in self.bindings))

    def compute(self, context: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        inputs = {key: _bound(binding, context) for key, binding in self.bindings}
        value, steps = self.calculator.compute(inputs)
        head = {
            "kind": "calculator",
            "calculator": self.calculator_name,
            "inputs": jsonable(inputs),
        }
        return value, {**head, **steps}


ComputedValue = ExpressionValue | CalculatorValue


def _bound(binding: Any, context: Mapping[str, Any]) -> Any:
    """Evaluate the expressions inside a binding (nested mappings and lists included)."""
    if isinstance(binding, Expression):
        return binding.evaluate(context)
    if isinstance(binding, dict):
        return {key: _bound(value, context) for key, value in binding.items()}
    if isinstance(binding, list):
        return [_bound(value, context) for value in binding]
    return binding


def _names(binding: Any) -> frozenset[str]:
    if isinstance(binding, Expression):
        return binding.names
    if isinstance(binding, dict):
        return frozenset().union(*(_names(value) for value in binding.values()))
    if isinstance(binding, list):
        return frozenset().union(*(_names(value) for value in binding))
    return frozenset()


def parse_computed(
    raw: object, problems: ProblemCollector, where: str, base_dir: Path, known: set[str]
) -> tuple[ComputedValue, ...]:
    """All computed entries; `known` holds the input names and grows with each entry."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping of name to expression or calculator")
        return ()
    result = []
    for name, spec in raw.items():
        here = f"{where}.{name}"
        value = _parse_one(name, spec, problems, here, base_dir)
        if value is None:
            continue
        for unknown in sorted(value.names - known):
            problems.add(here, f"uses unknown name {unknown!r} (not an input or earlier computed value)")
        if name in known:
            problems.add(here, "name already used by an input or another computed value")
        known.add(name)
        result.append(value)
    return tuple(result)


def _parse_one(
    name: object, spec: object, problems: ProblemCollector, where: str, base_dir: Path
) -> ComputedValue | None:
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        problems.add(where, "name must be an ASCII identifier (letters, digits, _)")
        return None
    if isinstance(spec, str):
        spec = {"expression": spec}
    if not isinstance(spec, Mapping) or ("expression" in spec) == ("calculator" in spec):
        problems.add(where, "must be an expression string or a mapping with 'expression' or 'calculator'")
        return None
    try:
        if "expression" in spec:
            return _parse_expression(name, spec, where)
        return _parse_calculator(name, spec, where, base_dir)
    except (BundleError, ExpressionError) as exc:
        problems.problems.extend(exc.problems or [Problem(where, exc.message)])
        return None


def _parse_expression(name: str, spec: Mapping[str, Any], where: str) -> ExpressionValue:
    extra = sorted(set(spec) - {"expression", "description"})
    if extra:
        raise BundleError("unknown key", where=f"{where}.{extra[0]}")
    return ExpressionValue(name, compile_expression(spec["expression"], where=f"{where}.expression"))


def _parse_calculator(name: str, spec: Mapping[str, Any], where: str, base_dir: Path) -> CalculatorValue:
    calc_name = spec["calculator"]
    try:
        cls = load_calculator(str(calc_name))
    except KeyError:
        choices = ", ".join(available())
        raise BundleError(
            f"unknown calculator {calc_name!r}; installed: {choices}", where=f"{where}.calculator"
        ) from None
    rest = {k: v for k, v in spec.items() if k not in ("calculator", "description")}
    params = {k: v for k, v in rest.items() if k not in cls.inputs}
    try:
        calculator = cls.from_params(params, base_dir, where)
    except (BundleError, ExpressionError):
        raise
    except Exception as exc:  # a third-party plugin's own error: still the manifest's fault
        raise BundleError(f"{calc_name}: {type(exc).__name__}: {exc}", where=where) from exc
    bindings = tuple((key, _binding(value, f"{where}.{key}")) for key, value in rest.items() if key in cls.inputs)
    return CalculatorValue(name, str(calc_name), calculator, bindings)


def _binding(value: Any, where: str) -> Any:
    """Strings with '{{' or '{%' are expressions (also inside mappings and lists); the rest
    are literals."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return compile_expression(value, where=where)
    if isinstance(value, Mapping):
        return {str(key): _binding(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_binding(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return value
