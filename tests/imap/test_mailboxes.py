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
        # RFC 9051 §6.3.4: CREATE subscribes here, so the LIST says \\Subscribed
        assert await w.ok("CREATE inbox/Later") == [
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX/Later" ("OLDNAME" ("inbox/Later"))'
        ]
        assert await w.ok("CREATE Plain") == []  # nothing normalised
        assert await w.ok("RENAME INBOX/Later inbox/Soon") == [  # RFC 9051 §6.3.6
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX/Soon" ("OLDNAME" ("inbox/Soon"))'
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


async def _garden(w: Wire) -> None:
    """The hierarchy of RFC 9051 §6.3.9.8 examples 5 and 6: INBOX, Fruit/Banana and the
    Vegetable tree subscribed, Fruit/Peach subscribed and then deleted (the other default
    folders unsubscribed, so the answers are the RFC's)."""
    for name in ("Fruit/Apple", "Fruit/Banana", "Fruit/Peach", "Tofu", "Vegetable/Broccoli",
                 "Vegetable/Corn"):
        await w.ok(f"CREATE {name}")
    for name in ("Archive", "Drafts", "Junk", "Sent", "Trash", "Fruit", "Fruit/Apple", "Tofu",
                 "Vegetable/Corn"):
        await w.ok(f"UNSUBSCRIBE {name}")
    await w.ok("DELETE Fruit/Peach")


async def test_subscriptions_outlive_their_mailbox(imap: ImapServer) -> None:
    """RFC 9051 §6.3.9.1 SUBSCRIBED lists subscribed names, not mailboxes; a deleted one
    stays (RFC 3501 §6.3.6 MUST NOT remove it) and is \\NonExistent (§6.3.9.3)."""
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        await _garden(w)
        # example 5, without the remote mailbox
        assert await w.ok('LIST (SUBSCRIBED) "" "*"') == [
            b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX',
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
            b'* LIST (\\HasNoChildren \\Subscribed \\NonExistent) "/" "Fruit/Peach"',
            b'* LIST (\\HasChildren \\Subscribed) "/" Vegetable',
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "Vegetable/Broccoli"',
        ]
        # example 6: RETURN (SUBSCRIBED) lists mailboxes, so no Fruit/Peach
        listed = await w.ok('LIST "" "*" RETURN (SUBSCRIBED)')
        assert b'* LIST (\\HasChildren) "/" Fruit' in listed
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"' in listed
        assert not any(b"Peach" in line for line in listed)
        # no STATUS for a name without a mailbox (RFC 5819 §2: selectable ones only)
        status = await w.ok('LIST (SUBSCRIBED) "" "Fruit/*" RETURN (STATUS (MESSAGES))')
        assert status == [
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
            b'* STATUS "Fruit/Banana" (MESSAGES 0)',
            b'* LIST (\\HasNoChildren \\Subscribed \\NonExistent) "/" "Fruit/Peach"',
        ]
        # LSUB (RFC 3501 §6.3.9) has no \NonExistent: such a name is \Noselect
        assert await w.ok('LSUB "" "Fruit/*"') == [
            b'* LSUB () "/" "Fruit/Banana"',
            b'* LSUB (\\Noselect) "/" "Fruit/Peach"',
        ]
        # RFC 3501 §6.3.9: "%" names Fruit, unsubscribed, as the level above Fruit/Banana
        assert await w.ok('LSUB "" "%"') == [
            b'* LSUB () "/" INBOX',
            b'* LSUB (\\Noselect) "/" Fruit',
            b'* LSUB () "/" Vegetable',
        ]
        # re-created, the name is subscribed as it was; unsubscribed, it is gone
        await w.ok("CREATE Fruit/Peach")
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Peach"' in await w.ok(
            'LIST (SUBSCRIBED) "" "Fruit/Peach"')
        await w.ok("DELETE Fruit/Peach")
        await w.ok("UNSUBSCRIBE Fruit/Peach")
        assert await w.ok('LIST (SUBSCRIBED) "" "Fruit/Peach"') == []
    finally:
        await w.close()


async def test_subscribe_names_that_do_not_exist(imap: ImapServer) -> None:
    """RFC 9051 §6.3.7 (a server MAY validate; this one keeps any valid name), §6.3.8, and
    §6.3.9.8 examples 7 A2 and 9: \\NonExistent parents listed for their children."""
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        assert await w.ok("SUBSCRIBE #news.comp.mail.mime") == []  # the §6.3.7 example
        assert await w.ok("UNSUBSCRIBE Never/Subscribed") == []  # OK when not subscribed
        _, tagged = await w.command('SUBSCRIBE "a//b"')
        assert tagged.split()[1:3] == [b"NO", b"[CANNOT]"]
        await w.ok("SUBSCRIBE Foo/Baz")
        # example 7 A2: Foo is no mailbox and not subscribed, but a child is
        assert b'* LIST (\\HasNoChildren \\NonExistent) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))' in (
            await w.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'))
        # example 9: foo exists, foo/bar is only subscribed
        await w.ok("CREATE foo")
        await w.ok("UNSUBSCRIBE foo")
        await w.ok("SUBSCRIBE foo/bar")
        assert await w.ok('LIST "" ("foo")') == [b'* LIST (\\HasNoChildren) "/" foo']
        assert await w.ok('LIST (SUBSCRIBED) "" "foo/*"') == [
            b'* LIST (\\HasNoChildren \\Subscribed \\NonExistent) "/" "foo/bar"']
        assert await w.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)') == [
            b'* LIST (\\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))']
        # plain LIST names mailboxes only
        assert not any(b"Baz" in line or b"news" in line for line in await w.ok('LIST "" "*"'))
    finally:
        await w.close()


async def test_rename_takes_the_subscriptions_along(imap: ImapServer) -> None:
    """RFC 9051 §6.3.6: a client may follow RENAME X Y with SUBSCRIBE Y, UNSUBSCRIBE X; both
    are OK here, and the children's subscriptions, which that cannot reach, move too."""
    w = await Wire.open(imap.plain_port)
    try:
        await w.login(ANN, PASSWORD)
        await w.ok("CREATE Work/Alpha")
        await w.ok("CREATE Work/Beta")
        await w.ok("UNSUBSCRIBE Work/Beta")
        await w.ok("RENAME Work Jobs")
        await w.ok("SUBSCRIBE Jobs")
        await w.ok("UNSUBSCRIBE Work")
        assert await w.ok('LIST (SUBSCRIBED) "" "*o*"') == [
            b'* LIST (\\HasChildren \\Subscribed) "/" Jobs',
            b'* LIST (\\HasNoChildren \\Subscribed) "/" "Jobs/Alpha"',
        ]
        assert await w.ok('LIST "" "Jobs/Beta" RETURN (SUBSCRIBED)') == [
            b'* LIST (\\HasNoChildren) "/" "Jobs/Beta"']
    finally:
        await w.close()
