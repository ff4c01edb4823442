"""A relay's side: connect (code + PKCE), the signed dashboard link, and what the relay does there."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from relaycast import aws, capacity, clock, credentials, crypto, expire, limits, notices, pages
from relaycast.config import EventConfig
from relaycast.errors import (
    CapacityReached,
    Conflict,
    Expired,
    Forbidden,
    InvalidRequest,
    NotFound,
    RelayError,
    TooLarge,
    RateLimited,
    Unavailable,
    UpstreamFailed,
)
from relaycast.networks import NETWORK_NAMES, NetworkError, Transient
from relaycast.networks.factory import bluesky_grants, client_for
from relaycast.observability import logger
from relaycast.quiet import is_zone, jitter, relay_zone, window, zone_choices
from relaycast.settings import Settings
from relaycast.storage import GrantConflict, NoSeat, Store, without_none

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
POST_ID = re.compile(r"^[0-9]{1,25}$")
STATE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CODE = re.compile(r"^[A-Za-z0-9._~-]{1,512}$")
# X and Mastodon account ids are decimal numbers, Bluesky's are DIDs; anything else a network (or an instance)
# reports is refused.
ACCOUNT_ID = re.compile(r"^[0-9]{1,25}$")
ACCOUNT_IDS = {"bluesky": re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-z0-9.-]{1,253})$"),
               "linkedin": re.compile(r"^[A-Za-z0-9_-]{1,64}$")}  # OpenID Connect's `sub`
BINDING = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CONFIRMATION = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# How long a relay has to confirm linking an account to their dashboard; its tokens end a little after.
CONFIRM_SECONDS = 900
CONFIRM_GRACE_SECONDS = 300
# What each network must grant for relaycast to work; less is refused and revoked at once.
# (Bluesky's repost permission is checked by its adapter: a granular scope, or the older transition:generic.)
REQUIRED_SCOPES = {"x": {"tweet.write", "users.read"}, "mastodon": {"write:statuses", "read:accounts", "read:statuses"},
                   "bluesky": {"atproto"}, "linkedin": {"openid", "w_member_social"}}


@dataclass(frozen=True)
class Connected:
    relay_id: str
    username: str
    dashboard_token: str


@dataclass(frozen=True)
class ToConfirm:
    """A network account about to join an existing dashboard: nothing is linked until the relay confirms it."""

    confirmation_id: str
    network: str
    label: str  # the network's name
    username: str


@dataclass(frozen=True)
class Started:
    url: str
    binding: str  # goes to the browser as a cookie: the callback must come back to the same browser


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret().signing_key, salt=salt)


def _link_max_age(config: EventConfig) -> int:
    return int(config.retention_ends - config.start_utc.timestamp())


class LinkReplaced(Expired):
    """A dashboard link of the relay's, signed for a generation they have since replaced; `token` is that link's,
    with which the relay may still ask for their current link by e-mail."""

    def __init__(self, token: str):
        super().__init__("This dashboard link was replaced by a newer one and no longer opens the dashboard.")
        self.token = token


def dashboard_token(store: Store, settings: Settings, relay_id: str) -> str:
    """The relay's dashboard link, signed for their current link generation."""
    return _serializer(settings, "relay-dashboard").dumps({"relay": relay_id, "gen": store.link_generation(relay_id)})


def _signed(settings: Settings, config: EventConfig, salt: str, token: str) -> dict[str, Any]:
    if len(token) > 512:
        raise Forbidden("This link is not valid.")
    try:
        return _serializer(settings, salt).loads(token, max_age=_link_max_age(config))
    except SignatureExpired:
        raise Forbidden("This link has expired.") from None
    except BadSignature:
        raise Forbidden("This link is not valid.") from None


def dashboard_url(store: Store, settings: Settings, relay_id: str, base_url: str) -> str:
    return f"{base_url}/relay?t={dashboard_token(store, settings, relay_id)}"


def callback_url(base_url: str, network: str) -> str:
    """Where a network sends the relay back with its answer (the redirect URI registered with it)."""
    return f"{base_url}/callback/{network}"


def _link_claims(settings: Settings, config: EventConfig, token: str) -> tuple[str, int]:
    data = _signed(settings, config, "relay-dashboard", token)
    relay_id, generation = data.get("relay"), data.get("gen")
    if not isinstance(relay_id, str) or not isinstance(generation, int) or isinstance(generation, bool):
        raise Forbidden("This link is not valid.")
    return relay_id, generation


def relay_from_token(store: Store, settings: Settings, config: EventConfig, token: str) -> str:
    """The relay a signed link speaks for, while it is of the relay's current link generation; it expires with
    the receipts' retention."""
    relay_id, generation = _link_claims(settings, config, token)
    if generation != store.link_generation(relay_id):
        raise LinkReplaced(token)
    return relay_id


def new_dashboard_link(store: Store, settings: Settings, config: EventConfig, relay_id: str, base_url: str) -> str:
    """"Send me a new link": every older link of the relay stops opening the dashboard; the new one is returned
    and mailed to the relay's confirmed address, if they have one (refused while that address's mail budget is spent)."""
    email = _confirmed_address(store, relay_id)
    if email:
        limits.take_mail(store, relay_id, email, "link")
    store.next_link_generation(relay_id, config.retention_ends)
    token = dashboard_token(store, settings, relay_id)
    _mail_link(store, settings, config, relay_id, f"{base_url}/relay?t={token}", renewed=True)
    return token


def resend_dashboard_link(store: Store, settings: Settings, config: EventConfig, token: str, base_url: str) -> None:
    """A replaced link asks for the current one: it goes to the relay's confirmed address only (never to the page
    that asks), once per generation."""
    relay_id, _ = _link_claims(settings, config, token)
    generation = store.link_generation(relay_id)
    # No budget of its own: once per generation, and new generations are counted (`new_dashboard_link`).
    if not store.claim_link_resend(relay_id, generation, config.retention_ends):
        return
    _mail_link(store, settings, config, relay_id, dashboard_url(store, settings, relay_id, base_url), renewed=True)


def _confirmed_address(store: Store, relay_id: str) -> str | None:
    return next((g["email"] for g in store.relay_items(relay_id, "GRANT#") if g.get("email")), None)


def _mail_link(store: Store, settings: Settings, config: EventConfig, relay_id: str, link: str, *, renewed: bool) -> bool:
    grants = store.relay_items(relay_id, "GRANT#")
    email = next((g["email"] for g in grants if g.get("email")), None)
    if not email:
        return False
    lang = next((g["lang"] for g in grants if g.get("lang")), config.languages[0])
    try:
        notices.send_dashboard_link(config, lang=lang, email=email, link=link, renewed=renewed)
    except Exception:  # noqa: BLE001 — the relay can ask again; the page says where the link went
        logger.exception("dashboard link not mailed", extra={"relay_id": relay_id})
        return False
    return True


def preferred_language(config: EventConfig, *asked: str | None, accept_language: str | None = None) -> str:
    """The relay's language among the event's: the first explicit choice, else the browser's order, else the first."""
    for choice in asked:
        if choice in config.languages:
            return choice
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in config.languages:
            return tag
    return config.languages[0]


def _checked_network(config: EventConfig, network: str) -> str:
    if network not in NETWORK_NAMES:
        raise NotFound("Unknown network '%(network)s'.", network=network[:20])
    if network not in config.networks:
        raise NotFound("This network is not offered for this event.")
    return network


FULL = "%(network)s takes no more relays for this event: every place it can serve is taken. Nothing was stored."


def full_networks(store: Store, config: EventConfig) -> set[str]:
    """The event's networks whose every seat is taken (the page says so instead of offering to connect)."""
    found = set()
    for network in config.networks:
        seats = capacity.seats(config, network)
        if seats is not None and store.seats_taken(network) >= seats:
            found.add(network)
    return found


def room(store: Store, config: EventConfig, network: str, relay_id: str | None = None) -> int | None:
    """The network's seats (None: unbounded), refused when every one is taken, unless the relay holds one already."""
    seats = capacity.seats(config, network)
    if seats is not None and store.seats_taken(network) >= seats and not (relay_id and store.grant(relay_id, network)):
        raise CapacityReached(FULL, network=NETWORK_NAMES[network])
    return seats


def _checked_email(email: str | None) -> str | None:
    email = (email or "").strip() or None
    if email and not EMAIL.match(email):
        raise InvalidRequest("This e-mail address does not look valid.")
    return email


def _checked_timezone(value: str | None) -> str | None:
    """The relay's own time zone for their quiet hours; empty means the event's."""
    name = (value or "").strip()
    if name and (len(name) > 64 or not is_zone(name)):
        raise InvalidRequest("This time zone is not known: choose one from the list.")
    return name or None


def _binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def start_connect(
    store: Store,
    settings: Settings,
    config: EventConfig,
    *,
    network: str,
    form: dict[str, str],
    redirect_uri: str,
    lang: str,
    relay_id: str | None = None,
) -> Started:
    """Store a fresh state + PKCE verifier (10 minutes, single use) and return the network's consent URL; refused
    when the network takes no more relays (no consent can lead anywhere)."""
    _checked_network(config, network)
    room(store, config, network, relay_id)
    email = _checked_email(form.get("email"))
    timezone = _checked_timezone(form.get("timezone"))
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128
    instance = request = server = None
    if network == "mastodon":
        from relaycast.netguard import InstanceRejected, parse_instance

        try:
            instance = parse_instance(form.get("instance", ""))
            client = client_for(settings, store, network, instance=instance, redirect_uri=redirect_uri)
        except InstanceRejected as error:  # a name that does not resolve may be a passing DNS failure
            raise (Unavailable if error.retryable else InvalidRequest)(str(error)) from None
        except NetworkError:
            raise UpstreamFailed("%(network)s could not be reached. Please try again in a minute.", network=instance) from None
        url = client.authorization_url(redirect_uri=redirect_uri, state=state, code_verifier=verifier)
    elif network == "bluesky":
        url, request, server = _begin_bluesky(settings, config, form.get("handle", ""), redirect_uri, state, verifier)
    else:
        client = client_for(settings, store, network)
        url = client.authorization_url(redirect_uri=redirect_uri, state=state, code_verifier=verifier)
    store.put_state(
        state,
        without_none(
            {
                "network": network,
                "verifier": verifier,
                "email": email,
                "lang": lang,
                "timezone": timezone,
                "instance": instance,
                "request": request,
                "server": server,
                "relay_id": relay_id,
                "binding": _binding_hash(binding),
            }
        ),
    )
    return Started(url, binding)


def _pending_context(config: EventConfig, state: str) -> dict[str, str]:
    # Bound to its state: a sealed request copied to another state's item would not decrypt.
    return {"event_slug": config.slug, "relay_id": f"state:{state}", "network": "bluesky"}


def _begin_bluesky(settings: Settings, config: EventConfig, handle: str, redirect_uri: str, state: str,
                   verifier: str) -> tuple[str, bytes, str]:
    """Resolve and verify the relay's handle, push the authorization request; the request (with its new DPoP key)
    waits sealed in the state for the callback."""
    from dataclasses import asdict

    from relaycast.networks.bluesky import IdentityRejected

    try:
        pending = bluesky_grants(settings).begin(handle, redirect_uri=redirect_uri, state=state, code_verifier=verifier)
    except IdentityRejected as error:
        logger.info("Bluesky handle refused", extra={"detail": error.detail[:200]})
        raise InvalidRequest(error.message) from None
    except Transient:
        raise Unavailable("%(network)s could not be reached. Please try again in a minute.", network="Bluesky") from None
    except NetworkError as error:
        logger.info("Bluesky refused the authorization request", extra={"error": str(error)[:200]})
        raise UpstreamFailed("%(network)s refused the connection: nothing was stored. Please start again.", network="Bluesky") from None
    sealed = crypto.seal(asdict(pending), key_id=settings.token_key_id, **_pending_context(config, state))
    return pending.url, sealed, pending.issuer


def _exchange(settings: Settings, config: EventConfig, client: Any, pending: dict[str, Any], params: dict[str, str],
              redirect_uri: str) -> Any:
    """The network's answer for the code; Bluesky's is validated whole (`state`, `iss`) with the sealed request."""
    if "request" not in pending:
        return client.exchange_code(redirect_uri=redirect_uri, code=params["code"], code_verifier=pending["verifier"])
    from urllib.parse import urlencode

    from relaycast.networks.bluesky import IdentityRejected, Pending

    request = Pending(**crypto.unseal(pending["request"], **_pending_context(config, params["state"])))
    try:
        return client.exchange(request, f"{redirect_uri}?{urlencode(params)}")
    except IdentityRejected as error:
        logger.info("Bluesky answer refused", extra={"detail": error.detail[:200]})
        raise InvalidRequest(error.message) from None


def finish_connect(
    store: Store,
    settings: Settings,
    config: EventConfig,
    *,
    network: str,
    params: dict[str, str],
    redirect_uri: str,
    binding: str | None,
    base_url: str,
) -> Connected | ToConfirm:
    """The callback: validate, consume the state, exchange the code, store the grant encrypted (or, for an account
    joining an existing dashboard, hold it for the relay's confirmation).

    Every refusal happens before anything is written; a consumed state is the only trace of a failed try.
    """
    _checked_network(config, network)
    if len(json.dumps(params)) > 4096:
        raise TooLarge("The request is too large.")
    state = params.get("state", "")
    if not STATE.match(state):
        raise InvalidRequest("The connection request is missing or malformed. Please start again.")
    pending = store.get(f"STATE#{state}", "STATE")
    if pending is None or int(pending["expires_at"]) <= clock.epoch():
        raise InvalidRequest("This connection request is unknown, expired or already used. Please start again.")
    # Checked before the state is consumed: a callback pasted into another browser cannot burn the relay's.
    if not (binding and BINDING.match(binding) and secrets.compare_digest(_binding_hash(binding), pending["binding"])):
        raise InvalidRequest("This connection was started in another browser. Please start again here.")
    if pending["network"] != network:
        raise InvalidRequest("This answer belongs to another network. Please start again.")
    if "error" in params:  # the state stays until it expires: the relay may go back and allow after all
        raise Forbidden("You declined the connection: nothing was stored.")
    code = params.get("code", "")
    if not CODE.match(code):
        raise InvalidRequest("The connection answer is malformed. Please start again.")
    if store.take_state(state) is None:  # single use: a concurrent replay loses here
        raise InvalidRequest("This connection request is unknown, expired or already used. Please start again.")

    instance = pending.get("instance")
    label = instance or NETWORK_NAMES[network]
    try:
        client = client_for(settings, store, network, instance=instance)
        tokens = _exchange(settings, config, client, pending, params, redirect_uri)
    except Transient:
        raise Unavailable("%(network)s could not be reached. Please try again in a minute.", network=label) from None
    except NetworkError:  # a forged or mismatched code, a wrong verifier: the answer itself is bad
        raise InvalidRequest("%(network)s refused the connection: nothing was stored. Please start again.", network=label) from None
    # From here relaycast holds tokens: they are in custody first, and any refusal below ends them.
    grant_id = credentials.take_into_custody(store, settings, config, tokens, network=network, instance=instance,
                                             relay_id=pending.get("relay_id", ""))
    try:
        saved = _save_connection(store, config, client, tokens, pending, network, grant_id, label)
    except (RelayError, NetworkError) as error:
        _discard(store, settings, config, client, grant_id, "the connection did not complete")
        if isinstance(error, RelayError):
            raise
        if isinstance(error, Transient):
            raise Unavailable("%(network)s could not be reached. Please try again in a minute.", network=label) from None
        raise InvalidRequest("%(network)s refused the connection: nothing was stored. Please start again.", network=label) from None
    if isinstance(saved, ToConfirm):
        return saved
    relay_id, username, replaced = saved
    return _connected(store, settings, config, client, relay_id, username, replaced, pending.get("email"),
                      pending.get("lang", config.languages[0]), base_url)


def _connected(store: Store, settings: Settings, config: EventConfig, client: Any, relay_id: str, username: str,
               replaced: str | None, email: str | None, lang: str, base_url: str) -> Connected:
    if replaced:  # "Connect" clicked again, or a relay back after a revoke: the tokens replaced end now
        _discard(store, settings, config, client, replaced, "you connected this account again")
    if email:
        try:
            request_email(store, settings, config, relay_id=relay_id, email=email, lang=lang, base_url=base_url)
        except RateLimited:  # the account is connected all the same; the relay may ask again from the dashboard
            logger.info("confirmation e-mail not sent: its budget is spent", extra={"relay_id": relay_id})
    return Connected(relay_id=relay_id, username=username, dashboard_token=dashboard_token(store, settings, relay_id))


def confirm_link(store: Store, settings: Settings, config: EventConfig, *, network: str, confirmation_id: str,
                 binding: str | None, accept: bool, base_url: str) -> Connected | None:
    """The relay's answer to "link this account to your dashboard?": only a yes attaches the grant; a no ends the
    tokens at once. Single use, in the browser that started the connection. None when declined."""
    _checked_network(config, network)
    if not CONFIRMATION.match(confirmation_id or ""):
        raise InvalidRequest("This confirmation is unknown, expired or already answered: nothing was linked.")
    waiting = store.confirmation(confirmation_id)
    if waiting is None or waiting["network"] != network:
        raise InvalidRequest("This confirmation is unknown, expired or already answered: nothing was linked.")
    # Checked before it is consumed: a confirmation sent from another browser cannot burn the relay's.
    if not (binding and BINDING.match(binding) and secrets.compare_digest(_binding_hash(binding), waiting["binding"])):
        raise InvalidRequest("This connection was started in another browser. Please start again here.")
    if store.take_confirmation(confirmation_id) is None:  # a second answer (a double click) loses here
        raise InvalidRequest("This confirmation is unknown, expired or already answered: nothing was linked.")
    instance, grant_id = waiting.get("instance"), waiting["grant_id"]
    label = instance or NETWORK_NAMES[network]
    client = client_for(settings, store, network, instance=instance)
    if not accept:
        _discard(store, settings, config, client, grant_id, "you declined linking this account to a dashboard")
        return None
    try:
        relay_id, replaced = _attach(store, config, waiting, asked=waiting["relay_id"], network=network, grant_id=grant_id,
                                     user_id=waiting["user_id"], username=waiting["username"], scopes=waiting["scopes"],
                                     label=label, followers=waiting.get("followers"))
    except RelayError:
        _discard(store, settings, config, client, grant_id, "the connection did not complete")
        raise
    return _connected(store, settings, config, client, relay_id, waiting["username"], replaced, waiting.get("email"),
                      waiting.get("lang", config.languages[0]), base_url)


def _save_connection(store: Store, config: EventConfig, client: Any, tokens: Any, pending: dict[str, Any], network: str,
                     grant_id: str, label: str) -> tuple[str, str, str | None] | ToConfirm:
    """Check what the network granted and who it names, map that account to its relay, and save the grant.
    Returns (relay id, user name, the grant id it replaced); or, when a dashboard asked for an account not yet its
    own, what the relay must confirm first (nothing is mapped or saved until they do)."""
    missing = REQUIRED_SCOPES[network] - set(tokens.scope.split())
    if missing:
        raise Forbidden("The permission %(scopes)s was not granted: nothing was stored.", scopes=", ".join(sorted(missing)))
    identity = client.identity(tokens.access_token)
    if not ACCOUNT_IDS.get(network, ACCOUNT_ID).match(identity.user_id or ""):
        raise InvalidRequest("%(network)s refused the connection: nothing was stored. Please start again.", network=label)
    instance = pending.get("instance")
    asked = pending.get("relay_id")  # connecting another network from a dashboard
    if asked:
        mapped = store.identity_relay(network, instance, identity.user_id)
        if mapped is not None and mapped != asked:
            raise _elsewhere(label)
        if mapped is None:  # an account new to relaycast joins this dashboard only if the relay says so
            stored = store.grant(asked, network)
            if stored is not None and stored.get("user_id") != identity.user_id:
                raise _conflict(stored, label)
            return _await_confirmation(store, config, pending, network=network, grant_id=grant_id, user_id=identity.user_id,
                                       username=identity.username, scopes=tokens.scope, followers=identity.followers)
    relay_id, replaced = _attach(store, config, pending, asked=asked, network=network, grant_id=grant_id, user_id=identity.user_id,
                                 username=identity.username, scopes=tokens.scope, label=label, followers=identity.followers)
    return relay_id, identity.username, replaced


def _await_confirmation(store: Store, config: EventConfig, pending: dict[str, Any], *, network: str, grant_id: str,
                        user_id: str, username: str, scopes: str, followers: int | None) -> ToConfirm:
    """Park the account until the relay confirms: the tokens stay in custody, adopted by no grant, with a TTL of
    their own shortly after the confirmation's (the sweep and the TTL stream end them if nobody confirms)."""
    confirmation_id = secrets.token_urlsafe(32)
    until = clock.epoch() + CONFIRM_SECONDS
    store.put_confirmation(confirmation_id, without_none({
        "network": network,
        "instance": pending.get("instance"),
        "relay_id": pending["relay_id"],
        "grant_id": grant_id,
        "user_id": user_id,
        "username": username,
        "scopes": scopes,
        "followers": followers,
        "server": pending.get("server"),
        "email": pending.get("email"),
        "lang": pending.get("lang"),
        "timezone": pending.get("timezone"),
        "binding": pending["binding"],
    }), until)
    store.orphan_custody(grant_id, min(until + CONFIRM_GRACE_SECONDS, int(config.access_ends.timestamp()) + 86400))
    # Named as the relay knows it: a Mastodon user name carries its instance already.
    return ToConfirm(confirmation_id=confirmation_id, network=network, label=NETWORK_NAMES[network], username=username)


def _elsewhere(label: str) -> RelayError:
    return Conflict("This %(network)s account is already connected to another relaycast dashboard: nothing was stored.", network=label)


def _conflict(stored: dict[str, Any], label: str) -> RelayError:
    if stored.get("status") == "ending":
        return Conflict("Your earlier access to %(network)s is still being revoked. Please try again in a minute.", network=label)
    return Conflict("Another %(network)s account is connected to this dashboard: revoke it first. Nothing was stored.", network=label)


def _attach(store: Store, config: EventConfig, pending: dict[str, Any], *, asked: str | None, network: str, grant_id: str,
            user_id: str, username: str, scopes: str, label: str, followers: int | None) -> tuple[str, str | None]:
    """Map the verified account to its relay and save the grant that adopts the custody; (relay id, replaced)."""
    instance = pending.get("instance")
    relay_id = store.relay_of_identity(network, instance, user_id, asked or new_relay_id(), config.retention_ends)
    if asked and relay_id != asked:
        raise _elsewhere(label)
    store.attach_custody(grant_id, relay_id)
    lang = pending.get("lang", config.languages[0])
    earlier = [g for g in store.relay_items(relay_id, "GRANT#") if g["network"] != network]
    timezone = pending.get("timezone") or next((g["timezone"] for g in earlier if g.get("timezone")), None)
    try:
        replaced = store.save_grant(
            without_none(
                {
                    "relay_id": relay_id,
                    "network": network,
                    "grant_id": grant_id,
                    "instance": instance,
                    "server": pending.get("server"),  # Bluesky: the authorization server the relay granted
                    "user_id": user_id,
                    "username": username,
                    # Their followers at connect (the reach of what is posted in their name; no read later).
                    "followers": followers,
                    # A second network joins the first's confirmed address; a new address waits for its link.
                    "email": next((g["email"] for g in earlier if g.get("email")), None),
                    "lang": lang,
                    "timezone": timezone,  # the relay's own, for their quiet hours; absent: the event's
                    "scopes": scopes,
                    "mode": config.mode(network),
                    "cap": config.cap_per_relay,
                    "status": "active",
                    "connected_at": clock.now().isoformat(),
                    "expires_at": int(config.access_ends.timestamp()),
                }
            ),
            seats=capacity.seats(config, network),
        )
    except GrantConflict as conflict:
        raise _conflict(conflict.stored, label) from None
    except NoSeat:  # the last seat went while this relay was at the network's consent page
        raise CapacityReached(FULL, network=NETWORK_NAMES[network]) from None
    store.adopt_custody(grant_id)
    if pending.get("timezone") and earlier:  # one relay, one time zone: their other networks follow
        store.set_relay_fields(relay_id, timezone=timezone)
    return relay_id, replaced


def new_relay_id() -> str:
    """Random: nothing about a relay's accounts can be read from it, and no crafted account can collide with it."""
    return f"r-{secrets.token_hex(12)}"


def _discard(store: Store, settings: Settings, config: EventConfig, client: Any, grant_id: str, reason: str) -> None:
    """End tokens no grant will use (a failed connection, or the ones a reconnect replaced) now; when the network
    cannot be reached they stay in custody, with a TTL of their own, for the end of access to finish."""
    store.orphan_custody(grant_id, int(config.access_ends.timestamp()))
    custody = store.custody(grant_id)
    if custody is None:
        return
    try:
        expire.end_custody(store, settings, config, client, custody, reason)
    except NetworkError as error:
        logger.warning("tokens left in custody for the end of access", extra={"grant_id": grant_id, "error": str(error)[:200]})


def request_email(
    store: Store, settings: Settings, config: EventConfig, *, relay_id: str, email: str | None, lang: str, base_url: str,
    counted: bool = False,
) -> None:
    """Keep the address as pending (the relay's only one: an earlier one's link stops confirming it) and send a
    signed confirmation link; it is used only once confirmed. Refused with nothing stored while the address's,
    the relay's or the event's mail budget is spent (`counted`: the caller took it already)."""
    email = _checked_email(email)
    if not email:
        raise InvalidRequest("This e-mail address does not look valid.")
    if not counted:
        limits.take_mail(store, relay_id, email, "confirm")
    store.set_relay_fields(relay_id, email_pending=email)
    token = _serializer(settings, "email-confirm").dumps({"relay": relay_id, "email": email})
    try:
        notices.send_confirmation(config, lang=lang, email=email, link=f"{base_url}/email/confirm?c={token}")
    except Exception:  # noqa: BLE001 — the relay can ask again from the dashboard; the connect itself succeeded
        logger.exception("confirmation e-mail not sent", extra={"relay_id": relay_id})


def email_to_confirm(settings: Settings, config: EventConfig, token: str) -> dict[str, str]:
    return _signed(settings, config, "email-confirm", token)


def confirm_email(store: Store, settings: Settings, config: EventConfig, token: str, base_url: str | None = None) -> str:
    """Use the address from now on, and mail it the dashboard link (sent only to a confirmed address)."""
    data = email_to_confirm(settings, config, token)
    relay_id, email = data["relay"], data["email"]
    grants = store.relay_items(relay_id, "GRANT#")
    if not grants:
        raise NotFound("There is nothing here for this link.")
    if grants[0].get("email") == email:
        return relay_id  # confirmed already: a second click sends nothing more
    if not any(g.get("email_pending") == email for g in grants):
        raise Expired("This address was replaced by a newer one: confirm the newest link you received.")
    store.set_relay_fields(relay_id, email=email, remove=("email_pending",))
    if base_url:  # the relay is on their dashboard already; the mail is a convenience
        _mail_link(store, settings, config, relay_id, dashboard_url(store, settings, relay_id, base_url), renewed=False)
    return relay_id


def dashboard(store: Store, config: EventConfig, relay_id: str) -> dict[str, Any]:
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    for item in store.relay_items(relay_id):
        by_prefix.setdefault(item["sk"].split("#", 1)[0], []).append(item)
    grants = [{k: v for k, v in g.items() if k != "tokens"} for g in by_prefix.get("GRANT", [])]
    receipts = [r for r in by_prefix.get("RECEIPT", []) if r.get("status") == "done"]
    proposals = sorted(by_prefix.get("PROPOSAL", []), key=lambda p: p.get("proposed_at", ""), reverse=True)
    ledger = sorted(by_prefix.get("LEDGER", []), key=lambda p: p.get("finished_at", ""), reverse=True)
    if not grants and not receipts and not ledger:
        raise NotFound("There is nothing here for this link.")
    now, live = clock.epoch(), {g["network"] for g in grants}
    for p in proposals:
        # Past its time, or its network's access has ended (revoked, expired): nothing to approve any more.
        if p["status"] == "pending" and (int(p.get("proposal_expires_at", 0)) <= now or p["network"] not in live):
            p["status"] = "expired"
    connected = {g["network"] for g in grants} | {r["network"] for r in receipts}
    return {
        **_quiet_view(config, grants),
        "grants": grants,
        "receipts": receipts,
        "proposals": proposals,
        "ledger": ledger,
        "unconnected": [n for n in config.networks if n not in connected],
    }


def _quiet_view(config: EventConfig, grants: list[dict[str, Any]]) -> dict[str, Any]:
    """The relay's quiet hours as the dashboard says them; none when off or when nothing can publish in their name."""
    hours = window(config)
    publishing = [g for g in grants if g.get("mode") != "share-link"]
    if hours is None or not publishing:
        return {"quiet": None}
    zone = relay_zone(publishing[0], config)
    return {"quiet": {"start": f"{hours[0]:%H:%M}", "end": f"{hours[1]:%H:%M}", "zone": zone, "zones": zone_choices(zone, config.timezone)}}


def set_timezone(store: Store, relay_id: str, value: str | None) -> str:
    """The relay's own time zone, on every grant of theirs: their quiet hours follow it."""
    zone = _checked_timezone(value)
    if zone is None:
        raise InvalidRequest("This time zone is not known: choose one from the list.")
    if not store.set_relay_fields(relay_id, timezone=zone):
        raise NotFound("There is nothing here for this link.")
    return zone


def _grant(store: Store, config: EventConfig, relay_id: str, network: str) -> dict[str, Any]:
    grant = store.grant(relay_id, _checked_network(config, network))
    if grant is None:
        raise Conflict("This network is not connected.")
    return grant


def revoke_now(store: Store, settings: Settings, config: EventConfig, relay_id: str, network: str) -> str:
    """The relay ends access before the event does: the same path as the end of the event, with a receipt."""
    grant = store.grant(relay_id, _checked_network(config, network))
    if grant is None:
        return "already"
    try:
        # A share-link grant holds no token: no client, so not even a Mastodon app registration.
        client = client_for(settings, store, network, instance=grant.get("instance")) if grant.get("mode") != "share-link" else None
        return expire.end_grant(store, settings, config, client, grant, "you revoked access from your dashboard")
    except NetworkError:
        label = grant.get("instance") or NETWORK_NAMES[network]
        raise Unavailable("%(network)s could not be reached. Please try again in a minute.", network=label) from None


def undo(store: Store, settings: Settings, config: EventConfig, relay_id: str, network: str, post_id: str) -> str:
    """Delete the repost (unreblog) made in the relay's name; it still counts toward their cap."""
    if not POST_ID.match(post_id):
        raise InvalidRequest("Unknown post.")
    grant = _grant(store, config, relay_id, network)
    item = store.get(f"RELAY#{relay_id}", f"LEDGER#{network}#{post_id}")
    if item is None:
        raise NotFound("Unknown post.")
    if item["status"] == "undone":
        return "undone"  # a double click
    if item["status"] != "published":
        raise Conflict("Only a published post can be undone.")
    client = client_for(settings, store, network, instance=grant.get("instance"))
    made = item.get("made") or store.post_ref(network, post_id)  # what the repost made, when its undo names it
    try:
        client.undo_repost(credentials.access_token(store, settings, config, client, grant), grant["user_id"], made)
    except NetworkError:
        label = grant.get("instance") or NETWORK_NAMES[network]
        raise Unavailable("%(network)s could not be reached. Please try again in a minute.", network=label) from None
    store.mark_undone(relay_id, network, post_id, undone_at=clock.now().isoformat())
    return "undone"


def set_paused(store: Store, config: EventConfig, relay_id: str, network: str, paused: bool) -> str:
    _grant(store, config, relay_id, network)
    store.set_grant_status(relay_id, network, "paused" if paused else "active")
    return "paused" if paused else "active"


def lower_cap(store: Store, config: EventConfig, relay_id: str, network: str, value: str) -> int:
    grant = _grant(store, config, relay_id, network)
    current = int(grant["cap"])
    if not re.fullmatch(r"[0-9]{1,3}", value or "") or int(value) >= current:
        raise InvalidRequest("The cap must be a whole number from 0 to %(cap)s.", cap=current - 1)
    store.lower_cap(relay_id, network, int(value))
    return int(value)


def decide(store: Store, settings: Settings, config: EventConfig, *, relay_id: str, action: str, network: str, post_id: str) -> str:
    """Approve (enqueue one publish job) or skip a pending proposal; a repeat is harmless."""
    if action not in ("approve", "skip"):
        raise NotFound("Unknown action.")
    _checked_network(config, network)
    if not POST_ID.match(post_id):
        raise InvalidRequest("Unknown post.")
    status = "approved" if action == "approve" else "skipped"
    if status == "approved" and (store.grant(relay_id, network) or {}).get("mode") == "share-link":
        raise Conflict("Here you share each post yourself: use its share link.")  # no token to publish with
    if not store.decide_proposal(relay_id, network, post_id, status):
        proposal = store.get(f"RELAY#{relay_id}", f"PROPOSAL#{network}#{post_id}")
        if proposal is None:
            raise NotFound("Unknown post.")
        if proposal["status"] == status:
            return status  # a double click
        if proposal["status"] in ("pending", "expired"):  # pending here means past its time, not yet marked
            until = int(proposal.get("proposal_expires_at", 0))
            raise Expired("This proposal expired on %(date)s: nothing was published.", date=pages.epoch_time(config, until, pages.NAMED))
        raise Conflict("This proposal is no longer open (%(status)s).", status=proposal["status"])
    if status == "approved":
        job = {"relay_id": relay_id, "network": network, "post_id": post_id}
        try:
            aws.client("sqs").send_message(
                QueueUrl=settings.publish_queue_url, MessageBody=json.dumps(job), DelaySeconds=jitter(config, relay_id, post_id)
            )
        except Exception:
            store.reopen_proposal(relay_id, network, post_id)  # nothing lost: the relay can approve again
            raise
    return status

