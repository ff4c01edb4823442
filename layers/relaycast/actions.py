"""What the hosted page's forms do, one call each: a connect, by the network's mode, and the buttons of a
relay's dashboard (a table from the button's action to what it does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from relaycast import pages, relays, share_link
from relaycast.config import EventConfig
from relaycast.relays import Connected, Started
from relaycast.settings import Settings
from relaycast.storage import Store


def connect(
    store: Store, settings: Settings, config: EventConfig, *, network: str, form: dict[str, str], posted: bool, lang: str,
    base_url: str, client_ip: str | None = None,
) -> Started | Connected | None:
    """The relay's Connect: in share-link mode they join at once (no OAuth at all), else the consent starts.

    From a dashboard (`t`, its link) the network joins that relay. None: a share-link join by a plain link,
    which writes nothing (only the page's form joins)."""
    relay_id = relays.relay_from_token(store, settings, config, form["t"]) if form.get("t") else None
    if config.mode(network) != share_link.MODE:
        return relays.start_connect(store, settings, config, network=network, form=form,
                                    redirect_uri=relays.callback_url(base_url, network), lang=lang, relay_id=relay_id)
    if not posted:
        return None
    return share_link.join(store, settings, config, network=network, form=form, lang=lang, base_url=base_url, relay_id=relay_id,
                           client_ip=client_ip)


@dataclass(frozen=True)
class Pressed:
    """A button of the relay's dashboard, pressed: whose dashboard, and the form it sent."""

    store: Store
    settings: Settings
    config: EventConfig
    relay_id: str
    action: str
    form: dict[str, str]
    lang: str  # the page's, for what the relay's own language does not decide
    base_url: str

    @property
    def network(self) -> str:
        return self.form.get("network", "x")

    @property
    def post_id(self) -> str:
        return self.form.get("post", "")


@dataclass(frozen=True)
class Back:
    """Where the relay goes after a button: their dashboard, by this link (`renewed`: a link just made)."""

    token: str
    renewed: bool = False


def _email(p: Pressed) -> None:
    # The confirmation speaks the relay's language, whatever the browser's.
    lang = pages.relay_language(p.store.relay_items(p.relay_id, "GRANT#")) or p.lang
    relays.request_email(p.store, p.settings, p.config, relay_id=p.relay_id, email=p.form.get("email"), lang=lang, base_url=p.base_url)


def _decide(p: Pressed) -> str:
    """A proposal's answer (approve, skip); `decide` refuses any other action."""
    return relays.decide(p.store, p.settings, p.config, relay_id=p.relay_id, action=p.action, network=p.network, post_id=p.post_id)


BUTTONS: dict[str, Callable[[Pressed], object]] = {
    "newlink": lambda p: Back(relays.new_dashboard_link(p.store, p.settings, p.config, p.relay_id, base_url=p.base_url), renewed=True),
    "revoke": lambda p: relays.revoke_now(p.store, p.settings, p.config, p.relay_id, p.network),
    "undo": lambda p: relays.undo(p.store, p.settings, p.config, p.relay_id, p.network, p.post_id),
    "pause": lambda p: relays.set_paused(p.store, p.config, p.relay_id, p.network, True),
    "resume": lambda p: relays.set_paused(p.store, p.config, p.relay_id, p.network, False),
    "cap": lambda p: relays.lower_cap(p.store, p.config, p.relay_id, p.network, p.form.get("cap", "")),
    "timezone": lambda p: relays.set_timezone(p.store, p.relay_id, p.form.get("timezone")),
    "email": _email,
}


def press(store: Store, settings: Settings, config: EventConfig, action: str, form: dict[str, str], *, lang: str,
          base_url: str) -> Back | None:
    """The relay pressed `action` on a dashboard (its link is the form's `t`); where they go next. None: the
    button of a replaced link's page, which mails the current link to the confirmed address only."""
    if action == "resend":
        relays.resend_dashboard_link(store, settings, config, form.get("t", ""), base_url=base_url)
        return None
    relay_id = relays.relay_from_token(store, settings, config, form.get("t", ""))
    done = BUTTONS.get(action, _decide)(Pressed(store, settings, config, relay_id, action, form, lang, base_url))
    return done if isinstance(done, Back) else Back(form["t"])
