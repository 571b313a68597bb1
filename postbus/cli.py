"""The ``postbus`` command: serve, init, check-config, and domain/user/alias administration.

Every refusal is one line on stderr and exit status 2; nothing prints a traceback for a
mistake an administrator can make.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from postbus import importing
from postbus.accounts import forwarding, scram
from postbus.accounts.passwords import hash_password, password_problem
from postbus.config import Config, ConfigError, demo_config, load_config, parse_size
from postbus.server import StartupError, open_store, serve
from postbus.smtp import queue as smtp_queue
from postbus.smtp.dkim import ensure_domain_keys
from postbus.smtp.mtasts import published_policy, record_text
from postbus.store import Store, StoreError
from postbus.store.models import Account
from postbus.tls import ensure_self_signed

T = TypeVar("T")

app = typer.Typer(help="postbus: a complete, self-hosted e-mail service.", no_args_is_help=True)
domain_app = typer.Typer(help="Mail domains this server receives for.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts (mailboxes) and their passwords.", no_args_is_help=True)
alias_app = typer.Typer(help="Extra addresses that deliver to an account.", no_args_is_help=True)
app.add_typer(domain_app, name="domain")
app.add_typer(user_app, name="user")
app.add_typer(alias_app, name="alias")
smtp_queue.register_cli(app)
forwarding.register_cli(user_app)  # postbus user forward
importing.register_cli(app)  # postbus import

out = Console()
err = Console(stderr=True)

DEFAULT_CONFIG_PATHS = (Path("postbus.toml"), Path("/etc/postbus/postbus.toml"))
DEMO_DATA_DIR = Path(".postbus-demo")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="POSTBUS_CONFIG", help="Path of postbus.toml."),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Where postbus keeps its data.")
]


def fail(message: str) -> NoReturn:
    err.print(f"postbus: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _config(
    config_path: Path | None, data_dir: Path | None = None, *, may_be_new: bool = False
) -> Config:
    """The configuration; ``may_be_new``: a named file that does not exist yet means the
    defaults (``init`` writes it)."""
    if config_path is None:
        config_path = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
    elif not config_path.exists():
        if not may_be_new:
            fail(f"{config_path}: no such file")
        config_path = None
    try:
        return load_config(config_path, os.environ, data_dir=data_dir)
    except ConfigError as exc:
        fail(str(exc))


def _run(config: Config, action: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await open_store(config)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot open the store: {exc}")


@app.command()
def init(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    hostname: Annotated[str | None, typer.Option(help="This server's host name.")] = None,
) -> None:
    """Create the data directory, a config file, a self-signed certificate and the store."""
    config = _config(config_path, data_dir, may_be_new=True)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    target = config.source or config_path or config.data_dir / "postbus.toml"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        name = hostname or config.server.hostname
        target.write_text(f'[server]\nhostname = "{name}"\ndata_dir = "{config.data_dir}"\n')
        out.print(f"wrote {target}")
    if ensure_self_signed(config.cert_file, config.key_file, hostname or config.server.hostname):
        out.print(f"made a self-signed certificate: {config.cert_file}")
    domains = _run(config, lambda store: store.list_domains())
    for domain in domains:
        ensure_domain_keys(config.dkim_dir, domain.name)
    out.print(f"store ready ({config.store.backend}) in {config.data_dir}")


@app.command("check-config")
def check_config(config_path: ConfigOption = None) -> None:
    """Validate the configuration without starting anything."""
    config = _config(config_path)
    source = config.source or "built-in defaults"
    out.print(f"{source}: OK ({len(config.listeners)} listeners, {config.store.backend} store)")


@app.command("serve")
def serve_command(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    demo: Annotated[
        bool, typer.Option(help="Loopback only, demo ports, a demo account with mail.")
    ] = False,
) -> None:
    """Start every listener and background task; stop cleanly on SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if demo:
        config = demo_config((data_dir or DEMO_DATA_DIR).resolve())
        prepare = _prepare_demo
    else:
        config = _config(config_path, data_dir)
        prepare = None
    try:
        import uvloop

        uvloop.run(serve(config, prepare))
    except (StartupError, StoreError) as exc:
        fail(str(exc))


async def _prepare_demo(store: Store) -> None:
    from postbus.demo.seed import DEMO_ADDRESS, DEMO_PASSWORD, seed_demo

    await seed_demo(store)
    out.print(
        f"\n[bold]postbus demo[/bold]: open [bold]http://127.0.0.1:8080/[/bold] and sign in as"
        f" [bold]{DEMO_ADDRESS}[/bold] with password [bold]{DEMO_PASSWORD}[/bold]\n"
        "  mail clients: IMAP 127.0.0.1:1143 (STARTTLS) or :1993 (TLS) · POP3 :1110 / :1995 ·"
        " SMTP submission :2587 / :2465 · MX :2525\n",
        soft_wrap=True,
    )


# -- domains ------------------------------------------------------------------------------------


@domain_app.command("add")
def domain_add(name: str, config_path: ConfigOption = None) -> None:
    """Receive mail for a domain; prints the DNS records it needs."""
    config = _config(config_path)
    domain = _run(config, lambda store: store.add_domain(name))
    keys = ensure_domain_keys(config.dkim_dir, domain.name)
    out.print(f"added domain {domain.name}; publish these DNS records:")
    out.print(f"  {domain.name}. MX 10 {config.server.hostname}.", markup=False)
    for record_name, value in keys.dns_records():
        out.print(f'  {record_name}. TXT "{value}"', markup=False, soft_wrap=True)
    sts = config.mta_sts
    if (policy := published_policy(sts.mode, config.server.hostname, sts.max_age)) is not None:
        # RFC 8461 §3.1: the record announces the policy; its id changes with the policy text.
        out.print(f"  mta-sts.{domain.name}. CNAME {config.server.hostname}.", markup=False)
        out.print(f'  _mta-sts.{domain.name}. TXT "{record_text(policy)}"', markup=False)
        out.print(
            f"  (MTA-STS {sts.mode}: the HTTPS certificate must also name "
            f"mta-sts.{domain.name})",
            markup=False, soft_wrap=True,
        )


@domain_app.command("list")
def domain_list(config_path: ConfigOption = None) -> None:
    """List the domains."""
    for domain in _run(_config(config_path), lambda store: store.list_domains()):
        out.print(domain.name)


@domain_app.command("remove")
def domain_remove(name: str, config_path: ConfigOption = None) -> None:
    """Stop receiving mail for a domain (it must have no accounts left)."""
    _run(_config(config_path), lambda store: store.remove_domain(name))
    out.print(f"removed domain {name}")


# -- users --------------------------------------------------------------------------------------


def _read_password(address: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {address}", hide_input=True,
                                confirmation_prompt=True)
    problem = password_problem(password, address)
    if problem:
        fail(f"password refused: {problem}")
    return password


def _size(text: str | None, default: int) -> int:
    if text is None:
        return default
    size = parse_size(text)
    if size is None:
        fail(f"not a size: {text!r} (write e.g. 500MB, 5GB or 0 for no limit)")
    return size


@user_app.command("add")
def user_add(
    address: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    quota: Annotated[str | None, typer.Option(help="Size limit, e.g. 5GB; 0: none.")] = None,
    quota_messages: Annotated[int | None, typer.Option(help="Count limit; 0: none.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Create an account with the default folders."""
    config = _config(config_path)
    password = _read_password(address, password_stdin)
    password_hash = hash_password(password)

    async def add(store: Store) -> Account:
        account = await store.add_account(
            address,
            password_hash,
            display_name=name,
            quota_bytes=_size(quota, config.accounts.default_quota_bytes),
            quota_messages=quota_messages
            if quota_messages is not None
            else config.accounts.default_quota_messages,
        )
        await scram.save_secret(store, account.id, password, password_hash)
        return account

    account = _run(config, add)
    out.print(f"added {account.address}")


def _megabytes(size: int) -> str:
    return "no limit" if not size else f"{size / 1024 / 1024:,.0f} MB"


@user_app.command("list")
def user_list(
    domain: Annotated[str | None, typer.Option(help="Only this domain.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """List accounts with their use of their quota."""
    accounts = _run(_config(config_path), lambda store: store.list_accounts(domain))
    table = Table("address", "name", "messages", "used", "quota", "state")
    for account in accounts:
        table.add_row(account.address, account.display_name, str(account.used_messages),
                      _megabytes(account.used_bytes), _megabytes(account.quota_bytes),
                      "disabled" if account.disabled else "active")
    out.print(table)


async def _change(store: Store, address: str, **changes: Any) -> None:
    account = await store.find_account(address)
    await store.update_account(account.id, **changes)
    await store.audit("cli", "account.update", account.id, ",".join(sorted(changes)))


@user_app.command("passwd")
def user_passwd(
    address: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Set a new password."""
    config = _config(config_path)
    password = _read_password(address, password_stdin)
    password_hash = hash_password(password)

    async def change(store: Store) -> None:
        await _change(store, address, password_hash=password_hash)
        account = await store.find_account(address)
        await scram.save_secret(store, account.id, password, password_hash)

    _run(config, change)
    out.print(f"password of {address} changed")


@user_app.command("disable")
def user_disable(
    address: str,
    enable: Annotated[bool, typer.Option("--enable", help="Enable it again.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Block sign-in and delivery for an account (or allow them again with --enable)."""
    _run(_config(config_path), lambda store: _change(store, address, disabled=int(not enable)))
    out.print(f"{address} {'enabled' if enable else 'disabled'}")


@user_app.command("remove")
def user_remove(
    address: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Delete an account and all its mail."""
    config = _config(config_path)
    if not yes and not typer.confirm(f"Delete {address} and all its mail?"):
        fail("not removed")

    async def remove(store: Store) -> None:
        account = await store.find_account(address)
        await store.remove_account(account.id)
        await store.audit("cli", "account.remove", None, account.address)

    _run(config, remove)
    out.print(f"removed {address}")


# -- aliases ------------------------------------------------------------------------------------


@alias_app.command("add")
def alias_add(alias: str, account: str, config_path: ConfigOption = None) -> None:
    """Deliver mail for ALIAS to ACCOUNT (at most accounts.max_addresses_per_account)."""
    config = _config(config_path)

    async def add(store: Store) -> None:
        owner = await store.find_account(account)
        await store.add_alias(owner.id, alias, config.accounts.max_addresses_per_account)

    _run(config, add)
    out.print(f"{alias} now delivers to {account}")


@alias_app.command("list")
def alias_list(account: str, config_path: ConfigOption = None) -> None:
    """List an account's addresses, the primary one first."""

    async def addresses(store: Store) -> list[Any]:
        return await store.list_addresses((await store.find_account(account)).id)

    for address in _run(_config(config_path), addresses):
        out.print(address.address + ("  (primary)" if address.is_primary else ""))


@alias_app.command("remove")
def alias_remove(alias: str, config_path: ConfigOption = None) -> None:
    """Remove an alias."""
    _run(_config(config_path), lambda store: store.remove_alias(alias))
    out.print(f"removed {alias}")


@app.command()
def gc(
    grace: Annotated[int, typer.Option(help="Keep unreferenced bodies this many seconds.")] = 3600,
    config_path: ConfigOption = None,
) -> None:
    """Delete message bodies no message refers to any more."""
    collected = _run(_config(config_path), lambda store: store.collect_garbage(grace))
    out.print(f"removed {collected.rows} unreferenced bodies, {collected.files} files")


if __name__ == "__main__":  # pragma: no cover
    app()
