"""What the browser tests check on every page they look at: axe-core finds no critical, serious or moderate
violation and no template syntax shows; then a full-page screenshot in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

AXE_SOURCE = Path(__file__).with_name("vendor") / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# "minor" is left out on purpose: the bar is the three levels that block or hinder a user.
BLOCKING_IMPACTS = {"critical", "serious", "moderate"}


def axe_violations(page) -> list[dict]:
    """axe-core's violations of the page as it is now (WCAG 2.x A and AA rules and best practices)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the debugging protocol, not a <script>: no page policy can block it.
        page.evaluate(AXE_SOURCE.read_text())
    return page.evaluate("async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations")


def describe(violations: list[dict]) -> str:
    """One line per violation: impact, rule, what it means and the first elements it names."""
    lines = []
    for violation in violations:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} ({targets})")
    return "\n".join(lines)


def assert_accessible(page, where: str) -> None:
    """Fail with axe-core's own words when the page has a violation of a blocking impact."""
    blocking = [violation for violation in axe_violations(page) if violation["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core on {where} ({page.url}):\n{describe(blocking)}"


def screenshot(page, name: str) -> Path:
    """Check the page as it is now with axe-core, then keep a full-page picture of it in test-artifacts/."""
    assert_accessible(page, name)
    text = page.inner_text("body")
    assert "{#" not in text and "{%" not in text, f"template syntax shown on {name}"
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def record_failed_requests(page) -> list[str]:
    """Every response of 400 or more the page's requests get from here on, as "status url"."""
    failed: list[str] = []

    def note(response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", note)
    return failed
