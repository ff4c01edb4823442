"""The event's page, where a relay starts, and the health check."""

from chalice import Blueprint

from chalicelib.web import Visit, route
from relaycast import quiet, relays

blueprint = Blueprint(__name__)


@route(blueprint, "/", methods=["GET"])
def index(visit: Visit):
    return visit.page("index.html", token=None, zones=quiet.zone_choices(visit.config.timezone), quiet_hours=quiet.shown(visit.config),
                      full=relays.full_networks(visit.store, visit.config))


@blueprint.route("/health", methods=["GET"])
def health():
    return {"ok": True}
