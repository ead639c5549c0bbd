"""Debian's chromium driven by Playwright: the browser every page and console test uses."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from support.services import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def launch(workdir: Path, args: Sequence[str] = ()) -> Iterator[Any]:
    """A chromium (skipped with the reason when missing, except under CI=true). The viewer's
    browser runs on the customer's phone, not on the server; here both share two CPUs, so the
    browser runs at the lowest priority: what is measured is the server."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (make system-deps installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    viewer = workdir / "chromium"
    viewer.write_text(f'#!/bin/sh\nexec nice -n 19 {CHROMIUM} "$@"\n')
    viewer.chmod(0o755)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(viewer), args=[*CHROMIUM_ARGS, *args])
        yield chromium
        chromium.close()


def until(page: Any, expression: str, seconds: float) -> None:
    """Poll a JavaScript expression, across the reloads of a page that refreshes itself. Not
    page.wait_for_function: that evaluates with eval(), which our pages' CSP forbids, as it should.
    Waiting through Playwright (not time.sleep) lets it hand over the page's events meanwhile."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + seconds
    while True:
        try:
            if page.evaluate(f"() => Boolean({expression})"):
                return
        except Error as exc:
            if "context was destroyed" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s: {expression}")
        page.wait_for_timeout(50)
