"""postbus.toml -> frozen dataclasses, with ``POSTBUS_<SECTION>_<KEY>`` environment overrides.

Precedence, lowest first: built-in defaults, the TOML file, the environment, the ``data_dir``
argument (the CLI's ``--data-dir``). Every problem raises ``ConfigError`` with one line naming
where (the file, or the environment variable), the dotted key, what was expected and what was
found. Unknown keys are errors: a typo must never be silently ignored.

Relative paths in the file resolve against the file's folder; relative paths from the
environment or ``data_dir`` resolve against the current directory. Listeners (``[[listener]]``)
can only be set in the file. ``postbus.toml.example`` documents every setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from postbus.config_values import (
    _BACKEND,
    _BOOL,
    _DSN,
    _HOSTNAME,
    _LOG_LEVEL,
    _NAMESERVERS,
    _OPT_PATH,
    _OPT_TEXT,
    _PATH,
    _PORT,
    _RELAY_TLS,
    _SIZE,
    _STS_MODE,
    _TEXT,
    _choice,
    _integer,
    _Kind,
    _kind,
    _Mismatch,
    _seconds,
    parse_size,
)

KiB, MiB, GiB = 2**10, 2**20, 2**30
__all__ = ["Config", "ConfigError", "Listener", "demo_config", "load_config", "parse_size"]


class ConfigError(Exception):
    """A bad configuration; str() is one line a person can act on."""


# --- the settings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerConfig:
    # The name in SMTP greetings, EHLO and Received:, and in the self-signed certificate.
    hostname: str = field(default_factory=socket.getfqdn, metadata=_kind(_HOSTNAME))
    data_dir: Path = field(default=Path("/var/lib/postbus"), metadata=_kind(_PATH))
    log_level: str = field(default="info", metadata=_kind(_LOG_LEVEL))


@dataclass(frozen=True, slots=True)
class StoreConfig:
    backend: Literal["sqlite", "postgres"] = field(default="sqlite", metadata=_kind(_BACKEND))
    dsn: str | None = field(default=None, metadata=_kind(_DSN))  # required for "postgres"
    # None: data_dir/blobs and data_dir/postbus.sqlite3 (see Config.blob_dir, .sqlite_path).
    blob_dir: Path | None = field(default=None, metadata=_kind(_OPT_PATH))
    sqlite_path: Path | None = field(default=None, metadata=_kind(_OPT_PATH))


@dataclass(frozen=True, slots=True)
class TlsConfig:
    # None: data_dir/tls/cert.pem and key.pem, a self-signed pair made by `postbus init`.
    cert_file: Path | None = field(default=None, metadata=_kind(_OPT_PATH))
    key_file: Path | None = field(default=None, metadata=_kind(_OPT_PATH))


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Enforced while parsing, before memory is spent (design.md "Errors, bad input")."""

    # SMTP SIZE (RFC 1870) and IMAP APPENDLIMIT (RFC 7889); GMX/Outlook allow 50 MB too.
    max_message_size: int = field(default=50 * MiB, metadata=_kind(_SIZE))
    # IMAP, POP3 and ManageSieve command lines. RFC 7162 §4 asks servers to take 8192 octets.
    max_line_length: int = field(default=8192, metadata=_kind(_integer(512)))
    # SMTP command and text lines. RFC 5321 §4.5.3.1.6 makes 1000 the floor, not a ceiling:
    # real mail has longer lines, and RFC 4954 §4 wants AUTH lines of 12288 octets.
    smtp_max_line_length: int = field(default=12288, metadata=_kind(_integer(1000)))
    # IMAP literals outside APPEND (search strings, passwords); APPEND uses max_message_size.
    max_literal_size: int = field(default=64 * KiB, metadata=_kind(_SIZE))
    # Parentheses in IMAP commands, SEARCH keys, MIME multipart nesting.
    max_nesting_depth: int = field(default=32, metadata=_kind(_integer(1)))
    # RFC 5321 §4.5.3.1.8: a server must take at least 100 recipients.
    max_recipients: int = field(default=100, metadata=_kind(_integer(100)))
    # Phones and desktop clients each keep several IMAP connections; families share one NAT.
    connections_per_ip: int = field(default=50, metadata=_kind(_integer(1)))
    max_connections: int = field(default=10000, metadata=_kind(_integer(1)))
    # Per connection, sustained; real clients pipeline bursts far below this.
    commands_per_second: int = field(default=200, metadata=_kind(_integer(1)))
    # RFC 9051 §5.4: the autologout timer is at least 30 minutes; clients re-IDLE every 29.
    imap_idle_timeout: int = field(default=1800, metadata=_kind(_seconds(1800)))
    # Before authentication, RFC 9051 §5.4 allows a shorter timer.
    unauthenticated_timeout: int = field(default=60, metadata=_kind(_seconds()))
    # RFC 5321 §4.5.3.2.7: the server waits 5 minutes for each command.
    smtp_timeout: int = field(default=300, metadata=_kind(_seconds()))
    # RFC 1939 §3: the POP3 autologout timer is at least 10 minutes.
    pop3_timeout: int = field(default=600, metadata=_kind(_seconds(600)))
    # Failed sign-ins in failed_login_window seconds before further tries are refused;
    # across every protocol and the web (design.md "Sign-in").
    # SMTP messages per client IP per minute (451 4.7.1 past it), both SMTP listeners.
    smtp_messages_per_minute: int = field(default=6000, metadata=_kind(_integer(1)))
    failed_logins_per_ip: int = field(default=10, metadata=_kind(_integer(1)))
    failed_logins_per_account: int = field(default=20, metadata=_kind(_integer(1)))
    failed_login_window: int = field(default=900, metadata=_kind(_seconds()))


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    # Primary address plus aliases (design.md "The store").
    max_addresses_per_account: int = field(default=10, metadata=_kind(_integer(1)))
    # Quota for new accounts; 0 means unlimited. 5 GiB is a generous free-mail account.
    default_quota_bytes: int = field(default=5 * GiB, metadata=_kind(_SIZE))
    default_quota_messages: int = field(default=0, metadata=_kind(_integer(0)))
    # "ann+shop@example.org" reaches ann@example.org (RFC 5233 subaddress, "+" separator).
    plus_addressing: bool = field(default=True, metadata=_kind(_BOOL))


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """The outbound queue (postbus.smtp.outbound)."""

    # RFC 5321 §4.5.4.1: give up after at least 4-5 days.
    max_age: int = field(default=5 * 86400, metadata=_kind(_seconds(3600)))
    # Tell the sender once that a message is late; 0: never.
    delay_notice_after: int = field(default=4 * 3600, metadata=_kind(_integer(0)))
    # RFC 5321 §4.5.4.1: retry intervals of 30 minutes are advised; 5 min first, doubling.
    first_retry: int = field(default=300, metadata=_kind(_seconds(1)))
    max_retry_interval: int = field(default=4 * 3600, metadata=_kind(_seconds(1)))
    connections_per_domain: int = field(default=2, metadata=_kind(_integer(1)))
    max_connections: int = field(default=50, metadata=_kind(_integer(1)))
    # The port of other servers' MX; only tests and private networks change it.
    port: int = field(default=25, metadata=_kind(_PORT))
    # Connect from this address (the one SPF names) when the machine has several; "": any.
    bind_address: str = field(default="", metadata=_kind(_OPT_TEXT))
    # RFC 8461 (MTA-STS): the MX of a domain with a policy must show a certificate that chains
    # to these CA certificates (PEM) instead of the system's trust store; None: the system's.
    tls_ca_file: Path | None = field(default=None, metadata=_kind(_OPT_PATH))


@dataclass(frozen=True, slots=True)
class SmarthostConfig:
    """Send all outgoing mail through one relay instead of to each MX; host "" means off."""

    host: str = field(default="", metadata=_kind(_OPT_TEXT))
    port: int = field(default=587, metadata=_kind(_PORT))
    username: str = field(default="", metadata=_kind(_OPT_TEXT))
    password: str = field(default="", metadata=_kind(_OPT_TEXT))
    tls: str = field(default="starttls", metadata=_kind(_RELAY_TLS))
    verify: bool = field(default=True, metadata=_kind(_BOOL))


@dataclass(frozen=True, slots=True)
class DnsConfig:
    # Resolvers for SPF/DKIM/DMARC/ARC checks and MX lookups; empty: /etc/resolv.conf.
    nameservers: tuple[str, ...] = field(default=(), metadata=_kind(_NAMESERVERS))
    # Seconds per lookup, retries included.
    timeout: int = field(default=5, metadata=_kind(_seconds()))


@dataclass(frozen=True, slots=True)
class MtaStsConfig:
    """The MTA-STS policy (RFC 8461) we publish for our own domains, served on the HTTP
    listeners as https://mta-sts.<domain>/.well-known/mta-sts.txt; mx is server.hostname."""

    # "none" publishes nothing; "testing" asks senders to report failures; "enforce" to
    # deliver only over TLS with a valid certificate to server.hostname (RFC 8461 §5).
    mode: Literal["none", "testing", "enforce"] = field(default="none", metadata=_kind(_STS_MODE))
    # Seconds senders keep the policy; RFC 8461 §3.2: at most a year, weeks advised.
    max_age: int = field(
        default=604800,
        metadata=_kind(_integer(1, 31_557_600, "a number of seconds from 1 to 31557600 (a year)")),
    )


ListenerProtocol = Literal["smtp-mx", "submission", "imap", "pop3", "managesieve", "http"]
TlsMode = Literal["none", "starttls", "implicit"]
_PROTOCOLS: tuple[str, ...] = ListenerProtocol.__args__  # type: ignore[attr-defined]
_TLS_MODES: tuple[str, ...] = TlsMode.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Listener:
    name: str  # for logs and metrics; defaults are the IANA service names
    protocol: ListenerProtocol
    host: str  # "0.0.0.0" is every IPv4 address; use "::" for IPv6 (and IPv4 on Linux)
    port: int
    tls: TlsMode
    # Sign-in with a password before TLS. None: only on a loopback address (the demo).
    plaintext_auth: bool | None = None

    @property
    def allows_plaintext_auth(self) -> bool:
        """design.md "Sign-in": passwords only over TLS, unless configured otherwise."""
        if self.plaintext_auth is not None:
            return self.plaintext_auth
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listeners(host: str, ports: tuple[int, ...]) -> tuple[Listener, ...]:
    shape = [
        ("smtp", "smtp-mx", "starttls"),
        ("submission", "submission", "starttls"),
        ("submissions", "submission", "implicit"),  # RFC 8314 §7.3
        ("imap", "imap", "starttls"),
        ("imaps", "imap", "implicit"),
        ("pop3", "pop3", "starttls"),
        ("pop3s", "pop3", "implicit"),
        ("managesieve", "managesieve", "starttls"),  # RFC 5804 §1.8
        ("http", "http", "none"),
        ("https", "http", "implicit"),
    ]
    return tuple(
        Listener(n, cast(Any, p), host, port, cast(Any, t))
        for (n, p, t), port in zip(shape, ports, strict=True)
    )


DEFAULT_LISTENERS = _listeners("0.0.0.0", (25, 587, 465, 143, 993, 110, 995, 4190, 80, 443))
_DEMO_LISTENERS = _listeners(
    "127.0.0.1", (2525, 2587, 2465, 1143, 1993, 1110, 1995, 4190, 8080, 8443)
)
_IMPLICIT_PORTS = frozenset({465, 993, 995, 443})  # RFC 8314 §7; HTTPS


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    smarthost: SmarthostConfig = field(default_factory=SmarthostConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    mta_sts: MtaStsConfig = field(default_factory=MtaStsConfig)
    listeners: tuple[Listener, ...] = DEFAULT_LISTENERS
    source: Path | None = None  # the file this came from, if any

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def blob_dir(self) -> Path:
        return self.store.blob_dir or self.data_dir / "blobs"

    @property
    def sqlite_path(self) -> Path:
        return self.store.sqlite_path or self.data_dir / "postbus.sqlite3"

    @property
    def cert_file(self) -> Path:
        return self.tls.cert_file or self.data_dir / "tls" / "cert.pem"

    @property
    def key_file(self) -> Path:
        return self.tls.key_file or self.data_dir / "tls" / "key.pem"

    @property
    def dkim_dir(self) -> Path:
        """Where postbus.smtp.dkim keeps each domain's keys (not a setting)."""
        return self.data_dir / "dkim"

    def listener(self, name: str) -> Listener | None:
        return next((lst for lst in self.listeners if lst.name == name), None)


_SECTIONS: dict[str, type] = {
    "server": ServerConfig,
    "store": StoreConfig,
    "tls": TlsConfig,
    "limits": LimitsConfig,
    "accounts": AccountsConfig,
    "queue": QueueConfig,
    "smarthost": SmarthostConfig,
    "dns": DnsConfig,
    "mta_sts": MtaStsConfig,
}


def _kinds(section: str) -> dict[str, _Kind]:
    return {f.name: f.metadata["kind"] for f in dataclasses.fields(_SECTIONS[section])}


# --- loading ----------------------------------------------------------------------------------


def _show(v: object) -> str:
    """How a found value reads in a message (TOML spelling; passwords in URLs hidden)."""
    if isinstance(v, str):
        v = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", v)
        return repr(v if len(v) <= 80 else v[:77] + "...")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return f"a {type(v).__name__}"


def _unknown(subject: str, what: str, name: str, known: list[str]) -> ConfigError:
    """``<subject>: unknown <what>; did you mean <closest>?`` (or the known names)."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "known: " + ", ".join(known)
    return ConfigError(f"{subject}: unknown {what}; {hint}")


def _convert(kind: _Kind, value: object, env: bool, base: Path, where: str) -> object:
    """Parse one value; relative paths resolve against ``base``."""
    try:
        parsed = kind.parse(value, env)
        return base / parsed if isinstance(parsed, Path) else parsed  # absolute replaces base
    except _Mismatch:
        raise ConfigError(f"{where}: expected {kind.expected}, got {_show(value)}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_config(
    path: Path | None, env: Mapping[str, str] = os.environ, *, data_dir: Path | None = None
) -> Config:
    """Read ``path`` (None: defaults only), then the environment, then ``data_dir``."""
    raw = _read(path) if path is not None else {}
    file_base = path.parent.absolute() if path is not None else Path.cwd()
    values: dict[str, dict[str, object]] = {s: {} for s in _SECTIONS}
    origin: dict[str, str] = {}  # dotted key -> where its value came from

    for section, table in raw.items():
        if section == "listener":
            continue
        if section not in _SECTIONS:
            raise _unknown(f"{path}: {section}", "section", section, [*_SECTIONS, "listener"])
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: {section}: expected a table ([{section}]), got {_show(table)}"
            )
        kinds = _kinds(section)
        for key, value in table.items():
            dotted = f"{section}.{key}"
            if key not in kinds:
                raise _unknown(
                    f"{path}: {dotted}", "setting", dotted, [f"{section}.{k}" for k in kinds]
                )
            values[section][key] = _convert(
                kinds[key], value, False, file_base, f"{path}: {dotted}"
            )
            origin[dotted] = str(path)

    _apply_env(env, values, origin)
    if data_dir is not None:
        values["server"]["data_dir"] = Path.cwd() / data_dir
        origin["server.data_dir"] = "--data-dir"

    store = StoreConfig(**cast(Any, values["store"]))
    if store.backend == "postgres" and store.dsn is None:
        raise ConfigError(
            f"{origin['store.backend']}: store.dsn: expected {_DSN.expected} "
            "when store.backend is 'postgres', got nothing"
        )
    if store.backend == "sqlite" and store.dsn is not None:
        raise ConfigError(
            f"{origin['store.dsn']}: store.backend: expected 'postgres' when "
            "store.dsn is set, got 'sqlite'"
        )

    return Config(
        server=ServerConfig(**cast(Any, values["server"])),
        store=store,
        tls=TlsConfig(**cast(Any, values["tls"])),
        limits=LimitsConfig(**cast(Any, values["limits"])),
        accounts=AccountsConfig(**cast(Any, values["accounts"])),
        queue=QueueConfig(**cast(Any, values["queue"])),
        smarthost=SmarthostConfig(**cast(Any, values["smarthost"])),
        dns=DnsConfig(**cast(Any, values["dns"])),
        mta_sts=MtaStsConfig(**cast(Any, values["mta_sts"])),
        listeners=_parse_listeners(raw["listener"], str(path), file_base)
        if "listener" in raw
        else DEFAULT_LISTENERS,
        source=path,
    )


def _apply_env(
    env: Mapping[str, str], values: dict[str, dict[str, object]], origin: dict[str, str]
) -> None:
    """POSTBUS_<SECTION>_<KEY>: matched against the known keys, so never ambiguous."""
    known = {f"POSTBUS_{s.upper()}_{k.upper()}": (s, k) for s in _SECTIONS for k in _kinds(s)}
    for var in sorted(env):
        if var in known:
            section, key = known[var]
            values[section][key] = _convert(_kinds(section)[key], env[var], True, Path.cwd(), var)
            origin[f"{section}.{key}"] = var
        elif var.startswith("POSTBUS_LISTENER_"):
            raise ConfigError(f"{var}: listeners can only be set in the config file ([[listener]])")
        elif any(var.startswith(f"POSTBUS_{s.upper()}_") for s in _SECTIONS):
            # A typo in a known section; other POSTBUS_* names (POSTBUS_CONFIG) are the CLI's.
            raise _unknown(var, "setting", var, sorted(known))


def _parse_listeners(raw: object, where: str, base: Path) -> tuple[Listener, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(
            f"{where}: listener: expected an array of tables ([[listener]]), got {_show(raw)}"
        )
    result: list[Listener] = []
    names: dict[str, int] = {}
    binds: dict[tuple[str, int], str] = {}
    keys = [f.name for f in dataclasses.fields(Listener)]
    for i, table in enumerate(cast(list[dict[str, object]], raw)):
        at = f"{where}: listener[{i}]"
        for key in table:
            if key not in keys:
                raise _unknown(f"{at}.{key}", "setting", key, keys)
        for key in ("protocol", "port"):
            if key not in table:
                raise ConfigError(f"{at}.{key}: required, got nothing")
        protocol = _convert(_choice(*_PROTOCOLS), table["protocol"], False, base, f"{at}.protocol")
        port = cast(int, _convert(_PORT, table["port"], False, base, f"{at}.port"))
        host = _convert(_TEXT, table.get("host", "0.0.0.0"), False, base, f"{at}.host")
        default_tls = (
            "none" if protocol == "http" else "implicit" if port in _IMPLICIT_PORTS else "starttls"
        )
        # HTTP has no STARTTLS; every other protocol may use any mode.
        modes = ("none", "implicit") if protocol == "http" else _TLS_MODES
        tls = _convert(_choice(*modes), table.get("tls", default_tls), False, base, f"{at}.tls")
        if "name" in table:
            name = cast(str, _convert(_TEXT, table["name"], False, base, f"{at}.name"))
            if name in names:
                raise ConfigError(
                    f"{at}.name: expected a name no other listener has, "
                    f"got {name!r} (also listener[{names[name]}])"
                )
        else:  # the IANA service name of the default set, made unique
            stem = next(
                (d.name for d in DEFAULT_LISTENERS if (d.protocol, d.tls) == (protocol, tls)),
                f"{protocol}-{tls}",
            )
            name, n = stem, 2
            while name in names:
                name, n = f"{stem}-{n}", n + 1
        names[name] = i
        bind = (cast(str, host), port)
        if port != 0 and bind in binds:
            raise ConfigError(
                f"{at}.port: expected a host and port no other listener uses, "
                f"got {host}:{port} (also listener {binds[bind]!r})"
            )
        binds[bind] = name
        plaintext = table.get("plaintext_auth")
        if plaintext is not None:
            plaintext = _convert(_BOOL, plaintext, False, base, f"{at}.plaintext_auth")
        result.append(
            Listener(
                name, cast(Any, protocol), cast(str, host), port, cast(Any, tls),
                cast(bool | None, plaintext),
            )
        )
    return tuple(result)


def demo_config(data_dir: Path) -> Config:
    """``postbus serve --demo``: every listener on 127.0.0.1 at the demo ports, SQLite."""
    return Config(
        server=ServerConfig(hostname="localhost", data_dir=Path.cwd() / data_dir),
        listeners=_DEMO_LISTENERS,
    )
