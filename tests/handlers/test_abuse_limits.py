"""The hostile and the clumsy against the hosted app's own limits: mails per address and per relay, addresses
waiting for confirmation, share-link joins per client. A request over a limit answers 429 with a page that says
when to try again (and `Retry-After`), and stores nothing but its count."""

import html
import re
from urllib.parse import parse_qs, quote, unquote, urlsplit

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, FORM, load_function, sent_mail

from relaycast import limits, relays
from relaycast.errors import RateLimited
from relaycast.settings import Settings
from relaycast.storage import Store

VICTIM = "victim@example.net"


@pytest.fixture
def client(stack_env, frozen_clock):
    """An event offering X in share-link mode: joining needs no account at all."""
    from relaycast import settings as settings_module
    from relaycast.config import parse_event_config

    config = parse_event_config({**EVENT, "modes": {"x": "share-link"}})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    boto3.client("ses").verify_email_identity(EmailAddress="relaycast@example.org")
    settings_module.reset_caches()
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def join(client, body):
    return client.http.post("/connect/x", body=body, headers=FORM)


def grants(store):
    return [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]


def token_of(answer):
    return parse_qs(urlsplit(answer.headers["Location"]).query)["t"][0]


def assert_limited(answer, says, title="Too many requests"):
    assert answer.status_code == 429, answer.body
    assert int(answer.headers["Retry-After"]) > 0
    page = html.unescape(answer.body.decode())
    assert title in page and says in page
    return page


def test_twenty_anonymous_joins_for_one_victim_send_one_mail_then_429(client, store):
    answers = [join(client, f"email={quote(VICTIM)}") for _ in range(19)]
    french = join(client, f"email={quote(VICTIM)}&lang=fr")  # the twentieth, in French
    assert answers[0].status_code == 303
    for answer in answers[1:]:
        page = assert_limited(answer, "An e-mail was sent here a moment ago. Please try again in 5 minute(s).")
        assert answer.headers["Retry-After"] == "300"  # the clock stands at the start of a 5-minute window
        assert "victim" not in page
    assert len(sent_mail(VICTIM)) == 1
    assert len(grants(store)) == 1  # a refused join saved no grant
    assert_limited(french, "Un e-mail vient d'être envoyé ici. Réessayez dans 5 minute(s).", title="Trop de requêtes")


def test_no_quota_item_names_the_address(client, store):
    join(client, f"email={quote(VICTIM)}")
    counted = [i for i in store.table.scan()["Items"] if i["kind"] == "quota"]
    assert counted and not any("victim" in str(i).lower() for i in counted)


def test_asking_again_from_the_dashboard_works_once_the_cooldown_is_over(client, store, frozen_clock):
    token = token_of(join(client, f"email={quote(VICTIM)}"))
    early = client.http.post("/relay/email", body=f"t={token}&network=x&email={quote(VICTIM)}", headers=FORM)
    assert_limited(early, "Please try again in")
    frozen_clock.advance(minutes=5)
    again = client.http.post("/relay/email", body=f"t={token}&network=x&email={quote(VICTIM)}", headers=FORM)
    assert again.status_code == 303
    assert len(sent_mail(VICTIM)) == 2


def test_a_relay_fixing_a_typo_waits_a_minute_and_two_tabs_send_one_mail(client, store, frozen_clock):
    token = token_of(join(client, "email=amina%40exampel.net"))
    typo_fixed = client.http.post("/relay/email", body=f"t={token}&network=x&email=amina%40example.net", headers=FORM)
    assert_limited(typo_fixed, "Please try again in 1 minute(s).")  # the relay's own budget: one per minute
    (grant,) = grants(store)
    assert grant["email_pending"] == "amina@exampel.net"  # the refused request stored nothing
    frozen_clock.advance(minutes=1)
    tabs = [client.http.post("/relay/email", body=f"t={token}&network=x&email=amina%40example.net", headers=FORM)
            for _ in range(2)]
    assert sorted(a.status_code for a in tabs) == [303, 429]
    assert len(sent_mail("amina@example.net")) == 1


def test_only_the_newest_address_of_a_relay_can_be_confirmed(client, store, frozen_clock):
    token = token_of(join(client, "email=first%40example.net"))
    frozen_clock.advance(minutes=1)
    assert client.http.post("/relay/email", body=f"t={token}&network=x&email=second%40example.net", headers=FORM).status_code == 303
    (first,) = sent_mail("first@example.net")
    old_link = unquote(re.search(r"/email/confirm\?c=(\S+)", first.body).group(1))
    refused = client.http.post("/email/confirm", body=f"c={old_link}", headers=FORM)
    assert refused.status_code == 410
    assert "replaced by a newer one" in html.unescape(refused.body.decode())
    (grant,) = grants(store)
    assert "email" not in grant and grant["email_pending"] == "second@example.net"


def test_the_event_holds_only_so_many_addresses_waiting_for_confirmation(client, store, monkeypatch):
    monkeypatch.setattr(limits, "PENDING_ADDRESSES_PER_HOUR", 3)
    for i in range(3):
        assert join(client, f"email=relay{i}%40example.net").status_code == 303
    refused = join(client, "email=relay3%40example.net")
    assert_limited(refused, "Too many addresses are waiting for confirmation right now.")
    assert len(grants(store)) == 3 and not sent_mail("relay3@example.net")
    # The refused request gave back what it had counted: that relay's and that address's budgets.
    assert not any("mail#confirm#address" in i["pk"] and int(i["used"]) for i in store.table.scan()["Items"]
                   if i["kind"] == "quota" and i["pk"].endswith(limits._address_key("relay3@example.net")))
    assert join(client, "username=no_mail").status_code == 303  # a join without an address is not held back


def test_share_link_joins_are_throttled_per_client_ip(client, store, monkeypatch):
    monkeypatch.setattr(limits, "JOINS_PER_IP_PER_MINUTE", 5)
    assert all(join(client, "username=relay_one").status_code == 303 for _ in range(5))
    assert_limited(join(client, "username=relay_one"), "Too many people are joining from here right now.")
    assert len(grants(store)) == 5
    limits.take_join(store, "203.0.113.7")  # another client is not held back by this one


def test_the_event_wide_join_budget_binds_every_client(store, frozen_clock, monkeypatch):
    monkeypatch.setattr(limits, "JOINS_PER_MINUTE", 2)
    limits.take_join(store, "203.0.113.1")
    limits.take_join(store, "203.0.113.2")
    with pytest.raises(RateLimited) as refused:
        limits.take_join(store, "203.0.113.3")
    assert refused.value.retry_after == 60
    frozen_clock.advance(minutes=1)
    limits.take_join(store, "203.0.113.3")


def test_a_new_dashboard_link_is_mailed_once_per_cooldown_and_a_refusal_keeps_the_old_link(client, store, frozen_clock):
    from handler_support import confirm_address

    token = token_of(join(client, "email=rotate%40example.net"))
    settings = Settings.from_env()
    confirm_address(Store(settings.table_name), settings, "rotate@example.net")
    first = client.http.post("/relay/newlink", body=f"t={token}", headers=FORM)
    assert first.status_code == 303
    new = token_of(first)
    assert_limited(client.http.post("/relay/newlink", body=f"t={new}", headers=FORM), "Please try again in")
    assert client.http.get(f"/relay?t={new}").status_code == 200  # the refusal made no new generation
    frozen_clock.advance(minutes=5)
    assert client.http.post("/relay/newlink", body=f"t={new}", headers=FORM).status_code == 303
