"""The e-mail digest of a round's proposals, the signed links that decide one of them, and expiry.

When the propose function has written a work item's proposals (see `relaycast.fanout`), each of its relays
with a confirmed address and pending proposals of that round gets one message listing them, each with its own
*Approve* and *Skip* link. A link is signed, bound to relay, network, post and action, and good until the
proposal's `proposal_expires_at` (the event's clock). Opening it shows the exact post and a button; only
the POST decides, through `relays.decide`, so a mail scanner that follows links decides nothing and an
approval enqueues exactly as the dashboard does. A link is single use because the proposal is: once
decided it answers "already approved/skipped"; once expired, 410.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from itsdangerous import BadSignature, URLSafeSerializer

from relaycast import clock, notices, pages, relays
from relaycast.config import EventConfig
from relaycast.errors import Conflict, Expired, Forbidden, InvalidRequest, NotFound
from relaycast.moderation import ROUND
from relaycast.observability import logger, metrics
from relaycast.settings import Settings
from relaycast.storage import Attr, Store, is_condition_failure, proposal_sk, relay_pk

KIND = "digest"
ACTIONS = ("approve", "skip")


class DigestNotSent(Exception):
    """Some relays' digests could not be sent; a retried invocation sends those (and only those)."""


@dataclass(frozen=True)
class Claims:
    """What a valid link speaks for."""

    relay_id: str
    network: str
    post_id: str
    action: str
    until: int


def _serializer(settings: Settings) -> URLSafeSerializer:
    # Untimed: the link's end is the proposal's own expiry, checked on the event's clock.
    return URLSafeSerializer(settings.secret().signing_key, salt="proposal-link")


def link_token(settings: Settings, proposal: dict[str, Any], action: str) -> str:
    assert action in ACTIONS
    return _serializer(settings).dumps(
        {"r": proposal["relay_id"], "n": proposal["network"], "p": proposal["post_id"], "a": action,
         "u": int(proposal["proposal_expires_at"])}
    )


def link_claims(settings: Settings, token: str, action: str) -> Claims:
    """Check a link's signature and shape, and that it was made for this action (403/400 otherwise)."""
    if not token or len(token) > 512:
        raise Forbidden("This link is not valid.")
    try:
        data = _serializer(settings).loads(token)
    except BadSignature:
        raise Forbidden("This link is not valid.") from None
    fields = ("r", "n", "p", "a")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in fields) or not isinstance(data.get("u"), int):
        raise Forbidden("This link is not valid.")
    if action not in ACTIONS or data["a"] != action:
        raise InvalidRequest("This link is not for this action.")
    return Claims(relay_id=data["r"], network=data["n"], post_id=data["p"], action=data["a"], until=data["u"])


def relay_language(store: Store, config: EventConfig, claims: Claims) -> str:
    grant = store.grant(claims.relay_id, claims.network)
    return (grant or {}).get("lang") or config.languages[0]


def open_proposal(store: Store, config: EventConfig, claims: Claims) -> dict[str, Any]:
    """The proposal a valid link decides, if it still can be: decided → 409, expired → 410."""
    proposal = store.get(relay_pk(claims.relay_id), proposal_sk(claims.network, claims.post_id))
    now = clock.epoch()
    if proposal is None:  # the retention TTL removed it, or it never existed
        if now >= claims.until:
            raise Expired(
                "This proposal expired on %(date)s: nothing was published.", date=pages.epoch_time(config, claims.until, pages.NAMED)
            )
        raise NotFound("There is nothing here for this link.")
    if proposal["status"] == "approved":
        raise Conflict("This proposal was already approved: nothing more was done.")
    if proposal["status"] == "skipped":
        raise Conflict("This proposal was already skipped: nothing was published.")
    until = min(claims.until, int(proposal.get("proposal_expires_at", 0)))
    if proposal["status"] == "expired" or now >= until:
        raise Expired("This proposal expired on %(date)s: nothing was published.", date=pages.epoch_time(config, until, pages.NAMED))
    if proposal["status"] != "pending":
        raise Conflict("This proposal is no longer open (%(status)s).", status=proposal["status"])
    if store.grant(claims.relay_id, claims.network) is None:  # revoked meanwhile: nothing can be reposted
        raise Conflict("This network is not connected.")
    return proposal


def decide(store: Store, settings: Settings, config: EventConfig, claims: Claims) -> str:
    """The link's POST: the same decision as the dashboard's button, once."""
    open_proposal(store, config, claims)
    return relays.decide(
        store, settings, config, relay_id=claims.relay_id, action=claims.action, network=claims.network, post_id=claims.post_id
    )


def send_digests(store: Store, settings: Settings, config: EventConfig, round_id: str, relay_ids: Iterable[str],
                 base_url: str) -> int:
    """Mail each of these relays their pending proposals of this round, once per relay and round; returns how
    many were mailed. Raises DigestNotSent when some could not be: a retry mails those, and only those."""
    if not ROUND.match(str(round_id)):
        raise ValueError("digest: the work must name its round")
    base_url = base_url.rstrip("/")
    mailed = failed = 0
    for relay_id in relay_ids:
        try:
            mailed += _mail_relay(store, settings, config, round_id, relay_id, base_url)
        except Exception:  # noqa: BLE001 — the others still get theirs; this one is retried
            logger.exception("digest not sent", extra={"relay_id": relay_id, "round": round_id})
            failed += 1
    metrics.add_metric(name="DigestsSent", unit="Count", value=mailed)
    if failed:
        raise DigestNotSent(f"{failed} digest(s) of round {round_id} not sent")
    return mailed


def _mail_relay(store: Store, settings: Settings, config: EventConfig, round_id: str, relay_id: str, base_url: str) -> bool:
    items = store.relay_items(relay_id)
    grants = [i for i in items if i["sk"].startswith("GRANT#")]
    email = next((g["email"] for g in grants if g.get("email")), None)  # confirmed addresses only
    # Approve links are for approve-each grants; a share-link grant holds no token to publish with.
    active = {g["network"] for g in grants if g.get("status") == "active" and g.get("mode", "approve-each") == "approve-each"}
    now = clock.epoch()
    proposals = sorted(
        (i for i in items if i["sk"].startswith("PROPOSAL#") and i.get("round") == round_id and i.get("status") == "pending"
         and int(i.get("proposal_expires_at", 0)) > now and i["network"] in active),
        key=lambda p: (-float(p.get("score") or 0), p["post_id"]),
    )
    if not email or not proposals:
        return False
    key = {"pk": f"ROUND#{round_id}", "sk": f"DIGEST#{relay_id}"}
    # The record is the claim: a retried invocation finds it and mails nothing more.
    if not store.put_new({**key, "kind": KIND, "round": round_id, "relay_id": relay_id,
                          "posts": [f"{p['network']}#{p['post_id']}" for p in proposals],
                          "mailed_at": clock.now().isoformat(), "expires_at": config.retention_ends}):
        return False
    lang = grants[0].get("lang") or config.languages[0]
    entries = [
        {**p, **{action: f"{base_url}/proposal/{action}?p={link_token(settings, p, action)}&lang={lang}" for action in ACTIONS}}
        for p in proposals
    ]
    until = min(int(p["proposal_expires_at"]) for p in proposals)
    try:
        notices.send_digest(
            config, lang=lang, email=email, entries=entries, until=pages.epoch_time(config, until, pages.NAMED),
            dashboard=relays.dashboard_url(store, settings, relay_id, base_url),
        )
    except Exception:
        store.delete(**key)
        raise
    return True


def expire_proposals(store: Store, config: EventConfig) -> int:
    """Record as `expired` every proposal still pending past its time (kept until the retention TTL)."""
    now, expired = clock.epoch(), 0
    stale = store.of_kind("proposal", filter_expression=Attr("status").eq("pending") & Attr("proposal_expires_at").lte(now))
    for proposal in stale:
        try:
            store.table.update_item(
                Key={"pk": proposal["pk"], "sk": proposal["sk"]},
                UpdateExpression="SET #s = :expired, expired_at = :at",
                # The same instant `decide_proposal` stops accepting: no approval can slip in between.
                ConditionExpression="#s = :pending AND proposal_expires_at <= :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":expired": "expired", ":pending": "pending", ":now": now, ":at": clock.now().isoformat()},
            )
        except ClientError as error:
            if is_condition_failure(error):
                continue  # decided meanwhile
            raise
        expired += 1
    if expired:
        metrics.add_metric(name="ProposalsExpired", unit="Count", value=expired)
    return expired
