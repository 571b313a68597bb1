"""The message list in real Chromium: conversations, drag and drop onto a folder, search with
filters. What is moved is checked in the store, where IMAP sees it too."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import sign_in_browser
from tests.web.live import DEMO_ADDRESS, LiveServer

CABIN = "Booking the cabin for the long weekend"


def test_conversations_list_and_one_conversation(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    assert page.locator("li.message", has_text=CABIN).count() == 2  # two rows in the inbox
    page.click(".view-toggle button[value=conversations]")
    page.wait_for_selector("ul.conversations")
    assert page.get_attribute(".view-toggle button[value=conversations]",
                              "aria-pressed") == "true"
    row = page.locator("ul.conversations li.message", has_text=CABIN)
    assert row.count() == 1
    assert "Priya Raman" in row.locator(".from").inner_text()
    assert "2 messages" in row.inner_text()  # two of the three are in the inbox
    row.locator("a.row-link").click()
    page.wait_for_url(re.compile(r".*/mail/\d+/thread/\d+$"))
    items = page.locator("ol.thread > li")
    assert items.count() == 3  # the reply in Sent belongs to the conversation too
    assert items.nth(1).locator(".tag").inner_text() == "Sent"
    opened = [items.nth(i).locator("details").evaluate("d => d.open") for i in range(3)]
    assert opened == [False, False, True]  # the newest open, the others one line each
    assert "Booked!" in page.frame_locator("ol.thread > li:nth-child(3) iframe").locator(
        "body").inner_text()
    items.nth(0).locator("summary").click()
    assert items.nth(0).locator("details").evaluate("d => d.open")
    assert "cabin near the lake" in page.frame_locator(
        "ol.thread > li:nth-child(1) iframe").locator("body").inner_text()
    assert items.nth(0).locator("button[value=delete]").is_visible()
    # the setting stays: the inbox shows conversations after signing in again
    page.goto(live.base_url + "/mail")
    assert page.locator("ul.conversations").count() == 1


def test_drag_selected_messages_onto_a_folder(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    for subject in ("Welcome to your new mailbox", "Uitnodiging: teamoverleg"):
        page.locator("li.message", has_text=subject).locator("input[type=checkbox]").check()
    source = page.locator("li.message", has_text="Uitnodiging: teamoverleg")
    archive = page.locator("#folder-list a", has_text="Archive")
    source.hover()
    page.mouse.down()
    archive.hover()
    archive.hover(position={"x": 20, "y": 10})
    expect(archive).to_have_class(re.compile(r"\bdrop-target\b"))  # a visible drop target
    page.mouse.up()
    page.wait_for_url(re.compile(r".*notice=moved$"))
    in_archive = live.subjects(DEMO_ADDRESS, "Archive")
    assert "Welcome to your new mailbox" in in_archive
    assert any(s.startswith("Uitnodiging: teamoverleg") for s in in_archive)
    assert not any(s.startswith("Uitnodiging") for s in live.subjects(DEMO_ADDRESS, "INBOX"))
    # an unselected row dragged alone moves alone, here to a folder of the user's own
    async def create() -> None:
        store = live.store
        assert store is not None
        account = await store.find_account(DEMO_ADDRESS)
        await store.create_mailbox(account.id, "Receipts")

    live.call(create)
    page.goto(live.base_url + "/mail")
    page.locator("li.message", has_text="Floor plans").locator("input[type=checkbox]").check()
    page.drag_and_drop("li.message:has-text('Your invoice') a.row-link",
                       "#folder-list a:has-text('Receipts')")
    page.wait_for_url(re.compile(r".*notice=moved$"))
    receipts = live.subjects(DEMO_ADDRESS, "Receipts")
    assert len(receipts) == 1 and receipts[0].startswith("Your invoice")


def test_filtered_search(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    page.fill("#q", "from:northwind has:attachment")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r".*/search\?q=from"))
    subjects = page.locator(".messages .subject").all_inner_texts()
    assert len(subjects) == 1 and subjects[0].startswith("Your invoice")
    # the same with the filter fields and no words at all
    page.goto(live.base_url + "/search")
    page.click(".filter-fields summary")
    page.fill("#filter-from", "priya")
    page.fill("#filter-after", "2000-01-01")
    page.select_option("#filter-in", label="Inbox")
    page.click(".search-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*from=priya.*"))
    subjects = page.locator(".messages .subject").all_inner_texts()
    assert subjects == [f"Re: {CABIN}", CABIN]
    assert page.input_value("#filter-from") == "priya"
    page.check(".filter-grid input[name=has]")
    page.click(".search-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*has=attachment.*"))
    assert page.locator(".messages li.empty").inner_text() == "No messages found."
