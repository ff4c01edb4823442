"""A relay's side: connect (code + PKCE), the signed dashboard link, approvals that enqueue a job."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from relaycast import aws, clock, crypto
from relaycast.config import EventConfig
from relaycast.networks import NetworkError
from relaycast.networks.x import XNetwork
from relaycast.rounds import retention_epoch
from relaycast.settings import Settings
from relaycast.storage import Store, without_none

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
POST_ID = re.compile(r"^[0-9]{1,25}$")
STATE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CODE = re.compile(r"^[A-Za-z0-9._~-]{1,512}$")


class RelayError(Exception):
    """A request a relay's browser sent that cannot be honoured; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Connected:
    relay_id: str
    username: str
    dashboard_token: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret().signing_key, salt="relay-dashboard")


def dashboard_token(settings: Settings, relay_id: str) -> str:
    return _serializer(settings).dumps({"relay": relay_id})


def relay_from_token(settings: Settings, config: EventConfig, token: str) -> str:
    """The relay a signed link speaks for; it expires with the receipts' retention."""
    max_age = int(retention_epoch(config) - config.start_utc.timestamp())
    try:
        data = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired:
        raise RelayError("This link has expired.", 403) from None
    except BadSignature:
        raise RelayError("This link is not valid.", 403) from None
    return data["relay"]


def preferred_language(config: EventConfig, asked: str | None, accept_language: str | None) -> str:
    """The relay's language among the event's: an explicit choice, else the browser's order, else the first."""
    if asked in config.languages:
        return asked
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in config.languages:
            return tag
    return config.languages[0]


def start_connect(
    store: Store, x: XNetwork, *, network: str, email: str | None, redirect_uri: str, lang: str = "en"
) -> str:
    """Store a fresh state + PKCE verifier (10 minutes, single use) and return the network's consent URL."""
    if network != "x":
        raise RelayError(f"Unknown network '{network[:20]}'.", 404)
    email = (email or "").strip() or None
    if email and not EMAIL.match(email):
        raise RelayError("This e-mail address does not look valid.", 400)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128
    store.put_state(state, without_none({"network": network, "verifier": verifier, "email": email, "lang": lang}))
    return x.authorization_url(redirect_uri=redirect_uri, state=state, code_verifier=verifier)


def finish_connect(
    store: Store, settings: Settings, config: EventConfig, x: XNetwork, *, network: str, params: dict[str, str], redirect_uri: str
) -> Connected:
    """The callback: validate, consume the state, exchange the code, store the grant encrypted."""
    if network != "x":
        raise RelayError("Unknown network.", 404)
    if len(json.dumps(params)) > 4096:
        raise RelayError("The request is too large.", 413)
    state = params.get("state", "")
    if not STATE.match(state):
        raise RelayError("The connection request is missing or malformed. Please start again.", 400)
    if "error" in params:
        store.take_state(state)  # the attempt is over either way
        raise RelayError("You declined the connection: nothing was stored.", 403)
    code = params.get("code", "")
    if not CODE.match(code):
        raise RelayError("The connection answer is malformed. Please start again.", 400)
    pending = store.take_state(state)
    if pending is None:
        raise RelayError("This connection request is unknown, expired or already used. Please start again.", 400)
    if pending["network"] != network:
        raise RelayError("This answer belongs to another network. Please start again.", 400)
    try:
        tokens = x.exchange_code(redirect_uri=redirect_uri, code=code, code_verifier=pending["verifier"])
        identity = x.identity(tokens.access_token)
    except NetworkError as error:
        raise RelayError(f"X refused the connection ({error}). Please start again.", 502) from None
    missing = {"tweet.write", "users.read"} - set(tokens.scope.split())
    if missing:
        x.revoke(tokens.access_token, "access_token")
        raise RelayError(f"The permission {', '.join(sorted(missing))} was not granted: nothing was stored.", 403)
    relay_id = f"{network}-{identity.user_id}"
    blob = crypto.seal(
        tokens.as_dict(), key_id=settings.token_key_id, event_slug=config.slug, relay_id=relay_id, network=network
    )
    store.save_grant(
        without_none(
            {
                "relay_id": relay_id,
                "network": network,
                "user_id": identity.user_id,
                "username": identity.username,
                "email": pending.get("email"),
                "lang": pending.get("lang", config.languages[0]),
                "tokens": blob,
                "token_expires_at": tokens.expires_at,
                "scopes": tokens.scope,
                "mode": x.mode,
                "cap": config.cap_per_relay,
                "status": "active",
                "connected_at": clock.now().isoformat(),
                "expires_at": int(config.access_ends.timestamp()),
            }
        )
    )
    return Connected(relay_id=relay_id, username=identity.username, dashboard_token=dashboard_token(settings, relay_id))


def dashboard(store: Store, relay_id: str) -> dict[str, Any]:
    items = store.relay_items(relay_id)
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_prefix.setdefault(item["sk"].split("#", 1)[0], []).append(item)
    grant = next(iter(by_prefix.get("GRANT", [])), None)
    if grant:
        grant = {k: v for k, v in grant.items() if k != "tokens"}
    proposals = sorted(by_prefix.get("PROPOSAL", []), key=lambda p: p.get("proposed_at", ""), reverse=True)
    ledger = sorted(by_prefix.get("LEDGER", []), key=lambda p: p.get("finished_at", ""), reverse=True)
    receipt = next(iter(by_prefix.get("RECEIPT", [])), None)
    if grant is None and receipt is None and not ledger:
        raise RelayError("There is nothing here for this link.", 404)
    now = clock.epoch()
    for p in proposals:
        if p["status"] == "pending" and int(p.get("proposal_expires_at", 0)) <= now:
            p["status"] = "expired"
    published = {p["post_id"]: p for p in ledger}
    return {"grant": grant, "proposals": proposals, "ledger": ledger, "published": published, "receipt": receipt}


def revoke_now(store: Store, settings: Settings, config: EventConfig, x: XNetwork, relay_id: str) -> str:
    """The relay ends access before the event does: the same path as the end of the event, with a receipt."""
    from relaycast.expire import end_grant

    grant = store.grant(relay_id, "x")
    if grant is None:
        return "already"
    try:
        return end_grant(store, settings, config, x, grant, "you revoked access from your dashboard")
    except NetworkError:
        raise RelayError("X could not be reached to revoke access. Please try again in a minute.", 503) from None


def decide(store: Store, settings: Settings, *, relay_id: str, action: str, post_id: str) -> str:
    """Approve (enqueue one publish job) or skip a pending proposal; a repeat is harmless."""
    if action not in ("approve", "skip"):
        raise RelayError("Unknown action.", 404)
    if not POST_ID.match(post_id):
        raise RelayError("Unknown post.", 400)
    network = "x"
    status = "approved" if action == "approve" else "skipped"
    if not store.decide_proposal(relay_id, network, post_id, status):
        proposal = store.get(f"RELAY#{relay_id}", f"PROPOSAL#{network}#{post_id}")
        if proposal is None:
            raise RelayError("Unknown post.", 404)
        if proposal["status"] == status:
            return status  # a double click
        raise RelayError(f"This proposal is no longer open ({proposal['status']}).", 409)
    if status == "approved":
        job = {"relay_id": relay_id, "network": network, "post_id": post_id}
        try:
            aws.client("sqs").send_message(QueueUrl=settings.publish_queue_url, MessageBody=json.dumps(job))
        except Exception:
            store.reopen_proposal(relay_id, network, post_id)  # nothing lost: the relay can approve again
            raise
    return status
