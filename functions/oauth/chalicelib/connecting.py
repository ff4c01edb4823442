"""Connecting an account: the relay's Connect, the network's answer, and the relay's answer to linking an account
to their dashboard."""

from contextlib import contextmanager

from chalice import Blueprint

from chalicelib import web
from chalicelib.web import BINDING_COOKIE, FORM_OR_LINK, Visit, redirect, route
from relaycast import actions, relays
from relaycast.errors import RelayError
from relaycast.networks import NETWORK_NAMES
from relaycast.observability import logger, metrics
from relaycast.relays import Connected, Started, ToConfirm

blueprint = Blueprint(__name__)


@route(blueprint, "/connect/{network}", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def connect(visit: Visit, network: str):
    form = visit.form() if visit.posted else {}
    visit.speak(form.get("lang"))
    started = actions.connect(visit.store, visit.settings, visit.config, network=network, form=form, posted=visit.posted,
                              lang=visit.lang, base_url=visit.base, client_ip=visit.client_ip)
    if isinstance(started, Started):
        return redirect(started.url, 302, cookie=web.cookie(BINDING_COOKIE, started.binding, 600))
    if started is None:
        return redirect(f"{visit.base}/")
    metrics.add_metric(name="RelaysConnected", unit="Count", value=1)
    return visit.to_dashboard(started.dashboard_token)


@route(blueprint, "/callback/{network}", methods=["GET"], content_types=FORM_OR_LINK)
def network_answer(visit: Visit, network: str):
    with _refusals_logged(network):
        connected = relays.finish_connect(visit.store, visit.settings, visit.config, network=network, params=visit.query(),
                                          redirect_uri=relays.callback_url(visit.base, network),
                                          binding=visit.cookie(BINDING_COOKIE), base_url=visit.base)
    return _connected(visit, network, connected)


@route(blueprint, "/callback/{network}", methods=["POST"], content_types=FORM_OR_LINK)
def link_answer(visit: Visit, network: str):
    """Yes or no to linking a new account to the relay's dashboard."""
    with _refusals_logged(network):
        form = visit.form()
        visit.speak(form.get("lang"))
        connected = relays.confirm_link(visit.store, visit.settings, visit.config, network=network, confirmation_id=form.get("l", ""),
                                        binding=visit.cookie(BINDING_COOKIE), accept=form.get("decision") == "link",
                                        base_url=visit.base)
    if connected is None:
        return visit.page("link_declined.html", network_label=NETWORK_NAMES.get(network, network))
    return _connected(visit, network, connected)


@contextmanager
def _refusals_logged(network: str):
    try:
        yield
    except RelayError as error:
        logger.info("connect refused", extra={"status": web.status_of(error), "network": network[:20]})
        raise


def _connected(visit: Visit, network: str, connected: Connected | ToConfirm):
    if isinstance(connected, ToConfirm):  # the binding cookie stays: the answer must come from this browser
        return visit.page("confirm_link.html", here=f"/callback/{network}", waiting=connected)
    metrics.add_metric(name="RelaysConnected", unit="Count", value=1)
    return visit.to_dashboard(connected.dashboard_token, cookie=web.cookie(BINDING_COOKIE, "", 0))
