"""A relay's credentials: tokens sealed under their grant id, the client for a grant, a fresh access token.

Every token relaycast receives is in custody (`CUSTODY#<grant id>`) from the moment it arrives until the end
of that grant proves it dead. A refresh has one writer per grant (a lock in the custody item); the tokens it
returns are stored before anything else can fail, and the ones they replace are kept as retired.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from relaycast import clock, crypto
from relaycast.config import EventConfig
from relaycast.networks import TokenRejected, Tokens, Transient
from relaycast.networks.base import token_alone
from relaycast.networks.factory import client_for
from relaycast.observability import logger
from relaycast.settings import Settings
from relaycast.storage import Store

REFRESH_MARGIN = 120  # seconds before expiry when a token is refreshed first
REFRESH_LOCK_SECONDS = 30  # longer than a token endpoint's answer takes (the client's timeouts are 13 s)


def new_grant_id() -> str:
    return f"g-{secrets.token_hex(12)}"


def client_for_grant(settings: Settings, store: Store, grant: dict[str, Any], x: Any = None) -> Any:
    """The client that speaks for a grant: X's (shared by the function when given), the relay's instance's, or
    Bluesky's (each grant's servers travel with its tokens)."""
    if grant["network"] == "x" and x is not None:
        return x
    return client_for(settings, store, grant["network"], instance=grant.get("instance"))


def _context(config: EventConfig, grant_id: str, network: str) -> dict[str, str]:
    # Bound to the grant: a sealed blob copied to another grant's item would not decrypt.
    return {"event_slug": config.slug, "relay_id": f"grant:{grant_id}", "network": network}


def take_into_custody(store: Store, settings: Settings, config: EventConfig, tokens: Tokens, *, network: str,
                      relay_id: str = "", instance: str | None = None) -> str:
    """Record tokens just received from a network under a new grant id; returns the id."""
    grant_id = new_grant_id()
    store.put_custody({
        "grant_id": grant_id,
        "relay_id": relay_id,
        "network": network,
        **({"instance": instance} if instance else {}),
        "tokens": _sealed(settings, config, grant_id, network, tokens.as_dict(), []),
        "token_expires_at": tokens.expires_at,
        "received_at": clock.now().isoformat(),
        # Until a grant adopts them, the tokens have a TTL of their own: the backstop ends them if all else failed.
        "expires_at": int(config.access_ends.timestamp()) + 86400,
    })
    return grant_id


def _sealed(settings: Settings, config: EventConfig, grant_id: str, network: str, current: dict[str, Any],
            retired: list[dict[str, str]]) -> bytes:
    # One blob for the current tokens and the retired ones: a publish decrypts once, a refresh encrypts once.
    return crypto.seal({"current": current, "retired": retired}, key_id=settings.token_key_id,
                       **_context(config, grant_id, network))


def held_tokens(config: EventConfig, custody: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The custody's current tokens and every retired one ({"token", "hint"}), unsealed."""
    held = crypto.unseal(custody["tokens"], **_context(config, custody["grant_id"], custody["network"]))
    return held["current"], held["retired"]


def fingerprints(config: EventConfig, custody: dict[str, Any]) -> list[str]:
    """Short digests of every token held (current and retired): what a receipt names as verified, so the claim
    can be checked against the network's records without keeping anything that would authenticate."""
    return fingerprints_of(*held_tokens(config, custody))


def fingerprints_of(current: dict[str, Any], retired: list[dict[str, str]]) -> list[str]:
    tokens = [current[hint] for hint in ("refresh_token", "access_token") if current.get(hint)] + [t["token"] for t in retired]
    return [fingerprint(token) for token in tokens]


def fingerprint(token: str) -> str:
    # A token bound to its proof key (Bluesky's DPoP) is named by the token alone: what the network issued.
    return "sha256:" + hashlib.sha256(token_alone(token).encode()).hexdigest()[:16]


def keep_retired(store: Store, settings: Settings, config: EventConfig, custody: dict[str, Any], fresh: Tokens) -> None:
    """Add tokens a network handed over during an end (a revoked refresh token it still honoured) to the custody's
    retired ones, so the end's next pass revokes and verifies them too."""
    current, retired = held_tokens(config, custody)
    retired += [{"token": getattr(fresh, hint), "hint": hint} for hint in ("refresh_token", "access_token") if getattr(fresh, hint)]
    store.rotate_tokens(custody["grant_id"], _sealed(settings, config, custody["grant_id"], custody["network"], current, retired),
                        int(custody.get("token_expires_at", 0)))


def access_token(store: Store, settings: Settings, config: EventConfig, client: Any, grant: dict[str, Any]) -> str:
    """The relay's access token, refreshed by one writer when it is about to expire.

    An `invalid_grant` is re-read against the stored custody before it is called a revocation: another job may
    have rotated the tokens in the meantime.
    """
    grant_id = grant["grant_id"]
    custody = store.custody(grant_id)
    if custody is None:
        raise TokenRejected("no token is held for this grant any more")
    tokens, retired = held_tokens(config, custody)
    seen = int(custody.get("token_expires_at", 0))
    if seen - REFRESH_MARGIN > clock.epoch():
        return tokens["access_token"]
    if not tokens.get("refresh_token"):
        raise TokenRejected("access token expired and no refresh token was granted")
    if not store.lock_refresh(grant_id, seen, REFRESH_LOCK_SECONDS):
        return _refreshed_by_another(store, config, grant_id, seen)
    try:
        fresh: Tokens = client.refresh(tokens["refresh_token"])
    except TokenRejected:
        store.unlock_refresh(grant_id)
        return _refreshed_by_another(store, config, grant_id, seen, rejected=True)
    except BaseException:
        store.unlock_refresh(grant_id)
        raise
    kept = fresh.as_dict()
    # A provider may answer a refresh without a new refresh token (RFC 6749 §6): the old one stays valid.
    kept["refresh_token"] = kept["refresh_token"] or tokens["refresh_token"]
    superseded = [{"token": tokens["access_token"], "hint": "access_token"}]
    if kept["refresh_token"] != tokens["refresh_token"]:
        superseded.append({"token": tokens["refresh_token"], "hint": "refresh_token"})
    try:
        stored = store.rotate_tokens(grant_id, _sealed(settings, config, grant_id, grant["network"], kept, [*retired, *superseded]),
                                     fresh.expires_at)
    except Exception:
        _drop(client, kept)
        raise
    if not stored:  # the grant ended while the network answered: these tokens must not outlive it
        _drop(client, kept)
        raise TokenRejected("the grant ended during the refresh")
    return fresh.access_token


def _refreshed_by_another(store: Store, config: EventConfig, grant_id: str, seen: int, rejected: bool = False) -> str:
    """Another writer holds the lock, or the network refused our refresh token: use what the custody holds now
    when it is newer; otherwise wait for the other writer, or (refused, nothing newer) it is a revocation."""
    custody = store.custody(grant_id)
    if custody and int(custody.get("token_expires_at", 0)) != seen:
        tokens, _ = held_tokens(config, custody)
        return tokens["access_token"]
    if rejected:
        raise TokenRejected("the network refused the refresh token")
    raise Transient("another job is refreshing this relay's token")


def _drop(client: Any, tokens: dict[str, Any]) -> None:
    """Revoke tokens that could not be stored (best effort): a token relaycast cannot keep must not stay live."""
    for hint in ("refresh_token", "access_token"):
        if tokens.get(hint):
            try:
                client.revoke(tokens[hint], hint)
            except Exception:  # noqa: BLE001 — nothing more can be done with a token that is not stored
                logger.error("a token that could not be stored could not be revoked either", extra={"hint": hint})
