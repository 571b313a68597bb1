"""The ``postbus`` command: administration end to end on a real store, errors as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postbus.cli import app
from postbus.smtp.mtasts import policy_id, published_policy


@pytest.fixture
def run(tmp_path: Path):
    config = tmp_path / "postbus.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\nhostname = "mail.example.test"\n')
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(app, [*args, "--config", str(config)], input=stdin)

    return invoke


def test_domains_users_and_aliases(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    assert (tmp_path / "tls" / "cert.pem").exists()
    added = run("domain", "add", "Example.test")
    assert added.exit_code == 0, added.output
    assert "v=DKIM1" in added.output and "MX 10 mail.example.test." in added.output
    assert run("domain", "list").output.split() == ["example.test"]
    user = run("user", "add", "anna@example.test", "--name", "Anna", "--quota", "1GB",
               "--password-stdin", stdin="a long enough passphrase\n")
    assert user.exit_code == 0, user.output
    listing = run("user", "list").output
    assert "anna@example.test" in listing and "active" in listing
    assert run("alias", "add", "info@example.test", "anna@example.test").exit_code == 0
    assert "info@example.test" in run("alias", "list", "anna@example.test").output
    assert run("user", "disable", "anna@example.test").exit_code == 0
    assert "disabled" in run("user", "list").output
    assert run("user", "passwd", "anna@example.test", "--password-stdin",
               stdin="another long passphrase\n").exit_code == 0
    assert run("alias", "remove", "info@example.test").exit_code == 0
    assert run("user", "remove", "anna@example.test", "--yes").exit_code == 0
    assert run("domain", "remove", "example.test").exit_code == 0


def test_init_writes_the_named_config_file(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "postbus.toml"
    runner = CliRunner()
    made = runner.invoke(app, ["init", "--config", str(config), "--data-dir",
                               str(tmp_path / "data"), "--hostname", "mx.example.test"])
    assert made.exit_code == 0, made.output
    assert 'hostname = "mx.example.test"' in config.read_text()
    added = runner.invoke(app, ["domain", "add", "example.test", "--config", str(config)])
    assert added.exit_code == 0, added.output
    assert (tmp_path / "data" / "tls" / "cert.pem").exists()
    missing = runner.invoke(app, ["domain", "list", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("domain", "add", "not a domain"), None, "not a domain name"),
        (("user", "add", "x@nowhere.test", "--password-stdin"), "a long enough passphrase\n",
         "no domain nowhere.test"),
        (("user", "add", "x@example.test", "--password-stdin"), "short\n", "password refused"),
        (("user", "add", "x@example.test", "--quota", "lots", "--password-stdin"),
         "a long enough passphrase\n", "not a size"),
        (("alias", "add", "a@example.test", "nobody@example.test"), None, "no account"),
        (("user", "remove", "nobody@example.test", "--yes"), None, "no account"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(run, args, stdin, message) -> None:
    assert run("domain", "add", "example.test").exit_code == 0
    result = run(*args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_address_limit_is_configurable(run, tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    config.write_text(config.read_text() + "[accounts]\nmax_addresses_per_account = 2\n")
    run("domain", "add", "example.test")
    run("user", "add", "a@example.test", "--password-stdin", stdin="a long enough passphrase\n")
    assert run("alias", "add", "b@example.test", "a@example.test").exit_code == 0
    refused = run("alias", "add", "c@example.test", "a@example.test")
    assert refused.exit_code == 2 and "at most 2 addresses" in refused.output


def test_domain_add_prints_the_mta_sts_records(run, tmp_path: Path) -> None:
    """RFC 8461 §3.1: with a mode set, the _mta-sts record whose id follows the served policy."""
    added = run("domain", "add", "example.test")
    assert "mta-sts" not in added.output  # mode "none" by default: nothing to publish
    config = tmp_path / "postbus.toml"
    config.write_text(config.read_text() + '[mta_sts]\nmode = "enforce"\nmax_age = 86400\n')
    added = run("domain", "add", "example.org")
    assert added.exit_code == 0, added.output
    policy = published_policy("enforce", "mail.example.test", 86400)
    assert policy is not None
    assert f'_mta-sts.example.org. TXT "v=STSv1; id={policy_id(policy)}"' in added.output
    assert "mta-sts.example.org. CNAME mail.example.test." in added.output


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "postbus.toml"
    config.write_text('[store]\nbackend = "mysql"\n')
    result = subprocess.run(
        [sys.executable, "-m", "postbus", "check-config", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "store.backend" in result.stderr and "mysql" in result.stderr
    assert result.stderr.count("\n") == 1
