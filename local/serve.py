"""`relaycast serve`: the hosted page on a fixed local port while an event runs, for a person to play a relay.

The demo's local runtime (the real stack in moto, sandbox X) without simulated relays: the simulated clock runs
in real time accelerated by `speed`, each round proposes its picks to whoever has connected by then, and the
queues are pumped continuously so an approval is published within a second or two.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.middleware.http_proxy import ProxyMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.utils import redirect

from relaycast.config import EventConfig, EventConfigError, load_event_config

from .attach import remove_state, write_state
from .harness import MASTODON_INSTANCE, local_stack, sent_emails

ROUND_WALL_SECONDS = 25  # default pace: a person sees a round about every 25 seconds
TICK_SECONDS = 0.25  # wall time between two moves of the clock (each one pumps the queues)
HOLD_SECONDS = 120  # the longest the clock waits for a person at a network's consent page
# The hosted app's browser-binding cookie: set by a connect, sent back with its callback (one per connection).
BINDING_COOKIE = "relaycast_connect"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log per request
        pass


class Holds:
    """The OAuth state (10 minutes) and the sandbox's code (30 seconds) live in event time, which runs faster
    than a person reading a consent page: the clock waits from a connect until its callback (or HOLD_SECONDS),
    the two told apart by the browser binding the connect sets and the callback brings back.
    `moving` is held while the clock moves: a connect that arrives during a round waits for the round's end before
    its state is made, so the clock never jumps past a state it has just made."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()
        self.moving = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._since[key] = time.monotonic()

    def drop(self, key: str) -> None:
        with self._lock:
            self._since.pop(key, None)

    def active(self) -> bool:
        with self._lock:
            stale = time.monotonic() - HOLD_SECONDS
            self._since = {k: t for k, t in self._since.items() if t > stale}  # an abandoned consent page
            return bool(self._since)


def _binding(cookies: str) -> str:
    return next((c.split("=", 1)[1] for c in cookies.split(";") if c.strip().startswith(BINDING_COOKIE + "=")), "")


class Front:
    """The fixed port. The API is served on its stage (`/live/…`, as API Gateway's invoke URL); this forwards it
    with the browser's Host header, so the app's own links point here, and sends any other path to the same path
    on the stage (as a custom domain mapped to the stage would), so `/` is the hosted page.

    The Bluesky sandbox's public origin (`https://bsky.sandbox`) is no name a browser can reach: its consent page
    is served here under `/bsky.sandbox/` (a connect's redirect there is rewritten to it), forwarded to the
    sandbox with its own Host."""

    def __init__(self, host: str, port: int) -> None:
        # Bound now, by us (werkzeug would exit 1 on a taken port): reported before the slow synth and deploy.
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET) as listener:
            self.server: BaseWSGIServer = make_server(
                host, port, self._dispatch, threaded=True, request_handler=_Quiet, fd=listener.fileno()
            )
        self.holds = Holds()
        self._app: Any = None
        self._thread: threading.Thread | None = None
        self._sandbox: tuple[str, str] | None = None  # the Bluesky sandbox's public origin, and its path here

    def start(self, api_url: str, bluesky: Any = None) -> None:
        stage = "/" + api_url.rstrip("/").rsplit("/", 1)[1]
        routes: dict[str, dict[str, Any]] = {f"{stage}/": {"target": api_url, "host": None}}
        if bluesky is not None:
            self._sandbox = (bluesky.origin + "/", f"/{bluesky.domain}/")
            routes[f"/{bluesky.domain}/"] = {"target": bluesky.base_url, "host": bluesky.domain, "remove_prefix": True}

        def to_stage(environ: dict[str, Any], start_response: Any) -> Any:
            query = environ.get("QUERY_STRING")
            return redirect(stage + environ["PATH_INFO"] + (f"?{query}" if query else ""), 307)(environ, start_response)

        # A round holds the in-process Lambda lock for a moment: wait for it rather than answer 502.
        self._app = ProxyMiddleware(to_stage, routes, timeout=120)
        self._thread = threading.Thread(target=self.server.serve_forever, name="relaycast-serve", daemon=True)
        self._thread.start()

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if "/callback/" in path:
            statuses: list[str] = []

            def answered(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                statuses.append(status)
                return start_response(status, headers, *rest)

            try:  # the code is exchanged while the callback is answered
                return self._app(environ, answered)
            finally:
                # A page that asks the relay to link the account (200) keeps the clock waiting for their answer.
                if environ["REQUEST_METHOD"] != "GET" or not statuses or not statuses[0].startswith("200"):
                    self.holds.drop(_binding(environ.get("HTTP_COOKIE", "")))
        if "/connect/" not in path:
            return self._app(environ, start_response)
        request = f"request:{id(environ)}"
        with self.holds.moving:
            self.holds.add(request)  # until the answer names the connection

        def started(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            for name, value in headers:
                if name.lower() == "set-cookie" and (binding := _binding(value.split(";", 1)[0])):
                    self.holds.add(binding)
            if self._sandbox:  # the browser goes to the sandbox's consent page through this port
                origin, here = self._sandbox
                headers = [(k, here + v[len(origin):] if k.lower() == "location" and v.startswith(origin) else v)
                           for k, v in headers]
            return start_response(status, headers, *rest)

        try:
            return self._app(environ, started)
        finally:
            self.holds.drop(request)

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, forever if it never ran
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


def default_speed(config: EventConfig) -> float:
    return config.poll_interval_minutes * 60 / ROUND_WALL_SECONDS


def _local(config: EventConfig, at: datetime) -> str:
    return at.astimezone(config.start.tzinfo).strftime("%a %d %b %H:%M")


def _describe(config: EventConfig, firing: Any) -> str:
    """One line per schedule firing: a round's picks, or the end-of-access sweep."""
    when = _local(config, firing.at)
    if firing.status not in ("SUCCEEDED", "WAITING_FOR_CALLBACK"):
        return f"{when}  {firing.schedule}: {firing.status} {firing.error or ''} {(firing.cause or '')[:200]}"
    try:
        output = json.loads(firing.output) if isinstance(firing.output, str) else firing.output or {}
    except ValueError:
        output = {}
    if "selection" in output:
        selection = output["selection"]
        picks = selection.get("picks", [])
        authors = ", ".join(f"@{p['author']}" for p in picks)
        reached = output.get("fan_out", {}).get("relays", 0)  # a moderated round waiting has not fanned out yet
        to = f" → proposed to {reached} connected relay(s)" if picks else ""
        return f"{when}  round: {len(picks)} pick(s){' (' + authors + ')' if picks else ''}{to}"
    if "queued" in output:
        return f"{when}  access ended: {output['queued']} grant(s) queued for revocation"
    return ""  # another schedule that did its work (the parked jobs' release): nothing to tell a person


class Mailbox:
    """Prints what the local SES accepted since the last look, with the confirmation and dashboard links in it."""

    def __init__(self, cloud: Any) -> None:
        self.cloud, self.seen = cloud, 0
        self.lines_seen: dict[str, int] = {}  # per function, the log lines already looked at

    def show_new(self) -> None:
        mails = sent_emails(self.cloud)
        for mail in mails[self.seen:]:
            print(f"  mail to {', '.join(mail['to'])}: {mail['subject']}", flush=True)
            for link in re.findall(r"https?://\S+/(?:email/confirm\?c|relay\?t)=\S+", mail["body"]):
                print(f"    {link}", flush=True)
        self.seen = len(mails)
        self.show_errors()

    def show_errors(self) -> None:
        """The functions' ERROR log lines (a mail that could not be sent, a failed round), as CloudWatch would
        show them: what a person trying relaycast by hand needs to see."""
        seen = self.lines_seen
        for function, lines in list(self.cloud.lambda_host.output.items()):
            # Called on every tick: a log is copied (handlers append to it meanwhile) only when it grew. (Once a
            # function's log is at its cap, its length stops growing and its later lines are not shown.)
            if len(lines) == seen.get(function):
                continue
            start = seen.get(function, 0) if seen.get(function, 0) <= len(lines) else 0
            for line in list(lines)[start:]:
                if "ERROR" not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("level") == "ERROR":
                    cause = str(record.get("exception", "")).strip().splitlines()[-1:] or [""]
                    print(f"  error in {function}: {record.get('message')} {cause[0]}".rstrip(), flush=True)
            seen[function] = len(lines)


def run_clock(cloud: Any, config: EventConfig, speed: float, until: datetime, holds: Holds,
              on_tick: Any = None) -> Mailbox:
    """Move the simulated clock with the wall clock until `until`, firing the rounds on their way (`on_tick()`
    after each move)."""
    step = timedelta(minutes=config.poll_interval_minutes)
    sim_mark, wall_mark = cloud.now(), time.monotonic()
    mailbox = Mailbox(cloud)
    while cloud.now() < until:
        mailbox.show_new()
        with holds.moving:
            held = holds.active()
            if not held:
                # One round at most per move, so a connect never waits long; a slow machine runs the event slower.
                wanted = sim_mark + timedelta(seconds=(time.monotonic() - wall_mark) * speed)
                target = min(until, wanted, cloud.now() + step)
                if target > cloud.now():
                    for firing in cloud.run_until(target, step=step).firings:
                        if line := _describe(config, firing):
                            print(line, flush=True)
                if target < wanted:
                    sim_mark, wall_mark = cloud.now(), time.monotonic()  # behind: go on from here, without catching up
        if held:
            sim_mark, wall_mark = cloud.now(), time.monotonic()  # resume from here, without catching up
            cloud.pump()  # approvals are still published
        if on_tick:
            on_tick()
        time.sleep(TICK_SECONDS)
    return mailbox


def _bluesky_relay(stack: Any) -> Any:
    """A Bluesky sandbox account for the person playing a relay."""
    return stack.bluesky.add_account(stack.bluesky.handle("relay")) if stack.bluesky else None


def serve(event: str, host: str = "127.0.0.1", port: int = 8000, speed: float | None = None, ready_file: Path | None = None,
          state_slug: str | None = None, announce: Any = None) -> int:
    """Serve the event (see the module). `state_slug`: keep `attach`'s state file of the running event (the other
    commands reach it there) until it stops; `announce(stack, url)` speaks once it is deployed."""
    try:
        config = load_event_config(event)
    except EventConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if speed is not None and speed <= 0:
        print("relaycast serve: --speed must be above 0 (simulated seconds per wall second)", file=sys.stderr)
        return 2
    try:
        front = Front(host, port)
    except OSError as error:
        print(f"relaycast serve: cannot listen on {host}:{port} ({os.strerror(error.errno) if error.errno else error}); free it or pick another with --port", file=sys.stderr)
        return 2
    # Ctrl-C and `kill` stop it alike (even when started in the background, which ignores SIGINT): the local
    # cloud and the sandbox close on the way out.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    speed = speed or default_speed(config)
    until = config.access_ends + timedelta(minutes=config.poll_interval_minutes)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}/"
    try:
        print(f"relaycast serve: synthesising and deploying {event} into the local cloud…", flush=True)
        with local_stack(event, lead=timedelta(0)) as stack:
            cloud, deployed, api_url = stack.cloud, stack.deployed, stack.api_url
            front.start(api_url, stack.bluesky)
            # The digests' and the moderator's links: this port, on the stage's path, as the relay's pages.
            hosted = f"{url}{api_url.rstrip('/').rsplit('/', 1)[1]}/"
            cloud.link_hosted_page(deployed, hosted)
            print(
                f"\nOpen {url} to play a relay of “{config.name}”.\n"
                f"X is a local sandbox at {stack.x.base_url}: no real account is involved, and its consent page accepts any username.\n"
                + (f"Mastodon: type {MASTODON_INSTANCE} as your instance (a local mastodon-mock at {stack.mastodon.base_url}; any username).\n"
                   if stack.mastodon else "")
                + (f"Bluesky: type the handle {relay.handle} and, on the sandbox's consent page, the app password {relay.app_password} "
                   f"(a local sandbox at {stack.bluesky.base_url}, its consent page served here under /{stack.bluesky.domain}/).\n"
                   if (relay := _bluesky_relay(stack)) else "")
                + "E-mails (address confirmations, receipts) are printed here instead of being sent.\n"
                f"The event runs on a simulated clock at {speed:g}× (a round every {config.poll_interval_minutes * 60 / speed:.3g} s; "
                f"it waits while someone is at X's consent page) "
                f"from {_local(config, config.start_utc)} until access ends {_local(config, config.access_ends)}. Ctrl-C stops.\n",
                flush=True,
            )
            def keep_state() -> None:
                cloud.publish_lambda_metrics()  # what CloudWatch would hold, for status and report
                write_state(state_slug, endpoint=cloud.endpoint_url, region=cloud.region, stack=deployed.stack_name,
                            url=hosted, now=cloud.now().isoformat())

            if state_slug:
                keep_state()
            if announce:
                announce(stack, hosted)
            if ready_file:  # whole or absent: a script polling for it never reads half a line
                partial = ready_file.with_name(ready_file.name + ".part")
                partial.write_text(url + "\n")
                partial.replace(ready_file)
            mailbox = run_clock(cloud, config, speed, until, front.holds, keep_state if state_slug else None)
            print("The event is over and access has ended; the dashboards show the receipts. Ctrl-C stops.", flush=True)
            while True:  # keep serving (and delivering what is queued) for a look at the receipts
                cloud.pump()
                mailbox.show_new()
                if state_slug:
                    keep_state()
                time.sleep(1)
    except KeyboardInterrupt:
        print("relaycast serve: stopped", flush=True)
        return 0
    finally:
        front.stop()
        if state_slug:
            remove_state(state_slug)

