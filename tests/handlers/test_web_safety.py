"""The hosted app's web safety: cross-site writes refused, links from the configured URL only, security headers on
every answer, https-only links from post data, rotating dashboard links, and confirming a network linked to a
dashboard."""

import html
import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from chalice.test import Client

from handler_support import FORM, Browser, load_function, relay_of, sent_mail, table_snapshot

from relaycast import relays


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


def test_an_unhandled_error_gets_a_500_page_with_the_security_headers_and_no_trace(client, store, x_sandbox, monkeypatch):
    token = Browser(client, x_sandbox).connect("relay_boom")

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(relays, "dashboard", boom)
    answer = client.http.get(f"/relay?t={token}")
    assert answer.status_code == 500
    body = answer.body.decode()
    assert "Something went wrong" in body and "secret detail" not in body and "Traceback" not in body
    assert_secured(answer)


# --- 4. links from post data are https only -------------------------------------------------------------------

HOSTILE_URLS = ["javascript:alert(document.domain)", "http://insecure.example/status/1", "JavaScript:alert(1)",
                "data:text/html,<b>x</b>", "//evil.example/status/1", "https://ok.example/a\"onmouseover=alert(1)"]


def put_proposal(store, relay_id, post_id, url, status="pending"):
    from relaycast.settings import Settings

    store.put_new({"pk": f"RELAY#{relay_id}", "sk": f"PROPOSAL#x#{post_id}", "kind": "proposal", "relay_id": relay_id,
                   "network": "x", "post_id": post_id, "status": status, "author": "amina_data", "text": "An insight",
                   "score": 5, "reasons": ["expert:2"], "url": url,
                   "proposal_expires_at": Settings.from_env().event().retention_ends})


def hrefs(page):
    return re.findall(r'href="([^"]*)"', page)


def test_the_https_filter_keeps_https_addresses_only():
    from relaycast.pages import https_link, https_url

    assert https_url("https://x.com/amina_data/status/1") == "https://x.com/amina_data/status/1"
    for url in [*HOSTILE_URLS, "", None, "https://", "mailto:a@example.net"]:
        assert https_url(url) is None, url
    assert str(https_link("javascript:alert(1)", "original post")) == "original post"
    assert str(https_link("http://a.example/<b>")) == "http://a.example/&lt;b&gt;"  # text, escaped, no link
    assert str(https_link("https://a.example/s/1", "post")) == '<a href="https://a.example/s/1">post</a>'


def test_the_dashboard_links_post_urls_only_when_they_are_https(client, store, x_sandbox):
    token = Browser(client, x_sandbox).connect("relay_links")
    relay_id = relay_of(token)
    put_proposal(store, relay_id, "1001", "https://x.com/amina_data/status/1001")
    for i, url in enumerate(HOSTILE_URLS):
        put_proposal(store, relay_id, str(1100 + i), url)
    store.put_new({"pk": f"RELAY#{relay_id}", "sk": "LEDGER#x#1200", "kind": "ledger", "relay_id": relay_id, "network": "x",
                   "post_id": "1200", "status": "shared", "link": "javascript:alert(2)", "finished_at": "2026-12-01T10:00:00+00:00"})
    page = client.http.get(f"/relay?t={token}").body.decode()
    links = hrefs(page)
    assert "https://x.com/amina_data/status/1001" in links
    assert all(not h.lower().startswith(("javascript:", "http:", "data:", "//")) for h in links), links
    assert "onmouseover" not in "".join(links)
    assert page.count("original post") == 1 + len(HOSTILE_URLS)  # the label stays, as text


def test_the_proposal_page_and_the_digest_never_link_a_javascript_or_http_url(client, store, x_sandbox):
    from relaycast import digest, pages
    from relaycast.settings import Settings

    settings = Settings.from_env()
    token = Browser(client, x_sandbox).connect("relay_dlinks")
    relay_id = relay_of(token)
    for post_id, url in (("1101", "javascript:alert(1)"), ("1102", "http://insecure.example/s/1")):
        put_proposal(store, relay_id, post_id, url)
        proposal = store.get(f"RELAY#{relay_id}", f"PROPOSAL#x#{post_id}")
        page = client.http.get(f"/proposal/approve?p={digest.link_token(settings, proposal, 'approve')}").body.decode()
        assert "original post" in page and url not in hrefs(html.unescape(page)) and not any(h.startswith(("javascript", "http:")) for h in hrefs(page))
    text = pages.render("digest_email.txt", "en", config=settings.event(), until="x", dashboard="https://localhost/relay",
                        entries=[{"author": "a", "score": 1, "reasons": ["figure"], "text": "t", "url": "javascript:alert(1)",
                                  "approve": "https://localhost/a", "skip": "https://localhost/s"}])
    assert "javascript:" not in text and "Original post: —" in text


def test_the_moderation_page_never_links_a_javascript_or_http_url(stack_env):
    from relaycast import pages
    from relaycast.settings import Settings

    picks = [{"post_id": "1", "author": "a", "score": 1, "reasons": ["figure"], "text": "t", "url": "javascript:alert(1)"},
             {"post_id": "2", "author": "b", "score": 1, "reasons": ["figure"], "text": "t", "url": "http://insecure.example/2"},
             {"post_id": "3", "author": "c", "score": 1, "reasons": ["figure"], "text": "t", "url": "https://x.com/c/status/3"}]
    page = pages.render("moderate.html", "en", config=Settings.from_env().event(), base="https://localhost", switches=[],
                        token="t", local_time_epoch=lambda e: "", round={"round": "r", "deadline": 0, "status": "waiting", "picks": picks})
    assert hrefs(page) == ["https://x.com/c/status/3"] and page.count("original post") == 3


# --- 5. dashboard links carry the relay's link generation ---------------------------------------------------------

def test_a_new_link_refuses_every_older_one_and_is_mailed_to_the_confirmed_address(client, store, x_sandbox, frozen_clock):
    from relaycast.settings import Settings

    browser = Browser(client, x_sandbox)
    old = browser.connect("relay_rotate", body="email=rotate%40example.net")
    relay_id = relay_of(old)
    from handler_support import confirm_address
    confirm_address(store, Settings.from_env(), "rotate@example.net")
    other = Browser(client, x_sandbox).connect("relay_bystand")
    assert browser.get(f"/relay?t={old}").status_code == 200
    assert 'action="https://localhost/relay/newlink"' in browser.get(f"/relay?t={old}").body.decode()

    rotated = browser.post("/relay/newlink", f"t={old}")
    assert rotated.status_code == 303
    new = parse_qs(urlsplit(rotated.headers["Location"]).query)["t"][0]
    assert new != old and relay_of(new) == relay_id
    landed = html.unescape(browser.get(f"/relay?t={new}&link=new").body.decode())
    assert "This is your new dashboard link" in landed and "It was also sent to rotate@example.net." in landed
    (mail,) = sent_mail("rotate@example.net", "new dashboard link")
    assert unquote(re.search(r"/relay\?t=(\S+)", mail.body).group(1)) == new

    refused = browser.get(f"/relay?t={old}")
    assert refused.status_code == 410
    page = html.unescape(refused.body.decode())
    assert "replaced by a newer one" in page and 'action="https://localhost/relay/resend"' in page
    before = table_snapshot(store)
    for action in ("revoke", "pause", "newlink", "email"):  # an old link acts on nothing either
        answer = browser.post(f"/relay/{action}", f"t={old}&network=x&email=thief%40example.net")
        assert answer.status_code == 410, action
    assert table_snapshot(store) == before and len(x_sandbox.active_grants("relay_rotate")) == 1
    # A second rotation (once the address may get mail again) refuses the first new link too; another relay's link
    # is untouched by any of it.
    frozen_clock.advance(minutes=5)
    newer = parse_qs(urlsplit(browser.post("/relay/newlink", f"t={new}").headers["Location"]).query)["t"][0]
    assert browser.get(f"/relay?t={new}").status_code == 410 and browser.get(f"/relay?t={newer}").status_code == 200
    assert browser.get(f"/relay?t={other}").status_code == 200 and relay_of(other) != relay_id


def test_a_replaced_link_asks_for_the_current_one_by_mail_only_and_once(client, store, x_sandbox):
    from relaycast.settings import Settings
    from handler_support import confirm_address

    browser = Browser(client, x_sandbox)
    old = browser.connect("relay_resend", body="email=resend%40example.net")
    confirm_address(store, Settings.from_env(), "resend@example.net")
    rotated = browser.post("/relay/newlink", f"t={old}")
    current = parse_qs(urlsplit(rotated.headers["Location"]).query)["t"][0]
    mailed = len(sent_mail("resend@example.net", "new dashboard link"))
    asked = browser.post("/relay/resend", f"t={old}")
    assert asked.status_code == 200 and current not in asked.body.decode()  # never shown to whoever holds the old link
    mails = sent_mail("resend@example.net", "new dashboard link")
    assert len(mails) == mailed + 1
    sent = unquote(re.search(r"/relay\?t=(\S+)", mails[-1].body).group(1))  # signed anew: its own timestamp
    assert relay_of(sent) == relay_of(current) and browser.get(f"/relay?t={sent}").status_code == 200
    assert browser.post("/relay/resend", f"t={old}").status_code == 200
    assert len(sent_mail("resend@example.net", "new dashboard link")) == mailed + 1  # once per generation
    assert browser.post("/relay/resend", "t=forged").status_code == 403


def test_a_link_speaks_for_its_own_relay_and_generation_only(client, store, x_sandbox):
    from itsdangerous import URLSafeTimedSerializer

    from relaycast import relays
    from relaycast.settings import Settings

    settings = Settings.from_env()
    a = Browser(client, x_sandbox).connect("relay_gen_a")
    b = Browser(client, x_sandbox).connect("relay_gen_b")
    relay_a, relay_b = relay_of(a), relay_of(b)
    store.next_link_generation(relay_a, settings.event().retention_ends)
    sign = URLSafeTimedSerializer(settings.secret().signing_key, salt="relay-dashboard").dumps
    # b's generation (0) is not a's any more; a link without a generation, or with another type, is not valid.
    assert client.http.get(f"/relay?t={sign({'relay': relay_a, 'gen': 0})}").status_code == 410
    assert client.http.get(f"/relay?t={sign({'relay': relay_a})}").status_code == 403
    assert client.http.get(f"/relay?t={sign({'relay': relay_a, 'gen': '1'})}").status_code == 403
    assert client.http.get(f"/relay?t={sign({'relay': relay_a, 'gen': True})}").status_code == 403
    assert relays.relay_from_token(store, settings, settings.event(), sign({"relay": relay_a, "gen": 1})) == relay_a
    assert relay_of(b) == relay_b
    page = client.http.get(f"/relay?t={b}").body.decode()
    assert "@relay_gen_b" in page and "@relay_gen_a" not in page


# --- 6. an account joins an existing dashboard only when the relay confirms -------------------------------------

def mastodon_dashboard(store):
    """A relay whose dashboard holds a Mastodon grant (and no X one): returns (relay id, dashboard link)."""
    from relaycast import relays
    from relaycast.settings import Settings

    relay_id = relays.new_relay_id()
    store.save_grant({"relay_id": relay_id, "network": "mastodon", "user_id": "42", "username": "owner", "mode": "auto",
                      "cap": 3, "status": "active", "lang": "en", "instance": "mastodon.sandbox"})
    return relay_id, relays.dashboard_token(store, Settings.from_env(), relay_id)


def waiting_confirmations(store):
    return [i for i in store.table.scan()["Items"] if i["kind"] == "confirmation"]


def test_linking_a_new_network_to_a_dashboard_waits_for_the_relays_confirmation(client, store, x_sandbox, frozen_clock):
    from relaycast import relays

    relay_id, token = mastodon_dashboard(store)
    browser = Browser(client, x_sandbox)
    asked = browser.get(browser.consent(browser.start(body=f"t={token}"), "relay_joins"))
    page = html.unescape(asked.body.decode())
    assert asked.status_code == 200 and "Link @relay_joins on X to your relaycast dashboard?" in page
    assert 'action="https://localhost/callback/x"' in page and "Set-Cookie" not in asked.headers  # the binding stays
    # Nothing is linked yet: no grant, no identity mapping; the tokens wait in custody, adopted by no grant.
    assert store.grant(relay_id, "x") is None
    (waiting,) = waiting_confirmations(store)
    assert store.identity_relay("x", None, waiting["user_id"]) is None
    custody = store.custody(waiting["grant_id"])
    assert int(custody["expires_at"]) <= frozen_clock.at.timestamp() + relays.CONFIRM_SECONDS + relays.CONFIRM_GRACE_SECONDS
    assert waiting["grant_id"] in {c["grant_id"] for c in store.unadopted_custodies()}

    landed = browser.answer_link(asked)
    assert landed.status_code == 303 and relay_of(landed.headers["Location"].split("t=", 1)[1]) == relay_id
    grant = store.grant(relay_id, "x")
    assert grant["username"] == "relay_joins" and grant["grant_id"] == waiting["grant_id"]
    assert "expires_at" not in store.custody(grant["grant_id"])  # adopted: it ends with the grant
    assert store.identity_relay("x", None, grant["user_id"]) == relay_id and waiting_confirmations(store) == []
    assert browser.answer_link(asked).status_code == 400  # answered once only
    # Back from the same dashboard with the same account: it is the relay's already, no question asked.
    assert relay_of(browser.connect("relay_joins", body=f"t={token}")) == relay_id


def test_declining_ends_the_tokens_at_once_and_links_nothing(client, store, x_sandbox):
    relay_id, token = mastodon_dashboard(store)
    browser = Browser(client, x_sandbox)
    asked = browser.get(browser.consent(browser.start(body=f"t={token}"), "relay_declines"))
    (waiting,) = waiting_confirmations(store)
    assert len(x_sandbox.active_grants("relay_declines")) == 1
    declined = browser.answer_link(asked, decision="decline")
    assert declined.status_code == 200 and "Nothing was linked" in declined.body.decode()
    assert x_sandbox.active_grants("relay_declines") == []  # revoked at X through the ending path
    assert store.custody(waiting["grant_id"]) is None and store.grant(relay_id, "x") is None
    assert store.identity_relay("x", None, waiting["user_id"]) is None and waiting_confirmations(store) == []
    # The account is free: its owner's own first connect makes a dashboard of their own, without a question.
    own = relay_of(Browser(client, x_sandbox).connect("relay_declines"))
    assert own != relay_id


def test_a_hostile_page_cannot_link_the_victims_account_to_its_dashboard(client, store, x_sandbox, frozen_clock):
    from relaycast import expire, relays
    from relaycast.networks.factory import x_network
    from relaycast.settings import Settings

    attacker, attackers_link = mastodon_dashboard(store)
    before = table_snapshot(store)
    victim = Browser(client, x_sandbox)
    # The attacker's page makes the victim's browser post the connect form with the attacker's dashboard link.
    forged = client.http.post("/connect/x", body=f"t={attackers_link}",
                              headers={**FORM, "Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"})
    assert forged.status_code == 403 and table_snapshot(store) == before and "Set-Cookie" not in forged.headers
    # Even sent from the same site (no fetch metadata, no Origin), nothing links without the victim's yes.
    asked = victim.get(victim.consent(victim.start(body=f"t={attackers_link}"), "relay_victim"))
    assert asked.status_code == 200 and store.grant(attacker, "x") is None
    (waiting,) = waiting_confirmations(store)
    # Another browser (the attacker's) cannot answer for the victim.
    stranger = Browser(client, x_sandbox)
    action = f"l={waiting['pk'].split('#', 1)[1]}&decision=link"
    assert stranger.post("/callback/x", action).status_code == 400 and waiting_confirmations(store) != []
    # The victim never answers: past its time the confirmation is refused, and the tokens end with the custody.
    frozen_clock.advance(seconds=relays.CONFIRM_SECONDS + 1)
    assert victim.answer_link(asked).status_code == 400
    assert store.grant(attacker, "x") is None and store.identity_relay("x", None, waiting["user_id"]) is None
    settings = Settings.from_env()
    assert waiting["grant_id"] in {c["grant_id"] for c in store.unadopted_custodies()}  # what the sweep queues
    outcome = expire.end_queued(store, settings, settings.event(), x_network(settings), {"grant_id": waiting["grant_id"]}, 1)
    assert outcome == "ended" and x_sandbox.active_grants("relay_victim") == []
    assert store.custody(waiting["grant_id"]) is None


def test_a_brand_new_relays_first_connect_asks_nothing(client, store, x_sandbox):
    browser = Browser(client, x_sandbox)
    landed = browser.get(browser.consent(browser.start(), "relay_first"))
    assert landed.status_code == 303 and waiting_confirmations(store) == []
    assert store.grant(relay_of(landed.headers["Location"].split("t=", 1)[1]), "x")["username"] == "relay_first"
