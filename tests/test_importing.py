"""``postbus import``: an mbox or Maildir into a folder, in order, flags and dates kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from postbus.cli import app
from postbus.importing import BATCH_SIZE, ImportStopped, chunks, import_messages
from postbus.mailfiles import FoundMessage, read_folder
from postbus.store import Store


def write_mbox(path: Path, count: int) -> None:
    with path.open("wb") as mbox:
        for n in range(count):
            status = b"Status: RO\n" if n % 2 else b""
            mbox.write(
                b"From sender@example.net Mon Nov 23 10:%02d:00 2026\n" % (n % 60)
                + b"From: Sender <sender@example.net>\nTo: a@example.org\n"
                + b"Subject: message %d\nMessage-ID: <m%d@example.net>\n" % (n, n)
                + status + b"\nBody of message %d, zeppelin%d.\n>From a quoted line.\n\n" % (n, n)
            )


async def test_an_mbox_arrives_in_file_order(store: Store, tmp_path: Path) -> None:
    await store.add_domain("example.org")
    account = await store.add_account("a@example.org", "hash")
    archive = await store.create_mailbox(account.id, "Old mail")
    count = BATCH_SIZE + 10  # more than one batch, the last one short
    write_mbox(tmp_path / "export.mbox", count)
    counts = []
    report = await import_messages(
        store, account.id, archive.id, read_folder(tmp_path / "export.mbox"), counts.append
    )
    assert report.messages == count and counts == [BATCH_SIZE, count]
    box = await store.get_mailbox(account.id, "Old mail")
    assert (box.message_count, box.unseen_count, box.uidnext) == (count, (count + 1) // 2,
                                                                  count + 1)
    summaries = await store.summaries(account.id, archive.id, [(1, count)])
    assert [s.subject for s in summaries] == [f"message {n}" for n in range(count)]
    assert summaries[1].flags == ("\\Seen",)
    body = await store.read_body(account.id, summaries[7].message_id)
    assert body.endswith(b"Body of message 7, zeppelin7.\r\nFrom a quoted line.\r\n")
    assert len(await store.search(account.id, f"zeppelin{count - 1}")) == 1


def test_batches_are_bounded_by_count_and_by_octets() -> None:
    sizes = [10, 10, 10, 50, 100, 10, 10, 10, 10, 10]
    found = [FoundMessage(b"x" * size, (), None) for size in sizes]
    batches = [[len(m.raw) for m in batch] for batch in chunks(found, 4, 60)]
    # a message bigger than the bound travels alone; nothing is lost or reordered
    assert batches == [[10, 10, 10], [50], [100], [10, 10, 10, 10], [10]]
    assert list(chunks([], 4, 60)) == []


async def test_a_full_mailbox_stops_the_import_and_says_how_far(
    store: Store, tmp_path: Path
) -> None:
    await store.add_domain("example.org")
    account = await store.add_account(
        "a@example.org", "hash", quota_messages=BATCH_SIZE + BATCH_SIZE // 2
    )
    inbox = await store.get_mailbox(account.id, "INBOX")
    write_mbox(tmp_path / "export.mbox", 3 * BATCH_SIZE)
    with pytest.raises(ImportStopped) as stopped:
        await import_messages(store, account.id, inbox.id, read_folder(tmp_path / "export.mbox"))
    assert stopped.value.report.messages == BATCH_SIZE  # the second batch did not fit
    assert (await store.get_mailbox(account.id, "INBOX")).message_count == BATCH_SIZE


def test_the_import_command(tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\nhostname = "mail.example.test"\n')
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, [*args, "--config", str(config)], input=stdin)

    assert run("domain", "add", "example.test").exit_code == 0
    assert run("user", "add", "anna@example.test", "--password-stdin",
               stdin="a long enough passphrase\n").exit_code == 0
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n in range(3):
        (maildir / "cur" / f"17640000{n:02d}.M{n}P1.host:2,S").write_bytes(
            b"Subject: from dovecot %d\n\nhello\n" % n
        )
    imported = run("import", "anna@example.test", str(maildir), "--folder", "Dovecot")
    assert imported.exit_code == 0, imported.output
    assert "imported 3 messages into Dovecot of anna@example.test" in imported.output
    not_mail = tmp_path / "notes.txt"
    not_mail.write_text("shopping list\n")
    refused = run("import", "anna@example.test", str(not_mail))
    assert refused.exit_code == 2
    assert refused.output.strip().startswith("postbus: error:")
    assert "not an mbox file" in refused.output
    nobody = run("import", "nobody@example.test", str(maildir))
    assert nobody.exit_code == 2 and "no account" in nobody.output
