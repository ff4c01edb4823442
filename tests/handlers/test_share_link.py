"""Share-link mode through the hosted app on moto: joining without any token, the dashboard's share links,
the recorded click (once, under the cap) and the end of access with nothing to revoke upstream.

No network is reachable in these tests: any upstream call would fail them.
"""

import html
import re
import socket
from urllib.parse import quote

import boto3
import pytest
from chalice.test import Client

from handler_support import (EVENT, FORM, confirm_address, load_function, receipt_of, refusal_messages, sent_mail, sqs_event,
                             table_snapshot, ttl_outcomes, ttl_removal)

from relaycast import expire
from relaycast.settings import Settings
from relaycast.storage import Store

X_INTENT = "https://x.com/intent/retweet?tweet_id="


@pytest.fixture
def offline(monkeypatch):
    """Share-link mode needs no network: every attempt to reach one fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network was contacted: {args[:1]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def client(stack_env, frozen_clock, offline):
    """An event offering X and Mastodon, both in share-link mode."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    config = parse_event_config(
        {**EVENT, "networks": ["x", "mastodon"], "modes": {"x": "share-link", "mastodon": "share-link"},
         "mastodon_source": "mastodon.social"}
    )
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    settings_module.reset_caches()
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def join(client, network="x", body="username=relay_one", headers=None):
    """Join through the hosted page's form; returns (relay_id, dashboard token)."""
    answer = client.http.post(f"/connect/{network}", body=body, headers={**FORM, **(headers or {})})
    assert answer.status_code == 303, answer.body
    token = answer.headers["Location"].split("/relay?t=", 1)[1]
    settings = Settings.from_env()
    from relaycast.relays import relay_from_token

    return relay_from_token(Store(settings.table_name), settings, settings.event(), token), token


def propose(store, relay_id, post_id, network="x", url=None):
    """A pending proposal, as the round's state machine writes it."""
    store.put_new({
        "pk": f"RELAY#{relay_id}", "sk": f"PROPOSAL#{network}#{post_id}", "kind": "proposal", "relay_id": relay_id,
        "network": network, "post_id": post_id, "author": "amina_data", "text": f"Insight {post_id} #HTS26",
        "url": url or f"https://x.com/amina_data/status/{post_id}", "score": "0.9", "reasons": ["expert:2"],
        "status": "pending", "proposed_at": "2026-12-01T09:00:00+00:00",
        "proposal_expires_at": int(Settings.from_env().event().access_ends.timestamp()),
    })


def share(client, token, post_id, network="x", headers=None):
    return client.http.get(f"/relay/share?t={token}&network={network}&post={post_id}", headers=headers or {})


def test_the_page_says_relaycast_holds_no_token_and_offers_to_join(client):
    body = html.unescape(client.http.get("/").body.decode())
    assert "On X, relaycast holds no token" in body and "you boost it yourself" in body
    assert "Join X with share links" in body and "Join Mastodon with share links" in body
    assert 'name="username"' in body and 'name="instance"' in body
    assert "you approve each repost" not in body and "Connect X" not in body
    assert "and the access tokens" not in body  # nothing of the kind is stored in this mode
    french = html.unescape(client.http.get("/?lang=fr").body.decode())
    assert "relaycast ne détient aucun jeton" in french and "Rejoindre X avec des liens de partage" in french


def test_joining_stores_a_grant_without_any_token_and_lands_on_the_dashboard(client, store):
    relay_id, token = join(client, "x", "username=%40Relay_One&email=one%40example.net")
    (grant,) = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    assert grant["relay_id"] == relay_id and relay_id.startswith("x-link-")
    assert (grant["network"], grant["mode"], grant["status"], grant["cap"]) == ("x", "share-link", "active", 3)
    assert (grant["username"], grant["lang"], grant["published_count"]) == ("Relay_One", "en", 0)
    for absent in ("tokens", "token_expires_at", "scopes", "user_id", "email"):
        assert absent not in grant
    kinds = {i["kind"] for i in store.table.scan()["Items"]}
    assert kinds == {"grant", "quota"}  # no OAuth state, no sealed blob: the grant, and the budgets it was counted against
    # The address waits for its confirmation link, as after an OAuth connect.
    assert grant["email_pending"] == "one@example.net"
    confirm_address(store, Settings.from_env(), "one@example.net")
    assert store.grant(relay_id, "x")["email"] == "one@example.net"
    page = html.unescape(client.http.get(f"/relay?t={token}").body.decode())
    assert "Sharing by link on X as @Relay_One" in page
    assert "relaycast holds no token for this account" in page and "Stop sharing now" in page
    assert "Revoke access now" not in page


def test_joining_mastodon_keeps_the_instance_without_calling_it(client, store):
    relay_id, _ = join(client, "mastodon", "instance=https%3A%2F%2FFosstodon.ORG%2F")
    grant = store.grant(relay_id, "mastodon")
    assert (grant["instance"], grant["mode"]) == ("fosstodon.org", "share-link")
    assert "username" not in grant and "tokens" not in grant
    assert not [i for i in store.table.scan()["Items"] if i["kind"] == "instance_app"]  # no app registered there


def test_a_second_network_joins_the_same_dashboard(client, store):
    relay_id, token = join(client, "x", "username=relay_two")
    again, _ = join(client, "mastodon", f"t={token}&instance=fosstodon.org&username=%40relay_two%40Fosstodon.org")
    assert again == relay_id
    assert {g["network"] for g in store.relay_items(relay_id, "GRANT#")} == {"x", "mastodon"}
    # Named as Mastodon names authors, so the relay's own statuses are recognised wherever they are read.
    assert store.grant(relay_id, "mastodon")["username"] == "relay_two@fosstodon.org"


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/connect/x", "username=two+words", 400, "Type only your user name"),
        ("/connect/x", "username=" + "a" * 16, 400, "Type only your user name"),
        ("/connect/x", "username=relay%40x.com", 400, "Type only your user name"),
        ("/connect/mastodon", "instance=fosstodon.org&username=bruno%40mastodon.social", 400, "Type only your user name"),
        ("/connect/x", "email=not-an-address", 400, "does not look valid"),
        ("/connect/mastodon", "instance=", 400, "address of your Mastodon instance"),
        ("/connect/mastodon", "instance=127.0.0.1", 400, "IP address is not accepted"),
        ("/connect/mastodon", "instance=http%3A%2F%2Fmastodon.social", 400, "Only https"),
        ("/connect/mastodon", "instance=mastodon.local", 400, "not a public internet domain"),
        ("/connect/myspace", "username=a", 404, "Unknown network"),
        ("/connect/x", "t=forged&username=a", 403, "not valid"),
        ("/connect/x", "username=" + "a" * 3000, 413, "too large"),
    ],
)
def test_bad_join_input_gets_a_4xx_page_and_stores_nothing(client, store, path, body, status, words):
    before = table_snapshot(store)
    answer = client.http.post(path, body=body, headers=FORM)
    assert answer.status_code == status
    assert "text/html" in answer.headers["Content-Type"] and words in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before


def test_a_plain_link_to_connect_does_not_join(client, store):
    answer = client.http.get("/connect/x")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/")
    assert table_snapshot(store) == []


def test_the_dashboard_offers_the_share_link_instead_of_approve(client, store):
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1003")
    page = client.http.get(f"/relay?t={token}").body.decode()
    link = re.search(r'<a class="share" href="([^"]+)">Repost on X</a>', page)
    assert link, page
    assert html.unescape(link.group(1)).endswith(f"/relay/share?t={token}&network=x&post=1003")
    assert "/relay/approve" not in page  # nothing to approve: relaycast could not publish it anyway
    assert "/relay/skip" in page  # the relay may still set it aside


def test_the_click_is_recorded_once_and_leads_to_the_exact_repost_intent(client, store):
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1003")
    answer = share(client, token, "1003")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://x.com/intent/retweet?tweet_id=1003"
    assert answer.headers["Referrer-Policy"] == "no-referrer"  # the dashboard token never reaches X
    ledger = store.get(f"RELAY#{relay_id}", "LEDGER#x#1003")
    assert (ledger["status"], ledger["link"]) == ("shared", "https://x.com/amina_data/status/1003")
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1003")["status"] == "shared"
    assert store.grant(relay_id, "x")["published_count"] == 1
    # A second click leads there again and counts nothing more.
    after_first = table_snapshot(store)
    again = share(client, token, "1003")
    assert (again.status_code, again.headers["Location"]) == (303, X_INTENT + "1003")
    assert table_snapshot(store) == after_first
    page = client.http.get(f"/relay?t={token}").body.decode()
    assert "1 of 3 posts used" in page and '<span class="status">shared</span>' in page


def test_mastodon_boosts_from_the_relays_own_instance(client, store):
    relay_id, token = join(client, "mastodon", "instance=fosstodon.org&username=bruno")
    assert store.grant(relay_id, "mastodon")["username"] == "bruno@fosstodon.org"
    status = "https://mastodon.social/@amina/113400000000000001"
    propose(store, relay_id, "113400000000000001", network="mastodon", url=status)
    page = client.http.get(f"/relay?t={token}").body.decode()
    assert "Boost on your instance" in page
    answer = share(client, token, "113400000000000001", network="mastodon")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"https://fosstodon.org/authorize_interaction?uri={quote(status, safe='')}"
    assert store.grant(relay_id, "mastodon")["published_count"] == 1


def test_an_unfinished_click_is_resumed_without_counting_twice(client, store):
    """A click that reserved its count and stopped (a crash) is finished by the next one, still counted once."""
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1004")
    assert store.reserve_publish(relay_id, "x", "1004", 3) == "reserved"
    answer = share(client, token, "1004")
    assert (answer.status_code, answer.headers["Location"]) == (303, X_INTENT + "1004")
    assert store.get(f"RELAY#{relay_id}", "LEDGER#x#1004")["status"] == "shared"
    assert store.grant(relay_id, "x")["published_count"] == 1
    # Stopped later still: the proposal marked and the count taken, the record not finished.
    propose(store, relay_id, "1005")
    assert store.decide_proposal(relay_id, "x", "1005", "shared")
    assert store.reserve_publish(relay_id, "x", "1005", 3) == "reserved"
    answer = share(client, token, "1005")
    assert (answer.status_code, answer.headers["Location"]) == (303, X_INTENT + "1005")
    assert store.get(f"RELAY#{relay_id}", "LEDGER#x#1005")["status"] == "shared"
    assert store.grant(relay_id, "x")["published_count"] == 2


def test_the_cap_is_never_passed_and_the_refusal_speaks_the_relays_language(client, store):
    relay_id, token = join(client, "x", "lang=fr&username=relay_fr")
    for post in ("1001", "1002", "1003", "1004"):
        propose(store, relay_id, post)
    for post in ("1001", "1002", "1003"):
        assert share(client, token, post).status_code == 303
    assert store.grant(relay_id, "x")["published_count"] == 3
    page = html.unescape(client.http.get(f"/relay?t={token}").body.decode())
    assert "Votre plafond de 3 publications est atteint" in page and "post=1004" not in page
    before = table_snapshot(store)
    refused = share(client, token, "1004", headers={"Accept-Language": "en"})
    assert refused.status_code == 403 and "Location" not in refused.headers
    body = html.unescape(refused.body.decode())
    assert '<html lang="fr">' in body and "Votre plafond de 3 publications est atteint" in body
    assert table_snapshot(store) == before
    assert store.get(f"RELAY#{relay_id}", "PROPOSAL#x#1004")["status"] == "pending"


def test_a_lowered_cap_holds_for_shares(client, store):
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1001")
    propose(store, relay_id, "1002")
    assert client.http.post("/relay/cap", body=f"t={token}&network=x&cap=1", headers=FORM).status_code == 303
    assert share(client, token, "1001").status_code == 303
    assert share(client, token, "1002").status_code == 403
    assert store.grant(relay_id, "x")["published_count"] == 1
    assert store.get(f"RELAY#{relay_id}", "LEDGER#x#1002") is None


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("t=forged&network=x&post=1003", 403, "not valid"),
        ("t={t}&network=x", 400, "Unknown post"),
        ("t={t}&network=x&post=abc", 400, "Unknown post"),
        ("t={t}&network=x&post=9999", 404, "Unknown post"),
        ("t={t}&network=myspace&post=1003", 404, "Unknown network"),
        ("t={t}&network=mastodon&post=1003", 409, "not connected"),
        ("t={t}&network=x&post=1003&junk=" + "j" * 3000, 413, "too large"),
    ],
)
def test_bad_share_input_gets_a_4xx_page_and_stores_nothing(client, store, query, status, words):
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1003")
    before = table_snapshot(store)
    answer = client.http.get(f"/relay/share?{query.format(t=token)}")
    assert answer.status_code == status and "Location" not in answer.headers
    assert "text/html" in answer.headers["Content-Type"] and words in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before


def test_a_closed_proposal_or_a_paused_grant_records_nothing(client, store, frozen_clock):
    relay_id, token = join(client, "x")
    propose(store, relay_id, "1001")
    propose(store, relay_id, "1002")
    assert client.http.post("/relay/skip", body=f"t={token}&network=x&post=1001", headers=FORM).status_code == 303
    before = table_snapshot(store)
    skipped = share(client, token, "1001")
    assert skipped.status_code == 409 and "no longer open (skipped)" in skipped.body.decode()
    assert table_snapshot(store) == before
    # Approving is refused too: relaycast holds no token to publish with.
    approve = client.http.post("/relay/approve", body=f"t={token}&network=x&post=1002", headers=FORM)
    assert approve.status_code == 409 and "use its share link" in approve.body.decode()
    assert table_snapshot(store) == before
    assert client.http.post("/relay/pause", body=f"t={token}&network=x", headers=FORM).status_code == 303
    before = table_snapshot(store)
    paused = share(client, token, "1002")
    assert paused.status_code == 403 and "paused or ended" in paused.body.decode()
    assert table_snapshot(store) == before
    assert client.http.post("/relay/resume", body=f"t={token}&network=x", headers=FORM).status_code == 303
    frozen_clock.advance(days=3)  # past the proposal's time
    before = table_snapshot(store)
    late = share(client, token, "1002")
    assert late.status_code == 409 and "no longer open (expired)" in late.body.decode()
    assert table_snapshot(store) == before


def test_the_end_of_the_event_ends_the_grant_with_a_receipt_and_no_upstream_call(client, store, lambda_context):
    relay_id, token = join(client, "x", "username=relay_end&email=end%40example.net")
    confirm_address(store, Settings.from_env(), "end@example.net")
    propose(store, relay_id, "1003")
    propose(store, relay_id, "1004")
    assert share(client, token, "1003").status_code == 303
    message = sqs_event({"relay_id": relay_id, "network": "x"})
    assert load_function("expire").handler(message, lambda_context) == {"batchItemFailures": []}
    assert store.grant(relay_id, "x") is None
    receipt = receipt_of(store, relay_id, "x")
    assert (receipt["status"], receipt["reason"], receipt["mode"], receipt["confirmed"]) == (
        "done", "the event ended", "share-link", True)
    assert receipt["verification"] == {"x": expire.NO_TOKEN}
    assert [s["post_id"] for s in receipt["shared"]] == ["1003"] and receipt["published"] == []
    (mail,) = sent_mail("end@example.net", "revoked")
    assert "relaycast never held a token for this account" in mail.body
    assert "https://x.com/amina_data/status/1003" in mail.body and "1004" not in mail.body
    assert "Your access tokens were deleted" not in mail.body
    page = html.unescape(client.http.get(f"/relay?t={token}").body.decode())
    assert "Access ended" in page and "Shared by you (1)" in page
    # Delivered again: already ended, no second receipt.
    assert load_function("expire").handler(message, lambda_context) == {"batchItemFailures": []}
    assert len(sent_mail("end@example.net", "revoked")) == 1


def test_stopping_from_the_dashboard_ends_a_mastodon_grant_without_contacting_the_instance(client, store):
    relay_id, token = join(client, "mastodon", "instance=fosstodon.org&lang=fr")
    answer = client.http.post("/relay/revoke", body=f"t={token}&network=mastodon", headers=FORM)
    assert answer.status_code == 303
    assert store.grant(relay_id, "mastodon") is None
    assert not [i for i in store.table.scan()["Items"] if i["kind"] == "instance_app"]
    receipt = receipt_of(store, relay_id, "mastodon")
    assert receipt["reason"] == "you revoked access from your dashboard" and receipt["shared"] == []
    page = html.unescape(client.http.get(f"/relay?t={token}").body.decode())
    assert "relaycast n'a jamais détenu de jeton pour ce compte" in page


def test_the_ttl_backstop_ends_a_grant_that_has_no_token(client, store, lambda_context, caplog):
    relay_id, _ = join(client, "x")
    grant_item = store.table.get_item(Key={"pk": f"RELAY#{relay_id}", "sk": "GRANT#x"})["Item"]
    store.delete(f"RELAY#{relay_id}", "GRANT#x")  # as the TTL would
    record = ttl_removal(grant_item)
    assert load_function("expire").handler({"Records": [record]}, lambda_context) == {"batchItemFailures": []}
    assert ttl_outcomes(caplog) == ["ended"]
    receipt = receipt_of(store, relay_id, "x")
    assert (receipt["status"], receipt["reason"], receipt["mode"]) == ("done", "access expired", "share-link")


def test_every_share_link_refusal_has_a_french_translation():
    from pathlib import Path

    from relaycast import share_link
    from relaycast.i18n import FR

    source = (Path(share_link.__file__)).read_text()
    refusals = refusal_messages(source) | {share_link.CAP_REACHED, share_link.NOT_ACTIVE}
    assert len(refusals) >= 6
    assert sorted(m for m in refusals if m not in FR) == []
    assert expire.NO_TOKEN in FR and "shared" in FR
