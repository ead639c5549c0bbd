import datetime as dt

import pytest

from vidmerge.errors import ExpressionError
from vidmerge.resolver import Expression, compile_expression


def render(source: str, **context: object) -> str:
    return compile_expression(source, where="slots.t.text").render(context)


def test_data_values_are_never_templates() -> None:
    assert render("{{ name | honorific }}、こんにちは", name="{{ 7*7 }}") == "{{ 7*7 }}様、こんにちは"


def test_japanese_filters_are_registered() -> None:
    context = {"s": 12340, "d": dt.date(2026, 12, 1), "r": 0.125}
    source = "{{ s|yen }} {{ s|man }} {{ s|comma }} {{ s|signed }} {{ r|percent }} {{ d|date }}"
    assert render(source, **context) == "12,340円 1.2万円 12,340 +12,340円 12.5% 2026年12月1日"
    assert render("{{ d|era }}{{ d|weekday }}", **context) == "令和8年12月1日(火)"
    assert render("{{ 'ABC'|zenkaku }}{{ 'ＡＢＣ'|hankaku }}") == "ＡＢＣABC"
    assert render("{{ s | number('man') }}", **context) == "1.2万円"


def test_wording_by_value_and_tests() -> None:
    source = "{{ s | by_value(positive='お得です', zero='変わりません', negative='割高です') }}"
    assert render(source, s=0) == "変わりません"
    assert render(source, s=-1) == "割高です"
    assert render("{% if s is positive %}{{ s|yen }}お得{% else %}見直し不要{% endif %}", s=0) == ("見直し不要")


def test_evaluate_returns_native_values() -> None:
    savings = {"yearly": 12340, "best_plan_name": "スマート"}
    assert compile_expression("{{ savings.yearly }}", where="w").evaluate({"savings": savings}) == 12340
    assert compile_expression("{{- savings -}}", where="w").evaluate({"savings": savings}) == savings
    assert compile_expression("{{ '}}' }}", where="w").evaluate({}) == "}}"
    assert compile_expression("{{ a }}{{ b }}", where="w").evaluate({"a": 1, "b": 2}) == "12"
    assert compile_expression("年{{ a }}", where="w").evaluate({"a": 1}) == "年1"


def test_names_are_top_level_variables() -> None:
    source = "{{ savings.yearly | yen }} {{ name }}{% if n is positive %}{{ n }}{% endif %}"
    expr = compile_expression(source, where="w")
    assert isinstance(expr, Expression)
    assert expr.names == frozenset({"savings", "name", "n"})


def test_compile_error_names_where() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("{{ name | }}", where="slots.greeting.text")
    assert info.value.where == "slots.greeting.text"


def test_unknown_filter_is_a_compile_error() -> None:
    with pytest.raises(ExpressionError):
        compile_expression("{{ name | nosuchfilter }}", where="w")


@pytest.mark.parametrize(
    "source",
    [
        "{{ missing }}",
        "{{ missing.attribute }}",
        "{{ 'x' | yen }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ items.append(1) }}",
    ],
)
def test_render_errors_are_expression_errors(source: str) -> None:
    expr = compile_expression(source, where="slots.t.text")
    for run in (expr.render, expr.evaluate):
        with pytest.raises(ExpressionError) as info:
            run({"items": [1]})
        assert info.value.where == "slots.t.text"


def test_the_sandbox_is_immutable() -> None:
    items = [1]
    with pytest.raises(ExpressionError):
        compile_expression("{{ items.append(2) }}", where="w").render({"items": items})
    assert items == [1]


@pytest.mark.parametrize(
    "source",
    [
        "{{ 2 ** 100000 }}",  # one power
        "{{ ((10 ** 64) ** 64) ** 64 }}",  # a tower of bases: each step is checked on its result
        "{{ x ** 9999 }}",
        "{{ 9 ** (9 ** 9) }}",
        "{{ (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) }}",
        "{{ 'a' * 10 ** 8 }}",
        "{{ [0] * 100000 }}",
        "{{ ('a' * 100) * 1000 }}",
        "{{ ('a' * 9000) + ('b' * 9000) }}",
        "{{ '%0999999999d' % 1 }}",  # padding by printf formatting
        "{{ 'x'.center(999999999) }}",  # padding by a method
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ ('a' * 9000).replace('a', 'aaaa') }}",
        "{{ lipsum(999999) }}",  # no globals
        "{{ range(10 ** 8) | sum }}",
    ],
)
def test_operators_and_methods_that_could_exhaust_a_worker_are_refused(source: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, where="slots[s].text").render({"x": 7})
    assert info.value.where == "slots[s].text"


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% set s = 'a' * 9000 %}{{ s ~ s }}",  # assignments would let a value double again and again
        "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
        "{{ 'x' | center(999999999) }}",  # only bounded filters exist
        "{{ 'x' | indent(999999999) }}",
        "{{ 'x' | wordwrap(1) | replace('x', 'y') }}",
        "{{ range(10 ** 9) | list }}",
        "{{ '{{ 1 }}' * 0 }}" + "x" * 2_000,  # the source itself is bounded
    ],
)
def test_loops_assignments_unbounded_filters_and_long_sources_are_refused_at_compile(source: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, where="slots[s].text")
    assert info.value.where == "slots[s].text"


def test_a_rendered_text_is_bounded() -> None:
    expr = compile_expression("{{ 'a' * 6000 }}{{ 'b' * 6000 }}", where="slots[s].text")
    with pytest.raises(ExpressionError, match="more than 10000"):
        expr.render({})


def test_ordinary_arithmetic_repetition_and_filters_still_work() -> None:
    source = "{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 3 * 4 }} {{ 10 ** 300 > 0 }} {{ ' x ' | trim | upper }}"
    assert compile_expression(source, where="t").render({}) == "1024 ababab 12 True X"
    source = "{{ name.strip() }}{{ [a, b] | max }}{{ n | default(0) | round | int }}{{ 7 % 4 }}"
    assert compile_expression(source, where="t").render({"name": " 田中 ", "a": 1, "b": 2, "n": 2.6}) == "田中233"
