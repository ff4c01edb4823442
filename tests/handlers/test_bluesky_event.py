"""Bluesky in an event: the rounds read the tags with the event's own account, and relays connect through the hosted app, against the sandbox Bluesky over real HTTP: the relay's handle resolved
and verified, AT Protocol OAuth (PAR, DPoP with server nonces, private_key_jwt), the grant in custody with its
proof key, a repost through the publish function and the end of access verified upstream. Every bad input gets
its 4xx page with nothing stored."""

import html
import json
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, FORM, Browser, load_function, receipt_of, relay_of, sqs_event, table_snapshot

pytestmark = pytest.mark.xdist_group("bluesky")

HOSTED = "https://localhost/"


@pytest.fixture
def client(stack_env, bsky, frozen_clock, monkeypatch):
    """An event on X and Bluesky (approve-each), the stack's client key in its secret, the sandbox routed."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config
    from relaycast.networks.bluesky import hosted_client_metadata, new_client_key

    experts = [{"handle": "amina_data", "weight": 2, "bluesky": f"@Amina.{bsky.domain}"}]
    config = parse_event_config({**EVENT, "networks": ["x", "bluesky"], "experts": experts})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    secrets = boto3.client("secretsmanager")
    secret = json.loads(secrets.get_secret_value(SecretId=stack_env["APP_SECRET_NAME"])["SecretString"])
    key = new_client_key()
    account = bsky.add_account(bsky.handle("hts26"))  # the event's own account, which searches
    secrets.put_secret_value(SecretId=stack_env["APP_SECRET_NAME"], SecretString=json.dumps(
        {**secret, "bluesky_client_key": key, "bluesky_identifier": account.handle, "bluesky_app_password": account.app_password}))
    # The sandbox cannot fetch the Chalice test client's URL: it is given the document that URL serves.
    bsky.register_client(hosted_client_metadata(HOSTED, key))
    monkeypatch.setenv("BLUESKY_SANDBOX", json.dumps({bsky.domain: bsky.base_url}))
    monkeypatch.setenv("BLUESKY_PLC", bsky.plc_url)
    monkeypatch.setenv("BLUESKY_SERVICE", bsky.origin)
    settings_module.reset_caches()
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}/" == HOSTED and parts.path == "/callback/bluesky"
    return f"{parts.path}?{parts.query}"


def connect_bluesky(browser, bsky, handle, *, sign_in_as=None, decision="allow", extra=""):
    answer = browser.post("/connect/bluesky", f"handle={quote(handle)}{extra}")
    assert answer.status_code == 302, answer.body
    return browser.get(callback_path(bsky.consent(answer.headers["Location"], sign_in_as or handle, decision)))


def test_the_page_offers_bluesky_with_a_handle_field_in_both_languages(client):
    body = html.unescape(client.http.get("/").body.decode())
    assert "Connect Bluesky" in body and 'name="handle"' in body and '<label for="handle">Your Bluesky handle' in body
    french = html.unescape(client.http.get("/?lang=fr").body.decode())
    assert "Connecter Bluesky" in french and "Votre pseudo Bluesky" in french


def test_a_relay_connects_reposts_once_and_access_ends_verified_upstream(client, store, bsky, lambda_context):
    from relaycast.credentials import fingerprint
    from relaycast.networks.bluesky import post_id_of

    amina = bsky.add_account(bsky.handle("amina"), followers=40)
    browser = Browser(client)
    landed = connect_bluesky(browser, bsky, f"@{amina.handle.upper()}", sign_in_as=amina.handle)
    assert landed.status_code == 303, html.unescape(landed.body.decode())[-700:]
    token = landed.headers["Location"].split("t=", 1)[1]
    (grant,) = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    assert (grant["network"], grant["user_id"], grant["username"]) == ("bluesky", amina.did, amina.handle)
    assert grant["mode"] == "approve-each" and grant["server"] == bsky.origin and "instance" not in grant
    live = bsky.live_tokens()  # the access and refresh tokens of one session
    custody, stored = store.custody(grant["grant_id"]), json.dumps(table_snapshot(store), default=str)
    assert len(live) == 2 and not any(t.encode() in bytes(custody["tokens"]) or t in stored for t in live)
    assert not [i for i in store.table.scan()["Items"] if i["kind"] == "state"]  # the pending request is consumed
    page = html.unescape(browser.get(f"/relay?t={token}").body.decode())
    assert amina.handle in page and "Bluesky" in page

    # A pick of the rounds, published through the relay's account by the publish function: once, whatever the queue.
    post = bsky.add_post(bsky.handle("expert0"), "We measured a 40% drop in latency #HTS26")
    bsky.add_account(bsky.handle("expert0"))
    post_id = post_id_of(post.uri)
    store.add_candidate({"network": "bluesky", "post_id": post_id, "ref": f"{post.uri} {post.cid}", "text": post.text,
                         "url": f"https://bsky.app/profile/{bsky.handle('expert0')}/post/{post.uri.rsplit('/', 1)[1]}"})
    publish = load_function("publish")
    job = {"relay_id": grant["relay_id"], "network": "bluesky", "post_id": post_id}
    assert publish.handler(sqs_event(job, job), lambda_context) == {"batchItemFailures": []}
    assert [r.subject_uri for r in bsky.reposts_by(amina.handle)] == [post.uri]
    ledger = store.get(f"RELAY#{grant['relay_id']}", f"LEDGER#bluesky#{post_id}")
    assert ledger["status"] == "published" and ledger["link"].startswith(f"https://bsky.app/profile/{amina.did[:4]}")

    # Undo from the dashboard deletes the repost record; it still counts toward the cap.
    assert browser.post("/relay/undo", f"t={token}&network=bluesky&post={post_id}").status_code == 303
    assert bsky.reposts_by(amina.handle) == []
    assert store.get(f"RELAY#{grant['relay_id']}", f"LEDGER#bluesky#{post_id}")["status"] == "undone"
    assert store.grant(grant["relay_id"], "bluesky")["published_count"] == 1

    # Revoke now: the tokens are revoked at the authorization server, proven refused, then deleted.
    assert browser.post("/relay/revoke", f"t={token}&network=bluesky").status_code == 303
    assert bsky.live_tokens() == [] and store.custody(grant["grant_id"]) is None
    receipt = receipt_of(store, grant["relay_id"], "bluesky")
    assert receipt["confirmed"] is True and "refused by Bluesky" in receipt["verification"]["bluesky"]
    # The receipt names the very tokens the server issued (not the bound form relaycast kept them in).
    assert set(receipt["token_fingerprints"]) == {fingerprint(t) for t in live} and len(live) == 2
    assert receipt["published"] == []  # the one repost was undone
    assert "Access ended" in browser.get(f"/relay?t={token}").body.decode()


def test_connecting_twice_keeps_one_grant_and_ends_the_tokens_it_replaces(client, store, bsky):
    amina = bsky.add_account(bsky.handle("amina"))
    first = connect_bluesky(Browser(client), bsky, amina.handle)
    second = connect_bluesky(Browser(client), bsky, amina.handle)  # another tab, a double click, a return
    assert first.status_code == second.status_code == 303
    assert relay_of(first.headers["Location"].split("t=", 1)[1]) == relay_of(second.headers["Location"].split("t=", 1)[1])
    assert len([i for i in store.table.scan()["Items"] if i["kind"] == "grant"]) == 1
    assert len(bsky.live_tokens()) == 2  # one session's pair: the first connection's was revoked


@pytest.mark.parametrize(
    ("handle", "words"),
    [
        ("", "Type your Bluesky handle"),
        ("https://amina.bsky.social", "Type your Bluesky handle"),
        ("nobody.bsky.sandbox", "No Bluesky account answers for that handle"),
        ("mallory.bsky.sandbox", "does not claim the handle back"),
        ("pds-private.bsky.sandbox", "not on public addresses"),
        ("pds-metadata.bsky.sandbox", "not on public addresses"),
    ],
)
def test_a_bad_handle_gets_a_400_page_and_nothing_is_stored(client, store, bsky, handle, words):
    bsky.add_account(bsky.handle("amina"))
    bsky.forge(bsky.add_account(bsky.handle("mallory")).handle, claims=bsky.handle("amina"))
    bsky.forge(bsky.add_account(bsky.handle("pds-private")).handle, pds="https://10.0.0.7")
    bsky.forge(bsky.add_account(bsky.handle("pds-metadata")).handle, pds="https://169.254.169.254")
    before = table_snapshot(store)
    answer = client.http.post("/connect/bluesky", body=f"handle={quote(handle)}", headers=FORM)
    assert answer.status_code == 400 and words in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before
    assert not any(r.path.startswith("/oauth") for r in bsky.requests)  # no authorization was started


def test_a_server_whose_nonces_never_settle_is_refused_without_a_loop(client, store, bsky):
    bsky.add_account(bsky.handle("amina"))
    bsky.oauth.nonces.restless = True
    before = table_snapshot(store)
    answer = client.http.post("/connect/bluesky", body=f"handle={bsky.handle('amina')}", headers=FORM)
    assert answer.status_code == 502 and "refused the connection" in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before
    assert len([r for r in bsky.requests if r.path == "/oauth/par"]) == 3  # a bounded number of new nonces, then no more


def answered(browser, bsky, handle, **changes):
    """Start a connection and consent, then change the answer's parameters before it reaches relaycast."""
    answer = browser.post("/connect/bluesky", f"handle={handle}")
    params = dict(parse_qsl(urlsplit(bsky.consent(answer.headers["Location"], handle)).query))
    params.update(changes)
    return browser.get(f"/callback/bluesky?{urlencode({k: v for k, v in params.items() if v is not None})}")


def test_a_declined_a_forged_or_a_foreign_answer_stores_nothing_and_leaves_no_token(client, store, bsky):
    amina, other = bsky.add_account(bsky.handle("amina")), bsky.add_account(bsky.handle("other"))
    before = table_snapshot(store)

    declined = connect_bluesky(Browser(client), bsky, amina.handle, decision="deny")
    assert declined.status_code == 403 and "You declined the connection" in declined.body.decode()

    wrong_issuer = answered(Browser(client), bsky, amina.handle, iss="https://evil.example")
    assert wrong_issuer.status_code == 400
    assert "does not come from the server the connection was sent to" in html.unescape(wrong_issuer.body.decode())

    foreign = connect_bluesky(Browser(client), bsky, amina.handle, sign_in_as=other.handle)  # `sub` is not amina
    assert foreign.status_code == 400
    assert "another account than the one you named" in html.unescape(foreign.body.decode())

    assert not [i for i in store.table.scan()["Items"] if i["kind"] in ("grant", "custody")]
    assert bsky.live_tokens() == []
    def without_states(snapshot):  # a declined answer keeps its state until it expires: the relay may allow after all
        return [item for item in snapshot if '"pk": "STATE#' not in item]

    assert without_states(table_snapshot(store)) == without_states(before)


def test_a_callback_in_another_browser_does_not_burn_the_relays_attempt(client, store, bsky):
    amina = bsky.add_account(bsky.handle("amina"))
    browser = Browser(client)
    answer = browser.post("/connect/bluesky", f"handle={amina.handle}")
    callback = callback_path(bsky.consent(answer.headers["Location"], amina.handle))
    assert Browser(client).get(callback).status_code == 400  # no binding cookie: refused, the state kept
    assert browser.get(callback).status_code == 303


@pytest.fixture
def quiet_x(stack_env, monkeypatch):
    """X with nothing under the tag: the rounds' X search answers empty."""
    from relaycast_local.sandbox_x import SandboxX

    with SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer") as sandbox:
        monkeypatch.setenv("X_API_BASE", sandbox.base_url)
        yield sandbox


def test_the_rounds_read_the_tags_once_with_the_events_account_and_keep_its_session_sealed(client, quiet_x, store, bsky,
                                                                                          frozen_clock, lambda_context):
    from datetime import timedelta

    for minutes, handle, text in ((50, "amina", "We cut p99 latency by 40% with one queue #HTS26"),
                                  (40, "bruno", "Room 2 is full #hts26"), (30, "carla", "Unrelated #elsewhere")):
        bsky.add_post(bsky.handle(bsky.add_account(bsky.handle(handle)).handle.split(".")[0]), text,
                      at=frozen_clock.at - timedelta(minutes=minutes))
    poll = load_function("poll")
    first = poll.handler({}, lambda_context)
    stored = {c["author"]: c for c in store.candidates() if c["network"] == "bluesky"}
    assert set(stored) == {bsky.handle("amina"), bsky.handle("bruno")} and first["failed"] == []
    amina = stored[bsky.handle("amina")]
    assert amina["post_id"].isdigit() and amina["ref"].startswith("at://") and amina["url"].startswith("https://bsky.app/")
    assert "expert:2" in amina["reasons"]  # the expert named by their Bluesky handle is weighed as on X
    sealed = store.get("EVENT", "SOURCE#bluesky")
    assert sealed and not any(t in json.dumps(sealed, default=str) for t in bsky.sessions)

    frozen_clock.advance(minutes=5)
    bsky.add_post(bsky.handle("amina"), "Slides are up: three methods compared #HTS26", at=frozen_clock.at - timedelta(minutes=1))
    second = poll.handler({}, lambda_context)
    assert second["stored"] == 1 and len([c for c in store.candidates() if c["network"] == "bluesky"]) == 3
    sign_ins = [r for r in bsky.requests if r.path == "/xrpc/com.atproto.server.createSession"]
    assert len(sign_ins) == 1  # signed in once: the second poll used the session the first one kept


def test_the_end_of_the_event_is_paced_against_each_servers_window(client, store, bsky, frozen_clock, lambda_context,
                                                                    monkeypatch):
    """Bluesky's servers take 3,000 requests per client address per 5 minutes: the sweep's ends toward one server
    are spread over its windows, a waiting end coming back as a new message (its retry budget untouched)."""
    import dataclasses

    from handler_support import deliver

    from relaycast import expire, policy
    from relaycast.policy import Limit
    from relaycast.settings import Settings

    monkeypatch.setitem(policy.POLICIES, "bluesky", dataclasses.replace(policy.POLICIES["bluesky"],
                                                                       ends_per_server=Limit(2, 300)))
    for name in ("amina", "bruno", "carla"):
        assert connect_bluesky(Browser(client), bsky, bsky.add_account(bsky.handle(name)).handle).status_code == 303
    settings = Settings.from_env()
    frozen_clock.at = frozen_clock.at.replace(minute=0, second=10)  # early in a 5-minute window
    assert expire.sweep(store, settings.end_grant_queue_url)["queued"] == 3
    expire_fn = load_function("expire")
    assert deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context) == (3, [])
    receipts = [i for i in store.table.scan()["Items"] if i["kind"] == "receipt"]
    assert len(receipts) == 2 and all(r["confirmed"] for r in receipts) and len(list(store.grants())) == 1
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=settings.end_grant_queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # back when the window turns (290 s here)

    (waiting,) = store.grants()
    frozen_clock.advance(minutes=5)  # as SQS delivers it after its delay: a first receive, the next window
    answer = expire_fn.handler(sqs_event({"relay_id": waiting["relay_id"], "network": "bluesky"}), lambda_context)
    assert answer == {"batchItemFailures": []} and not list(store.grants()) and bsky.live_tokens() == []


def test_a_server_that_keeps_revoked_access_tokens_gets_an_unconfirmed_receipt_that_says_until_when(
        client, store, bsky, frozen_clock, lambda_context):
    """The reference PDS accepts a revoked session's access token until it expires (bluesky-social/atproto#4278):
    the end is retried, then the receipt says it could not be confirmed, where to revoke by hand and the latest
    the token can work; it never says "confirmed"."""
    from datetime import UTC, datetime

    from relaycast import expire

    bsky.revocation_spares_access_tokens = True
    amina = bsky.add_account(bsky.handle("amina"))
    assert connect_bluesky(Browser(client), bsky, amina.handle).status_code == 303
    (grant,) = store.grants()
    (session,) = bsky.grants.values()
    expire_fn = load_function("expire")
    body = {"relay_id": grant["relay_id"], "network": "bluesky"}
    retried = expire_fn.handler(sqs_event(body, receives=expire.RECEIVE_BUDGET - 1), lambda_context)
    assert len(retried["batchItemFailures"]) == 1 and store.grant(grant["relay_id"], "bluesky")  # asked again later
    assert expire_fn.handler(sqs_event(body, receives=expire.RECEIVE_BUDGET), lambda_context) == {"batchItemFailures": []}
    receipt = receipt_of(store, grant["relay_id"], "bluesky")
    said = receipt["verification"]["bluesky"]
    assert receipt["confirmed"] is False and f"revoke by hand at {bsky.origin}/account" in said
    assert f"at the latest at its expiry, {datetime.fromtimestamp(session.access_expires, UTC):%Y-%m-%d %H:%M} UTC" in said
    assert bsky.live_tokens() == [session.access_token]  # the refresh token is dead; the access token, until then
