"""The hosted page, the callback's refusals and the dashboard's actions, through Chalice's test client on moto."""

import html
import json
import re
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from chalice.test import Client

from handler_support import FORM, Browser, confirm_address, load_function, refusal_messages, relay_of, sent_mail, table_snapshot
from relaycast.storage import Store

@pytest.fixture
def client(stack_env):
    app = load_function("oauth", "app").app
    with Client(app) as test_client:
        yield test_client


def test_hosted_page_tells_the_relay_what_they_allow(client):
    page = client.http.get("/")
    assert page.status_code == 200
    body = page.body.decode()
    for expected in ("Handler Test Summit", "#HTS26", "you approve each repost", "At most 3 posts", "Connect X",
                     "encrypted, and deleted when access ends", "02/12/2026 20:00 CET", 'hreflang="fr"'):
        assert expected in body
    assert 'lang="en"' in body and "<script" not in body
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_speaks_french_when_asked_and_remembers_it(client):
    switched = client.http.get("/?lang=fr")
    body = switched.body.decode()
    assert '<html lang="fr">' in body and "Connecter X" in body and "Ce que vous autorisez" in body
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("relaycast_lang=fr;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the test client speaks https, as API Gateway does
    later = client.http.get("/", headers={"Cookie": "relaycast_lang=fr"}).body.decode()
    assert '<html lang="fr">' in later
    by_browser = client.http.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).body.decode()
    assert '<html lang="fr">' in by_browser


def test_every_catalogued_template_message_has_a_french_translation():
    """Every `_('…')` in a template, refusal and reason is in the French catalogue (a missing one would show English)."""
    from pathlib import Path

    from relaycast.i18n import FR

    folder = Path(__file__).resolve().parents[2] / "layers" / "relaycast" / "templates"
    found = set()
    for template in folder.glob("*.html"):
        found |= set(re.findall(r"""_\((?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""", template.read_text()))
    messages = {a or b for a, b in found}
    assert len(messages) > 40
    assert sorted(m for m in messages if m.replace("\\'", "'") not in FR) == []
    # And every refusal the relay can read: the relay errors and the instance checks.
    sources = (folder.parent / "relays.py").read_text() + (folder.parent / "netguard.py").read_text()
    refusals = refusal_messages(sources, "InstanceRejected")
    assert len(refusals) > 25
    assert sorted(m for m in refusals if m not in FR) == []
    # And every reason a pick can carry (`relaycast.reasons`), plural forms included.
    from relaycast.reasons import MESSAGES

    reasons = {text for m in MESSAGES.values() for text in (m.text, m.plural) if text}
    assert len(reasons) > 25
    assert sorted(m for m in reasons if m not in FR) == []


def test_connect_stores_a_short_lived_state_binds_the_browser_and_redirects_with_pkce(client, store):
    answer = client.http.post("/connect/x", body="email=relay%40example.net", headers=FORM)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("https://x.com/i/oauth2/authorize?")
    assert "code_challenge_method=S256" in location and "offline.access" in location.replace("+", " ").replace("%20", " ")
    (state,) = [i for i in store.table.scan()["Items"] if i["kind"] == "state"]
    assert state["email"] == "relay@example.net"
    assert state["verifier"] not in location  # only the challenge leaves
    cookie = answer.headers["Set-Cookie"]
    binding = cookie.split(";", 1)[0].split("=", 1)[1]
    assert cookie.startswith("relaycast_connect=") and "HttpOnly" in cookie and "Max-Age=600" in cookie
    assert binding not in json.dumps(state, default=str)  # stored hashed only


STATE = "a" * 40


def _bad_callbacks():
    """(id, how to build the callback from a started connect, expected status, words of the page)."""
    return [
        ("no-state", lambda s: "/callback/x?code=abc", 400, "missing or malformed"),
        ("malformed-state", lambda s: "/callback/x?state=short&code=abc", 400, "missing or malformed"),
        ("unknown-state", lambda s: f"/callback/x?state={STATE}&code=abc", 400, "unknown, expired or already used"),
        ("denied", lambda s: f"/callback/x?state={s['state']}&error=access_denied", 403, "You declined"),
        ("malformed-code", lambda s: f"/callback/x?state={s['state']}&code=%3Cscript%3E", 400, "malformed"),
        ("oversize-code", lambda s: f"/callback/x?state={s['state']}&code={'c' * 600}", 400, "malformed"),
        ("oversize-query", lambda s: f"/callback/x?state={s['state']}&code=abc&junk={'j' * 3000}", 413, "too large"),
        ("unknown-network", lambda s: f"/callback/myspace?state={s['state']}&code=abc", 404, "Unknown network"),
        ("network-not-offered", lambda s: f"/callback/mastodon?state={s['state']}&code=abc", 404, "not offered"),
    ]


@pytest.mark.parametrize(("build", "status", "words"), [c[1:] for c in _bad_callbacks()], ids=[c[0] for c in _bad_callbacks()])
def test_bad_callback_gets_a_4xx_page_and_stores_nothing(client, store, x_sandbox, build, status, words):
    browser = Browser(client, x_sandbox)
    consent_url = browser.start()
    state = dict(parse_qsl(urlsplit(consent_url).query))
    before = table_snapshot(store)
    answer = browser.get(build(state))
    assert answer.status_code == status
    assert "text/html" in answer.headers["Content-Type"]
    assert words in answer.body.decode()
    assert table_snapshot(store) == before


def test_wrong_verifier_is_refused_by_the_network_and_nothing_is_stored(client, store, x_sandbox):
    """A code issued for one connect, brought back with another connect's state, fails PKCE at X."""
    browser = Browser(client, x_sandbox)
    first = browser.consent(browser.start(), "relay_pkce")
    second_url = browser.start()
    second_state = dict(parse_qsl(urlsplit(second_url).query))["state"]
    code = dict(parse_qsl(urlsplit(first).query))["code"]
    before = table_snapshot(store)
    answer = browser.get(f"/callback/x?state={second_state}&code={code}")
    assert answer.status_code == 400 and "refused the connection" in answer.body.decode()
    assert [i for i in store.table.scan()["Items"] if i["kind"] == "grant"] == []
    # Only the used state is gone: single use even when the exchange fails.
    assert len(table_snapshot(store)) == len(before) - 1
    third_state = dict(parse_qsl(urlsplit(browser.start()).query))["state"]
    before = table_snapshot(store)
    forged = browser.get(f"/callback/x?state={third_state}&code=forged")
    assert forged.status_code == 400 and "refused the connection" in forged.body.decode()
    assert len(table_snapshot(store)) == len(before) - 1 and not any('"grant"' in i for i in table_snapshot(store))


def test_expired_replayed_and_foreign_browser_callbacks_are_refused(client, store, x_sandbox, frozen_clock):
    relay = Browser(client, x_sandbox)
    callback = relay.consent(relay.start(), "relay_replay")
    # Another browser (no cookie, or someone else's) cannot use the relay's callback.
    before = table_snapshot(store)
    stranger = Browser(client, x_sandbox)
    assert stranger.get(callback).status_code == 400
    stranger.cookies["relaycast_connect"] = "b" * 43
    refused = stranger.get(callback)
    assert refused.status_code == 400 and "another browser" in refused.body.decode()
    assert table_snapshot(store) == before
    # The relay's own browser succeeds once; the replay is refused and changes nothing.
    assert relay.get(callback).status_code == 303
    after_connect = table_snapshot(store)
    replay = relay.get(callback)
    assert replay.status_code == 400 and "already used" in replay.body.decode()
    assert table_snapshot(store) == after_connect
    # A state older than ten minutes is refused.
    late = relay.consent(relay.start(), "relay_late")
    frozen_clock.advance(minutes=11)
    before = table_snapshot(store)
    assert relay.get(late).status_code == 400
    assert table_snapshot(store) == before


def test_a_denied_scope_is_revoked_at_once_and_nothing_is_stored(client, store, x_sandbox):
    browser = Browser(client, x_sandbox)
    callback = browser.consent(browser.start(), "relay_narrow", scope="tweet.read users.read")
    before = table_snapshot(store)
    answer = browser.get(callback)
    assert answer.status_code == 403 and "tweet.write" in answer.body.decode()
    assert [i for i in store.table.scan()["Items"] if i["kind"] == "grant"] == []
    assert len(table_snapshot(store)) == len(before) - 1  # the consumed state only
    assert not x_sandbox.active_grants("relay_narrow")


def test_errors_speak_the_relays_language(client, store, x_sandbox):
    browser = Browser(client, x_sandbox, accept_language="fr-FR,fr;q=0.9")
    answer = browser.get(f"/callback/x?state={STATE}&code=abc")
    body = answer.body.decode()
    assert answer.status_code == 400 and '<html lang="fr">' in body
    assert "inconnue, expirée ou déjà utilisée" in body and "Retour à la page de l'événement" in body


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/connect/x", "email=not-an-address", 400),
        ("post", "/connect/x", "email=" + "a" * 3000, 413),
        ("get", "/connect/myspace", None, 404),
        ("post", "/connect/mastodon", "instance=mastodon.social", 404),  # not offered by this event
        ("get", "/relay?t=forged", None, 403),
        ("get", "/relay?t=" + "x" * 600, None, 403),
        ("post", "/relay/approve", "t=forged&post=1", 403),
        ("get", "/email/confirm?c=forged", None, 403),
        ("post", "/email/confirm", "c=forged", 403),
    ],
)
def test_bad_input_elsewhere_gets_a_4xx_page_and_stores_nothing(client, store, method, path, body, status):
    before = table_snapshot(store)
    answer = client.http.post(path, body=body, headers=FORM) if method == "post" else client.http.get(path)
    assert answer.status_code == status
    assert "text/html" in answer.headers["Content-Type"]
    assert table_snapshot(store) == before


@pytest.mark.parametrize(
    ("header", "form", "expected"),
    [("fr-FR,fr;q=0.9,en;q=0.8", "", "fr"), ("de-DE,en;q=0.5", "", "en"), ("fr", "&lang=en", "en"), (None, "&lang=xx", "en")],
)
def test_the_relays_language_is_kept_for_their_receipt(client, store, header, form, expected):
    headers = {**FORM, **({"Accept-Language": header} if header else {})}
    assert client.http.post("/connect/x", body=f"email={form}", headers=headers).status_code == 302
    (state,) = [i for i in store.table.scan()["Items"] if i["kind"] == "state"]
    assert state["lang"] == expected


def test_the_email_is_used_only_once_confirmed(client, store, x_sandbox):
    from relaycast import relays
    from relaycast.settings import Settings


    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_mail", body="email=mail%40example.net")
    relay_id = relay_of(token)
    grant = store.grant(relay_id, "x")
    assert "email" not in grant and grant["email_pending"] == "mail@example.net"
    (mail,) = sent_mail("mail@example.net", "confirm")
    link = re.search(r"https?://\S+/email/confirm\?c=(\S+)", mail.body)
    assert link, mail.body
    # Opening the link only shows a button: a mail scanner following it confirms nothing.
    shown = client.http.get(f"/email/confirm?c={link.group(1)}")
    assert shown.status_code == 200 and "mail@example.net" in shown.body.decode()
    assert re.search(r'<form method="post" action="[^"]*/email/confirm"', shown.body.decode())
    assert "email" not in store.grant(relay_id, "x")
    confirmed = client.http.post("/email/confirm", body=f"c={link.group(1)}", headers=FORM)
    assert confirmed.status_code == 303 and "/relay?t=" in confirmed.headers["Location"]
    grant = store.grant(relay_id, "x")
    assert grant["email"] == "mail@example.net" and "email_pending" not in grant
    assert "Confirmed: mail@example.net" in browser.get(f"/relay?t={token}").body.decode()
    # The confirmed address, and only it, receives the dashboard link; a second confirm sends nothing more.
    (welcome,) = sent_mail("mail@example.net", "dashboard")
    mailed = re.search(r"/relay\?t=(\S+)", welcome.body).group(1)
    assert relays.relay_from_token(Store(Settings.from_env().table_name), Settings.from_env(), Settings.from_env().event(), mailed) == relay_id
    assert client.http.post("/email/confirm", body=f"c={link.group(1)}", headers=FORM).status_code == 303
    assert len(sent_mail("mail@example.net", "dashboard")) == 1


def test_dashboard_actions_pause_lower_cap_undo_and_revoke(client, store, x_sandbox):
    """The relay's levers, each through the dashboard's own forms."""
    from relaycast import publish
    from relaycast.networks.factory import x_network
    from relaycast.publish import PublishJob
    from relaycast.settings import Settings

    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_levers")
    relay_id = relay_of(token)
    page = browser.get(f"/relay?t={token}").body.decode()
    for action in ("pause", "cap", "revoke", "email"):
        assert f'/relay/{action}"' in page

    assert browser.post("/relay/pause", f"t={token}&network=x").status_code == 303
    assert store.grant(relay_id, "x")["status"] == "paused"
    assert "Paused" in browser.get(f"/relay?t={token}").body.decode()
    assert browser.post("/relay/resume", f"t={token}&network=x").status_code == 303
    assert store.grant(relay_id, "x")["status"] == "active"

    assert browser.post("/relay/cap", f"t={token}&network=x&cap=5").status_code == 400  # only lower
    assert browser.post("/relay/cap", f"t={token}&network=x&cap=-1").status_code == 400
    assert browser.post("/relay/cap", f"t={token}&network=x&cap=2").status_code == 303
    assert store.grant(relay_id, "x")["cap"] == 2

    settings = Settings.from_env()
    for post in ("1000", "1001", "1002"):
        publish.publish(store, settings, settings.event(), x_network(settings), PublishJob(relay_id=relay_id, network="x", post_id=post))
    statuses = {i["post_id"]: i["status"] for i in store.relay_items(relay_id, "LEDGER#")}
    assert statuses == {"1000": "published", "1001": "published", "1002": "skipped"}  # the lowered cap held
    assert {p for u, p in x_sandbox.retweets if u == x_sandbox.users["relay_levers"].id} == {"1000", "1001"}

    assert browser.post("/relay/undo", f"t={token}&network=x&post=1000").status_code == 303
    assert {p for u, p in x_sandbox.retweets if u == x_sandbox.users["relay_levers"].id} == {"1001"}
    assert store.get(f"RELAY#{relay_id}", "LEDGER#x#1000")["status"] == "undone"
    assert browser.post("/relay/undo", f"t={token}&network=x&post=1000").status_code == 303  # a double click
    assert browser.post("/relay/undo", f"t={token}&network=x&post=1002").status_code == 409  # never published
    assert "undone" in browser.get(f"/relay?t={token}").body.decode()

    assert browser.post("/relay/revoke", f"t={token}&network=x").status_code == 303
    assert not x_sandbox.active_grants("relay_levers")
    assert store.grant(relay_id, "x") is None
    page = browser.get(f"/relay?t={token}").body.decode()
    assert "Access ended" in page and "you revoked access from your dashboard" in page
    assert "Revoke access now" not in page
    assert browser.post("/relay/revoke", f"t={token}&network=x").status_code == 303  # harmless twice
    assert browser.post("/relay/pause", f"t={token}&network=x").status_code == 409  # nothing left to pause


def test_revoke_sends_the_receipt_to_the_confirmed_address_only(client, store, x_sandbox):
    from relaycast.settings import Settings

    browser = Browser(client, x_sandbox, accept_language="fr")
    token = browser.connect("relay_rcpt", body="email=rcpt%40example.net")
    assert browser.post("/relay/revoke", f"t={token}&network=x").status_code == 303
    assert sent_mail("rcpt@example.net", "révoqué") == []  # never confirmed: the receipt stays on the page
    page = html.unescape(browser.get(f"/relay?t={token}").body.decode())
    assert "Accès terminé" in page and "vous avez révoqué l'accès depuis votre tableau de bord" in page
    assert "jetons d'accès et de renouvellement refusés par X après la révocation" in page
    other = Browser(client, x_sandbox)
    token = other.connect("relay_rcpt2", body="email=rcpt2%40example.net")
    confirm_address(store, Settings.from_env(), "rcpt2@example.net")
    assert other.post("/relay/revoke", f"t={token}&network=x").status_code == 303
    assert len(sent_mail("rcpt2@example.net", "revoked")) == 1


def test_a_second_network_joins_the_same_dashboard(client, store, x_sandbox, monkeypatch):
    """Connecting from the dashboard keeps one relay: the state carries who is connecting."""
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_two_nets")
    relay_id = relay_of(token)
    answer = browser.post("/connect/x", f"t={token}")
    assert answer.status_code == 302
    (state,) = [i for i in store.table.scan()["Items"] if i["kind"] == "state"]
    assert state["relay_id"] == relay_id


def test_a_decided_proposal_cannot_be_decided_the_other_way(client, store, x_sandbox):
    from relaycast.settings import Settings

    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_decides")
    relay_id = relay_of(token)
    store.put_new({"pk": f"RELAY#{relay_id}", "sk": "PROPOSAL#x#1003", "kind": "proposal", "relay_id": relay_id, "network": "x",
                   "post_id": "1003", "status": "pending", "proposal_expires_at": Settings.from_env().event().retention_ends})
    assert browser.post("/relay/skip", f"t={token}&network=x&post=1003").status_code == 303
    assert browser.post("/relay/skip", f"t={token}&network=x&post=1003").status_code == 303  # a double click
    late = browser.post("/relay/approve", f"t={token}&network=x&post=1003")
    assert late.status_code == 409 and "no longer open (skipped)" in late.body.decode()
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1003")["status"] == "skipped"
