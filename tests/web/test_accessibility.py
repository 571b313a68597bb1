"""axe-core in real Chromium on every main page, at desktop and phone size, and dark:
no violation of impact "serious" or "critical" (WCAG 2.x A/AA rules plus axe's best practices,
contrast included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import sign_in_browser
from tests.web.live import LiveServer

AXE = (Path(__file__).parent / "axe.min.js").read_text(encoding="utf-8")
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
CASES = [("desktop", "light"), ("phone", "light"), ("desktop", "dark")]
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("axe")).start()
    try:
        yield live
    finally:
        live.stop()


def violations(page: Any) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)  # through the DevTools protocol: the page's CSP does not apply
    found = page.evaluate(
        "async () => (await axe.run(document, {iframes: false, resultTypes: ['violations']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}"
            for v in found if v["impact"] in BLOCKING]


@pytest.mark.parametrize(("size", "scheme"), CASES)
def test_main_pages_have_no_serious_violations(server: LiveServer, browser: Any,
                                               size: str, scheme: str) -> None:
    context = browser.new_context(viewport=SIZES[size], locale="en-GB", color_scheme=scheme)
    context.set_default_timeout(10_000)
    page = context.new_page()
    base = server.base_url
    problems: dict[str, list[str]] = {}
    try:
        page.goto(base + "/signin")
        problems["sign-in"] = violations(page)
        sign_in_browser(page, base)
        problems["inbox"] = violations(page)
        page.goto(page.url)  # the list as a phone shows it, with the folders menu closed
        page.click("text=This month at Harbour")
        page.wait_for_selector("iframe.mail-frame")
        problems["message"] = violations(page)
        page.keyboard.press("?")
        problems["shortcuts"] = violations(page)
        page.keyboard.press("Escape")
        for name, path in (("compose", "/compose"), ("settings", "/settings"),
                           ("client setup", "/settings/setup"), ("folders", "/folders"),
                           ("search", "/search?q=invoice"),
                           ("search filters", "/search?from=priya&has=attachment")):
            page.goto(base + path)
            if name == "compose":  # with its editor, and its suggestions open
                page.wait_for_selector("#editor[contenteditable=true]")
                page.click("#to")
                page.keyboard.type("le")
                page.locator("#to-suggestions [role=option]").first.wait_for()
                page.keyboard.press("ArrowDown")
            problems[name] = violations(page)
        page.goto(base + "/mail")
        page.click(".view-toggle button[value=conversations]")
        page.wait_for_selector("ul.conversations")
        problems["conversations"] = violations(page)
        page.click("ul.conversations a.row-link:has-text('Booking the cabin')")
        page.wait_for_selector("ol.thread")
        problems["conversation"] = violations(page)
        page.goto(base + "/mail")
        page.click(".view-toggle button[value=messages]")
        page.wait_for_selector("ul.messages:not(.conversations)")
    finally:
        context.close()
    report = [f"{name}: {line}" for name, found in problems.items() for line in found]
    assert not report, "\n".join(report)
