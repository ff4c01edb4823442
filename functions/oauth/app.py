"""oauth: the hosted page, connect/callback per network, and the relay dashboard (Chalice app behind API Gateway)."""

from urllib.parse import parse_qs

from chalice import Chalice, Response

from relaycast import pages
from relaycast.networks import x_network
from relaycast.observability import bind_service, logger, metrics
from relaycast.relays import (
    RelayError,
    dashboard,
    decide,
    finish_connect,
    preferred_language,
    relay_from_token,
    revoke_now,
    start_connect,
)
from relaycast.settings import Settings
from relaycast.storage import Store

app = Chalice(app_name="relaycast-oauth")
FORM = ["application/x-www-form-urlencoded"]
# A browser's GET carries no content type, which Chalice reads as JSON.
FORM_OR_LINK = [*FORM, "application/json"]
MAX_FORM = 2048

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self' https://x.com https://twitter.com http://127.0.0.1:*"
    ),
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@app.middleware("http")
def observed(event, get_response):
    bind_service()
    response = get_response(event)
    if metrics.metric_set:  # one EMF line per request that counted something
        metrics.flush_metrics()
    return response


def _base() -> str:
    """The public base URL of this API as the browser sees it (scheme, host, stage)."""
    request = app.current_request
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", "https")
    host = headers.get("host", request.context.get("domainName", "localhost"))
    stage = request.context.get("stage", "")
    path = request.context.get("path", "")
    on_stage_path = bool(stage) and (path == f"/{stage}" or path.startswith(f"/{stage}/"))
    prefix = f"/{stage}" if on_stage_path else ""
    return f"{scheme}://{host}{prefix}"


def _html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(headers or {})}
    )


def _page(template: str, status: int = 200, **context) -> Response:
    settings = Settings.from_env()
    config = settings.event()
    return _html(
        pages.render(
            template,
            config=config,
            base=_base(),
            access_ends=config.access_ends.astimezone(config.start.tzinfo).strftime("%d %b %Y %H:%M %Z"),
            **context,
        ),
        status,
    )


def _error(error: RelayError) -> Response:
    titles = {400: "This request cannot be used", 403: "Not allowed", 404: "Not found", 409: "Already decided", 413: "Too large"}
    return _page("error.html", error.status, title=titles.get(error.status, "Something went wrong"), message=str(error))


def _form() -> dict[str, str]:
    raw = app.current_request.raw_body or b""
    if len(raw) > MAX_FORM:
        raise RelayError("The form is too large.", 413)
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10)
    return {k: v[0] for k, v in fields.items()}


def _query() -> dict[str, str]:
    return dict(app.current_request.query_params or {})


@app.route("/", methods=["GET"])
def index():
    return _page("index.html")


@app.route("/health", methods=["GET"])
def health():
    return {"ok": True}


@app.route("/connect/{network}", methods=["GET", "POST"], content_types=FORM_OR_LINK)
def connect(network):
    settings = Settings.from_env()
    try:
        form = _form() if app.current_request.method == "POST" else {}
        lang = preferred_language(settings.event(), form.get("lang"), app.current_request.headers.get("accept-language"))
        url = start_connect(
            Store(settings.table_name),
            x_network(settings),
            network=network,
            email=form.get("email"),
            redirect_uri=f"{_base()}/callback/{network}",
            lang=lang,
        )
    except RelayError as error:
        return _error(error)
    return Response(body="", status_code=302, headers={"Location": url, **SECURITY_HEADERS})


@app.route("/callback/{network}", methods=["GET"])
def callback(network):
    settings = Settings.from_env()
    try:
        connected = finish_connect(
            Store(settings.table_name),
            settings,
            settings.event(),
            x_network(settings),
            network=network,
            params=_query(),
            redirect_uri=f"{_base()}/callback/{network}",
        )
    except RelayError as error:
        logger.info("connect refused", extra={"status": error.status, "network": network[:20]})
        return _error(error)
    metrics.add_metric(name="RelaysConnected", unit="Count", value=1)
    return Response(
        body="", status_code=303, headers={"Location": f"{_base()}/relay?t={connected.dashboard_token}", **SECURITY_HEADERS}
    )


@app.route("/relay", methods=["GET"])
def relay_dashboard():
    settings = Settings.from_env()
    token = _query().get("t", "")
    try:
        relay_id = relay_from_token(settings, settings.event(), token)
        view = dashboard(Store(settings.table_name), relay_id)
    except RelayError as error:
        return _error(error)
    return _page("dashboard.html", token=token, **view)


@app.route("/relay/{action}", methods=["POST"], content_types=FORM)
def relay_action(action):
    settings = Settings.from_env()
    try:
        form = _form()
        relay_id = relay_from_token(settings, settings.event(), form.get("t", ""))
        if action == "revoke":
            revoke_now(Store(settings.table_name), settings, settings.event(), x_network(settings), relay_id)
        else:
            decide(Store(settings.table_name), settings, relay_id=relay_id, action=action, post_id=form.get("post", ""))
    except RelayError as error:
        return _error(error)
    return Response(body="", status_code=303, headers={"Location": f"{_base()}/relay?t={form['t']}", **SECURITY_HEADERS})
