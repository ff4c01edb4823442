"""Connect Mastodon through the hosted app: the instance typed by the relay, the app registered once,
code + PKCE against mastodon-mock, the grant sealed, revoke now through the end-of-access path."""

import html
import json
import re

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, FORM, Browser, load_function, receipt_of, relay_of, table_snapshot

pytestmark = pytest.mark.xdist_group("mastodon")


@pytest.fixture
def sandbox():
    from relaycast_local.sandbox_mastodon import SandboxMastodon

    with SandboxMastodon(domain="mastodon.sandbox") as server:
        yield server


@pytest.fixture
def client(stack_env, sandbox, frozen_clock, monkeypatch):
    """An event offering X (approve-each) and Mastodon (auto), with the sandbox instance allowed."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    config = parse_event_config({**EVENT, "networks": ["x", "mastodon"], "modes": {"mastodon": "auto"}, "mastodon_source": "mastodon.social"})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    settings_module.reset_caches()
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def connect_mastodon(browser, sandbox, username, body="instance=mastodon.sandbox"):
    answer = browser.post("/connect/mastodon", body)
    assert answer.status_code == 302, answer.body
    params = sandbox.consent(answer.headers["Location"], username)
    return browser.get(f"/callback/mastodon?{'&'.join(f'{k}={v}' for k, v in params.items())}")


def test_the_page_offers_both_networks_with_their_modes(client):
    body = client.http.get("/").body.decode()
    assert "Connect X" in body and "Connect Mastodon" in body
    assert "On Mastodon, relaycast boosts the selected posts for you" in body
    assert 'name="instance"' in body and '<label for="instance">' in body


def test_connect_mastodon_registers_once_stores_sealed_tokens_and_revokes(client, store, sandbox):
    sandbox.add_account("alice")
    sandbox.add_account("bruno")
    browser = Browser(client)
    landed = connect_mastodon(browser, sandbox, "alice")
    assert landed.status_code == 303, landed.body
    token = landed.headers["Location"].split("t=", 1)[1]
    (grant,) = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    assert grant["network"] == "mastodon" and grant["instance"] == "mastodon.sandbox" and grant["mode"] == "auto"
    assert grant["username"] == "alice@mastodon.sandbox" and re.fullmatch(r"r-[0-9a-f]{24}", grant["relay_id"])
    custody = store.custody(grant["grant_id"])  # the tokens, held apart from the grant under its id
    assert "tokens" not in grant and not isinstance(custody["tokens"], str)  # sealed bytes, never the token text
    # The authorize URL carried PKCE S256 and the scopes relaycast needs.
    assert connect_mastodon(Browser(client), sandbox, "bruno").status_code == 303
    assert len(sandbox.apps()) == 1  # registered once, then read from the table
    assert len([i for i in store.table.scan()["Items"] if i["kind"] == "instance_app"]) == 1

    page = browser.get(f"/relay?t={token}").body.decode()
    assert "@alice@mastodon.sandbox" in page and "Mastodon" in page
    access = [r for r in sandbox.requests if r.path == "/api/v1/accounts/verify_credentials"]
    assert access  # identity was read with the new token

    assert browser.post("/relay/revoke", f"t={token}&network=mastodon").status_code == 303
    assert store.grant(grant["relay_id"], "mastodon") is None
    receipt = receipt_of(store, grant["relay_id"], "mastodon")
    assert receipt["status"] == "done" and receipt["confirmed"] is True
    assert "refused by mastodon.sandbox" in receipt["verification"]["mastodon"]
    assert "Access ended" in browser.get(f"/relay?t={token}").body.decode()


def test_a_relay_adds_mastodon_to_their_x_dashboard(client, store, sandbox, x_sandbox):
    sandbox.add_account("carla")
    browser = Browser(client, x_sandbox)
    token = browser.connect("carla_x")
    page = browser.get(f"/relay?t={token}").body.decode()
    assert "Connect another network" in page and 'action="https://localhost/connect/mastodon"' in page
    asked = connect_mastodon(browser, sandbox, "carla", body=f"instance=mastodon.sandbox&t={token}")
    assert "Link @carla@mastodon.sandbox on Mastodon to your relaycast dashboard?" in html.unescape(asked.body.decode())
    landed = browser.answer_link(asked)
    assert landed.status_code == 303
    relay_id = relay_of(token)
    assert {g["network"] for g in store.relay_items(relay_id, "GRANT#")} == {"x", "mastodon"}
    assert "Connect another network" not in browser.get(f"/relay?t={token}").body.decode()


@pytest.mark.parametrize(
    ("instance", "status", "words"),
    [
        ("", 400, "type the address of your Mastodon instance"),
        ("127.0.0.1", 400, "IP address"),
        ("2130706433", 400, "IP address"),
        ("0x7f.1", 400, "IP address"),
        ("[::1]", 400, "IP address"),
        ("localhost", 400, "not a public internet domain"),
        ("http://mastodon.social", 400, "Only https://"),
        ("https://mastodon.social:8443", 400, "standard https port"),
        ("https://user:pw@mastodon.social", 400, "without a user name"),
        ("metadata.google.internal", 400, "not a public internet domain"),
        ("a" * 300 + ".social", 400, "too long"),
    ],
)
def test_a_hostile_instance_gets_a_4xx_page_and_nothing_is_stored_or_contacted(client, store, sandbox, instance, status, words):
    from urllib.parse import quote

    before, requests_before = table_snapshot(store), len(sandbox.requests)
    answer = client.http.post("/connect/mastodon", body=f"instance={quote(instance)}", headers=FORM)
    assert answer.status_code == status
    assert words in answer.body.decode()
    assert table_snapshot(store) == before
    assert len(sandbox.requests) == requests_before


def test_the_refusal_speaks_french(client, store):
    answer = client.http.post("/connect/mastodon", body="instance=127.0.0.1&lang=fr", headers=FORM)
    assert answer.status_code == 400 and "Une adresse IP n'est pas acceptée" in html.unescape(answer.body.decode())


def test_a_callback_for_another_network_than_started_is_refused(client, store, sandbox):
    sandbox.add_account("dora")
    browser = Browser(client)
    started = browser.post("/connect/mastodon", "instance=mastodon.sandbox")
    params = sandbox.consent(started.headers["Location"], "dora")
    before = table_snapshot(store)
    answer = browser.get(f"/callback/x?state={params['state']}&code={params['code']}")
    assert answer.status_code == 400 and "another network" in answer.body.decode()
    assert table_snapshot(store) == before
    assert json.dumps([]) == json.dumps([i for i in store.table.scan()["Items"] if i["kind"] == "grant"])
