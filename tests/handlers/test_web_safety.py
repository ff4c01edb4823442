"""The hosted app's web safety: cross-site writes refused, links from the configured URL only, security headers on
every answer."""

import html
import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from chalice.test import Client

from handler_support import FORM, Browser, load_function, relay_of, sent_mail, table_snapshot


@pytest.fixture
def oauth(stack_env):
    return load_function("oauth", "app")


@pytest.fixture
def client(oauth):
    with Client(oauth.app) as test_client:
        yield test_client


def post_routes(app):
    return sorted(path for path, methods in app.routes.items() if "POST" in methods)


def assert_secured(answer):
    headers = {k.lower(): v for k, v in answer.headers.items()}
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"].startswith("max-age=") and headers["referrer-policy"] == "no-referrer"


def concrete(path):
    return path.replace("{network}", "x").replace("{action}", "revoke")


# --- 1. cross-site writes -------------------------------------------------------------------------------------

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling sub-domain is another site's page all the same
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://localhost"},  # fetch metadata decides when it is sent
    {"Origin": "https://evil.example"},
    {"Origin": "http://localhost"},  # another scheme is another origin
    {"Origin": "null"},  # a sandboxed frame or a data: page
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "+".join(f"{k}={v}" for k, v in h.items()))
def test_every_state_changing_route_refuses_a_cross_site_request_and_stores_nothing(oauth, client, store, x_sandbox, headers):
    browser = Browser(client, x_sandbox)
    token = browser.connect("relay_cross")
    before = table_snapshot(store)
    routes = post_routes(oauth.app)
    assert {"/connect/{network}", "/relay/{action}", "/email/confirm", "/proposal/{action}", "/moderate"} <= set(routes)
    for path in routes:
        answer = client.http.post(concrete(path), body=f"t={token}&network=x&email=a%40example.net",
                                  headers={**FORM, **headers})
        assert answer.status_code == 403, (path, answer.body[:200])
        assert "came from another site" in answer.body.decode() and answer.headers["Content-Type"].startswith("text/html")
        assert_secured(answer)
    assert table_snapshot(store) == before
    assert len(x_sandbox.active_grants("relay_cross")) == 1  # the revoke never ran
    # The same revoke from the page itself goes through.
    same = client.http.post("/relay/revoke", body=f"t={token}&network=x",
                            headers={**FORM, "Sec-Fetch-Site": "same-origin", "Origin": "https://localhost"})
    assert same.status_code == 303 and x_sandbox.active_grants("relay_cross") == []


def test_the_refusal_speaks_the_relays_language(client):
    answer = client.http.post("/connect/x", body="email=", headers={**FORM, "Origin": "https://evil.example", "Accept-Language": "fr"})
    assert answer.status_code == 403 and "Cette requête vient d'un autre site" in html.unescape(answer.body.decode())


@pytest.mark.parametrize("headers", [
    {},  # no browser: a script, the demo's simulated relays
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "https://localhost"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://localhost"},
], ids=lambda h: "+".join(f"{k}={v}" for k, v in h.items()) or "no-headers")
def test_same_origin_and_non_browser_posts_pass(client, store, headers):
    answer = client.http.post("/connect/x", body="email=", headers={**FORM, **headers})
    assert answer.status_code == 302
    assert [i["kind"] for i in store.table.scan()["Items"]] == ["state"]


def test_reads_are_not_refused_for_coming_from_elsewhere(client):
    """A link in a mail or on another site opens the page (GET); only writes are refused."""
    answer = client.http.get("/", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 200


# --- 2. public URLs from the configured hosted-page URL --------------------------------------------------------

def test_a_forged_host_never_reaches_a_redirect_uri_or_a_mailed_link(client, store, x_sandbox, monkeypatch):
    # Another host than the test client's own `localhost` (and one the sandbox X accepts as a redirect URI).
    monkeypatch.setenv("HOSTED_PAGE_URL", "https://127.0.0.1:8443/live/")
    forged = {"Host": "evil.example", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}
    browser = Browser(client, x_sandbox)
    started = client.http.post("/connect/x", body="email=host%40example.net", headers={**FORM, **forged})
    assert started.status_code == 302
    redirect_uri = parse_qs(urlsplit(started.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == "https://127.0.0.1:8443/live/callback/x"
    browser._keep(started)
    callback = browser.consent(started.headers["Location"], "relay_host")
    assert callback.startswith("/callback/x?")
    landed = client.http.get(callback, headers={**forged, "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())})
    assert landed.status_code == 303 and landed.headers["Location"].startswith("https://127.0.0.1:8443/live/relay?t=")
    (mail,) = sent_mail("host@example.net", "confirm")
    assert "https://127.0.0.1:8443/live/email/confirm?c=" in mail.body and "evil.example" not in mail.body
    token = landed.headers["Location"].split("t=", 1)[1]
    page = client.http.get(f"/relay?t={token}", headers=forged).body.decode()
    assert 'action="https://127.0.0.1:8443/live/relay/revoke"' in page and "evil.example" not in page
    cookie = landed.headers["Set-Cookie"]
    assert "Path=/live" in cookie and "Secure" in cookie


def test_the_origin_check_follows_the_configured_url(client, monkeypatch):
    monkeypatch.setenv("HOSTED_PAGE_URL", "https://relay.example/live/")
    assert client.http.post("/connect/x", body="", headers={**FORM, "Origin": "https://relay.example"}).status_code == 302
    assert client.http.post("/connect/x", body="", headers={**FORM, "Origin": "https://localhost"}).status_code == 403


# --- 3. security headers on every answer ----------------------------------------------------------------------

def test_health_carries_the_security_headers(client):
    answer = client.http.get("/health")
    assert answer.status_code == 200 and json.loads(answer.body) == {"ok": True}
    assert_secured(answer)


def test_an_unknown_route_gets_a_404_page_with_the_security_headers(oauth, stack_env):
    event = {
        "resource": "/nowhere", "path": "/nowhere", "httpMethod": "GET", "headers": {"Accept-Language": "fr"},
        "multiValueHeaders": {"Accept-Language": ["fr"]}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/nowhere", "httpMethod": "GET", "path": "/live/nowhere", "stage": "live"},
        "body": None, "isBase64Encoded": False,
    }
    answer = oauth.app(event, None)
    assert answer["statusCode"] == 404 and "Il n'y a pas de page à cette adresse." in html.unescape(answer["body"])
    assert_secured(type("Answer", (), {"headers": answer["headers"]}))
    no_route = oauth.app({**event, "requestContext": {"httpMethod": "GET"}}, None)  # not even a resource path
    assert no_route["statusCode"] == 404
    assert_secured(type("Answer", (), {"headers": no_route["headers"]}))


def test_a_wrong_method_gets_a_405_page_with_the_security_headers(client):
    answer = client.http.put("/health", body="")
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET"
    assert "This page cannot be used this way." in answer.body.decode()
    assert_secured(answer)


def test_an_unhandled_error_gets_a_500_page_with_the_security_headers_and_no_trace(oauth, client, store, x_sandbox, monkeypatch):
    token = Browser(client, x_sandbox).connect("relay_boom")

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(oauth, "dashboard", boom)
    answer = client.http.get(f"/relay?t={token}")
    assert answer.status_code == 500
    body = answer.body.decode()
    assert "Something went wrong" in body and "secret detail" not in body and "Traceback" not in body
    assert_secured(answer)

