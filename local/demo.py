"""`make demo`: a whole event on one machine — the real stack in moto, sandbox X, simulated relays.

The sandbox, not relaycast, is the source of truth for what was read, published and revoked; the
report compares it with what relaycast stored.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relaycast import credentials, quiet, selection
from relaycast.config import EventConfig, EventConfigError, load_event_config
from relaycast.insight import score_post
from relaycast.policy import policy
from relaycast.reasons import render_all
from relaycast.storage import plain

from .feed import OFF_TOPIC
from .harness import MASTODON_INSTANCE, ROOT, LocalStack, local_stack
from .report import find_stack, write_report
from .simrelay import SimulatedRelay


@dataclass
class LocalEvent:
    """A running local event: the deployed stack with its sandboxes, and the simulated relays."""

    stack: LocalStack
    relays: list[SimulatedRelay]
    on_mastodon: tuple[str, ...] = ()  # usernames of the relays who also connected Mastodon
    on_bluesky: tuple[str, ...] = ()  # usernames of the relays who also connected Bluesky
    on_linkedin: tuple[str, ...] = ()  # usernames of the relays who also connected LinkedIn
    removed_by_hand: int = 0  # LinkedIn relays who removed the app as their receipt asked
    came_back: tuple[str, ...] = ()  # usernames of the relays who revoked X during the event and connected again
    live_at_receipt: int = 0  # confirmed receipts whose tokens the network still accepted when the receipt was made


def confirmed_but_live(event: LocalEvent, receipts: list[dict[str, Any]]) -> int:
    """Receipts that say "confirmed" while the network still accepts a token of the grant they name (every token
    of the network's grant, refreshed ones included), or that name no token the network ever issued."""
    issued = {credentials.fingerprint(t): (net, t) for net in event.stack.networks() for t in net.issued_tokens()}
    wrong = 0
    for receipt in receipts:
        if not receipt.get("confirmed") or receipt.get("mode") == "share-link":
            continue
        named = [issued[f] for f in receipt.get("token_fingerprints", []) if f in issued]
        if not named or any(net.is_token_active(t) for net, token in named for t in net.tokens_of_grant(token)):
            wrong += 1
    return wrong


def reconnections(event: LocalEvent) -> tuple[int, int]:
    """From X's own records: relays with more than one grant, and those whose grant was revoked before a later
    one began (revoke now, then back)."""
    grants: dict[str, list[Any]] = {}
    for grant in event.stack.x.grants:
        grants.setdefault(grant.username, []).append(grant)
    relays = {r.username for r in event.relays if r.dashboard_url}
    again = [g for user, g in grants.items() if user in relays and len(g) > 1]
    back = [g for g in again if any(a.revoked_at and a.revoked_at < b.created_at for a in g for b in g)]
    return len(again), len(back)


def _carried(network: str, noun: str, done: list[tuple[str, str]]) -> dict[str, int]:
    """What a network's sandbox holds of the relays' actions ((account, post) pairs): how many, the most by one
    account, and the doubles."""
    return {f"{network}_{noun}": len(done),
            f"{network}_max_{noun}_per_relay": max(Counter(account for account, _ in done).values(), default=0),
            f"{network}_duplicate_{noun}": len(done) - len(set(done))}


def _receipts(items: list[dict[str, Any]], network: str) -> list[dict[str, Any]]:
    return [i for i in items if i.get("sk", "").startswith(f"RECEIPT#{network}#")]


def _asks_removal_by_hand(receipt: dict[str, Any]) -> bool:
    """A LinkedIn receipt that says the token could not be revoked and where the relay removes the app."""
    return receipt.get("confirmed") is False and "psettings/permitted-services" in json.dumps(receipt.get("verification", {}))


def report(event: LocalEvent, approvals: int, sent_emails: list[dict[str, Any]]) -> dict[str, Any]:
    sandbox, config = event.stack.x, event.stack.config
    items = event.stack.scan()
    kinds = Counter(i.get("kind") for i in items)
    relay_users = {sandbox.users[r.username].id for r in event.relays if r.dashboard_url}
    per_user = Counter(user for user, _post in sandbox.retweets if user in relay_users)
    revoked_users = {r.user_id for r in sandbox.revocations if r.whole_grant and r.user_id in relay_users}
    reblogs = event.stack.mastodon.reblogs() if event.stack.mastodon else []
    bluesky = event.stack.bluesky
    handles = {r.bluesky_handle for r in event.relays if r.bluesky_handle}
    reposts = [(r.did, r.subject_uri) for h in sorted(handles) for r in bluesky.reposts_by(h)] if bluesky else []
    linkedin = event.stack.linkedin
    members = sorted({r.linkedin_member for r in event.relays if r.linkedin_member})
    shares = [(s.author, s.parent or s.article) for m in members for s in linkedin.shares_by(m)] if linkedin else []
    receipts = [i for i in items if i.get("kind") == "receipt"]
    reconnected, revoked_then_back = reconnections(event)
    return {
        "event": config.slug,
        "relays_connected": len(relay_users),
        "candidates": kinds["candidate"],
        "selected": sum(1 for i in items if i.get("kind") == "candidate" and i.get("selected_round")),
        "proposals": kinds["proposal"],
        "approvals": approvals,
        "publishes_ok": sum(per_user.values()),
        "max_publishes_per_relay": max(per_user.values(), default=0),
        "cap_per_relay": config.cap_per_relay,
        "duplicate_publishes": sum(1 for r in sandbox.repost_log if r.duplicate),
        "search_reads": sandbox.search_reads,
        "unique_posts_read": sandbox.unique_posts_read,
        "grants_revoked_upstream": len(revoked_users),
        # Every token any sandbox network issued to relaycast, checked at the network.
        "tokens_still_active": sum(1 for net in event.stack.networks() for t in net.issued_tokens() if net.is_token_active(t)),
        "relays_reconnected": reconnected,
        "relays_revoked_then_reconnected": revoked_then_back,
        "receipts_confirmed_but_live": event.live_at_receipt + confirmed_but_live(event, receipts),
        "relays_with_address": sum(1 for r in event.relays if r.dashboard_url and r.email),
        "receipts_with_confirmed_address": sum(1 for i in items if i.get("kind") == "receipt" and i.get("email")),
        "receipts_sent": sum(1 for m in sent_emails if "revoked" in m["subject"] or "révoqué" in m["subject"]),
        # Every receipt tells the event's visibility: relays who carried it, posts in their names, their reach.
        "receipts_with_visibility": sum(1 for m in sent_emails if ("revoked" in m["subject"] or "révoqué" in m["subject"])
                                        and ("relays carried it" in m["body"] or "relais l'ont relayé" in m["body"])),
        "visibility": {k: v for k, v in plain(next((i for i in items if i.get("sk") == "VISIBILITY"), {})).items()
                       if k not in ("pk", "sk", "kind", "expires_at")},
        # The rounds' digests (notices.send_digest): one per relay with a confirmed address and round with proposals.
        "digests_sent": sum(1 for m in sent_emails if "to approve for" in m["subject"] or "à approuver pour" in m["subject"]),
        "revocations_per_grant_max": max(Counter(r.grant_id for r in sandbox.revocations if r.whole_grant).values(), default=0),
        "receipts_stored": sum(1 for i in items if i.get("kind") == "receipt" and i["sk"].startswith("RECEIPT#x#")),
        # Nothing goes out in a relay's name during their quiet hours (approvals of the night wait for 07:00).
        "published_in_quiet_hours": sum(
            1 for i in items if i.get("kind") == "ledger" and i.get("status") == "published" and i.get("published_at")
            and quiet.seconds_until_quiet_ends({}, config, datetime.fromisoformat(i["published_at"]))
        ),
        "published_local_hours": sorted({datetime.fromisoformat(i["published_at"]).astimezone(config.start.tzinfo).hour
                                            for i in items if i.get("kind") == "ledger" and i.get("published_at")}),
        "mastodon_relays_connected": len(event.on_mastodon),
        "mastodon_candidates": sum(1 for i in items if i.get("kind") == "candidate" and i.get("network") == "mastodon"),
        # Auto mode: boosted without a proposal, under the same cap and no-duplicate rule.
        "mastodon_auto_published": sum(1 for i in items if i.get("kind") == "ledger" and i.get("network") == "mastodon"
                                       and i.get("status") == "published"),
        **_carried("mastodon", "reblogs", reblogs),
        "mastodon_grants_revoked_upstream": sum(1 for i in _receipts(items, "mastodon") if i.get("confirmed") is True),
        "bluesky_relays_connected": len(event.on_bluesky),
        "bluesky_candidates": sum(1 for i in items if i.get("kind") == "candidate" and i.get("network") == "bluesky"),
        # What the relays' own repositories hold at the end (the sandbox's truth, not relaycast's ledger).
        **_carried("bluesky", "reposts", reposts),
        "bluesky_grants_revoked_upstream": sum(1 for i in _receipts(items, "bluesky") if i.get("confirmed") is True),
        "linkedin_relays_connected": len(event.on_linkedin),
        # Reshares of the organiser's posts and the other networks' picks shared as links, in the members' feeds.
        **_carried("linkedin", "reshares", shares),
        # LinkedIn lets no app revoke: each receipt says so (unconfirmed) and where the relay removes the app.
        "linkedin_receipts_unconfirmed": sum(1 for i in _receipts(items, "linkedin") if _asks_removal_by_hand(i)),
        "linkedin_apps_removed_by_relays": event.removed_by_hand,
        "receipts_expected_by_mail": sum(
            (1 + (r.username in event.on_mastodon) + (r.username in event.on_bluesky) + (r.username in event.on_linkedin)
             + (r.username in event.came_back))
            for r in event.relays
            if r.dashboard_url and r.email
        ),
        "grants_left": kinds["grant"],
        "token_material_left": sum(1 for i in items if "tokens" in i or i.get("kind") == "custody"),
        "dead_letters": event.stack.dead_letters(),
        # Scored again here, without the author's weight: no pick of a network relaycast reads is under the floor.
        "picks_below_quality_floor": sum(
            1 for i in items if i.get("kind") == "candidate" and i.get("selected_round") and policy(i["network"]).reads
            and not score_post(text=i["text"], lang=i.get("lang", "und"), is_reply=bool(i.get("is_reply"))).eligible(config.quality_floor)),
        # The feed's own labels, not relaycast's judgement: picks of posts that only ride the hashtag (spam, a job ad,
        # unrelated chatter), and how many of those the floor alone would have let through.
        **_off_topic(event, items),
        "picks_per_session": _picks_per_session(config, items),
        # What relaycast picked and why (its reasons in English), in the order it picked them.
        "picks": [
            {"round": i["selected_round"], "network": i["network"], "author": i["author"], "score": float(i["score"]),
             "quality": float(i.get("quality", 0)), "reasons": render_all(i.get("reasons", []), "en"),
             "text": i["text"]}
            for i in sorted((i for i in items if i.get("kind") == "candidate" and i.get("selected_round")),
                            key=lambda i: (i["selected_round"], -float(i["score"])))
        ],
    }


def _off_topic(event: LocalEvent, items: list[dict[str, Any]]) -> dict[str, int]:
    """Candidates and picks that are, by the feed's labels, posts riding the hashtag (matched by their text: every
    network's copy of a post carries it)."""
    riding = {post.text for post in event.stack.feed if post.kind == OFF_TOPIC}
    config = event.stack.config
    candidates = [i for i in items if i.get("kind") == "candidate" and i.get("text") in riding]
    return {
        "off_topic_candidates": len(candidates),
        "off_topic_above_quality_floor": sum(1 for i in candidates if score_post(text=i["text"]).eligible(config.quality_floor)),
        "picks_off_topic": sum(1 for i in candidates if i.get("selected_round")),
    }


def _picks_per_session(config: EventConfig, items: list[dict[str, Any]]) -> dict[str, int]:
    """How the picks of the networks relaycast reads spread over the programme's sessions, each placed as the rounds'
    matcher places it (`relevance.Topic`, learnt here from every candidate of the event); "(none)" when none fits."""
    candidates = [i for i in items if i.get("kind") == "candidate" and policy(i["network"]).reads]
    topic = selection.learn_topic(candidates, programme=config.programme, event_tags=config.hashtags)
    sessions = Counter(topic.judge(i, datetime.fromisoformat(i["created_at"])).session or "(none)"
                       for i in candidates if i.get("selected_round"))
    return dict(sessions.most_common())


def follow_linkedin_receipts(event: LocalEvent) -> int:
    """LinkedIn lets no app revoke its token: each LinkedIn relay's receipt says so and where to remove the app,
    and these relays do it (the sandbox's `remove_app`). Returns how many did."""
    linkedin = event.stack.linkedin
    if linkedin is None:
        return 0
    asked = {i.get("username") for i in _receipts(event.stack.scan(), "linkedin") if _asks_removal_by_hand(i)}
    done = 0
    for person in event.relays:
        member = linkedin.members.get(person.linkedin_member or "")
        if member and member.name in asked:
            linkedin.remove_app(member.member_id)
            done += 1
    return done


def run_event(
    event_file: str | Path,
    *,
    relays: int = 20,
    progress: Any = None,
    cdk_out: Path | None = None,
    inspect: Any = None,
    prepare: Any = None,
    report_html: Path | None = None,
) -> dict[str, Any]:
    """Run the event; `prepare(event)` may adjust it once deployed (tests switch a path off), and
    `inspect(event, figures)` may look at everything before the local cloud stops. With `report_html`, the
    organiser's report is written there, by `relaycast report`'s code, from the stack's table and CloudWatch."""
    slug = load_event_config(event_file).slug
    with local_stack(event_file, cdk_out=cdk_out or ROOT / "build" / f"cdk.out.{slug}") as stack:
        config, cloud, api_url = stack.config, stack.cloud, stack.api_url
        # One relay in five gives no e-mail address: they read their receipt on the dashboard instead.
        people = [
            SimulatedRelay(username=f"relay_{i:02d}", email=None if i % 5 == 4 else f"relay{i:02d}@example.net", seed=i)
            for i in range(relays)
        ]
        event = LocalEvent(stack, people)
        if prepare:
            prepare(event)
        for person in people:
            person.connect(api_url)
        if "mastodon" in config.networks:  # one relay in three adds a Mastodon account from their dashboard
            event.on_mastodon = tuple(p.username for p in people[::3])
            for person in people[::3]:
                stack.mastodon.add_followers(person.username, person.random.randint(1, 6))  # their audience there
                person.add_mastodon(MASTODON_INSTANCE)
        if stack.bluesky:  # one relay in four adds a Bluesky account from their dashboard
            event.on_bluesky = tuple(p.username for p in people[1::4])
            for person in people[1::4]:
                person.add_bluesky(stack.bluesky)
        if stack.linkedin:  # one relay in five adds a LinkedIn account from their dashboard
            event.on_linkedin = tuple(p.username for p in people[2::5])
            for person in people[2::5]:
                person.add_linkedin(stack.linkedin)
        inbox = stack.sent_emails()
        for person in people:
            if person.email:
                person.confirm_email(inbox)
        # The clumsy and the hesitant: one relay clicks "Connect X" a second time; another revokes X a third of
        # the way through the event and connects again a round later. Each must end with one live grant, then none.
        if len(people) > 1:
            people[1].connect(api_url)
        comes_back = people[2] if len(people) > 2 else None
        revoke_at = config.start_utc + (config.end_utc - config.start_utc) / 3
        approvals = 0

        def between_ticks(now):
            nonlocal approvals, comes_back
            if comes_back and now >= revoke_at and comes_back.username not in event.came_back:
                comes_back.revoke("x")
                event.came_back += (comes_back.username,)
                mine = [i for i in stack.scan() if i.get("kind") == "receipt" and i.get("username") == comes_back.username]
                event.live_at_receipt += confirmed_but_live(event, mine)
            elif comes_back and comes_back.username in event.came_back:
                comes_back.connect(api_url)
                if comes_back.email:  # their address left with their last grant: they confirm it again
                    comes_back.confirm_email(stack.sent_emails())
                comes_back = None
            for person in people:
                approvals += person.maybe_review(now)[0]
            if progress:
                progress(now, config)

        run = cloud.run_until(
            config.access_ends + timedelta(minutes=config.poll_interval_minutes),
            step=timedelta(minutes=config.poll_interval_minutes),
            on_tick=between_ticks,
        )
        cloud.pump()
        event.removed_by_hand = follow_linkedin_receipts(event)
        figures = report(event, approvals, stack.sent_emails())
        figures["rounds"] = sum(1 for f in run.firings if f.target_arn.split(":")[2] == "states")
        figures["failed_firings"] = [f"{f.schedule} at {f.at:%H:%M}: {f.error} {f.cause}"[:300] for f in run.failures()]
        if report_html is not None:
            cloud.publish_lambda_metrics()
            organiser = write_report(config, find_stack(stack.deployed.stack_name), report_html)
            figures["report"] = {"path": str(report_html), "relays_carried": organiser["relays_carried"],
                                 "posts": organiser["posts"], "reach": organiser["reach"],
                                 "cost_usd": round(organiser["cost"]["aws_usd"] + organiser["cost"]["platform_usd"], 2)}
        if inspect:
            inspect(event, figures)
        return figures


def main(event: str = "events/demo.yaml", relays: int = 20, report: str = "demo-report.json",
         report_html: str = "report/index.html") -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)  # a log file gets wide tables
    try:
        config = load_event_config(event)
    except EventConfigError as error:
        console.print(f"[red]{error}")
        return 2
    total = (config.access_ends - config.start_utc).total_seconds() + 3600
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("synthesising and deploying", total=total, clock="")

        def progress(now, cfg):
            done = (now - cfg.start_utc).total_seconds() + 3600
            bar.update(task, completed=done, description="event running", clock=now.astimezone(cfg.start.tzinfo).strftime("%a %H:%M"))

        figures = run_event(event, relays=relays, progress=progress, report_html=Path(report_html))
    Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    ok = (
        figures["max_publishes_per_relay"] <= figures["cap_per_relay"]
        and figures["duplicate_publishes"] == 0
        and figures["search_reads"] == figures["unique_posts_read"]
        and figures["grants_revoked_upstream"] == figures["relays_connected"]
        and figures["receipts_stored"] == figures["relays_connected"] + figures["relays_revoked_then_reconnected"]
        and figures["relays_reconnected"] >= 1 and figures["relays_revoked_then_reconnected"] >= 1
        and figures["receipts_confirmed_but_live"] == 0
        and figures["tokens_still_active"] == 0
        and figures["receipts_sent"] == figures["receipts_with_confirmed_address"] == figures["receipts_expected_by_mail"]
        and figures["receipts_with_visibility"] == figures["receipts_sent"]
        and figures["picks_below_quality_floor"] == 0
        # Posts riding the hashtag reached the rounds, passed the floor on form, and none was picked.
        and figures["off_topic_above_quality_floor"] > 0 and figures["picks_off_topic"] == 0
        and figures["report"]["posts"] == sum(v for k, v in figures["visibility"].items() if k.startswith("posts_")) > 0
        and figures["mastodon_grants_revoked_upstream"] == figures["mastodon_relays_connected"]
        and figures["bluesky_grants_revoked_upstream"] == figures["bluesky_relays_connected"]
        and figures["linkedin_receipts_unconfirmed"] == figures["linkedin_apps_removed_by_relays"] == figures["linkedin_relays_connected"]
        and ("linkedin" not in config.networks or (
            0 < figures["linkedin_reshares"] and figures["linkedin_max_reshares_per_relay"] <= figures["cap_per_relay"]
            and figures["linkedin_duplicate_reshares"] == 0))
        and ("bluesky" not in config.networks or (
            0 < figures["bluesky_reposts"] and figures["bluesky_max_reposts_per_relay"] <= figures["cap_per_relay"]
            and figures["bluesky_duplicate_reposts"] == 0))
        and figures["revocations_per_grant_max"] == 1
        and figures["grants_left"] == 0
        and figures["token_material_left"] == 0
        and figures["publishes_ok"] > 0
        and figures["published_in_quiet_hours"] == 0
        and not figures["failed_firings"]
        and (config.mode("mastodon") != "auto" or "mastodon" not in config.networks or (
            0 < figures["mastodon_auto_published"] == figures["mastodon_reblogs"]
            and figures["mastodon_max_reblogs_per_relay"] <= figures["cap_per_relay"]
            and figures["mastodon_duplicate_reblogs"] == 0))
    )
    picks = Table(title="Picks and why", show_lines=True)
    for column, width in (("round (UTC)", 11), ("author", 16), ("score", 5), ("reasons", 40), ("post", 50)):
        picks.add_column(column, width=width, overflow="fold")
    for pick in figures["picks"]:
        when = datetime.strptime(pick["round"], "%Y%m%dT%H%M%SZ").strftime("%a %H:%M")
        picks.add_row(when, f"@{pick['author']}", f"{pick['score']:.2f}", ", ".join(pick["reasons"]), pick["text"][:140])
    console.print(picks)
    console.print_json(data={k: v for k, v in figures.items() if k != "picks"})
    console.print(f"the organiser's report: {report_html} (relaycast report's page)")
    console.print(f"report written to {report}: " + ("[green]every promise kept" if ok else "[red]a promise was broken"))
    return 0 if ok else 1
