"""Hostile text through a real render (`render_to_folder`, the code behind `vidmerge render`) of a
4 s 320×180 template with one text slot `{{ name }}`: every string is drawn literally (the value in
the summary is the cleaned input, nothing evaluated) or rejected with an error naming the field.
Hostile *template* expressions are stopped by the sandbox."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from support.media import make_clip, write_bundle

from vidmerge.config import Settings
from vidmerge.engine.runner import render_to_folder
from vidmerge.errors import BundleError, DataError, ExpressionError, InvalidInput
from vidmerge.resolver.text import clean_text

pytestmark = pytest.mark.slow

MANIFEST: dict[str, Any] = {
    "id": "hostile",
    "version": 1,
    "output": {"preset": "ultrafast", "crf": 30, "segment_seconds": 2, "gif": {"duration": 1.0, "fps": 2}},
    "inputs": {"name": {"type": "string", "default": "x", "max_length": 100}},
    "slots": [
        {
            "id": "greeting",
            "kind": "text",
            "start": 2.0,
            "end": 4.0,
            "text": "{{ name }}",
            "box": {"x": 10, "y": 40, "w": 300, "h": 100},
            "style": {"size": 28, "max_lines": 3},
        }  # fmt: skip
    ],
}

LITERAL = [
    "[0:v]drawtext=text='x':fontfile=/etc/passwd",
    "a;b", "a,b", "a:b", "back\\slash\\", "O'Brien", '"quoted"',
    "%{pts}", "%{eif:1:d}", "%{localtime}",
    "{{ 7*7 }}", "{% for x in range(9) %}x{% endfor %}", "{{ ''.__class__.__mro__ }}", "{# comment #}",
    "$(id) `id` ${HOME}", "<script>alert(1)</script>",
    "a\x00b\x07c\x1b[31md",  # control characters: removed
    "abc\u202edcba\u202c",  # bidi override: removed
    "ze\u200bro\u2060wi\ufeffdth",  # zero-width characters: removed
    "tab\there\r\nnewline",
]  # fmt: skip


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    return write_bundle(tmp / "bundle", MANIFEST, clip=make_clip(tmp / "clip.mp4", seconds=4))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


def _render(bundle: Path, settings: Settings, tmp: Path, data: dict[str, Any]) -> dict[str, Any]:
    return render_to_folder(bundle, data, tmp / "out", settings, tmp / "scratch", parallel=1)


@pytest.mark.parametrize("name", LITERAL)
def test_hostile_names_render_literally(bundle: Path, settings: Settings, tmp_path: Path, name: str) -> None:
    summary = _render(bundle, settings, tmp_path, {"name": name})
    cleaned = clean_text(name)
    assert summary["values"] == {"greeting": cleaned}
    assert cleaned.strip() and not any(ch in cleaned for ch in "\x00\x07\x1b\u202e\u200b\ufeff")
    assert summary["segments"]["dynamic"] == 1
    assert all(Path(p).stat().st_size > 0 for p in summary["outputs"].values())


def test_a_10000_character_name_is_rejected_naming_the_field(bundle: Path, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        _render(bundle, settings, tmp_path, {"name": "田" * 10_000})
    assert [p.where for p in info.value.problems] == ["data.name"]
    assert "longer than 100" in info.value.problems[0].reason


@pytest.mark.parametrize("value", [["a", "b"], {"$gt": ""}, True])
def test_non_string_names_are_rejected_naming_the_field(
    bundle: Path, settings: Settings, tmp_path: Path, value: object
) -> None:
    with pytest.raises(DataError) as info:
        _render(bundle, settings, tmp_path, {"name": value})
    assert [p.where for p in info.value.problems] == ["data.name"]


def test_a_name_without_a_glyph_is_rejected_not_drawn_as_tofu(bundle: Path, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        _render(bundle, settings, tmp_path, {"name": "\U000e0041\U0010fffd"})  # tag / private use
    assert "greeting" in str(info.value) or "name" in str(info.value)


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ name.__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ range(10**9) | list }}",
    "{{ '{0.__class__.__mro__}'.format(name) }}",
]


@pytest.mark.parametrize("expression", SANDBOX_ESCAPES)
def test_a_malicious_template_expression_is_stopped_by_the_sandbox(tmp_path: Path, expression: str) -> None:
    raw = copy.deepcopy(MANIFEST)
    raw["slots"][0]["text"] = expression
    bundle = write_bundle(tmp_path / "b", raw, clip=make_clip(tmp_path / "clip.mp4", seconds=4))
    with pytest.raises((ExpressionError, BundleError)) as info:  # refused at upload, or when evaluated
        _render(bundle, Settings(data_dir=tmp_path / "data"), tmp_path, {"name": "x"})
    assert "greeting" in " ".join([info.value.where or "", *(p.where for p in info.value.problems)])
