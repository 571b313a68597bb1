"""The webmail in real Chromium against the real server on 127.0.0.1: what a person does."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from postbus.delivery import deliver, resolve
from postbus.mime import get_header, header_block
from tests.web.conftest import sign_in_browser
from tests.web.live import DEMO_ADDRESS, OTHER_ADDRESS, OTHER_PASSWORD, LiveServer

INBOX = re.compile(r".*/mail/\d+(\?.*)?$")


def test_sign_in_wrong_password_then_right(live: LiveServer, page: Any) -> None:
    page.goto(live.base_url + "/mail")
    assert "/signin?next=%2Fmail" in page.url
    page.fill("#address", DEMO_ADDRESS)
    page.fill("#password", "not-the-password")
    page.click("form.signin-form button[type=submit]")
    assert page.locator("#signin-error").inner_text() == "Wrong e-mail address or password."
    # The boosted form's swap must be over, or the next fill can land in the outgoing DOM
    # (seen once in a full run: the second submit never left /signin).
    page.wait_for_load_state("networkidle")
    page.fill("#password", "demo-password")
    page.click("form.signin-form button[type=submit]")
    page.wait_for_url(INBOX)
    assert page.locator("h1.folder-title").inner_text().startswith("Inbox")
    assert page.locator("text=Welcome to your new mailbox").count() == 1


def test_html_mail_with_blocked_images_then_shown(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("text=This month at Harbour")
    page.wait_for_selector("iframe.mail-frame")
    frame = page.frame_locator("iframe.mail-frame")
    banner = frame.locator("img[alt='Autumn blends']")
    assert banner.get_attribute("src") is None
    logo = frame.locator("img[src^='data:image/png']")
    assert logo.count() == 1
    assert logo.evaluate("img => img.naturalWidth") > 0  # the cid: image really shows
    assert page.locator(".images-bar").is_visible()
    page.click("#show-images")
    page.wait_for_url(re.compile(r".*\?images=1$"))
    banner = page.frame_locator("iframe.mail-frame").locator("img[alt='Autumn blends']")
    assert banner.get_attribute("src") == "https://images.example.test/banner.png"
    assert page.locator(".images-bar").count() == 0


def test_always_show_images_from_this_sender(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("text=This month at Harbour")
    page.wait_for_selector("iframe.mail-frame")
    with page.expect_navigation():  # the form posts, then comes back to the same URL
        page.click("#trust-images")
    banner = page.frame_locator("iframe.mail-frame").locator("img[alt='Autumn blends']")
    assert banner.get_attribute("src") == "https://images.example.test/banner.png"
    assert page.locator(".images-bar").count() == 0
    with page.expect_navigation():
        page.click("#folder-list >> text=Inbox")
    with page.expect_navigation():
        page.click("text=This month at Harbour")  # and again next time, without asking
    banner = page.frame_locator("iframe.mail-frame").locator("img[alt='Autumn blends']")
    assert banner.get_attribute("src") == "https://images.example.test/banner.png"


def test_compose_to_another_local_user(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("a.compose-button")
    page.fill("#to", f"Ann <{OTHER_ADDRESS}>")
    page.fill("#subject", "Lunch on Friday?")
    page.wait_for_selector("#editor[contenteditable=true]")
    page.check("#plain-text")  # plain text only, as the writer chose
    page.fill("#body", "Shall we try the new place on the corner?")
    page.set_input_files("#attachment", files=[
        {"name": "menu.txt", "mimeType": "text/plain", "buffer": b"soup\nbread\n"}])
    page.locator("#staged input[name=staged]").wait_for(state="attached")  # uploaded
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r".*notice=sent$"))
    assert "Your message has been sent." in page.locator(".notice").inner_text()
    assert "Lunch on Friday?" in live.subjects(OTHER_ADDRESS, "INBOX")
    assert "Lunch on Friday?" in live.subjects(DEMO_ADDRESS, "Sent")
    # and Ann reads it in her own session
    other = page.context.browser.new_context()
    ann = other.new_page()
    sign_in_browser(ann, live.base_url, OTHER_ADDRESS, OTHER_PASSWORD)
    ann.click("text=Lunch on Friday?")
    assert "Shall we try the new place" in ann.locator(".plain-body").inner_text()
    assert ann.locator(".attachments").inner_text().count("menu.txt") == 1
    other.close()


def test_reply_keeps_the_thread(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("text=Floor plans for the extension")
    page.click("text=Reply all")
    page.wait_for_url(re.compile(r".*/compose\?reply=.*mode=all"))
    assert page.input_value("#subject").startswith("Re: Floor plans")
    assert "lena" in page.input_value("#to").lower()
    assert "> " in page.input_value("#body")  # the plain version, for a plain-text reply
    page.wait_for_selector("#editor[contenteditable=true]")
    assert "On " in page.inner_text("#editor")
    assert page.locator("#editor blockquote").count() == 1  # the quote, in the editor
    assert page.evaluate("document.activeElement.id") == "editor"  # the cursor above it
    page.keyboard.type("Looks good to me.")
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r".*notice=sent$"))

    async def sent_reply() -> tuple[list[str], tuple[str, ...]]:
        store = live.store
        assert store is not None
        account = await store.find_account(DEMO_ADDRESS)
        sent = await store.special_mailbox(account.id, "\\Sent")
        assert sent is not None
        newest = (await store.newest(account.id, sent.id, 1))[0]
        raw = await store.read_body(account.id, newest.message_id)
        inbox = await store.get_mailbox(account.id, "INBOX")
        original = next(s for s in await store.newest(account.id, inbox.id, 50)
                        if s.subject.startswith("Floor plans"))
        return get_header(header_block(raw), "in-reply-to"), original.flags

    in_reply_to, flags = live.call(sent_reply)
    assert in_reply_to and in_reply_to[0].startswith("<")
    assert "\\Answered" in flags


def test_search(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.fill("#q", "invoice")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r".*/search\?q=invoice$"))
    assert page.locator(".messages .subject", has_text="Your invoice 2026-117").count() == 1


def test_move_then_delete(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    row = page.locator("li.message", has_text="Welcome to your new mailbox")
    row.locator("input[type=checkbox]").check()
    page.select_option("#move-target", label="Archive")
    page.click("button[value=move]")
    page.wait_for_url(re.compile(r".*notice=moved$"))
    assert page.locator("text=Welcome to your new mailbox").count() == 0
    assert "Welcome to your new mailbox" in live.subjects(DEMO_ADDRESS, "Archive")
    page.click("#folder-list >> text=Archive")
    page.click("text=Welcome to your new mailbox")
    page.click(".reading-toolbar button[value=delete]")
    page.wait_for_url(re.compile(r".*notice=deleted$"))
    assert "Welcome to your new mailbox" in live.subjects(DEMO_ADDRESS, "Trash")
    assert "Welcome to your new mailbox" not in live.subjects(DEMO_ADDRESS, "Archive")


def test_new_mail_appears_without_reload(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.wait_for_timeout(500)  # the event stream connects
    message = EmailMessage()
    message["From"] = "Sam <sam@elsewhere.test>"
    message["To"] = DEMO_ADDRESS
    message["Subject"] = "Arrived while you were looking"
    message.set_content("Hello!")

    async def arrive() -> None:
        assert live.store is not None
        recipient = await resolve(live.store, DEMO_ADDRESS)
        assert recipient is not None
        await deliver(live.store, [recipient], message.as_bytes())

    live.call(arrive)
    page.locator("text=Arrived while you were looking").wait_for(timeout=10_000)
    assert page.title().startswith("(5) Inbox")


def test_sign_out(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.click("button[title='Sign out']")
    page.wait_for_url(re.compile(r".*/signin\?signed_out=1$"))
    assert "You are signed out." in page.content()
    page.goto(live.base_url + "/settings")
    assert "/signin?next=%2Fsettings" in page.url


def test_error_pages(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    response = page.goto(live.base_url + "/mail/99999")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    response = page.goto(live.base_url + "/no/such/page")
    assert response.status == 404
    page.click("text=To your inbox")
    page.wait_for_url(INBOX)


def test_phone_size_folders_menu(live: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    phone = context.new_page()
    sign_in_browser(phone, live.base_url)
    assert not phone.locator("#nav").is_visible() or phone.locator("#nav").bounding_box()[
        "x"] < 0
    phone.click("a.menu-toggle")
    phone.wait_for_timeout(400)
    assert phone.locator("#nav").bounding_box()["x"] >= 0
    phone.click("#folder-list >> text=Sent")
    phone.wait_for_url(INBOX)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # nothing wider than the phone
    context.close()


def test_keyboard_shortcuts(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    subjects = page.locator(".messages li.message .subject").all_inner_texts()
    current = page.locator(".messages li.kb-current .subject")
    page.keyboard.press("j")
    assert current.inner_text() == subjects[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert current.inner_text() == subjects[1]
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r".*/compose\?reply=\d+:\d+&mode=reply$"))
    assert page.input_value("#subject").endswith(subjects[1].removeprefix("Re: "))
    page.fill("#subject", "jk#/?c")  # typed into a field, no shortcut fires
    assert "mode=reply" in page.url
    page.goto(live.base_url + "/mail")
    page.keyboard.press("c")
    page.wait_for_url(re.compile(r".*/compose$"))
    assert page.locator("#shortcuts").get_attribute("open") is None
    page.goto(live.base_url + "/mail")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("jk")
    assert page.input_value("#q") == "jk"
    page.locator("#q").blur()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    assert "Reply all" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    page.keyboard.press("j")
    page.keyboard.press("#")
    page.wait_for_url(re.compile(r".*notice=deleted$"))
    assert subjects[0] in live.subjects(DEMO_ADDRESS, "Trash")
    # reading a message: j opens the next one, u goes back to the list
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(re.compile(r".*/mail/\d+/\d+$"))
    page.wait_for_selector("article.reading")
    page.wait_for_load_state()  # htmx has settled: the shortcuts see the reading pane
    first = page.locator("#message-subject").inner_text()
    page.keyboard.press("j")
    page.wait_for_function("s => document.querySelector('#message-subject').textContent !== s",
                           arg=first)
    page.keyboard.press("u")
    page.wait_for_url(INBOX)
