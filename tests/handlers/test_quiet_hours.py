"""A relay's quiet hours in their own time zone: chosen on the connect form or the dashboard, refused when
unknown (nothing stored), and respected by publish: a job in the relay's night waits for its end."""

import html
import json
from datetime import UTC, datetime

import boto3
import pytest
from chalice.test import Client

from handler_support import Browser, connect, load_function, relay_of, sqs_event, table_snapshot
from relaycast import aws, publish
from relaycast.networks.factory import x_network
from relaycast.publish import Deferred, PublishJob
from relaycast.settings import Settings
from relaycast.storage import Store


@pytest.fixture(autouse=True)
def default_quiet_hours(stack_env):
    """The event as an organiser writes it without quiet_hours: the default, 22:00-07:00 in Europe/Paris."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    from handler_support import EVENT

    config = parse_event_config({k: v for k, v in EVENT.items() if k != "quiet_hours"})
    assert config.quiet_hours == "22:00-07:00"
    boto3.client("ssm").put_parameter(Name=stack_env["EVENT_CONFIG_PARAMETER"], Value=config.to_json(), Type="String", Overwrite=True)
    settings_module.reset_caches()


@pytest.fixture
def client(stack_env):
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


@pytest.fixture
def sent_to_queue(stack_env, monkeypatch):
    """What publish sends back to its queue (the real send still happens)."""
    sent = []
    sqs = aws.client("sqs")
    real = sqs.send_message
    monkeypatch.setattr(sqs, "send_message", lambda **kw: sent.append(kw) or real(**kw))
    return sent


def queued(queue_url):
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesDelayed"])


def paris(*parts):
    """A Paris wall-clock instant of December 2026 (CET, UTC+1) as the frozen clock's UTC."""
    from zoneinfo import ZoneInfo

    return datetime(*parts, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def test_the_hosted_page_says_the_quiet_hours_and_offers_a_labelled_zone_choice(client):
    body = client.http.get("/").body.decode()
    assert "nothing is published in your name between 22:00 and 07:00, in your own time zone (Europe/Paris" in body
    assert '<label for="timezone-x">Your time zone (optional)</label>' in body
    assert '<select id="timezone-x" name="timezone" aria-describedby="timezone-hint-x">' in body
    assert '<option value="" selected>' in body and '<option value="America/New_York">' in body
    assert "<script" not in body
    french = html.unescape(client.http.get("/?lang=fr").body.decode())
    assert "Heures calmes : rien n'est publié en votre nom entre 22:00 et 07:00" in french
    assert "Votre fuseau horaire (facultatif)" in french


@pytest.mark.parametrize("changes", [{"quiet_hours": "off"}, {"modes": {"x": "share-link"}}])
def test_no_quiet_hours_are_promised_when_off_or_when_relaycast_publishes_nothing_itself(client, stack_env, changes):
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    from handler_support import EVENT

    config = parse_event_config({**{k: v for k, v in EVENT.items() if k != "quiet_hours"}, **changes})
    boto3.client("ssm").put_parameter(Name=stack_env["EVENT_CONFIG_PARAMETER"], Value=config.to_json(), Type="String", Overwrite=True)
    settings_module.reset_caches()
    body = client.http.get("/").body.decode()
    assert "Connect X" in body or "Join X" in body
    assert "Quiet hours" not in body and 'name="timezone"' not in body


def test_the_zone_chosen_on_the_connect_form_is_kept_and_shown_on_the_dashboard(client, store, x_sandbox):
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_ny", body="email=&timezone=America%2FNew_York")
    relay_id = relay_of(token)
    assert store.grant(relay_id, "x")["timezone"] == "America/New_York"
    page = browser.get(f"/relay?t={token}").body.decode()
    assert "Nothing is published in your name between 22:00 and 07:00, America/New_York." in page
    assert '<option value="America/New_York" selected>' in page and 'action="http' in page and '/relay/timezone"' in page


def test_without_a_choice_the_grant_holds_no_zone_and_the_dashboard_says_the_events(client, store, x_sandbox):
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_default", body="email=&timezone=")
    assert "timezone" not in store.grant(relay_of(token), "x")
    assert "between 22:00 and 07:00, Europe/Paris." in browser.get(f"/relay?t={token}").body.decode()


@pytest.mark.parametrize("zone", ["Mars%2FOlympus", "Europe%2FParis%2F..%2F..", "A" * 70, "%00"])
def test_an_unknown_zone_on_the_connect_form_is_refused_and_nothing_is_stored(client, store, zone):
    before = table_snapshot(store)
    answer = client.http.post("/connect/x", body=f"email=&timezone={zone}&lang=fr",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert "Ce fuseau horaire est inconnu : choisissez-en un dans la liste." in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before


def test_the_dashboard_changes_the_zone_on_every_network_of_the_relay(client, store, x_sandbox):
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_moves")
    relay_id = relay_of(token)
    # A second network of the same relay (its grant as the callback stores it; the network is not called here).
    store.save_grant({"relay_id": relay_id, "network": "mastodon", "user_id": "9", "username": "moves", "mode": "auto",
                      "cap": 3, "status": "active", "lang": "en"})
    assert browser.post("/relay/timezone", f"t={token}&timezone=Asia%2FTokyo").status_code == 303
    assert {g["network"]: g["timezone"] for g in store.relay_items(relay_id, "GRANT#")} == {"x": "Asia/Tokyo", "mastodon": "Asia/Tokyo"}
    assert "between 22:00 and 07:00, Asia/Tokyo." in browser.get(f"/relay?t={token}").body.decode()


@pytest.mark.parametrize("zone", ["Mars%2FOlympus", "", "europe%2Fparis"])
def test_a_bad_zone_on_the_dashboard_is_refused_in_the_relays_language_and_nothing_changes(client, store, x_sandbox, zone):
    browser = Browser(client, x_sandbox, accept_language="fr-FR,fr;q=0.9")
    token = browser.connect("relay_typo", body="email=&timezone=Europe%2FLisbon")
    before = table_snapshot(store)
    answer = browser.post("/relay/timezone", f"t={token}&timezone={zone}")
    assert answer.status_code == 400 and '<html lang="fr">' in answer.body.decode()
    assert "Ce fuseau horaire est inconnu" in html.unescape(answer.body.decode())
    assert table_snapshot(store) == before
    assert browser.post("/relay/timezone", "t=forged&timezone=Asia%2FTokyo").status_code == 403
    assert table_snapshot(store) == before


def test_a_network_added_from_the_dashboard_follows_the_relays_zone(client, store, x_sandbox):
    from relaycast.relays import dashboard_token

    settings = Settings.from_env()
    relay_id = "mastodon-0123456789-42"
    store.save_grant({"relay_id": relay_id, "network": "mastodon", "user_id": "42", "username": "ana", "mode": "auto",
                      "cap": 3, "status": "active", "lang": "en", "timezone": "America/Sao_Paulo"})
    browser = Browser(client, x_sandbox)
    browser.connect("relay_second", body=f"t={dashboard_token(Store(settings.table_name), settings, relay_id)}", confirm=True)
    assert store.grant(relay_id, "x")["timezone"] == "America/Sao_Paulo"


def test_a_job_in_the_relays_night_is_parked_until_it_ends_then_released_and_published(
    store, x_sandbox, frozen_clock, lambda_context, stack_env, sent_to_queue
):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_night", None, x_sandbox)
    handler = load_function("publish").handler
    body = {"relay_id": connected.relay_id, "network": "x", "post_id": "1001"}
    queue = stack_env["PUBLISH_QUEUE_URL"]

    frozen_clock.at = paris(2026, 12, 1, 23, 30)
    answer = handler(sqs_event(body), lambda_context)
    assert answer["batchItemFailures"] == []  # the message is done: no retry burnt
    assert x_sandbox.repost_log == []  # nothing sent to X
    assert store.relay_items(connected.relay_id, "LEDGER#") == []  # nothing reserved: the cap is untouched
    assert store.grant(connected.relay_id, "x")["published_count"] == 0
    # 7.5 hours to 07:00, past SQS's longest delay: parked in the table, not hopping through the queue.
    assert sent_to_queue == [] and queued(queue) == (0, 0)
    (parked,) = store.query("PARKED#time")
    assert parked["due"] == int(paris(2026, 12, 2, 7, 0).timestamp()) and json.loads(parked["job"]) == body
    assert not [i for i in store.table.scan()["Items"] if i["pk"] == "IDEMPOTENCY#publish"]  # the release will really run

    frozen_clock.at = paris(2026, 12, 2, 6, 55)  # a release before its time leaves it parked
    assert handler({"action": "release"}, lambda_context) == {"released": 0, "unqueued": 0, "full": []}
    assert len(list(store.query("PARKED#time"))) == 1

    frozen_clock.at = paris(2026, 12, 2, 7, 0)
    assert handler({"action": "release"}, lambda_context)["released"] == 1
    assert list(store.query("PARKED#time")) == [] and queued(queue) == (1, 0)
    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    answer = handler(sqs_event(json.loads(message["Body"])), lambda_context)
    assert answer["batchItemFailures"] == [] and sent_to_queue == []  # not deferred again
    assert [(r.username, r.tweet_id) for r in x_sandbox.repost_log] == [("relay_night", "1001")]
    assert store.get(f"RELAY#{connected.relay_id}", "LEDGER#x#1001")["status"] == "published"


def test_a_short_wait_stays_a_delayed_message(store, x_sandbox, frozen_clock, lambda_context, stack_env, sent_to_queue):
    settings = Settings.from_env()
    connected = connect(store, settings, "relay_dawn", None, x_sandbox)
    body = {"relay_id": connected.relay_id, "network": "x", "post_id": "1001"}
    frozen_clock.at = paris(2026, 12, 2, 6, 50)  # ten minutes before the night ends
    load_function("publish").handler(sqs_event(body), lambda_context)
    assert [(json.loads(m["MessageBody"]), m["DelaySeconds"]) for m in sent_to_queue] == [(body, 600)]
    assert list(store.query("PARKED#time")) == []


def test_the_relays_own_zone_decides_not_the_events(client, store, x_sandbox, frozen_clock):
    settings = Settings.from_env()
    x = x_network(settings)
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_west", body="email=&timezone=America%2FNew_York")
    relay_id = relay_of(token)
    # 23:30 in Paris, 17:30 in New York: the relay's evening, so it publishes.
    frozen_clock.at = paris(2026, 12, 1, 23, 30)
    assert publish.publish(store, settings, settings.event(), x, PublishJob(relay_id=relay_id, network="x", post_id="1002")) == "published"
    # 06:00 in Paris, midnight in New York: the relay's night, whatever the event's zone says.
    frozen_clock.at = paris(2026, 12, 2, 6, 0)
    with pytest.raises(Deferred) as deferred:
        publish.publish(store, settings, settings.event(), x, PublishJob(relay_id=relay_id, network="x", post_id="1003"))
    assert deferred.value.reason == "the relay's quiet hours" and deferred.value.seconds == 7 * 3600
    assert [r.tweet_id for r in x_sandbox.repost_log] == ["1002"]


def test_a_night_past_the_end_of_access_ends_the_relay_post_skipped_with_its_reason(store, x_sandbox, frozen_clock, sent_to_queue):
    """The last night: nothing would publish before access ends (20:00 here), so the job is not sent back and
    the relay-post ends skipped, with why, in the relay's log."""
    from relaycast.config import parse_event_config

    from handler_support import EVENT

    settings = Settings.from_env()
    config = parse_event_config({**EVENT, "quiet_hours": "19:00-07:00"})
    connected = connect(store, settings, "relay_last", None, x_sandbox)
    frozen_clock.at = paris(2026, 12, 2, 19, 30)
    job = PublishJob(relay_id=connected.relay_id, network="x", post_id="1004")
    with pytest.raises(Deferred) as deferred:
        publish.publish(store, settings, config, x_network(settings), job)
    assert deferred.value.seconds == 11.5 * 3600
    assert publish.defer(store, settings, config, job, deferred.value) == "skipped:access ends first (the relay's quiet hours)"
    assert sent_to_queue == [] and x_sandbox.repost_log == []
    (ledger,) = store.relay_items(connected.relay_id, "LEDGER#")  # nothing reserved, nothing left open
    assert ledger["status"] == "skipped" and ledger["reason"] == "access ends before it could be published (the relay's quiet hours)"
    assert store.grant(connected.relay_id, "x")["published_count"] == 0
