"""The moderator's page: the round's picks with their scores and reasons, approve or reject each."""

from chalice import Blueprint

from chalicelib.web import FORM_OR_LINK, Visit, redirect, route
from relaycast import moderation
from relaycast.errors import NotFound

blueprint = Blueprint(__name__)


@route(blueprint, "/moderate", methods=["GET"], content_types=FORM_OR_LINK)
def round_page(visit: Visit):
    _offered(visit)
    token = visit.query().get("t", "")
    return visit.page("moderate.html", here="/moderate", token=token,
                      round=moderation.round_of_link(visit.store, visit.settings, visit.config, token))


@route(blueprint, "/moderate", methods=["POST"], content_types=FORM_OR_LINK)
def round_decision(visit: Visit):
    _offered(visit)
    token = moderation.decide_form(visit.store, visit.settings, visit.config, visit.form(max_fields=60))
    return redirect(f"{visit.base}/moderate?t={token}")


def _offered(visit: Visit) -> None:
    """An event without moderation has no moderator's page (checked before the request is read)."""
    if not visit.config.moderation:
        raise NotFound("Not found")
