"""End a grant: revoke upstream, verify, delete every token, keep a receipt, send it.

One code path for the end-of-event sweep, the TTL stream backstop and (later) "revoke now". The receipt
is written first as a claim, so the sweep and the TTL path revoke a grant once and send one receipt.
"""

from __future__ import annotations

from typing import Any

from relaycast import clock, crypto, notices
from relaycast.config import EventConfig
from relaycast.networks import NetworkError, Transient
from relaycast.networks.x import XNetwork
from relaycast.observability import logger, metrics
from relaycast.rounds import retention_epoch
from relaycast.settings import Settings
from relaycast.storage import Store, grant_sk, ledger_sk, receipt_sk, relay_pk

X_SETTINGS_URL = "https://x.com/settings/connected_apps"


def _revoke_and_verify(x: XNetwork, tokens: dict[str, Any]) -> dict[str, str]:
    """Revoke refresh then access token; then prove the access token is refused."""
    if tokens.get("refresh_token"):
        x.revoke(tokens["refresh_token"], "refresh_token")
    x.revoke(tokens["access_token"], "access_token")
    if x.token_works(tokens["access_token"]):
        raise Transient("X still accepts the access token after revocation")
    return {"x": "access token refused by X after revocation"}


def end_grant(
    store: Store, settings: Settings, config: EventConfig, x: XNetwork, grant: dict[str, Any], reason: str
) -> str:
    """Returns "ended", or "already" when another path ended this grant. Raises Transient to retry."""
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
            "expires_at": retention_epoch(config),
            **({"email": grant["email"]} if grant.get("email") else {}),
        }
    )
    if claim == "done":
        _send_receipt_once(store, config, receipt_key)  # in case the path that ended it stopped before
        return "already"
    if claim == "busy":  # the sweep and the TTL stream met on one grant: the other finishes, this retries
        raise Transient("another path is ending this grant")

    tokens = crypto.unseal(grant["tokens"], event_slug=config.slug, relay_id=relay_id, network=network)
    try:
        verification = _revoke_and_verify(x, tokens)
        confirmed = True
    except Transient:
        metrics.add_metric(name="RevocationFailed", unit="Count", value=1)
        store.release_claim(**receipt_key)  # the next pass may take over at once
        raise
    except NetworkError as error:
        verification = {network: f"could not confirm ({error}); revoke by hand at {X_SETTINGS_URL}"}
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


def _send_receipt_once(store: Store, config: EventConfig, receipt_key: dict[str, str]) -> None:
    receipt = store.get(**receipt_key) or {}
    if receipt.get("email") and store.claim_once(**receipt_key, attribute="email_sent_at"):
        try:
            notices.send_receipt(config, receipt)
        except Exception:
            store.unclaim(**receipt_key, attribute="email_sent_at")  # a later pass sends it
            raise


def sweep(store: Store, settings: Settings, config: EventConfig, x: XNetwork) -> dict[str, int]:
    """End every grant still stored; a grant that fails stays for the next pass and is counted."""
    ended = already = failed = 0
    for grant in list(store.grants()):
        try:
            outcome = end_grant(store, settings, config, x, grant, "the event ended")
        except Transient:
            failed += 1
            continue
        ended += outcome == "ended"
        already += outcome == "already"
    return {"ended": ended, "already": already, "failed": failed}
