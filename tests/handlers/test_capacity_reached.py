"""When a network's seats are all taken, the hosted page says so and its connect refuses, storing nothing,
instead of starting an OAuth dance whose grant could never be served."""

import html

import boto3
import pytest
from chalice.test import Client

from handler_support import EVENT, FORM, Browser, load_function, relay_of, table_snapshot

from relaycast import capacity, relays
from relaycast.config import parse_event_config
from relaycast.errors import CapacityReached
from relaycast.settings import Settings
from relaycast.storage import NoSeat

FULL = "X takes no more relays for this event: every place it can serve is taken."


def use_event(**changes):
    from relaycast import settings as settings_module

    config = parse_event_config({**EVENT, **changes})
    boto3.client("ssm").put_parameter(Name="/relaycast/handler-test/config", Value=config.to_json(), Type="String", Overwrite=True)
    settings_module.reset_caches()
    return config


@pytest.fixture
def client(x_sandbox):
    use_event(max_relays={"x": 2})
    with Client(load_function("oauth", "app").app) as test_client:
        yield test_client


def test_xs_seats_are_what_its_app_cap_serves_at_the_cap_unless_the_event_says_fewer(stack_env):
    config = parse_event_config(EVENT)  # 3 posts per relay; publishing touches two of X's daily windows of 10,000
    assert capacity.seats(config, "x") == 20_000 // 3
    assert capacity.seats(parse_event_config({**EVENT, "max_relays": {"x": 40}}), "x") == 40
    mastodon = parse_event_config({**EVENT, "networks": ["x", "mastodon"], "mastodon_source": "mastodon.social"})
    assert capacity.seats(mastodon, "mastodon") is None  # per account limits only: nothing bounds the relays
    with pytest.raises(Exception, match="max_relays.mastodon"):
        parse_event_config({**EVENT, "max_relays": {"mastodon": 5}})


def test_a_full_network_is_said_on_the_page_and_its_connect_stores_nothing(client, x_sandbox, store):
    assert "Connect X" in html.unescape(client.http.get("/").body.decode())
    first = Browser(client, x_sandbox).connect("relay_one")
    Browser(client, x_sandbox).connect("relay_two")
    assert store.seats_taken("x") == 2
    page = html.unescape(client.http.get("/").body.decode())
    assert FULL in page and "Connect X" not in page
    assert FULL in html.unescape(client.http.get("/?lang=fr").body.decode()).replace(
        "X n'accepte plus de relais pour cet événement : toutes les places qu'il peut servir sont prises.", FULL)

    before = table_snapshot(store)
    refused = client.http.post("/connect/x", body="email=three%40example.net", headers=FORM)
    assert refused.status_code == 409
    assert "Nothing was stored." in html.unescape(refused.body.decode()) and "Location" not in refused.headers
    assert table_snapshot(store) == before
    # A relay who holds a seat may still reconnect from their dashboard; one who leaves gives the seat back.
    assert client.http.post("/connect/x", body=f"t={first}", headers=FORM).status_code == 302
    assert client.http.post("/relay/revoke", body=f"t={first}&network=x", headers=FORM).status_code == 303
    assert store.seats_taken("x") == 1
    Browser(client, x_sandbox).connect("relay_three")
    assert store.seats_taken("x") == 2 and relay_of(first)


def test_the_last_seat_taken_during_the_consent_ends_the_tokens_received(client, x_sandbox, store):
    late = Browser(client, x_sandbox)
    callback = late.consent(late.start(), "relay_late")  # consent given while there was room
    Browser(client, x_sandbox).connect("relay_one")
    Browser(client, x_sandbox).connect("relay_two")
    landed = late.get(callback)
    assert landed.status_code == 409 and "Nothing was stored." in html.unescape(landed.body.decode())
    assert not x_sandbox.active_grants("relay_late")  # the tokens were revoked at once
    grants = [i for i in store.table.scan()["Items"] if i["kind"] == "grant"]
    assert len(grants) == 2 and store.seats_taken("x") == 2


def test_concurrent_first_saves_cannot_take_more_seats_than_there_are(stack_env, store):
    def grant(relay_id):
        return {"relay_id": relay_id, "network": "x", "grant_id": f"g-{relay_id}", "user_id": relay_id[-1], "status": "active",
                "cap": 3, "mode": "approve-each"}

    assert store.save_grant(grant("r-1"), seats=1) is None
    with pytest.raises(NoSeat):
        store.save_grant(grant("r-2"), seats=1)
    assert store.grant("r-2", "x") is None
    assert store.save_grant(grant("r-1"), seats=1) is None  # the same grant again keeps its seat
    assert store.seats_taken("x") == 1
    store.delete_grant("r-1", "x", "g-1-other")  # not this grant any more: nothing given back
    assert store.seats_taken("x") == 1
    store.delete_grant("r-1", "x", "g-r-1")
    assert store.seats_taken("x") == 0 and store.grant("r-1", "x") is None


def test_a_share_link_join_to_a_full_network_stores_nothing(stack_env, store):
    config = use_event(modes={"x": "share-link"}, max_relays={"x": 1})
    settings = Settings.from_env()
    from relaycast import share_link

    share_link.join(store, settings, config, network="x", form={}, lang="en", base_url="https://localhost")
    before = table_snapshot(store)
    with pytest.raises(CapacityReached):
        share_link.join(store, settings, config, network="x", form={"email": "late@example.net"}, lang="en",
                        base_url="https://localhost")
    assert table_snapshot(store) == before
    assert relays.full_networks(store, config) == {"x"}
