"""The Mastodon instance a relay types is hostile input: parse it strictly, connect only where it is public.

Three layers, each enough on its own for the case it covers:

* `parse_instance` turns what the relay typed into a plain public-looking DNS name (no IP literal in any
  spelling, no port but 443, no userinfo, path, query or fragment, no single-label or private-use name).
* `check_public` resolves that name and refuses it if *any* answer is not global public unicast,
  including IPv6 forms that embed an inward IPv4 address.
* `NetGuard.session(host)` returns a requests session that can only reach that one host, over https, at
  the addresses `check_public` validated (pinned: a second DNS answer cannot rebind it inward) with TLS
  SNI and certificate checks against the host name; short timeouts, a response size cap, no redirects.

The local runtime adds two explicit allowances. `sandbox`: a host name mapped to a loopback http URL
(`{"mastodon.sandbox": "http://127.0.0.1:8123"}`), read from the `MASTODON_SANDBOX` environment variable; the
session's URLs are the loopback ones. `routed`: a domain whose every host (the domain and its subdomains) is
served by a loopback URL while the session keeps speaking the public https URLs, with their Host header
(`{"bsky.sandbox": "http://127.0.0.1:8124"}`, from `BLUESKY_SANDBOX`): the AT Protocol signs its URLs (DPoP)
and compares issuers, and a relay's handle names its own host. The stack never sets either variable in AWS;
nothing else bypasses the checks.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import idna
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Any]

SANDBOX_ENV = "MASTODON_SANDBOX"
ROUTED_ENV = "BLUESKY_SANDBOX"
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
BODY_DEADLINE = 10.0  # a whole body, however slowly it drips in
MAX_BYTES = 1 << 20
MAX_INPUT = 512

# Names that never denote a public Mastodon instance (RFC 6761, 6762, 8375, 9476 and common private zones).
PRIVATE_SUFFIXES = (
    "localhost", "local", "internal", "localdomain", "lan", "home", "corp", "intranet", "private",
    "home.arpa", "arpa", "test", "invalid", "example", "onion", "alt",
)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")  # a numeric last label would read as IPv4
_HOST_CHARS = re.compile(r"^[^\x00-\x20\x7f/\\?#@%\[\]]+$")

_BLOCKED_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
_BLOCKED_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",            # unspecified, loopback and the deprecated IPv4-compatible form
    "::ffff:0:0:0/96",  # SIIT (IPv4-translated)
    "64:ff9b:1::/48",   # local-use NAT64
    "100::/64",         # discard
    "2001::/23",        # IETF protocol assignments, Teredo included
    "2001:db8::/32", "3fff::/20",  # documentation
    "5f00::/16",        # SRv6 SIDs
    "fc00::/7",         # unique local (fd00:ec2::254, the EC2 metadata service, is one)
    "fe80::/10", "fec0::/10",  # link-local, old site-local
    "ff00::/8",         # multicast
))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class InstanceRejected(Exception):
    """The instance cannot be used; the message is written for the relay who typed it."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable  # a DNS failure may pass; a private address will not


class GuardRefused(requests.RequestException):
    """The guard refused a request or a response (wrong host, redirect, oversize, slow body)."""


# --- the name --------------------------------------------------------------------------------------


def parse_instance(text: str) -> str:
    """The relay's instance as a lowercase IDNA host name, or InstanceRejected.

    Accepts `mastodon.social`, `https://mastodon.social` and `https://mastodon.social/` (and :443).
    """
    text = (text or "").strip()
    if not text:
        raise InstanceRejected("Please type the address of your Mastodon instance, for example mastodon.social.")
    if len(text) > MAX_INPUT:
        raise InstanceRejected("That address is too long.")
    if any(ord(c) < 0x21 or c in "\x7f\\" for c in text):
        # urlsplit silently drops tabs and newlines, and browsers read a backslash as "/": refuse both outright.
        raise InstanceRejected("That is not a valid instance name.")
    if "?" in text or "#" in text:
        raise InstanceRejected("Type only the instance's name, without anything after it.")
    has_scheme = "://" in text
    if not has_scheme and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d+/?$)", text):
        raise InstanceRejected("Only https:// addresses are accepted.")  # javascript:, mailto:, data: …
    try:
        parts = urlsplit(text if has_scheme else f"https://{text}")
    except ValueError:
        raise InstanceRejected("That is not a valid instance name.") from None
    if parts.scheme.lower() != "https":
        raise InstanceRejected("Only https:// addresses are accepted.")
    if parts.path not in ("", "/"):
        raise InstanceRejected("Type only the instance's name, without a path.")
    netloc = parts.netloc
    if "@" in netloc:
        raise InstanceRejected("Type only the instance's name, without a user name or password.")
    if netloc.startswith("["):
        raise InstanceRejected("An IP address is not accepted: type the instance's name.")
    host, _, port = netloc.partition(":")
    if port and port not in ("443",):
        raise InstanceRejected("Only the standard https port is accepted.")
    if not host or not _HOST_CHARS.match(host):
        raise InstanceRejected("That is not a valid instance name.")
    host = host[:-1] if host.endswith(".") else host  # the fully qualified spelling
    if len(host) > 253:
        raise InstanceRejected("That address is too long.")
    if _is_ip_literal(host):
        raise InstanceRejected("An IP address is not accepted: type the instance's name.")
    try:
        name = idna.encode(host, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise InstanceRejected("That is not a valid instance name.") from None
    if len(name) > 253:
        raise InstanceRejected("That address is too long.")
    labels = name.split(".")
    if len(labels) < 2:
        raise InstanceRejected("That name is not a public internet domain.")
    if not all(_LABEL.match(label) for label in labels) or not _TLD.match(labels[-1]):
        raise InstanceRejected("That is not a valid instance name.")
    if _is_ip_literal(name):
        raise InstanceRejected("An IP address is not accepted: type the instance's name.")
    if any(name == suffix or name.endswith("." + suffix) for suffix in PRIVATE_SUFFIXES):
        raise InstanceRejected("That name is not a public internet domain.")
    return name


def _is_ip_literal(host: str) -> bool:
    """Any spelling an IP stack would accept: dotted, decimal, octal, hex, short forms, IPv6."""
    try:
        socket.inet_aton(host)  # the permissive C parser: 127.1, 0x7f.1, 2130706433, 0177.0.0.1
        return True
    except OSError:
        pass
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
        return True
    except ValueError:
        return False


# --- the addresses ---------------------------------------------------------------------------------


def is_public(address: IPAddress) -> bool:
    """Global public unicast only; an IPv6 form embedding an IPv4 address is judged by that address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _public_v4(embedded)
        if any(address in net for net in _BLOCKED_V6):
            return False
        # `is_global` alone is too lax for IPv6 before Python 3.13; the block list above covers the gaps.
        return address.is_global and not (address.is_multicast or address.is_link_local or address.is_site_local)
    return _public_v4(address)


def _public_v4(address: ipaddress.IPv4Address) -> bool:
    if any(address in net for net in _BLOCKED_V4):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


def _answers(host: str, resolve: Resolver) -> list[str]:
    """Addresses from a getaddrinfo-like resolver (tuples) or a test's resolver (plain strings)."""
    found = []
    for answer in resolve(host, 443, 0, socket.SOCK_STREAM):
        found.append(answer if isinstance(answer, str) else answer[4][0])
    return found


def check_public(host: str, resolve: Resolver = socket.getaddrinfo) -> list[IPAddress]:
    """Resolve `host`; refuse it unless every answer is global public unicast. Returns the addresses."""
    try:
        answers = _answers(host, resolve)
    except (socket.gaierror, UnicodeError, OSError):
        raise InstanceRejected("That instance could not be found.", retryable=True) from None
    addresses: list[IPAddress] = []
    for text in answers:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise InstanceRejected("That instance's address could not be understood.") from None
        if not is_public(address):
            # Any inward answer rejects the name: a client could be handed that one next time.
            raise InstanceRejected("That instance does not have a public internet address.")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InstanceRejected("That instance could not be found.", retryable=True)
    return sorted(addresses, key=lambda a: a.version)  # IPv4 first: Lambda has no IPv6 egress by default


# --- the connection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    base_url: str  # what requests must start with: https://host, or the sandbox's http://127.0.0.1:port
    pinned: bool  # production: connect to the validated addresses; sandbox: the loopback URL as is
    port: int = 443  # production always; another port only in tests of the pinned connection
    loopback: str | None = None  # a routed sandbox: the public https URLs are served by this loopback URL


class GuardAdapter(HTTPAdapter):
    """Reach one origin only, at pinned addresses, with timeouts, a size cap and no redirects."""

    def __init__(
        self,
        target: Target,
        addresses: Callable[[], list[IPAddress]],
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        max_bytes: int = MAX_BYTES,
        ca_bundle: str | None = None,
    ):
        super().__init__(max_retries=0, pool_connections=2, pool_maxsize=4)
        self.target = target
        self._addresses = addresses
        self._resolved: list[IPAddress] | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ca_bundle = ca_bundle or requests.utils.DEFAULT_CA_BUNDLE_PATH

    def addresses(self) -> list[IPAddress]:
        """Resolved and checked once per adapter: every connection goes to these addresses."""
        with self._lock:
            if self._resolved is None:
                try:
                    self._resolved = self._addresses()
                except InstanceRejected as error:
                    if error.retryable:
                        raise requests.ConnectionError(str(error)) from None
                    raise GuardRefused(str(error)) from None
            return self._resolved

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if not _same_origin(url, self.target.base_url):
            raise GuardRefused(f"only {self.target.base_url} may be reached through this session", request=request)
        if self.target.loopback:  # a routed sandbox: the public URL, served on loopback
            routed = request.copy()  # the caller keeps the public URL (a DPoP retry signs it again)
            routed.headers["Host"] = self.target.host
            routed.url = self.target.loopback + url[len(self.target.base_url):]
            response = super().send(routed, stream=True, timeout=self.timeout, verify=False, cert=None, proxies={})
            response.request, response.url = request, url
            return self._finish(response)
        if not self.target.pinned:  # the sandbox: a loopback URL the local runtime chose
            response = super().send(request, stream=True, timeout=self.timeout, verify=False, cert=None, proxies={})
            return self._finish(response)
        port = self.target.port
        request.headers["Host"] = self.target.host if port == 443 else f"{self.target.host}:{port}"
        candidates = self.addresses()
        for index, address in enumerate(candidates):
            self._local.address = address
            try:
                response = super().send(request, stream=True, timeout=self.timeout, verify=self.ca_bundle, cert=None,
                                        proxies={})
            except (requests.ConnectTimeout, requests.ConnectionError) as error:
                if index + 1 < len(candidates) and _before_sending(error):
                    continue  # nothing reached the server: the next address may answer
                raise
            finally:
                self._local.address = None
            return self._finish(response)
        raise requests.ConnectionError("no address to connect to", request=request)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        if not self.target.pinned:
            return super().get_connection_with_tls_context(request, verify, proxies=None, cert=None)
        address = getattr(self._local, "address", None)
        if address is None:
            raise GuardRefused("no validated address for this connection")
        # The socket goes to the validated address; SNI and the certificate check use the host name.
        pool_kwargs = {"cert_reqs": "CERT_REQUIRED", "ca_certs": self.ca_bundle,
                       "server_hostname": self.target.host, "assert_hostname": self.target.host}
        return self.poolmanager.connection_from_host(str(address), port=self.target.port, scheme="https",
                                                 pool_kwargs=pool_kwargs)

    def _finish(self, response: requests.Response) -> requests.Response:
        """Refuse redirects; read the body under the size cap and an overall deadline."""
        if 300 <= response.status_code < 400:
            response.close()
            raise GuardRefused(f"redirect refused ({response.status_code})", response=response)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise GuardRefused("response too large", response=response)
        chunks, size, deadline = [], 0, time.monotonic() + BODY_DEADLINE
        try:
            for chunk in response.iter_content(64 * 1024):  # decoded: the cap also stops compression bombs
                size += len(chunk)
                if size > self.max_bytes:
                    raise GuardRefused("response too large", response=response)
                if time.monotonic() > deadline:
                    raise requests.ReadTimeout("response body too slow", response=response)
                chunks.append(chunk)
        except BaseException:
            response.close()  # a refused or broken body never goes back to the pool half read
            raise
        response._content = b"".join(chunks)
        response._content_consumed = True
        response.close()
        return response


def _same_origin(url: str, base_url: str) -> bool:
    want, got = urlsplit(base_url), urlsplit(url)
    return (got.scheme, got.hostname, got.port or _default_port(got.scheme)) == (
        want.scheme, want.hostname, want.port or _default_port(want.scheme)
    ) and not got.username and not got.password


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _before_sending(error: requests.RequestException) -> bool:
    """True for failures to open the connection (the request never left)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def _check_sandbox(sandbox: Mapping[str, str], env: str = SANDBOX_ENV) -> dict[str, str]:
    """The allowance may only name a plain host and point it at a loopback URL without a path."""
    checked = {}
    for host, url in sandbox.items():
        name = parse_instance(host)
        parts = urlsplit(url)
        loopback = parts.hostname == "localhost"
        if not loopback and parts.hostname:
            try:
                loopback = ipaddress.ip_address(parts.hostname).is_loopback
            except ValueError:
                loopback = False
        if parts.scheme not in ("http", "https") or not loopback or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{env}: {host} must map to a loopback http(s) URL, got {url!r}")
        checked[name] = f"{parts.scheme}://{parts.netloc}"
    return checked


@dataclass(frozen=True)
class NetGuard:
    """How relaycast reaches Mastodon instances. `resolve` is injectable for tests; `sandbox` is the local
    runtime's explicit allowance (host → loopback URL), empty in production."""

    resolve: Resolver = socket.getaddrinfo
    sandbox: Mapping[str, str] = field(default_factory=dict)
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)
    max_bytes: int = MAX_BYTES
    routed: Mapping[str, str] = field(default_factory=dict)  # domain → loopback URL serving all its hosts

    def __post_init__(self) -> None:
        object.__setattr__(self, "sandbox", _check_sandbox(self.sandbox))
        object.__setattr__(self, "routed", _check_sandbox(self.routed, ROUTED_ENV))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> NetGuard:
        """Production never sets MASTODON_SANDBOX or BLUESKY_SANDBOX; only the local runtime and tests do."""
        environ = os.environ if environ is None else environ
        allowances = {}
        for name, env in (("sandbox", SANDBOX_ENV), ("routed", ROUTED_ENV)):
            raw = environ.get(env, "").strip()
            allowances[name] = json.loads(raw) if raw else {}
            if not isinstance(allowances[name], dict):
                raise ValueError(f"{env} must be a JSON object of host → URL")
        return cls(**allowances, **kwargs)

    def _routed(self, host: str) -> str | None:
        """The loopback URL of a routed sandbox serving `host`, if one does."""
        return next((url for domain, url in self.routed.items() if host == domain or host.endswith("." + domain)), None)

    def base_url(self, host: str) -> str:
        """Where `host`'s API lives: https://host, or its sandbox URL."""
        host = parse_instance(host)
        return self.sandbox.get(host, f"https://{host}")

    def check(self, host: str) -> None:
        """Raise InstanceRejected (a message for the relay) unless `host` may be used; no connection made."""
        host = parse_instance(host)
        if host not in self.sandbox and not self._routed(host):
            check_public(host, self.resolve)

    def adapter(self, host: str) -> GuardAdapter:
        host = parse_instance(host)
        if loopback := self._routed(host):
            target = Target(host, f"https://{host}", pinned=False, loopback=loopback)
            return GuardAdapter(target, lambda: [], timeout=self.timeout, max_bytes=self.max_bytes)
        if host in self.sandbox:
            target = Target(host, self.sandbox[host], pinned=False)
            return GuardAdapter(target, lambda: [], timeout=self.timeout, max_bytes=self.max_bytes)
        target = Target(host, f"https://{host}", pinned=True)
        return GuardAdapter(target, lambda: check_public(host, self.resolve), timeout=self.timeout,
                            max_bytes=self.max_bytes)

    def session(self, host: str) -> requests.Session:
        """A fresh session that reaches only `host` (resolution happens on the first request)."""
        return protect(requests.Session(), self.adapter(host))


def protect(session: requests.Session, adapter: GuardAdapter) -> requests.Session:
    """Route every URL of `session` through `adapter` (which refuses other origins)."""
    session.trust_env = False  # no proxies or .netrc from the environment
    session.max_redirects = 0
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.base_url = adapter.target.base_url  # type: ignore[attr-defined]
    session.instance = adapter.target.host  # type: ignore[attr-defined]
    return session


__all__ = [
    "GuardAdapter",
    "GuardRefused",
    "InstanceRejected",
    "NetGuard",
    "ROUTED_ENV",
    "SANDBOX_ENV",
    "Target",
    "check_public",
    "is_public",
    "parse_instance",
    "protect",
]
