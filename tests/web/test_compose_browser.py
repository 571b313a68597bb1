"""The compose page in real Chromium against the real server: rich text that arrives as
multipart/alternative (read back over IMAP), address suggestions, attachments dropped on the
form with upload progress."""

from __future__ import annotations

import dataclasses
import email
import quopri
import re
from email import policy
from typing import Any

from imapclient import IMAPClient

from postbus.config import Listener
from postbus.imap.server import serve_imap
from tests.web.conftest import sign_in_browser
from tests.web.live import DEMO_ADDRESS, OTHER_ADDRESS, OTHER_PASSWORD, LiveServer

SENT = re.compile(r".*notice=sent$")


def open_compose(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("a.compose-button")  # a boosted link: the editor must start after an htmx swap
    page.wait_for_selector("#editor[contenteditable=true]")


def imap_port(live: LiveServer) -> int:
    async def start() -> int:
        server = await serve_imap(live.service, Listener("imap", "imap", "127.0.0.1", 0,
                                                         "starttls"))
        live.imap = server  # type: ignore[attr-defined]
        return int(server.sockets[0].getsockname()[1])

    return live.call(start)


def test_bold_text_arrives_as_html_and_plain_over_imap(live: LiveServer, page: Any) -> None:
    open_compose(live, page)
    assert page.locator("#body").is_hidden()  # the editor stands in for the textarea
    page.fill("#to", f"Ann <{OTHER_ADDRESS}>")
    page.fill("#subject", "Rich greetings")
    page.click("#editor")
    page.keyboard.type("Hello ")
    page.get_by_role("button", name="Bold").click()
    assert page.get_by_role("button", name="Bold").get_attribute("aria-pressed") == "true"
    page.keyboard.type("Ann")
    page.keyboard.press("Control+b")
    page.keyboard.type(", see the list:")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("bread")
    page.keyboard.press("Enter")
    page.keyboard.type("soup")
    page.click("button[value=send]")
    page.wait_for_url(SENT)

    with IMAPClient("127.0.0.1", port=imap_port(live), ssl=False, timeout=10) as imap:
        imap.login(OTHER_ADDRESS, OTHER_PASSWORD)
        imap.select_folder("INBOX", readonly=True)
        uids = imap.search(["SUBJECT", "Rich greetings"])
        assert len(uids) == 1
        fetched = imap.fetch(uids, ["BODYSTRUCTURE", "BODY.PEEK[1]", "BODY.PEEK[2]"])[uids[0]]
    structure = fetched[b"BODYSTRUCTURE"]
    assert structure.is_multipart and structure[1].lower() == b"alternative"
    assert [(p[0].lower(), p[1].lower()) for p in structure[0]] == [
        (b"text", b"plain"), (b"text", b"html")]
    plain = quopri.decodestring(fetched[b"BODY[1]"]).decode().replace("\r\n", "\n")
    html = quopri.decodestring(fetched[b"BODY[2]"]).decode()
    assert re.search(r"<(b|strong)>Ann</(b|strong)>", html)
    assert "<ul><li>bread</li><li>soup</li></ul>" in html
    assert plain.startswith("Hello Ann, see the list:\n- bread\n- soup\n")
    live.call(_close_imap(live))


def _close_imap(live: LiveServer) -> Any:
    async def close() -> None:
        live.imap.close()  # type: ignore[attr-defined]
        await live.imap.wait_closed()  # type: ignore[attr-defined]

    return close


def test_plain_text_switch_and_back(live: LiveServer, page: Any) -> None:
    open_compose(live, page)
    page.click("#editor")
    page.keyboard.type("Quote me")
    # The toolbar with the keyboard alone: one tab stop, arrow keys inside it.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.command") == "bold"
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.command") == "quote"
    page.keyboard.press("End")
    page.keyboard.press("ArrowRight")  # wraps round
    assert page.evaluate("document.activeElement.dataset.command") == "bold"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "editor"
    assert page.locator("#editor blockquote").count() == 1
    page.check("#plain-text")
    page.wait_for_selector("#body", state="visible")
    assert page.input_value("#body") == "> Quote me\n"
    assert page.locator(".editor").is_hidden()
    page.fill("#body", "Only text now.")
    page.uncheck("#plain-text")
    page.wait_for_selector("#editor", state="visible")
    assert page.inner_text("#editor").strip() == "Only text now."


def test_address_suggestions_with_the_keyboard(live: LiveServer, page: Any) -> None:
    open_compose(live, page)
    page.click("#to")
    page.keyboard.type("le")
    options = page.locator("#to-suggestions [role=option]")
    options.first.wait_for()
    assert "lena@hoffmann-architekten.test" in options.first.inner_text()
    assert page.get_attribute("#to", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#to", "aria-activedescendant") == "to-option-1"
    page.keyboard.press("Enter")  # chooses; does not send the form
    assert page.input_value("#to") == "Lena Hoffmann <lena@hoffmann-architekten.test>, "
    assert page.locator("#to-suggestions").is_hidden()
    page.keyboard.type("PRI")  # the second address of the field, any case
    options.first.wait_for()
    assert "priya.raman@fernwood.test" in options.first.inner_text()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.input_value("#to") == ("Lena Hoffmann <lena@hoffmann-architekten.test>, "
                                       "Priya Raman <priya.raman@fernwood.test>, ")
    assert "/compose" in page.url


DROP = """([selector, files]) => {
  const transfer = new DataTransfer();
  for (const [name, size] of files) {
    transfer.items.add(new File([new Uint8Array(size).fill(97)], name, {type: "text/plain"}));
  }
  const target = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true,
                                              dataTransfer: transfer}));
  }
}"""


def test_dropped_files_upload_with_progress_and_arrive(live: LiveServer, page: Any) -> None:
    config = live.service.config
    live.service.config = dataclasses.replace(  # attachments up to 3 MB
        config, limits=dataclasses.replace(config.limits, max_message_size=4 * 1024 * 1024))
    try:
        open_compose(live, page)
        page.fill("#to", OTHER_ADDRESS)
        page.fill("#subject", "Dropped files")
        # Too large: refused at once, with the reason, before any upload.
        page.evaluate(DROP, ["#editor", [["huge.txt", 3 * 1024 * 1024 + 1]]])
        assert "huge.txt is too large to send (at most 3.0 MB)." in page.inner_text(
            "#upload-error")
        assert page.locator("#staged li").count() == 0
        # A slow upload (the browser's network throttled) shows its progress.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1,
            "uploadThroughput": 600 * 1024})
        page.evaluate(DROP, [".compose-form", [["notes.txt", 1500 * 1024],
                                               ["extra.txt", 100]]])
        bar = page.locator("#staged li", has_text="notes.txt").locator("progress")
        page.wait_for_function(
            "() => { const p = document.querySelector('#staged li progress');"
            " return p && p.value > 0 && p.value < 100; }")
        assert bar.get_attribute("aria-label") == "notes.txt"
        page.locator("#staged input[name=staged]").nth(1).wait_for(state="attached",
                                                                  timeout=20_000)
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        assert page.locator("#staged progress").count() == 0
        assert "is attached" in page.inner_text("#upload-status")
        # Changed my mind about one of them.
        page.get_by_role("button", name="Remove extra.txt").click()
        assert page.locator("#staged li").count() == 1
        page.click("button[value=send]")
        page.wait_for_url(SENT)
    finally:
        live.service.config = config

    async def arrived() -> list[tuple[str, int]]:
        assert live.store is not None
        account = await live.store.find_account(OTHER_ADDRESS)
        inbox = await live.store.get_mailbox(account.id, "INBOX")
        newest = (await live.store.newest(account.id, inbox.id, 1))[0]
        raw = await live.store.read_body(account.id, newest.message_id)
        message = email.message_from_bytes(raw, policy=policy.default)
        return [(part.get_filename(), len(part.get_content()))
                for part in message.iter_attachments()]  # type: ignore[attr-defined]

    assert live.call(arrived) == [("notes.txt", 1500 * 1024)]


def test_without_javascript_the_textarea_and_file_input_still_work(
    live: LiveServer, browser: Any
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in_browser(page, live.base_url)
        page.goto(live.base_url + "/compose")
        assert page.locator(".editor").is_hidden()
        assert page.locator("#plain-text").is_hidden()
        page.fill("#to", OTHER_ADDRESS)
        page.fill("#subject", "No script here")
        page.fill("#body", "Typed in the textarea.")
        page.set_input_files("#attachment", files=[
            {"name": "list.txt", "mimeType": "text/plain", "buffer": b"eggs\n"}])
        page.click("button[value=send]")
        page.wait_for_url(SENT)
    finally:
        context.close()

    async def arrived() -> tuple[str, list[str]]:
        assert live.store is not None
        account = await live.store.find_account(OTHER_ADDRESS)
        inbox = await live.store.get_mailbox(account.id, "INBOX")
        newest = (await live.store.newest(account.id, inbox.id, 1))[0]
        raw = await live.store.read_body(account.id, newest.message_id)
        message = email.message_from_bytes(raw, policy=policy.default)
        body = message.get_body(("html", "plain"))  # type: ignore[attr-defined]
        names = [p.get_filename() for p in message.iter_attachments()]  # type: ignore[attr-defined]
        return f"{body.get_content_type()}: {body.get_content().strip()}", names

    assert live.call(arrived) == ("text/plain: Typed in the textarea.", ["list.txt"])


def test_a_draft_saves_itself_while_writing(live: LiveServer, page: Any) -> None:
    open_compose(live, page)
    page.fill("#to", OTHER_ADDRESS)
    page.fill("#subject", "Saved while writing")
    page.click("#editor")
    page.keyboard.type("A first sentence.")
    page.wait_for_selector(".autosave-status:has-text('Draft saved')", timeout=15000)
    first = page.input_value("input[name=draft]")
    assert first and live.subjects(DEMO_ADDRESS, "Drafts").count("Saved while writing") == 1
    page.keyboard.type(" And a second one.")
    for _ in range(150):  # the page's CSP forbids wait_for_function's eval: poll instead
        if page.input_value("input[name=draft]") != first:
            break
        page.wait_for_timeout(100)
    assert page.input_value("input[name=draft]") != first
    assert live.subjects(DEMO_ADDRESS, "Drafts").count("Saved while writing") == 1  # replaced
    page.click("button[value=send]")
    page.wait_for_url(SENT)
    assert "Saved while writing" not in live.subjects(DEMO_ADDRESS, "Drafts")
    assert "Saved while writing" in live.subjects(OTHER_ADDRESS, "INBOX")
