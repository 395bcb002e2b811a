"""A real browser for the dashboard tests: Debian's headless Chromium driven by Playwright.

Test modules take `browser` (one Chromium per module) and mark themselves with
`pytestmark = pytest.mark.usefixtures("chromium_installed")`, so a machine without Chromium
skips them before any worker starts (and CI, where one is installed, fails instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECOND = 1000  # Playwright counts milliseconds


@pytest.fixture(scope="module")
def chromium_installed() -> None:
    """Skips without Chromium; under CI a missing one fails."""
    require(
        CHROMIUM.exists(),
        f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run installs it)",
    )


@pytest.fixture(scope="module")
def browser(chromium_installed: None) -> Iterator[Browser]:
    """One headless Chromium for the module."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
