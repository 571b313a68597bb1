"""The settings form over HTTP: the list mode and compose format choices are saved, honoured by
the list and the compose page, and refused (400, nothing saved) outside their fixed sets."""

from __future__ import annotations

from typing import Any

import pytest

from postbus.demo.seed import DEMO_ADDRESS
from postbus.store import settings as settings_rows
from tests.web.conftest import Client


def stored(client: Client) -> dict[str, str]:
    async def settings() -> Any:
        account = await client.store.find_account(DEMO_ADDRESS)
        return await client.store.read(
            lambda tx: settings_rows.all_settings(tx, account.id))

    return dict(client.run(settings))


def save(client: Client, **fields: str) -> Any:
    return client.http.post("/settings", data={"csrf": client.csrf(), "page_size": "50",
                                               **fields})


def test_the_choices_are_shown_with_the_current_values(client: Client) -> None:
    client.sign_in()
    page = client.http.get("/settings").text
    assert '<legend>Message list</legend>' in page and '<legend>Compose in</legend>' in page
    assert 'name="list_mode" value="messages" checked' in page
    assert 'name="compose_format" value="html" checked' in page
    assert save(client, list_mode="conversations", compose_format="plain").status_code == 303
    page = client.http.get("/settings").text
    assert 'name="list_mode" value="conversations" checked' in page
    assert 'name="compose_format" value="plain" checked' in page
    assert 'value="messages" checked' not in page and 'value="html" checked' not in page


def test_saved_choices_reach_the_list_and_the_compose_page(client: Client) -> None:
    client.sign_in()
    assert 'data-format="html"' in client.http.get("/compose").text
    response = save(client, list_mode="conversations", compose_format="plain")
    assert response.headers["location"] == "/settings?notice=settings"
    settings = stored(client)
    assert settings["web.list_mode"] == "conversations"
    assert settings["web.compose_format"] == "plain"
    inbox = client.inbox_id()
    assert 'class="messages conversations' in client.http.get(f"/mail/{inbox}").text
    assert 'data-format="plain"' in client.http.get("/compose").text
    # back again, and the list's own switch writes the same setting the form shows
    save(client, list_mode="messages", compose_format="html")
    assert stored(client)["web.list_mode"] == "messages"
    assert 'data-format="html"' in client.http.get("/compose").text
    client.http.post(f"/mail/{inbox}/mode", data={"csrf": client.csrf(),
                                                  "mode": "conversations"})
    assert 'name="list_mode" value="conversations" checked' in client.http.get(
        "/settings").text


def test_a_reply_starts_in_the_chosen_format(client: Client) -> None:
    client.sign_in()
    inbox = client.inbox_id()
    page = client.http.get(f"/mail/{inbox}").text
    uid = page.split(f'href="/mail/{inbox}/', 1)[1].split('"', 1)[0]
    assert uid.isdigit()
    reply = f"/compose?reply={inbox}:{uid}&mode=reply"
    assert 'data-format="html"' in client.http.get(reply).text
    save(client, compose_format="plain")
    assert 'data-format="plain"' in client.http.get(reply).text


@pytest.mark.parametrize("fields", [
    {"list_mode": "threads"},
    {"list_mode": "Conversations"},
    {"compose_format": "markdown"},
    {"compose_format": "plain ", "list_mode": "conversations"},
    {"list_mode": "x" * 5000},
])
def test_a_value_outside_the_choices_is_refused_and_nothing_saved(
    client: Client, fields: dict[str, str]
) -> None:
    client.sign_in()
    response = save(client, display_name="Changed Name", language="nl", **fields)
    assert response.status_code == 400
    assert "That choice does not exist; the settings were not saved." in response.text
    assert 'role="alert"' in response.text
    settings = stored(client)
    assert "web.list_mode" not in settings and "web.compose_format" not in settings
    assert "web.language" not in settings
    assert "Changed Name" not in client.http.get("/settings").text


def test_absent_choices_leave_the_settings_as_they_were(client: Client) -> None:
    client.sign_in()
    save(client, list_mode="conversations", compose_format="plain")
    assert save(client, signature="Bye").status_code == 303
    settings = stored(client)
    assert settings["web.list_mode"] == "conversations"
    assert settings["web.compose_format"] == "plain"


def test_without_the_csrf_token_nothing_is_saved(client: Client) -> None:
    client.sign_in()
    client.csrf()  # a signed-in session with a token the forger does not know
    for check in ({}, {"csrf": "forged"}):
        response = client.http.post("/settings", data={
            **check, "list_mode": "conversations", "compose_format": "plain"})
        assert response.status_code == 403
    settings = stored(client)
    assert "web.list_mode" not in settings and "web.compose_format" not in settings


def test_the_refusal_is_translated(client: Client) -> None:
    client.sign_in()
    save(client, language="nl")
    response = save(client, language="nl", compose_format="rtf")
    assert response.status_code == 400
    assert "Die keuze bestaat niet; de instellingen zijn niet opgeslagen." in response.text
    page = client.http.get("/settings").text
    assert "<legend>Berichtenlijst</legend>" in page and "Opgemaakte tekst" in page
