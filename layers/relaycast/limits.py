"""The hosted app's own limits: mails to one address or from one relay, addresses waiting for confirmation,
share-link joins per client and per event. Each is a budget of fixed windows in the table (`Store.take_quota`:
one conditional write, on the event's clock), so concurrent requests cannot pass it together; a request over a
budget is refused with `RateLimited` before anything else is stored.

The web ACL in front of the stage (`infra/waf.py`) limits requests per client IP more coarsely.
"""

from __future__ import annotations

import hashlib

from relaycast.errors import RateLimited
from relaycast.storage import Store

# One confirmation or link mail per address per 5 minutes, one per relay per minute (a typo fixed at once).
ADDRESS_MAIL_SECONDS = 300
RELAY_MAIL_SECONDS = 60
# Confirmation mails to addresses nobody has confirmed yet, for the whole event, per hour.
PENDING_ADDRESSES_PER_HOUR = 200
# Share-link joins need no account: per client IP (a venue's Wi-Fi shares one) and for the whole event.
JOINS_PER_IP_PER_MINUTE = 20
JOINS_PER_MINUTE = 600

TOO_MANY_MAILS = "An e-mail was sent here a moment ago. Please try again in %(minutes)s minute(s)."
TOO_MANY_PENDING = "Too many addresses are waiting for confirmation right now. Please try again in %(minutes)s minute(s)."
TOO_MANY_JOINS = "Too many people are joining from here right now. Please try again in %(minutes)s minute(s)."


def _address_key(address: str) -> str:
    # The table never holds the address of a mail it limits, only its digest.
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]


def take_mail(store: Store, relay_id: str, address: str, purpose: str) -> None:
    """Count one mail of `purpose` ("confirm": a confirmation to an address not confirmed yet, also counted for the
    event; "link": a dashboard link to the confirmed address) from `relay_id` to `address`; refused with nothing
    counted when any of its budgets is spent. Each purpose has budgets of its own: the link mailed right after a
    confirmation, or a new link asked for then, is not refused for the confirmation's sake."""
    budgets = [(f"mail#{purpose}#relay#{relay_id}", 1, RELAY_MAIL_SECONDS),
               (f"mail#{purpose}#address#{_address_key(address)}", 1, ADDRESS_MAIL_SECONDS)]
    if purpose == "confirm":
        budgets.append(("mail#pending", PENDING_ADDRESSES_PER_HOUR, 3600))
    wait, spent = store.take_quotas(budgets)
    if wait:
        raise RateLimited(TOO_MANY_PENDING if spent == "mail#pending" else TOO_MANY_MAILS, retry_after=wait)


def take_join(store: Store, client_ip: str | None) -> None:
    """Count one share-link join from `client_ip` and for the event; refused with nothing counted when either is spent."""
    wait, _ = store.take_quotas([(f"join#ip#{(client_ip or 'unknown')[:45]}", JOINS_PER_IP_PER_MINUTE, 60),
                                 ("join#event", JOINS_PER_MINUTE, 60)])
    if wait:
        raise RateLimited(TOO_MANY_JOINS, retry_after=wait)
