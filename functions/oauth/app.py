"""oauth: the hosted page, connect/callback per network, and the relay dashboard (Chalice app behind API Gateway)."""

import json
import os
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from chalice import Chalice, Response

from relaycast import digest, moderation, pages, quiet, share_link
from relaycast.i18n import translate
from relaycast.networks import NETWORK_NAMES
from relaycast.observability import bind_service, logger, metrics
from relaycast.relays import (
    LinkReplaced,
    RelayError,
    ToConfirm,
    confirm_email,
    confirm_link,
    dashboard,
    dashboard_token,
    dashboard_url,
    decide,
    email_to_confirm,
    finish_connect,
    lower_cap,
    new_dashboard_link,
    preferred_language,
    relay_from_token,
    request_email,
    resend_dashboard_link,
    revoke_now,
    set_paused,
    set_timezone,
    start_connect,
    undo,
)
from relaycast.settings import Settings
from relaycast.storage import Store

app = Chalice(app_name="relaycast-oauth")
FORM = ["application/x-www-form-urlencoded"]
# A browser's GET carries no content type, which Chalice reads as JSON.
FORM_OR_LINK = [*FORM, "application/json"]
MAX_FORM = 2048
MAX_QUERY = 2048
LANGUAGE_LABELS = {"en": "English", "fr": "Français"}
BINDING_COOKIE = "relaycast_connect"
LANG_COOKIE = "relaycast_lang"

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _csp() -> str:
    """Nothing third-party loads; forms may only lead to this app and to a network's consent page.

    Mastodon instances are any https host the relay names; the local runtime's sandboxes are on loopback.
    """
    targets = ["'self'", "https:"]
    sandboxes = [os.environ.get("X_AUTHORIZE_URL", ""), *json.loads(os.environ.get("MASTODON_SANDBOX") or "{}").values()]
    for url in sandboxes:
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"):
            targets.append(f"http://{parts.netloc}")
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {' '.join(targets)}"
    )


# Methods that change something: refused when a browser says another site sent them.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})  # `none`: the relay's own navigation (typed, bookmarked)


@app.middleware("http")
def guarded(event, get_response):
    """Every request goes through here: unknown routes and cross-site writes are refused before any view runs,
    errors of any kind become a page, and every response carries the security headers and the CSP."""
    bind_service()
    try:
        response = _dispatch(event, get_response)
    except Exception:  # noqa: BLE001 — whatever failed, the answer is a page with the headers
        logger.exception("unhandled error")
        response = _failure(500)
    response.headers = {**SECURITY_HEADERS, "Content-Security-Policy": _csp(), **(response.headers or {})}
    if metrics.metric_set:  # one EMF line per request that counted something
        metrics.flush_metrics()
    return response


def _dispatch(request, get_response) -> Response:
    if request is None or request.context.get("resourcePath") not in app.routes:
        return _failure(404)
    if request.method in STATE_CHANGING and is_cross_site(request.headers, _base()):
        logger.info("cross-site request refused", extra={"path": request.context.get("resourcePath"),
                                                          "site": (request.headers.get("sec-fetch-site") or "")[:20]})
        metrics.add_metric(name="CrossSiteRefused", unit="Count", value=1)
        return _failure(403, RelayError("This request came from another site: nothing was done. "
                                        "Open the event page and try again from there.", 403))
    response = get_response(request)
    content_type = {k.lower(): v for k, v in (response.headers or {}).items()}.get("content-type", "")
    if response.status_code >= 400 and not content_type.startswith("text/html"):
        # Chalice's own answers (405, 415, an error a view did not catch): the relay gets a page.
        kept = {k: v for k, v in (response.headers or {}).items() if k.lower() == "allow"}
        return _failure(response.status_code, headers=kept)
    return response


def is_cross_site(headers, base: str) -> bool:
    """Did another site make the browser send this? Fetch metadata decides when the browser sends it; else the
    Origin must be the hosted page's own (an opaque `null` origin never is). Neither header: not a browser."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in SAME_SITE_FETCHES
    origin = headers.get("origin")
    if origin is not None:
        return origin.strip().lower().rstrip("/") != _origin_of(base)
    return False


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _base() -> str:
    """The hosted page's public base URL, as configured (HOSTED_PAGE_URL): never from the request's Host or
    X-Forwarded-* headers, which the client chooses."""
    url = Settings.from_env().hosted_page_url
    if not url:
        raise RuntimeError("HOSTED_PAGE_URL is not set")
    return url.rstrip("/")


def _cookie(name: str, value: str, max_age: int) -> str:
    """HttpOnly and SameSite=Lax always; Secure whenever the page is served over https (always, once deployed)."""
    secure = "; Secure" if _base().startswith("https://") else ""
    path = urlsplit(_base()).path or "/"
    return f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def _cookies() -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    if app.current_request is None:
        return {}
    try:
        jar.load(app.current_request.headers.get("cookie", "")[:4096])
    except CookieError:
        return {}
    return {k: v.value for k, v in jar.items()}


def _query() -> dict[str, str]:
    params = dict(app.current_request.query_params or {})
    if len(urlencode(params)) > MAX_QUERY:
        raise RelayError("The request is too large.", 413)
    return params


def _form(max_fields: int = 10) -> dict[str, str]:
    raw = app.current_request.raw_body or b""
    if len(raw) > MAX_FORM:
        raise RelayError("The form is too large.", 413)
    try:
        fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:  # more fields than any form of this app has
        raise RelayError("The form is too large.", 413) from None
    return {k: v[0] for k, v in fields.items()}


def _query_params() -> dict[str, str]:
    request = app.current_request
    return dict((request.query_params if request is not None else None) or {})


def _lang(config, *asked) -> str:
    request = app.current_request
    return preferred_language(
        config, _query_params().get("lang"), *asked, _cookies().get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language") if request is not None else None,
    )


def _html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8", **(headers or {})})


def _redirect(location: str, status: int = 303, cookie: str | None = None) -> Response:
    headers = {"Location": location}
    if cookie:
        headers["Set-Cookie"] = cookie
    return Response(body="", status_code=status, headers=headers)


def _page(template: str, lang: str, status: int = 200, here: str = "/", **context) -> Response:
    config = Settings.from_env().event()
    zone = ZoneInfo(config.timezone)  # the stored config keeps offsets only; the page names the zone
    query = {k: v for k, v in _query_params().items() if k != "lang"}
    switches = [
        (code, LANGUAGE_LABELS[code], f"{_base()}{here}?{urlencode({**query, 'lang': code})}") for code in config.languages
    ] if len(config.languages) > 1 else []
    body = pages.render(
        template,
        lang,
        config=config,
        base=_base(),
        switches=switches,
        network_names=NETWORK_NAMES,
        local_time=lambda iso: _local_time(iso, zone),
        local_time_epoch=lambda epoch: datetime.fromtimestamp(int(epoch), UTC).astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        starts=config.start.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        ends=config.end.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        access_ends=config.access_ends.astimezone(zone).strftime("%d/%m/%Y %H:%M %Z"),
        **context,
    )
    # An explicit switch is remembered for the next pages of this browser.
    asked = _query_params().get("lang")
    remember = {"Set-Cookie": _cookie(LANG_COOKIE, lang, 31536000)} if asked == lang else None
    return _html(body, status, remember)


def _local_time(iso: str | None, zone: ZoneInfo) -> str:
    """A stored ISO instant as the relay reads it: the event's time zone, to the minute."""
    try:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%d/%m/%Y %H:%M") if iso else ""
    except (TypeError, ValueError):
        return ""


TITLES = {400: "This request cannot be used", 403: "Not allowed", 404: "Not found", 405: "Not allowed here",
          409: "Already decided", 410: "Expired", 413: "Too large", 415: "This request cannot be used"}
MESSAGES = {404: "There is no page at this address.", 405: "This page cannot be used this way.",
            415: "This request cannot be used."}


def _error(error: RelayError, lang: str) -> Response:
    if isinstance(error, LinkReplaced):  # the relay may ask for their current link from here
        return _page("link_replaced.html", lang, error.status, title=translate(lang, "This link was replaced"),
                     message=error.in_language(lang), old_token=error.token)
    title = translate(lang, TITLES.get(error.status, "Something went wrong"))
    return _page("error.html", lang, error.status, title=title, message=error.in_language(lang))


def _failure(status: int, error: RelayError | None = None, headers: dict | None = None) -> Response:
    """An error page for an answer no view wrote (unknown route, wrong method, an unhandled error); a bare page
    when even the event's settings cannot be read."""
    error = error or RelayError(MESSAGES.get(status, "Something went wrong. Please try again in a minute."), status)
    try:
        response = _error(error, _safe_lang(Settings.from_env()))
    except Exception:  # noqa: BLE001 — the error page of last resort names nothing of the event
        logger.exception("error page not rendered")
        response = _html(f"<!doctype html><title>relaycast</title><p>{translate('en', TITLES.get(status, 'Something went wrong'))}</p>",
                         status)
    response.headers.update(headers or {})
    return response


def _safe_lang(settings: Settings) -> str:
    try:
        return _lang(settings.event())
    except Exception:  # noqa: BLE001 — an error page must render even when the request is odd
        return "en"


@app.route("/", methods=["GET"])
def index():
    config = Settings.from_env().event()
    return _page("index.html", _lang(config), token=None, zones=quiet.zone_choices(config.timezone), quiet_hours=quiet.shown(config))


@app.route("/health", methods=["GET"])
def health():
    return {"ok": True}


@app.route("/connect/{network}", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def connect(network):
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        form = _form() if app.current_request.method == "POST" else {}
        lang = _lang(config, form.get("lang"))
        relay_id = relay_from_token(Store(settings.table_name), settings, config, form["t"]) if form.get("t") else None
        if config.mode(network) == share_link.MODE:
            if app.current_request.method != "POST":  # joining writes: only the page's form does it
                return _redirect(f"{_base()}/")
            # No OAuth at all in this mode: the relay lands on their dashboard at once.
            joined = share_link.join(
                Store(settings.table_name), settings, config, network=network, form=form, lang=lang, base_url=_base(), relay_id=relay_id
            )
            metrics.add_metric(name="RelaysConnected", unit="Count", value=1)
            return _redirect(f"{_base()}/relay?t={joined.dashboard_token}")
        started = start_connect(
            Store(settings.table_name),
            settings,
            config,
            network=network,
            form=form,
            redirect_uri=f"{_base()}/callback/{network}",
            lang=lang,
            relay_id=relay_id,
        )
    except RelayError as error:
        return _error(error, lang)
    return _redirect(started.url, 302, cookie=_cookie(BINDING_COOKIE, started.binding, 600))


@app.route("/callback/{network}", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def callback(network):
    """GET: the network's answer. POST: the relay's answer to linking a new account to their dashboard."""
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    store = Store(settings.table_name)
    try:
        if app.current_request.method == "POST":
            form = _form()
            lang = _lang(config, form.get("lang"))
            connected = confirm_link(store, settings, config, network=network, confirmation_id=form.get("l", ""),
                                     binding=_cookies().get(BINDING_COOKIE), accept=form.get("decision") == "link",
                                     base_url=_base())
            if connected is None:
                return _page("link_declined.html", lang, network_label=NETWORK_NAMES.get(network, network))
        else:
            connected = finish_connect(
                store,
                settings,
                config,
                network=network,
                params=_query(),
                redirect_uri=f"{_base()}/callback/{network}",
                binding=_cookies().get(BINDING_COOKIE),
                base_url=_base(),
            )
    except RelayError as error:
        logger.info("connect refused", extra={"status": error.status, "network": network[:20]})
        return _error(error, lang)
    if isinstance(connected, ToConfirm):  # the binding cookie stays: the answer must come from this browser
        return _page("confirm_link.html", lang, here=f"/callback/{network}", waiting=connected)
    metrics.add_metric(name="RelaysConnected", unit="Count", value=1)
    return _redirect(f"{_base()}/relay?t={connected.dashboard_token}", cookie=_cookie(BINDING_COOKIE, "", 0))


@app.route("/relay", methods=["GET"])
def relay_dashboard():
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        token = _query().get("t", "")
        store = Store(settings.table_name)
        relay_id = relay_from_token(store, settings, config, token)
        view = dashboard(store, config, relay_id)
    except RelayError as error:
        return _error(error, lang)
    own = next((g.get("lang") for g in view["grants"]), None) or next((r.get("lang") for r in view["receipts"]), None)
    valid_until = datetime.fromtimestamp(config.retention_ends, UTC).astimezone(ZoneInfo(config.timezone)).strftime("%d/%m/%Y")
    return _page("dashboard.html", _lang(config, own), here="/relay", token=token, link_valid_until=valid_until,
                 link_renewed=_query_params().get("link") == "new", **view)


@app.route("/relay/{action}", methods=["POST"], content_types=FORM)
def relay_action(action):
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        form = _form()
        store, network = Store(settings.table_name), form.get("network", "x")
        if action == "resend":  # from a replaced link's page: the current link goes to the confirmed address only
            resend_dashboard_link(store, settings, config, form.get("t", ""), base_url=_base())
            return _page("link_sent.html", lang)
        relay_id = relay_from_token(store, settings, config, form.get("t", ""))
        if action == "newlink":
            fresh = new_dashboard_link(store, settings, config, relay_id, base_url=_base())
            return _redirect(f"{_base()}/relay?{urlencode({'t': fresh, 'link': 'new'})}")
        if action == "revoke":
            revoke_now(store, settings, config, relay_id, network)
        elif action == "undo":
            undo(store, settings, config, relay_id, network, form.get("post", ""))
        elif action in ("pause", "resume"):
            set_paused(store, config, relay_id, network, action == "pause")
        elif action == "cap":
            lower_cap(store, config, relay_id, network, form.get("cap", ""))
        elif action == "timezone":
            set_timezone(store, relay_id, form.get("timezone"))
        elif action == "email":
            grant_lang = next((g.get("lang") for g in store.relay_items(relay_id, "GRANT#")), lang)
            request_email(store, settings, config, relay_id=relay_id, email=form.get("email"), lang=grant_lang, base_url=_base())
        else:
            decide(store, settings, config, relay_id=relay_id, action=action, network=network, post_id=form.get("post", ""))
    except RelayError as error:
        return _error(error, lang)
    return _redirect(f"{_base()}/relay?t={form['t']}")


@app.route("/relay/share", methods=["GET"])
def relay_share():
    """A share-link proposal's link: record the click (once, under the cap), then open the network's own page."""
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        query = _query()
        store = Store(settings.table_name)
        relay_id = relay_from_token(store, settings, config, query.get("t", ""))
        lang = _lang(config, next((g.get("lang") for g in store.relay_items(relay_id, "GRANT#")), None))
        where = share_link.share(store, config, relay_id, query.get("network", ""), query.get("post", ""))
    except RelayError as error:
        return _error(error, lang)
    metrics.add_metric(name="SharesOpened", unit="Count", value=1)
    return _redirect(where)


@app.route("/email/confirm", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def email_confirmation():
    """GET shows a button, POST confirms: a mail scanner that follows the link confirms nothing."""
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        if app.current_request.method == "GET":
            token = _query().get("c", "")
            data = email_to_confirm(settings, config, token)
            return _page("confirm_email.html", lang, here="/email/confirm", confirm_token=token, email=data["email"])
        store = Store(settings.table_name)
        relay_id = confirm_email(store, settings, config, _form().get("c", ""), base_url=_base())
    except RelayError as error:
        return _error(error, lang)
    return _redirect(dashboard_url(store, settings, relay_id, _base()))


@app.route("/proposal/{action}", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def proposal_link(action):
    """A digest's Approve or Skip link: GET shows the exact post and a button, POST decides (once)."""
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        posted = _form() if app.current_request.method == "POST" else {}
        lang = _lang(config, posted.get("lang"))
        token = posted.get("p", "") if app.current_request.method == "POST" else _query().get("p", "")
        claims = digest.link_claims(settings, token, action)
        store = Store(settings.table_name)
        lang = _lang(config, posted.get("lang"), digest.relay_language(store, config, claims))
        if app.current_request.method == "GET":
            proposal = digest.open_proposal(store, config, claims)
            return _page("proposal.html", lang, here=f"/proposal/{action}", p=proposal, action=claims.action, link_token=token,
                         dashboard_token=dashboard_token(store, settings, claims.relay_id))
        digest.decide(store, settings, config, claims)
    except RelayError as error:
        return _error(error, lang)
    return _redirect(dashboard_url(store, settings, claims.relay_id, _base()))


@app.route("/moderate", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def moderate():
    """The moderator's page: the round's picks with their scores and reasons, approve or reject each."""
    settings = Settings.from_env()
    config = settings.event()
    lang = _safe_lang(settings)
    try:
        if not config.moderation:
            raise RelayError("Not found", 404)
        store = Store(settings.table_name)
        if app.current_request.method == "GET":
            token = _query().get("t", "")
            round_id = moderation.round_from_token(settings, config, token)
            return _page("moderate.html", lang, here="/moderate", token=token, round=moderation.view(store, round_id))
        form = _form(max_fields=60)
        token = form.pop("t", "")
        round_id = moderation.round_from_token(settings, config, token)
        decisions = {k.removeprefix("pick-"): v for k, v in form.items() if k.startswith("pick-")}
        moderation.decide(store, round_id, decisions)
    except RelayError as error:
        return _error(error, lang)
    return _redirect(f"{_base()}/moderate?t={token}")
