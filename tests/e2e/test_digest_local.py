"""The e-mail digest in the local runtime: after each round's fan-out the state machine's Digest state mails every
relay with a confirmed address that round's proposals, once, with signed Approve and Skip links; following a link
over HTTP (GET shows the post and a button, POST decides) approves exactly as the dashboard does, and the publish
job reposts on the X sandbox. The link is single use."""

import html
import re
from collections import Counter
from datetime import timedelta

import pytest

from relaycast_local.simrelay import SimulatedRelay

pytestmark = pytest.mark.xdist_group("digest")

APPROVE = re.compile(r"^Approve repost: (\S+)$", re.M)
SKIP = re.compile(r"^Skip: (\S+)$", re.M)


def digests(inbox, address=None):
    return [m for m in inbox if "to approve" in m["subject"] and (address is None or address in m["to"])]


def follow(relay, link):
    """A person opening the link, then pressing the page's button: (GET page, POST answer, the form)."""
    page = relay.http.get(link, timeout=10)
    form = None
    if page.status_code == 200:
        action = html.unescape(re.search(r'<form method="post" action="([^"]*/proposal/(?:approve|skip))"', page.text).group(1))
        fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
        form = (action, fields)
    answer = relay.http.post(form[0], data=form[1], allow_redirects=False, timeout=30) if form else None
    return page, answer, form


@pytest.fixture(scope="module")
def digest_event(local_event):
    with local_event("digest") as stack:
        config, cloud, sandbox, api, scan = stack.config, stack.cloud, stack.x, stack.api_url, stack.scan
        seen = {"config": config}
        # relay_a confirms their address; relay_b never opens the confirmation; relay_c gives none.
        relay_a = SimulatedRelay(username="relay_a", email="a@example.net")
        relay_b = SimulatedRelay(username="relay_b", email="b@example.net", seed=1)
        relay_c = SimulatedRelay(username="relay_c", email=None, seed=2)
        for relay in (relay_a, relay_b, relay_c):
            relay.connect(api)
        assert relay_a.confirm_email(stack.sent_emails())
        runs = []
        # Rounds until relay_a's first digest arrives (nobody reviews on the dashboard meanwhile).
        while not digests(stack.sent_emails(), "a@example.net"):
            runs.append(cloud.run_until(cloud.now() + timedelta(hours=1), step=timedelta(hours=1)))
            assert cloud.now() < config.end_utc, "no digest during the event"
        first = digests(stack.sent_emails(), "a@example.net")[0]
        seen["first"] = first
        seen["items_before"] = scan()
        user_a = sandbox.users["relay_a"].id
        seen["user_a"] = user_a
        # Relay ids are random: the verified account's mapping names relay_a's.
        (identity,) = [i for i in seen["items_before"] if i.get("kind") == "identity" and i["pk"].endswith(f"#{user_a}")]
        seen["relay_a"] = identity["relay_id"]
        approve_links, skip_links = APPROVE.findall(first["body"]), SKIP.findall(first["body"])
        seen["links"] = (approve_links, skip_links)
        # Approve the first entry through its link, twice; skip the second entry through its own link.
        seen["approve"] = follow(relay_a, approve_links[0])
        cloud.pump()
        seen["retweets_after_approve"] = set(sandbox.retweets)
        seen["approve_again"] = relay_a.http.post(*seen["approve"][2], allow_redirects=False, timeout=30) if seen["approve"][2] else None
        seen["approve_reopened"] = relay_a.http.get(approve_links[0], timeout=10)
        # The next round's digest: skip its first entry through its link.
        while len(digests(stack.sent_emails(), "a@example.net")) < 2:
            runs.append(cloud.run_until(cloud.now() + timedelta(hours=1), step=timedelta(hours=1)))
            assert cloud.now() < config.end_utc, "no second digest during the event"
        second = digests(stack.sent_emails(), "a@example.net")[1]
        seen["skip"] = follow(relay_a, SKIP.findall(second["body"])[0])
        cloud.pump()
        seen["repost_log_mid"] = list(sandbox.repost_log)
        seen["items_mid"] = scan()
        # The rest of the event: more rounds, more digests (one per round with new proposals for relay_a).
        runs.append(cloud.run_until(config.end_utc + timedelta(minutes=30), step=timedelta(hours=1)))
        cloud.pump()
        seen["items_end"] = scan()
        seen["emails"] = stack.sent_emails()
        seen["repost_log"] = list(sandbox.repost_log)
        seen["failures"] = [f"{f.schedule} {f.error} {f.cause}"[:300] for run in runs for f in run.failures()]
        seen["round_outputs"] = [(f.status, f.output) for run in runs for f in run.firings if f.target_arn.split(":")[2] == "states"]
        yield seen


def of_kind(items, kind, **match):
    return [i for i in items if i.get("kind") == kind and all(i.get(k) == v for k, v in match.items())]


def test_the_event_ran_without_failure(digest_event):
    assert digest_event["failures"] == []
    # Every round's execution succeeded, its Digest state included (a failed digest is caught as digest_error).
    outputs = digest_event["round_outputs"]
    assert len(outputs) >= 6 and all(status == "SUCCEEDED" for status, _ in outputs)
    assert not [output for _, output in outputs if "digest_error" in str(output)]


def test_a_digest_lists_the_rounds_proposals_with_their_links(digest_event):
    seen = digest_event
    first = seen["first"]
    assert first["to"] == ["a@example.net"]
    round_digests = of_kind(seen["items_before"], "digest")
    assert len(round_digests) == 1 and round_digests[0]["relay_id"] == seen["relay_a"]
    round_id = round_digests[0]["round"]
    proposed = {p["post_id"] for p in of_kind(seen["items_before"], "proposal", relay_id=round_digests[0]["relay_id"], round=round_id)}
    assert proposed and {p.split("#", 1)[1] for p in round_digests[0]["posts"]} == proposed
    approve_links, skip_links = seen["links"]
    assert len(approve_links) == len(skip_links) == len(proposed)
    assert all("/proposal/approve?p=" in link for link in approve_links) and all("/proposal/skip?p=" in link for link in skip_links)
    assert f"{len(proposed)} post(s) to approve" in first["subject"]


def test_following_an_approve_link_publishes_once(digest_event):
    seen = digest_event
    page, answer, form = seen["approve"]
    assert page.status_code == 200 and form is not None and "Approve repost" in page.text
    assert answer.status_code == 303 and "/relay?t=" in answer.headers["Location"]
    approved = [p for p in of_kind(seen["items_mid"], "proposal", relay_id=seen["relay_a"]) if p["status"] == "approved"]
    assert len(approved) == 1
    post = approved[0]["post_id"]
    # The publish job reposted it from relay_a's account on X: the sandbox says so.
    assert (seen["user_a"], post) in seen["retweets_after_approve"]
    # A second POST of the same form, and the link opened again, decide nothing more.
    assert seen["approve_again"].status_code == 409
    assert seen["approve_reopened"].status_code == 409
    reposts = [r for r in seen["repost_log"] if r.user_id == seen["user_a"] and r.tweet_id == post]
    assert len(reposts) == 1 and not any(r.duplicate for r in seen["repost_log"])
    ledger = of_kind(seen["items_end"], "ledger", relay_id=seen["relay_a"], post_id=post)
    assert [i["status"] for i in ledger] == ["published"]


def test_following_a_skip_link_publishes_nothing(digest_event):
    seen = digest_event
    page, answer, _ = seen["skip"]
    assert page.status_code == 200 and "Skip this post?" in page.text and answer.status_code == 303
    skipped = [p for p in of_kind(seen["items_mid"], "proposal", relay_id=seen["relay_a"]) if p["status"] == "skipped"]
    assert len(skipped) == 1
    assert not [r for r in seen["repost_log"] if r.tweet_id == skipped[0]["post_id"]]


def test_one_digest_per_round_and_only_to_confirmed_addresses(digest_event):
    seen = digest_event
    mails = digests(seen["emails"])
    assert {to for m in mails for to in m["to"]} == {"a@example.net"}  # b never confirmed; c gave no address
    records = of_kind(seen["items_end"], "digest")
    assert len(mails) == len(records) >= 2
    per_round = Counter(r["round"] for r in records)
    assert set(per_round.values()) == {1}
    # Every round whose fan-out proposed something to relay_a mailed it once, listing exactly those proposals.
    relay_a = seen["relay_a"]
    proposals = of_kind(seen["items_end"], "proposal", relay_id=relay_a)
    rounds = {p["round"] for p in proposals}
    assert rounds == set(per_round)
    for record in records:
        assert {p.split("#", 1)[1] for p in record["posts"]} == {p["post_id"] for p in proposals if p["round"] == record["round"]}
    for mail, record in zip(mails, sorted(records, key=lambda r: r["round"])):
        assert len(APPROVE.findall(mail["body"])) == len(record["posts"])
