"""Template expressions: Jinja2 in the immutable sandbox, with the Japanese filters.

Only template authors write expressions. Customer data reaches them as *values* in the
context and is never compiled, so '{{ 7*7 }}' typed as a name is printed as typed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from vidmerge.errors import ExpressionError
from vidmerge.resolver import dates, formatters, wording

_SINGLE = re.compile(r"^\{\{-?(?P<inner>.*?)-?\}\}$", re.DOTALL)

FILTERS = {
    "yen": formatters.yen,
    "man": formatters.man,
    "oku": formatters.man,
    "comma": formatters.comma,
    "percent": formatters.percent,
    "signed": formatters.signed,
    "number": formatters.format_number,
    "date_ja": dates.date_ja,
    "era": dates.era_date,
    "era_date": dates.era_date,
    "era_year": dates.era_year,
    "weekday": dates.weekday,
    "honorific": wording.honorific,
    "zenkaku": wording.zenkaku,
    "hankaku": wording.hankaku,
    "by_value": wording.by_value,
}


def _sign(value: object) -> int:
    number = formatters.to_decimal(value)
    return (number > 0) - (number < 0)


TESTS = {
    "positive": lambda value: _sign(value) > 0,
    "negative": lambda value: _sign(value) < 0,
    "zero": lambda value: _sign(value) == 0,
}


# Every expression does bounded work: no loops, macros or assignments (each part of the source is
# evaluated at most once), no globals (range, lipsum, ...), an allow-list of filters and methods,
# and the operators that build big values checked before they run.
MAX_SOURCE = 2_000  # characters of one expression
MAX_ITEMS = 10_000  # characters or items one operation may build, and the rendered text
MAX_BITS = 4_096  # an integer result of `*` or `**` (about 1,200 digits)
MAX_EXPONENT = 64  # `**` on anything that is not an integer

REFUSED_STATEMENTS = {
    nodes.For: "loops", nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.Assign: "assignments",
    nodes.AssignBlock: "assignments", nodes.With: "with blocks", nodes.Include: "includes",
    nodes.Import: "imports", nodes.FromImport: "imports", nodes.Extends: "extends", nodes.Block: "blocks",
}  # fmt: skip
JINJA_FILTERS = {
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last", "length", "lower",
    "max", "min", "round", "string", "sum", "title", "trim", "truncate", "upper",
}  # fmt: skip
SAFE_METHODS = {
    "capitalize", "endswith", "get", "isoformat", "items", "keys", "lower", "lstrip", "rstrip", "startswith",
    "strip", "title", "upper", "values",
}  # fmt: skip


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, where no operator, filter or method can build an unbounded value."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if callable(value) and attr not in SAFE_METHODS:
            return False  # str.center, str.format, str.replace, ... could pad or repeat without bound
        return super().is_safe_attribute(obj, attr, value)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if _integer(left) and _integer(right) and right > 0 and left.bit_length() * right > MAX_BITS:
            raise SecurityError(f"{left.bit_length()}-bit number ** {right} is above {MAX_BITS} bits")
        if not (_integer(left) and _integer(right)) and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is above {MAX_EXPONENT}")
    elif operator == "*" and _integer(left) and _integer(right):
        if left.bit_length() + right.bit_length() > MAX_BITS:
            raise SecurityError(f"product above {MAX_BITS} bits")
    elif operator == "*" and _repeats(left, right) > MAX_ITEMS:
        raise SecurityError(f"repetition longer than {MAX_ITEMS} items")
    elif operator == "+" and _sized(left) and _sized(right) and len(left) + len(right) > MAX_ITEMS:
        raise SecurityError(f"concatenation longer than {MAX_ITEMS} items")
    elif operator == "%" and isinstance(left, str):
        raise SecurityError("'%' formatting of text is not available; use the filters")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _repeats(left: Any, right: Any) -> int:
    """How many items `left * right` builds when it repeats a string or list, else 0."""
    for seq, count in ((left, right), (right, left)):
        if _sized(seq) and _integer(count):
            return len(seq) * max(0, count)
    return 0


def _check_statements(tree: nodes.Template) -> None:
    for kind, what in REFUSED_STATEMENTS.items():
        if tree.find(kind) is not None:
            raise SecurityError(f"{what} are not available in expressions (use if/else, filters and operators)")


def _printed(value: object) -> object:
    """What `{{ … }}` prints: an optional value left out (None) prints nothing, never "None"."""
    return "" if value is None else value


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandbox every expression runs in (built on first use, not at import)."""
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, finalize=_printed)
    env.globals.clear()  # range, lipsum, dict, cycler, joiner, namespace
    env.filters = {name: f for name, f in env.filters.items() if name in JINJA_FILTERS}
    env.filters.update(FILTERS)
    # `date` reads naturally in templates ("{{ deadline | date }}") and Jinja has none.
    env.filters["date"] = dates.date_ja
    env.tests.update(TESTS)
    return env


@dataclass(frozen=True)
class Expression:
    """A compiled template string. Immutable; safe to share between renders and threads."""

    source: str
    where: str
    names: frozenset[str]
    literals: str  # every text the source writes whatever the data (its fixed text and string constants)
    _template: Any = field(repr=False, compare=False)
    _native: Any = field(repr=False, compare=False)

    def render(self, context: Mapping[str, object]) -> str:
        """The text, e.g. '田中様、こんにちは'. Any failure -> ExpressionError(where=...)."""
        try:
            text = str(self._template.render(dict(context)))
        except Exception as exc:  # a template can raise anything; all of it is the author's
            raise _error(self.where, "cannot be evaluated", exc) from exc
        if len(text) > MAX_ITEMS:
            raise ExpressionError(f"expression gives {len(text)} characters, more than {MAX_ITEMS}", where=self.where)
        return text

    def evaluate(self, context: Mapping[str, object]) -> object:
        """The native value when the source is exactly one '{{ … }}', else the rendered text."""
        if self._native is None:
            return self.render(context)
        try:
            value = self._native(**dict(context))
            if isinstance(value, StrictUndefined):  # compiled expressions skip the strict check
                str(value)
        except Exception as exc:
            raise _error(self.where, "cannot be evaluated", exc) from exc
        return value


def _error(where: str, what: str, exc: BaseException) -> ExpressionError:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ExpressionError(f"expression {what}: {reason}", where=where)


def compile_expression(source: str, *, where: str) -> Expression:
    """Compile a template string once; raises ExpressionError(where=where) on a syntax error."""
    if not isinstance(source, str):
        raise ExpressionError(f"expression must be a string, not {type(source).__name__}", where=where)
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression is {len(source)} characters long, more than {MAX_SOURCE}", where=where)
    return _compile(source, where)


@functools.lru_cache(maxsize=4096)
def _compile(source: str, where: str) -> Expression:
    env = environment()
    try:
        tree = env.parse(source)
        _check_statements(tree)
        template = env.from_string(tree)
        native = _native_expression(source, tree)
    except Exception as exc:
        raise _error(where, "does not compile", exc) from exc
    # Jinja globals (range, dict, namespace, …) are not context values.
    names = frozenset(meta.find_undeclared_variables(tree)) - set(env.globals)
    fixed = [n.data for n in tree.find_all(nodes.TemplateData)]
    fixed += [n.value for n in tree.find_all(nodes.Const) if isinstance(n.value, str)]
    return Expression(source, where, names, "".join(fixed), template, native)


def _native_expression(source: str, tree: nodes.Template) -> Any:
    """A compiled expression when the whole source is one '{{ … }}', else None."""
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts = body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    match = _SINGLE.match(source.strip())
    if match is None:
        return None
    return environment().compile_expression(match.group("inner"), undefined_to_none=False)
