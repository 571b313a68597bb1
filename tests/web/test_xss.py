"""No script in a displayed e-mail ever runs: a corpus of XSS payloads opened in real Chromium.

Each payload, if it ran, would set ``pwned`` on its window or the top window, change a
document title, or open a dialog. After the message is shown (images blocked, then shown,
then the frame opened on its own), none of that has happened.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from postbus.delivery import deliver, resolve
from tests.web.conftest import sign_in_browser
from tests.web.live import DEMO_ADDRESS, LiveServer

JS = (
    "window.pwned=1;try{top.pwned=1}catch(e){};"
    "try{parent.document.title='pwned'}catch(e){};document.title='pwned'"
)
PAYLOADS = [
    f"<script>{JS}</script>",
    f"<SCRIPT SRC=data:text/javascript,{JS}></SCRIPT>",
    f'<img src="x" onerror="{JS}">',
    f'<img src=x onerror={JS}//',
    f'<svg onload="{JS}"><circle r="10"/></svg>',
    f'<svg><script>{JS}</script></svg>',
    f'<body onload="{JS}">',
    f'<a id="jsurl" href="javascript:{JS}">click me</a>',
    f'<a id="jsurl2" href=" JaVaScRiPt:{JS}">click me too</a>',
    f'<a id="dataurl" href="data:text/html,<script>{JS}</script>">data link</a>',
    f'<div style="background:url(javascript:{JS})">css url</div>',
    f'<div style="width: expression({JS})">css expression</div>',
    f'<style>@import "javascript:{JS}"; body{{background:url("javascript:{JS}")}}</style>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{JS}">',
    f'<iframe srcdoc="<script>{JS}</script>"></iframe>',
    f'<iframe src="javascript:{JS}"></iframe>',
    f'<form action="javascript:{JS}"><button id="formbutton">go</button></form>',
    f'<object data="javascript:{JS}"></object>',
    f'<embed src="javascript:{JS}">',
    f'<base href="javascript:{JS}//">',
    f'<details open ontoggle="{JS}"><summary>x</summary></details>',
    f'<input autofocus onfocus="{JS}">',
    f'<video><source onerror="{JS}"></video>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{JS}">',
    f'<noscript><p title="</noscript><img src=x onerror={JS}>"></noscript>',
    f'<img src="data:image/svg+xml,<svg xmlns=\'http://www.w3.org/2000/svg\' onload=\'{JS}\'/>">',
    f'<link rel="stylesheet" href="javascript:{JS}">',
    f'<table background="javascript:{JS}"><tr><td>t</td></tr></table>',
    f'<marquee onstart="{JS}">m</marquee>',
    f'<div onmouseover="{JS}" id="hover">hover me</div>',
    f'<template><script>{JS}</script></template>',
    f'<x-tag onclick="{JS}" id="custom">custom</x-tag>',
    f'<img src="cid:nothing" onerror="{JS}">',
    f'--><script>{JS}</script><!--',
    f'<![CDATA[<script>{JS}</script>]]>',
]
HOSTILE_SUBJECT = f"<script>{JS}</script> hostile subject"


def _hostile_messages() -> list[bytes]:
    html = EmailMessage()
    html["From"] = f'"<img src=x onerror={JS}>" <evil@elsewhere.test>'
    html["To"] = DEMO_ADDRESS
    html["Subject"] = HOSTILE_SUBJECT
    html.set_content("plain alternative")
    html.add_alternative("<html><body><h1>Payloads</h1>" + "\n".join(
        f"<div class='p'>{p}</div>" for p in PAYLOADS) + "</body></html>", subtype="html")
    html.add_attachment(b"<script>x</script>", maintype="text", subtype="html",
                        filename=f'"><script>{JS}</script>.html')
    plain = EmailMessage()
    plain["From"] = "evil@elsewhere.test"
    plain["To"] = DEMO_ADDRESS
    plain["Subject"] = "plain hostile"
    plain.set_content("\n".join(PAYLOADS) + "\nhttps://example.test/\"><script>x</script>")
    return [html.as_bytes(), plain.as_bytes()]


def _not_pwned(page: Any, dialogs: list[str]) -> None:
    for frame in page.frames:
        try:
            assert frame.evaluate("typeof window.pwned") == "undefined", frame.url
            assert frame.evaluate("document.title") != "pwned", frame.url
        except Exception as exc:  # a frame that navigated away is gone; that is fine
            if "pwned" in str(exc) or isinstance(exc, AssertionError):
                raise
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.title() != "pwned"
    assert dialogs == []


def test_no_script_in_a_message_ever_runs(live: LiveServer, page: Any) -> None:
    async def arrive() -> None:
        assert live.store is not None
        recipient = await resolve(live.store, DEMO_ADDRESS)
        assert recipient is not None
        for raw in _hostile_messages():
            await deliver(live.store, [recipient], raw)

    live.call(arrive)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_browser(page, live.base_url)
    _not_pwned(page, dialogs)  # subject and sender name in the list

    page.click("text=hostile subject")
    page.wait_for_selector("iframe.mail-frame")
    page.wait_for_timeout(500)
    _not_pwned(page, dialogs)
    frame = page.frame_locator("iframe.mail-frame")
    assert frame.locator("h1", has_text="Payloads").count() == 1
    for target in ("#jsurl", "#jsurl2", "#dataurl", "#formbutton", "#hover", "#custom"):
        found = frame.locator(target)
        if found.count():
            found.first.click(timeout=2000, force=True)
    page.wait_for_timeout(300)
    _not_pwned(page, dialogs)
    message_url = page.url

    page.goto(message_url + "?images=1")
    page.wait_for_selector("iframe.mail-frame")
    page.wait_for_timeout(500)
    _not_pwned(page, dialogs)

    frame_url = page.locator("iframe.mail-frame").get_attribute("src")
    page.goto(live.base_url + frame_url)  # the frame on its own, as a top-level page
    page.wait_for_timeout(500)
    _not_pwned(page, dialogs)

    match = re.search(r"/mail/(\d+)/(\d+)", message_url)
    assert match is not None
    page.goto(f"{live.base_url}/mail/{match.group(1)}/{int(match.group(2)) + 1}")
    assert "plain hostile" in page.content()
    assert "<script>" in page.locator(".plain-body").inner_text()  # shown, as text
    page.wait_for_timeout(300)
    _not_pwned(page, dialogs)
