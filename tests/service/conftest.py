"""Fixtures of the service tests: the browser, and a server with a vertical template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.browser import launch
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import Api


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium through Playwright (support/browser.py)."""
    yield from launch(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module")
def vertical(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A `vidmerge serve` of its own (the frame cache on, as by default) with a small 9:16
    template, `vertical`: 12 s of 360×640, its ladder 234p (the default's rungs below 360) and
    the top; the small template's slots (segments 1 and 2 personalized)."""
    tmp = tmp_path_factory.mktemp("vertical")
    clip = make_clip(tmp / "clip.mp4", width=360, height=640, seconds=12)
    root = write_bundle(tmp / "bundle", {**SMALL_MANIFEST, "id": "vertical"}, clip=clip)
    server = Api(tmp)
    server.start()
    server.post_template(zip_folder(root, tmp / "vertical.zip"))
    yield server
    server.stop()
