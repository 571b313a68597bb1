"""The settings page in real Chromium: the choices made there are what the compose page and
the message list start with."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import sign_in_browser
from tests.web.live import LiveServer

SAVED = re.compile(r".*/settings\?notice=settings$")


def test_plain_text_and_conversations_chosen_in_settings(live: LiveServer, page: Any) -> None:
    sign_in_browser(page, live.base_url)
    assert page.locator("ul.conversations").count() == 0
    page.click("a[href='/settings']")
    page.wait_for_url(re.compile(r".*/settings$"))
    compose_in = page.get_by_role("group", name="Compose in")
    message_list = page.get_by_role("group", name="Message list")
    assert compose_in.get_by_role("radio", name="Rich text").is_checked()
    assert message_list.get_by_role("radio", name="Messages").is_checked()
    compose_in.get_by_role("radio", name="Plain text").check()
    message_list.get_by_role("radio", name="Conversations").check()
    page.click("button:has-text('Save settings')")
    page.wait_for_url(SAVED)
    assert page.locator("p.notice").inner_text() == "Settings saved."
    assert compose_in.get_by_role("radio", name="Plain text").is_checked()
    assert message_list.get_by_role("radio", name="Conversations").is_checked()

    page.click("a.compose-button")  # boosted: the editor starts after an htmx swap
    page.wait_for_url(re.compile(r".*/compose$"))
    page.wait_for_selector("#body", state="visible")
    assert page.locator("#plain-text").is_checked()
    assert page.locator(".editor").is_hidden()
    assert page.input_value("input[name=format]") == "plain"
    page.uncheck("#plain-text")  # the per-message switch still works
    page.wait_for_selector("#editor[contenteditable=true]", state="visible")
    assert page.input_value("input[name=format]") == "html"

    page.goto(live.base_url + "/mail")
    page.wait_for_selector("ul.conversations")
    assert page.get_attribute(".view-toggle button[value=conversations]",
                              "aria-pressed") == "true"
    # the toggle on the list and the settings page are one setting
    page.click(".view-toggle button[value=messages]")
    page.wait_for_selector("ul.messages:not(.conversations)")
    page.goto(live.base_url + "/settings")
    assert page.get_by_role("group", name="Message list").get_by_role(
        "radio", name="Messages").is_checked()
    assert page.get_by_role("group", name="Compose in").get_by_role(
        "radio", name="Plain text").is_checked()
