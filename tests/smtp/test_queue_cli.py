"""``postbus queue list|retry|delete`` on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from typer.testing import CliRunner

from postbus.smtp import queue as smtp_queue
from postbus.store import open_sqlite

MESSAGE = b"From: a@local.test\r\nSubject: hi\r\n\r\nHello\r\n"


def _enqueue(data_dir: Path, recipients: list[str]) -> int:
    async def run() -> int:
        store = await open_sqlite(data_dir / "postbus.sqlite3", data_dir / "blobs")
        try:
            return await smtp_queue.enqueue(store, "a@local.test", recipients, MESSAGE)
        finally:
            await store.close()

    return asyncio.run(run())


def test_list_retry_delete(tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    config.write_text(f'[server]\nhostname = "mx.local.test"\ndata_dir = "{tmp_path}"\n')
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command, so "queue" is a subcommand
    smtp_queue.register_cli(app)
    runner = CliRunner(env={"COLUMNS": "250"})

    def run(*args: str) -> str:
        result = runner.invoke(app, ["queue", *args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result.output

    assert "the queue is empty" in run("list")
    first = _enqueue(tmp_path, ["bob@remote.test", "carol@remote.test"])
    second = _enqueue(tmp_path, ["dave@other.test"])
    listing = run("list")
    assert "bob@remote.test" in listing and "dave@other.test" in listing
    assert "queued" in listing
    assert "3 recipients due now" in run("retry")
    assert "1 recipients due now" in run("retry", str(second))
    assert "deleted 1 queued message(s)" in run("delete", str(first), "--yes")
    listing = run("list")
    assert "bob@remote.test" not in listing and "dave@other.test" in listing
    refused = runner.invoke(
        app, ["queue", "delete", str(second), "--config", str(config)], input="n\n"
    )
    assert refused.exit_code == 2 and "not deleted" in refused.output
