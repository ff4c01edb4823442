"""LinkedIn in an event, against the sandbox LinkedIn over real HTTP: a relay connects through the hosted app, the
rounds give LinkedIn the organiser's posts and the other networks' picks (it has no source of its own), each
approved one is reshared or shared as its link through the publish function, and at the end the token, which
LinkedIn lets no app revoke, is checked by introspection and the receipt says what was and was not confirmed."""

import html
import json
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, Browser, load_function, receipt_of, sqs_event, table_snapshot

pytestmark = pytest.mark.xdist_group("linkedin")


@pytest.fixture
def linkedin():
    from relaycast_local.sandbox_linkedin import SandboxLinkedIn

    with SandboxLinkedIn() as sandbox:
        yield sandbox


@pytest.fixture
def listed(linkedin):
    return linkedin.add_post("Event Organiser", "Our programme for the summit is out")


@pytest.fixture
def client(stack_env, linkedin, listed, frozen_clock, monkeypatch):
    """An event on X and LinkedIn (approve-each), the organiser's LinkedIn app in its secret, one listed post."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    config = parse_event_config({**EVENT, "networks": ["x", "linkedin"], "linkedin_posts": [listed.urn]})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    secrets = boto3.client("secretsmanager")
    secret = json.loads(secrets.get_secret_value(SecretId=stack_env["APP_SECRET_NAME"])["SecretString"])
    secrets.put_secret_value(SecretId=stack_env["APP_SECRET_NAME"], SecretString=json.dumps(
        {**secret, "linkedin_client_id": linkedin.client_id, "linkedin_client_secret": linkedin.client_secret}))
    monkeypatch.setenv("LINKEDIN_OAUTH_BASE", linkedin.base_url)
    monkeypatch.setenv("LINKEDIN_API_BASE", linkedin.base_url)
    settings_module.reset_caches()
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def connect_linkedin(browser, linkedin, member, decision="allow"):
    answer = browser.post("/connect/linkedin", "email=")
    assert answer.status_code == 302, answer.body
    url = linkedin.consent(answer.headers["Location"], member, decision)
    return browser.get(url[url.index("/callback/linkedin"):])


def test_the_page_says_each_share_is_approved_and_offers_linkedin(client):
    body = html.unescape(client.http.get("/").body.decode())
    assert "Connect LinkedIn" in body and "On LinkedIn, you approve each share before it happens" in body
    french = html.unescape(client.http.get("/?lang=fr").body.decode())
    assert "Connecter LinkedIn" in french and "Sur LinkedIn, vous approuvez chaque partage" in french


def test_a_relay_connects_and_gets_the_organisers_post_then_the_other_networks_picks(client, store, linkedin, listed,
                                                                                     frozen_clock, lambda_context):
    from relaycast import rounds
    from relaycast.networks import Post
    from relaycast.settings import Settings

    member = linkedin.add_member("Ada Lovelace", followers=300)
    browser = Browser(client)
    landed = connect_linkedin(browser, linkedin, member.name)
    assert landed.status_code == 303, html.unescape(landed.body.decode())[-600:]
    token = landed.headers["Location"].split("t=", 1)[1]
    (grant,) = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    assert (grant["network"], grant["user_id"], grant["username"], grant["mode"]) == ("linkedin", member.member_id, member.name, "approve-each")
    (live,) = linkedin.live_tokens()
    assert live not in json.dumps(table_snapshot(store), default=str)  # sealed in custody, never in the clear

    # A round late in the event: X's pick, then LinkedIn's: the organiser's post first, then X's pick as a link.
    config = Settings.from_env().event()
    frozen_clock.at = config.end_utc - timedelta(hours=1)
    store.add_candidate(rounds.candidate_item(Post(
        network="x", post_id="1001", author="amina_data", author_id="77", created_at=frozen_clock.at - timedelta(minutes=20),
        text='Amina Diallo: "we cut the p99 latency by 40% with one queue", the method is in the paper #HTS26',
        url="https://x.com/amina_data/status/1001"), config))
    picks = rounds.select(store, config, "r-1")["picks"]
    on_linkedin = [p for p in picks if p["network"] == "linkedin"]
    assert [p["url"] for p in on_linkedin] == [f"https://www.linkedin.com/feed/update/{listed.urn}/", "https://x.com/amina_data/status/1001"]
    x_pick = next(p for p in picks if p["network"] == "x")
    assert on_linkedin[0]["reasons"] == ["listed"] and on_linkedin[1]["reasons"] == ["picked_on:x", *x_pick["reasons"]]
    (borrowed,) = [i for i in store.table.scan()["Items"] if i.get("kind") == "candidate" and i["network"] == "linkedin"
                   and i["post_id"] == on_linkedin[1]["post_id"]]
    assert borrowed["quality"] > 0 and borrowed["substantive"]  # the X pick's own, not a listed post's zero
    assert on_linkedin[1]["author"] == "amina_data"
    assert [p["network"] for p in rounds.select(store, config, "r-2")["picks"]] == []  # never the same pick twice

    publish = load_function("publish")
    jobs = [{"relay_id": grant["relay_id"], "network": "linkedin", "post_id": p["post_id"]} for p in on_linkedin]
    assert publish.handler(sqs_event(*jobs, *jobs), lambda_context) == {"batchItemFailures": []}  # redelivered too
    shares = linkedin.shares_by(member.member_id)
    assert sorted((s.parent or "", s.article or "") for s in shares) == [("", "https://x.com/amina_data/status/1001"), (listed.urn, "")]
    assert all(s.text == "" for s in shares)  # nothing of the original's text copied in the relay's name
    ledgers = {p["post_id"]: store.get(f"RELAY#{grant['relay_id']}", f"LEDGER#linkedin#{p['post_id']}") for p in on_linkedin}
    assert {ledger["made"] for ledger in ledgers.values()} == {s.urn for s in shares}
    assert all(ledger["link"] == f"https://www.linkedin.com/feed/update/{ledger['made']}/" for ledger in ledgers.values())

    # Undo deletes the relay's own post; it still counts toward the cap.
    first = on_linkedin[0]["post_id"]
    assert browser.post("/relay/undo", f"t={token}&network=linkedin&post={first}").status_code == 303
    assert [s.article for s in linkedin.shares_by(member.member_id)] == ["https://x.com/amina_data/status/1001"]
    assert store.grant(grant["relay_id"], "linkedin")["published_count"] == 2

    # Revoke now: LinkedIn lets no app revoke a token. relaycast deletes it, and the receipt says it is still live
    # and where the relay removes the app; it never claims what it could not prove.
    assert browser.post("/relay/revoke", f"t={token}&network=linkedin").status_code == 303
    receipt = receipt_of(store, grant["relay_id"], "linkedin")
    assert receipt["confirmed"] is False and store.custody(grant["grant_id"]) is None
    assert "https://www.linkedin.com/psettings/permitted-services" in receipt["verification"]["linkedin"]
    assert linkedin.live_tokens() == [live]
    linkedin.remove_app(member.member_id)  # what the receipt asks of the relay
    assert linkedin.live_tokens() == []


def test_a_relay_who_removed_the_app_first_gets_a_confirmed_end(client, store, linkedin):
    member = linkedin.add_member("Grace Hopper")
    browser = Browser(client)
    token = connect_linkedin(browser, linkedin, member.name).headers["Location"].split("t=", 1)[1]
    linkedin.remove_app(member.member_id)  # in their LinkedIn settings, during the event
    assert browser.post("/relay/revoke", f"t={token}&network=linkedin").status_code == 303
    (receipt,) = [i for i in store.table.scan()["Items"] if i["kind"] == "receipt"]
    assert receipt["confirmed"] is True and "refused by LinkedIn" in receipt["verification"]["linkedin"]


def test_a_declined_consent_stores_nothing(client, store, linkedin):
    linkedin.add_member("Alan Turing")
    before = table_snapshot(store)
    declined = connect_linkedin(Browser(client), linkedin, "Alan Turing", decision="deny")
    assert declined.status_code == 403 and "You declined the connection" in declined.body.decode()
    assert [i for i in table_snapshot(store) if '"pk": "STATE#' not in i] == [i for i in before if '"pk": "STATE#' not in i]
    assert linkedin.live_tokens() == []


def test_an_attempt_linkedin_cannot_confirm_is_never_tried_twice(client, store, linkedin, listed, lambda_context):
    """A crash after the share may have gone out: LinkedIn lets no app read it back, so the post is skipped with that
    reason rather than shared a second time."""
    from relaycast.networks.base import post_id_of

    member = linkedin.add_member("Katherine Johnson")
    connect_linkedin(Browser(client), linkedin, member.name)
    (grant,) = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    post_id = post_id_of(listed.urn)
    store.add_candidate({"network": "linkedin", "post_id": post_id, "ref": listed.urn, "text": "", "url": "https://www.linkedin.com/"})
    assert store.reserve_publish(grant["relay_id"], "linkedin", post_id, 3) == "reserved"  # then the crash
    publish = load_function("publish")
    publish.handler(sqs_event({"relay_id": grant["relay_id"], "network": "linkedin", "post_id": post_id}), lambda_context)
    ledger = store.get(f"RELAY#{grant['relay_id']}", f"LEDGER#linkedin#{post_id}")
    assert ledger["status"] == "skipped" and "cannot tell" in ledger["reason"]
    assert linkedin.shares_by(member.member_id) == []
