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


MAX_EXPONENT = 64  # `**` beyond this is refused: `9**9**9` would hold a worker for minutes
MAX_REPEAT = 10_000  # `'a' * n` and `[x] * n` may not build more items than this


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the two operators that can exhaust CPU or memory bounded."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is above {MAX_EXPONENT}")
        if operator == "*" and _repeats(left, right) > MAX_REPEAT:
            raise SecurityError(f"repetition longer than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def _repeats(left: Any, right: Any) -> int:
    """How many items `left * right` builds when it repeats a string or list, else 0."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int) and not isinstance(count, bool):
            return len(seq) * max(0, count)
    return 0


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandbox every expression runs in (built on first use, not at import)."""
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
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
    _template: Any = field(repr=False, compare=False)
    _native: Any = field(repr=False, compare=False)

    def render(self, context: Mapping[str, object]) -> str:
        """The text, e.g. '田中様、こんにちは'. Any failure -> ExpressionError(where=...)."""
        try:
            return str(self._template.render(dict(context)))
        except Exception as exc:  # a template can raise anything; all of it is the author's
            raise _error(self.where, "cannot be evaluated", exc) from exc

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
    return _compile(source, where)


@functools.lru_cache(maxsize=4096)
def _compile(source: str, where: str) -> Expression:
    env = environment()
    try:
        tree = env.parse(source)
        template = env.from_string(tree)
        native = _native_expression(source, tree)
    except Exception as exc:
        raise _error(where, "does not compile", exc) from exc
    # Jinja globals (range, dict, namespace, …) are not context values.
    names = frozenset(meta.find_undeclared_variables(tree)) - set(env.globals)
    return Expression(source, where, names, template, native)


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
