"""The search page over HTTP: box syntax and filter fields together, one folder or all,
pages of 50, days in the reader's time zone, bad input, and account isolation."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from postbus.web.query import Query
from postbus.web.search import criteria_of, form_query
from tests.web.conftest import Client
from tests.web.live import DEMO_ADDRESS, OTHER_ADDRESS, OTHER_PASSWORD


def subjects(page: str) -> list[str]:
    return re.findall(r'<span class="subject">(?:<em class="tag">[^<]*</em> )?([^<]*)</span>',
                      page)


def test_box_syntax_and_fields(client: Client) -> None:
    client.sign_in()
    found = subjects(client.http.get("/search", params={"q": "from:northwind has:attachment"}
                                     ).text)
    assert len(found) == 1 and found[0].startswith("Your invoice")
    found = subjects(client.http.get("/search", params={"from": "priya"}).text)
    assert len(found) == 2  # no words at all: filters alone
    found = subjects(client.http.get("/search", params={"q": "booked", "from": "priya"}).text)
    assert found == ["Re: Booking the cabin for the long weekend"]
    inbox = client.inbox_id()
    found = subjects(client.http.get("/search", params={"q": "to:priya"}).text)
    assert found == ["Re: Booking the cabin for the long weekend"]  # the reply, in Sent
    found = subjects(client.http.get("/search", params={"q": "to:priya", "in": str(inbox)}).text)
    assert found == []
    page = client.http.get("/search", params={"q": 'subject:"cabin" after:2000-01-01',
                                              "until": "2001-01-01"}).text
    assert "No messages found." in page


def test_pages_of_fifty(client: Client) -> None:
    client.sign_in()

    async def fill() -> None:
        store = client.store
        account = await store.find_account(DEMO_ADDRESS)
        inbox = await store.get_mailbox(account.id, "INBOX")
        for n in range(60):
            raw = (f"From: List <list@lists.example>\r\nTo: {DEMO_ADDRESS}\r\n"
                   f"Subject: Digest {n}\r\n\r\nDigest number {n}.\r\n").encode()
            await store.append(account.id, inbox.id, raw, received=1_700_000_000 + n)

    client.run(fill)
    first = client.http.get("/search", params={"from": "lists.example"}).text
    assert len(subjects(first)) == 50 and subjects(first)[0] == "Digest 59"
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = client.http.get(older.group(1).replace("&amp;", "&")).text
    assert subjects(second) == [f"Digest {n}" for n in range(9, -1, -1)]
    assert 'rel="next"' not in second and 'rel="prev"' in second


def test_bad_input_is_harmless(client: Client) -> None:
    client.sign_in()
    for params in ({"page": "abc"}, {"page": "-3"}, {"page": "9" * 40}, {"in": "x"},
                   {"in": "999999"}, {"after": "2026-13-45"}, {"q": '"' * 300},
                   {"q": "from: to: has: after:"}, {"subject": "%_!"}):
        assert client.http.get("/search", params=params).status_code == 200, params


def test_another_account_sees_none_of_it(client: Client) -> None:
    client.sign_in()
    demo_inbox = client.inbox_id()
    client.http.cookies.clear()
    client.sign_in(OTHER_ADDRESS, OTHER_PASSWORD)
    for params in ({"q": "invoice"}, {"from": "priya"}, {"has": "attachment"},
                   {"after": "2000-01-01"}, {"in": str(demo_inbox), "after": "2000-01-01"}):
        page = client.http.get("/search", params=params).text
        assert subjects(page) == [], params


def test_dates_are_days_in_the_readers_zone() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    wanted = form_query({"after": "2026-01-01", "until": "2026-06-30"})
    assert (wanted.after, wanted.before) == (date(2026, 1, 1), date(2026, 7, 1))
    criteria = criteria_of(wanted, amsterdam, None)
    assert criteria.since == 1767222000  # 2026-01-01 00:00 CET
    assert criteria.before == 1782856800  # 2026-07-01 00:00 CEST
    assert criteria_of(Query(words="x"), amsterdam, 5).mailbox_id == 5
