"""End a grant: revoke upstream every token of its custody, verify each is refused, delete them, keep a receipt.

One code path for the end-of-event sweep, the TTL stream backstop, "revoke now", a 401, a reconnect (the
tokens it replaces) and a failed connect. The receipt is per grant and written first as a claim, so every path
ends a grant once and sends one receipt; "confirmed" means every token of the grant was refused after revocation.

The sweep does not end grants itself: it pages through the grants and the custody items and queues one message
each, which `expire` consumes concurrently (`end_queued`). A message that keeps
failing because the provider does is retried until its receive count reaches `RECEIVE_BUDGET`; then the
grant is ended as unconfirmed (tokens deleted anyway, the receipt says how to revoke by hand).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from relaycast import aws, clock, credentials, notices
from relaycast.config import EventConfig
from relaycast.networks import NETWORK_NAMES, NetworkError, NotRevocable, TokenRejected, Transient
from relaycast.networks.x import XNetwork
from relaycast.observability import logger, metrics
from relaycast.policy import policy
from relaycast.settings import Settings
from relaycast.storage import Store, ledger_sk, receipt_sk, relay_pk, without_none

X_SETTINGS_URL = "https://x.com/settings/connected_apps"
MASTODON_SETTINGS_PATH = "/oauth/authorized_applications"
BLUESKY_SERVER, BLUESKY_ACCOUNT_PATH = "https://bsky.social", "/account"
LINKEDIN_SETTINGS_URL = "https://www.linkedin.com/psettings/permitted-services"
SWEEP_REASON = "the event ended"
NO_TOKEN = "relaycast never held a token for this account: nothing to revoke"
# Receives of one end-grant message before its grant is ended as unconfirmed; below the queue's
# maxReceiveCount (5), so a message reaches the DLQ only when even that fails.
RECEIVE_BUDGET = 4
SWEEP_PAGE_SIZE = 500


class StillAccepted(Transient):
    """A token the network still accepts after its revocation; `hint` says which kind."""

    def __init__(self, label: str, hint: str):
        super().__init__(f"{label} still accepts {'an access' if hint == 'access_token' else 'a refresh'} token after revocation")
        self.hint = hint


def revoke_and_verify(client: Any, label: str, current: dict[str, Any], retired: Iterable[dict[str, str]] = (),
                      keep: Callable[[Any], None] | None = None) -> str:
    """Revoke every token held (`current` tokens and `retired` ones, refresh tokens first), then prove each one
    refused: an access token by a call that needs it, a refresh token by a refresh the network must refuse.

    Raises Transient when one still works. A refresh that succeeds hands over new tokens: `keep` stores them
    (in custody) before they are revoked in turn, so the next pass verifies them too.
    """
    held = [{"token": current[hint], "hint": hint} for hint in ("refresh_token", "access_token") if current.get(hint)]
    earlier = sorted(retired, key=lambda t: t["hint"] != "refresh_token")
    for token in (*held, *earlier):
        try:
            client.revoke(token["token"], token["hint"])
        except NotRevocable:
            if client.token_works(token["token"]):  # the network keeps it: only the relay can end it
                raise
            # Refused already (the relay removed the app, or it expired): nothing left to revoke.
    for token in (*held, *earlier):
        if token["hint"] == "access_token":
            if client.token_works(token["token"]):
                raise StillAccepted(label, "access_token")
            continue
        try:
            fresh = client.refresh(token["token"])
        except TokenRejected:
            continue
        if keep is not None:
            keep(fresh)
        for hint in ("refresh_token", "access_token"):
            if getattr(fresh, hint):
                client.revoke(getattr(fresh, hint), hint)
        raise StillAccepted(label, "refresh_token")
    if earlier:
        return f"every token relaycast received (including those a refresh replaced) refused by {label} after revocation"
    if current.get("refresh_token"):
        return f"access and refresh tokens refused by {label} after revocation"
    return f"access token refused by {label} after revocation"


def _end_custody_tokens(store: Store, settings: Settings, config: EventConfig, client: Any, label: str,
                        custody: dict[str, Any]) -> tuple[str, list[str]]:
    """Revoke and verify every token of a custody; (what was proven, the fingerprints of the tokens it covers)."""
    current, retired = credentials.held_tokens(config, custody)
    proven = revoke_and_verify(client, label, current, retired,
                               keep=lambda fresh: credentials.keep_retired(store, settings, config, custody, fresh))
    return proven, credentials.fingerprints_of(current, retired)


def unconfirmed(error: Exception, grant: dict[str, Any] | None = None, custody: dict[str, Any] | None = None) -> str:
    """What the receipt says when the end could not be proven: why, where the relay revokes by hand, and, for an
    access token the network keeps accepting after revocation, the latest it can work (its expiry)."""
    said = f"could not confirm ({error}); revoke by hand at {settings_url(grant or {})}"
    expires = int((custody or {}).get("token_expires_at") or 0)
    if isinstance(error, StillAccepted) and error.hint == "access_token" and expires > clock.epoch():
        said += f"; that access token stops working at the latest at its expiry, {datetime.fromtimestamp(expires, UTC):%Y-%m-%d %H:%M} UTC"
    return said


def settings_url(grant: dict[str, Any]) -> str:
    """Where the relay removes relaycast's access by hand: their instance's authorised apps, the account page of
    the Bluesky server they granted (its connected apps), X's connected apps."""
    if grant.get("instance"):
        return f"https://{grant['instance']}{MASTODON_SETTINGS_PATH}"
    if grant.get("network") == "bluesky":
        return f"{grant.get('server') or BLUESKY_SERVER}{BLUESKY_ACCOUNT_PATH}"
    if grant.get("network") == "linkedin":
        return LINKEDIN_SETTINGS_URL
    return X_SETTINGS_URL


def end_grant(
    store: Store,
    settings: Settings,
    config: EventConfig,
    x: XNetwork,
    grant: dict[str, Any],
    reason: str,
    *,
    give_up: bool = False,
) -> str:
    """End one grant (`grant` is the stored item or its TTL-deleted image): settle its open relay-posts, revoke
    and verify every token of its custody, delete the custody and the grant (if it is still this one), and
    record the receipt and mail it.

    Returns "ended", or "already" when another path ended this grant. Raises Transient to retry. With `give_up`
    (the retry budget is spent), a provider that still fails does not stop the end: the tokens are deleted
    anyway and the receipt says what could not be confirmed and where the relay revokes by hand.
    """
    relay_id, network, grant_id = grant["relay_id"], grant["network"], grant.get("grant_id") or ""
    receipt_key = {"pk": relay_pk(relay_id), "sk": receipt_sk(network, grant_id or "none")}
    claim = store.claim_receipt(
        {
            **receipt_key,
            "kind": "receipt",
            "relay_id": relay_id,
            "network": network,
            **({"grant_id": grant_id} if grant_id else {}),
            "username": grant.get("username", ""),
            "reason": reason,
            "started_at": clock.now().isoformat(),
            "expires_at": config.retention_ends,
            **({"email": grant["email"]} if grant.get("email") else {}),
            **({"lang": grant["lang"]} if grant.get("lang") else {}),
        }
    )
    if claim == "done":
        _send_receipt_once(store, config, receipt_key)  # in case the path that ended it stopped before
        return "already"
    if claim == "busy":  # the sweep and the TTL stream met on one grant: the other finishes, this retries
        raise Transient("another path is ending this grant")

    # No new reservation from here on; the ones in flight are settled while the token still works.
    store.set_grant_status(relay_id, network, "ending", grant_id or None)
    if grant.get("mode") == "share-link":
        return _end_without_token(store, config, grant, reason, receipt_key)
    custody = store.custody(grant_id)
    label = grant.get("instance") or NETWORK_NAMES[network]
    earlier = store.get(**receipt_key) or {}
    held: list[str] | None = None  # the fingerprints of the tokens the verification covers
    try:
        if custody is None:
            # An earlier pass recorded its verification, then deleted the tokens and stopped: its word stands.
            if "verification" not in earlier:
                raise NetworkError("no token of this grant was found in custody")
            verification, confirmed = earlier["verification"], bool(earlier["confirmed"])
        else:
            client = credentials.client_for_grant(settings, store, grant, x)
            token = functools.cache(lambda: credentials.access_token(store, settings, config, client, grant))
            if settle_open_reservations(store, client, token, grant, config.retention_ends, give_up=give_up):
                custody = store.custody(grant_id) or custody  # settling may have refreshed (rotated) the tokens
            proven, held = _end_custody_tokens(store, settings, config, client, label, custody)
            verification, confirmed = {network: proven}, True
    except Transient as error:
        metrics.add_metric(name="RevocationFailed", unit="Count", value=1)
        if not give_up:
            store.release_claim(**receipt_key)  # the next pass may take over at once
            raise
        logger.warning("retry budget spent: ending the grant unconfirmed", extra={"relay_id": relay_id, "network": network})
        verification = {network: unconfirmed(error, grant, store.custody(grant_id))}
        confirmed = False
    except NetworkError as error:
        verification = {network: unconfirmed(error, grant)}
        confirmed = False

    # Recorded before the tokens go, so a pass that takes over after a crash knows what was confirmed.
    if held is None:  # not verified: every token the custody holds now, or what an earlier pass named
        custody = store.custody(grant_id)
        held = credentials.fingerprints(config, custody) if custody else list(earlier.get("token_fingerprints", []))
    store.record_verification(receipt_key, verification, confirmed, held)
    store.delete_custody(grant_id)
    store.delete_grant(relay_id, network, grant_id)
    published = [
        {"post_id": item["post_id"], "link": item.get("link", ""), "at": item.get("published_at", "")}
        for item in store.relay_items(relay_id, "LEDGER#")
        if item["status"] == "published" and item["sk"] == ledger_sk(network, item["post_id"])
    ]
    store.finish_receipt(receipt_key, verification=verification, confirmed=confirmed, published=published,
                         token_fingerprints=held, visibility=visibility(store, config, grant, len(published)))
    metrics.add_metric(name="GrantsRevoked" if confirmed else "RevocationUnconfirmed", unit="Count", value=1)
    logger.info("grant ended", extra={"relay_id": relay_id, "network": network, "grant_id": grant_id, "reason": reason,
                                      "confirmed": confirmed})
    _send_receipt_once(store, config, receipt_key)
    return "ended"


def end_custody(store: Store, settings: Settings, config: EventConfig, x: XNetwork, custody: dict[str, Any], reason: str,
                *, give_up: bool = False) -> str:
    """End tokens held under a grant id: through the grant's end when it is still the relay's current grant;
    otherwise (a connection that failed, or tokens a reconnect replaced) revoke and verify them, then delete
    them — kept until proven dead, unless the retry budget is spent. No receipt: the relay's grant, if any,
    goes on under its new tokens."""
    relay_id, network, grant_id = custody.get("relay_id") or "", custody["network"], custody["grant_id"]
    current = store.grant(relay_id, network) if relay_id else None
    if current and current.get("grant_id") == grant_id:
        return end_grant(store, settings, config, x, current, reason, give_up=give_up)
    client = credentials.client_for_grant(settings, store, custody, x)
    label = custody.get("instance") or NETWORK_NAMES[network]
    confirmed = True
    try:
        _end_custody_tokens(store, settings, config, client, label, store.custody(grant_id) or custody)
    except NetworkError as error:
        metrics.add_metric(name="RevocationFailed", unit="Count", value=1)
        if not give_up and isinstance(error, Transient):
            raise
        confirmed = False
        logger.error("tokens of a replaced or failed connection could not be proven dead",
                     extra={"grant_id": grant_id, "network": network, "error": str(error)[:200]})
    store.delete_custody(grant_id)
    metrics.add_metric(name="GrantsRevoked" if confirmed else "RevocationUnconfirmed", unit="Count", value=1)
    logger.info("tokens ended", extra={"grant_id": grant_id, "network": network, "reason": reason, "confirmed": confirmed})
    return "ended"


def _end_without_token(store: Store, config: EventConfig, grant: dict[str, Any], reason: str, receipt_key: dict[str, str]) -> str:
    """A share-link grant: relaycast never held a token, so nothing is revoked upstream; the receipt lists the
    posts the relay opened to share (they reposted or boosted them themselves, on the network)."""
    relay_id, network = grant["relay_id"], grant["network"]
    ledger = store.relay_items(relay_id, f"LEDGER#{network}#")
    for item in ledger:
        if item["status"] == "publishing":  # a click whose record did not finish: it is not counted
            store.release_publish(relay_id, network, item["post_id"], "access ended before the share was recorded")
    store.delete_grant(relay_id, network, grant.get("grant_id"))
    shared = [
        {"post_id": item["post_id"], "link": item.get("link", ""), "at": item.get("shared_at", "")}
        for item in ledger
        if item["status"] == "shared"
    ]
    store.finish_receipt(receipt_key, verification={network: NO_TOKEN}, confirmed=True, published=[], shared=shared,
                         mode="share-link", visibility=visibility(store, config, grant, 0))
    metrics.add_metric(name="ShareLinkGrantsEnded", unit="Count", value=1)
    logger.info("grant ended", extra={"relay_id": relay_id, "network": network, "reason": reason, "mode": "share-link"})
    _send_receipt_once(store, config, receipt_key)
    return "ended"


def visibility(store: Store, config: EventConfig, grant: dict[str, Any], published: int) -> dict[str, Any]:
    """What a receipt tells of the event's visibility when it is made: how many relays carried the event, the posts
    made in their names and their reach (followers at connect, summed per post), the reach of the relay's own
    posts, and the organiser's public summary."""
    seen = store.visibility()
    followers = grant.get("followers")
    return without_none({
        "relays": seen.get("relays", 0),
        "posts": sum(v for k, v in seen.items() if k.startswith("posts_")),
        "reach": sum(v for k, v in seen.items() if k.startswith("reach_")),
        "followers": followers,
        "your_reach": followers * published if followers is not None and published else None,
        "summary_url": config.summary_url,
    })


def settle_open_reservations(store: Store, client: Any, token: Callable[[], str], grant: dict[str, Any], keep_until: int,
                             give_up: bool = True) -> int:
    """End every relay-post of this grant still `publishing` (a crash, a timeout, a deferral near the end):
    published if the network says the relay reposted it, skipped otherwise, with the reason either way. When
    the network cannot tell for now (5xx, 429) it raises Transient to ask again, unless `give_up`."""
    relay_id, network = grant["relay_id"], grant["network"]
    open_items = [i for i in store.relay_items(relay_id, f"LEDGER#{network}#") if i["status"] == "publishing"]
    for item in open_items:
        post_id = item["post_id"]
        post = store.post_ref(network, post_id)
        try:
            reposted = client.has_reposted(token(), grant["user_id"], post)
        except NetworkError as error:
            try:
                reposted = confirmed_by_app(client, grant, post)  # the relay's token no longer works
            except Transient:
                reposted = None
                if not give_up:
                    raise
            if reposted is None and isinstance(error, Transient) and not give_up:
                raise Transient(f"whether it was published cannot be told yet ({error})") from None
            if reposted is None:
                store.release_publish(relay_id, network, post_id, f"access ended; whether it was published could not be confirmed ({error})"[:200])
                continue
        if reposted:
            store.mark_published(grant, post_id, link=published_link(grant, post_id, post), published_at=clock.now().isoformat(),
                                 expires_at=keep_until)
        else:
            store.release_publish(relay_id, network, post_id, "access ended before it was published")
    return len(open_items)


def confirmed_by_app(client: Any, grant: dict[str, Any], post_id: str) -> bool | None:
    """Whether the relay reposts the post, read with the app's own token (X's bearer) when the relay's token is
    gone; None when it cannot be told. Raises Transient when asking later may tell (a 5xx, the app's 429)."""
    app_token = getattr(client, "bearer_token", None)
    if not app_token:
        return None
    try:
        return client.has_reposted(app_token, grant["user_id"], post_id)
    except Transient:
        raise
    except NetworkError:
        return None


def published_link(grant: dict[str, Any], post_id: str, post: str | None = None, made: Any = None) -> str:
    """Where the relay's followers see it: X's status, the original status (`post`, from Store.post_ref), a
    Bluesky post's page (its reference names the author's DID and the record key), or the relay's LinkedIn
    reshare (`made`, its URN)."""
    if grant["network"] == "x":
        return f"https://x.com/i/status/{post_id}"
    if grant["network"] == "linkedin" and isinstance(made, str):
        return f"https://www.linkedin.com/feed/update/{made}/"
    if grant["network"] == "bluesky" and post and post.startswith("at://"):
        from relaycast.networks.bluesky import post_ref, split_ref

        did, rkey = post_ref(split_ref(post)[0])
        return f"https://bsky.app/profile/{did}/post/{rkey}"
    return post or post_id


def _send_receipt_once(store: Store, config: EventConfig, receipt_key: dict[str, str]) -> None:
    receipt = store.get(**receipt_key) or {}
    if receipt.get("email") and store.claim_once(**receipt_key, attribute="email_sent_at"):
        try:
            notices.send_receipt(config, receipt)
        except Exception:
            store.unclaim(**receipt_key, attribute="email_sent_at")  # a later pass sends it
            raise


def sweep(store: Store, queue_url: str, *, sqs: Any = None, page_size: int = SWEEP_PAGE_SIZE) -> dict[str, int]:
    """Queue one end message per stored grant (`{"relay_id", "network"}`) and per custody no grant adopted
    (`{"grant_id"}`: the tokens a failed or replaced connection left, if any); ends nothing itself.

    SendMessageBatch, 10 per call (`aws.send_batches`). Queuing an end twice (a retried sweep, a grant and its
    custody) is harmless: the second message finds it gone or its receipt done. Raises when some messages could not be queued, so
    the scheduler's retry runs the sweep again.
    """
    messages = itertools.chain(
        ({"relay_id": g["relay_id"], "network": g["network"]} for g in store.grants(page_size=page_size, fields=("relay_id", "network"))),
        ({"grant_id": c["grant_id"]} for c in store.unadopted_custodies(page_size=page_size, fields=("grant_id",))),
    )
    sent = aws.send_batches(queue_url, ({"MessageBody": json.dumps(m)} for m in messages), sqs=sqs)
    result = {"queued": sent.queued, "batches": sent.batches, "unqueued": sent.unqueued}
    metrics.add_metric(name="GrantsQueued", unit="Count", value=sent.queued)
    logger.info("sweep queued the grants", extra=result)
    if sent.unqueued:
        raise RuntimeError(f"{sent.unqueued} grant(s) could not be queued; the sweep runs again")
    return result


def end_queued(
    store: Store, settings: Settings, config: EventConfig, x: XNetwork, message: dict[str, Any], receive_count: int
) -> str:
    """One end message: end the grant, or the custody, if it is still stored ("already" when it is gone).

    At `RECEIVE_BUDGET` receives the provider has had its chances: end it unconfirmed rather than retry.
    """
    give_up = receive_count >= RECEIVE_BUDGET
    if "grant_id" in message:
        custody = store.custody(str(message["grant_id"]))
        return "already" if custody is None else end_custody(store, settings, config, x, custody, SWEEP_REASON, give_up=give_up)
    grant = store.grant(message["relay_id"], message["network"])
    if grant is None:
        return "already"
    if wait := _server_wait(store, grant):
        # Its server's window is full: the end comes back when the next opens, as a new message (no receive of
        # its retry budget spent on waiting).
        aws.client("sqs").send_message(QueueUrl=settings.end_grant_queue_url, MessageBody=json.dumps(message),
                                       DelaySeconds=min(wait, aws.MAX_SQS_DELAY))
        metrics.add_metric(name="EndsPaced", unit="Count", value=1)
        return "paced"
    return end_grant(store, settings, config, x, grant, SWEEP_REASON, give_up=give_up)


def _server_wait(store: Store, grant: dict[str, Any]) -> int:
    """0 when the grant's server has room for one more end in its window (taken), else the seconds to wait."""
    limit = policy(grant["network"]).ends_per_server
    if limit is None or not grant.get("server"):
        return 0
    return store.take_quota(f"{grant['network']}#server#{grant['server']}", limit.calls, limit.window_seconds)
