"""Conversation mode over HTTP: the per-user setting, thread rows and their actions, one
conversation page, and another account's threads out of reach."""

from __future__ import annotations

import re

from tests.web.conftest import Client
from tests.web.live import DEMO_ADDRESS, OTHER_ADDRESS, OTHER_PASSWORD

CABIN = "Booking the cabin for the long weekend"


def _conversations_on(client: Client, inbox: int) -> None:
    response = client.http.post(f"/mail/{inbox}/mode",
                                data={"csrf": client.csrf(), "mode": "conversations"})
    assert response.status_code == 303


def _cabin_href(page: str) -> str:
    found = re.search(r'href="(/mail/\d+/thread/\d+)"[^>]*>\s*<span class="from">Priya', page)
    assert found is not None
    return found.group(1)


def test_mode_is_a_setting_and_only_known_modes(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    assert 'name="uid"' in client.http.get(f"/mail/{inbox}").text
    _conversations_on(client, inbox)
    page = client.http.get(f"/mail/{inbox}").text
    assert 'name="thread"' in page and 'name="uid"' not in page
    assert len(re.findall(rf'class="subject">[^<]*{CABIN}', page)) == 1  # two messages, one row
    refused = client.http.post(f"/mail/{inbox}/mode", data={"csrf": client.csrf(),
                                                             "mode": "everything"})
    assert refused.status_code == 400
    client.http.post(f"/mail/{inbox}/mode", data={"csrf": client.csrf(), "mode": "messages"})
    assert 'name="uid"' in client.http.get(f"/mail/{inbox}").text


def test_conversation_page_marks_read_and_acts_per_message(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    _conversations_on(client, inbox)
    href = _cabin_href(client.http.get(f"/mail/{inbox}").text)
    page = client.http.get(href)
    assert page.status_code == 200
    assert page.text.count('class="thread-item') == 3
    assert page.text.count("<details class=\"thread-message\" open>") == 1

    async def unread() -> int:
        account = await client.store.find_account(DEMO_ADDRESS)
        return (await client.store.get_mailbox(account.id, "INBOX")).unseen_count

    before = client.run(unread)
    client.http.get(href)
    assert client.run(unread) == before  # already read by the first visit
    # archive the newest message from inside the conversation: we stay in the conversation
    uid = re.findall(rf'action="/mail/{inbox}/act".*?name="uid" value="(\d+)"', page.text,
                     re.S)[-1]
    done = client.http.post(f"/mail/{inbox}/act", data={
        "csrf": client.csrf(), "action": "archive", "uid": uid, "back": href})
    assert done.headers["location"] == f"{href}?notice=archived"
    assert client.http.get(href).text.count('class="thread-item') == 3  # now from Archive


def test_actions_on_conversation_rows_take_every_message(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    _conversations_on(client, inbox)
    thread = _cabin_href(client.http.get(f"/mail/{inbox}").text).rsplit("/", 1)[1]
    response = client.http.post(f"/mail/{inbox}/act", data={
        "csrf": client.csrf(), "action": "delete", "thread": thread})
    assert response.status_code == 303

    async def subjects(folder: str) -> list[str]:
        account = await client.store.find_account(DEMO_ADDRESS)
        mailbox = await client.store.get_mailbox(account.id, folder)
        return [s.subject for s in await client.store.newest(account.id, mailbox.id, 100)]

    assert not [s for s in client.run(subjects, "INBOX") if CABIN in s]
    assert len([s for s in client.run(subjects, "Trash") if CABIN in s]) == 2
    assert [s for s in client.run(subjects, "Sent") if CABIN in s]  # not in this folder


def test_another_accounts_conversation_is_not_reachable(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    _conversations_on(client, inbox)
    href = _cabin_href(client.http.get(f"/mail/{inbox}").text)
    thread = href.rsplit("/", 1)[1]
    client.http.cookies.clear()
    client.sign_in(OTHER_ADDRESS, OTHER_PASSWORD)
    own = client.inbox_id()
    assert client.http.get(href).status_code == 404
    assert client.http.get(f"/mail/{own}/thread/{thread}").status_code == 404
    response = client.http.post(f"/mail/{own}/act", data={
        "csrf": client.csrf(), "action": "delete", "thread": thread})
    assert response.status_code == 303  # nothing of theirs selected: nothing done

    async def still_there() -> int:
        account = await client.store.find_account(DEMO_ADDRESS)
        return (await client.store.get_mailbox(account.id, "INBOX")).message_count

    assert client.run(still_there) > 0
    assert client.http.get(f"/mail/{own}/thread/abc").status_code == 404
