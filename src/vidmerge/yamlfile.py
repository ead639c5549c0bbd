"""Reading the YAML a template bundle carries (its manifest, tariff tables): bounded first.

A bundle is untrusted input. Its YAML is refused past MAX_BYTES before it is parsed, and any
alias (`*name`) is refused before anything is built: aliases are how a few kilobytes expand to
gigabytes ("billion laughs"), and a manifest or a tariff table never needs one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from vidmerge.errors import BundleError

MAX_DEPTH = 32  # a manifest nests 5 levels; a tariff table 4
MAX_BYTES = 1 << 20  # a manifest is a few kilobytes; a large tariff table a few hundred


def read_yaml(path: Path, *, where: str) -> object:
    """The document at `path`, or BundleError naming `where` and the reason."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BundleError(f"larger than {MAX_BYTES} bytes", where=where)
        text = path.read_text(encoding="utf-8")
        _check_events(text, where)
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(f"not valid YAML ({type(exc).__name__}: {exc})", where=where) from None


def _check_events(text: str, where: str) -> None:
    """No alias, no nesting deeper than MAX_DEPTH (the loader recurses), before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise BundleError("YAML aliases (*name) are not allowed", where=where)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise BundleError(f"YAML nested deeper than {MAX_DEPTH} levels", where=where)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
