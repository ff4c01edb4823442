"""A whole event in the local runtime: the real stack in moto, sandbox X, relays over HTTP, on a simulated clock.

The sandbox is the truth of what was read, published and revoked; relaycast's table must agree with it.
"""

import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from relaycast_local.demo import run_event

pytestmark = pytest.mark.xdist_group("e2e")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished_event(event_file):
    seen = {}

    def inspect(event, figures):
        x = event.stack.x
        seen["items"] = event.stack.scan()
        seen["retweets"] = set(x.retweets)
        seen["users"] = {r.username: x.users[r.username].id for r in event.relays}
        seen["followers"] = {x.users[r.username].id: x.users[r.username].followers for r in event.relays}
        seen["tokens"] = [t for t in x.issued_tokens() if t != x.bearer_token]
        seen["output"] = "\n".join(line for lines in event.stack.cloud.lambda_host.output.values() for line in lines)
        seen["relays"] = event.relays

    path = event_file("whole-event")
    figures = run_event(path, relays=6, cdk_out=path.parent / "cdk.out", inspect=inspect,
                        report_html=path.parent / "report" / "index.html")
    return figures, seen


def test_every_promise_of_the_report_holds(finished_event):
    figures, _ = finished_event
    assert figures["failed_firings"] == []
    assert figures["relays_connected"] == 6
    assert figures["candidates"] > 100 and figures["selected"] > 0
    assert figures["proposals"] > 0 and figures["approvals"] > 0 and figures["publishes_ok"] > 0
    # The report shows each pick with the reasons it was picked.
    assert len(figures["picks"]) == figures["selected"] and all(p["reasons"] and p["score"] > 0 for p in figures["picks"])
    assert figures["max_publishes_per_relay"] <= figures["cap_per_relay"] == 3
    assert figures["duplicate_publishes"] == 0
    assert figures["search_reads"] == figures["unique_posts_read"] == figures["candidates"]
    assert figures["grants_revoked_upstream"] == figures["relays_connected"]
    # relay_01 clicked "Connect X" twice; relay_02 revoked X mid-event and came back: a second grant, a second receipt.
    assert figures["relays_reconnected"] == 2 and figures["relays_revoked_then_reconnected"] == 1
    assert figures["receipts_stored"] == figures["relays_connected"] + 1
    assert figures["receipts_confirmed_but_live"] == 0
    assert figures["relays_with_address"] == 5
    # Relays 0 and 3 also connected Mastodon (relay 4 gave no address): 5 + 2 receipts by mail.
    assert figures["receipts_sent"] == figures["receipts_with_confirmed_address"] == figures["receipts_expected_by_mail"] == 8
    assert figures["mastodon_relays_connected"] == figures["mastodon_grants_revoked_upstream"] == 2
    assert figures["revocations_per_grant_max"] == 1  # the sweep and the TTL stream both ran: one revocation each
    assert figures["tokens_still_active"] == 0
    assert figures["grants_left"] == 0 and figures["token_material_left"] == 0
    assert figures["dead_letters"] == 0


def test_the_events_visibility_is_what_x_holds_and_every_receipt_tells_it(finished_event):
    figures, seen = finished_event
    on_x = [(user, post) for user, post in seen["retweets"] if user in seen["followers"]]
    visibility = figures["visibility"]
    assert visibility["posts_x"] == len(on_x) > 0
    # Each repost reaches its relay's followers as X counted them when the relay connected.
    assert visibility["reach_x"] == sum(seen["followers"][user] for user, _ in on_x)
    # A relay who carried a post counts once, on whichever networks, even if they took the post back later.
    assert visibility["relays"] == len({i["relay_id"] for i in seen["items"]
                                        if i.get("kind") == "ledger" and i["status"] in ("published", "undone")})
    assert figures["receipts_with_visibility"] == figures["receipts_sent"] == 8


def test_the_ledger_agrees_with_what_x_says_was_published(finished_event):
    _, seen = finished_event
    ledger = [i for i in seen["items"] if i.get("kind") == "ledger"]
    published = {(i["relay_id"], i["post_id"]) for i in ledger if i["status"] == "published"}
    by_user = {uid: name for name, uid in seen["users"].items()}
    # Relay ids are random: the verified accounts' mappings say whose relay each X account is.
    relay_of = {i["pk"].rsplit("#", 1)[1]: i["relay_id"] for i in seen["items"] if i.get("kind") == "identity" and i["pk"].startswith("IDENTITY#x#")}
    on_x = {(relay_of[user], post) for user, post in seen["retweets"] if user in by_user}
    assert published == on_x
    # The cap binds in this event (5 picks for a cap of 3): relays reach it, none passes it, and a relay at
    # the cap is proposed nothing more.
    per_relay = Counter(relay for relay, _ in published)
    assert max(per_relay.values()) == 3
    def instant(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    for relay, count in per_relay.items():
        if count < 3:
            continue
        full_at = max(instant(i["published_at"]) for i in ledger if i["relay_id"] == relay and i["status"] == "published")
        later = [p for p in seen["items"] if p.get("kind") == "proposal" and p["relay_id"] == relay and instant(p["proposed_at"]) > full_at]
        assert later == []
    # Every approval ended as published or skipped with a reason.
    approved = sum(len(r.approved) for r in seen["relays"])
    assert len(ledger) == approved


def test_every_relay_has_a_confirmed_receipt_and_no_token_was_printed(finished_event):
    _, seen = finished_event
    receipts = [i for i in seen["items"] if i.get("kind") == "receipt"]
    assert Counter(r["network"] for r in receipts) == {"x": 7, "mastodon": 2}  # one per grant
    assert all(r["status"] == "done" and r["confirmed"] and r["token_fingerprints"] for r in receipts)
    assert sum(1 for r in receipts if r.get("email_sent_at")) == 8  # the grants of those who confirmed an address
    # The end-of-event sweep is the primary path: it ran at end + grace, before the TTL could; relay_02's first
    # grant ended when they revoked it.
    assert Counter(r["reason"] for r in receipts) == {"the event ended": 8, "you revoked access from your dashboard": 1}
    assert len({r["grant_id"] for r in receipts}) == len(receipts)
    assert seen["tokens"] and seen["output"]
    assert not [t for t in seen["tokens"] if t in seen["output"]]


def test_a_bad_event_file_stops_the_demo_before_anything_runs(event_file, tmp_path):
    bad = event_file("whole-event", {"cap_per_relay: 3": "cap_per_relay: 0", "America/New_York": "Moon/Base"})
    result = subprocess.run(
        [sys.executable, "-m", "relaycast_local.cli", "demo", "--event", str(bad), "--report", str(tmp_path / "r.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 2
    assert "cap_per_relay" in result.stderr and "timezone" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_without_the_sweep_the_ttl_stream_ends_every_grant_once(event_file):
    """The TTL backstop alone: the sweeper deletes each grant as DynamoDB's TTL would, the stream (filtered on
    the TTL principal) reaches expire, which revokes at X from the old image and mails the receipt."""
    short = event_file("whole-event", {"slug: e2e-test": "slug: e2e-ttl", "end: 2026-12-09T18:00": "end: 2026-12-08T15:00"})
    seen = {}

    def no_sweep(event):
        sweeps = [s for s in event.stack.deployed.schedules if any('"sweep"' in (t.input or "") for t in s.targets)]
        assert len(sweeps) == 1
        sweeps[0].enabled = False

    def inspect(event, figures):
        seen["receipts"] = [i for i in event.stack.scan() if i.get("kind") == "receipt"]
        seen["revocations"] = Counter(r.grant_id for r in event.stack.x.revocations if r.whole_grant)

    figures = run_event(short, relays=3, cdk_out=short.parent / "cdk.out", prepare=no_sweep, inspect=inspect)
    assert figures["relays_connected"] == 3 and figures["failed_firings"] == []
    # Three X grants and relay 0's Mastodon grant, each ended by its TTL record — relay_02's second grant too
    # (its first ended when they revoked it: the TTL path does not take that receipt for its own).
    reasons = Counter(r["reason"] for r in seen["receipts"])
    assert reasons == {"access expired": 4, "you revoked access from your dashboard": 1}
    # Five X grants at X (relay_01 connected twice, relay_02 came back), each revoked once.
    assert set(seen["revocations"].values()) == {1} and len(seen["revocations"]) == 5
    assert figures["relays_reconnected"] == 2 and figures["relays_revoked_then_reconnected"] == 1
    assert figures["receipts_confirmed_but_live"] == 0
    assert figures["mastodon_relays_connected"] == figures["mastodon_grants_revoked_upstream"] == 1
    assert figures["receipts_sent"] == figures["receipts_with_confirmed_address"] == figures["receipts_expected_by_mail"] == 5
    assert figures["grants_left"] == 0 and figures["token_material_left"] == 0
    assert figures["tokens_still_active"] == 0


def test_picks_keep_reason_codes_the_demo_says_in_english_and_the_report_in_the_language_asked(finished_event, event_file):
    import html
    import json

    from relaycast.config import load_event_config
    from relaycast.reasons import MESSAGES, describe, render_all
    from relaycast_local import report

    figures, seen = finished_event
    picked = sorted((i for i in seen["items"] if i.get("kind") == "candidate" and i.get("selected_round")),
                    key=lambda i: (i["selected_round"], -float(i["score"])))
    assert picked and all(r.partition(":")[0] in MESSAGES for i in picked for r in i["reasons"])  # stored as codes
    assert [p["reasons"] for p in figures["picks"]] == [render_all(i["reasons"], "en") for i in picked]
    page_file = Path(figures["report"]["path"])
    data = json.loads(page_file.with_suffix(".json").read_text())
    assert [p["reasons"] for p in data["picks"]] == [list(i["reasons"]) for i in picked]  # the report's figures: codes
    config = load_event_config(event_file("whole-event"))
    english, french = html.unescape(page_file.read_text()), html.unescape(report.render(data, config, "fr"))
    for codes in (i["reasons"] for i in picked):
        assert describe(codes, "en") in english and describe(codes, "fr") in french
        assert describe(codes, "en") not in french


def test_the_organisers_report_shows_its_charts_and_figures_in_chromium_and_loads_nothing(finished_event):
    """The page `relaycast report` writes (the demo's report/index.html), opened in Debian's Chromium: its charts
    are drawn, its headline figures are the stack's, and it asks the network for nothing."""
    import json

    from playwright.sync_api import sync_playwright

    figures, _ = finished_event
    page_file = Path(figures["report"]["path"])
    data = json.loads(page_file.with_suffix(".json").read_text())
    artifacts = ROOT / "test-artifacts" / "report"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                                   "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            asked = []
            page.on("request", lambda request: asked.append(request.url))
            page.goto(page_file.as_uri())
            page.screenshot(path=artifacts / "report.png", full_page=True)
            headline = {key: page.inner_text(f"#{key} b") for key in ("relays-carried", "posts", "reach")}
            charts = page.locator(".chart svg").count()
            picks = page.locator("#picks tbody tr").count()
            drawn = page.evaluate("() => [...document.querySelectorAll('.chart svg')].map(s => s.getBBox().width)")
            embedded = json.loads(page.inner_text("#figures"))
        finally:
            browser.close()
    assert asked == [page_file.as_uri()]  # the page alone: no font, script or image fetched
    visibility = figures["visibility"]
    assert headline == {"relays-carried": f"{visibility['relays']:,}", "posts": f"{visibility['posts_x']:,}",
                        "reach": f"{visibility['reach_x'] + visibility.get('reach_mastodon', 0):,}"}
    assert charts >= 3 and all(width > 100 for width in drawn)
    assert picks == len(figures["picks"]) == len(data["picks"]) > 0
    assert sum(p["carried"] for p in data["picks"]) <= visibility["posts_x"]
    assert embedded["reach"] == data["reach"] == figures["report"]["reach"]
    assert (artifacts / "report.png").stat().st_size > 20_000
