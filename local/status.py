"""`relaycast status`: the event as it runs — relays per network and mode, proposals, relay-posts, the platforms'
budgets, alarms, dead letters, the next round — from the stack's table, SQS and CloudWatch, through boto3 (AWS, or
the local runtime with `--local`). `--watch` redraws it every few seconds.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3

from relaycast import clock
from relaycast.config import EventConfig
from relaycast.networks import NETWORK_NAMES
from relaycast.policy import policy
from relaycast.storage import Store

from .report import Stack, by_kind, find_stack


def next_round(config: EventConfig, now: datetime) -> datetime | None:
    """The rounds run every `poll_interval_minutes` from the start to the end; None once the last has run."""
    if now >= config.end_utc:
        return None
    if now < config.start_utc:
        return config.start_utc
    step = timedelta(minutes=config.poll_interval_minutes)
    return config.start_utc + step * ((now - config.start_utc) // step + 1)


def gather(config: EventConfig, stack: Stack) -> dict[str, Any]:
    """The figures `status` shows, as plain data."""
    now = clock.now()
    kinds = by_kind(stack.table_name)
    store = Store(stack.table_name)
    networks = {}
    for network in config.networks:
        grants = [g for g in kinds["grant"] if g.get("network") == network]
        ledger = [i for i in kinds["ledger"] if i.get("network") == network]
        row = policy(network)
        budget = None
        if row.per_app:
            room = store.quota_room(f"{network}#app", row.per_app.calls, row.per_app.window_seconds, row.per_app.sliding)
            budget = {"used": row.per_app.calls - room, "calls": row.per_app.calls, "window_hours": row.per_app.window_seconds / 3600}
        networks[network] = {
            "name": NETWORK_NAMES.get(network, network),
            "mode": config.mode(network),
            "relays": dict(Counter(g.get("status", "?") for g in grants)),
            "proposals": dict(Counter(p.get("status") for p in kinds["proposal"] if p.get("network") == network)),
            "relay_posts": dict(Counter(i["status"] for i in ledger)),
            "skipped": dict(Counter(i.get("reason", "") for i in ledger if i["status"] == "skipped").most_common(5)),
            "app_budget": budget,
        }
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"relaycast-{config.slug}-")["MetricAlarms"]
    sqs = boto3.client("sqs")
    dead = {}
    for name, url in stack.queues.items():
        if "dlq" in name.lower() or "deadletter" in name.lower():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            dead[name] = int(attributes["ApproximateNumberOfMessages"])
    upcoming = next_round(config, now)
    return {
        "now": now.isoformat(),
        "phase": ("before the event" if now < config.start_utc else "running" if now < config.end_utc
                  else "access ending" if now < config.access_ends else "access ended"),
        "networks": networks,
        "candidates": len(kinds["candidate"]),
        "rounds_with_picks": len({c["selected_round"] for c in kinds["candidate"] if c.get("selected_round")}),
        "receipts": len(kinds["receipt"]),
        "alarms": len(alarms),
        "alarms_declared": stack.alarms,
        "in_alarm": sorted(a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"),
        "dead_letters": dead,
        "next_round": upcoming.isoformat() if upcoming else None,
    }


def render(config: EventConfig, figures: dict[str, Any]) -> Any:
    """The status as a rich renderable."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    zone = config.start.tzinfo

    def at(iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%a %d %b %H:%M")

    def join(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {k}" for k, n in counts.items()) or "—"

    head = Text(f"{config.name} — {figures['phase']}, {at(figures['now'])} ({config.timezone}); "
                + (f"next round {at(figures['next_round'])}" if figures["next_round"] else "no round left"))
    table = Table(show_lines=False)
    for column in ("network", "mode", "relays", "proposals", "relay-posts", "app budget"):
        table.add_column(column)
    for n in figures["networks"].values():
        budget = n["app_budget"]
        table.add_row(n["name"], n["mode"], join(n["relays"]), join(n["proposals"]), join(n["relay_posts"]),
                      f"{budget['used']:,} of {budget['calls']:,} per {budget['window_hours']:g} h" if budget else "per account only")
    skipped = [f"  {n['name']}: {count} × {reason}" for n in figures["networks"].values() for reason, count in n["skipped"].items()]
    dead = sum(figures["dead_letters"].values())
    tail = Text("\n".join([
        f"candidates read {figures['candidates']:,}; rounds with picks {figures['rounds_with_picks']:,}; receipts {figures['receipts']:,}",
        *(["skipped, by reason:", *skipped] if skipped else []),
        _alarms(figures),
        f"dead letters: {dead}" + (" (" + ", ".join(f"{k} {v}" for k, v in figures["dead_letters"].items() if v) + ")" if dead else ""),
    ]))
    return Group(head, table, tail)


def _alarms(figures: dict[str, Any]) -> str:
    if not figures["alarms"] and figures["alarms_declared"]:
        return (f"alarms: the stack declares {figures['alarms_declared']}; none exists where this looked "
                "(the local runtime does not create CloudWatch alarms)")
    named = f" ({', '.join(figures['in_alarm'])})" if figures["in_alarm"] else ""
    return f"alarms: {len(figures['in_alarm'])} of {figures['alarms']} in ALARM{named}"


def show(config: EventConfig, stack_of: Any, watch: float | None, attach: Any = None) -> int:
    """Print the status once, or redraw it every `watch` seconds until Ctrl-C. `attach()` enters what the status
    is read through (the local runtime), anew at each redraw: its simulated time moves."""
    from contextlib import nullcontext

    from rich.console import Console
    from rich.live import Live

    console = Console()

    def figures() -> Any:
        with (attach() if attach else nullcontext()):
            return render(config, gather(config, stack_of()))

    if not watch:
        console.print(figures())
        return 0
    try:
        if not console.is_terminal:  # a log or a pipe: one status after another
            while True:
                console.print(figures())
                console.rule()
                console.file.flush()
                time.sleep(watch)
        with Live(figures(), console=console, refresh_per_second=1) as live:
            while True:
                time.sleep(watch)
                live.update(figures())
    except KeyboardInterrupt:
        return 0


def main(event: str, *, local: bool = False, watch: float | None = None) -> int:
    from relaycast.config import EventConfigError, load_event_config

    from .attach import NotRunning, attached, read_state
    from .report import StackNotFound, credentials_or_none

    try:
        config = load_event_config(event)
    except EventConfigError as error:
        print(error, file=sys.stderr)
        return 2
    name = f"relaycast-{config.slug}"
    attach = None
    if local:
        try:
            read_state(config.slug, event)
        except NotRunning as missing:
            print(f"relaycast status: {missing}", file=sys.stderr)
            return 2
        attach = lambda: attached(read_state(config.slug, event))  # noqa: E731
    elif refused := credentials_or_none():
        print(f"relaycast status: {refused}", file=sys.stderr)
        return 2
    try:
        return show(config, lambda: find_stack(name), watch, attach)
    except StackNotFound as missing:
        print(f"relaycast status: {missing}; deploy it first (relaycast deploy {event})", file=sys.stderr)
        return 2
    except NotRunning as stopped:
        print(f"relaycast status: {stopped}", file=sys.stderr)
        return 2
