"""The webmail's HTTP rules, through Starlette's TestClient: CSRF, redirects, cookies, CSP,
attachment headers, limits, settings and folders."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from postbus.web import session
from postbus.web.pages import safe_next
from tests.web.conftest import Client
from tests.web.live import OTHER_ADDRESS, OTHER_PASSWORD


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/mail/3/4?images=1", "/mail/3/4?images=1"),
        ("/settings", "/settings"),
        ("//evil.example/", "/mail"),
        ("/\\evil.example/", "/mail"),
        ("https://evil.example/", "/mail"),
        ("javascript:alert(1)", "/mail"),
        ("mail", "/mail"),
        ("/\tevil", "/mail"),
        ("", "/mail"),
        (None, "/mail"),
    ],
)
def test_only_local_paths_after_sign_in(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_not_signed_in_goes_to_sign_in_and_back(client: Client) -> None:
    response = client.http.get("/mail/1?before=5")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fmail%2F1%3Fbefore%3D5"
    page = client.http.get(response.headers["location"])
    check = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed = client.http.post("/signin", data={
        "csrf": check, "address": "demo@example.test", "password": "demo-password",
        "next": "/mail/1?before=5"})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/mail/1?before=5"


def test_open_redirect_refused_at_sign_in(client: Client) -> None:
    page = client.http.get("/signin")
    check = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed = client.http.post("/signin", data={
        "csrf": check, "address": "demo@example.test", "password": "demo-password",
        "next": "//evil.example/x"})
    assert signed.headers["location"] == "/mail"


def test_wrong_password_and_unknown_address_read_the_same(client: Client) -> None:
    wrong = client.sign_in(password="nope")
    unknown = client.sign_in(address="nobody@example.test", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail address or password." in wrong.text
    assert "Wrong e-mail address or password." in unknown.text
    assert session.SESSION_COOKIE not in client.http.cookies


def test_cookies_disabled_page(client: Client) -> None:
    response = client.http.post("/signin", data={"csrf": "x", "address": "a@b.c",
                                                 "password": "p"})
    assert response.status_code == 400
    assert "refuses cookies" in response.text


def test_session_cookie_flags_over_http(client: Client) -> None:
    response = client.sign_in()
    cookie = _set_cookie(response, session.SESSION_COOKIE)
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    assert "max-age" not in cookie.lower()  # a browser-session cookie


def test_session_cookie_is_secure_over_https_and_long_lived_when_asked(
    https_client: Client,
) -> None:
    response = https_client.sign_in(remember=True)
    cookie = _set_cookie(response, session.SESSION_COOKIE).lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=2592000" in cookie


def _set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return next(value for value in headers if value.startswith(name + "="))


def test_every_post_refuses_a_missing_or_wrong_csrf_token(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    posts = [
        route.path for route in client.http.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ()) and route.path != "/signin"
    ]
    assert len(posts) >= 7
    for path in posts:
        url = path.replace("{mailbox:int}", str(inbox)).replace("{uid:int}", "1")
        for data in ({}, {"csrf": "forged"}):
            response = client.http.post(url, data=data)
            assert response.status_code == 403, (url, data)
            assert "This form has expired" in response.text
    # the right token works
    response = client.http.post(f"/mail/{inbox}/act", data={
        "csrf": client.csrf(), "action": "read", "uid": "1"})
    assert response.status_code == 303


def test_sign_in_form_refuses_a_forged_token(client: Client) -> None:
    client.http.get("/signin")
    response = client.http.post("/signin", data={
        "csrf": "forged", "address": "demo@example.test", "password": "demo-password"})
    assert response.status_code == 403
    assert session.SESSION_COOKIE not in client.http.cookies


def test_csp_and_security_headers_on_every_page(client: Client) -> None:
    pages = [client.http.get("/signin"), client.http.get("/nothing-here")]
    client.sign_in()
    inbox = client.inbox_id()
    pages += [client.http.get(f"/mail/{inbox}"), client.http.get("/settings"),
              client.http.get("/compose"), client.http.get("/static/style.css")]
    for response in pages:
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert pages[1].status_code == 404
    assert "Not found" in pages[1].text


def _uid_of(client: Client, mailbox: int, subject: str) -> int:
    page = client.http.get(f"/mail/{mailbox}").text
    for uid, text in re.findall(r'href="/mail/\d+/(\d+)"(.*?)</a>', page, re.S):
        if subject in text:
            return int(uid)
    raise AssertionError(f"{subject!r} not in the list")


def test_message_frame_has_its_own_strict_csp(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    uid = _uid_of(client, inbox, "This month at Harbour")
    frame = client.http.get(f"/mail/{inbox}/{uid}/frame")
    csp = frame.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; img-src data:;")
    assert "sandbox" in csp and "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "https://images.example.test/banner.png" not in frame.text  # blocked
    assert "data:image/png;base64," in frame.text  # the cid: logo, from the message itself
    shown = client.http.get(f"/mail/{inbox}/{uid}/frame?images=1")
    assert "img-src data: https: http:" in shown.headers["content-security-policy"]
    assert "https://images.example.test/banner.png" in shown.text
    page = client.http.get(f"/mail/{inbox}/{uid}")
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
    assert "Show images" in page.text


def test_attachment_download_headers(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    uid = _uid_of(client, inbox, "Your invoice 2026-117")
    page = client.http.get(f"/mail/{inbox}/{uid}").text
    link = re.search(r'href="(/mail/\d+/\d+/part/[\d.]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.http.get(link)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="invoice-2026-117.pdf"')
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    original = client.http.get(f"/mail/{inbox}/{uid}/original")
    assert original.headers["content-type"] == "text/plain; charset=utf-8"
    assert b"Subject: Your invoice 2026-117" in original.content
    assert client.http.get(f"/mail/{inbox}/{uid}/part/9").status_code == 404
    assert client.http.get(f"/mail/{inbox}/{uid}/part/x").status_code == 404


def test_other_accounts_data_is_not_reachable(client: Client) -> None:
    client.sign_in()
    demo_inbox = client.inbox_id()
    client.http.cookies.clear()
    client.sign_in(OTHER_ADDRESS, OTHER_PASSWORD)
    assert client.inbox_id() != demo_inbox
    assert client.http.get(f"/mail/{demo_inbox}").status_code == 404
    assert client.http.get(f"/mail/{demo_inbox}/1").status_code == 404
    assert client.http.get(f"/mail/{demo_inbox}/1/frame").status_code == 404
    assert client.http.get(f"/mail/{demo_inbox}/1/part/1").status_code == 404


def test_upload_over_the_limit_is_refused_while_it_arrives(client: Client) -> None:
    client.sign_in()
    response = client.http.post("/settings", content=b"x" * (300 * 1024),
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_expired_session_goes_back_to_sign_in(client: Client) -> None:
    client.sign_in()
    client.http.cookies.set(session.SESSION_COOKIE, "not-a-session")
    response = client.http.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fsettings&expired=1"
    assert "session has ended" in client.http.get(response.headers["location"]).text


def test_sign_out_ends_the_session_on_the_server(client: Client) -> None:
    client.sign_in()
    token = client.http.cookies[session.SESSION_COOKIE]
    response = client.http.post("/signout", data={"csrf": client.csrf()})
    assert response.headers["location"] == "/signin?signed_out=1"
    client.http.cookies.set(session.SESSION_COOKIE, token)  # a stolen copy is worthless now
    assert client.http.get("/settings").status_code == 303


def test_language_setting_translates_the_pages(client: Client) -> None:
    client.sign_in()
    response = client.http.post("/settings", data={
        "csrf": client.csrf(), "language": "nl", "page_size": "25", "signature": "Groet,\nDemo",
        "display_name": "Demo Gebruiker"})
    assert response.status_code == 303
    page = client.http.get("/mail", follow_redirects=True).text
    assert 'lang="nl"' in page and "Postvak IN" in page and "Schrijven" in page
    compose = client.http.get("/compose").text
    assert "-- \nGroet,\nDemo" in compose


@pytest.mark.parametrize("lang, word", [("nl", "Inloggen"), ("de", "Anmelden"),
                                         ("fr", "Se connecter"), ("es", "Iniciar sesión"),
                                         ("en", "Sign in")])
def test_sign_in_page_in_five_languages(client: Client, lang: str, word: str) -> None:
    response = client.http.get("/signin", headers={"accept-language": f"{lang},en;q=0.5"})
    assert f'lang="{lang}"' in response.text
    assert word in response.text


def test_password_change(client: Client) -> None:
    client.sign_in()
    token = client.csrf()
    weak = client.http.post("/settings/password", data={
        "csrf": token, "current": "demo-password", "new": "short", "again": "short"})
    assert weak.status_code == 400 and "too short" in weak.text
    wrong = client.http.post("/settings/password", data={
        "csrf": token, "current": "nope", "new": "a-much-better-pass", "again":
        "a-much-better-pass"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    ok = client.http.post("/settings/password", data={
        "csrf": token, "current": "demo-password", "new": "a-much-better-pass",
        "again": "a-much-better-pass"})
    assert ok.headers["location"] == "/settings?notice=password"
    client.http.cookies.clear()
    assert client.sign_in(password="demo-password").status_code == 401
    assert client.sign_in(password="a-much-better-pass").status_code == 303


def test_client_setup_lists_the_listeners(client: Client) -> None:
    client.sign_in()
    page = client.http.get("/settings/setup").text
    assert "mail.example.test" in page and "993" in page and "SSL/TLS" in page
    assert "demo@example.test" in page


def test_folders_create_rename_delete(client: Client) -> None:
    client.sign_in()
    token = client.csrf()
    assert client.http.post("/folders/create", data={"csrf": token, "name": "Projects"}
                            ).status_code == 303
    assert client.http.post("/folders/create", data={"csrf": token, "name": "2026",
                                                     "parent": "Projects"}).status_code == 303
    names = [m.name for m in client.run(client.store.list_mailboxes, 1)]
    assert "Projects/2026" in names
    bad = client.http.post("/folders/create", data={"csrf": token, "name": "a/b"})
    assert bad.status_code == 400
    child = next(m for m in client.run(client.store.list_mailboxes, 1)
                 if m.name == "Projects/2026")
    assert client.http.post(f"/folders/{child.id}/rename", data={
        "csrf": token, "name": "2027"}).status_code == 303
    names = [m.name for m in client.run(client.store.list_mailboxes, 1)]
    assert "Projects/2027" in names
    page = client.http.get("/mail", follow_redirects=True).text
    order = [page.index(label) for label in ("Inbox", "Drafts", "Sent", "Archive", "Spam",
                                             "Trash", "Projects", "2027")]
    assert order == sorted(order)
    subscribed = client.run(client.store.list_subscriptions, 1)
    assert "Projects/2027" in subscribed and "Projects/2026" not in subscribed
    assert client.http.post(f"/folders/{child.id}/delete", data={"csrf": token}
                            ).status_code == 303
    # deleted here, the folder is unsubscribed too: IMAP clients do not list it any more
    assert "Projects/2027" not in client.run(client.store.list_subscriptions, 1)
    inbox = client.inbox_id()
    refused = client.http.post(f"/folders/{inbox}/delete", data={"csrf": token})
    assert refused.status_code == 400


def test_sending_to_a_domain_of_ours_without_that_user_is_refused(client: Client) -> None:
    client.sign_in()
    response = client.http.post("/compose", data={
        "csrf": client.csrf(), "from": "demo@example.test", "to": "ghost@example.test",
        "subject": "hi", "body": "hello", "action": "send"})
    assert response.status_code == 400
    assert "There is no mailbox ghost@example.test here." in response.text


def test_from_must_be_ones_own_address(client: Client) -> None:
    client.sign_in()
    response = client.http.post("/compose", data={
        "csrf": client.csrf(), "from": "ann@example.test", "to": "ann@example.test",
        "subject": "hi", "body": "hello", "action": "send"})
    assert response.status_code == 400
    assert "cannot send from that address" in response.text


def test_always_show_images_from_this_sender(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    uid = _uid_of(client, inbox, "This month at Harbour")
    page = client.http.get(f"/mail/{inbox}/{uid}").text
    assert "Always show images from this sender" in page
    refused = client.http.post(f"/mail/{inbox}/{uid}/images", data={"csrf": "forged"})
    assert refused.status_code == 403
    saved = client.http.post(f"/mail/{inbox}/{uid}/images", data={"csrf": client.csrf()})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/mail/{inbox}/{uid}"
    page = client.http.get(f"/mail/{inbox}/{uid}").text
    assert "Show images" not in page
    assert f'src="/mail/{inbox}/{uid}/frame?images=1"' in page
    frame = client.http.get(f"/mail/{inbox}/{uid}/frame")
    assert "https://images.example.test/banner.png" in frame.text
    client.http.post(f"/mail/{inbox}/{uid}/images", data={"csrf": client.csrf()})  # twice: once

    async def senders() -> str | None:
        account = await client.store.find_account("demo@example.test")
        return await client.store.get_setting(account.id, "web.image_senders")

    listed = client.run(senders)
    assert listed is not None and len(listed.split("\n")) == 1 and "@" in listed


def test_scripts_are_compressed_pages_are_not(client: Client) -> None:
    """Static files travel gzipped; pages do not (they hold a CSRF token: BREACH)."""
    gzip = {"Accept-Encoding": "gzip"}
    script = client.http.get("/static/htmx.min.js", headers=gzip)
    assert script.status_code == 200
    assert script.headers["content-encoding"] == "gzip"
    page = client.http.get("/signin", headers=gzip)
    assert "content-encoding" not in page.headers
