"""Bounces and delay notices, read back with Python's email package (RFC 3464, RFC 6522)."""

from __future__ import annotations

import email
import email.policy
from email.message import Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbus.smtp.dsn import Action, RecipientStatus, build_report, original_header

ORIGINAL = (
    b"From: Alice <alice@local.test>\r\nTo: bob@remote.test\r\nSubject: Plans\r\n"
    b"Message-ID: <plans@local.test>\r\n\r\nSee you at 8.\r\n"
)
NOW = 1_700_000_000


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _fields(block: str) -> dict[str, str]:
    unfolded = block.replace("\r\n ", " ").replace("\n ", " ")
    return dict(line.split(": ", 1) for line in unfolded.splitlines() if line)


def _status_blocks(report: Message) -> list[dict[str, str]]:
    part = report.get_payload()[1]
    # email parses message/delivery-status into one Message per block (RFC 3464 §2.1).
    return [dict(block.items()) for block in part.get_payload()]


def test_bounce_fields() -> None:
    raw = build_report(
        reporting_mta="mx.local.test",
        sender="alice@local.test",
        recipients=[
            RecipientStatus(
                "bob@remote.test",
                Action.FAILED,
                "5.1.1",
                "550 5.1.1 <bob@remote.test>: no such user",
                "mx.remote.test",
                NOW,
            ),
            RecipientStatus(
                "carol@remote.test",
                Action.FAILED,
                "5.4.7",
                "451 4.4.1 gave up after 5 days",
                "mx.remote.test",
                NOW,
            ),
        ],
        original=ORIGINAL,
        arrival=NOW - 3600,
        now=NOW,
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    report = _parse(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["To"] == "<alice@local.test>"
    assert report["Auto-Submitted"] == "auto-replied"
    assert "MAILER-DAEMON@mx.local.test" in report["From"]
    assert report["Message-ID"].endswith("@mx.local.test>")
    text, status, headers = report.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "bob@remote.test" in text.get_payload()
    assert status.get_content_type() == "message/delivery-status"
    per_message, bob, carol = _status_blocks(report)
    assert per_message["Reporting-MTA"] == "dns; mx.local.test"
    assert "Arrival-Date" in per_message
    assert bob["Final-Recipient"] == "rfc822; bob@remote.test"
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.1.1"
    assert bob["Remote-MTA"] == "dns; mx.remote.test"
    assert " ".join(bob["Diagnostic-Code"].split()) == (
        "smtp; 550 5.1.1 <bob@remote.test>: no such user"
    )
    assert carol["Status"] == "5.4.7"
    assert headers.get_content_type() == "text/rfc822-headers"
    returned = headers.get_payload()
    assert "Subject: Plans" in returned and "See you at 8" not in returned


def test_delay_notice() -> None:
    raw = build_report(
        reporting_mta="mx.local.test",
        sender="alice@local.test",
        recipients=[
            RecipientStatus(
                "bob@remote.test",
                Action.DELAYED,
                "4.4.1",
                "connection refused",
                "",
                NOW,
                NOW + 4 * 86400,
            )
        ],
        original=ORIGINAL,
        arrival=NOW - 4 * 3600,
        now=NOW,
    )
    report = _parse(raw)
    assert "delayed" in report["Subject"].lower()
    _, bob = _status_blocks(report)
    assert bob["Action"] == "delayed"
    assert bob["Status"] == "4.4.1"
    assert "Will-Retry-Until" in bob
    assert "Remote-MTA" not in bob
    assert "you need not send it again" in report.get_payload()[0].get_payload()


def test_deterministic_and_injection_safe() -> None:
    evil = RecipientStatus(
        "bob@remote.test",
        Action.FAILED,
        "5.0.0",
        "550 bad\r\nSubject: injected\r\n\r\nbody",
        "mx\r\nX: y",
        NOW,
    )
    args = dict(
        reporting_mta="mx.local.test",
        sender="alice@local.test",
        recipients=[evil],
        original=ORIGINAL,
        arrival=NOW,
        now=NOW,
    )
    raw = build_report(**args)  # type: ignore[arg-type]
    assert raw == build_report(**args)  # type: ignore[arg-type]
    report = _parse(raw)
    assert report["Subject"] == "Undelivered mail returned to sender"
    _, block = _status_blocks(report)
    assert "X" not in block and "Subject" not in block
    with pytest.raises(ValueError):
        build_report(reporting_mta="m", sender="a@b", recipients=[], original=b"", arrival=0, now=0)


def test_internationalised_recipient() -> None:
    raw = build_report(
        reporting_mta="mx.local.test",
        sender="alice@local.test",
        recipients=[RecipientStatus("jörg@bücher.test", Action.FAILED, "5.1.1", "550 no")],
        original=ORIGINAL,
        arrival=NOW,
        now=NOW,
    )
    report = _parse(raw)
    # RFC 6533 §6.1: message/global-delivery-status with utf-8 address types.
    assert report.get_payload()[1].get_content_type() == "message/global-delivery-status"
    assert "Final-Recipient: utf-8; jörg@bücher.test" in raw.decode("utf-8")


@pytest.mark.parametrize(
    ("message", "header"),
    [
        (b"A: 1\r\nB: 2\r\n\r\nbody\r\n", b"A: 1\r\nB: 2\r\n"),
        (b"A: 1\nB: 2\n\nbody\n", b"A: 1\r\nB: 2\r\n"),
        (b"A: 1\r\n", b"A: 1\r\n"),
        (b"A: " + b"x" * 70_000 + b"\r\nB: 2\r\n\r\n", b"\r\n"),
    ],
)
def test_original_header(message: bytes, header: bytes) -> None:
    assert original_header(message) == header


@given(st.binary(max_size=2000), st.text(max_size=200))
def test_any_original_and_diagnostic_make_a_parseable_report(original: bytes, text: str) -> None:
    raw = build_report(
        reporting_mta="mx.local.test",
        sender="alice@local.test",
        recipients=[RecipientStatus("bob@remote.test", Action.FAILED, "5.0.0", text)],
        original=original,
        arrival=NOW,
        now=NOW,
    )
    report = _parse(raw)
    assert report.is_multipart() and len(report.get_payload()) == 3
    assert _status_blocks(report)[1]["Action"] == "failed"
