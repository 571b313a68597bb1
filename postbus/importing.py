"""``postbus import``: bring a user's old mail (an mbox file or a Maildir) into a folder.

The messages keep their flags and arrival times and get UIDs in the order of the file. They
go through the store's batch path (``Store.append_batches``): parsed in worker processes,
bodies flushed together, rows committed a batch at a time, so a mailbox of half a million
messages moves in minutes. Like IMAP APPEND, an import does not run the delivery rules: the
mail is history, not new mail.

Invariant: a message counts as imported only once its batch is committed; after a refusal
(a full mailbox) the report says how many made it, and the rest can be imported again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from postbus.mailfiles import FoundMessage, NotAMailFolder, read_folder
from postbus.store import NotFound, Store, StoreError
from postbus.store.store import Batch

# A batch is one transaction (one commit, one segment of the word index): bigger ones cost less
# a message (250 -> 1,000: -9 % CPU, bench/RESULTS.md). The octet bound keeps the mail in
# memory small when messages are big (the store prepares four batches at a time).
BATCH_SIZE = 1000
BATCH_OCTETS = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImportReport:
    messages: int
    seconds: float


class ImportStopped(Exception):
    """A refusal part-way; ``report`` says what was committed before it."""

    def __init__(self, reason: StoreError, report: ImportReport) -> None:
        super().__init__(f"{reason} (after {report.messages} messages were imported)")
        self.report = report


async def import_messages(
    store: Store,
    account_id: int,
    mailbox_id: int,
    found: Iterable[FoundMessage],
    progress: Callable[[int], None] = lambda count: None,
) -> ImportReport:
    """Store every message of ``found`` into the mailbox; ``progress`` hears the running count."""
    started = time.monotonic()
    count = 0

    async def batches() -> AsyncIterator[Batch]:
        for batch in chunks(found, BATCH_SIZE, BATCH_OCTETS):
            yield [(message.raw, message.flags, message.received) for message in batch]

    try:
        # This command's event loop serves no one else: the rows go in on it (store/sqlite.py).
        async for placed in store.append_batches(account_id, mailbox_id, batches(), on_loop=True):
            count += len(placed)
            progress(count)
    except StoreError as exc:
        raise ImportStopped(exc, ImportReport(count, time.monotonic() - started)) from exc
    return ImportReport(count, time.monotonic() - started)


def chunks(
    messages: Iterable[FoundMessage], count: int, octets: int
) -> Iterator[list[FoundMessage]]:
    """Batches of at most ``count`` messages and, unless one message is bigger on its own, at
    most ``octets`` octets."""
    batch: list[FoundMessage] = []
    size = 0
    for message in messages:
        if batch and (len(batch) == count or size + len(message.raw) > octets):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += len(message.raw)
    if batch:
        yield batch


async def folder_for(store: Store, account_id: int, name: str) -> int:
    """The folder to import into, created when it does not exist yet."""
    try:
        return (await store.get_mailbox(account_id, name)).id
    except NotFound:
        return (await store.create_mailbox(account_id, name)).id


def register_cli(app: typer.Typer) -> None:
    @app.command("import")
    def import_command(
        address: Annotated[str, typer.Argument(help="The account to import into.")],
        path: Annotated[Path, typer.Argument(help="An mbox file or a Maildir directory.")],
        folder: Annotated[str, typer.Option(help="Folder to put the messages in.")] = "INBOX",
        config_path: Annotated[
            Path | None,
            typer.Option("--config", "-c", envvar="POSTBUS_CONFIG", help="Path of postbus.toml."),
        ] = None,
    ) -> None:
        """Import an mbox file or a Maildir into a folder of an account, flags and dates kept."""
        from postbus import cli  # the CLI's shared helpers: config, store, one-line errors

        try:
            found = read_folder(path)
        except NotAMailFolder as exc:
            cli.fail(str(exc))

        async def run(store: Store) -> ImportReport:
            account = await store.find_account(address)
            mailbox_id = await folder_for(store, account.id, folder)
            return await import_messages(
                store, account.id, mailbox_id, found,
                lambda count: cli.out.print(f"  {count:,} messages", end="\r", highlight=False),
            )

        try:
            report = cli._run(cli._config(config_path), run)
        except ImportStopped as exc:
            cli.fail(str(exc))
        rate = report.messages / report.seconds if report.seconds else 0
        cli.out.print(
            f"imported {report.messages:,} messages into {folder} of {address}"
            f" in {report.seconds:.1f} s ({rate:,.0f} messages/s)", highlight=False, soft_wrap=True,
        )
