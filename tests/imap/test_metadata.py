"""METADATA (RFC 5464) and LIST-METADATA (RFC 9590) over a real socket, on both backends."""

from __future__ import annotations

from tests.imap.conftest import PASSWORD, ImapServer
from tests.imap.wire import Wire

ANN, BOB = "ann@example.org", "bob@example.org"


async def _client(imap: ImapServer, user: str = ANN) -> Wire:
    wire = await Wire.open(imap.plain_port)
    await wire.login(user, PASSWORD)
    return wire


async def test_server_and_mailbox_entries(imap: ImapServer) -> None:
    wire = await _client(imap)
    caps = (await wire.ok("CAPABILITY"))[0]
    assert b" METADATA " in caps and b" LIST-METADATA " in caps
    await wire.ok('SETMETADATA "" (/private/vendor/x/theme "dark" /shared/comment "hi")')
    assert await wire.ok('GETMETADATA "" /private/vendor/x/theme') == [
        b'* METADATA "" ("/private/vendor/x/theme" "dark")'
    ]
    await wire.ok('SETMETADATA INBOX (/private/comment {})', b"line one\r\nline two")
    await wire.ok('SETMETADATA INBOX (/shared/comment "shared words")')
    # RFC 5464 §4.2: the options before (ABNF) or after (examples) the mailbox; NIL for none
    assert await wire.ok(
        'GETMETADATA (MAXSIZE 100) INBOX (/private/comment /shared/comment /private/none)'
    ) == [
        b'* METADATA INBOX ("/private/comment" {18}\r\nline one\r\nline two'
        b' "/private/none" NIL "/shared/comment" "shared words")'
    ]
    untagged, tagged = await wire.command(
        "GETMETADATA INBOX (MAXSIZE 12) (/private/comment /shared/comment)"
    )
    assert untagged == [b'* METADATA INBOX ("/shared/comment" "shared words")']
    assert b"OK [METADATA LONGENTRIES 18]" in tagged
    # DEPTH: the entry and its children (1) or all below it (infinity)
    await wire.ok('SETMETADATA "" (/private/vendor/x/a/b "deep")')
    one = await wire.ok('GETMETADATA "" (DEPTH 1) /private/vendor/x')
    assert one == [b'* METADATA "" ("/private/vendor/x" NIL "/private/vendor/x/theme" "dark")']
    deep = await wire.ok('GETMETADATA "" (DEPTH infinity) /private/vendor')
    assert b'"/private/vendor/x/a/b" "deep"' in deep[0] and b"theme" in deep[0]
    # NIL removes; names compare without case
    await wire.ok('SETMETADATA "" (/PRIVATE/Vendor/X/Theme NIL)')
    assert await wire.ok('GETMETADATA "" /private/vendor/x/theme') == [
        b'* METADATA "" ("/private/vendor/x/theme" NIL)'
    ]
    # RENAME keeps a mailbox's entries, DELETE drops them
    await wire.ok("CREATE Work")
    await wire.ok('SETMETADATA Work (/private/comment "work things")')
    await wire.ok("RENAME Work Jobs")
    assert await wire.ok("GETMETADATA Jobs /private/comment") == [
        b'* METADATA Jobs ("/private/comment" "work things")'
    ]
    await wire.ok("DELETE Jobs")
    await wire.ok("CREATE Jobs")
    assert await wire.ok("GETMETADATA Jobs /private/comment") == [
        b'* METADATA Jobs ("/private/comment" NIL)'
    ]
    await wire.close()
    # another account sees none of it
    bob = await _client(imap, BOB)
    assert await bob.ok('GETMETADATA "" /shared/comment') == [
        b'* METADATA "" ("/shared/comment" NIL)'
    ]
    await bob.close()


async def test_limits_and_bad_input(imap: ImapServer) -> None:
    wire = await _client(imap)
    _, tagged = await wire.command("SETMETADATA INBOX (/private/big {})", b"x" * 20000)
    assert b"NO [METADATA MAXSIZE 16384]" in tagged
    values = " ".join(f'/private/e{i} "v"' for i in range(100))
    await wire.ok(f"SETMETADATA INBOX ({values})")
    _, tagged = await wire.command('SETMETADATA INBOX (/private/one-more "v")')
    assert b"NO [METADATA TOOMANY]" in tagged
    await wire.ok('SETMETADATA INBOX (/private/e1 NIL /private/one-more "v")')  # still 100
    _, tagged = await wire.command('SETMETADATA "" (/shared/admin "mailto:x@example.org")')
    assert b"NO [NOPERM]" in tagged
    _, tagged = await wire.command("GETMETADATA Nowhere /private/comment")
    assert b"NO [NONEXISTENT]" in tagged
    for bad in ('SETMETADATA INBOX (/other/comment "x")', "GETMETADATA INBOX /private/*",
                'SETMETADATA INBOX (/private//x "x")', 'SETMETADATA INBOX (/private/x/ "x")',
                "GETMETADATA INBOX (DEPTH 2) /private/x", 'SETMETADATA INBOX (/private/x)',
                "GETMETADATA INBOX ()"):
        _, tagged = await wire.command(bad)
        assert b" BAD " in tagged, bad
    await wire.ok("NOOP")
    await wire.close()


async def test_list_return_metadata(imap: ImapServer) -> None:
    wire = await _client(imap)
    await wire.ok('SETMETADATA INBOX (/private/comment "mine" /shared/comment "ours")')
    await wire.ok('SETMETADATA Sent (/shared/comment "sent things")')
    lines = await wire.ok(
        'LIST "" "*" RETURN (METADATA (/private/comment /shared/comment))'
    )
    i = lines.index(b'* LIST (\\HasNoChildren) "/" INBOX')
    assert lines[i + 1] == b'* METADATA INBOX ("/private/comment" "mine" "/shared/comment" "ours")'
    j = next(k for k, line in enumerate(lines) if line.endswith(b'"/" Sent'))
    assert lines[j + 1] == b'* METADATA Sent ("/shared/comment" "sent things")'
    assert not any(b"METADATA Drafts" in line for line in lines)  # nothing set: no line
    lines = await wire.ok('LIST "" INBOX RETURN (METADATA (/shared/comment MAXSIZE 3))')
    assert not any(line.startswith(b"* METADATA") for line in lines)
    await wire.close()
