"""Fixtures of the service tests: the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.browser import launch


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium through Playwright (support/browser.py)."""
    yield from launch(tmp_path_factory.mktemp("viewer"))
