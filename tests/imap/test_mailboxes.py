"""LIST-EXTENDED's RECURSIVEMATCH and CHILDINFO (RFC 5258 §3, RFC 9051 §6.3.9), OLDNAME and
\\NonExistent for names the server normalises (RFC 9051 §6.3.4-§6.3.6), HASCHILDREN on
DELETE (RFC 9051 §6.3.5, §7.1): parser examples, then real sockets on both backends."""

from __future__ import annotations

import pytest

from postbus.imap.proto import commands as c
from tests.imap.conftest import PASSWORD, ImapServer
from tests.imap.test_receiver import one
from tests.imap.wire import Wire

ANN = "ann@example.org"


@pytest.mark.parametrize("wire, expected", [
    # RFC 5258 §5 example 9 (RFC 9051 §6.3.9.8): RECURSIVEMATCH beside SUBSCRIBED
    (b'D01 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"\r\n',
     c.List("D01", "", ("%",), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), extended=True)),
    (b'D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"\r\n',
     c.List("D03", "", ("*2",), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), extended=True)),
    (b'A04 LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)\r\n',
     c.List("A04", "", ("%",), frozenset({"REMOTE", "SUBSCRIBED", "RECURSIVEMATCH"}),
            frozenset({"CHILDREN"}), extended=True)),
])
def test_recursivematch_examples_parse(wire: bytes, expected: c.Command) -> None:
    assert one(wire) == expected


@pytest.mark.parametrize("wire", [
    b'A1 LIST (RECURSIVEMATCH) "" "%"\r\n',  # RFC 5258 §3: never alone
    b'A2 LIST (REMOTE RECURSIVEMATCH) "" "%"\r\n',  # nor only with REMOTE
])
def test_recursivematch_alone_is_bad(wire: bytes) -> None:
    assert isinstance(one(wire), c.BadCommand)


async def _tree(w: Wire) -> None:
    """Fruit (not subscribed) with Fruit/Banana (subscribed) and Fruit/Apple (not);
    Vegetable and Vegetable/Broccoli (neither); Tofu (subscribed)."""
    for name in ("Fruit/Banana", "Fruit/Apple", "Vegetable/Broccoli", "Tofu"):
        await w.ok(f"CREATE {name}")
    for name in ("Fruit", "Fruit/Apple", "Vegetable", "Vegetable/Broccoli"):
        await w.ok(f"UNSUBSCRIBE {name}")


async def test_recursivematch_lists_parents_with_childinfo(imap: ImapServer) -> None:
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        await _tree(w)
        lines = await w.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')
        # RFC 5258 §3.5: Fruit does not meet the criteria itself but a child does
        assert b'* LIST (\\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))' in lines
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" Tofu' in lines
        assert not any(b"Vegetable" in line or b"Banana" in line for line in lines)
        # without RECURSIVEMATCH only what is subscribed itself
        plain = await w.ok('LIST (SUBSCRIBED) "" "%"')
        assert not any(b"Fruit" in line or b"CHILDINFO" in line for line in plain)
        # "*" lists the child too; the parent still says it has a subscribed child
        deep = await w.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Fruit*" RETURN (STATUS (MESSAGES))')
        assert deep == [
            b'* LIST (\\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))',
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
            b'* STATUS "Fruit/Banana" (MESSAGES 0)',  # none for a name listed for its child
        ]
        await w.ok("SUBSCRIBE Fruit")
        both = await w.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "Fruit"')
        assert both == [
            b'* LIST (\\HasChildren \\Subscribed) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))'
        ]
    finally:
        await w.close()


async def test_normalised_names_come_back_with_oldname(imap: ImapServer) -> None:
    """RFC 9051 §6.3.4-§6.3.6: INBOX is case-insensitive, so ``inbox/Later`` is stored as
    ``INBOX/Later``; an IMAP4rev2 client is told so with OLDNAME, and DELETE says the name
    it used is \\NonExistent."""
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        assert await w.ok("CREATE inbox/Quiet") == []  # IMAP4rev1: no unsolicited LIST
        await w.ok("ENABLE IMAP4rev2")
        assert await w.ok("CREATE inbox/Later") == [
            b'* LIST (\\HasNoChildren) "/" "INBOX/Later" ("OLDNAME" ("inbox/Later"))'
        ]
        assert await w.ok("CREATE Plain") == []  # nothing normalised
        assert await w.ok("RENAME INBOX/Later inbox/Soon") == [
            b'* LIST (\\HasNoChildren) "/" "INBOX/Soon" ("OLDNAME" ("inbox/Soon"))'
        ]
        assert await w.ok("RENAME Plain Simple") == []
        assert await w.ok("DELETE inbox/Soon") == [
            b'* LIST (\\NonExistent) "/" "INBOX/Soon" ("OLDNAME" ("inbox/Soon"))'
        ]
        assert await w.ok("DELETE Simple") == []
        listed = b"".join(await w.ok('LIST "" "*"'))
        assert b"INBOX/Soon" not in listed and b"INBOX/Quiet" in listed
    finally:
        await w.close()


async def test_delete_with_inferiors_says_haschildren(imap: ImapServer) -> None:
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        await w.ok("CREATE Projects/Alpha")
        _, tagged = await w.command("DELETE Projects")
        assert tagged.startswith(b"T3 NO [HASCHILDREN]")
        await w.ok("DELETE Projects/Alpha")
        await w.ok("DELETE Projects")
    finally:
        await w.close()
