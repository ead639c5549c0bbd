"""Reading the YAML a template bundle carries (its manifest, tariff tables): bounded first.

A bundle is untrusted input. Its YAML is refused past MAX_BYTES before it is parsed, and any
alias (`*name`) is refused before anything is built: aliases are how a few kilobytes expand to
gigabytes ("billion laughs"), and a manifest or a tariff table never needs one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from vidmerge.errors import BundleError

MAX_BYTES = 1 << 20  # a manifest is a few kilobytes; a large tariff table a few hundred


def read_yaml(path: Path, *, where: str) -> object:
    """The document at `path`, or BundleError naming `where` and the reason."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BundleError(f"larger than {MAX_BYTES} bytes", where=where)
        text = path.read_text(encoding="utf-8")
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise BundleError("YAML aliases (*name) are not allowed", where=where)
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(f"not valid YAML ({type(exc).__name__}: {exc})", where=where) from None
