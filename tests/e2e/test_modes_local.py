"""The publishing modes in the local runtime: X in share-link mode (no token; the relay clicks a link that records
the share and opens X's own repost intent) next to Mastodon in auto mode (the round's fan-out queues the boost,
no proposal), through the deployed stack in moto, on a simulated clock; every grant ends with a receipt."""

import re
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from relaycast_local.harness import MASTODON_INSTANCE
from relaycast_local.simrelay import SimulatedRelay

pytestmark = pytest.mark.xdist_group("modes")

SHARE = re.compile(r'href="([^"]*/relay/share\?[^"]+)"')
NO_TOKEN = "relaycast never held a token for this account: nothing to revoke"


@pytest.fixture(scope="module")
def modes_event(local_event):
    with local_event("modes") as stack:
        config, cloud, sandbox, mastodon, api, scan = stack.config, stack.cloud, stack.x, stack.mastodon, stack.api_url, stack.scan
        assert config.mode("x") == "share-link" and config.mode("mastodon") == "auto"
        seen = {"config": config, "mastodon_scheduled": stack.mastodon_scheduled}
        # Three relays join X with share links over HTTP; two of them add Mastodon (OAuth) from their dashboard.
        relays = [SimulatedRelay(username=f"relay_{i}", email=None if i == 2 else f"relay{i}@example.net", seed=i) for i in range(3)]
        for relay in relays:  # relay_2 claims to be an expert: a share-link name is only their word
            relay.join_share_link(api, "x", username="amina_data" if relay is relays[2] else None)
        seen["tokens_after_join"] = [t for t in sandbox.issued_tokens() if t != sandbox.bearer_token]
        seen["grants_after_join"] = [i for i in scan() if i.get("kind") == "grant"]
        for relay in relays[:2]:
            relay.add_mastodon(MASTODON_INSTANCE)
        inbox = stack.sent_emails()
        seen["confirmed"] = [relay.confirm_email(inbox) for relay in relays if relay.email]

        # Half the event: rounds propose X picks (as share links) and boost Mastodon picks at once.
        runs = [cloud.run_until(config.start_utc + timedelta(hours=5), step=timedelta(minutes=60))]
        seen["items_mid"] = scan()
        # Each relay opens their dashboard; relay_0 clicks one share link twice, relay_1 clicks all of theirs.
        seen["dashboards"] = {r.username: r.http.get(r.dashboard_url, timeout=10).text for r in relays}
        seen["clicks"] = []
        for relay, how_many in ((relays[0], 1), (relays[1], None)):
            links = [link.replace("&amp;", "&") for link in SHARE.findall(seen["dashboards"][relay.username])]
            for link in links[:how_many]:
                for _ in range(2 if relay is relays[0] else 1):
                    answer = relay.http.get(link, allow_redirects=False, timeout=10)
                    seen["clicks"].append((relay.username, link, answer.status_code, answer.headers.get("Location"), answer.text[:300]))
        seen["items_after_clicks"] = scan()

        # The rest of the event and its end: the sweep ends every grant.
        runs.append(cloud.run_until(config.access_ends + timedelta(hours=1), step=timedelta(minutes=60)))
        cloud.pump()
        seen["failures"] = [f"{f.schedule} {f.error} {f.cause}"[:300] for run in runs for f in run.failures()]
        seen["items_end"] = scan()
        seen["retweets"] = set(sandbox.retweets)
        seen["repost_log"] = list(sandbox.repost_log)
        seen["x_tokens"] = [t for t in sandbox.issued_tokens() if t != sandbox.bearer_token]
        seen["x_revocations"] = list(sandbox.revocations)
        seen["reblogs"] = mastodon.reblogs()
        seen["mastodon_ids"] = {r.username: mastodon.account_id(r.username) for r in relays}
        seen["emails"] = stack.sent_emails()
        seen["relays"] = relays
        seen["final_dashboards"] = {r.username: r.http.get(r.dashboard_url, timeout=10).text for r in relays}
        yield seen


def of_kind(items, kind, **match):
    return [i for i in items if i.get("kind") == kind and all(i.get(k) == v for k, v in match.items())]


def test_the_event_ran_without_failure(modes_event):
    assert modes_event["failures"] == []
    assert modes_event["mastodon_scheduled"] > 0
    assert modes_event["confirmed"] == [True, True]


def test_a_declared_name_keeps_those_posts_from_that_relay_only(modes_event):
    proposals = of_kind(modes_event["items_end"], "proposal", network="x")
    claimant = next(g["relay_id"] for g in modes_event["grants_after_join"] if g.get("username") == "amina_data")
    by_expert = [p for p in proposals if p["author"].lstrip("@").lower() == "amina_data"]
    assert by_expert  # the expert's posts are still picked for everyone else
    assert {p["relay_id"] for p in by_expert} and claimant not in {p["relay_id"] for p in by_expert}
    assert [p for p in proposals if p["relay_id"] == claimant]  # the claimant gets the other picks


def test_share_link_relays_hold_no_token_and_get_links_on_their_dashboard(modes_event):
    seen = modes_event
    # Joining took no OAuth dance: X issued no token at all, and the grants hold none.
    assert seen["tokens_after_join"] == [] and seen["x_tokens"] == []
    grants = seen["grants_after_join"]
    assert len(grants) == 3 and all(g["mode"] == "share-link" and "tokens" not in g for g in grants)
    mid = seen["items_mid"]
    assert not [g for g in of_kind(mid, "grant", network="x") if "tokens" in g]
    proposals = of_kind(mid, "proposal", network="x")
    assert {p["relay_id"] for p in proposals} == {g["relay_id"] for g in grants}
    for relay in seen["relays"]:
        page = seen["dashboards"][relay.username]
        links = SHARE.findall(page)
        assert links, f"{relay.username} sees no share link"
        assert "/relay/approve" not in page  # nothing to approve: relaycast cannot post for them


def test_a_share_click_counts_once_and_opens_the_exact_x_intent(modes_event):
    seen = modes_event
    assert seen["clicks"]
    for username, link, status, location, body in seen["clicks"]:
        post = parse_qs(urlsplit(link).query)["post"][0]
        assert status == 303, body
        assert location == f"https://x.com/intent/retweet?tweet_id={post}"
    first, second = seen["clicks"][0], seen["clicks"][1]
    assert first[0] == second[0] == "relay_0" and first[1] == second[1]  # relay_0 clicked the same link twice
    after = seen["items_after_clicks"]
    clicked = Counter((u, parse_qs(urlsplit(link).query)["post"][0]) for u, link, *_ in seen["clicks"])
    shared = of_kind(after, "ledger", network="x", status="shared")
    x_grants = {g["relay_id"]: g for g in of_kind(after, "grant", network="x")}
    by_relay = Counter(i["relay_id"] for i in shared)
    assert sum(by_relay.values()) == len(clicked)  # one record per (relay, post), whatever the clicks
    assert {rid: int(g.get("published_count", 0)) for rid, g in x_grants.items() if rid in by_relay} == dict(by_relay)
    assert all(int(g.get("published_count", 0)) <= 3 for g in x_grants.values())
    assert all(i["link"].startswith("https://") for i in shared)
    # relaycast reposted nothing on X: the relay finishes the action on X themselves.
    assert seen["retweets"] == set() and seen["repost_log"] == []


def test_mastodon_auto_relays_were_boosted_without_a_proposal_within_the_cap(modes_event):
    seen = modes_event
    items = seen["items_end"]
    assert of_kind(items, "proposal", network="mastodon") == []
    boosters = {"relay_0", "relay_1"}
    reblogs = [(u, s) for u, s in seen["reblogs"] if u in boosters]
    assert reblogs, "no Mastodon boost"
    assert len(reblogs) == len(set(reblogs))  # never twice the same status
    per_relay = Counter(u for u, _ in reblogs)
    assert set(per_relay) == boosters and max(per_relay.values()) <= 3
    assert max(per_relay.values()) == 3  # the cap binds in this event: reached, never passed
    assert "relay_2" not in {u for u, _ in seen["reblogs"]}  # relay_2 has no Mastodon account connected
    published = of_kind(items, "ledger", network="mastodon", status="published")
    assert len(published) == len(reblogs)


def test_every_grant_ends_with_a_receipt(modes_event):
    seen = modes_event
    items = seen["items_end"]
    assert of_kind(items, "grant") == [] and not [i for i in items if "tokens" in i]
    receipts = of_kind(items, "receipt")
    assert Counter(r["network"] for r in receipts) == {"x": 3, "mastodon": 2}
    assert all(r["status"] == "done" and r["confirmed"] for r in receipts)
    assert seen["x_revocations"] == []  # nothing to revoke at X: relaycast never held a token there
    for receipt in of_kind(items, "receipt", network="x"):
        assert receipt["mode"] == "share-link" and receipt["verification"] == {"x": NO_TOKEN}
    shared = {(r["relay_id"], s["post_id"]) for r in of_kind(items, "receipt", network="x") for s in r["shared"]}
    assert shared == {(i["relay_id"], i["post_id"]) for i in of_kind(seen["items_after_clicks"], "ledger", network="x", status="shared")}
    assert all(r.get("mode") != "share-link" for r in of_kind(items, "receipt", network="mastodon"))
    # The relays with a confirmed address get each receipt by mail (relay_0 and relay_1: X and Mastodon each).
    mails = [m for m in seen["emails"] if "revoked" in m["subject"]]
    assert Counter(to for m in mails for to in m["to"]) == {"relay0@example.net": 2, "relay1@example.net": 2}
    assert any("never held a token" in m["body"] for m in mails)
    # After the end nothing is open any more; the dashboard keeps the receipt and what each relay shared.
    for relay in seen["relays"]:
        page = seen["final_dashboards"][relay.username]
        assert not SHARE.search(page) and "/relay/approve" not in page
    assert "Shared by you (3)" in seen["final_dashboards"]["relay_1"]
    # Share-link relays get no digest: there is nothing for them to approve.
    assert not [m for m in seen["emails"] if "to approve" in m["subject"]]
