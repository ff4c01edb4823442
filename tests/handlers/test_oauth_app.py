"""The hosted page and the callback's refusals, through Chalice's own test client on moto."""

import pytest
from chalice.test import Client

from handler_support import load_function


@pytest.fixture
def client(stack_env):
    app = load_function("oauth", "app").app
    with Client(app) as test_client:
        yield test_client


def table_snapshot(store):
    return sorted((i["pk"], i["sk"]) for i in store.table.scan()["Items"])


def test_hosted_page_tells_the_relay_what_they_allow(client):
    page = client.http.get("/")
    assert page.status_code == 200
    body = page.body.decode()
    for expected in ("Handler Test Summit", "#HTS26", "approve each repost", "At most <strong>3 reposts</strong>", "Connect X"):
        assert expected in body
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_connect_stores_a_short_lived_state_and_redirects_to_x_with_pkce(client, store):
    answer = client.http.post("/connect/x", body="email=relay%40example.net", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("https://x.com/i/oauth2/authorize?")
    assert "code_challenge_method=S256" in location and "offline.access" in location.replace("+", " ").replace("%20", " ")
    states = [i for i in store.table.scan()["Items"] if i["kind"] == "state"]
    assert len(states) == 1 and states[0]["email"] == "relay@example.net"
    assert states[0]["verifier"] not in location  # only the challenge leaves


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/callback/x", 400),  # no state
        ("/callback/x?state=short&code=abc", 400),  # malformed state
        ("/callback/x?state=" + "a" * 40 + "&code=abc", 400),  # unknown state
        ("/callback/x?state=" + "a" * 40 + "&error=access_denied", 403),
        ("/callback/x?state=" + "a" * 40 + "&code=" + "c" * 600, 400),  # oversize code
        ("/callback/mastodon?state=" + "a" * 40 + "&code=abc", 404),
        ("/connect/myspace", 404),
        ("/relay?t=forged", 403),
    ],
)
def test_bad_input_gets_a_4xx_page_and_stores_nothing(client, store, path, status):
    before = table_snapshot(store)
    answer = client.http.get(path)
    assert answer.status_code == status
    assert "text/html" in answer.headers["Content-Type"]
    assert table_snapshot(store) == before


def test_bad_email_is_refused_before_anything_is_stored(client, store):
    answer = client.http.post("/connect/x", body="email=not-an-address", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert table_snapshot(store) == []


def test_revoke_now_from_the_dashboard_ends_access_with_a_receipt(client, store, stack_env, monkeypatch):
    """The dashboard's revoke button runs the end-of-event path: revoked at X, tokens gone, receipt shown."""
    import html
    import re

    import boto3
    import requests

    from relaycast_local.sandbox_x import SandboxX

    with SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer") as x:
        monkeypatch.setenv("X_API_BASE", x.base_url)
        monkeypatch.setenv("X_AUTHORIZE_URL", x.authorize_url)
        boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
        to_x = client.http.post("/connect/x", body="email=", headers={"Content-Type": "application/x-www-form-urlencoded"})
        page = requests.get(to_x.headers["Location"], timeout=5)
        fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
        back = requests.post(f"{x.base_url}/i/oauth2/authorize", data={**fields, "username": "relay_six", "decision": "allow"},
                             allow_redirects=False, timeout=5)
        callback = back.headers["Location"]
        landed = client.http.get(callback[callback.index("/callback/x"):])
        assert landed.status_code == 303
        token = landed.headers["Location"].split("t=", 1)[1]
        relay_id = f"x-{x.users['relay_six'].id}"
        assert store.grant(relay_id, "x") is not None
        assert 'action="https://' in client.http.get(f"/relay?t={token}").body.decode()  # the revoke form is there

        answer = client.http.post("/relay/revoke", body=f"t={token}", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 303
        assert not x.active_grants("relay_six")
        assert store.grant(relay_id, "x") is None
        page = client.http.get(f"/relay?t={token}").body.decode()
        assert "Access ended" in page and "you revoked access from your dashboard" in page
        assert "Revoke access now" not in page
        # A second click is harmless.
        assert client.http.post("/relay/revoke", body=f"t={token}", headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 303


@pytest.mark.parametrize(
    ("header", "form", "expected"),
    [("fr-FR,fr;q=0.9,en;q=0.8", "", "fr"), ("de-DE,en;q=0.5", "", "en"), ("fr", "&lang=en", "en"), (None, "&lang=xx", "en")],
)
def test_the_relays_language_is_kept_for_their_receipt(client, store, header, form, expected):
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"Accept-Language": header} if header else {})}
    assert client.http.post("/connect/x", body=f"email={form}", headers=headers).status_code == 302
    (state,) = [i for i in store.table.scan()["Items"] if i["kind"] == "state"]
    assert state["lang"] == expected
