"""Search with filters on both backends: each filter alone, with words, and together."""

from __future__ import annotations

import pytest

from postbus.store import Store, finder
from postbus.store.finder import Criteria, like_pattern
from postbus.store.models import Account


def mail(subject: str, sender: str, to: str, body: str = "Hello.", pdf: bool = False) -> bytes:
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
            "Date: Tue, 24 Nov 2026 10:00:00 +0100", "MIME-Version: 1.0"]
    if not pdf:
        return "\r\n".join([*head, "Content-Type: text/plain; charset=utf-8", "", body, ""]
                           ).encode()
    return "\r\n".join([
        *head, 'Content-Type: multipart/mixed; boundary="b"', "", "--b",
        "Content-Type: text/plain; charset=utf-8", "", body, "--b",
        'Content-Type: application/pdf; name="report.pdf"',
        'Content-Disposition: attachment; filename="report.pdf"',
        "Content-Transfer-Encoding: base64", "", "JVBERi0xLjQK", "--b--", "",
    ]).encode()


DAY = 86400


@pytest.fixture
async def mailbox(store: Store) -> tuple[Account, int, int]:
    await store.add_domain("example.org")
    account = await store.add_account("a@example.org", "hash")
    inbox = (await store.get_mailbox(account.id, "INBOX")).id
    archive = (await store.get_mailbox(account.id, "Archive")).id
    rows = [
        (inbox, mail("Quarterly report", "Anna <anna@example.net>", "a@example.org",
                     "the numbers of the quarter", pdf=True), 10 * DAY),
        (inbox, mail("Lunch on Friday", "Anna <anna@example.net>", "a@example.org",
                     "shall we eat at noon"), 20 * DAY),
        (archive, mail("Quarterly report draft", "Bert <bert@example.com>",
                       "Team <team@example.org>", "numbers not final"), 30 * DAY),
        (inbox, mail("100% sure_thing", "Carla <carla@example.com>", "a@example.org",
                     "percent"), 40 * DAY),
    ]
    for folder, raw, received in rows:
        await store.append(account.id, folder, raw, received=received)
    return account, inbox, archive


async def subjects(store: Store, account: Account, **criteria: object) -> list[str]:
    found = await store.find(account.id, Criteria(**criteria))  # type: ignore[arg-type]
    return [hit.summary.subject for hit in found]


async def test_each_filter_alone(store: Store, mailbox: tuple[Account, int, int]) -> None:
    account, _inbox, archive = mailbox
    assert await subjects(store, account, sender="ANNA") == ["Lunch on Friday",
                                                             "Quarterly report"]
    assert await subjects(store, account, sender="example.com") == [
        "100% sure_thing", "Quarterly report draft"]
    assert await subjects(store, account, recipient="team@") == ["Quarterly report draft"]
    assert await subjects(store, account, subject="quarterly") == [
        "Quarterly report draft", "Quarterly report"]
    assert await subjects(store, account, attachment=True) == ["Quarterly report"]
    assert await subjects(store, account, since=20 * DAY, before=31 * DAY) == [
        "Quarterly report draft", "Lunch on Friday"]
    assert await subjects(store, account, since=35 * DAY) == ["100% sure_thing"]
    assert await subjects(store, account, before=11 * DAY) == ["Quarterly report"]
    assert await subjects(store, account, mailbox_id=archive, subject="report") == [
        "Quarterly report draft"]
    assert await subjects(store, account) == []  # nothing asked, nothing found


async def test_filters_combine_with_words(store: Store,
                                          mailbox: tuple[Account, int, int]) -> None:
    account, inbox, archive = mailbox
    assert await subjects(store, account, words="numbers") == [
        "Quarterly report draft", "Quarterly report"]
    assert await subjects(store, account, words="numbers", sender="anna") == [
        "Quarterly report"]
    assert await subjects(store, account, words="numbers", mailbox_id=archive) == [
        "Quarterly report draft"]
    assert await subjects(store, account, words="numbers", attachment=True,
                          before=5 * DAY) == []
    found = await store.find(account.id, Criteria(words="numbers", subject="report"))
    assert {hit.mailbox_id for hit in found} == {inbox, archive}


async def test_wildcards_in_filters_are_plain_text(store: Store,
                                                   mailbox: tuple[Account, int, int]) -> None:
    account, _inbox, _archive = mailbox
    assert like_pattern(" 100%_x ") == "%100!%!_x%"
    assert await subjects(store, account, subject="100%") == ["100% sure_thing"]
    assert await subjects(store, account, subject="h_on") == []  # "_" is not "any character"
    assert await subjects(store, account, subject="e_t") == ["100% sure_thing"]
    assert await subjects(store, account, subject="%") == ["100% sure_thing"]


async def test_pages_of_results(store: Store, mailbox: tuple[Account, int, int]) -> None:
    account, _inbox, _archive = mailbox
    wanted = Criteria(since=0)
    first = await store.find(account.id, wanted, limit=3)
    rest = await store.find(account.id, wanted, limit=3, offset=3)
    assert [h.summary.received for h in first + rest] == [40 * DAY, 30 * DAY, 20 * DAY, 10 * DAY]


async def test_another_account_never_appears(store: Store,
                                             mailbox: tuple[Account, int, int]) -> None:
    account, inbox, _archive = mailbox
    other = await store.add_account("b@example.org", "hash")
    other_inbox = (await store.get_mailbox(other.id, "INBOX")).id
    await store.append(other.id, other_inbox, mail("Quarterly report", "Anna <anna@example.net>",
                                                   "b@example.org", "numbers", pdf=True))
    for criteria in (Criteria(words="numbers"), Criteria(sender="anna"), Criteria(since=0),
                     Criteria(attachment=True), Criteria(mailbox_id=other_inbox, since=0),
                     Criteria(words="numbers", mailbox_id=other_inbox)):
        found = await store.find(account.id, criteria)
        assert all(hit.mailbox_id != other_inbox for hit in found), criteria
    assert len(await store.find(other.id, Criteria(attachment=True))) == 1
    assert await store.find(other.id, Criteria(mailbox_id=inbox, since=0)) == []


@pytest.mark.parametrize("common", [1, 2000])
async def test_common_and_rare_words_give_the_same_pages(
    store: Store, mailbox: tuple[Account, int, int], monkeypatch: pytest.MonkeyPatch,
    common: int,
) -> None:
    """With ``COMMON`` at 1 every word takes the walk plan; both plans must agree."""
    monkeypatch.setattr(finder, "COMMON", common)
    account, inbox, _archive = mailbox
    other = await store.add_account("b@example.org", "hash")
    other_inbox = (await store.get_mailbox(other.id, "INBOX")).id
    await store.append(other.id, other_inbox, mail("Quarterly numbers", "x@example.net",
                                                   "b@example.org", "numbers"), received=DAY)
    assert await subjects(store, account, words="numbers") == [
        "Quarterly report draft", "Quarterly report"]
    assert await subjects(store, account, words="numbers", mailbox_id=inbox) == [
        "Quarterly report"]
    assert await subjects(store, account, words="numbers", attachment=True) == [
        "Quarterly report"]
    assert await subjects(store, account, words="nowhere") == []
