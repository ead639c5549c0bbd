"""The folders keep the import rules docs/architecture.md states: the data flow goes one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vidmerge

PACKAGE = Path(vidmerge.__file__).resolve().parent


def _modules() -> dict[str, set[str]]:
    """Every module of the package -> the vidmerge modules it imports (anywhere in the file)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("vidmerge", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vidmerge"):
                imports.add(node.module)
            elif isinstance(node, ast.Import):
                imports.update(a.name for a in node.names if a.name.startswith("vidmerge"))
        found[name] = imports
    return found


MODULES = _modules()


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# (importer prefixes, forbidden import prefixes)
RULES = [
    (("vidmerge.plan", "vidmerge.config", "vidmerge.errors"), ("vidmerge",)),  # the standard library only
    (("vidmerge.resolver",), ("vidmerge.template", "vidmerge.draw", "vidmerge.engine", "vidmerge.storage",
                              "vidmerge.records", "vidmerge.service", "vidmerge.bench")),
    (("vidmerge.template", "vidmerge.draw", "vidmerge.storage"),
     ("vidmerge.engine", "vidmerge.records", "vidmerge.service", "vidmerge.bench")),
    (("vidmerge.draw.slots",), ("vidmerge.template.manifest", "vidmerge.template.bundle")),
    (("vidmerge.engine",), ("vidmerge.records", "vidmerge.service", "vidmerge.bench")),
    (("vidmerge.records",), ("vidmerge.template", "vidmerge.draw", "vidmerge.engine", "vidmerge.service")),
]  # fmt: skip


@pytest.mark.parametrize(("importers", "forbidden"), RULES)
def test_no_folder_imports_against_the_data_flow(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    wrong = {
        (module, imported)
        for module, imports in MODULES.items()
        if _under(module, *importers)
        for imported in imports
        if _under(imported, *forbidden)
    }
    assert wrong == set()


def test_only_the_command_reaches_into_the_service_and_the_bench() -> None:
    outside = {
        (module, imported)
        for module, imports in MODULES.items()
        if not _under(module, "vidmerge.service", "vidmerge.bench", "vidmerge.cli")
        for imported in imports
        if _under(imported, "vidmerge.service", "vidmerge.bench")
    }
    assert outside == set()
