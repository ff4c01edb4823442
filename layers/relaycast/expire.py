"""End a grant: revoke upstream, verify, delete every token, keep a receipt, send it.

One code path for the end-of-event sweep, the TTL stream backstop and (later) "revoke now". The receipt
is written first as a claim, so the sweep and the TTL path revoke a grant once and send one receipt.

The sweep does not end grants itself: it pages through them and queues one message per grant
(`{"relay_id", "network"}`), which `expire` consumes concurrently (`end_queued`). A message that keeps
failing because the provider does is retried until its receive count reaches `RECEIVE_BUDGET`; then the
grant is ended as unconfirmed (tokens deleted anyway, the receipt says how to revoke by hand).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from relaycast import aws, clock, credentials, crypto, notices
from relaycast.config import EventConfig
from relaycast.networks import NETWORK_NAMES, NetworkError, Transient
from relaycast.networks.x import XNetwork
from relaycast.observability import logger, metrics
from relaycast.settings import Settings
from relaycast.storage import Store, grant_sk, ledger_sk, receipt_sk, relay_pk

X_SETTINGS_URL = "https://x.com/settings/connected_apps"
MASTODON_SETTINGS_PATH = "/oauth/authorized_applications"
SWEEP_REASON = "the event ended"
NO_TOKEN = "relaycast never held a token for this account: nothing to revoke"
# Receives of one end-grant message before its grant is ended as unconfirmed; below the queue's
# maxReceiveCount (5), so a message reaches the DLQ only when even that fails.
RECEIVE_BUDGET = 4
SQS_BATCH = 10  # SendMessageBatch's limit
SWEEP_PAGE_SIZE = 500


def _revoke_and_verify(client: Any, label: str, tokens: dict[str, Any]) -> dict[str, str]:
    """Revoke refresh then access token; then prove the access token is refused."""
    if tokens.get("refresh_token"):
        client.revoke(tokens["refresh_token"], "refresh_token")
    client.revoke(tokens["access_token"], "access_token")
    if client.token_works(tokens["access_token"]):
        raise Transient(f"{label} still accepts the access token after revocation")
    return {client.name: f"access token refused by {label} after revocation"}


def unconfirmed(error: Exception, grant: dict[str, Any] | None = None) -> str:
    where = f"https://{grant['instance']}{MASTODON_SETTINGS_PATH}" if grant and grant.get("instance") else X_SETTINGS_URL
    return f"could not confirm ({error}); revoke by hand at {where}"


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
    """Returns "ended", or "already" when another path ended this grant. Raises Transient to retry.

    With `give_up` (the retry budget is spent), a provider that still fails does not stop the end: the grant
    and its tokens are deleted anyway and the receipt says the revocation could not be confirmed.
    """
    relay_id, network = grant["relay_id"], grant["network"]
    receipt_key = {"pk": relay_pk(relay_id), "sk": receipt_sk(network)}
    claim = store.claim_receipt(
        {
            **receipt_key,
            "kind": "receipt",
            "relay_id": relay_id,
            "network": network,
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
    store.set_grant_status(relay_id, network, "ending")
    current = store.grant(relay_id, network)  # None on the TTL path: the item is already deleted
    if not (current or grant).get("tokens"):
        return _end_without_token(store, config, grant, reason, receipt_key)
    tokens = crypto.unseal((current or grant)["tokens"], event_slug=config.slug, relay_id=relay_id, network=network)
    try:
        client = credentials.client_for_grant(settings, store, grant, x)

        stored_access = tokens["access_token"]

        def token() -> str:
            return _fresh_token(store, settings, config, client, current) if current else stored_access

        if settle_open_reservations(store, client, functools.cache(token), grant, give_up=give_up) and current:
            # Settling may have refreshed the tokens (a refresh rotates them): revoke what the grant holds now.
            latest = store.grant(relay_id, network) or current
            tokens = crypto.unseal(latest["tokens"], event_slug=config.slug, relay_id=relay_id, network=network)
        verification = _revoke_and_verify(client, grant.get("instance") or NETWORK_NAMES[network], tokens)
        confirmed = True
    except Transient as error:
        metrics.add_metric(name="RevocationFailed", unit="Count", value=1)
        if not give_up:
            store.release_claim(**receipt_key)  # the next pass may take over at once
            raise
        logger.warning("retry budget spent: ending the grant unconfirmed", extra={"relay_id": relay_id, "network": network})
        verification = {network: unconfirmed(error, grant)}
        confirmed = False
    except NetworkError as error:
        verification = {network: unconfirmed(error, grant)}
        confirmed = False
    del tokens

    store.delete(relay_pk(relay_id), grant_sk(network))
    published = [
        {"post_id": item["post_id"], "link": item.get("link", ""), "at": item.get("published_at", "")}
        for item in store.relay_items(relay_id, "LEDGER#")
        if item["status"] == "published" and item["sk"] == ledger_sk(network, item["post_id"])
    ]
    store.table.update_item(
        Key=receipt_key,
        UpdateExpression="SET #s = :done, ended_at = :at, verification = :v, confirmed = :c, published = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":done": "done",
            ":at": clock.now().isoformat(),
            ":v": verification,
            ":c": confirmed,
            ":p": published,
        },
    )
    metrics.add_metric(name="GrantsRevoked" if confirmed else "RevocationUnconfirmed", unit="Count", value=1)
    logger.info("grant ended", extra={"relay_id": relay_id, "network": network, "reason": reason, "confirmed": confirmed})
    _send_receipt_once(store, config, receipt_key)
    return "ended"


def _end_without_token(store: Store, config: EventConfig, grant: dict[str, Any], reason: str, receipt_key: dict[str, str]) -> str:
    """A share-link grant: relaycast never held a token, so nothing is revoked upstream; the receipt lists the
    posts the relay opened to share (they reposted or boosted them themselves, on the network)."""
    relay_id, network = grant["relay_id"], grant["network"]
    ledger = store.relay_items(relay_id, f"LEDGER#{network}#")
    for item in ledger:
        if item["status"] == "publishing":  # a click whose record did not finish: it is not counted
            store.release_publish(relay_id, network, item["post_id"], "access ended before the share was recorded")
    store.delete(relay_pk(relay_id), grant_sk(network))
    shared = [
        {"post_id": item["post_id"], "link": item.get("link", ""), "at": item.get("shared_at", "")}
        for item in ledger
        if item["status"] == "shared"
    ]
    store.table.update_item(
        Key=receipt_key,
        UpdateExpression="SET #s = :done, ended_at = :at, verification = :v, confirmed = :c, published = :p, #sh = :sh, #m = :m",
        ExpressionAttributeNames={"#s": "status", "#sh": "shared", "#m": "mode"},
        ExpressionAttributeValues={
            ":done": "done",
            ":at": clock.now().isoformat(),
            ":v": {network: NO_TOKEN},
            ":c": True,
            ":p": [],
            ":sh": shared,
            ":m": "share-link",
        },
    )
    metrics.add_metric(name="ShareLinkGrantsEnded", unit="Count", value=1)
    logger.info("grant ended", extra={"relay_id": relay_id, "network": network, "reason": reason, "mode": "share-link"})
    _send_receipt_once(store, config, receipt_key)
    return "ended"


def _fresh_token(store: Store, settings: Settings, config: EventConfig, client: Any, grant: dict[str, Any]) -> str:
    """Refreshed once if needed (a refresh rotates the refresh token: the grant in hand is then stale)."""
    return credentials.access_token(store, settings, config, client, grant)


def settle_open_reservations(store: Store, client: Any, token: Callable[[], str], grant: dict[str, Any],
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
            store.finish_ledger(relay_id, network, post_id, status="published", link=published_link(grant, post_id, post),
                                published_at=clock.now().isoformat())
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


def published_link(grant: dict[str, Any], post_id: str, post: str | None = None) -> str:
    """Where the relay's followers see it: X's status, or the original status (`post`, from Store.post_ref)."""
    return f"https://x.com/i/status/{post_id}" if grant["network"] == "x" else post or post_id


def _send_receipt_once(store: Store, config: EventConfig, receipt_key: dict[str, str]) -> None:
    receipt = store.get(**receipt_key) or {}
    if receipt.get("email") and store.claim_once(**receipt_key, attribute="email_sent_at"):
        try:
            notices.send_receipt(config, receipt)
        except Exception:
            store.unclaim(**receipt_key, attribute="email_sent_at")  # a later pass sends it
            raise


def sweep(store: Store, queue_url: str, *, sqs: Any = None, page_size: int = SWEEP_PAGE_SIZE) -> dict[str, int]:
    """Queue one end-grant message per stored grant (SendMessageBatch, 10 per call); ends nothing itself.

    Queuing a grant twice (a retried sweep) is harmless: the second message finds it gone or its receipt done.
    Raises when some messages could not be queued, so the scheduler's retry runs the sweep again.
    """
    sqs = sqs or aws.client("sqs")
    queued = unqueued = batches = 0
    for chunk in _chunks(store.grants(page_size=page_size, fields=("relay_id", "network")), SQS_BATCH):
        batches += 1
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"relay_id": g["relay_id"], "network": g["network"]})}
            for i, g in enumerate(chunk)
        ]
        for _ in range(3):  # entries SQS refused (throttling, internal errors) are sent again
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            queued += len(answer.get("Successful", []))
            failed = {f["Id"] for f in answer.get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        unqueued += len(entries)
    result = {"queued": queued, "batches": batches, "unqueued": unqueued}
    metrics.add_metric(name="GrantsQueued", unit="Count", value=queued)
    logger.info("sweep queued the grants", extra=result)
    if unqueued:
        raise RuntimeError(f"{unqueued} grant(s) could not be queued; the sweep runs again")
    return result


def end_queued(
    store: Store, settings: Settings, config: EventConfig, x: XNetwork, message: dict[str, Any], receive_count: int
) -> str:
    """One end-grant message: end the grant if it is still stored ("already" when it is gone).

    At `RECEIVE_BUDGET` receives the provider has had its chances: end it unconfirmed rather than retry.
    """
    grant = store.grant(message["relay_id"], message["network"])
    if grant is None:
        return "already"
    return end_grant(store, settings, config, x, grant, SWEEP_REASON, give_up=receive_count >= RECEIVE_BUDGET)


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
