"""Simulated relays: people who connect through the real hosted page over HTTP and approve most proposals."""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin

import requests

# The post of each approve form (undo forms carry a post too).
PENDING = re.compile(r'/relay/approve"[^>]*>\s*(?:<input[^>]*>)*?<input type="hidden" name="network" value="([a-z]+)">'
                     r'<input type="hidden" name="post" value="([0-9]+)"')
CONFIRM_LINK = re.compile(r"https?://\S+/email/confirm\?c=\S+")


class RelayJourneyError(RuntimeError):
    pass


@dataclass
class SimulatedRelay:
    username: str
    email: str | None
    approve_rate: float = 0.85
    seed: int = 0
    review_every_minutes: int = 120  # a person looks at their proposals a few times a day
    next_review: datetime | None = None
    dashboard_url: str | None = None
    approved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bluesky_handle: str | None = None
    linkedin_member: str | None = None

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.random = random.Random(f"{self.seed}:{self.username}")

    def _expect(self, response: requests.Response, *statuses: int) -> requests.Response:
        if response.status_code not in statuses:
            raise RelayJourneyError(f"{self.username}: {response.request.method} {response.url} → {response.status_code}: {response.text[:300]}")
        return response

    def connect(self, base_url: str) -> str:
        """The whole journey: hosted page → connect → X consent → callback → dashboard."""
        self._expect(self.http.get(f"{base_url}/", timeout=10), 200)
        self.dashboard_url = self._through_consent(f"{base_url}/connect/x", {"email": self.email or ""})
        self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        return self.dashboard_url

    def add_mastodon(self, instance: str) -> str:
        """From their dashboard, connect a Mastodon account on `instance` to the same relay."""
        page = self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        action = re.search(r'<form method="post" action="([^"]*/connect/mastodon)"', page.text)
        if not action:
            raise RelayJourneyError(f"{self.username}: the dashboard offers no Mastodon connect")
        token = html.unescape(re.search(r'name="t" value="([^"]+)"', page.text).group(1))
        landed = self._through_consent(html.unescape(action.group(1)), {"instance": instance, "t": token})
        self._expect(self.http.get(landed, timeout=10), 200)
        return landed

    def add_bluesky(self, bluesky) -> str:
        """From their dashboard, connect a Bluesky account to the same relay: their handle typed, the sandbox's
        consent page signed in with their app password (an account made for them), the answer back in this browser."""
        page = self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        action = re.search(r'<form method="post" action="([^"]*/connect/bluesky)"', page.text)
        if not action:
            raise RelayJourneyError(f"{self.username}: the dashboard offers no Bluesky connect")
        handle = bluesky.add_account(bluesky.handle(self.username.replace("_", "-")), followers=self.random.randint(5, 900)).handle
        token = html.unescape(re.search(r'name="t" value="([^"]+)"', page.text).group(1))
        started = self._expect(self.http.post(html.unescape(action.group(1)), data={"handle": handle, "t": token},
                                              allow_redirects=False, timeout=30), 302)
        answer = bluesky.consent(started.headers["Location"], handle)
        callback = self._expect(self.http.get(answer, allow_redirects=False, timeout=30), 200, 303)
        landed = (self._confirm_link(callback) if callback.status_code == 200 else callback).headers["Location"]
        self._expect(self.http.get(landed, timeout=10), 200)
        self.bluesky_handle = handle
        return landed

    def add_linkedin(self, linkedin) -> str:
        """From their dashboard, connect a LinkedIn account (a member made for them) to the same relay."""
        page = self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        action = re.search(r'<form method="post" action="([^"]*/connect/linkedin)"', page.text)
        if not action:
            raise RelayJourneyError(f"{self.username}: the dashboard offers no LinkedIn connect")
        member = linkedin.add_member(f"{self.username} (LinkedIn)")
        token = html.unescape(re.search(r'name="t" value="([^"]+)"', page.text).group(1))
        started = self._expect(self.http.post(html.unescape(action.group(1)), data={"t": token}, allow_redirects=False,
                                              timeout=30), 302)
        answer = linkedin.consent(started.headers["Location"], member.name)
        callback = self._expect(self.http.get(answer, allow_redirects=False, timeout=30), 200, 303)
        landed = (self._confirm_link(callback) if callback.status_code == 200 else callback).headers["Location"]
        self._expect(self.http.get(landed, timeout=10), 200)
        self.linkedin_member = member.member_id
        return landed

    def _confirm_link(self, page: requests.Response) -> requests.Response:
        """The callback asks before an account joins an existing dashboard: this person links it (same browser)."""
        action = re.search(r'<form method="post" action="([^"]*/callback/[a-z]+)"', page.text)
        confirmation = re.search(r'name="l" value="([^"]+)"', page.text)
        if not action or not confirmation:
            raise RelayJourneyError(f"{self.username}: the callback answered a page that is not a link confirmation")
        answer = {"l": html.unescape(confirmation.group(1)), "decision": "link"}
        return self._expect(self.http.post(html.unescape(action.group(1)), data=answer, allow_redirects=False, timeout=30), 303)

    def _through_consent(self, connect_url: str, form: dict[str, str]) -> str:
        """POST the connect form, answer the network's consent page as this person, return where the callback leads."""
        started = self._expect(self.http.post(connect_url, data=form, allow_redirects=False, timeout=10), 302)
        consent_url = started.headers["Location"]
        consent = self._expect(self.http.get(consent_url, timeout=10), 200)
        action = re.search(r'<form[^>]*action="([^"]*)"', consent.text)
        form_url = urljoin(consent_url, action.group(1).replace("&amp;", "&")) if action and action.group(1) else consent_url
        fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)}
        fields.update({"username": self.username, "decision": "allow"})
        back = self._expect(self.http.post(form_url, data=fields, allow_redirects=False, timeout=10), 302, 303)
        callback = self._expect(self.http.get(back.headers["Location"], allow_redirects=False, timeout=30), 200, 302, 303)
        callback = self._confirm_link(callback) if callback.status_code == 200 else callback
        return callback.headers["Location"]

    def revoke(self, network: str = "x") -> None:
        """Press "Revoke now" for `network` on their dashboard (the dashboard stays, with the receipt)."""
        page = self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        token = html.unescape(re.search(r'name="t" value="([^"]+)"', page.text).group(1))
        base = self.dashboard_url.split("/relay?", 1)[0]
        self._expect(self.http.post(f"{base}/relay/revoke", data={"t": token, "network": network}, allow_redirects=False, timeout=30), 303)

    def confirm_email(self, inbox: list[dict]) -> bool:
        """Open the confirmation link sent to this person's address and press Confirm."""
        links = [m for m in inbox if self.email in m["to"] and CONFIRM_LINK.search(m["body"])]
        if not links:
            return False
        url = CONFIRM_LINK.search(links[-1]["body"]).group(0)
        page = self._expect(self.http.get(url, timeout=10), 200)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        token = html.unescape(re.search(r'name="c" value="([^"]+)"', page.text).group(1))
        self._expect(self.http.post(html.unescape(action), data={"c": token}, allow_redirects=False, timeout=10), 303)
        return True

    def maybe_review(self, now: datetime) -> tuple[int, int]:
        """Review when this person's next look is due (each their own rhythm); (approved, skipped)."""
        if self.next_review is None:
            self.next_review = now + timedelta(minutes=self.random.randrange(self.review_every_minutes))
        if now < self.next_review:
            return 0, 0
        self.next_review = now + timedelta(minutes=self.review_every_minutes)
        return self.review()

    def review(self) -> tuple[int, int]:
        """Open the dashboard and decide every pending proposal: approve most, skip the rest."""
        if not self.dashboard_url:
            return 0, 0
        page = self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        token_value = html.unescape(token.group(1)) if token else ""
        approved = skipped = 0
        base = self.dashboard_url.split("/relay?", 1)[0]
        for network, post_id in dict.fromkeys(PENDING.findall(page.text)):
            action = "approve" if self.random.random() < self.approve_rate else "skip"
            self._expect(
                self.http.post(f"{base}/relay/{action}", data={"t": token_value, "network": network, "post": post_id},
                               allow_redirects=False, timeout=30),
                303,
            )
            if action == "approve":
                self.approved.append(post_id)
                approved += 1
            else:
                self.skipped.append(post_id)
                skipped += 1
        return approved, skipped

    def join_share_link(self, base_url: str, network: str = "x", username: str | None = None) -> str:
        """Share-link mode: the hosted page's form for `network` joins at once (no OAuth, no token) and lands
        on the dashboard. `username` is the relay's own handle, typed so their posts are never proposed back."""
        page = self._expect(self.http.get(f"{base_url}/", timeout=10), 200)
        action = re.search(rf'<form method="post" action="([^"]*/connect/{network})"', page.text)
        if not action:
            raise RelayJourneyError(f"{self.username}: the hosted page offers no {network} form")
        lang = re.search(r'name="lang" value="([^"]*)"', page.text)
        form = {"username": username if username is not None else self.username, "email": self.email or "",
                "lang": lang.group(1) if lang else ""}
        joined = self._expect(self.http.post(html.unescape(action.group(1)), data=form, allow_redirects=False, timeout=10), 303)
        self.dashboard_url = joined.headers["Location"]
        self._expect(self.http.get(self.dashboard_url, timeout=10), 200)
        return self.dashboard_url
