"""A bounded loopback load run of the hosted app (not a test: it asserts nothing about time).

    python tests/bench/bench_load.py --clients 50 --connects 8 --actions 12 [--json PATH]

The local runtime deploys an event (X in approve-each, through the sandbox X's OAuth; Mastodon in share-link
mode) and serves its API on loopback. `--clients` people, each a thread with its own HTTP session bound to its
own loopback address (127.0.0.x: the app sees one client IP per person, as API Gateway's `sourceIp`), each
connect `--connects` X accounts through the whole consent dance, then press `--actions` dashboard buttons
(open the dashboard, pause, resume, lower the cap). Abusive clients run beside them: some join in share-link
mode again and again for one victim's address, some join without an address as fast as they can.

Reported: requests by status, server errors (goal 0), X grants lost or doubled (what the clients completed
against the grants stored: goal 0), the victim's mails (goal 1), how many 429s and whether every one carried a
clear page and Retry-After. The web ACL is not emulated locally: the 429s are the app's own limits.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

VICTIM = "victim@example.net"
EVENT = """name: Load Run Conference
slug: load-run
hashtags: ["#LOAD26"]
timezone: Europe/Paris
start: 2026-12-08T09:00
end: 2026-12-08T18:00
cap_per_relay: 5
networks: [x, mastodon]
modes: {x: approve-each, mastodon: share-link}
mastodon_source: mastodon.sandbox
publish_jitter_seconds: 0
poll_interval_minutes: 60
quiet_hours: off
notice_sender: relaycast@example.org
experts:
  - handle: "@amina_data"
"""
LIMITED_PAGE = ("Too many requests", "Please try again in")


class BoundAdapter(HTTPAdapter):
    """Connections from one loopback address: the server sees this client's own IP."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__(pool_connections=2, pool_maxsize=2)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        return super().init_poolmanager(*args, **kwargs)


def session(source_ip: str) -> requests.Session:
    http = requests.Session()
    adapter = BoundAdapter(source_ip)
    http.mount("http://", adapter)
    return http


@dataclass
class Tally:
    """What every client saw, counted under one lock."""

    statuses: Counter = field(default_factory=Counter)
    limited: int = 0
    limited_clear: int = 0  # a 429 with Retry-After and the page that says when to try again
    completed: Counter = field(default_factory=Counter)  # X user name -> connects that reached the dashboard
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, answer: requests.Response) -> requests.Response:
        with self.lock:
            self.statuses[answer.status_code] += 1
            if answer.status_code == 429:
                self.limited += 1
                if int(answer.headers.get("Retry-After", "0") or 0) > 0 and all(t in answer.text for t in LIMITED_PAGE):
                    self.limited_clear += 1
            if answer.status_code >= 500 and len(self.failures) < 10:
                self.failures.append(f"{answer.request.method} {answer.url} → {answer.status_code}")
        return answer


def _fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def connect_x(http: requests.Session, tally: Tally, base: str, username: str, email: str) -> str | None:
    """The hosted page's Connect X, the sandbox's consent, the callback: the dashboard link, or None."""
    started = tally.saw(http.post(f"{base}/connect/x", data={"email": email}, allow_redirects=False, timeout=60))
    if started.status_code != 302:
        return None
    consent_url = started.headers["Location"]
    consent = http.get(consent_url, timeout=60)
    action = re.search(r'<form[^>]*action="([^"]*)"', consent.text)
    form_url = urljoin(consent_url, html.unescape(action.group(1))) if action and action.group(1) else consent_url
    back = http.post(form_url, data={**_fields(consent.text), "username": username, "decision": "allow"},
                     allow_redirects=False, timeout=60)
    if back.status_code not in (302, 303):
        return None
    landed = tally.saw(http.get(back.headers["Location"], allow_redirects=False, timeout=60))
    if landed.status_code != 303:
        return None
    with tally.lock:
        tally.completed[username] += 1
    return landed.headers["Location"]


def relay_client(index: int, base: str, tally: Tally, connects: int, actions: int) -> None:
    http = session(f"127.0.0.{10 + index}")
    tally.saw(http.get(f"{base}/", timeout=60))
    dashboards = []
    for k in range(connects):
        email = f"relay{index}-{k}@example.net" if k == 0 else ""  # one address per person
        link = connect_x(http, tally, base, f"load_{index}_{k}", email)
        if link:
            dashboards.append(link)
    if not dashboards:
        return
    for a in range(actions):
        link = dashboards[a % len(dashboards)]
        token = link.split("t=", 1)[1]
        step = a % 4
        if step == 0:
            tally.saw(http.get(link, timeout=60))
        else:
            action, extra = (("pause", {}), ("resume", {}), ("cap", {"cap": str(4 - a // 4 % 4)}))[step - 1]
            tally.saw(http.post(f"{base}/relay/{action}", data={"t": token, "network": "x", **extra}, allow_redirects=False,
                                timeout=60))


def abusive_client(index: int, base: str, tally: Tally, tries: int, with_mail: bool) -> None:
    """Joins in share-link mode again and again from one address (for the victim's address, or without one)."""
    http = session(f"127.0.1.{10 + index}")
    for _ in range(tries):
        form = {"instance": "mastodon.social", **({"email": VICTIM} if with_mail else {})}
        tally.saw(http.post(f"{base}/connect/mastodon", data=form, allow_redirects=False, timeout=60))


def measure(clients: int = 50, connects: int = 8, actions: int = 12, abusive: int = 6, tries: int = 30) -> dict:
    """Run the load and return its figures (the lead's bench report takes this dict)."""
    from relaycast_local.harness import local_stack

    with tempfile.TemporaryDirectory(prefix="relaycast-load-") as folder:
        event = Path(folder) / "event.yaml"
        event.write_text(EVENT)
        with local_stack(event) as stack:
            base = stack.api_url.rstrip("/")
            tally = Tally()
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=clients + abusive) as pool:
                jobs = [pool.submit(relay_client, i, base, tally, connects, actions) for i in range(clients)]
                jobs += [pool.submit(abusive_client, i, base, tally, tries, i % 2 == 0) for i in range(abusive)]
                for job in jobs:
                    job.result()
            seconds = time.monotonic() - started
            stored = Counter(str(i.get("username")) for i in stack.scan() if i.get("kind") == "grant" and i.get("network") == "x")
            victim_mails = sum(1 for m in stack.sent_emails() if VICTIM in m["to"])
    lost = sum(max(0, n - stored.get(u, 0)) for u, n in tally.completed.items())
    doubled = sum(max(0, n - 1) for n in stored.values()) + sum(n for u, n in stored.items() if u not in tally.completed)
    requests_made = sum(tally.statuses.values())
    return {
        "clients": clients,
        "abusive_clients": abusive,
        "requests": requests_made,
        "seconds": round(seconds, 1),
        "requests_per_second": round(requests_made / seconds, 1) if seconds else 0,
        "by_status": {str(k): v for k, v in sorted(tally.statuses.items())},
        "server_errors": sum(v for k, v in tally.statuses.items() if k >= 500),
        "server_error_examples": tally.failures,
        "connects_completed": sum(tally.completed.values()),
        "grants_stored": sum(stored.values()),
        "grants_lost": lost,
        "grants_doubled": doubled,
        "victim_mails": victim_mails,
        "rate_limited": tally.limited,
        "rate_limited_with_clear_page_and_retry_after": tally.limited_clear,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--connects", type=int, default=8, help="X accounts each client connects")
    parser.add_argument("--actions", type=int, default=12, help="dashboard buttons each client presses")
    parser.add_argument("--abusive", type=int, default=6, help="clients that join again and again")
    parser.add_argument("--tries", type=int, default=30, help="joins of each abusive client")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args()
    figures = measure(options.clients, options.connects, options.actions, options.abusive, options.tries)
    text = json.dumps(figures, indent=2)
    print(text)
    if options.json:
        options.json.write_text(text + "\n")
    goals = figures["server_errors"] == 0 and figures["grants_lost"] == 0 and figures["grants_doubled"] == 0
    goals = goals and figures["rate_limited"] == figures["rate_limited_with_clear_page_and_retry_after"] and figures["victim_mails"] <= 1
    print("goals met" if goals else "GOALS NOT MET")


if __name__ == "__main__":
    main()
