"""Checks every browser test can run on a page: axe-core's accessibility rules and horizontal scroll."""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.services import in_ci

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# The rules we hold every page to: WCAG 2.1 A and AA (contrast included) and best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")
# Waits for the page's finite CSS transitions and animations (a button fading to its pressed
# colours would otherwise be measured half-way, as a contrast failure); spinners run forever.
SETTLED = """() => Promise.all(document.getAnimations()
  .filter(a => a.effect && isFinite(a.effect.getComputedTiming().endTime))
  .map(a => a.finished.catch(() => null)))"""


@cache
def axe_source() -> str:
    """axe-core as `make browser` installs it from npm; skip locally, fail under CI, without it."""
    if not AXE.is_file():
        message = f"axe-core not found at {AXE}: run `make browser` (npm ci)"
        if in_ci():
            pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') does not apply.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    page.evaluate(SETTLED)
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, "
                          "resultTypes: ['violations']}).then(r => r.violations)", AXE_TAGS)
    return [v for v in found if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    """A readable list of violations: rule, impact, help and the first offending elements."""
    lines = []
    for v in violations:
        targets = "; ".join(str(node["target"]) for node in v["nodes"][:3])
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


def accessibility_problems(page: Any, where: str) -> list[str]:
    """The serious or critical axe-core violations, described, or nothing."""
    violations = axe_violations(page)
    return [f"{where}:\n{describe(violations)}"] if violations else []


def assert_accessible(page: Any, where: str) -> None:
    """No serious or critical axe-core violation."""
    problems = accessibility_problems(page, where)
    assert not problems, problems[0]


def scroll_problems(page: Any, where: str) -> list[str]:
    """What is wider than the viewport (nothing to scroll sideways), or nothing."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] <= widths[1]:
        return []
    return [f"{where}: page is {widths[0]} px wide in a {widths[1]} px viewport"]


FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def assert_no_horizontal_scroll(page: Any, where: str) -> None:
    """The page, once its layout has settled, is no wider than the viewport (nothing to scroll
    sideways)."""
    # Right after a viewport change or a live update the page may still be laying out; wait for it
    # to fit (up to 5 s), then report what is still too wide.
    with contextlib.suppress(Exception):
        page.wait_for_function(FITS, timeout=5_000)
    problems = scroll_problems(page, where)
    assert not problems, problems[0]


def sign_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the real form and wait until the navigation names the user."""
    page.goto(base_url + "/auth/login")
    page.fill("#identifier", username)
    page.fill("#password", password)
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text(username)
