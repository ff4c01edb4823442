"""What every request to the hosted app goes through: unknown routes and cross-site writes are refused before any
view runs, answers no view wrote become pages, and every response carries the security headers and the CSP."""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from chalice import Chalice, Response

from chalicelib import web
from relaycast.errors import Forbidden
from relaycast.observability import bind_service, logger, metrics

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Methods that change something: refused when a browser says another site sent them.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})  # `none`: the relay's own navigation (typed, bookmarked)


def csp() -> str:
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


def guarding(app: Chalice):
    """The app's http middleware."""

    def guarded(event, get_response):
        bind_service()
        try:
            response = _dispatch(app, event, get_response)
        except Exception:  # noqa: BLE001 — whatever failed, the answer is a page with the headers
            logger.exception("unhandled error")
            response = web.failure(event, 500)
        response.headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp(), **(response.headers or {})}
        if metrics.metric_set:  # one EMF line per request that counted something
            metrics.flush_metrics()
        return response

    return guarded


def _dispatch(app: Chalice, request, get_response) -> Response:
    if request is None or request.context.get("resourcePath") not in app.routes:
        return web.failure(request, 404)
    if request.method in STATE_CHANGING and is_cross_site(request.headers, web.base_url()):
        logger.info("cross-site request refused", extra={"path": request.context.get("resourcePath"),
                                                          "site": (request.headers.get("sec-fetch-site") or "")[:20]})
        metrics.add_metric(name="CrossSiteRefused", unit="Count", value=1)
        return web.failure(request, 403, Forbidden("This request came from another site: nothing was done. "
                                                   "Open the event page and try again from there."))
    response = get_response(request)
    content_type = {k.lower(): v for k, v in (response.headers or {}).items()}.get("content-type", "")
    if response.status_code >= 400 and not content_type.startswith("text/html"):
        # Chalice's own answers (405, 415, an error a view did not catch): the relay gets a page.
        kept = {k: v for k, v in (response.headers or {}).items() if k.lower() == "allow"}
        return web.failure(request, response.status_code, headers=kept)
    return response
