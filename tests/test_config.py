# ruff: noqa: E501 -- tables of exact one-line messages read best one per line
import dataclasses
import re
from pathlib import Path

import pytest

from postbus.config import (
    DEFAULT_LISTENERS,
    AccountsConfig,
    Config,
    ConfigError,
    LimitsConfig,
    Listener,
    StoreConfig,
    demo_config,
    load_config,
    parse_size,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "postbus.toml.example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "postbus.toml"
    path.write_text(text)
    return path


def error_of(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    config = load_config(None, {})
    assert config.source is None
    assert config.server.data_dir == Path("/var/lib/postbus")
    assert config.server.log_level == "info"
    assert config.server.hostname  # socket.getfqdn()
    assert config.store == StoreConfig(backend="sqlite", dsn=None)
    assert config.blob_dir == Path("/var/lib/postbus/blobs")
    assert config.sqlite_path == Path("/var/lib/postbus/postbus.sqlite3")
    assert config.cert_file == Path("/var/lib/postbus/tls/cert.pem")
    assert config.key_file == Path("/var/lib/postbus/tls/key.pem")
    assert config.dkim_dir == Path("/var/lib/postbus/dkim")
    assert config.limits.max_message_size == 50 * 2**20
    assert config.limits.max_line_length == 8192
    assert config.accounts == AccountsConfig(10, 5 * 2**30, 0, plus_addressing=True)
    assert config.listeners == DEFAULT_LISTENERS


def test_default_listeners() -> None:
    got = {(lst.name, lst.protocol, lst.port, lst.tls) for lst in DEFAULT_LISTENERS}
    assert got == {
        ("smtp", "smtp-mx", 25, "starttls"),
        ("submission", "submission", 587, "starttls"),
        ("submissions", "submission", 465, "implicit"),
        ("imap", "imap", 143, "starttls"),
        ("imaps", "imap", 993, "implicit"),
        ("pop3", "pop3", 110, "starttls"),
        ("pop3s", "pop3", 995, "implicit"),
        ("managesieve", "managesieve", 4190, "starttls"),
        ("http", "http", 80, "none"),
        ("https", "http", 443, "implicit"),
    }
    assert {lst.host for lst in DEFAULT_LISTENERS} == {"0.0.0.0"}


def test_frozen() -> None:
    config = load_config(None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.limits.max_message_size = 1  # type: ignore[misc]


def test_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
hostname = "mail.example.org"
data_dir = "data"
log_level = "debug"
[store]
blob_dir = "/srv/blobs"
[tls]
cert_file = "certs/fullchain.pem"
[limits]
max_message_size = "25MB"
max_literal_size = 1024
imap_idle_timeout = 3600
[accounts]
default_quota_bytes = "1.5GiB"
""",
    )
    config = load_config(path, {})
    assert config.source == path
    assert config.server.hostname == "mail.example.org"
    assert config.data_dir == tmp_path / "data"  # relative to the file's folder
    assert config.server.log_level == "debug"
    assert config.blob_dir == Path("/srv/blobs")
    assert config.sqlite_path == tmp_path / "data" / "postbus.sqlite3"
    assert config.cert_file == tmp_path / "certs" / "fullchain.pem"
    assert config.key_file == tmp_path / "data" / "tls" / "key.pem"
    assert config.limits.max_message_size == 25_000_000
    assert config.limits.max_literal_size == 1024
    assert config.limits.imap_idle_timeout == 3600
    assert config.accounts.default_quota_bytes == 3 * 2**29


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, '[store]\nbackend = "sqlite"\n[limits]\nconnections_per_ip = 5\n')
    env = {
        "POSTBUS_STORE_BACKEND": "postgres",
        "POSTBUS_STORE_DSN": "postgresql://postbus@db/postbus",
        "POSTBUS_SERVER_HOSTNAME": "mail.example.org",
        "POSTBUS_SERVER_DATA_DIR": "state",
        "POSTBUS_LIMITS_CONNECTIONS_PER_IP": "7",
        "POSTBUS_LIMITS_MAX_MESSAGE_SIZE": "10M",
        "POSTBUS_CONFIG": "/etc/postbus/postbus.toml",  # not a setting: the CLI's, ignored
        "HOME": "/root",
    }
    config = load_config(path, env)
    assert config.store.backend == "postgres"
    assert config.store.dsn == "postgresql://postbus@db/postbus"
    assert config.server.hostname == "mail.example.org"
    assert config.data_dir == tmp_path / "state"  # env paths are relative to the cwd
    assert config.limits.connections_per_ip == 7
    assert config.limits.max_message_size == 10 * 2**20


def test_data_dir_argument_wins(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\ndata_dir = "/srv/a"\n')
    config = load_config(path, {"POSTBUS_SERVER_DATA_DIR": "/srv/b"}, data_dir=tmp_path / "c")
    assert config.data_dir == tmp_path / "c"
    assert config.blob_dir == tmp_path / "c" / "blobs"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[store]\nbackend = "mysql"', "store.backend: expected one of 'sqlite', 'postgres', got 'mysql'"),
        ("[server]\nhostname = 5", "server.hostname: expected a host name such as mail.example.org, got 5"),
        ('[server]\nhostname = "mail example"', "server.hostname: expected a host name such as mail.example.org, got 'mail example'"),
        ('[server]\nlog_level = "loud"', "server.log_level: expected one of 'debug', 'info', 'warning', 'error', got 'loud'"),
        ('[server]\ndata_dir = ""', "server.data_dir: expected a path, got ''"),
        ('[limits]\nmax_message_size = "fifty"', 'limits.max_message_size: expected a size in bytes such as 52428800, "50MB" or "50MiB", got \'fifty\''),
        ("[limits]\nmax_message_size = true", 'limits.max_message_size: expected a size in bytes such as 52428800, "50MB" or "50MiB", got true'),
        ("[limits]\nmax_message_size = -1", 'limits.max_message_size: expected a size in bytes such as 52428800, "50MB" or "50MiB", got -1'),
        ('[limits]\nmax_message_size = "50 parsecs"', 'limits.max_message_size: expected a size in bytes such as 52428800, "50MB" or "50MiB", got \'50 parsecs\''),
        ("[limits]\nconnections_per_ip = 0", "limits.connections_per_ip: expected an integer >= 1, got 0"),
        ('[limits]\nconnections_per_ip = "50"', "limits.connections_per_ip: expected an integer >= 1, got '50'"),
        ("[limits]\nconnections_per_ip = 1.5", "limits.connections_per_ip: expected an integer >= 1, got 1.5"),
        ("[limits]\nimap_idle_timeout = 60", "limits.imap_idle_timeout: expected a number of seconds >= 1800, got 60"),
        ("[limits]\nmax_recipients = [1]", "limits.max_recipients: expected an integer >= 100, got an array"),
        ('[store]\ndsn = "mysql://u:pw@h/db"\nbackend = "postgres"', "store.dsn: expected a PostgreSQL URL such as postgresql://user:password@host/db, got 'mysql://u:***@h/db'"),
        ('store = "x"', "store: expected a table ([store]), got 'x'"),
        ('[store]\nbackned = "sqlite"', "store.backned: unknown setting; did you mean store.backend?"),
        ("[limits]\nzzz = 1", "limits.zzz: unknown setting; known: limits.max_message_size, limits.max_line_length"),
        ("[storage]\nbackend = 1", "storage: unknown section; did you mean store?"),
        ('[store]\nbackend = "postgres"', "store.dsn: expected a PostgreSQL URL such as postgresql://user:password@host/db when store.backend is 'postgres', got nothing"),
        ('[store]\ndsn = "postgresql://db/x"', "store.backend: expected 'postgres' when store.dsn is set, got 'sqlite'"),
    ],
)  # fmt: skip
def test_bad_file_values(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path, toml)
    assert error_of(path).startswith(f"{path}: {message}")


def test_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nhostname = 1\n")
    assert re.fullmatch(rf"{re.escape(str(path))}: not valid TOML: .*line 1.*", error_of(path))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_of(path) == f"{path}: cannot read: No such file or directory"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POSTBUS_STORE_BACKEND": "mysql"}, "POSTBUS_STORE_BACKEND: expected one of 'sqlite', 'postgres', got 'mysql'"),
        ({"POSTBUS_LIMITS_CONNECTIONS_PER_IP": "many"}, "POSTBUS_LIMITS_CONNECTIONS_PER_IP: expected an integer >= 1, got 'many'"),
        ({"POSTBUS_LIMITS_MAX_MESSAGE_SIZE": "big"}, "POSTBUS_LIMITS_MAX_MESSAGE_SIZE: expected a size in bytes such as 52428800, \"50MB\" or \"50MiB\", got 'big'"),
        ({"POSTBUS_STORE_BACKNED": "sqlite"}, "POSTBUS_STORE_BACKNED: unknown setting; did you mean POSTBUS_STORE_BACKEND?"),
        ({"POSTBUS_LISTENER_IMAP_PORT": "143"}, "POSTBUS_LISTENER_IMAP_PORT: listeners can only be set in the config file ([[listener]])"),
        ({"POSTBUS_STORE_BACKEND": "postgres"}, "POSTBUS_STORE_BACKEND: store.dsn: expected a PostgreSQL URL such as postgresql://user:password@host/db when store.backend is 'postgres', got nothing"),
        ({"POSTBUS_STORE_DSN": "postgresql://db/x"}, "POSTBUS_STORE_DSN: store.backend: expected 'postgres' when store.dsn is set, got 'sqlite'"),
    ],
)  # fmt: skip
def test_bad_env_values(env: dict[str, str], message: str) -> None:
    assert error_of(None, env) == message


def test_env_empty_optional_is_unset() -> None:
    config = load_config(None, {"POSTBUS_STORE_DSN": "", "POSTBUS_STORE_BLOB_DIR": ""})
    assert config.store.dsn is None and config.store.blob_dir is None


@pytest.mark.parametrize(
    ("word", "value"),
    [("true", True), ("YES", True), ("on", True), ("1", True), ("false", False), (" no ", False), ("off", False), ("0", False)],
)  # fmt: skip
def test_env_booleans(word: str, value: bool) -> None:
    config = load_config(None, {"POSTBUS_ACCOUNTS_PLUS_ADDRESSING": word})
    assert config.accounts.plus_addressing is value


def test_bad_booleans(tmp_path: Path) -> None:
    assert error_of(None, {"POSTBUS_ACCOUNTS_PLUS_ADDRESSING": "maybe"}) == (
        "POSTBUS_ACCOUNTS_PLUS_ADDRESSING: expected true or false, got 'maybe'"
    )
    path = write(tmp_path, '[accounts]\nplus_addressing = "yes"')  # TOML has real booleans
    assert error_of(path) == f"{path}: accounts.plus_addressing: expected true or false, got 'yes'"


def test_listeners_from_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[listener]]
protocol = "imap"
port = 993
[[listener]]
protocol = "imap"
host = "::"
port = 993
[[listener]]
name = "mx"
protocol = "smtp-mx"
host = "192.0.2.1"
port = 25
[[listener]]
protocol = "http"
port = 8080
""",
    )
    assert load_config(path, {}).listeners == (
        Listener("imaps", "imap", "0.0.0.0", 993, "implicit"),  # tls follows the port
        Listener("imaps-2", "imap", "::", 993, "implicit"),
        Listener("mx", "smtp-mx", "192.0.2.1", 25, "starttls"),
        Listener("http", "http", "0.0.0.0", 8080, "none"),
    )


def test_no_listeners(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "listener = []"), {}).listeners == ()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[listener]]\nprotocol = "imap"\nport = 70000', "listener[0].port: expected a port number from 1 to 65535 (or 0 for any free port), got 70000"),
        ('[[listener]]\nprotocol = "imap"\nport = -1', "listener[0].port: expected a port number from 1 to 65535 (or 0 for any free port), got -1"),
        ('[[listener]]\nprotocol = "lmtp"\nport = 24', "listener[0].protocol: expected one of 'smtp-mx', 'submission', 'imap', 'pop3', 'managesieve', 'http', got 'lmtp'"),
        ('[[listener]]\nport = 143', "listener[0].protocol: required, got nothing"),
        ('[[listener]]\nprotocol = "imap"', "listener[0].port: required, got nothing"),
        ('[[listener]]\nprotocol = "imap"\nport = 143\ntls = "ssl"', "listener[0].tls: expected one of 'none', 'starttls', 'implicit', got 'ssl'"),
        ('[[listener]]\nprotocol = "http"\nport = 80\ntls = "starttls"', "listener[0].tls: expected one of 'none', 'implicit', got 'starttls'"),
        ('[[listener]]\nprotocol = "imap"\nport = 143\nhost = ""', "listener[0].host: expected a non-empty string, got ''"),
        ('[[listener]]\nprotocol = "imap"\nport = 143\nprot = 1', "listener[0].prot: unknown setting; did you mean port?"),
        ('[listener]\nprotocol = "imap"', "listener: expected an array of tables ([[listener]]), got a table"),
        ('[[listener]]\nname = "a"\nprotocol = "imap"\nport = 143\n[[listener]]\nname = "a"\nprotocol = "pop3"\nport = 110',
         "listener[1].name: expected a name no other listener has, got 'a' (also listener[0])"),
        ('[[listener]]\nprotocol = "imap"\nport = 143\n[[listener]]\nprotocol = "pop3"\nport = 143',
         "listener[1].port: expected a host and port no other listener uses, got 0.0.0.0:143 (also listener 'imap')"),
    ],
)  # fmt: skip
def test_bad_listeners(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path, toml)
    assert error_of(path) == f"{path}: {message}"


def test_port_zero_may_repeat(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[listener]]\nprotocol="imap"\nport=0\n[[listener]]\nprotocol="pop3"\nport=0'
    )
    assert [lst.port for lst in load_config(path, {}).listeners] == [0, 0]


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("1048576", 1048576), ("50MB", 50_000_000), ("50MiB", 50 * 2**20), ("50M", 50 * 2**20),
     ("50 mb", 50_000_000), ("512k", 512 * 1024), ("1kB", 1000), ("2G", 2 * 2**30), ("1.5GB", 1_500_000_000),
     ("1TiB", 2**40), ("7b", 7), ("", None), ("-1", None), ("5 parsecs", None), ("MB", None), ("1e6", None)],
)  # fmt: skip
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_demo_config(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    assert config.server.hostname == "localhost"
    assert config.data_dir == tmp_path
    assert config.store.backend == "sqlite"
    assert config.sqlite_path == tmp_path / "postbus.sqlite3"
    assert {lst.host for lst in config.listeners} == {"127.0.0.1"}
    assert sorted(lst.port for lst in config.listeners) == sorted(
        [2525, 2587, 2465, 1143, 1993, 1110, 1995, 4190, 8080, 8443]
    )
    by_port = {lst.port: lst for lst in config.listeners}
    assert by_port[2465].tls == by_port[1993].tls == by_port[1995].tls == "implicit"
    assert by_port[8443].tls == "implicit" and by_port[8080].tls == "none"
    assert by_port[2525].protocol == "smtp-mx" and by_port[4190].protocol == "managesieve"


def test_example_loads_as_is() -> None:
    config = load_config(EXAMPLE, {})
    assert dataclasses.replace(config, source=None) == load_config(None, {})


def test_example_uncommented_states_the_defaults(tmp_path: Path) -> None:
    """Every `# key = value` line uncommented gives exactly the defaults (but the hostname)."""
    lines = EXAMPLE.read_text().splitlines()
    uncommented = [re.sub(r"^# (\w+ = .*|\[\[listener\]\])$", r"\1", line) for line in lines]
    assert sum(a != b for a, b in zip(lines, uncommented, strict=True)) > 40
    config = load_config(write(tmp_path, "\n".join(uncommented)), {})
    assert config.server.hostname == "mail.example.org"
    defaults = load_config(None, {})
    assert config.limits == defaults.limits == LimitsConfig()
    assert config.accounts == defaults.accounts
    assert config.listeners == DEFAULT_LISTENERS
    for prop in ("data_dir", "blob_dir", "sqlite_path", "cert_file", "key_file"):
        assert getattr(config, prop) == getattr(defaults, prop), prop
    assert config.store.backend == defaults.store.backend
    assert config.server.log_level == defaults.server.log_level


def test_every_setting_is_in_the_example() -> None:
    text = EXAMPLE.read_text()
    sections = ("server", "store", "tls", "limits", "accounts", "queue", "smarthost", "dns",
                "mta_sts")  # fmt: skip
    for section in sections:
        cls = type(getattr(Config(), section))
        for f in dataclasses.fields(cls):
            assert re.search(rf"^#\s+{f.name} = ", text, re.M), f"{section}.{f.name}"


def test_dns_nameservers_from_file_and_env(tmp_path: Path) -> None:
    path = tmp_path / "postbus.toml"
    path.write_text('[dns]\nnameservers = ["127.0.0.1:5353", "[::1]:53", "192.0.2.1"]\n')
    assert load_config(path, {}).dns.nameservers == ("127.0.0.1:5353", "[::1]:53", "192.0.2.1")
    from_env = load_config(None, {"POSTBUS_DNS_NAMESERVERS": "127.0.0.1:53, 127.0.0.2"})
    assert from_env.dns.nameservers == ("127.0.0.1:53", "127.0.0.2")
    path.write_text('[dns]\nnameservers = ["dns.example.org"]\n')
    with pytest.raises(ConfigError, match=r"dns\.nameservers"):
        load_config(path, {})


def test_listener_plaintext_auth(tmp_path: Path) -> None:
    path = tmp_path / "postbus.toml"
    path.write_text(
        '[[listener]]\nprotocol = "imap"\nport = 143\n'
        '[[listener]]\nprotocol = "imap"\nport = 1143\nhost = "127.0.0.1"\n'
        '[[listener]]\nprotocol = "pop3"\nport = 110\nplaintext_auth = true\n'
    )
    public, loopback, lan = load_config(path, {}).listeners
    assert not public.allows_plaintext_auth  # passwords only over TLS by default
    assert loopback.allows_plaintext_auth  # the demo exception
    assert lan.allows_plaintext_auth  # configured otherwise
    path.write_text('[[listener]]\nprotocol = "pop3"\nport = 110\nplaintext_auth = "yes"\n')
    with pytest.raises(ConfigError, match=r"listener\[0\]\.plaintext_auth"):
        load_config(path, {})


def test_mta_sts_settings(tmp_path: Path) -> None:
    defaults = load_config(None, {}).mta_sts
    assert (defaults.mode, defaults.max_age) == ("none", 604800)
    path = write(tmp_path, '[mta_sts]\nmode = "enforce"\nmax_age = 86400\n')
    config = load_config(path, {"POSTBUS_MTA_STS_MODE": "testing"})
    assert (config.mta_sts.mode, config.mta_sts.max_age) == ("testing", 86400)
    bad_mode = error_of(write(tmp_path, '[mta_sts]\nmode = "on"\n'))
    assert "mta_sts.mode: expected one of 'none', 'testing', 'enforce', got 'on'" in bad_mode
    too_long = error_of(write(tmp_path, "[mta_sts]\nmax_age = 40000000\n"))
    assert "mta_sts.max_age: expected a number of seconds from 1 to 31557600" in too_long
