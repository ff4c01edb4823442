"""netguard: the relay's instance name, its addresses, and the only way relaycast connects to it.

The connection tests use real sockets on loopback: a plain HTTP server behind the explicit sandbox
allowance, and an HTTPS server whose certificate names a host that has no DNS at all, reached through
the pinned adapter (the address comes from the validation step, never from a second lookup).
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from relaycast.netguard import (
    BODY_DEADLINE,
    CONNECT_TIMEOUT,
    MAX_BYTES,
    READ_TIMEOUT,
    GuardAdapter,
    GuardRefused,
    InstanceRejected,
    NetGuard,
    Target,
    check_public,
    is_public,
    parse_instance,
    protect,
)

# --- names -----------------------------------------------------------------------------------------

GOOD_NAMES = [
    ("mastodon.social", "mastodon.social", "bare"),
    ("https://mastodon.social", "mastodon.social", "https"),
    ("https://mastodon.social/", "mastodon.social", "https-slash"),
    ("  Mastodon.Social  ", "mastodon.social", "case-and-spaces"),
    ("HTTPS://FOSSTODON.ORG:443/", "fosstodon.org", "explicit-443"),
    ("mastodon.social.", "mastodon.social", "fqdn-dot"),
    ("social.bücher.de", "social.xn--bcher-kva.de", "idna"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de", "punycode"),
    ("a-b.c-d.social", "a-b.c-d.social", "hyphens"),
]

BAD_NAMES = [
    ("", "empty"),
    ("   ", "blank"),
    ("a" * 60 + "." + ("b" * 60 + ".") * 4 + "social", "over-253"),
    ("x" * 600, "huge-input"),
    ("a" * 64 + ".social", "label-over-63"),
    ("http://mastodon.social", "http"),
    ("ftp://mastodon.social", "ftp"),
    ("javascript:alert(1)", "javascript"),
    ("data:text/html,hi", "data-uri"),
    ("file:///etc/passwd", "file"),
    ("https:mastodon.social", "https-without-slashes"),
    ("//mastodon.social", "scheme-relative"),
    ("user@mastodon.social", "userinfo"),
    ("https://user:pw@mastodon.social", "userinfo-password"),
    ("https://mastodon.social@evil.social", "userinfo-confusion"),
    ("mastodon.social:8443", "port-8443"),
    ("mastodon.social:80", "port-80"),
    ("mastodon.social:0443", "port-0443"),
    ("mastodon.social:", "empty-port"),
    ("mastodon.social/@alice", "path"),
    ("https://mastodon.social//", "double-slash"),
    ("mastodon.social?x=1", "query"),
    ("mastodon.social/?", "empty-query"),
    ("mastodon.social#top", "fragment"),
    ("mastodon.social\\@evil.social", "backslash"),
    ("mastodon.so\tcial", "tab"),
    ("mastodon.so\ncial", "newline"),
    ("mastodon%2esocial", "percent-encoded"),
    ("127.0.0.1", "ipv4-dotted"),
    ("https://127.0.0.1/", "ipv4-url"),
    ("2130706433", "ipv4-decimal"),
    ("0177.0.0.1", "ipv4-octal"),
    ("0x7f.1", "ipv4-hex-short"),
    ("0x7f000001", "ipv4-hex"),
    ("127.1", "ipv4-short"),
    ("10.1", "ipv4-short-private"),
    ("169.254.169.254", "metadata-ipv4"),
    ("1.2.3.4.5", "numeric-five-labels"),
    ("mastodon.123", "numeric-tld"),
    ("[::1]", "ipv6-loopback"),
    ("https://[::ffff:127.0.0.1]/", "ipv4-mapped-ipv6"),
    ("[fd00:ec2::254]", "metadata-ipv6"),
    ("::1", "ipv6-bare"),
    ("localhost", "localhost"),
    ("mastodon", "single-label"),
    ("printer.local", "dot-local"),
    ("ip-10-0-0-1.ec2.internal", "dot-internal"),
    ("metadata.google.internal", "gcp-metadata"),
    ("app.localhost", "dot-localhost"),
    ("router.home.arpa", "home-arpa"),
    ("1.0.0.127.in-addr.arpa", "arpa"),
    ("mastodon.test", "dot-test"),
    ("mastodon.example", "dot-example"),
    ("abc.onion", "onion"),
    ("m..social", "empty-label"),
    ("-bad.social", "leading-hyphen"),
    ("bad-.social", "trailing-hyphen"),
    ("under_score.social", "underscore"),
    ("mast odon.social", "inner-space"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for t, e, _ in GOOD_NAMES], ids=[i for *_, i in GOOD_NAMES])
def test_good_instance_names(text: str, expected: str) -> None:
    assert parse_instance(text) == expected


@pytest.mark.parametrize("text", [t for t, _ in BAD_NAMES], ids=[i for _, i in BAD_NAMES])
def test_bad_instance_names(text: str) -> None:
    with pytest.raises(InstanceRejected) as refused:
        parse_instance(text)
    message = str(refused.value)
    assert message and message[0].isupper() and message.endswith("."), "a sentence a relay can read"
    assert len(message) < 120


def test_messages_say_what_is_wrong() -> None:
    assert "https" in str(pytest.raises(InstanceRejected, parse_instance, "http://a.social").value)
    assert "IP address" in str(pytest.raises(InstanceRejected, parse_instance, "0x7f.1").value)
    assert "port" in str(pytest.raises(InstanceRejected, parse_instance, "a.social:8080").value)
    assert "too long" in str(pytest.raises(InstanceRejected, parse_instance, ("a" * 60 + ".") * 5 + "social").value)


# --- addresses -------------------------------------------------------------------------------------

INWARD = [
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "this-network"), ("10.0.0.1", "rfc1918-10"),
    ("172.16.0.1", "rfc1918-172"), ("172.31.255.254", "rfc1918-172-top"), ("192.168.1.1", "rfc1918-192"),
    ("100.64.0.1", "cgnat"), ("100.127.255.254", "cgnat-top"), ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback-top"), ("169.254.169.254", "aws-metadata"), ("169.254.170.2", "ecs-metadata"),
    ("169.254.0.1", "link-local"), ("192.0.0.8", "ietf-assignments"), ("192.0.2.10", "doc-test-net-1"),
    ("198.51.100.7", "doc-test-net-2"), ("203.0.113.9", "doc-test-net-3"), ("198.18.0.1", "benchmark"),
    ("192.88.99.1", "6to4-relay"), ("224.0.0.1", "multicast"), ("239.255.255.250", "ssdp-multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "broadcast"),
    ("::", "v6-unspecified"), ("::1", "v6-loopback"), ("::ffff:127.0.0.1", "v4-mapped-loopback"),
    ("::ffff:10.0.0.1", "v4-mapped-private"), ("::ffff:169.254.169.254", "v4-mapped-metadata"),
    ("::127.0.0.1", "v4-compatible"), ("::ffff:0:7f00:1", "siit-translated"),
    ("2002:7f00:1::1", "6to4-loopback"), ("2002:a00:1::", "6to4-private"), ("2002:a9fe:a9fe::", "6to4-metadata"),
    ("64:ff9b::7f00:1", "nat64-loopback"), ("64:ff9b::a00:1", "nat64-private"), ("64:ff9b:1::1", "nat64-local-use"),
    ("2001::1", "teredo"), ("2001:db8::1", "v6-documentation"), ("3fff::1", "v6-documentation-new"),
    ("100::1", "discard"), ("fc00::1", "ula-fc"), ("fd12:3456::1", "ula-fd"), ("fd00:ec2::254", "aws-metadata-v6"),
    ("fe80::1", "v6-link-local"), ("fe80::1%1", "v6-link-local-scoped"), ("fec0::1", "v6-site-local"),
    ("ff02::1", "v6-multicast"), ("5f00::1", "srv6"),
]
PUBLIC = [
    ("93.184.216.34", "v4"), ("1.1.1.1", "v4-dns"), ("8.8.8.8", "v4-google"), ("2606:4700:4700::1111", "v6"),
    ("2a00:1450:4007:80c::200e", "v6-google"), ("::ffff:93.184.216.34", "v4-mapped-public"),
    ("64:ff9b::5db8:d822", "nat64-public"), ("2002:5db8:d822::1", "6to4-public"),
]


@pytest.mark.parametrize("address", [a for a, _ in INWARD], ids=[i for _, i in INWARD])
def test_inward_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(InstanceRejected, match="public internet address"):
        check_public("mastodon.social", resolve=lambda *_: [address])


@pytest.mark.parametrize("address", [a for a, _ in PUBLIC], ids=[i for _, i in PUBLIC])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert check_public("mastodon.social", resolve=lambda *_: [address]) == [ipaddress.ip_address(address)]


@pytest.mark.parametrize(
    "answers",
    [["93.184.216.34", "10.0.0.1"], ["10.0.0.1", "93.184.216.34"], ["2606:4700::1", "fd00:ec2::254"],
     ["93.184.216.34", "::ffff:127.0.0.1"], ["93.184.216.34", "169.254.169.254"]],
    ids=["public-then-private", "private-then-public", "v6-public-then-metadata", "public-then-mapped",
         "public-then-metadata"],
)
def test_one_inward_answer_refuses_the_name(answers: list[str]) -> None:
    with pytest.raises(InstanceRejected):
        check_public("mastodon.social", resolve=lambda *_: answers)


def test_resolver_contract_is_getaddrinfo() -> None:
    calls = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - getaddrinfo's names
        calls.append((host, port, type))
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", 443, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]

    found = check_public("mastodon.social", resolve=getaddrinfo)
    assert calls == [("mastodon.social", 443, socket.SOCK_STREAM)]
    assert found == [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:4700::1")], "IPv4 first, once"


def test_unresolvable_and_empty_names() -> None:
    def fails(*_):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(InstanceRejected, match="could not be found") as refused:
        check_public("nowhere.social", resolve=fails)
    assert refused.value.retryable
    with pytest.raises(InstanceRejected, match="could not be found"):
        check_public("nowhere.social", resolve=lambda *_: [])
    with pytest.raises(InstanceRejected) as garbage:
        check_public("odd.social", resolve=lambda *_: ["not-an-address"])
    assert not garbage.value.retryable


# --- connections: loopback servers ------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append({"path": self.path, "host": self.headers.get("Host", "")})
        if self.path == "/ok":
            self._send(200, b'{"ok": true}')
        elif self.path == "/redirect-same":
            self._send(302, b"", {"Location": "/ok"})
        elif self.path == "/redirect-away":
            self._send(301, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/big-declared":
            self._send(200, b"x" * (MAX_BYTES + 1))
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            for _ in range(MAX_BYTES // len(chunk) + 2):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/gzip-bomb":
            self._send(200, gzip.compress(b"\0" * (4 * MAX_BYTES)), {"Content-Encoding": "gzip"})
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"late")
        else:
            self._send(404, b"{}")

    do_POST = do_GET  # noqa: N815

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the guard hangs up on purpose (oversize, timeouts): no traceback on stderr


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_timeouts_and_limits_are_configured() -> None:
    adapter = NetGuard(sandbox={}).adapter("mastodon.social")
    assert (CONNECT_TIMEOUT, READ_TIMEOUT, MAX_BYTES) == (3.0, 5.0, 1 << 20)
    assert adapter.timeout == (3.0, 5.0) and adapter.max_bytes == MAX_BYTES and BODY_DEADLINE <= 10
    session = NetGuard().session("mastodon.social")
    assert session.max_redirects == 0 and session.trust_env is False
    assert session.get_adapter("https://mastodon.social/") is session.get_adapter("http://anything.else/")


def test_sandbox_allowance_reaches_loopback(loopback: str) -> None:
    session = NetGuard(sandbox={"mastodon.sandbox": loopback}).session("mastodon.sandbox")
    assert session.base_url == loopback
    assert session.get(f"{loopback}/ok").json() == {"ok": True}


def test_without_the_allowance_loopback_is_refused(loopback: str) -> None:
    # The same name resolving to loopback, as a hostile DNS answer would: refused before any connection.
    guard = NetGuard(resolve=lambda *_: ["127.0.0.1"])
    with pytest.raises(GuardRefused, match="public internet address"):
        guard.session("mastodon.sandbox").get("https://mastodon.sandbox/ok")
    # The loopback URL itself, through a session of a public instance: another origin, refused.
    public = NetGuard(resolve=lambda *_: ["93.184.216.34"]).session("mastodon.social")
    with pytest.raises(GuardRefused, match="only https://mastodon.social"):
        public.get(f"{loopback}/ok")
    # And the allowance of one name is not an allowance of another.
    other = NetGuard(sandbox={"mastodon.sandbox": loopback}, resolve=lambda *_: ["127.0.0.1"])
    with pytest.raises(GuardRefused):
        other.session("other.sandbox").get(f"{loopback}/ok")


def test_unresolvable_instance_is_a_connection_error() -> None:
    def fails(*_):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(requests.ConnectionError):
        NetGuard(resolve=fails).session("flaky.social").get("https://flaky.social/")


@pytest.mark.parametrize("path", ["/redirect-same", "/redirect-away"], ids=["same-host", "to-metadata"])
def test_redirects_are_refused(loopback: str, path: str) -> None:
    session = NetGuard(sandbox={"mastodon.sandbox": loopback}).session("mastodon.sandbox")
    with pytest.raises(GuardRefused, match="redirect refused"):
        session.get(f"{loopback}{path}")
    with pytest.raises(GuardRefused, match="redirect refused"):
        session.post(f"{loopback}{path}", allow_redirects=False)


@pytest.mark.parametrize("path", ["/big-declared", "/big-chunked", "/gzip-bomb"], ids=["declared", "chunked", "gzip"])
def test_oversize_responses_are_refused(loopback: str, path: str) -> None:
    session = NetGuard(sandbox={"mastodon.sandbox": loopback}).session("mastodon.sandbox")
    with pytest.raises(GuardRefused, match="too large"):
        session.get(f"{loopback}{path}")


def test_slow_response_times_out(loopback: str) -> None:
    session = NetGuard(sandbox={"mastodon.sandbox": loopback}, timeout=(3.0, 0.2)).session("mastodon.sandbox")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        session.get(f"{loopback}/slow", timeout=60)  # the caller's timeout cannot lengthen the guard's
    assert time.monotonic() - started < 0.9


def test_sandbox_setting_is_explicit_and_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = NetGuard.from_env({"MASTODON_SANDBOX": '{"Mastodon.Sandbox": "http://127.0.0.1:8123/"}'})
    assert guard.sandbox == {"mastodon.sandbox": "http://127.0.0.1:8123"}
    assert guard.base_url("mastodon.sandbox") == "http://127.0.0.1:8123"
    assert guard.base_url("mastodon.social") == "https://mastodon.social"
    assert NetGuard.from_env({}).sandbox == {}
    monkeypatch.delenv("MASTODON_SANDBOX", raising=False)
    assert NetGuard.from_env().sandbox == {}
    for bad in ('{"mastodon.sandbox": "http://10.0.0.5:8123"}', '{"mastodon.sandbox": "http://169.254.169.254"}',
                '{"mastodon.sandbox": "http://127.0.0.1:8123/admin"}', '{"mastodon.sandbox": "ftp://127.0.0.1"}',
                '["http://127.0.0.1:8123"]', '{"localhost": "http://127.0.0.1:1"}'):
        with pytest.raises((ValueError, InstanceRejected)):
            NetGuard.from_env({"MASTODON_SANDBOX": bad})


def test_a_routed_sandbox_keeps_the_public_urls_and_host_of_every_host_of_its_domain(loopback: str) -> None:
    guard = NetGuard.from_env({"BLUESKY_SANDBOX": f'{{"bsky.sandbox": "{loopback}/"}}'})
    _Handler.seen.clear()
    for host in ("bsky.sandbox", "amina.bsky.sandbox"):
        session = guard.session(host)
        response = session.get(f"https://{host}/ok")
        assert response.json() == {"ok": True} and response.url == f"https://{host}/ok"
        assert session.base_url == f"https://{host}"
    assert [(s["path"], s["host"]) for s in _Handler.seen] == [("/ok", "bsky.sandbox"), ("/ok", "amina.bsky.sandbox")]
    with pytest.raises(GuardRefused, match="only https://amina.bsky.sandbox"):
        guard.session("amina.bsky.sandbox").get("https://bsky.sandbox/ok")  # one host per session, routed or not
    assert guard.sandbox == {} and guard.base_url("amina.bsky.sandbox") == "https://amina.bsky.sandbox"


def test_a_routed_domain_does_not_cover_names_that_only_end_like_it(loopback: str) -> None:
    guard = NetGuard(routed={"bsky.sandbox": loopback}, resolve=lambda *_: ["127.0.0.1"])
    with pytest.raises(InstanceRejected):
        guard.check("evilbsky.sandbox")  # not a subdomain: checked as public, and loopback is not
    for bad in ('{"bsky.sandbox": "http://10.0.0.5:8123"}', '{"bsky.sandbox": "http://127.0.0.1:1/x"}', '["x"]'):
        with pytest.raises((ValueError, InstanceRejected), match="BLUESKY_SANDBOX"):
            NetGuard.from_env({"BLUESKY_SANDBOX": bad})


# --- the pinned TLS connection --------------------------------------------------------------------

PINNED_HOST = "pinned.relaycast.invalid"  # .invalid never resolves: any connection proves the pin was used


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    cert, key = _certificate(tmp_path, PINNED_HOST)
    snis: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: snis.append(name)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port, cert, snis
    server.shutdown()
    server.server_close()


def test_pinned_connection_keeps_sni_and_certificate_checks(tls_server: tuple[int, Path, list[str]]) -> None:
    port, cert, snis = tls_server
    lookups = []

    def validated() -> list[ipaddress.IPv4Address]:
        lookups.append(1)
        return [ipaddress.IPv4Address("127.0.0.1")]

    target = Target(PINNED_HOST, f"https://{PINNED_HOST}:{port}", pinned=True, port=port)
    session = protect(requests.Session(), GuardAdapter(target, validated, ca_bundle=str(cert)))
    _Handler.seen.clear()
    for _ in range(2):
        assert session.get(f"https://{PINNED_HOST}:{port}/ok").json() == {"ok": True}
    assert lookups == [1], "resolved and checked once: a later DNS answer cannot rebind the session"
    assert snis and set(snis) == {PINNED_HOST}, "SNI carries the host name, not the address"
    assert {s["host"] for s in _Handler.seen} == {f"{PINNED_HOST}:{port}"}


def test_pinned_connection_refuses_a_certificate_for_another_name(tmp_path: Path,
                                                                  tls_server: tuple[int, Path, list[str]]) -> None:
    port, cert, _ = tls_server
    other = "other.relaycast.invalid"
    target = Target(other, f"https://{other}:{port}", pinned=True, port=port)
    adapter = GuardAdapter(target, lambda: [ipaddress.IPv4Address("127.0.0.1")], ca_bundle=str(cert))
    with pytest.raises(requests.exceptions.SSLError):
        protect(requests.Session(), adapter).get(f"https://{other}:{port}/ok")
    # Without the test CA (the default bundle) the self-signed certificate is refused too.
    target = Target(PINNED_HOST, f"https://{PINNED_HOST}:{port}", pinned=True, port=port)
    adapter = GuardAdapter(target, lambda: [ipaddress.IPv4Address("127.0.0.1")])
    with pytest.raises(requests.exceptions.SSLError):
        protect(requests.Session(), adapter).get(f"https://{PINNED_HOST}:{port}/ok")


def test_next_address_is_tried_when_one_does_not_connect(tls_server: tuple[int, Path, list[str]]) -> None:
    port, cert, _ = tls_server
    # 127.0.0.3 has nothing listening on that port: refused at connect, then 127.0.0.1 answers.
    addresses = [ipaddress.IPv4Address("127.0.0.3"), ipaddress.IPv4Address("127.0.0.1")]
    target = Target(PINNED_HOST, f"https://{PINNED_HOST}:{port}", pinned=True, port=port)
    session = protect(requests.Session(), GuardAdapter(target, lambda: addresses, ca_bundle=str(cert)))
    assert session.get(f"https://{PINNED_HOST}:{port}/ok").status_code == 200
