"""Benchmark of publishing (not a test: it asserts nothing about time).

    python tests/bench/bench_publish.py [--relays 10000 --posts 8] [--property-examples 2000]

With moto in-process, the sandbox X on loopback and the frozen clock of tests/property, one run prints
  1. the calls one relay-post costs through the real publish handler (Powertools batch processor + idempotency):
     requests to X (the sandbox's request log), DynamoDB, KMS and SQS requests (a botocore `provide-client-params`
     hook, by operation) — on the happy path, under the fault mix of tests/property, and per delivery outcome
     when the app's budget is spent (first try or retry; published, deferred, answered 429, left to the end of
     access), with what the end of access costs per open reservation and what a token refresh costs;
  2. an event of --relays x --posts approved relay-posts on the simulated clock. Every budget decision is the
     real `take_budget` against moto's DynamoDB (X's app budget sliding, as in the policy table), except attempts
     while the app's budget is known spent (from a real call's wait: they would fail the same conditional update).
     A wait up to 15 minutes is a delayed message; a longer one is parked, and the release schedule's firings
     (every 5 minutes, reading the app budget's room for real) send parked jobs back. X is a model counting each
     window from its first request, as the sandbox does, and answering 429 past a limit. The rest of publish is not
     run for the 80,000: each attempt is costed with the outcome profiles of 1. The same event at 1/10 scale is
     then replayed with X counting UTC days;
  3. AWS cost per 1,000 relay-posts: counted calls x list prices (us-east-1), with X's price per created post;
  4. a longer run of the property of tests/property (hypothesis directly, one process per core), last and alone.
In-process times leave out the network; the call counts are what carries over to the cloud. With the defaults the
run takes 12-15 minutes on 2 cores: about 3 for parts 1-3, the rest for part 4 (--property-examples 0 leaves it out).
"""

from __future__ import annotations

import argparse
import heapq
import io
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore", message="No application metrics to publish")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "property")]

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

# --- prices ------------------------------------------------------------------------------------------------------
# us-east-1 list prices, read on the AWS pricing pages in 2026-11 (DynamoDB on-demand: since the 2024-11 cut).
PRICES_CHECKED = "us-east-1 list prices, AWS pricing pages read 2026-11"
LAMBDA_REQUEST = 0.20 / 1e6  # arm64 and x86
LAMBDA_GB_SECOND = 0.0000133334  # arm64, first 7.5 billion GB-s a month
DYNAMODB_WRU = 0.625 / 1e6  # on-demand write request unit (1 KB)
DYNAMODB_RRU = 0.125 / 1e6  # on-demand read request unit (4 KB strongly consistent)
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk
KMS_REQUEST = 0.03 / 1e4  # symmetric key requests
SFN_TRANSITION = 0.025 / 1e3  # standard workflows
X_POST_CREATED = 0.015  # /work/shared/DESIGN.md: X pay-per-use, per post created ($0.005 per post read)
PUBLISH_MEMORY_GB = 256 / 1024  # infra/pipeline.py
# Duration is modelled, not measured (in process, moto and the sandbox answer in microseconds): per invocation,
# a base plus a typical latency per call made from Lambda. X's is the one that matters.
LATENCY_MS = {"base": 20, "dynamodb": 6, "kms": 8, "sqs": 15, "secretsmanager": 15, "ssm": 10, "ses": 30, "x": 250}
WINDOW = 15 * 60  # the longest delay SQS gives a message; longer waits are parked
RELEASE_EVERY = 5 * 60  # infra/schedules.py RELEASE_MINUTES


# --- counting ---------------------------------------------------------------------------------------------------


class Calls:
    """AWS API calls by (bucket, service, operation) and DynamoDB request units by (bucket, unit), counted by a
    botocore `provide-client-params` hook on every session created after `install()`; the bucket is per thread."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.units: Counter[tuple[str, str]] = Counter()
        self._local = threading.local()

    def install(self) -> None:
        import botocore.handlers

        botocore.handlers.BUILTIN_HANDLERS.append(("provide-client-params", self._count))

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        bucket = getattr(self._local, "bucket", "other")
        service, operation = model.service_model.service_name, model.name
        self.counts[(bucket, service, operation)] += 1
        if service == "dynamodb":  # items here are under 1 KB (writes) and 4 KB (reads)
            if operation == "TransactWriteItems":
                self.units[(bucket, "WRU")] += 2 * len(params.get("TransactItems", []))
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                self.units[(bucket, "WRU")] += 1
            elif operation in ("GetItem", "Query"):
                self.units[(bucket, "RRU")] += 1 if params.get("ConsistentRead") else 0.5

    @contextmanager
    def bucket(self, name: str) -> Iterator[None]:
        before = getattr(self._local, "bucket", "other")
        self._local.bucket = name
        try:
            yield
        finally:
            self._local.bucket = before

    def of(self, bucket: str) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        calls = Counter({(s, o): n for (b, s, o), n in self.counts.items() if b == bucket})
        units = Counter({u: n for (b, u), n in self.units.items() if b == bucket})
        return calls, units


def x_route(method: str, path: str) -> str:
    if path.endswith("/retweets"):
        return "repost"
    if "/retweets/" in path:
        return "undo"
    if path.endswith("/retweeted_by"):
        return "state check (retweeted_by)"
    return {"/2/oauth2/token": "token refresh", "/2/oauth2/revoke": "revoke", "/2/users/me": "users/me"}.get(path, path)


@dataclass
class Profile:
    """What `n` units (relay-posts, or deliveries of one outcome) cost in calls."""

    n: int = 0
    invocations: int = 0
    aws: Counter[tuple[str, str]] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    x: Counter[str] = field(default_factory=Counter)

    def add(self, other: Profile) -> Profile:
        return Profile(self.n + other.n, self.invocations + other.invocations, self.aws + other.aws,
                       self.units + other.units, self.x + other.x)

    def scaled(self, factor: float) -> dict[str, float]:
        """Per-unit figures times `factor`: calls by service, X calls, DynamoDB units, invocations."""
        per = factor / max(self.n, 1)
        out: dict[str, float] = {"invocations": self.invocations * per, "x": sum(self.x.values()) * per}
        for (service, _), count in self.aws.items():
            out[service] = out.get(service, 0.0) + count * per
        for unit, count in self.units.items():
            out[unit] = count * per
        return out

    def service(self, name: str) -> int:
        return sum(n for (s, _), n in self.aws.items() if s == name)


# --- part 1: calls per relay-post through the handler ----------------------------------------------------------


class Meter:
    """Buckets the rig's work: deliveries ("publish"), approvals ("approve"), the rest ("harness"). X requests go
    to the bucket of the delivery whose window they fall in (a union: two interleaved deliveries count once)."""

    def __init__(self, rig: Any, calls: Calls) -> None:
        import publish_schedules

        self.rig, self.calls, self.module = rig, calls, publish_schedules
        self.x_seen: dict[str, set[int]] = {"publish": set(), "approve": set()}
        self.invocations = 0
        self._deliver = publish_schedules.deliver
        self._approve = rig.approve

    @contextmanager
    def installed(self) -> Iterator[None]:
        def deliver(rig: Any, messages: list[Any], **kwargs: Any) -> None:
            with self.calls.bucket("publish"), self._x("publish"):
                self.invocations += 1
                self._deliver(rig, messages, **kwargs)

        def approve(relay: Any, post_id: str) -> None:
            with self.calls.bucket("approve"), self._x("approve"):
                self._approve(relay, post_id)

        self.module.deliver, self.rig.approve = deliver, approve
        try:
            with self.calls.bucket("harness"):
                yield
        finally:
            self.module.deliver, self.rig.approve = self._deliver, self._approve

    @contextmanager
    def _x(self, bucket: str) -> Iterator[None]:
        start = len(self.rig.sandbox.request_log)
        try:
            yield
        finally:
            self.x_seen[bucket].update(range(start, len(self.rig.sandbox.request_log)))

    def profile(self, bucket: str, n: int) -> Profile:
        log = self.rig.sandbox.request_log
        aws, units = self.calls.of(bucket)
        x = Counter(x_route(log[i].method, log[i].path) for i in self.x_seen[bucket])
        return Profile(n, self.invocations if bucket == "publish" else 0, aws, units, x)


def per_relay_post(rig: Any, calls: Calls, schedules: list[Any], *, batch: int) -> tuple[Profile, Profile, int]:
    """Publish and approval profiles over `schedules`, per approved relay-post; and how many were published."""
    from publish_schedules import run

    meter = Meter(rig, calls)
    rig.batch, approved, published = batch, 0, 0
    with meter.installed():
        for schedule in schedules:
            result = run(rig, schedule)
            approved += len(result.approved)
            published += sum(1 for r in result.relays
                             for i in rig.store.relay_items(r.relay_id, "LEDGER#") if i["status"] == "published")
    return meter.profile("publish", approved), meter.profile("approve", approved), published


def fault_mix(count: int) -> list[Any]:
    """The first `count` schedules the property draws (derandomized: the same every run)."""
    from hypothesis import Phase, given, settings

    from test_publish_exactly_once import REPRODUCIBLE, schedules

    drawn: list[Any] = []

    @settings(REPRODUCIBLE, max_examples=count, phases=[Phase.generate])
    @given(schedules())
    def draw(schedule: Any) -> None:
        drawn.append(schedule)

    draw()
    return drawn[:count]


def outcome_profiles(rig: Any, calls: Calls, relays: int) -> dict[str, Profile]:
    """Each delivery outcome of a relay-post when a budget is spent, through the handler (one message per
    invocation), with `relays` samples each; a release of parked jobs (per job released); then what the end of
    access and a token refresh cost. The app's budget (sliding, as X's) is set to `relays` a day for this, and the
    short deferrals come from a relay budget of 0. The relays X answers 429 are others than those who publish: a
    429 holds the relay's own budget until X's reset, and gives its units back."""
    import dataclasses

    from publish_schedules import deliver
    from relaycast import publish
    from relaycast.policy import Limit, policy

    sandbox = rig.sandbox
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the event's start: every wait below ends before access does
    rig.begin(t0)
    relay_list = [rig.connect(f"o{rig.examples}r{i}") for i in range(relays)]
    late = [rig.connect(f"o{rig.examples}l{i}") for i in range(relays)]  # with their cap still free at the end
    limited = [rig.connect(f"o{rig.examples}q{i}") for i in range(relays)]  # X answers them 429
    everyone = relay_list + late + limited
    posts = rig.add_posts(5)
    for relay in relay_list:
        for post in (posts[0], posts[2]):
            rig.propose(relay, post)
    for relay in limited:
        rig.propose(relay, posts[1])
    profiles: dict[str, Profile] = {}

    def measure(label: str | Callable[[], str], n: int, invocations: int, action: Callable[..., Any], *args: Any) -> None:
        start, before, units_before = len(sandbox.request_log), Counter(calls.counts), Counter(calls.units)
        with calls.bucket("outcome"):
            action(*args)
        aws = Counter({(s, o): c for (b, s, o), c in (calls.counts - before).items() if b == "outcome"})
        units = Counter({u: c for (b, u), c in (calls.units - units_before).items() if b == "outcome"})
        x = Counter(x_route(r.method, r.path) for r in sandbox.request_log[start:])
        name = label() if callable(label) else label  # an outcome known only once the delivery is done
        profiles[name] = profiles.get(name, Profile()).add(Profile(n, invocations, aws, units, x))

    def one(label: str | Callable[[], str], message: Any, fault: bool = False) -> None:
        if fault:
            user = next(r.user_id for r in everyone if r.relay_id == message.job["relay_id"])
            sandbox.fail_next("POST", f"/2/users/{user}/retweets", status=429, reset_at=rig.clock.epoch() + 600)
        measure(label, 1, 1, deliver, rig, [message])

    def jobs(post: str) -> list[Any]:
        return [m for m in rig.queue.visible(rig.clock.epoch()) if m.job["post_id"] == post]

    def outcome_of(message: Any) -> Callable[[], str]:
        def label() -> str:
            ledger = rig.store.get(f"RELAY#{message.job['relay_id']}", f"LEDGER#x#{message.job['post_id']}") or {}
            return "retry: published" if ledger.get("status") == "published" else "retry: parked again"
        return label

    # The app's budget, sliding as X's; over 2 hours rather than 24, so that its waits end within the event (the
    # calls a delivery makes do not depend on the window's length).
    app_window = 7200
    row = policy("x")

    def limits(app: int, user: Limit = row.per_user) -> Callable[[str], Any]:
        return lambda network: dataclasses.replace(row, per_app=Limit(app, app_window, sliding=True), per_user=user)

    def spend_own_windows(relay_group: list[Any]) -> None:
        """Each relay's own budget spent for its current 15 minutes (a budget of 1, taken once)."""
        for relay in relay_group:
            grant = rig.store.grant(relay.relay_id, "x")
            key = publish._budget_keys(PublishJob(relay_id=relay.relay_id, network="x", post_id="1"), grant)[-1][0]
            rig.store.take_quota(key, 1, 900)

    def refresh(relay_group: list[Any]) -> None:
        """Tokens refreshed outside the measures: the event counts refreshes on their own."""
        x = x_network(rig.settings)
        for relay in relay_group:
            credentials.access_token(rig.store, rig.settings, rig.config, x, rig.store.grant(relay.relay_id, "x"))

    from relaycast import credentials
    from relaycast.networks.factory import x_network
    from relaycast.publish import PublishJob

    with pytest_patch() as patch:
        patch.setattr(publish, "policy", limits(relays))
        measure("release (nothing due)", 1, 1, rig.release)  # the schedule fires all event long
        for relay in relay_list:
            for post in (posts[0], posts[2]):
                rig.approve(relay, post)
        for relay in limited:
            rig.approve(relay, posts[1])
        for m in jobs(posts[1]):
            one("first try: X answered 429", m, fault=True)  # its units go back; back in 10 minutes
        for m in jobs(posts[0]):
            one("first try: published", m)  # the app's budget is now spent
        for m in jobs(posts[2]):
            one("first try: parked (budget spent)", m)  # until the 09:00 posts leave the app's window
        # When the parked jobs are due, the app's budget has room again: the 429's jobs are retried (X answers
        # 429 again); then half of the room is taken, a release sends that half, and meanwhile other publishes
        # take half of it again: of what the release sent, some publish, the others park again.
        (due,) = {int(i["due"]) for i in rig.parked()}
        rig.clock.at = datetime.fromtimestamp(-(-due // RELEASE_EVERY) * RELEASE_EVERY, UTC)
        refresh(everyone)
        for m in jobs(posts[1]):
            one("retry: X answered 429", m, fault=True)
        for _ in range(relays - relays // 2):
            rig.store.take_quota("x#app", relays, app_window, sliding=True)
        measure(lambda: "release (per job released)", relays // 2, 1, rig.release)
        for _ in range(relays // 4):
            rig.store.take_quota("x#app", relays, app_window, sliding=True)
        for m in jobs(posts[2]):
            one(outcome_of(m), m)
        # Short waits (a relay's own 15 minutes spent) stay delayed messages.
        patch.setattr(publish, "policy", limits(100 * relays, Limit(1, 900)))
        for relay in late:
            rig.propose(relay, posts[3])
            rig.approve(relay, posts[3])
        spend_own_windows(late)
        for m in jobs(posts[3]):
            one("first try: deferred (budget spent)", m)
        rig.clock.at += timedelta(seconds=900)
        spend_own_windows(late)
        for m in jobs(posts[3]):
            one("retry: deferred again", m)
        # Ten minutes before access ends a relay's 15 minutes, spent, end with access: the relay-post is left to it.
        rig.clock.at = rig.config.access_ends - timedelta(minutes=10)
        refresh(everyone)
        spend_own_windows(everyone)
        for m in rig.queue.visible(rig.clock.epoch()):
            one("retry: left to the end of access", m)
        for relay in relay_list:  # a round's pick, proposed and approved in the last minutes
            rig.propose(relay, posts[4])
            rig.approve(relay, posts[4])
        for m in jobs(posts[4]):
            one("first try: left to the end of access", m)
        # The end of access settles each open reservation (asks X, then publishes or skips it); and a token
        # refresh (every 2 h of a relay's activity). Both measured on the code that does them.
        from relaycast import expire

        x = x_network(rig.settings)
        for relay in relay_list + late + limited:
            grant = rig.store.grant(relay.relay_id, "x")
            token = credentials.access_token(rig.store, rig.settings, rig.config, x, grant)
            n = sum(1 for i in rig.store.relay_items(relay.relay_id, "LEDGER#") if i["status"] == "publishing")
            measure("settled at the end of access", n, 0, expire.settle_open_reservations, rig.store, x, lambda t=token: t, grant,
                    rig.config.retention_ends)
        rig.clock.at += timedelta(hours=3)
        for relay in relay_list:
            grant = rig.store.grant(relay.relay_id, "x")
            measure("token refresh", 1, 0, credentials.access_token, rig.store, rig.settings, rig.config, x, grant)
        for relay in relay_list:  # the same call on a fresh token: what every delivery pays already
            grant = rig.store.grant(relay.relay_id, "x")
            measure("token read", 1, 0, credentials.access_token, rig.store, rig.settings, rig.config, x, grant)
    # A refresh happens inside a delivery whose profile has read the custody already: only the difference counts.
    refresh, read = profiles["token refresh"], profiles.pop("token read")
    profiles["token refresh"] = Profile(refresh.n, 0, refresh.aws - read.aws, refresh.units - read.units, refresh.x - read.x)
    return profiles


@contextmanager
def pytest_patch() -> Iterator[Any]:
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        yield patch


# --- part 2: the simulated event -------------------------------------------------------------------------------


class PlatformWindow:
    """X's count of one limit: from the first request after the last window ended (the sandbox's rule), or on
    fixed windows aligned to the epoch (relaycast's own model)."""

    def __init__(self, limit: int, period: int, aligned: bool) -> None:
        self.limit, self.period, self.aligned = limit, period, aligned
        self.start: int | None = None
        self.used = 0
        self.history: list[int] = []

    def hit(self, t: int) -> int:
        """0 when counted, else the reset time (a 429)."""
        start = t - t % self.period if self.aligned else self.start
        if start is None or t >= start + self.period or start != self.start:
            if self.start is not None:
                self.history.append(self.used)
            self.start = t - t % self.period if self.aligned else t
            self.used = 0
        if self.used >= self.limit:
            return self.start + self.period
        self.used += 1
        return 0

    def busiest(self) -> int:
        return max([*self.history, self.used])


@dataclass
class Event:
    relays: int
    posts: int
    app_limit: int
    attempts: Counter[str] = field(default_factory=Counter)  # by outcome (the labels of outcome_profiles)
    skipped: Counter[str] = field(default_factory=Counter)
    published_at: list[int] = field(default_factory=list)
    rate_limited: int = 0
    releases: Counter[str] = field(default_factory=Counter)  # "release (nothing due)" firings, jobs released
    parked_max: int = 0  # the most jobs parked at once
    take_budget_calls: int = 0
    counted_without_call: int = 0
    refreshes: int = 0
    settled_open: int = 0  # reservations the end of access settles
    settled_at: int = 0
    busiest_user_window: int = 0
    platform_app_windows: list[int] = field(default_factory=list)
    platform_busiest_user: int = 0
    seconds: float = 0.0


def simulate(rig: Any, relays: int, posts: int, *, aligned: bool, app_limit: int | None, progress: Progress) -> Event:
    """One event: every relay approves every post (a worst case); see the module's docstring for what is real."""
    import dataclasses

    from relaycast import publish
    from relaycast.policy import Limit, policy
    from relaycast.publish import Deferred, PublishJob, give_back_budget, hold_budget, take_budget

    config = rig.config.model_copy(update={"publish_jitter_seconds": 120})  # relaycast's default jitter
    row = policy("x")
    per_app = Limit(app_limit, row.per_app.window_seconds) if app_limit else row.per_app
    assert per_app is not None
    start, end = int(config.start_utc.timestamp()), int(config.end_utc.timestamp())
    access_ends = int(config.access_ends.timestamp())
    rng = random.Random(2026)
    rig.begin(config.start_utc)
    event = Event(relays, posts, per_app.calls)
    app = PlatformWindow(per_app.calls, per_app.window_seconds, aligned)
    users = [PlatformWindow(row.per_user.calls, row.per_user.window_seconds, aligned) for _ in range(relays)]
    token_expires = [start - 1] * relays  # connected before the event: the first attempt refreshes
    heap: list[tuple[int, int, int, int, bool]] = []
    # Round k picks post k; a relay approves after an exponential delay (mean 30 min, within the proposal's
    # 12 h), then waits its jitter.
    for k in range(posts):
        proposed = start + int((k + 0.5) * (end - start) / posts)
        for r in range(relays):
            delay = min(rng.expovariate(1 / 1800), config.proposal_ttl_hours * 3600)
            heapq.heappush(heap, (proposed + int(delay) + rng.randint(0, config.publish_jitter_seconds), r * posts + k, r, k, True))
    total, sequence = relays * posts, relays * posts
    blocked_until = 0  # the app's budget known spent (or held after X's 429) until then, from a real take_budget
    parked: dict[str, list[tuple[int, int, int, int]]] = {"app": [], "time": []}  # lane -> heap of (due, seq, r, k)
    next_release = start - start % RELEASE_EVERY + RELEASE_EVERY  # the schedule's rate, from the event's start
    left_open: Counter[int] = Counter()  # relay -> relay-posts left to the end of access
    settled = 0
    task = progress.add_task(f"event {relays} x {posts} ({'UTC days' if aligned else 'from first request'})", total=total)
    started = time.perf_counter()

    def release(at: int) -> None:
        """The release schedule's firing at `at`: the time lane whole, the app lane as far as it has room (read
        for real). Each firing costs an empty release's invocation, and each job sent a job released's share."""
        nonlocal sequence
        rig.clock.at = datetime.fromtimestamp(at, UTC)
        room = min(publish.RELEASE_MOST, rig.store.quota_room("x#app", per_app.calls, per_app.window_seconds, per_app.sliding))
        due = []
        while parked["time"] and parked["time"][0][0] <= at and len(due) < publish.RELEASE_MOST:
            due.append(heapq.heappop(parked["time"]))
        while parked["app"] and parked["app"][0][0] <= at and room > 0:
            due.append(heapq.heappop(parked["app"]))
            room -= 1
        for _, _, r, k in due:
            sequence += 1
            heapq.heappush(heap, (at, sequence, r, k, False))
        event.releases["release (nothing due)"] += 1
        event.releases["release (per job released)"] += len(due)

    with pytest_patch() as patch:
        patch.setattr(publish, "policy", lambda network: dataclasses.replace(policy(network), per_app=per_app))
        while heap or any(parked.values()):
            if next_release < access_ends and (not heap or next_release <= heap[0][0]):
                release(next_release)
                next_release += RELEASE_EVERY
                continue
            if not heap:
                break  # nothing more is due before access ends: what is parked is settled by the end of access
            t, _, r, k, first = heapq.heappop(heap)
            rig.clock.at = datetime.fromtimestamp(t, UTC)
            try_ = "first try" if first else "retry"
            wait, taken, lane = 0, [], "time"
            if blocked_until > t:  # known without a call: the same conditional update would fail the same way
                wait, lane, event.counted_without_call = blocked_until - t, "app", event.counted_without_call + 1
            else:
                event.take_budget_calls += 1
                try:
                    taken = take_budget(rig.store, PublishJob(relay_id=f"x-{r}", network="x", post_id=str(1000 + k)),
                                        {"relay_id": f"x-{r}", "user_id": str(r)})
                except Deferred as deferred:
                    wait = deferred.seconds
                    if deferred.lane == "x#app":
                        blocked_until, lane = t + wait, "app"
            # A first try reads the relay's token only once its budget is taken; a retry reads it to ask X first.
            if (not first or not wait) and t > token_expires[r] - 120:
                event.refreshes += 1
                token_expires[r] = t + 7200
            label = ""
            if not wait:
                reset = users[r].hit(t) or app.hit(t)
                if not reset:
                    event.attempts[f"{try_}: published"] += 1
                    event.published_at.append(t)
                    settled += 1
                    progress.update(task, completed=settled)
                    continue
                # publish turns the 429 into a deferral until X's reset: the units go back and the budget the
                # wait points to is held until then (the relay's, or the app's for a wait past 15 minutes)
                give_back_budget(rig.store, taken)
                hold_budget(rig.store, taken, reset)
                event.rate_limited += 1
                label, wait = f"{try_}: X answered 429", max(1, reset - t)
            if t + wait >= access_ends:  # defer(): the wait outlasts access, left open for the end of access
                event.attempts[label or f"{try_}: left to the end of access"] += 1
                left_open[r] += 1
                continue
            sequence += 1
            if wait <= WINDOW:  # a delayed message
                event.attempts[label or ("first try: deferred (budget spent)" if first else "retry: deferred again")] += 1
                heapq.heappush(heap, (t + wait, sequence, r, k, False))
            else:  # parked in its lane until a release sends it
                event.attempts[label or ("first try: parked (budget spent)" if first else "retry: parked again")] += 1
                heapq.heappush(parked[lane], (t + wait, sequence, r, k))
                event.parked_max = max(event.parked_max, sum(len(v) for v in parked.values()))
    for lane in parked.values():  # still parked when access ended: their reservations are open
        for _, _, r, _ in lane:
            left_open[r] += 1
    # The end of access settles what was left open (X has none of them: they were never sent), refreshing the
    # token first where it has expired.
    for r, count in left_open.items():
        event.skipped["access ended before it was published (settled by the end of access)"] += count
        event.settled_open += count
        event.refreshes += token_expires[r] - 120 < access_ends
    progress.update(task, completed=total)
    event.settled_at = access_ends if left_open else max(event.published_at, default=0)
    event.seconds = time.perf_counter() - started
    event.busiest_user_window = max((int(i["used"]) for i in scan_quota(rig, "QUOTA#x#user#")), default=0)
    event.platform_app_windows = [*app.history, app.used]
    event.platform_busiest_user = max(u.busiest() for u in users)
    return event


def scan_quota(rig: Any, prefix: str) -> Iterator[dict[str, Any]]:
    from boto3.dynamodb.conditions import Attr

    kwargs: dict[str, Any] = {"FilterExpression": Attr("pk").begins_with(prefix), "ProjectionExpression": "used"}
    while True:
        page = rig.store.table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- part 3: cost ------------------------------------------------------------------------------------------------


def dollars(figures: dict[str, float]) -> dict[str, float]:
    """Dollars for per-unit figures (Profile.scaled, plus "transitions" and "esm_sqs"): Lambda's duration is
    modelled from the calls each invocation makes (LATENCY_MS); the event source's receives and deletes are SQS
    requests too."""
    duration_ms = figures.get("invocations", 0) * LATENCY_MS["base"] + sum(
        figures.get(service, 0) * ms for service, ms in LATENCY_MS.items() if service != "base"
    )
    return {
        "Lambda": figures.get("invocations", 0) * LAMBDA_REQUEST + duration_ms / 1000 * PUBLISH_MEMORY_GB * LAMBDA_GB_SECOND,
        "DynamoDB": figures.get("WRU", 0) * DYNAMODB_WRU + figures.get("RRU", 0) * DYNAMODB_RRU,
        "SQS": (figures.get("sqs", 0) + figures.get("esm_sqs", 0)) * SQS_REQUEST,
        "KMS": figures.get("kms", 0) * KMS_REQUEST,
        "Step Functions": figures.get("transitions", 0) * SFN_TRANSITION,
    }


def per_thousand(publish: Profile, approve: Profile, proposal: dict[str, float]) -> dict[str, float]:
    """Figures for 1,000 approved relay-posts: publish's deliveries, the approvals' writes and messages, the
    proposals before them (the round's fan-out and propose, measured by bench_fanout), and the event source's
    receive + delete per invocation."""
    figures = Counter(publish.scaled(1000))
    figures["esm_sqs"] = 2 * figures["invocations"]
    for key, value in approve.scaled(1000).items():
        if key in ("WRU", "RRU", "sqs", "dynamodb"):
            figures[key] += value
    for key, value in proposal.items():
        figures[key] += 1000 * value
    return dict(figures)


def event_profile(event: Event, outcomes: dict[str, Profile]) -> Profile:
    """The event's deliveries as the sum of their outcomes' measured profiles (one message per invocation)."""
    total = Profile()
    for label, count in (event.attempts + event.releases).items():
        unit = outcomes[label]
        total = total.add(Profile(0, round(count * unit.invocations / unit.n), Counter({k: v * count / unit.n for k, v in unit.aws.items()}),
                                  Counter({k: v * count / unit.n for k, v in unit.units.items()}),
                                  Counter({k: v * count / unit.n for k, v in unit.x.items()})))
    for label, count in (("token refresh", event.refreshes), ("settled at the end of access", event.settled_open)):
        unit = outcomes[label]  # work inside other invocations (publish's, expire's): no invocation of its own
        total = total.add(Profile(0, 0, Counter({k: v * count / unit.n for k, v in unit.aws.items()}),
                                  Counter({k: v * count / unit.n for k, v in unit.units.items()}),
                                  Counter({k: v * count / unit.n for k, v in unit.x.items()})))
    return replace(total, n=event.relays * event.posts)


# --- part 4: the property, longer ---------------------------------------------------------------------------------


def property_worker(seed: int, examples: int, kind: str = "schedules") -> None:
    """One process's share of a long property run (publish schedules, or relay journeys); progress on stderr, the
    result as JSON on stdout."""
    from hypothesis import Phase, given, seed as seeded, settings

    if kind == "journeys":
        from relay_journeys import JourneyRig as Rig, play as run, violations
        from test_relay_journeys import journeys as examples_of
    else:
        from publish_schedules import Rig, run, violations
        from test_publish_exactly_once import schedules as examples_of

    result: dict[str, Any] = {"examples": 0, "failing": 0, "violations": [], "labels": Counter()}
    out = sys.stdout
    with Rig() as rig, redirect_stdout(io.StringIO()):

        @seeded(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate])
        @given(examples_of())
        def check(example: Any) -> None:  # never raises: every example runs, every violation is kept
            played = run(rig, example)
            found = violations(rig, played)
            result["examples"] += 1
            result["failing"] += bool(found)
            result["violations"] += [[v, repr(example)] for v in found][:1]
            result["labels"].update(getattr(played, "labels", ()))
            print(result["examples"], file=sys.stderr, flush=True)

        started = time.perf_counter()
        check()
        result["seconds"] = time.perf_counter() - started
    print(json.dumps(result), file=out)


def long_property_run(examples: int, progress: Progress, kind: str = "schedules") -> dict[str, Any]:
    workers = max(1, min(2, os.cpu_count() or 1))
    shares = [examples // workers + (i < examples % workers) for i in range(workers)]
    task = progress.add_task(f"property, {examples} {kind} on {workers} processes", total=examples)
    started = time.perf_counter()
    done, errors = [0] * workers, [[] for _ in range(workers)]
    procs = [subprocess.Popen([sys.executable, __file__, "--property-worker", str(2026 + i), str(share), kind],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for i, share in enumerate(shares)]

    def follow(i: int) -> None:
        assert procs[i].stderr is not None
        for line in procs[i].stderr:
            if line.strip().isdigit():
                done[i] = int(line)
                progress.update(task, completed=sum(done))
            else:
                errors[i].append(line)

    readers = [threading.Thread(target=follow, args=(i,), daemon=True) for i in range(workers)]
    for reader in readers:
        reader.start()
    results = []
    for i, (proc, reader) in enumerate(zip(procs, readers, strict=True)):
        stdout = proc.stdout.read() if proc.stdout else ""
        proc.wait()
        reader.join()
        if proc.returncode:
            raise RuntimeError(f"property worker {i} failed:\n{''.join(errors[i][-20:])}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    return {
        "workers": workers,
        "examples": sum(r["examples"] for r in results),
        "wall": wall,
        "per_process": [r["examples"] / r["seconds"] for r in results],
        "failing": sum(r["failing"] for r in results),
        "violations": [v for r in results for v in r["violations"]],
        "labels": sum((Counter(r["labels"]) for r in results), Counter()),
        "kind": kind,
    }


# --- output ---------------------------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def calls_table(title: str, rows: list[tuple[str, Profile]], per: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (per, "X requests", "DynamoDB req (WRU/RRU)", "KMS", "SQS sends", "Lambda inv."):
        table.add_column(column, justify="left" if column == per else "right")
    for label, p in rows:
        n = max(p.n, 1)
        x = ", ".join(f"{route} {count / n:.2f}" for route, count in sorted(p.x.items())) or "0"
        kms = ", ".join(f"{op} {count / n:.2f}" for (s, op), count in sorted(p.aws.items()) if s == "kms") or "0"
        table.add_row(label, x, f"{p.service('dynamodb') / n:.2f} ({p.units['WRU'] / n:.2f}/{p.units['RRU'] / n:.2f})",
                      kms, f"{p.service('sqs') / n:.2f}", f"{p.invocations / n:.2f}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relays", type=int, default=10_000, help="relays of the simulated event")
    parser.add_argument("--posts", type=int, default=8, help="posts every relay approves in the simulated event")
    parser.add_argument("--happy", type=int, default=20, help="relays (3 posts each) of the happy-path measure")
    parser.add_argument("--mix", type=int, default=40, help="property schedules of the fault-mix measure")
    parser.add_argument("--samples", type=int, default=10, help="deliveries per outcome profile")
    parser.add_argument("--property-examples", type=int, default=2000, help="schedules of the long property run (0: none)")
    parser.add_argument("--journeys", type=int, default=0,
                        help="only a long run of tests/property's relay journeys, this many (the rest is left out)")
    parser.add_argument("--fanout-relays", type=int, nargs="+", default=[10_000, 100_000],
                        help="relays of the fan-out runs (bench_fanout); the first also costs the proposals")
    parser.add_argument("--report", type=Path, help="write the figures the issue's goals name to this JSON file")
    parser.add_argument("--property-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.property_worker:
        seed, examples, kind = args.property_worker
        property_worker(int(seed), int(examples), kind)
        return 0
    if args.journeys:
        return journeys_only(args.journeys)

    console = Console(width=None if sys.stdout.isatty() else 180)
    calls = Calls()
    calls.install()  # before any boto3 session exists
    from publish_schedules import Rig, Schedule

    import bench_fanout

    started = time.perf_counter()
    console.print(f"fan-out: a round over {', '.join(f'{n:,}' for n in args.fanout_relays)} relays (moto in-process)…")
    fanout = bench_fanout.measure(tuple(args.fanout_relays), mailed=1000)
    proposal = bench_fanout.proposal_figures(fanout["runs"][0])
    cold_start = load = None
    if args.report:  # the report's other figures: each function's import, and the hosted app under load
        import bench_cold_start
        import bench_load

        console.print("cold start: each function's import in fresh processes…")
        cold_start = bench_cold_start.measure()
        console.print("load: the hosted app on loopback, 50 clients…")
        load = bench_load.measure()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Rig() as rig, Progress(*columns, console=console, transient=True) as progress:
        step = progress.add_task("calls per relay-post (happy path, fault mix, outcomes)", total=3)
        with redirect_stdout(io.StringIO()):  # the handler's metric lines
            happy = Schedule(caps=(3,) * args.happy, posts=3, steps=(),
                             approvals=tuple((r, p) for p in range(3) for r in range(args.happy)))
            happy_publish, happy_approve, happy_published = per_relay_post(rig, calls, [happy], batch=10)
            progress.advance(step)
            mix = fault_mix(args.mix)
            mix_publish, mix_approve, mix_published = per_relay_post(rig, calls, mix, batch=3)
            progress.advance(step)
            outcomes = outcome_profiles(rig, calls, args.samples)
            progress.advance(step)
        event = simulate(rig, args.relays, args.posts, aligned=False, app_limit=None, progress=progress)
        tenth = max(1, args.relays // 10)
        aligned = simulate(rig, tenth, args.posts, aligned=True, app_limit=10_000 * tenth // args.relays, progress=progress)
        long_run: dict[str, Any] = {}
        if args.property_examples:  # last, alone on the cores: its rate is the figure
            long_run = long_property_run(args.property_examples, progress)

    console.print(f"[bold]relaycast publish benchmark[/] (moto in-process, sandbox X; {time.perf_counter() - started:.0f} s)")
    console.print(calls_table("1. Calls per approved relay-post through the publish handler (idempotency included)", [
        (f"happy path: {happy_publish.n} relay-posts, all published ({happy_published}), batches of 10", happy_publish),
        (f"fault mix: {mix_publish.n} relay-posts of {len(mix)} property schedules ({mix_published} published)", mix_publish),
        ("approval (decide: proposal update + job message)", happy_approve),
    ], "per relay-post"))
    console.print(calls_table("   Per delivery, by outcome, with the app's budget spent (one message per invocation)",
                              sorted(outcomes.items()), "outcome"))
    ddb = ", ".join(f"{op} {n / happy_publish.n:.2f}" for (s, op), n in sorted(happy_publish.aws.items()) if s == "dynamodb")
    console.print(f"   happy path, DynamoDB by operation per relay-post: {ddb}")
    other = ", ".join(f"{s}:{op} {n}" for (s, op), n in sorted(happy_publish.aws.items()) if s not in ("dynamodb", "kms", "sqs"))
    console.print(f"   once per container (cached), for the whole happy path: {other or 'none'}")

    console.print(event_table(event, "2. Simulated event, X counting each window from its first request (the sandbox's rule)"))
    console.print(event_table(aligned, f"   Same event at 1/10 scale (app limit {10_000 * tenth // args.relays:,}/24 h), X counting UTC days like relaycast"))

    bench_fanout.print_figures(fanout)
    cost_rows = [
        ("happy path", per_thousand(happy_publish, happy_approve, proposal), 1000 * happy_published / happy_publish.n),
        ("fault mix", per_thousand(mix_publish, mix_approve, proposal), 1000 * mix_published / max(mix_publish.n, 1)),
    ]
    for label, ev in (("event, X from first request", event), ("event at 1/10, X on UTC days", aligned)):
        profile = event_profile(ev, outcomes)
        published = len(ev.published_at)
        cost_rows.append((f"{label} ({published:,} of {ev.relays * ev.posts:,} published)",
                          per_thousand(profile, happy_approve, proposal), 1000 * published / (ev.relays * ev.posts)))
    console.print(cost_table(cost_rows))
    if args.report:
        report = goals_report(fanout, cost_rows, event)
        handlers = cold_start["handlers"]
        report["cold_start"] = {"boto3_ms": cold_start["boto3_ms"], "ratios": {n: h["ratio"] for n, h in handlers.items()},
                                # what every invocation needs (bench_cold_start.FLOORS), and what each handler adds
                                "floor_ratios": {n: h["floor_ratio"] for n, h in handlers.items()},
                                "over_floor_ms": {n: h["over_floor_ms"] for n, h in handlers.items()},
                                # what the layer's bytecode saves at each cold start (none: every module compiled)
                                "over_boto3_ms_with_bytecode": {n: h["over_boto3_ms_with_bytecode"] for n, h in handlers.items()},
                                "over_boto3_ms_without_bytecode": {n: h["over_boto3_ms_without_bytecode"] for n, h in handlers.items()},
                                "layer_unzipped_bytes": cold_start["layer_unzipped_bytes"]}
        report["load"] = load
        report["goals"].update({"cold_start_ratio": "<= 1.5", "load_server_errors": 0, "load_grants_lost_or_doubled": 0})
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.report}:")
        console.print_json(data={k: v for k, v in report.items() if k != "fanout_runs"})
    if long_run:
        console.print(property_table(long_run))
    return 0


def goals_report(fanout: dict[str, Any], cost_rows: list[tuple[str, dict[str, float], float]], event: Event) -> dict[str, Any]:
    """The figures issue 12 sets goals for, as measured in this run, with the goals beside them."""
    total = event.relays * event.posts
    costs = {label: round(sum(dollars(figures).values()), 4) for label, figures, _ in cost_rows}
    event_label = next(label for label in costs if label.startswith("event, X from first request"))
    return {
        "fanout": {"relays": fanout["relays"], "max_state_payload_bytes": fanout["max_state_payload_bytes"],
                   "time_ratio_10x": fanout["time_ratio_10x"],
                   "time_ratio_10x_without_moto_query_scans": fanout["time_ratio_10x_without_moto_query_scans"],
                   "wall_seconds": [r["wall_seconds"] for r in fanout["runs"]],
                   "messages_per_relay": [r["messages_per_relay"] for r in fanout["runs"]],
                   "writes_per_relay": [r["writes_per_relay"] for r in fanout["runs"]]},
        "cost_per_1000_relay_posts": {"happy_path": costs["happy path"], f"event_{event.relays // 1000}k": costs[event_label]},
        f"event_{event.relays // 1000}k": {"relays": event.relays, "x_429": event.rate_limited,
                                           "deliveries_per_relay_post": round(sum(event.attempts.values()) / total, 2),
                                           "published": len(event.published_at), "parked_at_most": event.parked_max,
                                           "release_firings": event.releases["release (nothing due)"],
                                           "jobs_released": event.releases["release (per job released)"],
                                           "busiest_24_hours": busiest_day(event.published_at), "app_limit": event.app_limit},
        "goals": {"max_state_payload_bytes": "< 262144", "time_ratio_10x": "<= 12", "cost_per_1000_relay_posts": "<= 0.02",
                  "x_429": 0, "deliveries_per_relay_post": "<= 1.5"},
        "prices": PRICES_CHECKED,
        "fanout_runs": fanout["runs"],
    }


def busiest_day(published_at: list[int]) -> int:
    """The most posts in any 24 hours, whatever instant they start at."""
    times, most, first = sorted(published_at), 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 86_400:
            first += 1
        most = max(most, last - first + 1)
    return most


def event_table(event: Event, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("figure")
    total = event.relays * event.posts
    published = len(event.published_at)

    def at(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%b %d %H:%M UTC") if t else "-"

    table.add_row("relay-posts approved", f"{total:,} ({event.relays:,} relays x {event.posts} posts; each relay approves every post)")
    table.add_row("published", f"{published:,} ({published / total:.1%}); first {at(min(event.published_at, default=0))}, "
                               f"last {at(max(event.published_at, default=0))}")
    for reason, count in event.skipped.items():
        table.add_row("skipped, with reason", f"{count:,}: {reason}")
    table.add_row("429 answers from X", f"{event.rate_limited:,} (goal 0)")
    table.add_row("all settled by", f"{at(event.settled_at)} (access ends Dec 02 19:00 UTC; the end of access settles "
                                    f"{event.settled_open:,} open reservations, asking X for each)")
    per_window = event.app_limit
    windows_needed = math.ceil(total / per_window)
    table.add_row("to publish them all", f"{windows_needed} app windows of 24 h ({per_window:,} each): "
                                         f"{windows_needed - 1} days after the first; access lasts 35 h")
    table.add_row("busiest 24 hours, wherever they start (posts/limit)", f"{busiest_day(event.published_at):,}/{per_window:,} "
                                                                       "(relaycast's sliding budget)")
    table.add_row("X's app windows (used/limit)", "; ".join(f"{used:,}/{per_window:,}" for used in event.platform_app_windows))
    table.add_row("busiest user window (used/limit)", f"relaycast {event.busiest_user_window}/50 per 15 min, X {event.platform_busiest_user}/50")
    attempts = sum(event.attempts.values())
    table.add_row("deliveries", f"{attempts:,} ({attempts / total:.1f} per relay-post): "
                  + ", ".join(f"{label} {count:,}" for label, count in sorted(event.attempts.items())))
    table.add_row("parked (waits past 15 min)", f"{event.parked_max:,} at most at once; the release fired "
                                                 f"{event.releases['release (nothing due)']:,} times (every {RELEASE_EVERY // 60} min) "
                                                 f"and sent {event.releases['release (per job released)']:,} jobs back")
    table.add_row("real take_budget calls", f"{event.take_budget_calls:,}; {event.counted_without_call:,} attempts in a spent "
                                            f"app window counted without a call; {event.seconds:.0f} s")
    table.add_row("token refreshes", f"{event.refreshes:,}")
    return table


def cost_table(rows: list[tuple[str, dict[str, float], float]]) -> Table:
    table = Table(title=f"3. Cost per 1,000 approved relay-posts ({PRICES_CHECKED})", title_justify="left")
    services = ["Lambda", "DynamoDB", "SQS", "KMS", "Step Functions"]
    for column in ("per 1,000 relay-posts", *services, "AWS total", "X ($0.015/post created)", "X requests"):
        table.add_column(column, justify="left" if column.startswith("per") else "right")
    for label, figures, published in rows:
        money = dollars(figures)
        table.add_row(label, *(f"${money[s]:.4f}" for s in services), f"${sum(money.values()):.4f}",
                      f"${published * X_POST_CREATED:,.2f}", fmt(figures.get("x", 0)))
    table.caption = (
        "Lambda arm64 $0.20/M requests + $0.0000133334/GB-s (256 MB; duration modelled: 20 ms + 6 ms per DynamoDB, "
        "8 ms per KMS, 15 ms per SQS, 250 ms per X call); DynamoDB on-demand $0.625/M WRU, $0.125/M RRU (conditional "
        "and cancelled writes billed as made; transactions 2 WRU per item); SQS standard $0.40/M (+ receive and delete "
        "per invocation by the event source); KMS $0.03/10,000; Step Functions standard $0.025/1,000 transitions "
        "(five per round, shared by its relays). The proposal before each approval is bench_fanout's first run per "
        "relay-post: propose's invocations and calls, its transactional puts, the grant pages. X: $0.015 per created post if a repost is billed as one; its state "
        "checks (retweeted_by) are reads whose price DESIGN.md does not give. Not counted: free tiers, API Gateway "
        "and the oauth function behind an approval, CloudWatch, the key's $1/month, idle queue polling."
    )
    return table


def property_table(run: dict[str, Any], title: str = "4. Longer property run (tests/property's schedules and checker, "
                   "hypothesis directly with a seed per process, no shrinking)") -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("figure")
    rate = run["examples"] / run["wall"]
    kind = run.get("kind", "schedules")
    table.add_row(kind, f"{run['examples']:,} on {run['workers']} processes in {run['wall']:.0f} s "
                        f"({rate:.2f}/s; per process {', '.join(f'{r:.2f}/s' for r in run['per_process'])})")
    table.add_row(f"{kind} breaking an invariant", f"{run['failing']}"
                  + "".join(f"\n{v} in {s}" for v, s in run["violations"][:3]))
    if run.get("labels"):
        table.add_row("cases met (share of examples)", ", ".join(
            f"{label} {count / run['examples']:.0%}" for label, count in run["labels"].most_common()))
    return table


def journeys_only(examples: int) -> int:
    """`make bench-journeys`: the relay journeys of tests/property, longer; 1 when any broke an invariant."""
    console = Console(width=None if sys.stdout.isatty() else 180)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        run = long_property_run(examples, progress, "journeys")
    console.print(property_table(run, "Relay journeys (tests/property's journeys and checker, hypothesis directly with "
                                      "a seed per process, no shrinking)"))
    return 1 if run["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
