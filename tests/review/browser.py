"""Headless Chromium (Debian's package) driven by Playwright, for the review page's browser tests.

Without Chromium a developer's run skips these tests with one line saying how to install it; on CI
(CI=true) that is a failure instead, because .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MIRA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "apt-get install -y chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "review"


def missing_browser(reason: str) -> None:
    message = f"the review page's browser tests need Chromium ({reason}): {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    """One browser for a whole test module; pages come from `new_page`."""
    if not Path(CHROMIUM).is_file():
        missing_browser(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the playwright package is not installed: make install")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    return context.new_page()


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """Written under the test's tmp folder, and copied to docs/review/ where the README shows it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    DOCS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS / path.name)
    return path


def grid_images_loaded(page: Any) -> list[int]:
    """naturalWidth of every grid image once all have finished loading (0 means it did not load)."""
    page.wait_for_function("[...document.querySelectorAll('img.grid')].every(i => i.complete)")
    return page.eval_on_selector_all("img.grid", "imgs => imgs.map(i => i.naturalWidth)")  # type: ignore[no-any-return]


class ReviewProcess:
    """`mira review --port 0` as a user runs it; `url` is the address it prints once listening."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "review", "--port", "0", *args],
                                         env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it listens or exits
        assert line.startswith("review page on "), f"{line!r}: {log.read_text()}"
        self.url = line.split()[3].rstrip("/")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(30)
