"""The relay's dashboard, its buttons, and a share-link proposal's link."""

from urllib.parse import urlencode

from chalice import Blueprint

from chalicelib.web import FORM, Visit, redirect, route
from relaycast import actions, pages, relays, share_link
from relaycast.observability import metrics

blueprint = Blueprint(__name__)


@route(blueprint, "/relay", methods=["GET"])
def relay_dashboard(visit: Visit):
    token = visit.query().get("t", "")
    view = relays.dashboard(visit.store, visit.config, relays.relay_from_token(visit.store, visit.settings, visit.config, token))
    visit.speak(pages.relay_language(view["grants"], view["receipts"]))
    return visit.page("dashboard.html", here="/relay", token=token, link_renewed=visit.params.get("link") == "new",
                      full=relays.full_networks(visit.store, visit.config), **view)


@route(blueprint, "/relay/{action}", methods=["POST"], content_types=FORM)
def relay_action(visit: Visit, action: str):
    back = actions.press(visit.store, visit.settings, visit.config, action, visit.form(), lang=visit.lang, base_url=visit.base)
    if back is None:
        return visit.page("link_sent.html")
    if back.renewed:
        return redirect(f"{visit.base}/relay?{urlencode({'t': back.token, 'link': 'new'})}")
    return visit.to_dashboard(back.token)


@route(blueprint, "/relay/share", methods=["GET"])
def relay_share(visit: Visit):
    """Record the click (once, under the cap), then open the network's own page."""
    query = visit.query()
    relay_id = relays.relay_from_token(visit.store, visit.settings, visit.config, query.get("t", ""))
    visit.speak(pages.relay_language(visit.store.relay_items(relay_id, "GRANT#")))
    where = share_link.share(visit.store, visit.config, relay_id, query.get("network", ""), query.get("post", ""))
    metrics.add_metric(name="SharesOpened", unit="Count", value=1)
    return redirect(where)
