"""The imports keep the map docs/architecture.md draws: the table under "Import rules" there is
the allow-list, read by this test, so the page and the code cannot drift apart unnoticed."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import vidmerge
from vidmerge.config import Settings

PACKAGE = Path(vidmerge.__file__).resolve().parent
PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
ROOT = "vidmerge"  # the package's __init__ (only __version__): anything may read it


def _module_name(path: Path) -> str:
    return ".".join((ROOT, *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def _is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported(node: ast.AST) -> set[str]:
    """The vidmerge modules one import statement names (``from vidmerge.x import y``: x.y if y is a module)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith(ROOT)}
    if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(ROOT)):
        return set()
    submodules = {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
    plain = len(submodules) < len(node.names)
    return submodules | ({node.module} if plain else set())


def imports_of(source: str) -> set[str]:
    """Every vidmerge module a file imports, anywhere in it (type-checking imports too)."""
    return {name for node in ast.walk(ast.parse(source)) for name in _imported(node)}


MODULES = {_module_name(p): imports_of(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")}


def _dotted(cell: str) -> list[str]:
    """`template/fonts.py`, `draw/` -> vidmerge.template.fonts, vidmerge.draw (remarks in brackets skipped)."""
    paths = re.findall(r"`([^`]+)`", re.sub(r"\(.*?\)", "", cell))
    return [".".join((ROOT, *p.removesuffix("/").removesuffix(".py").split("/"))) for p in paths]


def read_rules(page: str) -> dict[str, tuple[str, ...]]:
    """The page's import table: module or folder -> what it may import (besides itself)."""
    section = page.split("## Import rules", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for line in section.splitlines():
        cells = line.strip().strip("|").split("|")
        if len(cells) == 2 and "`" in cells[0]:
            for importer in _dotted(cells[0]):
                rules[importer] = (importer, *_dotted(cells[1]))
    return rules


RULES = read_rules(PAGE.read_text(encoding="utf-8"))


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def row_of(module: str, rules: dict[str, tuple[str, ...]]) -> str | None:
    """The most specific row of the table a module falls under."""
    rows = [row for row in rules if _under(module, row)]
    return max(rows, key=len) if rows else None


def off_the_map(modules: dict[str, set[str]], rules: dict[str, tuple[str, ...]]) -> list[str]:
    """Each import no row allows, as 'module imports module'."""
    wrong = []
    for module, imports in sorted(modules.items()):
        row = row_of(module, rules)
        allowed = rules[row] if row else ()
        wrong += [
            f"{module} imports {imported}"
            for imported in sorted(imports)
            if imported != ROOT and not any(_under(imported, a) for a in allowed)
        ]
    return wrong


def test_the_page_has_an_import_table() -> None:
    assert {"vidmerge.plan", "vidmerge.engine", "vidmerge.service", "vidmerge.cli"} <= RULES.keys()


def test_every_module_is_on_the_map() -> None:
    assert [m for m in sorted(MODULES) if m != ROOT and row_of(m, RULES) is None] == []


def test_every_import_is_on_the_map() -> None:
    assert off_the_map(MODULES, RULES) == []


def test_an_import_against_the_map_is_named() -> None:
    modules = {
        "vidmerge.template.bundle": imports_of("from vidmerge.draw.values import base_form"),
        "vidmerge.engine.runner": imports_of("from vidmerge.resolver import outbound"),
        "vidmerge.engine.encode": imports_of("from vidmerge.resolver import outbound"),
    }
    assert off_the_map(modules, RULES) == [
        "vidmerge.engine.encode imports vidmerge.resolver.outbound",
        "vidmerge.template.bundle imports vidmerge.draw.values",
    ]


def _settings_read(path: Path) -> set[str]:
    """The attributes a module reads off `settings` (or `x.settings`; `self` in config.py itself)."""
    owners = {"settings", "self"} if path.name == "config.py" and path.parent == PACKAGE else {"settings"}
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and (getattr(node.value, "id", None) in owners or getattr(node.value, "attr", None) == "settings")
    }


def test_every_setting_is_read_somewhere() -> None:
    """A setting nothing reads is dead code that documents a knob which does nothing."""
    read = {name for path in PACKAGE.rglob("*.py") for name in _settings_read(path)}
    assert [f.name for f in dataclasses.fields(Settings) if f.name not in read] == []
