"""Why a row or a call was refused, in the marketer's words and language.

Reasons are made in English where they arise (the resolver's fields, a campaign's checks) and
stored so; what a Japanese tool reads (a CP932 results file, the console in Japanese, HubSpot's
`vidmerge_error`) says them in Japanese, each after the field as the marketer knows it: the
column's header as written in the file, or the input's description (「月間使用量: 数値ではありません
（5 行目）」). A reason without a Japanese wording here is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vidmerge.errors import Problem, VidmergeError
from vidmerge.service.runtime import Runtime
from vidmerge.template.manifest import Tool

LANGS = ("ja", "en")
_JA = [(re.compile(pattern), words) for pattern, words in (
    (r"is required|missing", "入力がありません"),
    (r"repeats row (\d+)", r"\1 行目と同じ ID です"),
    (r"(?:is )?longer than (\d+) characters", r"\1 文字を超えています"),
    (r"must be (?:a number|an integer|a whole number) of at most (\d+) digits", r"\1 桁を超えています"),
    (r"must be (?:a number|an integer)(?:, not a boolean| \(too long\)| \(finite\))?", "数値ではありません"),
    (r"must be a whole number", "整数ではありません"),
    (r"must be true or false", "true か false ではありません"),
    (r"must be a date \(YYYY-MM-DD\)", "日付（YYYY-MM-DD）ではありません"),
    (r"must be a list of numbers", "数値の並びではありません"),
    (r"must have exactly (\d+) values", r"値が \1 個ではありません"),
    (r"must be one of: (.*)", r"次のどれかではありません: \1"),
    (r"must be a string", "文字列ではありません"),
    (r"must be at least (.*)", r"\1 以上にしてください"),
    (r"must be at most (.*)", r"\1 以下にしてください"),
    (r"(\d+) cells, the header names (\d+) columns", r"セルが \1 個あり、見出しの \2 列より多いです"),
    (r"a character Shift_JIS cannot hold, or garbled text \(mojibake\)", "Shift_JIS で表せない文字か文字化けの可能性"),
    (r"no glyph in font (\S+) for (.*)", r"フォント \1 で描けない文字です: \2"),
    (r"cannot be drawn with font (\S+) \(.*?\): (.*)", r"フォント \1 で描けない文字です: \2"),
    (r"no such template \(or not ready, or not active\)", "テンプレートがないか、準備中か、無効です"),
)]  # fmt: skip


def japanese(reason: str) -> str:
    """The reason in Japanese, where this module has its words; else as it is."""
    for pattern, words in _JA:
        if pattern.fullmatch(reason):
            return pattern.sub(words, reason)
    return reason


def row(problems: Mapping[str, str], number: int, lang: str) -> str:
    """A bad row's problems (column -> reason): 「金額: 数値ではありません（5 行目）」 in Japanese,
    `金額: must be a number` in English."""
    if lang != "ja":
        return "; ".join(f"{c}: {r}" if c else r for c, r in problems.items())
    said = "、".join(f"{c}: {japanese(r)}" if c else japanese(r) for c, r in problems.items())
    return f"{said}（{number} 行目）"


def for_tool(rt: Runtime, tool: Tool, fields: Mapping[str, Any], exc: VidmergeError) -> str:
    """Why an MA tool's call was refused, in Japanese, each input as the marketer knows it."""
    named = labels(rt, tool, fields)
    problems = exc.problems or [Problem(exc.where, exc.message)]
    return "、".join(_said(named.get(p.where.removeprefix("data."), p.where), p.reason) for p in problems)


def _said(label: str, reason: str) -> str:
    return f"{label}: {japanese(reason)}" if label else japanese(reason)


def labels(rt: Runtime, tool: Tool, fields: Mapping[str, Any]) -> dict[str, str]:
    """input -> its description, else the tool's field that fills it (for the call's template)."""
    try:
        record = rt.registry.record(str(fields.get("template_id") or ""), None)
    except VidmergeError:  # no such template (or no valid id): the fields' own names
        return {}
    template = rt.registry.loaded(record.id, record.version).template
    found = {target: field for field, target in template.manifest.mappings.get(tool, {}).items()}
    return {f.name: f.description or found.get(f.name, f.name) for f in template.spec.fields}
