"""Links the relay receives by e-mail: confirming their address, and a digest's Approve or Skip. Each GET shows
a button and only its POST acts, so a mail scanner that follows links does nothing."""

from chalice import Blueprint

from chalicelib.web import FORM_OR_LINK, Visit, redirect, route
from relaycast import digest, relays

blueprint = Blueprint(__name__)


@route(blueprint, "/email/confirm", methods=["GET"], content_types=FORM_OR_LINK)
def email_confirmation_page(visit: Visit):
    token = visit.query().get("c", "")
    return visit.page("confirm_email.html", here="/email/confirm", confirm_token=token,
                      email=relays.email_to_confirm(visit.settings, visit.config, token)["email"])


@route(blueprint, "/email/confirm", methods=["POST"], content_types=FORM_OR_LINK)
def email_confirmation(visit: Visit):
    relay_id = relays.confirm_email(visit.store, visit.settings, visit.config, visit.form().get("c", ""), base_url=visit.base)
    return redirect(relays.dashboard_url(visit.store, visit.settings, relay_id, visit.base))


@route(blueprint, "/proposal/{action}", methods=["GET"], content_types=FORM_OR_LINK)
def proposal_page(visit: Visit, action: str):
    """The exact post the link decides, and the button."""
    token = visit.query().get("p", "")
    claims = _claims(visit, token, action)
    return visit.page("proposal.html", here=f"/proposal/{action}", p=digest.open_proposal(visit.store, visit.config, claims),
                      action=claims.action, link_token=token,
                      dashboard_token=relays.dashboard_token(visit.store, visit.settings, claims.relay_id))


@route(blueprint, "/proposal/{action}", methods=["POST"], content_types=FORM_OR_LINK)
def proposal_decision(visit: Visit, action: str):
    """The button: the proposal is decided (once)."""
    form = visit.form()
    visit.speak(form.get("lang"))
    claims = _claims(visit, form.get("p", ""), action, form.get("lang"))
    digest.decide(visit.store, visit.settings, visit.config, claims)
    return redirect(relays.dashboard_url(visit.store, visit.settings, claims.relay_id, visit.base))


def _claims(visit: Visit, token: str, action: str, asked: str | None = None) -> digest.Claims:
    """What a digest link says; from here on the page speaks the relay's language unless the form chose."""
    claims = digest.link_claims(visit.settings, token, action)
    visit.speak(asked, digest.relay_language(visit.store, visit.config, claims))
    return claims
