"""Publish one relay-post: reserve under the cap, repost with the relay's token, record the outcome.

Each relay-post ends as published, skipped with a reason, or (after the queue's retries) dead-lettered.
The reservation is one transaction with the ledger record, so the cap cannot be passed and a post is
never published twice for one relay, whatever SQS redelivers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaycast import aws, clock, credentials, expire
from relaycast.config import EventConfig
from relaycast.networks import NETWORK_NAMES, CannotTell, NetworkError, RateLimited, TokenRejected, Transient
from relaycast.networks.x import XNetwork
from relaycast.observability import logger
from relaycast.policy import Limit, policy
from relaycast.quiet import quiet_deferral
from relaycast.settings import Settings
from relaycast.storage import Store

# Parked jobs wait in lanes: the app's budget of a network (released as much as it has room for), or time.
TIME_LANE = "time"


class PublishJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relay_id: str = Field(pattern=r"^[a-z]+-[0-9A-Za-z_-]{1,64}$")
    network: str = Field(pattern=f"^({'|'.join(NETWORK_NAMES)})$")
    post_id: str = Field(pattern=r"^[0-9]{1,25}$")


class Deferred(Exception):
    """Not now: a budget is spent or the platform asked to wait. The job comes back in `seconds`; a long wait
    for a budget shared by the app is parked in that budget's lane, released as its room comes back."""

    def __init__(self, seconds: int, reason: str, lane: str = TIME_LANE):
        super().__init__(f"deferred {seconds}s: {reason}")
        self.seconds, self.reason, self.lane = max(1, int(seconds)), reason, lane


def _budget_keys(job: PublishJob, grant: dict[str, Any]) -> list[tuple[str, Limit]]:
    """The budgets one publish spends, from the network's policy row: the app's, then the relay account's."""
    row = policy(job.network)
    keys = [(f"{job.network}#app", row.per_app)] if row.per_app else []
    account = f"{grant.get('instance', '')}#{grant['user_id']}"
    return [*keys, (f"{job.network}#user#{account}", row.per_user)]


def take_budget(store: Store, job: PublishJob, grant: dict[str, Any]) -> list[tuple[str, Limit]]:
    """Spend one call of every budget, or none: relaycast defers rather than send a request that would get 429.
    Returns what was taken, to give back if the platform refuses the call anyway."""
    budgets = _budget_keys(job, grant)
    wait, spent = store.take_quotas([(key, limit.calls, limit.window_seconds, limit.sliding) for key, limit in budgets])
    if wait:
        app_wide = spent == f"{job.network}#app"
        raise Deferred(wait, f"budget {str(spent).split('#user#')[0]} spent for this window", lane=spent if app_wide else TIME_LANE)
    return budgets


def hold_budget(store: Store, taken: list[tuple[str, Limit]], reset_at: int) -> None:
    """After a 429, hold the budget the platform's wait points to: one that fits in the relay's window is
    theirs, a longer one can only be the app's (X's 24-hour post cap)."""
    wait = reset_at - clock.epoch()
    for key, limit in sorted(taken, key=lambda taken_one: taken_one[1].window_seconds):
        if wait <= limit.window_seconds:
            store.hold_quota(key, limit.window_seconds, reset_at, limit.sliding)
            return


def give_back_budget(store: Store, taken: list[tuple[str, Limit]]) -> None:
    for key, limit in taken:
        store.give_back_quota(key, limit.window_seconds, limit.sliding)


def publish(store: Store, settings: Settings, config: EventConfig, x: XNetwork, job: PublishJob) -> str:
    """Returns the relay-post's outcome: published, duplicate, or skipped:<reason>. `x` is X's client; another
    network's is made for the grant (Mastodon: the relay's instance).

    Raises Transient to retry (the reservation stays, so the retry resumes it) and Deferred to come back later.
    """
    grant = store.grant(job.relay_id, job.network)
    keep_until = config.retention_ends
    if grant is None:
        if not store.record_skip(job.relay_id, job.network, job.post_id, "access has ended", keep_until):
            # A reservation left open by a crash, after access ended: no token to ask the network with.
            ledger = store.get(f"RELAY#{job.relay_id}", f"LEDGER#{job.network}#{job.post_id}") or {}
            if ledger.get("status") == "publishing":
                store.release_publish(job.relay_id, job.network, job.post_id,
                                      "access ended; whether it was published could not be confirmed")
        return "skipped:access ended"
    if quiet := quiet_deferral(grant, config, clock.now(), job.post_id):  # before any reservation: nothing is held
        raise Deferred(quiet, "the relay's quiet hours")
    cap = int(grant.get("cap", config.cap_per_relay))
    reservation = store.reserve_publish(job.relay_id, job.network, job.post_id, cap)
    if reservation == "done":
        return "duplicate"
    if reservation in ("cap", "inactive"):
        reason = f"cap of {cap} reached" if reservation == "cap" else f"grant is {grant.get('status')}"
        store.record_skip(job.relay_id, job.network, job.post_id, reason, keep_until)
        return f"skipped:{reason}"

    where = grant.get("instance") or NETWORK_NAMES[job.network]
    post = store.post_ref(job.network, job.post_id)
    client = credentials.client_for_grant(settings, store, grant, x)
    # A first attempt takes its budget before the relay's token is read: a job that must wait costs no decrypt
    # and no refresh. A resumed one asks the platform first, with the token, whether it went through already.
    taken = take_budget(store, job, grant) if reservation == "reserved" else None
    try:
        try:
            token = credentials.access_token(store, settings, config, client, grant)
        except BaseException:
            if taken:  # nothing was sent: the units go back
                give_back_budget(store, taken)
            raise
        # A resumed reservation may have reached the platform before a crash or a timeout: ask it first.
        made = None
        if not (reservation == "resume" and client.has_reposted(token, grant["user_id"], post)):
            taken = taken or take_budget(store, job, grant)
            try:
                made = client.repost(token, grant["user_id"], post)
            except RateLimited as limited:
                # Nothing was posted: the units go back, and the relay's account waits for the platform's
                # reset (its window may not be ours), so the next job defers instead of meeting another 429.
                give_back_budget(store, taken)
                hold_budget(store, taken, limited.reset_at)
                raise
    except TokenRejected:
        # Revoked elsewhere (the relay removed the app at X): the same end as any other, with its receipt. An
        # earlier attempt X may have acted on is settled with the app's own token.
        try:
            reposted = expire.confirmed_by_app(client, grant, post) if reservation == "resume" else False
        except Transient:
            reposted = None  # the job's retries are not the place to wait for the app's limit to turn
        if reposted:
            store.mark_published(grant, job.post_id, link=expire.published_link(grant, job.post_id, post),
                                 published_at=clock.now().isoformat(), expires_at=keep_until)
        else:
            unknown = "; whether it was published could not be confirmed" if reposted is None else ""
            store.release_publish(job.relay_id, job.network, job.post_id, f"access was revoked at {where}{unknown}")
        logger.warning("grant rejected by the network", extra={"relay_id": job.relay_id, "network": job.network})
        expire.end_grant(store, settings, config, client, grant, f"access was revoked at {where}")
        return "skipped:access revoked"
    except RateLimited as limited:  # our budgets missed a limit (another app's use, a lower tier): wait it out
        raise Deferred(limited.reset_at - clock.epoch(), "the platform asked to wait") from None
    except Transient:
        raise  # the reservation stays: the retry resumes it
    except CannotTell:  # an earlier attempt may have gone through: never a second one to find out
        store.release_publish(job.relay_id, job.network, job.post_id,
                              f"an earlier attempt may have been published; {where} cannot tell, so it was not tried again")
        return "skipped:cannot tell"
    except NetworkError as error:
        store.release_publish(job.relay_id, job.network, job.post_id, f"refused by {where}: {error}"[:200])
        return "skipped:refused"
    store.mark_published(
        grant,
        job.post_id,
        link=expire.published_link(grant, job.post_id, post, made),
        published_at=clock.now().isoformat(),
        expires_at=keep_until,
        # What the network made, when undoing it names that (a LinkedIn reshare's own URN).
        **({"made": made} if isinstance(made, str) else {}),
    )
    return "published"




def defer(store: Store, settings: Settings, config: EventConfig, job: PublishJob, deferred: Deferred) -> str:
    """Bring the job back when its wait is over (no retry is burnt): a short wait is a delayed message, a longer
    one is parked until `release` sends it. A wait that outlasts the relay's access ends here instead: the end
    of access settles the open reservation (expire.end_grant)."""
    if clock.epoch() + deferred.seconds >= config.access_ends.timestamp():
        return _ends_first(store, config, job, deferred.reason)
    if deferred.seconds <= aws.MAX_SQS_DELAY:  # a longer wait is parked in the table
        aws.client("sqs").send_message(QueueUrl=settings.publish_queue_url, MessageBody=job.model_dump_json(),
                                       DelaySeconds=deferred.seconds)
        return "deferred"
    store.park(deferred.lane, clock.epoch() + deferred.seconds, job.model_dump(), job.model_dump_json(),
               expires_at=config.retention_ends)
    return "parked"


def _ends_first(store: Store, config: EventConfig, job: PublishJob, reason: str) -> str:
    # Not reserved yet (the relay's quiet hours come first): it ends here, with its reason. Reserved: the end of
    # access settles it, asking the network while the token still works.
    if store.record_skip(job.relay_id, job.network, job.post_id, f"access ends before it could be published ({reason})",
                         config.retention_ends):
        return f"skipped:access ends first ({reason})"
    return f"left to the end of access ({reason})"


# At most this many jobs per lane and release (200 SendMessageBatch calls, a few seconds): a burst (every
# relay's night ending at 07:00) goes out over the next releases, well inside publish's timeout.
RELEASE_MOST = 2000


class Released(BaseModel):
    released: int = 0  # sent to the publish queue
    unqueued: int = 0  # refused by SQS: they stay parked for the next release
    full: list[str] = []  # lanes with jobs still due (no room in their budget, or RELEASE_MOST sent): first in line


def release(store: Store, settings: Settings, config: EventConfig) -> Released:
    """Send the parked jobs that are due back to the queue (EventBridge Scheduler calls this every few minutes
    during the event): all of the time lane, and of each app budget's lane as many as the budget has room for
    (RELEASE_MOST at most per lane; the rest goes with the next releases).
    A job is unparked only once SQS has it; a release that fails leaves everything for the next one."""
    result = Released()
    lanes: list[tuple[str, int]] = [(TIME_LANE, RELEASE_MOST)]
    for network in config.networks:
        if (limit := policy(network).per_app) is not None:
            key = f"{network}#app"
            lanes.append((key, min(RELEASE_MOST, store.quota_room(key, limit.calls, limit.window_seconds, limit.sliding))))
    for lane, room in lanes:
        due = store.parked_due(lane, limit=room + 1)
        if len(due) > room:
            result.full.append(lane)
            due = due[:room]
        queued = aws.send_batches(settings.publish_queue_url, [{"MessageBody": item["job"]} for item in due])
        refused = {entry["MessageBody"] for entry in queued.left}
        store.unpark([item for item in due if item["job"] not in refused])
        result.released += queued.queued
        result.unqueued += queued.unqueued
    return result
