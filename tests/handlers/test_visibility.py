"""How visible the event was: each relay's followers read once at connect, every published relay-post counted once
in the event's visibility (redeliveries, a resumed reservation, an undo), and each receipt telling it.

moto plays AWS in-process; the sandbox X plays X over real HTTP and holds each relay's follower count.
"""

import json

import boto3
from handler_support import connect, deliver, load_function, receipt_of, sent_mail, sqs_event

from chalice.test import Client

from relaycast import relays, settings as settings_module
from relaycast.settings import Settings

SUMMARY = "https://example.org/hts26/summary"


def _job(relay_id, post_id):
    return {"relay_id": relay_id, "network": "x", "post_id": post_id}


def test_each_post_is_counted_once_with_its_relays_followers_and_every_receipt_tells_it(
        x_sandbox, store, frozen_clock, lambda_context):
    settings = Settings.from_env()
    x_sandbox.add_user("relay_many", followers=1200)
    x_sandbox.add_user("relay_few", followers=45)
    many = connect(store, settings, "relay_many", "many@example.net", x_sandbox)
    few = connect(store, settings, "relay_few", "few@example.net", x_sandbox, lang="fr")
    assert store.grant(many.relay_id, "x")["followers"] == 1200  # read from X's profile at connect
    assert store.grant(few.relay_id, "x")["followers"] == 45

    publish = load_function("publish")
    jobs = [_job(many.relay_id, "1000"), _job(many.relay_id, "1001"), _job(few.relay_id, "1000")]
    assert publish.handler(sqs_event(*jobs, *jobs), lambda_context) == {"batchItemFailures": []}  # each twice
    # A crash after X acted and before the ledger said so: the redelivery resumes, asks X, and counts it once.
    assert store.reserve_publish(few.relay_id, "x", "1002", 3) == "reserved"
    with x_sandbox.lock:
        x_sandbox.repost(x_sandbox.known_user("relay_few"), x_sandbox.posted("1002", frozen_clock.at), frozen_clock.at)
    assert publish.handler(sqs_event(_job(few.relay_id, "1002")), lambda_context) == {"batchItemFailures": []}
    assert store.get(f"RELAY#{few.relay_id}", "LEDGER#x#1002")["status"] == "published"
    assert store.visibility() == {"relays": 2, "posts_x": 4, "reach_x": 2 * 1200 + 2 * 45}

    # The relay takes one back: it no longer counts (twice pressed, counted down once); they still carried the event.
    for _ in range(2):
        assert relays.undo(store, settings, settings.event(), few.relay_id, "x", "1002") == "undone"
    assert store.visibility() == {"relays": 2, "posts_x": 3, "reach_x": 2 * 1200 + 45}

    # The organiser publishes a summary: the receipts link it.
    event = json.loads(boto3.client("ssm").get_parameter(Name=settings.event_config_parameter)["Parameter"]["Value"])
    boto3.client("ssm").put_parameter(Name=settings.event_config_parameter, Value=json.dumps({**event, "summary_url": SUMMARY}),
                                      Type="String", Overwrite=True)
    settings_module.reset_caches()
    frozen_clock.advance(hours=40)
    expire_fn = load_function("expire")
    assert expire_fn.handler({"action": "sweep"}, lambda_context)["queued"] == 2
    assert deliver(settings.end_grant_queue_url, expire_fn.handler, lambda_context) == (2, [])

    mine = receipt_of(store, many.relay_id)["visibility"]
    assert mine == {"relays": 2, "posts": 3, "reach": 2445, "followers": 1200, "your_reach": 2400, "summary_url": SUMMARY}
    assert receipt_of(store, few.relay_id)["visibility"]["your_reach"] == 45  # one post left in their name
    english, = sent_mail("many@example.net", "revoked")
    assert "2 relays carried it, with 3 posts in their names that reached up to 2,445 followers" in english.body
    assert "reached up to 2,400 followers (1,200 followers when you connected" in english.body
    assert f"The event's public summary: {SUMMARY}" in english.body
    french, = sent_mail("few@example.net", "révoqué")
    assert "2 relais l'ont relayé, avec 3 publications en leur nom, vues par jusqu'à 2\u202f445 abonnés" in french.body
    assert "ont atteint jusqu'à 45 abonnés" in french.body

    # The dashboard shows the same figures with its receipt.
    with Client(load_function("oauth", "app").app) as browser:
        page = browser.http.get(f"/relay?t={many.dashboard_token}").body.decode()
    assert "2 relays carried it, with 3 posts in their names that reached up to 2,445 followers" in page
    assert f'href="{SUMMARY}"' in page


def test_an_account_whose_followers_are_unknown_is_counted_apart(x_sandbox, store, frozen_clock, lambda_context):
    """A network that does not tell (LinkedIn's members) adds posts, never a made-up reach."""
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_quiet", None, x_sandbox)
    grant = {k: v for k, v in store.grant(connected.relay_id, "x").items() if k != "followers"}
    assert store.reserve_publish(connected.relay_id, "x", "1003", 3) == "reserved"
    assert store.mark_published(grant, "1003", expires_at=settings.event().retention_ends, link="l")
    assert not store.mark_published(grant, "1003", expires_at=settings.event().retention_ends, link="l")  # once
    assert store.visibility() == {"relays": 1, "posts_x": 1, "unknown_reach_x": 1}
