"""What every network sandbox shares: serving on loopback, its records, its request log, faults and rate windows.

A sandbox is a small server standing for a network on a free loopback port, run in a daemon thread, and the
source of truth of a run (who reposted what, which tokens were revoked). Each network's sandbox is a package
(`sandbox_x`, `sandbox_mastodon`) built from these pieces:

* `LoopbackSandbox`: ``start()`` / ``stop()``, a context manager, ``base_url``; a subclass says how it serves
  (`serve_wsgi` for a Flask app, `serve_asgi` for an ASGI one).
* `Record` and `Snapshot`: immutable truth records readable as mappings, and truth attributes that are copies
  taken under the sandbox's lock (safe to read while requests are served).
* `RecordedRequest`: one request and the status it got, as the sandboxes log them (`AsgiRecorder` logs an
  ASGI app's).
* `Fault` and `FaultQueue`: errors, dropped connections and 429s queued for the next matching requests;
  `install_fault_injection` plays them on a Flask app and logs every request.
* `RateWindows`: fixed windows of requests per (bucket, actor).
* `hidden_inputs`: the authorization request carried through a consent page's form.
* `route_session_to`: a `requests` session whose calls to a network's hosts reach the sandbox instead;
  `endpoint_url`: a sandbox's URLs as attributes.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests
from flask import Flask, Response, g, request
from werkzeug.serving import WSGIRequestHandler, make_server

from relaycast import clock

# --------------------------------------------------------------------------------------------------
# Serving on loopback
# --------------------------------------------------------------------------------------------------


class Serving(Protocol):
    """A server running in a daemon thread."""

    port: int

    def stop(self) -> None: ...


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _WsgiServing:
    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        # A short poll interval keeps stop() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(target=lambda: self._server.serve_forever(poll_interval=0.05),
                                        name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _AsgiServing:
    def __init__(self, app: Any, host: str, name: str) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def serve_wsgi(app: Any, host: str, port: int, name: str) -> Serving:
    """Serve a WSGI app with werkzeug on `host:port` (0: a free port), one thread per request."""
    return _WsgiServing(app, host, port, name)


def serve_asgi(app: Any, host: str, name: str) -> Serving:
    """Serve an ASGI app with uvicorn on a free port of `host`; returns once it listens."""
    return _AsgiServing(app, host, name)


class LoopbackSandbox:
    """The lifecycle of a sandbox: ``start()`` serves it (a second call does nothing), ``stop()`` ends it; also a
    context manager. A subclass sets ``_host`` and says how it serves in ``_serve``."""

    base_url: str | None = None
    _host: str = "127.0.0.1"
    _serving: Serving | None = None

    def _serve(self) -> Serving:
        raise NotImplementedError

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        if self._serving is None:
            self._serving = self._serve()
            self.base_url = f"http://{self._host}:{self._serving.port}"
        return self.base_url  # type: ignore[return-value]

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> Any:
        """Serving for the length of a `with` block."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _require_base(self) -> str:
        if self.base_url is None:
            raise RuntimeError("the sandbox is not started")
        return self.base_url


# --------------------------------------------------------------------------------------------------
# Records of the truth
# --------------------------------------------------------------------------------------------------


class Record:
    """A frozen dataclass with read-only mapping access (`r["user_id"]`, `r.get(...)`) and `to_dict()`."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__dataclass_fields__ else default  # type: ignore[attr-defined]

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)  # type: ignore[attr-defined]


class Snapshot:
    """A read-only attribute: a copy of the private attribute of the same name (`_name`, or `source`), made by
    `copy` under the owner's `lock`."""

    def __init__(self, copy: Callable[[Any], Any], source: str | None = None) -> None:
        self._copy, self._source = copy, source

    def __set_name__(self, owner: type, name: str) -> None:
        self._source = self._source or f"_{name}"

    def __get__(self, owner: Any, owner_type: type | None = None) -> Any:
        if owner is None:
            return self
        with owner.lock:
            return self._copy(getattr(owner, self._source))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RecordedRequest:
    """One request a sandbox received and the status it answered (0: the connection was dropped unanswered);
    `at` is on relaycast's clock."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: datetime | None = None

    def __repr__(self) -> str:  # headers and bodies carry tokens and secrets
        return f"RecordedRequest({self.method} {self.path} → {self.status})"


class AsgiRecorder:
    """An ASGI app logging every request it passes to `app` (bodies as received) with the status it got, except
    those carrying `internal_header` (a sandbox's own helper calls). `on_answer` is called under `lock`, before
    the client can see the answer: a test reading the log right after finds it."""

    def __init__(self, app: Any, lock: threading.Lock, on_answer: Callable[[RecordedRequest], None],
                 internal_header: str) -> None:
        self.app, self._lock, self._on_answer, self._internal = app, lock, on_answer, internal_header.lower()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._internal in headers:
            return await self.app(scope, receive, send)
        body, status = bytearray(), [0]

        async def receiving() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        recorded = [False]

        def record() -> None:
            if not recorded[0]:
                recorded[0] = True
                entry = RecordedRequest(scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"),
                                        headers, bytes(body), status[0], clock.now())
                with self._lock:
                    self._on_answer(entry)

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                record()
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            record()


# --------------------------------------------------------------------------------------------------
# Faults and rate windows
# --------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """The answer the next `remaining` requests of `method` on a path starting with `path_prefix` get instead."""

    method: str
    path_prefix: str
    status: int
    remaining: int
    after: bool = False  # the route acts first; only its answer is lost
    drop: bool = False  # no answer: the connection is closed
    reset_at: int | None = None  # a 429's reset (epoch seconds)


@dataclass
class FaultQueue:
    """Faults in the order they were queued; a request uses up one of the first matching fault's uses."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        fault = next((f for f in self.faults if method == f.method and path.startswith(f.path_prefix)), None)
        if fault is not None:
            fault.remaining -= 1
            self.faults = [f for f in self.faults if f.remaining > 0]
        return fault


def install_fault_injection(app: Flask, lock: threading.RLock, faults: FaultQueue,
                            fault_response: Callable[[Fault], Response], on_request: Callable[[str], None],
                            on_answer: Callable[[RecordedRequest], None]) -> None:
    """Play queued faults on a Flask app and log every request with the status it got.

    Before the route: `on_request(endpoint)` counts the call, and a fault that is not ``after`` answers in its
    place (a dropped one is cut once logged). After the route: an ``after`` fault replaces its answer, and
    `on_answer` logs the request before the client can see the answer. Both are called under `lock`.
    """

    @app.before_request
    def inject_faults() -> Response | None:
        request.get_data()  # kept for the log, before form parsing consumes the stream
        with lock:
            if request.endpoint:
                on_request(request.endpoint)
            g.fault = fault = faults.take(request.method, request.path)
        if fault is None or fault.after:
            return None
        return Response(status=204) if fault.drop else fault_response(fault)

    @app.after_request
    def log_request(response: Response) -> Response:
        fault: Fault | None = g.get("fault")
        if fault is not None and fault.after and not fault.drop:
            response = fault_response(fault)
        dropped = fault is not None and fault.drop
        entry = RecordedRequest(request.method, request.path, request.query_string.decode("latin-1"),
                                {k.lower(): v for k, v in request.headers.items()}, request.get_data(),
                                0 if dropped else response.status_code, clock.now())
        with lock:
            on_answer(entry)
        if dropped:
            _drop_connection()
        return response


def _drop_connection() -> None:
    """Close the request's connection without an answer (werkzeug's server; nothing to do under a test client)."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the client


@dataclass
class _RateWindow:
    limit: int
    period: timedelta
    started: datetime | None = None
    used: int = 0


class RateWindows:
    """Fixed windows of `limit` requests per `period`, one per (bucket, actor), starting at the first request."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _RateWindow] = {}

    def clear(self) -> None:
        self._windows.clear()

    def hit(self, bucket: str, actor: str, limit: tuple[int, timedelta], now: datetime) -> tuple[bool, int, int]:
        """Count one request; returns (allowed, remaining, reset epoch seconds)."""
        window = self._windows.setdefault((bucket, actor), _RateWindow(*limit))
        if window.started is None or now >= window.started + window.period:
            window.started, window.used = now, 0
        reset = int((window.started + window.period).timestamp())
        if window.used >= window.limit:
            return False, 0, reset
        window.used += 1
        return True, window.limit - window.used, reset


# --------------------------------------------------------------------------------------------------
# Consent pages and clients
# --------------------------------------------------------------------------------------------------

#: The authorization request's parameters a consent page carries to its answer.
AUTHORIZATION_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                        "code_challenge_method")


def endpoint_url(path: str) -> property:
    """A read-only URL of a started sandbox: its base URL and `path`."""
    return property(lambda sandbox: f"{sandbox._require_base()}{path}", doc=f"The URL of {path}.")


def hidden_inputs(params: Mapping[str, Any]) -> str:
    """The hidden form fields carrying the authorization request (those present) through a consent page."""
    return "".join(f'<input type="hidden" name="{k}" value="{html.escape(str(params[k]))}">'
                   for k in AUTHORIZATION_FIELDS if params.get(k) is not None)


def consent_page(*, title: str, question: str, scope: str, carried: Mapping[str, Any],
                 inputs: Iterable[tuple[str, str, str, str]], allow: str, deny: str) -> str:
    """A sandbox's consent page: what the app asks for, `carried` (the request) in hidden fields, the sign-in
    `inputs` (id and name, label, type, value) and the stable hooks `#allow` and `#deny` (decision=allow|deny)."""
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">' for k, v in carried.items())
    fields = ""
    for name, label, kind, value in inputs:
        typed = f' type="{kind}"' if kind != "text" else ""
        given = f' value="{html.escape(value)}"' if value else ""
        fields += f'<label>{html.escape(label)} <input id="{name}" name="{name}"{typed}{given}></label>'
    return (f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(question)}</h1>"
            f"<p>It asks for: <code>{html.escape(scope)}</code></p><form method=\"post\">{hidden}{fields}"
            f'<button id="allow" name="decision" value="allow">{html.escape(allow)}</button>'
            f'<button id="deny" name="decision" value="deny">{html.escape(deny)}</button></form>')


def hidden_fields(page_html: str) -> dict[str, str]:
    """A consent page's hidden fields, as a scripted relay sends them back."""
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page_html)}


class _RewriteAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, prefix: str, target: str) -> None:
        super().__init__()
        self._prefix, self._target = prefix.rstrip("/"), target.rstrip("/")

    def send(self, req: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if req.url and req.url.startswith(self._prefix):
            req.url = self._target + req.url[len(self._prefix):]
        kwargs["proxies"] = {}  # loopback: never through a proxy chosen for the original host
        return super().send(req, **kwargs)


def route_session_to(session: requests.Session, base_url: str, prefixes: Iterable[str]) -> requests.Session:
    """Mount adapters on a `requests` session so requests to the `prefixes` (a network's hosts) reach `base_url`."""
    for prefix in prefixes:
        session.mount(prefix.rstrip("/") + "/", _RewriteAdapter(prefix, base_url))
    return session
