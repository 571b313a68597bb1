"""Composing over HTTP (TestClient): rich text sanitised and sent as multipart/alternative,
drafts that keep their HTML, staged uploads, address suggestions."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

from tests.web.conftest import Client
from tests.web.live import OTHER_ADDRESS, OTHER_PASSWORD

EVIL = ('<div>Hi <b>Ann</b>,<img src="x" onerror="alert(1)"></div>'
        '<script>alert(2)</script><div onclick="alert(3)">see <a href="javascript:alert(4)">'
        'this</a> and <a href="https://example.test/plan">the plan</a></div>'
        '<blockquote><div>quoted line</div></blockquote>')


def newest(client: Client, address: str, folder: str) -> EmailMessage:
    raw = newest_raw(client, address, folder)
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def newest_raw(client: Client, address: str, folder: str) -> bytes:
    async def read() -> bytes:
        account = await client.store.find_account(address)
        if folder.startswith("\\"):
            mailbox = await client.store.special_mailbox(account.id, folder)
        else:
            mailbox = await client.store.get_mailbox(account.id, folder)
        found = (await client.store.newest(account.id, mailbox.id, 1))[0]
        return await client.store.read_body(account.id, found.message_id)

    return client.run(read)  # type: ignore[no-any-return]


def ref_of(client: Client, address: str, folder: str, subject: str) -> tuple[int, int]:
    async def find() -> tuple[int, int]:
        account = await client.store.find_account(address)
        if folder.startswith("\\"):
            mailbox = await client.store.special_mailbox(account.id, folder)
        else:
            mailbox = await client.store.get_mailbox(account.id, folder)
        rows = await client.store.newest(account.id, mailbox.id, 100)
        return mailbox.id, next(r.uid for r in rows if r.subject.startswith(subject))

    return client.run(find)  # type: ignore[no-any-return]


def post(client: Client, **fields: Any) -> Any:
    data = {"csrf": client.csrf(), "from": "demo@example.test", "to": OTHER_ADDRESS,
            "subject": "Rich", "body": "", "action": "send", **fields}
    return client.http.post("/compose", data=data)


def test_rich_text_is_sanitised_and_sent_with_a_plain_part(client: Client) -> None:
    client.sign_in()
    response = post(client, html=EVIL, format="html", body="ignored plain text")
    assert response.status_code == 303
    message = newest(client, OTHER_ADDRESS, "INBOX")
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.get_payload()  # type: ignore[misc]
    assert plain.get_content_type() == "text/plain"
    assert rich.get_content_type() == "text/html"
    html = rich.get_content()
    assert "<b>Ann</b>" in html
    for bad in ("script", "onerror", "onclick", "javascript:", "alert", "<img"):
        assert bad not in html
    assert '<a href="https://example.test/plan"' in html
    text = plain.get_content().replace("\r\n", "\n")
    assert text.startswith("Hi Ann,\nsee this and the plan <https://example.test/plan>\n")
    assert "> quoted line" in text
    assert "ignored" not in text


def test_plain_format_sends_the_textarea_only(client: Client) -> None:
    client.sign_in()
    assert post(client, html="<div><b>not this</b></div>", format="plain",
                body="Just text.").status_code == 303
    message = newest(client, OTHER_ADDRESS, "INBOX")
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Just text."


def test_a_draft_keeps_its_html_and_reopens_as_rich_text(client: Client) -> None:
    client.sign_in()
    saved = post(client, html="<div>Draft with <i>style</i><img src=x onerror=alert(1)></div>",
                 format="html", action="save", subject="Keep me")
    assert saved.status_code == 303
    draft = newest(client, "demo@example.test", "\\Drafts")
    assert draft.get_content_type() == "multipart/alternative"
    mailbox, uid = ref_of(client, "demo@example.test", "\\Drafts", "Keep me")
    compose = client.http.get(f"/compose?draft={mailbox}:{uid}").text
    assert 'data-format="html"' in compose
    assert "Draft with &lt;i&gt;style&lt;/i&gt;" in compose  # the editor's HTML, escaped
    assert "onerror" not in compose
    assert "Draft with style" in compose  # and the plain textarea


def test_reply_quotes_in_html_and_text(client: Client) -> None:
    client.sign_in()
    inbox, uid = ref_of(client, "demo@example.test", "INBOX", "Floor plans")
    compose = client.http.get(f"/compose?reply={inbox}:{uid}&mode=reply").text
    assert "&lt;blockquote&gt;" in compose
    assert "\n&gt; " in compose  # the textarea's plain quote
    forward = client.http.get(f"/compose?reply={inbox}:{uid}&mode=forward").text
    assert "Forwarded message ----------&lt;/div&gt;" in forward
    assert "&lt;blockquote&gt;" in forward


def upload(client: Client, name: str, data: bytes, csrf: str | None = None) -> Any:
    return client.http.post("/compose/upload", files={"file": (name, data, "text/plain")},
                            headers={"X-CSRF-Token": csrf or client.csrf()})


def test_staged_upload_is_sent_then_gone(client: Client) -> None:
    client.sign_in()
    assert upload(client, "a.txt", b"x", csrf="forged").status_code == 403
    staged = upload(client, "menu.txt", b"soup\nbread\n")
    assert staged.status_code == 200
    token = staged.json()["token"]
    assert staged.json() == {"token": token, "name": "menu.txt", "size": 11}
    assert post(client, body="See attached.", staged=token).status_code == 303
    message = newest(client, OTHER_ADDRESS, "INBOX")
    attachments = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert [a.get_filename() for a in attachments] == ["menu.txt"]
    assert attachments[0].get_content() == b"soup\nbread\n"
    again = post(client, body="Again?", staged=token)  # used once, then removed
    assert again.status_code == 400
    assert "no longer there" in again.text


def test_staged_upload_removed_or_of_another_account_is_not_sent(client: Client) -> None:
    client.sign_in()
    token = upload(client, "secret.txt", b"mine").json()["token"]
    other = upload(client, "gone.txt", b"bye").json()["token"]
    removed = client.http.post(f"/compose/upload/{other}/remove",
                               headers={"X-CSRF-Token": client.csrf()})
    assert removed.status_code == 204
    assert "no longer there" in post(client, body="x", staged=other).text
    client.http.cookies.clear()
    client.sign_in(OTHER_ADDRESS, OTHER_PASSWORD)
    response = client.http.post("/compose", data={
        "csrf": client.csrf(), "from": OTHER_ADDRESS, "to": "demo@example.test",
        "subject": "steal", "body": "x", "action": "send", "staged": token})
    assert response.status_code == 400
    assert "no longer there" in response.text
    assert post(client, body="x", staged="../../postbus.sqlite3").status_code == 400


def test_upload_over_the_limit_is_refused(client: Client) -> None:
    import dataclasses

    client.sign_in()
    config = client.service.config
    client.service.config = dataclasses.replace(
        config, limits=dataclasses.replace(config.limits, max_message_size=4000))
    try:
        page = client.http.get("/compose").text
        assert 'data-max-file="3000"' in page
        refused = upload(client, "big.bin", b"x" * 3001)
        assert refused.status_code == 413
        assert refused.json()["error"] == "This file is too large to send."
        assert upload(client, "fits.bin", b"x" * 3000).status_code == 200
    finally:
        client.service.config = config


def test_plain_version_of_the_editor(client: Client) -> None:
    client.sign_in()
    response = client.http.post("/compose/plain", data={
        "csrf": client.csrf(), "html": "<ul><li>one</li></ul><script>x</script>"})
    assert response.status_code == 200
    assert response.text == "- one\n"


def test_suggestions_fragment(client: Client) -> None:
    client.sign_in()
    response = client.http.get("/compose/suggest", params={"q": "x@y.test, len", "field": "cc"})
    assert response.status_code == 200
    assert 'role="option"' in response.text and 'id="cc-option-1"' in response.text
    assert "lena" in response.text.lower()
    assert client.http.get("/compose/suggest", params={"q": "zzzz"}).text.strip() == ""
    client.http.cookies.clear()
    assert client.http.get("/compose/suggest", params={"q": "len"}).status_code in (302, 303)


def test_forward_as_attachment_sends_the_original_byte_for_byte(client: Client) -> None:
    client.sign_in()
    inbox, uid = ref_of(client, "demo@example.test", "INBOX", "Floor plans")

    async def original() -> bytes:
        account = await client.store.find_account("demo@example.test")
        (found,) = await client.store.summaries(account.id, inbox, [(uid, uid)])
        return await client.store.read_body(account.id, found.message_id)

    raw = client.run(original)
    page = client.http.get(f"/compose?reply={inbox}:{uid}&mode=attach").text
    assert "Floor plans" in page and ".eml" in page and 'value="message" checked' in page
    response = post(client, subject="Fwd: Floor plans", body="See the attached mail.",
                    source=f"{inbox}:{uid}", reply=f"{inbox}:{uid}", mode="attach",
                    keep="message")
    assert response.status_code == 303
    sent = newest(client, OTHER_ADDRESS, "INBOX")
    assert sent.get_content_type() == "multipart/mixed"
    text, attached = sent.get_payload()  # type: ignore[misc]
    assert text.get_content().startswith("See the attached mail.")
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] in ("7bit", "8bit")
    assert attached.get_filename().endswith(".eml")
    assert raw in newest_raw(client, OTHER_ADDRESS, "INBOX")  # as stored: its DKIM holds


def test_a_message_forwarded_as_attachment_without_keep_is_not_attached(client: Client) -> None:
    client.sign_in()
    inbox, uid = ref_of(client, "demo@example.test", "INBOX", "Floor plans")
    post(client, subject="Fwd: nothing", body="Nothing attached.", source=f"{inbox}:{uid}",
         mode="attach")
    assert newest(client, OTHER_ADDRESS, "INBOX").get_content_type() == "text/plain"


def drafts_subjects(client: Client) -> list[str]:
    async def read() -> list[str]:
        account = await client.store.find_account("demo@example.test")
        drafts = await client.store.special_mailbox(account.id, "\\Drafts")
        return [s.subject for s in await client.store.newest(account.id, drafts.id, 100)]

    return client.run(read)  # type: ignore[no-any-return]


def test_autosave_keeps_one_draft_and_sending_removes_it(client: Client) -> None:
    client.sign_in()
    before = drafts_subjects(client)
    fields = {"csrf": client.csrf(), "from": "demo@example.test", "to": OTHER_ADDRESS,
              "subject": "Half written", "body": "First words", "draft": ""}
    first = client.http.post("/compose/autosave", data=fields)
    assert first.status_code == 200 and ":" in first.text
    second = client.http.post("/compose/autosave",
                              data={**fields, "body": "More words", "draft": first.text})
    assert second.status_code == 200 and second.text != first.text
    assert drafts_subjects(client).count("Half written") == 1
    assert newest(client, "demo@example.test", "\\Drafts").get_content().startswith("More words")
    sent = post(client, subject="Half written", body="Done", draft=second.text)
    assert sent.status_code == 303
    assert drafts_subjects(client) == before


def test_autosave_refuses_what_saving_would(client: Client) -> None:
    client.sign_in()
    fields = {"from": "demo@example.test", "subject": "x", "body": "y"}
    assert client.http.post("/compose/autosave", data=fields).status_code == 403  # no CSRF
    forged = client.http.post("/compose/autosave",
                              data={**fields, "csrf": client.csrf(), "from": "ceo@example.net"})
    assert forged.status_code == 400
