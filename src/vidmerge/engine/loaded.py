"""A loaded template version and its environment: what encoding its segments needs.

The registry builds one per template version and process (service/registry.py); `vidmerge
render` and the bench build their own. It is a value: variants for one encode (one thread, a
quick search, a lower CPU priority) are copies with one field changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vidmerge.engine import ffmpeg
from vidmerge.engine.frames import FrameCache
from vidmerge.plan import Prepared
from vidmerge.storage import Storage
from vidmerge.template.bundle import Template


@dataclass(frozen=True)
class LoadedVersion:
    template: Template
    prepared: Prepared
    storage: Storage
    limits: ffmpeg.Limits = ffmpeg.Limits()
    rush: bool = False  # quickest x264 search for dynamic segments (same headers); see argv.RUSH_X264
    frames: FrameCache | None = None  # decoded base frames of dynamic segments, on local disk


def side_by_side(loaded: LoadedVersion) -> LoadedVersion:
    """The version for segments encoded several at once: one thread per encoder.

    A 2 s segment is one short GOP; x264's frame threads ramp up and drain at each end of it,
    so on a small machine several one-thread encoders side by side get more done than a few
    multi-threaded ones (measured in docs/bench.md).
    """
    return replace(loaded, limits=replace(loaded.limits, threads=1))
