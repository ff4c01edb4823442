"""Schedules of relay-posts under faults, run through the real publish path, and the invariants they must keep.

A `Rig` is moto (DynamoDB, KMS, SQS, SSM, Secrets Manager) in-process, the sandbox X on loopback and a frozen
clock, built once and reused by every schedule: each schedule connects fresh relays (new X users), adds fresh
posts and starts on an empty table. `run` plays a `Schedule` against it with a model of the publish queue
(receive counts, the dead-letter queue at the 5th failed receive, delays on the frozen clock: moto's delays
run on the wall clock), drains the queue without faults, then ends access as the sweep does for every relay
left with an open reservation; `violations` checks the sandbox's truth and the table against the promises of
`relaycast.publish`.

Shared by tests/property (hypothesis draws the schedules) and tests/bench/bench_publish.py (the fault mix).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

# The handler tests' helpers (the table as the stack shapes it, a function loaded as Lambda does).
from tests.handlers.handler_support import create_table, load_function

ROOT = Path(__file__).resolve().parents[2]
MAX_RECEIVES = 5  # the publish queue's maxReceiveCount
REDIRECT = "http://127.0.0.1:9/callback/x"
TABLE = "relaycast-property"
EVENT = {
    "name": "Property Summit",
    "slug": "property-test",
    "hashtags": ["#PROP26"],
    "timezone": "Europe/Paris",
    "start": "2026-12-01T09:00",
    "end": "2026-12-02T18:00",
    "notice_sender": "relaycast@example.org",
    "cap_per_relay": 3,
    "languages": ["en"],
    "publish_jitter_seconds": 0,  # the jitter is one more delay: the model would only wait longer
    "quiet_hours": "off",  # so are quiet hours (their own tests); the bench measures deliveries at any hour
}
EARLY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# 10 minutes before access ends (event end 18:00 Paris + 2 h grace): a long wait ends the relay-post as skipped.
LATE = datetime(2026, 12, 2, 18, 50, tzinfo=UTC)

FAULTS = ("none", "5xx_before", "5xx_after", "drop_before", "drop_after", "429", "crash", "reposters_5xx", "reposters_429")
# How relaycast says it settled a relay-post without X's word (the relay revoked at X before an uncertain attempt
# was retried); violations naming it are a known gap the property holds apart from the rest.
UNCONFIRMED = "could not be confirmed"


RELEASE_EVERY = 5 * 60  # infra/schedules.py RELEASE_MINUTES: the release schedule's rate


class Crash(BaseException):
    """The function dies between X's answer and the ledger write (a timeout, out of memory).

    A BaseException, so neither the batch processor nor the idempotency layer handles it: the invocation fails,
    its whole batch comes back, and the idempotency record stays in progress until the function's deadline."""


# --- the schedule ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happens. `target` picks a visible message, a pending approval or a relay (modulo their
    count; for a relay, below 5: the relay of the last delivery, whose job may be in flight); `value` is a
    batch size, a new cap or a 429's wait in 5-minute steps."""

    kind: str  # deliver | duplicate | concurrent | revoke_during | approve | revoke | revoke_at_x | lower_cap
    target: int = 0
    value: int = 1
    fault: str = "none"  # deliver: one of FAULTS, for the first message of the batch
    via_handler: bool = True  # False: publish/defer called directly (as when the idempotency record has expired)
    pause: str = "repost"  # concurrent, revoke_during: where the delivery waits for the other (repost | ledger)


@dataclass(frozen=True)
class Schedule:
    caps: tuple[int, ...]  # one relay per cap
    posts: int
    approvals: tuple[tuple[int, int], ...]  # (relay, post), in approval order
    steps: tuple[Step, ...]
    held: int = 0  # the last `held` approvals come with "approve" steps (or before the drain), the rest first
    per_user_limit: int | None = None  # reposts per user per 15 min as budgeted (None: the policy table's)
    late: bool = False


# --- the rig ----------------------------------------------------------------------------------------------


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def epoch(self) -> int:
        return int(self.at.timestamp())


class LambdaContext:
    function_name = "relaycast-property-publish"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:relaycast-property-publish"
    aws_request_id = "00000000-0000-0000-0000-000000000042"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


ALIVE = LambdaContext()
# A crashed invocation's deadline has passed by the time its batch is received again (the queue's visibility
# timeout outlasts the function's timeout), and so has its in-progress idempotency record.
DYING = LambdaContext(remaining_ms=1)


def load_publish_handler() -> Any:
    """functions/publish/handler.py imported from its own folder, as Lambda does."""
    return load_function("publish")



@dataclass
class Relay:
    relay_id: str
    user_id: str
    username: str
    bound: int  # the most reposts X may hold for it: its cap, or what it had when the cap was lowered below that


@dataclass
class Message:
    id: int
    job: dict[str, str]
    visible_at: int
    receives: int = 0


class QueueModel:
    """The publish queue as the event source mapping sees it: visible messages, receive counts, the DLQ."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.dead: list[Message] = []
        self._ids = 0

    def send(self, job: dict[str, str], visible_at: int) -> Message:
        self._ids += 1
        message = Message(self._ids, job, visible_at)
        self.messages.append(message)
        return message

    def visible(self, now: int) -> list[Message]:
        return sorted((m for m in self.messages if m.visible_at <= now), key=lambda m: (m.visible_at, m.id))

    def succeeded(self, message: Message) -> None:
        self.messages.remove(message)

    def failed(self, message: Message, now: int) -> None:
        if message.receives >= MAX_RECEIVES:
            self.messages.remove(message)
            self.dead.append(message)
        else:  # visible again at once, as tests/handlers' deliver() does
            message.visible_at = now


@dataclass
class Result:
    schedule: Schedule
    relays: list[Relay]
    post_ids: list[str]
    approved: list[tuple[int, int]]
    dead: list[dict[str, str]]
    deliveries: int = 0
    x_answers: tuple[int, ...] = ()  # statuses X gave this schedule's reposts and reposter reads (0: dropped)
    # Before the end of access, relay id -> (the grant's published_count, ledger items published, still open)
    counts: dict[str, tuple[int, int, int]] = dataclasses.field(default_factory=dict)


def enter_moto(stack: ExitStack, patch: pytest.MonkeyPatch, *, event: dict[str, Any], region: str, frozen: FrozenClock,
               name: str, quiet_to: str, **env: str) -> Any:
    """The AWS world a property rig stands in: moto in this process (never an endpoint), `frozen` as relaycast's
    clock, the settings' caches emptied, and `event`'s config and the app secret stored as the stack stores them
    (SSM `/relaycast/<name>/config`, Secrets Manager `relaycast/<name>/app`). Returns the parsed config."""
    import boto3
    from moto import mock_aws

    from relaycast import clock, settings as settings_module
    from relaycast.config import parse_event_config
    from relaycast.observability import logger

    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "relaycast",
        **env,
    }.items():
        patch.setenv(key, value)
    stack.callback(logger.setLevel, logger.log_level)
    logger.setLevel(quiet_to)
    clock.use(frozen)
    stack.callback(clock.use, None)
    stack.enter_context(mock_aws())
    settings_module.reset_caches()
    stack.callback(settings_module.reset_caches)
    config = parse_event_config(event)
    boto3.client("ssm").put_parameter(Name=f"/relaycast/{name}/config", Value=config.to_json(), Type="String")
    secret = {"x_client_id": "cid", "x_client_secret": "csecret", "x_bearer_token": "bearer", "signing_key": "k" * 32}
    boto3.client("secretsmanager").create_secret(Name=f"relaycast/{name}/app", SecretString=json.dumps(secret))
    return config


class Rig:
    """moto + the sandbox X + a frozen clock for many schedules; every environment change is undone on exit."""

    def __init__(self, *, region: str = "eu-west-3") -> None:
        self.region = region
        self.clock = FrozenClock(EARLY)
        self.examples = 0
        self.batch = 3  # messages per invocation while draining (the stack's event source takes up to 10)
        self.queue = QueueModel()
        self._stack = ExitStack()
        self._posts = 0

    def __enter__(self) -> Rig:
        import boto3

        from relaycast import aws
        from relaycast.settings import Settings
        from relaycast.storage import Store
        from relaycast_local.sandbox_x import SandboxX

        self._patch = patch = self._stack.enter_context(pytest.MonkeyPatch.context())
        # One line per relay-post otherwise.
        self.config = enter_moto(self._stack, patch, event=EVENT, region=self.region, frozen=self.clock, name="property", quiet_to="WARNING",
                                 POWERTOOLS_SERVICE_NAME="publish")
        self.dynamodb = boto3.client("dynamodb")
        create_table(TABLE)
        self.sqs = boto3.client("sqs")
        self.sandbox = self._stack.enter_context(SandboxX(client_id="cid", client_secret="csecret", bearer_token="bearer"))
        for name, value in {
            "TABLE_NAME": TABLE,
            "TOKEN_KEY_ID": boto3.client("kms").create_key()["KeyMetadata"]["Arn"],
            "EVENT_CONFIG_PARAMETER": "/relaycast/property/config",
            "APP_SECRET_NAME": "relaycast/property/app",
            "PUBLISH_QUEUE_URL": self.sqs.create_queue(QueueName="publish")["QueueUrl"],
            "X_API_BASE": self.sandbox.base_url,
            "X_AUTHORIZE_URL": self.sandbox.authorize_url,
        }.items():
            patch.setenv(name, value)
        self.settings = Settings.from_env()
        self.store = Store(TABLE)
        self.handler = load_publish_handler().handler

        # What relaycast sends (approvals, deferrals) really goes to moto's queue, which checks it, and into the
        # model, which holds it until its delay has passed on the frozen clock.
        sqs_client = aws.client("sqs")
        send = sqs_client.send_message

        def send_and_model(**request: Any) -> dict[str, Any]:
            answer = send(**request)
            self.queue.send(json.loads(request["MessageBody"]), self.clock.epoch() + int(request.get("DelaySeconds", 0)))
            return answer

        send_batch = sqs_client.send_message_batch

        def send_batch_and_model(**request: Any) -> dict[str, Any]:  # the release of parked jobs
            answer = send_batch(**request)
            sent = {ok["Id"] for ok in answer.get("Successful", [])}
            for entry in request["Entries"]:
                if entry["Id"] in sent:
                    self.queue.send(json.loads(entry["MessageBody"]), self.clock.epoch() + int(entry.get("DelaySeconds", 0)))
            return answer

        patch.setattr(sqs_client, "send_message", send_and_model)
        patch.setattr(sqs_client, "send_message_batch", send_batch_and_model)
        return self

    def parked(self) -> list[dict[str, Any]]:
        """The jobs parked in the table for waits longer than SQS's delay, every lane."""
        return [i for i in self.store.table.scan()["Items"] if str(i["pk"]).startswith("PARKED#")]

    def release(self) -> int:
        """What the release schedule does every few minutes: through the handler, as EventBridge Scheduler calls it."""
        return int(self.handler({"action": "release"}, ALIVE)["released"])

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # --- per schedule -------------------------------------------------------------------------------
    def begin(self, at: datetime) -> int:
        """A clean start for one schedule: the clock set, no fault queued, an empty table and queue."""
        self.examples += 1
        self.clock.at = at
        self.sandbox.clear_faults()
        # The clock starts over with each schedule, and so must the sandbox's rate windows: one kept across
        # schedules (the app's own, for state checks with its bearer token) would otherwise never turn.
        self.sandbox.reset_rate_limits()
        self.queue = QueueModel()
        # moto copies a whole table for each transaction: its size would set the pace of a long run.
        self.dynamodb.delete_table(TableName=TABLE)
        create_table(TABLE)
        # moto's send is O(depth), and the delayed copies in it are never received: a fresh queue each time.
        url = self.sqs.create_queue(QueueName=f"publish-{self.examples}")["QueueUrl"]
        self.settings = self.settings.model_copy(update={"publish_queue_url": url})
        self._patch.setenv("PUBLISH_QUEUE_URL", url)
        return self.examples

    def connect(self, username: str) -> Relay:
        """A relay connects through the sandbox's consent page, as in tests/handlers."""
        from relaycast import relays

        started = relays.start_connect(self.store, self.settings, self.config, network="x", form={"email": ""},
                                       redirect_uri=REDIRECT, lang="en")
        page = requests.get(started.url, timeout=5)
        fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
        answer = requests.post(f"{self.sandbox.base_url}/i/oauth2/authorize",
                               data={**fields, "username": username, "decision": "allow"}, allow_redirects=False, timeout=5)
        params = dict(p.split("=", 1) for p in answer.headers["Location"].split("?", 1)[1].split("&"))
        connected = relays.finish_connect(self.store, self.settings, self.config, network="x", params=params,
                                          redirect_uri=REDIRECT, binding=started.binding, base_url="http://127.0.0.1:9")
        grant = self.store.grant(connected.relay_id, "x")
        assert grant is not None
        return Relay(connected.relay_id, grant["user_id"], username, int(grant["cap"]))

    def add_posts(self, count: int) -> list[str]:
        """Fresh posts of the event's expert (a post's reposters must stay few for `has_reposted`)."""
        ids = [str(2_000_000_000_000 + self._posts + i) for i in range(count)]
        self._posts += count
        created = self.clock.at - timedelta(minutes=30)
        self.sandbox.add_posts([{"id": i, "text": f"Insight {i} #PROP26", "username": "amina_data", "author_id": "77",
                                 "created_at": created} for i in ids])
        return ids

    def propose(self, relay: Relay, post_id: str) -> None:
        self.store.put_new({"pk": f"RELAY#{relay.relay_id}", "sk": f"PROPOSAL#x#{post_id}", "kind": "proposal",
                            "relay_id": relay.relay_id, "network": "x", "post_id": post_id, "status": "pending",
                            "proposal_expires_at": self.clock.epoch() + 12 * 3600})

    def approve(self, relay: Relay, post_id: str) -> None:
        """The relay's click: the real decide(), whose job lands in the queue model."""
        from relaycast import relays

        relays.decide(self.store, self.settings, self.config, relay_id=relay.relay_id, action="approve", network="x",
                      post_id=post_id)


# --- delivering ---------------------------------------------------------------------------------------------


def sqs_event(messages: list[Message]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{m.id}",
                "receiptHandle": f"h-{m.id}-{m.receives}",
                "body": json.dumps(m.job),
                "attributes": {"ApproximateReceiveCount": str(m.receives)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:publish",
                "awsRegion": "eu-west-3",
            }
            for m in messages
        ]
    }


def deliver(rig: Rig, messages: list[Message], *, via_handler: bool = True, context: LambdaContext = ALIVE) -> None:
    """One invocation of publish on a batch; what fails comes back (or is dead-lettered at its 5th receive)."""
    from relaycast import publish
    from relaycast.networks.factory import x_network
    from relaycast.publish import Deferred, PublishJob

    for m in messages:
        m.receives += 1
    failed: list[Message] = []
    if via_handler:
        try:
            answer = rig.handler(sqs_event(messages), context)
            ids = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            failed = [m for m in messages if f"m-{m.id}" in ids]
        except (Exception, Crash):  # the invocation failed: its whole batch comes back
            failed = list(messages)
    else:
        x = x_network(rig.settings)
        for m in messages:
            job = PublishJob.model_validate(m.job)
            try:
                try:
                    publish.publish(rig.store, rig.settings, rig.config, x, job)
                except Deferred as deferred:
                    publish.defer(rig.store, rig.settings, rig.config, job, deferred)
            except Crash:
                failed = list(messages)
                break
            except Exception:
                failed.append(m)
    for m in messages:
        if m in failed:
            rig.queue.failed(m, rig.clock.epoch())
        else:
            rig.queue.succeeded(m)


@contextmanager
def fault(rig: Rig, kind: str, relay: Relay, post_id: str, wait: int) -> Iterator[None]:
    """`kind` armed for the next matching request, whichever delivery sends it (a crash: this delivery only)."""
    from relaycast.storage import Store

    repost = f"/2/users/{relay.user_id}/retweets"
    with pytest.MonkeyPatch.context() as patch:
        if kind == "5xx_before":
            rig.sandbox.fail_next("POST", repost, status=503)
        elif kind == "5xx_after":
            rig.sandbox.fail_next("POST", repost, status=504, after=True)
        elif kind == "drop_before":
            rig.sandbox.fail_next("POST", repost, drop=True)
        elif kind == "drop_after":
            rig.sandbox.fail_next("POST", repost, drop=True, after=True)
        elif kind == "429":
            rig.sandbox.fail_next("POST", repost, status=429, reset_at=rig.clock.epoch() + wait)
        elif kind == "reposters_5xx":  # the state check of a resumed reservation
            rig.sandbox.fail_next("GET", f"/2/tweets/{post_id}/retweeted_by", status=503)
        elif kind == "reposters_429":
            rig.sandbox.fail_next("GET", f"/2/tweets/{post_id}/retweeted_by", status=429, reset_at=rig.clock.epoch() + wait)
        elif kind == "crash":
            finish = Store.finish_ledger
            armed = [True]

            def crashing(self: Store, *args: Any, **fields: Any) -> None:
                if armed[0] and fields.get("status") == "published":
                    armed[0] = False
                    raise Crash("the function died after X answered, before the ledger write")
                finish(self, *args, **fields)

            patch.setattr(Store, "finish_ledger", crashing)
        yield


def interleaved(rig: Rig, first: Message, pause: str, meanwhile: Callable[[], None]) -> None:
    """A delivery and something else at once, interleaved deterministically: the delivery runs until it is about
    to repost (or to write the ledger), `meanwhile` runs to its end, then the delivery goes on."""
    from relaycast.networks.x import XNetwork
    from relaycast.storage import Store

    paused, release = threading.Event(), threading.Event()
    owner: type = Store if pause == "ledger" else XNetwork
    name = "finish_ledger" if pause == "ledger" else "repost"
    original = getattr(owner, name)

    def waiting(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is worker:
            paused.set()
            release.wait(timeout=30)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, name, waiting)
        worker = threading.Thread(target=deliver, args=(rig, [first]), daemon=True)
        worker.start()
        while not paused.wait(timeout=0.005) and worker.is_alive():
            pass
        meanwhile()
        release.set()
        worker.join(timeout=30)
    assert not worker.is_alive(), "the paused delivery never finished"


def end_of_access(rig: Rig, relays: list[Relay]) -> None:
    """The sweep at the end of access, for the relays it would change: those with a reservation still open.
    Each end is one end-grant message, received again after a transient failure (ended unconfirmed at the 4th)."""
    from relaycast import expire
    from relaycast.networks import Transient
    from relaycast.networks.factory import x_network

    rig.sandbox.clear_faults()
    rig.clock.at = max(rig.clock.at, rig.config.access_ends)
    x = x_network(rig.settings)
    for relay in relays:
        if not any(i["status"] == "publishing" for i in rig.store.relay_items(relay.relay_id, "LEDGER#")):
            continue
        for receives in range(1, expire.RECEIVE_BUDGET + 1):
            try:
                expire.end_queued(rig.store, rig.settings, rig.config, x, {"relay_id": relay.relay_id, "network": "x"}, receives)
                break
            except Transient:
                continue


# --- running a schedule ----------------------------------------------------------------------------------------


def run(rig: Rig, schedule: Schedule) -> Result:
    """Play `schedule`, then drain the queue without faults (the clock jumps to the next delayed message)."""
    from relaycast import credentials, publish, relays
    from relaycast.networks.factory import x_network
    from relaycast.policy import Limit, policy

    n = rig.begin(LATE if schedule.late else EARLY)
    seen = len(rig.sandbox.request_log)
    relay_list = [rig.connect(f"p{n}r{i}") for i in range(len(schedule.caps))]
    for relay, cap in zip(relay_list, schedule.caps, strict=True):
        if cap < relay.bound:
            rig.store.lower_cap(relay.relay_id, "x", cap)
            relay.bound = cap
    post_ids = rig.add_posts(schedule.posts)
    pending = list(dict.fromkeys((r % len(relay_list), p % len(post_ids)) for r, p in schedule.approvals))
    for r, p in pending:
        rig.propose(relay_list[r], post_ids[p])
    approved: list[tuple[int, int]] = []
    deliveries = 0
    last = relay_list[0]

    def approve(index: int) -> None:
        r, p = pending.pop(index % len(pending))
        rig.approve(relay_list[r], post_ids[p])
        approved.append((r, p))

    def relay_of(message: Message) -> Relay:
        return next(r for r in relay_list if r.relay_id == message.job["relay_id"])

    while len(pending) > schedule.held:
        approve(0)
    with pytest.MonkeyPatch.context() as patch:
        if schedule.per_user_limit:
            limit = Limit(schedule.per_user_limit, 900)
            patch.setattr(publish, "policy", lambda network: dataclasses.replace(policy(network), per_user=limit))
        for step in schedule.steps:
            now = rig.clock.epoch()
            visible = rig.queue.visible(now)
            relay = last if step.target < 5 else relay_list[step.target % len(relay_list)]
            if step.kind == "approve" and pending:
                approve(step.target)
            elif step.kind == "deliver" and visible:
                start = step.target % len(visible)
                batch = visible[start : start + max(1, step.value)]
                last = relay_of(batch[0])
                with fault(rig, step.fault, last, batch[0].job["post_id"], step.value * 300):
                    deliver(rig, batch, via_handler=step.via_handler, context=DYING if step.fault == "crash" else ALIVE)
                deliveries += 1
            elif step.kind == "duplicate" and visible:  # SQS delivers at least once: a second copy of a message
                rig.queue.send(visible[step.target % len(visible)].job, now)
            elif step.kind == "concurrent" and visible:
                first = visible[step.target % len(visible)]
                last, second = relay_of(first), rig.queue.send(first.job, now)
                interleaved(rig, first, step.pause, lambda: deliver(rig, [second]))
                deliveries += 2
            elif step.kind == "revoke_during" and visible:  # the relay revokes while one of their jobs is in flight
                first = visible[step.target % len(visible)]
                last = relay_of(first)
                interleaved(rig, first, step.pause,
                            lambda: relays.revoke_now(rig.store, rig.settings, rig.config, first.job["relay_id"], "x"))
                deliveries += 1
            elif step.kind == "revoke":  # from the dashboard: the same end as the event's, with a receipt
                relays.revoke_now(rig.store, rig.settings, rig.config, relay.relay_id, "x")
            elif step.kind == "revoke_at_x":  # the relay removes the app at X: relaycast learns it from a 401
                grant = rig.store.grant(relay.relay_id, "x")
                if grant:
                    tokens, _ = credentials.held_tokens(rig.config, rig.store.custody(grant["grant_id"]))
                    x_network(rig.settings).revoke(tokens["refresh_token"], "refresh_token")
            elif step.kind == "lower_cap":
                grant = rig.store.grant(relay.relay_id, "x")
                if grant and step.value < int(grant["cap"]):
                    rig.store.lower_cap(relay.relay_id, "x", step.value)
                    # Reservations already counted stand; no new one passes the lower cap.
                    relay.bound = min(relay.bound, max(step.value, int(grant["published_count"])))
        while pending:  # the rest of the approvals come in before the event ends
            approve(0)
        for _ in range(2000):
            visible = rig.queue.visible(rig.clock.epoch())
            parked = rig.parked()
            if visible:
                deliver(rig, visible[: rig.batch])
                deliveries += 1
            elif rig.queue.messages or parked:
                # The next delayed message, or the first release at or after the next parked job's due time.
                due = [m.visible_at for m in rig.queue.messages]
                due += [-(-int(i["due"]) // RELEASE_EVERY) * RELEASE_EVERY for i in parked]
                rig.clock.at = datetime.fromtimestamp(max(rig.clock.epoch(), min(due)), UTC)
                if parked and rig.clock.epoch() % RELEASE_EVERY == 0 and not rig.release():
                    rig.clock.at += timedelta(seconds=RELEASE_EVERY)  # nothing had room yet: the next release
            else:
                break
        else:
            raise AssertionError("the queue did not drain")
    counts = {}
    for relay in relay_list:
        grant = rig.store.grant(relay.relay_id, "x")
        if grant is not None:
            states = Counter(i["status"] for i in rig.store.relay_items(relay.relay_id, "LEDGER#"))
            counts[relay.relay_id] = (int(grant["published_count"]), states["published"], states["publishing"])
    end_of_access(rig, relay_list)
    answers = tuple(r.status for r in rig.sandbox.request_log[seen:] if "/retweet" in r.path)
    return Result(schedule, relay_list, post_ids, approved, [m.job for m in rig.queue.dead], deliveries, answers, counts)


def violations(rig: Rig, result: Result) -> list[str]:
    """Every broken promise, as readable lines (empty when the schedule kept them all). A dead-lettered job's
    outcome is unknown by definition: it is exempt from (b) and (c) (the end of access settles it if it can)."""
    found: list[str] = []
    reposts = rig.sandbox.retweets
    log = rig.sandbox.repost_log
    dead = {(j["relay_id"], j["post_id"]) for j in result.dead}
    for i, relay in enumerate(result.relays):
        who = f"relay {i} ({relay.relay_id})"
        ledger = {item["sk"].rsplit("#", 1)[1]: item for item in rig.store.relay_items(relay.relay_id, "LEDGER#")}
        in_dlq = {post for post in ledger if (relay.relay_id, post) in dead}
        at_x = {post for user, post in reposts if user == relay.user_id}
        published = {post for post, item in ledger.items() if item["status"] == "published"}
        if len(at_x) > relay.bound:  # (a)
            found.append(f"{who}: {len(at_x)} reposts at X, over its cap of {relay.bound}")
        duplicates = sorted(r.tweet_id for r in log if r.user_id == relay.user_id and r.duplicate)
        if duplicates:  # (b)
            found.append(f"{who}: reposted twice at X: {duplicates}")
        if published - at_x:
            found.append(f"{who}: the ledger says published {sorted(published - at_x)}, X holds no such repost")
        unsettled = at_x - published - in_dlq
        if unsettled:
            states = sorted({f"{ledger.get(p, {}).get('status')} ({ledger.get(p, {}).get('reason', '')})" for p in unsettled})
            found.append(f"{who}: X holds reposts of {sorted(unsettled)} the ledger has as {'; '.join(states)}")
        for r, p in result.approved:  # (c)
            post = result.post_ids[p]
            item = ledger.get(post)
            if r != i or post in in_dlq:
                continue
            if item is None or item["status"] not in ("published", "skipped"):
                found.append(f"{who}: post {post} ended {item and item['status']!r}, not published or skipped")
            elif item["status"] == "skipped" and not item.get("reason"):
                found.append(f"{who}: post {post} skipped without a reason")
        if relay.relay_id in result.counts:  # (d), before the end of access: a slot per published or open item
            count, published_then, open_then = result.counts[relay.relay_id]
            if count != published_then + open_then:
                found.append(f"{who}: published_count {count} != {published_then} published + {open_then} open")
    return found


def labels(rig: Rig, result: Result) -> set[str]:
    """What happened in a schedule, to see that the faults were met (hypothesis's statistics, the bench)."""
    found = {f"X answered {status}" for status in result.x_answers}
    found |= {"dead-lettered"} if result.dead else set()
    for relay in result.relays:
        for item in rig.store.relay_items(relay.relay_id, "LEDGER#"):
            found.add(f"{item['status']}: {item['reason'].split(' (')[0]}" if item.get("reason") else item["status"])
    return found
