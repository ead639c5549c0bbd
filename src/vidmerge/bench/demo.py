"""The demo template, shipped as package data: an electricity-plan savings video (30 s, 720p).

`vidmerge demo DIR` writes it out with its base clip generated (bench/clip.py), ready to zip and
upload or to render with `vidmerge render DIR --data DIR/sample.json`. The R30 benchmark uses
the same layout and data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vidmerge.bench.clip import make_base_clip

DEMO_TEMPLATE = Path(__file__).resolve().parent / "electricity"


def write_demo(dest: Path) -> Path:
    """Copy the demo template into `dest` (files already there are kept) and generate its base
    clip unless it exists. Returns `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for source in sorted(DEMO_TEMPLATE.rglob("*")):
        target = dest / source.relative_to(DEMO_TEMPLATE)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        elif not target.exists():
            shutil.copyfile(source, target)
    make_base_clip(dest / "base.mp4")
    return dest
