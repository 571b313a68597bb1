"""bench.synth: deterministic, bounded, well-formed synthetic messages.

The cheap checks (sizes, CRLF, vocabulary, threading, dates) run on the raw bytes of 5,000
messages; the `email` package, which takes milliseconds per message, parses the first 1,000.
"""

from __future__ import annotations

import re
import statistics
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from bench.synth import MAX_SIZE, MIN_SIZE, synthetic_messages

COUNT = 5_000
PARSED = 1_000
RARE = ("zeppelin", "quarterly", "kaleidoscope")


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    return list(synthetic_messages(COUNT, seed=7))


@pytest.fixture(scope="module")
def parsed(messages: list[bytes]) -> list[EmailMessage]:
    out = []
    for raw in messages[:PARSED]:
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def headers(raw: bytes) -> dict[str, str]:
    """The header section, unfolded (RFC 5322 §2.2.3), last occurrence wins."""
    block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n[ \t]+", " ", block)
    return {k.lower(): v for k, v in (line.split(": ", 1) for line in unfolded.split("\r\n"))}


def body_text(msg: EmailMessage) -> str:
    """Every text part, decoded: what a full-text index sees of the body."""
    return "\n".join(
        part.get_content() for part in msg.walk() if part.get_content_maintype() == "text"
    )


def test_deterministic() -> None:
    first = list(synthetic_messages(300, seed=5))
    assert list(synthetic_messages(300, seed=5)) == first
    assert list(synthetic_messages(300, seed=6)) != first
    assert next(synthetic_messages(1, seed=5, to="x@example.test")) != first[0]


def test_sizes(messages: list[bytes]) -> None:
    sizes = [len(m) for m in messages]
    assert min(sizes) >= MIN_SIZE
    assert max(sizes) <= MAX_SIZE
    assert 7_500 <= statistics.median(sizes) <= 10_500
    assert sum(s > 30_000 for s in sizes) > COUNT * 0.02  # a real tail of large messages
    assert sum(s < 4_000 for s in sizes) > COUNT * 0.1


def test_crlf_only(messages: list[bytes]) -> None:
    for raw in messages:
        crlf = raw.count(b"\r\n")
        assert raw.count(b"\n") == crlf and raw.count(b"\r") == crlf  # no bare LF or CR
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 §2.1.1


def test_parses_without_defects(parsed: list[EmailMessage]) -> None:
    for msg in parsed:
        assert not msg.defects, msg["Message-ID"]
        for name in ("Date", "From", "To", "Subject", "Message-ID", "MIME-Version"):
            header = msg[name]
            assert header is not None, name
            assert not header.defects, (name, header.defects)
        for name in ("In-Reply-To", "References", "Received"):
            if msg[name] is not None:
                assert not msg[name].defects, name
        for part in msg.walk():
            assert not part.defects, (msg["Message-ID"], part.defects)
        assert msg["To"] == "bench@example.test"


def test_mix(messages: list[bytes], parsed: list[EmailMessage]) -> None:
    types = [m.get_content_type() for m in parsed]
    share = {t: types.count(t) / PARSED for t in set(types)}
    assert share["text/plain"] == pytest.approx(0.55, abs=0.05)
    assert share["multipart/alternative"] == pytest.approx(0.25, abs=0.05)
    assert share["multipart/mixed"] == pytest.approx(0.20, abs=0.05)
    for msg in parsed:
        if msg.get_content_type() == "multipart/mixed":
            [attachment] = list(msg.iter_attachments())
            assert attachment["Content-Transfer-Encoding"] == "base64"
            name = attachment.get_filename()
            assert name is not None
            assert name.rsplit(".", 1)[1] in {"pdf", "jpg", "docx"}
            assert attachment.get_content()[:4] in {b"%PDF", b"\xff\xd8\xff\xe0", b"PK\x03\x04"}
        elif msg.get_content_type() == "multipart/alternative":
            plain, html = msg.get_payload()
            assert (plain.get_content_type(), html.get_content_type()) == (
                "text/plain",
                "text/html",
            )
    accented = [m for m in parsed if re.search("[äöüßéëï]", body_text(m))]
    assert 0.12 * PARSED < len(accented) < 0.28 * PARSED
    ctes = {m["Content-Transfer-Encoding"] for m in parsed}
    assert {"7bit", "8bit", "quoted-printable"} <= ctes
    # RFC 2047 encoded words for non-ASCII names and subjects; headers stay ASCII
    encoded = [i for i, raw in enumerate(messages[:PARSED]) if b"=?utf-8?" in raw[:2000]]
    assert len(encoded) > 0.1 * PARSED
    assert any(not str(parsed[i]["From"]).isascii() for i in encoded)
    assert any(not str(parsed[i]["Subject"]).isascii() for i in encoded)
    assert all(raw.split(b"\r\n\r\n", 1)[0].isascii() for raw in messages)


def test_rare_words(messages: list[bytes], parsed: list[EmailMessage]) -> None:
    # On the raw bytes of all messages (the words are never split by a QP soft break) ...
    lowered = [raw.lower() for raw in messages]
    zeppelin = [i for i, raw in enumerate(lowered) if b"zeppelin" in raw]
    assert len(zeppelin) == COUNT // 1000
    assert sorted(i // 1000 for i in zeppelin) == list(range(COUNT // 1000))  # one per block
    quarterly = sum(b"quarterly" in raw for raw in lowered)
    assert 0.04 * COUNT < quarterly < 0.06 * COUNT
    kaleidoscope = sum(b"kaleidoscope" in raw for raw in lowered)
    assert 0.005 * COUNT < kaleidoscope < 0.015 * COUNT
    # ... and the raw count is the body-text count: decoded text agrees, headers never have them.
    for raw, msg in zip(lowered, parsed, strict=False):
        text = body_text(msg).lower()
        for word in RARE:
            assert (word.encode() in raw) == (word in text)
        assert not any(w.encode() in raw.split(b"\r\n\r\n", 1)[0] for w in RARE)


def test_replies_point_back(messages: list[bytes]) -> None:
    seen: dict[str, dict[str, str]] = {}
    replies = 0
    for raw in messages:
        h = headers(raw)
        msgid = h["message-id"]
        assert re.fullmatch(r"<[0-9a-f]+\.[0-9a-f]+@[a-z0-9.-]+\.test>", msgid)
        assert msgid not in seen, "duplicate Message-ID"
        parent_id = h.get("in-reply-to")
        if parent_id is not None:
            replies += 1
            assert parent_id in seen, "reply to a message not generated before it"
            refs = h["references"].split()
            assert refs[-1] == parent_id
            assert all(ref in seen for ref in refs)
            assert len(refs) <= 10
            parent = seen[parent_id]
            parent_refs = parent.get("references", "").split()
            if len(parent_refs) < 9:
                assert refs == [*parent_refs, parent_id]
            else:
                assert refs[0] == parent_refs[0]  # trimmed, root kept
            assert h["subject"].startswith("Re: ")
            assert not h["subject"].startswith("Re: Re:")
            assert h["subject"] == "Re: " + parent["subject"].removeprefix("Re: ")
        else:
            assert "references" not in h
            assert not h["subject"].startswith("Re:")
        seen[msgid] = h
    assert 0.26 * COUNT < replies < 0.34 * COUNT


def test_dates_increase(messages: list[bytes]) -> None:
    dates = [parsedate_to_datetime(headers(raw)["date"]) for raw in messages]
    assert dates == sorted(dates)
    assert dates[0].year == 2016
    assert dates[-1].year == 2025
