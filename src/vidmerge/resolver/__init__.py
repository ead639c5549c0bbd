"""The data resolver: customer data -> typed, computed values with explanations.

    text.py         cleaning of customer strings (NFKC, controls, bidi, spaces)
    coerce.py       one raw value -> a typed value (integer, number, date, …)
    fields.py       `inputs:` field declarations and validation of one value
    expressions.py  Jinja2 sandbox with the Japanese filters; compile once, render many
    formatters.py   numbers: 円, 万/億, separators, percent (format_number for count-up)
    dates.py        Gregorian / era dates and weekdays
    wording.py      honorifics, full/half width, wording by value
    computed.py     `computed:` entries (expressions and calculators)
    calculators/    plugin calculators (entry point group `vidmerge.calculators`)
    spec.py         Spec / load_spec / Resolved: the public entry point

See docs/resolver.md for the manifest format.
"""

from vidmerge.resolver.expressions import Expression, compile_expression
from vidmerge.resolver.spec import Resolved, Spec, load_spec

__all__ = ["Expression", "Resolved", "Spec", "compile_expression", "load_spec"]
