"""Screenshots of the main pages at desktop (1280×800) and phone (360×740) size.

    .venv/bin/python -m tests.web.screenshots [OUT_DIR]     (default docs/screenshots)
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.web.live import CHROMIUM, CHROMIUM_ARGS, DEMO_ADDRESS, DEMO_PASSWORD, LiveServer

SIZES = {"desktop": (1280, 800), "phone": (360, 740)}


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/signin")
    page.fill("#address", DEMO_ADDRESS)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/mail/\d+$"))


def shoot(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        live = LiveServer(Path(tmp)).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for size_name, (width, height) in SIZES.items():
                    context = browser.new_context(viewport={"width": width, "height": height},
                                                  device_scale_factor=1, locale="en-GB",
                                                  timezone_id="Europe/Amsterdam")
                    page = context.new_page()
                    base = live.base_url

                    def snap(name: str, page: Page = page, size_name: str = size_name) -> None:
                        path = out / f"{name}-{size_name}.png"
                        page.screenshot(path=str(path))
                        written.append(path)

                    page.goto(base + "/signin")
                    snap("signin")
                    sign_in(page, base)
                    inbox = page.url
                    snap("inbox")
                    page.click("text=This month at Harbour")
                    page.wait_for_selector("iframe.mail-frame")
                    page.wait_for_timeout(300)
                    snap("message")
                    page.keyboard.press("?")
                    snap("shortcuts")
                    page.keyboard.press("Escape")
                    page.goto(base + "/compose")
                    page.wait_for_selector("#editor[contenteditable=true]")
                    page.fill("#to", "Lena Hoffmann <lena@hoffmann-architekten.test>")
                    page.fill("#subject", "Floor plans")
                    page.click("#editor")
                    page.keyboard.type("Hello Lena, the plans look ")
                    page.keyboard.press("Control+b")
                    page.keyboard.type("very good")
                    page.keyboard.press("Control+b")
                    page.keyboard.type(".")
                    snap("compose")
                    page.goto(base + "/settings")
                    snap("settings")
                    page.goto(base + "/settings/setup")
                    snap("setup")
                    page.goto(base + "/search?q=cabin&from=priya")
                    snap("search")
                    page.goto(base + "/mail")
                    page.click(".view-toggle button[value=conversations]")
                    page.wait_for_selector("ul.conversations")
                    snap("conversations")
                    page.click("ul.conversations a.row-link:has-text('Booking the cabin')")
                    page.wait_for_selector("ol.thread details[open] iframe.mail-frame")
                    page.wait_for_timeout(300)
                    snap("conversation")
                    page.goto(base + "/mail")
                    page.click(".view-toggle button[value=messages]")
                    page.wait_for_selector("ul.messages:not(.conversations)")
                    del inbox
                    context.close()
                browser.close()
        finally:
            live.stop()
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    for path in shoot(target):
        print(path)
