"""Share-link mode: relaycast holds no token at all.

The relay joins without OAuth; each proposal becomes a link to the network's own credited action (X's
repost intent, a boost from the relay's own Mastodon instance, a Bluesky post's page, LinkedIn's post or share
dialog). relaycast records the click under the relay's cap, once per post, and the relay finishes the action
themselves on the network.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from relaycast import clock, limits
from relaycast.config import EventConfig
from relaycast.credentials import new_grant_id
from relaycast.errors import Conflict, Forbidden, InvalidRequest, NotFound
from relaycast.networks import NETWORK_NAMES
from relaycast.policy import SHARE_LINK
from relaycast.errors import CapacityReached
from relaycast.relays import FULL, POST_ID, Connected, _checked_email, _checked_network, dashboard_token, request_email, room
from relaycast.settings import Settings
from relaycast.storage import NoSeat, Store, without_none

MODE = SHARE_LINK
# X handles are 1..15 characters; Mastodon's local user names up to 30: letters, digits and "_" on both.
# Bluesky's are domain names (amina.bsky.social).
HANDLE = {"x": re.compile(r"^[A-Za-z0-9_]{1,15}$"), "mastodon": re.compile(r"^[A-Za-z0-9_]{1,30}$"),
          "bluesky": re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$"),
          "linkedin": re.compile(r"^[A-Za-z0-9-]{3,100}$")}  # the public profile's name (linkedin.com/in/<name>)
SHARED = "shared"
CAP_REACHED = "Your cap of %(cap)s posts is reached: nothing more is recorded in your name."
NOT_ACTIVE = "Sharing is paused or ended for this network: nothing was recorded."


def join(store: Store, settings: Settings, config: EventConfig, *, network: str, form: dict[str, str], lang: str, base_url: str,
         relay_id: str | None = None, client_ip: str | None = None) -> Connected:
    """Save a grant without any token; every refusal happens before anything is written. Joins are counted per
    client IP and for the event, and the confirmation mail against its budgets, before the grant is saved.

    The handle is the relay's word, never checked with the network: it only keeps their own posts from being
    proposed back to them. So it never names the relay: a new relay gets a random id, not one derived from it.
    """
    _checked_network(config, network)
    if config.mode(network) != MODE:
        raise NotFound("This network is not offered in share-link mode for this event.")
    email = _checked_email(form.get("email"))
    username, _, domain = (form.get("username") or "").strip().removeprefix("@").partition("@")
    if username and not HANDLE[network].match(username):
        if network == "bluesky":
            raise InvalidRequest("Type your Bluesky handle, for example amina.bsky.social.")
        raise InvalidRequest("Type only your user name, for example amina_data.")
    username = username.lower() if network == "bluesky" else username
    instance = None
    if network == "mastodon":  # the boost opens on the relay's own instance: its name is needed, not a call to it
        from relaycast.netguard import InstanceRejected, parse_instance  # netguard loads requests: only this path

        try:
            instance = parse_instance(form.get("instance", ""))
        except InstanceRejected as error:
            raise InvalidRequest(str(error)) from None
    if domain and domain.lower() != instance:  # "@name@instance" is fine when it names the instance typed
        raise InvalidRequest("Type only your user name, for example amina_data.")
    if username and instance:  # Mastodon names authors user@instance, whatever instance reads them
        username = f"{username}@{instance}"
    seats = room(store, config, network, relay_id)
    relay_id = relay_id or f"{network}-link-{secrets.token_hex(8)}"
    limits.take_join(store, client_ip)
    if email:
        limits.take_mail(store, relay_id, email, "confirm")
    earlier = [g for g in store.relay_items(relay_id, "GRANT#") if g["network"] != network]
    try:
        store.save_grant(
            without_none(
                {
                    "relay_id": relay_id,
                    "network": network,
                    # No token behind it, but its own end and receipt all the same (a relay may leave and come back).
                    "grant_id": new_grant_id(),
                    "instance": instance,
                    "username": username or None,
                    # A second network joins the first's confirmed address; a new address waits for its link.
                    "email": next((g["email"] for g in earlier if g.get("email")), None),
                    "lang": lang,
                    "mode": MODE,
                    "cap": config.cap_per_relay,
                    "status": "active",
                    "connected_at": clock.now().isoformat(),
                    "expires_at": int(config.access_ends.timestamp()),
                }
            ),
            seats=seats,
        )
    except NoSeat:  # the last seat went meanwhile
        raise CapacityReached(FULL, network=NETWORK_NAMES[network]) from None
    if email:
        request_email(store, settings, config, relay_id=relay_id, email=email, lang=lang, base_url=base_url, counted=True)
    return Connected(relay_id=relay_id, username=username or "", dashboard_token=dashboard_token(store, settings, relay_id))


def intent_url(grant: dict[str, Any], proposal: dict[str, Any]) -> str:
    """The network's own page for the credited action on the original post: never a copy of its text."""
    if grant["network"] == "x":
        return f"https://x.com/intent/retweet?tweet_id={proposal['post_id']}"
    status_url = str(proposal.get("url", ""))
    if urlsplit(status_url).scheme != "https":
        raise NotFound("Unknown post.")
    if grant["network"] == "bluesky":  # no repost intent exists: the post's own page, where the relay reposts it
        return status_url
    if grant["network"] == "linkedin":  # a LinkedIn post opens itself (its Repost button); another post, the share dialog
        if urlsplit(status_url).hostname == "www.linkedin.com":
            return status_url
        return f"https://www.linkedin.com/sharing/share-offsite/?url={quote(status_url, safe='')}"
    return f"https://{grant['instance']}/authorize_interaction?uri={quote(status_url, safe='')}"


def _record(store: Store, config: EventConfig, relay_id: str, network: str, proposal: dict[str, Any]) -> None:
    store.finish_ledger(
        relay_id, network, proposal["post_id"], status=SHARED, link=str(proposal.get("url", "")),
        shared_at=clock.now().isoformat(), expires_at=config.retention_ends,
    )


def share(store: Store, config: EventConfig, relay_id: str, network: str, post_id: str) -> str:
    """Record the relay's click on a proposal (once, under their cap) and return where it leads.

    A second click leads there again without counting twice. A refused click leaves the table as it was.
    """
    _checked_network(config, network)
    if not POST_ID.match(post_id or ""):
        raise InvalidRequest("Unknown post.")
    grant = store.grant(relay_id, network)
    if grant is None:
        raise Conflict("This network is not connected.")
    if grant.get("mode") != MODE:
        raise Conflict("This network is not connected in share-link mode.")
    proposal = store.get(f"RELAY#{relay_id}", f"PROPOSAL#{network}#{post_id}")
    if proposal is None:
        raise NotFound("Unknown post.")
    where = intent_url(grant, proposal)
    if proposal["status"] == SHARED:
        ledger = store.get(f"RELAY#{relay_id}", f"LEDGER#{network}#{post_id}") or {}
        if ledger.get("status") == "publishing":  # the first click stopped after counting: finish its record
            _record(store, config, relay_id, network, proposal)
        if ledger.get("status") in (SHARED, "publishing"):
            return where  # a second click: counted once already
    if grant.get("status") != "active":
        raise Forbidden(NOT_ACTIVE)
    cap = int(grant["cap"])
    if int(grant.get("published_count", 0)) >= cap:
        raise Forbidden(CAP_REACHED, cap=cap)
    if not store.decide_proposal(relay_id, network, post_id, SHARED):
        current = store.get(f"RELAY#{relay_id}", f"PROPOSAL#{network}#{post_id}") or proposal
        status = "expired" if current["status"] == "pending" else current["status"]
        raise Conflict("This proposal is no longer open (%(status)s).", status=status)
    # The transaction is the real guard: the cap and the one-record-per-post hold against concurrent clicks.
    reservation = store.reserve_publish(relay_id, network, post_id, cap)
    if reservation in ("reserved", "resume"):
        _record(store, config, relay_id, network, proposal)
        return where
    ledger = store.get(f"RELAY#{relay_id}", f"LEDGER#{network}#{post_id}") or {}
    if reservation == "done" and ledger.get("status") == SHARED:
        return where
    store.reopen_proposal(relay_id, network, post_id)  # nothing recorded: the proposal stays as it was
    if reservation == "cap":
        raise Forbidden(CAP_REACHED, cap=cap)
    if reservation == "inactive":
        raise Forbidden(NOT_ACTIVE)
    # This post already ended otherwise for the relay (skipped): it cannot be shared any more.
    store.decide_proposal(relay_id, network, post_id, "skipped")
    raise Conflict("This proposal is no longer open (%(status)s).", status=ledger.get("status", "skipped"))
