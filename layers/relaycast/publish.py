"""Publish one relay-post: reserve under the cap, repost with the relay's token, record the outcome.

Each relay-post ends as published, skipped with a reason, or (after the queue's retries) dead-lettered.
The reservation is one transaction with the ledger record, so the cap cannot be passed and a post is
never published twice for one relay, whatever SQS redelivers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaycast import clock, crypto, expire
from relaycast.config import EventConfig
from relaycast.networks import NetworkError, TokenRejected, Tokens, Transient
from relaycast.networks.x import XNetwork
from relaycast.observability import logger
from relaycast.rounds import retention_epoch
from relaycast.settings import Settings
from relaycast.storage import Store

REFRESH_MARGIN = 120  # seconds before expiry when a token is refreshed first


class PublishJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relay_id: str = Field(pattern=r"^[a-z]+-[0-9A-Za-z_-]{1,64}$")
    network: str = Field(pattern=r"^x$")
    post_id: str = Field(pattern=r"^[0-9]{1,25}$")


def access_token(store: Store, settings: Settings, config: EventConfig, client: Any, grant: dict[str, Any]) -> str:
    """The relay's access token, refreshed (and re-sealed) when it is about to expire."""
    context = {"event_slug": config.slug, "relay_id": grant["relay_id"], "network": grant["network"]}
    tokens = crypto.unseal(grant["tokens"], **context)
    if int(grant.get("token_expires_at", 0)) - REFRESH_MARGIN > clock.epoch():
        return tokens["access_token"]
    if not tokens.get("refresh_token"):
        raise TokenRejected("access token expired and no refresh token was granted")
    fresh: Tokens = client.refresh(tokens["refresh_token"])
    kept = fresh.as_dict()
    # A provider may answer a refresh without a new refresh token (RFC 6749 §6): the old one stays valid.
    kept["refresh_token"] = kept["refresh_token"] or tokens["refresh_token"]
    blob = crypto.seal(kept, key_id=settings.token_key_id, **context)
    store.update_tokens(grant["relay_id"], grant["network"], blob, fresh.expires_at)
    return fresh.access_token


def publish(store: Store, settings: Settings, config: EventConfig, x: XNetwork, job: PublishJob) -> str:
    """Returns the relay-post's outcome: published, duplicate, or skipped:<reason>. Raises Transient to retry."""
    grant = store.grant(job.relay_id, job.network)
    keep_until = retention_epoch(config)
    if grant is None:
        store.record_skip(job.relay_id, job.network, job.post_id, "access has ended", keep_until)
        return "skipped:access ended"
    cap = int(grant.get("cap", config.cap_per_relay))
    reservation = store.reserve_publish(job.relay_id, job.network, job.post_id, cap)
    if reservation == "done":
        return "duplicate"
    if reservation in ("cap", "inactive"):
        reason = f"cap of {cap} reached" if reservation == "cap" else f"grant is {grant.get('status')}"
        store.record_skip(job.relay_id, job.network, job.post_id, reason, keep_until)
        return f"skipped:{reason}"

    try:
        token = access_token(store, settings, config, x, grant)
        # A resumed reservation may already have reached X before a crash: X keeps one repost per
        # account and post, so repeating the call is the state check and cannot double the repost.
        x.repost(token, grant["user_id"], job.post_id)
    except TokenRejected:
        # Revoked elsewhere (the relay removed the app at X): the same end as any other, with its receipt.
        store.release_publish(job.relay_id, job.network, job.post_id, "access was revoked at X")
        logger.warning("grant rejected by the network", extra={"relay_id": job.relay_id, "network": job.network})
        expire.end_grant(store, settings, config, x, grant, "access was revoked at X")
        return "skipped:access revoked"
    except Transient:
        raise  # the reservation stays: the retry resumes it
    except NetworkError as error:
        store.release_publish(job.relay_id, job.network, job.post_id, f"refused by X: {error}"[:200])
        return "skipped:refused"
    store.finish_ledger(
        job.relay_id,
        job.network,
        job.post_id,
        status="published",
        link=f"https://x.com/i/status/{job.post_id}",
        published_at=clock.now().isoformat(),
        expires_at=keep_until,
    )
    return "published"
