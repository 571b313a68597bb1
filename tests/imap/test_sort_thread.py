"""SORT (RFC 5256, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT), THREAD (RFC 5256) and WITHIN
(RFC 5032): the algorithms alone, then over real sockets on both backends."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbus.imap.proto import commands as c
from postbus.imap.threading import (
    Node,
    ThreadMessage,
    by_references,
    by_subject,
    format_threads,
    is_reply_or_forward,
)
from tests.imap.conftest import ImapServer
from tests.imap.test_condstore import ANN, Raw, run
from tests.imap.test_receiver import one

# -- the algorithms ---------------------------------------------------------------------------


def msg(n: int, mid: str | None, refs: str = "", sent: int | None = None,
        subject: str = "", reply: bool = False) -> ThreadMessage:
    return ThreadMessage(n, n, f"<{mid}>" if mid else None,
                         tuple(f"<{r}>" for r in refs.split()), n * 10 if sent is None else sent,
                         subject or f"subject {n}", reply)


def text(roots: list[Node]) -> str:
    return format_threads(roots).decode()


def test_format_matches_rfc5256_example() -> None:
    # RFC 5256 §4: (3 6 (4 23)(44 7 96))
    def node(n: int, *children: Node) -> Node:
        return Node(msg(n, None), list(children))

    tree = node(3, node(6, node(4, node(23)), node(44, node(7, node(96)))))
    assert text([tree]) == "(3 6 (4 23)(44 7 96))"
    assert text([Node(None, [node(3), node(5)])]) == "((3)(5))"
    assert text([node(2), node(1, node(8), node(9))]) == "(2)(1 (8)(9))"


def test_references_links_replies_under_their_parents() -> None:
    messages = [
        msg(1, "a"),
        msg(2, "b", "a"),
        msg(3, "c", "a b"),
        msg(4, "d", "a"),
        msg(5, "e", "x"),  # parent x is missing: a dummy, kept because it has two children
        msg(6, "f", "x"),
        msg(7, "g", "y z"),  # a lone reply to missing messages: promoted to the top
    ]
    assert text(by_references(messages)) == "(1 (2 3)(4))((5)(6))(7)"


def test_references_truncated_headers_and_loops() -> None:
    messages = [
        msg(1, "a"),
        msg(2, "b", "a"),
        msg(3, "c", "b"),  # References cut by a client: still under b
        msg(4, "d", "d"),  # refers to itself: no loop
        msg(5, "e", "f"),
        msg(6, "f", "e"),  # e and f refer to each other: the first link stays
        msg(7, "a"),  # a duplicate Message-ID gets an id of its own
        msg(8, None, "a"),  # no Message-ID
    ]
    assert text(by_references(messages)) == "(1 (2 3)(8))(4)(6 5)(7)"


def test_references_groups_by_base_subject() -> None:
    messages = [
        msg(1, "a", subject="lunch"),
        msg(2, "b", subject="lunch", reply=True),  # "Re: lunch" without References
        msg(3, "c", subject="LUNCH"),  # neither a reply: siblings under a dummy
        msg(4, "d", subject="other"),
    ]
    roots = by_references(messages)
    assert text(roots) == "((1 2)(3))(4)"


def test_references_sorts_by_sent_date() -> None:
    messages = [msg(1, "a", sent=50), msg(2, "b", "a", sent=40), msg(3, "c", "a", sent=30),
                msg(4, "d", sent=10)]
    assert text(by_references(messages)) == "(4)(1 (3)(2))"


def test_ordered_subject() -> None:
    messages = [
        msg(1, "a", subject="b", sent=30), msg(2, "b", subject="a", sent=20),
        msg(3, "c", subject="b", sent=10), msg(4, "d", subject="a", sent=40),
        msg(5, "e", subject="c", sent=15), msg(6, "f", subject="b", sent=35),
    ]
    # threads by their first message's date: b (3), c (5), a (2)
    assert text(by_subject(messages)) == "(3 (1)(6))(5)(2 4)"


def test_a_long_chain_does_not_recurse() -> None:
    n = 20_000
    messages = [msg(1, "m1")] + [msg(i, f"m{i}", f"m{i - 1}") for i in range(2, n + 1)]
    assert text(by_references(messages)) == "(" + " ".join(map(str, range(1, n + 1))) + ")"


@pytest.mark.parametrize(("subject", "reply"), [
    ("Re: lunch", True), ("FWD: lunch", True), ("[list] re: lunch", True),
    ("lunch (fwd)", True), ("[Fwd: lunch]", True), ("lunch", False), ("Rebuild", False),
])
def test_reply_or_forward(subject: str, reply: bool) -> None:
    assert is_reply_or_forward(subject) is reply


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.lists(st.integers(0, 12), max_size=4),
                          st.integers(0, 5), st.booleans()), max_size=30))
def test_fuzz_every_message_appears_once(spec: list[tuple[int, list[int], int, bool]]) -> None:
    messages = [
        ThreadMessage(i + 1, i + 1, f"<{mid}>", tuple(f"<{r}>" for r in refs), i % 3,
                      f"s{subject}", reply)
        for i, (mid, refs, subject, reply) in enumerate(spec)
    ]
    for roots in (by_references(messages), by_subject(messages)):
        numbers = [int(n) for n in re.findall(r"\d+", text(roots))]
        assert sorted(numbers) == list(range(1, len(messages) + 1))


# -- the grammar ----------------------------------------------------------------------------

ALL = c.SearchKey("ALL")


@pytest.mark.parametrize(("wire", "expected"), [
    (b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n",
     c.Sort("A282", False, (("SUBJECT", False),), "UTF-8",
            c.SearchKey("SINCE", (760060800,)))),
    (b"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n",
     c.Sort("A283", False, (("SUBJECT", False), ("DATE", True)), "UTF-8", ALL)),
    (b"A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"\r\n",
     c.Sort("A284", False, (("SUBJECT", False),), "US-ASCII",
            c.SearchKey("TEXT", ("not in mailbox",)))),
    (b"A285 UID SORT RETURN (MIN MAX) (DATE) UTF-8 UNDELETED UNKEYWORD $Junk\r\n",
     c.Sort("A285", True, (("DATE", False),), "UTF-8", c.SearchKey("AND", (
         c.SearchKey("UNDELETED"), c.SearchKey("UNKEYWORD", ("$Junk",)))), ("MIN", "MAX"))),
    (b"a SORT (DISPLAYFROM REVERSE DISPLAYTO) UTF-8 ALL\r\n",
     c.Sort("a", False, (("DISPLAYFROM", False), ("DISPLAYTO", True)), "UTF-8", ALL)),
    (b"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n",
     c.Thread("A283", False, "ORDEREDSUBJECT", "UTF-8", c.SearchKey("SINCE", (952214400,)))),
    (b"A284 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\"\r\n",
     c.Thread("A284", False, "ORDEREDSUBJECT", "US-ASCII", c.SearchKey("TEXT", ("gewp",)))),
    (b"A285 UID THREAD REFERENCES US-ASCII ALL\r\n",
     c.Thread("A285", True, "REFERENCES", "US-ASCII", ALL)),
    (b"a SEARCH YOUNGER 300 OLDER 10\r\n", c.Search("a", False, c.SearchKey("AND", (
        c.SearchKey("YOUNGER", (300,)), c.SearchKey("OLDER", (10,)))), None)),
])
def test_rfc5256_examples_parse_whole_and_byte_by_byte(wire: bytes, expected: object) -> None:
    assert one(wire) == expected


@pytest.mark.parametrize("wire", [
    b"a SORT SUBJECT UTF-8 ALL\r\n",
    b"a SORT () UTF-8 ALL\r\n",
    b"a SORT (REVERSE) UTF-8 ALL\r\n",
    b"a SORT (SUBJECT) UTF-8\r\n",
    b"a SORT (COLOUR) UTF-8 ALL\r\n",
    b"a THREAD SPAGHETTI UTF-8 ALL\r\n",
    b"a THREAD REFERENCES UTF-8\r\n",
    b"a SEARCH YOUNGER 0\r\n",
])
def test_bad_sort_and_thread_forms(wire: bytes) -> None:
    assert isinstance(one(wire), c.BadCommand)


def test_unknown_charset_is_no_badcharset() -> None:
    event = one(b"a SORT (DATE) KOI8-R ALL\r\n")
    assert isinstance(event, c.BadCommand) and event.status == "NO"
    assert event.code is not None and event.code.startswith("BADCHARSET")


# -- over a real server ---------------------------------------------------------------------


def mail(subject: str, sender: str, to: str, date: str, cc: str = "", **extra: str) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()


MESSAGES = [
    mail("Zebra", "Carl <carl@example.net>", "Bob <bob@example.org>",
         "Mon, 02 Nov 2026 10:00:00 +0000", Message_ID="<z@x>"),
    mail("Re: apple", "anna@example.net", "dora@example.org",
         "Mon, 02 Nov 2026 09:00:00 +0100", cc="Xavier <x@example.org>",
         Message_ID="<r@x>", In_Reply_To="<a@x>"),
    mail("apple", "=?utf-8?q?=C3=89mile?= <bert@example.net>", "Anna <zed@example.org>",
         "Sun, 01 Nov 2026 12:00:00 +0000", Message_ID="<a@x>"),
    mail("[list] Fwd: Apple pie", "Dave <dave@example.net>", "amy@example.org",
         "Tue, 03 Nov 2026 08:00:00 -0500", Message_ID="<p@x>",
         References="<a@x> <r@x>"),
]


async def _fill(imap: ImapServer) -> None:
    account = imap.users[ANN]
    box = await imap.store.get_mailbox(account, "INBOX")
    now = int(time.time())
    for i, raw in enumerate(MESSAGES):
        # arrival order differs from UID order; message 4 is four days old
        received = now - (4 * 86400 if i == 3 else 100 * (i + 1))
        await imap.store.append(account, box.id, raw, (), received)


async def test_sort_keys_reverse_and_esort(imap: ImapServer) -> None:
    await _fill(imap)

    def talk() -> None:
        c = Raw(imap.plain_port)
        caps = c.ok("CAPABILITY")[0]
        for name in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES",
                     b"THREAD=ORDEREDSUBJECT", b"WITHIN"):
            assert b" " + name + b" " in caps + b" "
        c.ok("SELECT INBOX")

        def sort(criteria: str, search: str = "ALL", uid: str = "") -> bytes:
            return c.ok(f"{uid}SORT ({criteria}) UTF-8 {search}")[0]

        # dates: 3 = Nov 1 12:00Z, 2 = Nov 2 08:00Z, 1 = Nov 2 10:00Z, 4 = Nov 3 13:00Z
        assert sort("DATE") == b"* SORT 3 2 1 4"
        assert sort("REVERSE DATE") == b"* SORT 4 1 2 3"
        assert sort("ARRIVAL") == b"* SORT 4 3 2 1"
        assert sort("SUBJECT") == b"* SORT 2 3 4 1"  # apple, apple, apple pie, zebra
        assert sort("SUBJECT REVERSE DATE") == b"* SORT 2 3 4 1"
        assert sort("REVERSE SUBJECT DATE") == b"* SORT 1 4 3 2"
        assert sort("FROM") == b"* SORT 2 3 1 4"  # anna, bert, carl, dave
        assert sort("TO") == b"* SORT 4 1 2 3"  # amy, bob, dora, zed
        assert sort("CC DATE") == b"* SORT 3 1 4 2"  # no Cc first (by date), then x
        assert sort("DISPLAYFROM") == b"* SORT 2 1 4 3"  # anna@.., Carl, Dave, Émile
        assert sort("DISPLAYTO") == b"* SORT 4 3 1 2"  # amy@.., Anna, Bob, dora@..
        assert sort("SIZE")[:6] == b"* SORT"
        assert sort("DATE", "SUBJECT apple") == b"* SORT 3 2 4"
        assert sort("DATE", "NOT SUBJECT apple", "UID ") == b"* SORT 1"
        assert sort("DATE", "DELETED") == b"* SORT"
        # ESORT: MIN / MAX are the first and last in sort order, ALL keeps the order
        lines = c.ok("SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL")
        assert re.fullmatch(rb'\* ESEARCH \(TAG "t\d+"\) MIN 4 MAX 3 COUNT 4 ALL 4,1:3',
                            lines[0]), lines
        # SAVE: the sorted result as "$"
        assert c.ok("SORT RETURN (SAVE) (DATE) UTF-8 SUBJECT apple")[:-1] == []
        assert c.ok("SEARCH $")[0] == b"* SEARCH 2 3 4"
        c.close()

    await run(talk)


async def test_thread_references_and_orderedsubject(imap: ImapServer) -> None:
    await _fill(imap)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        # 2 replies to 3 (In-Reply-To), 4 to 2 (References); 1 stands alone
        assert c.ok("THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (3 2 4)(1)"
        assert c.ok("UID THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (3 2 4)(1)"
        assert c.ok("THREAD REFERENCES UTF-8 NOT SUBJECT zebra")[0] == b"* THREAD (3 2 4)"
        # ORDEREDSUBJECT: "apple" holds 3 and 2 (by date); "apple pie" and "zebra" alone
        assert c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL")[0] == b"* THREAD (3 2)(1)(4)"
        assert c.ok("THREAD ORDEREDSUBJECT UTF-8 DELETED")[0] == b"* THREAD"
        assert b"BAD" in c.cmd("THREAD FOO UTF-8 ALL")
        c.close()

    await run(talk)


async def test_within_older_younger(imap: ImapServer) -> None:
    await _fill(imap)

    def talk() -> None:
        c = Raw(imap.plain_port)
        c.ok("SELECT INBOX")
        assert c.ok("SEARCH YOUNGER 86400")[0] == b"* SEARCH 1 2 3"
        assert c.ok("SEARCH OLDER 86400")[0] == b"* SEARCH 4"
        assert c.ok("SEARCH YOUNGER 250")[0] == b"* SEARCH 1 2"
        assert c.ok("SORT (ARRIVAL) UTF-8 OLDER 150")[0] == b"* SORT 4 3 2"
        c.close()

    await run(talk)
