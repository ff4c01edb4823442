"""The hosted app's HTTP glue: one `Visit` per request (settings, event, language, bounded input), the answers it
gives (pages, redirects, cookies), and the page each kind of refusal gets."""

from __future__ import annotations

import functools
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from chalice import Blueprint, Response
from chalice.app import Request

from relaycast import errors, pages
from relaycast.config import EventConfig
from relaycast.errors import RelayError, TooLarge
from relaycast.i18n import translate
from relaycast.observability import logger
from relaycast.relays import LinkReplaced, preferred_language
from relaycast.settings import Settings
from relaycast.storage import Store

FORM = ["application/x-www-form-urlencoded"]
# A browser's GET carries no content type, which Chalice reads as JSON.
FORM_OR_LINK = [*FORM, "application/json"]
MAX_FORM = 2048
MAX_QUERY = 2048
BINDING_COOKIE = "relaycast_connect"
LANG_COOKIE = "relaycast_lang"

# The one place a refusal becomes an HTTP status; a refusal of no narrower kind is a bad request.
STATUS = {RelayError: 400, errors.InvalidRequest: 400, errors.Forbidden: 403, errors.NotFound: 404, errors.Conflict: 409,
          errors.Expired: 410, errors.TooLarge: 413, errors.RateLimited: 429, errors.UpstreamFailed: 502,
          errors.Unavailable: 503}
TITLES = {400: "This request cannot be used", 403: "Not allowed", 404: "Not found", 405: "Not allowed here",
          409: "Already decided", 410: "Expired", 413: "Too large", 415: "This request cannot be used", 429: "Too many requests"}
# Answers no view wrote (an unknown route, a wrong method or content type, an unhandled error).
MESSAGES = {404: "There is no page at this address.", 405: "This page cannot be used this way.",
            415: "This request cannot be used."}
FAILED = "Something went wrong. Please try again in a minute."


def base_url() -> str:
    """The hosted page's public base URL, as configured (HOSTED_PAGE_URL): never from the request's Host or
    X-Forwarded-* headers, which the client chooses."""
    url = Settings.from_env().hosted_page_url
    if not url:
        raise RuntimeError("HOSTED_PAGE_URL is not set")
    return url.rstrip("/")


def cookie(name: str, value: str, max_age: int) -> str:
    """HttpOnly and SameSite=Lax always; Secure whenever the page is served over https (always, once deployed)."""
    secure = "; Secure" if base_url().startswith("https://") else ""
    path = urlsplit(base_url()).path or "/"
    return f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8", **(headers or {})})


def redirect(location: str, status: int = 303, cookie: str | None = None) -> Response:
    headers = {"Location": location}
    if cookie:
        headers["Set-Cookie"] = cookie
    return Response(body="", status_code=status, headers=headers)


def _params(request: Request | None) -> dict[str, str]:
    return dict((request.query_params if request is not None else None) or {})


def _cookies(request: Request | None) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    if request is None:
        return {}
    try:
        jar.load(request.headers.get("cookie", "")[:4096])
    except CookieError:
        return {}
    return {k: v.value for k, v in jar.items()}


def language(request: Request | None, config: EventConfig, *asked: str | None) -> str:
    """The page's language: the `lang` of the address, then what the caller knows, then the remembered switch,
    then the browser's order."""
    return preferred_language(
        config, _params(request).get("lang"), *asked, _cookies(request).get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language") if request is not None else None,
    )


def _safe_language(request: Request | None, settings: Settings) -> str:
    try:
        return language(request, settings.event())
    except Exception:  # noqa: BLE001 — an error page must render even when the request is odd
        return "en"


def page(request: Request | None, template: str, lang: str, status: int = 200, here: str = "/", **context: Any) -> Response:
    body = pages.page(template, lang, config=Settings.from_env().event(), base=base_url(), query=_params(request), here=here,
                      **context)
    # An explicit switch is remembered for the next pages of this browser.
    remember = {"Set-Cookie": cookie(LANG_COOKIE, lang, 31536000)} if _params(request).get("lang") == lang else None
    return html(body, status, remember)


def status_of(error: RelayError) -> int:
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def refusal_page(request: Request | None, error: RelayError, lang: str) -> Response:
    """The page of a refusal: its type's status and title, its message in the relay's language."""
    status = status_of(error)
    if isinstance(error, LinkReplaced):  # the relay may ask for their current link from here
        return page(request, "link_replaced.html", lang, status, title=translate(lang, "This link was replaced"),
                    message=error.in_language(lang), old_token=error.token)
    title = translate(lang, "No more places" if isinstance(error, errors.CapacityReached) else TITLES.get(status, "Something went wrong"))
    answer = page(request, "error.html", lang, status, title=title, message=error.in_language(lang))
    if isinstance(error, errors.RateLimited):
        answer.headers["Retry-After"] = str(error.retry_after)
    return answer


def failure(request: Request | None, status: int, error: RelayError | None = None, headers: dict | None = None) -> Response:
    """An error page for an answer no view wrote (unknown route, wrong method, an unhandled error); a bare page
    when even the event's settings cannot be read."""
    try:
        lang = _safe_language(request, Settings.from_env())
        if error is not None:
            response = refusal_page(request, error, lang)
        else:
            title = translate(lang, TITLES.get(status, "Something went wrong"))
            response = page(request, "error.html", lang, status, title=title, message=translate(lang, MESSAGES.get(status, FAILED)))
    except Exception:  # noqa: BLE001 — the error page of last resort names nothing of the event
        logger.exception("error page not rendered")
        response = html(f"<!doctype html><title>relaycast</title><p>{translate('en', TITLES.get(status, 'Something went wrong'))}</p>",
                        status)
    response.headers.update(headers or {})
    return response


class Visit:
    """One request to a view: the function's settings, the event, and the language the answer speaks, which the
    view refines as it learns whose request it is (the form's choice, the relay's own language)."""

    def __init__(self, request: Request):
        self.request = request
        self.settings = Settings.from_env()
        self.config = self.settings.event()
        self.lang = _safe_language(request, self.settings)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.table_name)

    @property
    def base(self) -> str:
        return base_url()

    @property
    def client_ip(self) -> str | None:
        """The address API Gateway saw the request come from (never a header the client chooses)."""
        return ((self.request.context or {}).get("identity") or {}).get("sourceIp")

    @property
    def posted(self) -> bool:
        return self.request.method == "POST"

    @property
    def params(self) -> dict[str, str]:
        """The query as it came, for what only shapes the page (a notice to show)."""
        return _params(self.request)

    def query(self) -> dict[str, str]:
        """The query a view acts on: refused when larger than any link of this app."""
        params = _params(self.request)
        if len(urlencode(params)) > MAX_QUERY:
            raise TooLarge("The request is too large.")
        return params

    def form(self, max_fields: int = 10) -> dict[str, str]:
        raw = self.request.raw_body or b""
        if len(raw) > MAX_FORM:
            raise TooLarge("The form is too large.")
        try:
            fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=max_fields)
        except ValueError:  # more fields than any form of this app has
            raise TooLarge("The form is too large.") from None
        return {k: v[0] for k, v in fields.items()}

    def cookie(self, name: str) -> str | None:
        return _cookies(self.request).get(name)

    def speak(self, *asked: str | None) -> str:
        """Answer from here on in the first of `asked` the event offers (else as the request prefers)."""
        self.lang = language(self.request, self.config, *asked)
        return self.lang

    def page(self, template: str, status: int = 200, here: str = "/", **context: Any) -> Response:
        return page(self.request, template, self.lang, status, here, **context)

    def to_dashboard(self, token: str, cookie: str | None = None) -> Response:
        return redirect(f"{self.base}/relay?t={token}", cookie=cookie)


def route(blueprint: Blueprint, path: str, **options: Any):
    """`blueprint.route` for a page of the hosted app: the view is given the request's `Visit`, and a refusal it
    raises is answered with that refusal's page, in the language the visit speaks by then."""

    def register(view):
        @functools.wraps(view)
        def answer(**params: str) -> Response:
            visit = Visit(blueprint.current_request)
            try:
                return view(visit, **params)
            except RelayError as error:
                return refusal_page(visit.request, error, visit.lang)

        blueprint.route(path, **options)(answer)
        return view

    return register
