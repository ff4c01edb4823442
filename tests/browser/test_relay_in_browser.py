"""A relay's whole journey in a real browser: `relaycast serve` on a free port, headless Debian chromium
driven by Playwright.

Hosted page → French → connect the sandbox X → dashboard → add Bluesky through the sandbox's consent page and link
it → a proposal → approve → published → undo → revoke both → receipts. Every page is saved as a full-page screenshot under test-artifacts/browser/, with the server's output.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

pytestmark = pytest.mark.xdist_group("browser")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"  # Debian's: `make test` installs it; Playwright's own downloads are never used
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# events/demo.yaml polls every 30 minutes: a round every 2 s, a pick every 1 to 6 rounds, and access ends about
# 140 s after the start, long after the journey (≈ 15 s), even on a busy machine.
SPEED = 900
STARTUP_SECONDS = 180  # synth and deploy
WAIT_SECONDS = 90  # for a proposal, a publish, a receipt
USERNAME = "ada_relay"
EMAIL = "ada@example.net"
WORDS = {  # what the relay reads, per language
    "en": {"connect": "Connect X", "connected": "Connected as", "published": "published", "undone": "undone", "ended": "Access ended"},
    "fr": {"connect": "Connecter X", "connected": "Connecté", "published": "publié", "undone": "annulé", "ended": "Accès terminé"},
}


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a person would; killed if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(ready: Path) -> Iterator[Served]:
    """The real command, as a person starts it; stopped on the way out whatever happened."""
    log = ARTIFACTS / "serve.log"
    command = [str(Path(sys.executable).with_name("relaycast")), "serve", "--port", str(free_port()), "--speed", str(SPEED), "--ready-file", str(ready)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    served = Served("", process, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready.exists():
            assert process.poll() is None, f"relaycast serve exited with {process.returncode}:\n{served.output()[-3000:]}"
            assert time.monotonic() < deadline, f"relaycast serve not ready after {STARTUP_SECONDS}s:\n{served.output()[-3000:]}"
            time.sleep(0.5)
        served.url = ready.read_text().strip()
        yield served
    finally:
        served.stop()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def reload_until(page: Page, locator: Locator, what: str) -> Locator:
    """The dashboard has no script: a person reloads until it shows what they wait for."""
    deadline = time.monotonic() + WAIT_SECONDS
    while locator.count() == 0:
        assert time.monotonic() < deadline, f"no {what} on {page.url} after {WAIT_SECONDS}s"
        page.wait_for_timeout(1000)
        page.reload()
    return locator.first


def wait_for_output(served: Served, pattern: re.Pattern[str], what: str, seconds: float = WAIT_SECONDS) -> str:
    deadline = time.monotonic() + seconds
    while not (found := pattern.search(served.output())):
        assert time.monotonic() < deadline, f"no {what} in the output of serve after {WAIT_SECONDS}s"
        time.sleep(0.5)
    return found.group(1)


def submit(page: Page, form: Locator) -> None:
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_a_relay_connects_approves_undoes_and_revokes_in_a_browser(tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # only this run's pages
        old.unlink()
    lang = "fr"
    words = WORDS[lang]
    with serving(tmp_path / "ready") as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800}, locale="en-GB")
            # Generous: under `make test` the server shares two cores with the other suite; a stuck page still fails.
            page.set_default_timeout(60_000)

            page.goto(served.url)
            expect(page.locator("h1")).to_contain_text("relaycast Demo Conference")
            connect = page.locator('form[action$="/connect/x"]')
            expect(connect.locator("button[type=submit]")).to_have_text(WORDS["en"]["connect"])
            shot(page, "01-hosted-page")

            with page.expect_navigation():
                page.locator('a[hreflang="fr"]').click()
            expect(page.locator("html")).to_have_attribute("lang", "fr")
            expect(connect.locator("button[type=submit]")).to_have_text(words["connect"])
            expect(page.locator("main")).to_contain_text("Ce que vous autorisez")
            expect(page.locator('a[hreflang="en"]')).to_be_visible()
            connect.get_by_label("E-mail pour les propositions et votre reçu (facultatif)").fill(EMAIL)
            shot(page, "02-hosted-page-fr")

            submit(page, connect)
            # The sandbox's consent page (its documented hooks): any username logs in.
            expect(page.locator("#username")).to_be_visible()
            expect(page.locator("body")).to_contain_text("no real account")
            page.locator("#username").fill(USERNAME)
            shot(page, "03-x-consent")
            page.locator("#allow").click()

            page.wait_for_url(re.compile(r"/relay\?t="), timeout=90_000)  # the callback: code exchange, KMS, SES
            expect(page.locator("html")).to_have_attribute("lang", lang)
            expect(page.locator("main")).to_contain_text(f"{words['connected']}")
            expect(page.locator("main")).to_contain_text(f"@{USERNAME}")
            expect(page.locator('form[action$="/relay/revoke"]')).to_have_count(1)
            expect(page.locator("main")).to_contain_text(f"En attente de confirmation : {EMAIL}")
            shot(page, "04-dashboard")

            # The address is used once confirmed: the link `serve` prints from its mailbox, then a button.
            confirm = re.compile(r"(http\S+/email/confirm\?c=\S+)")
            try:
                confirm_link = wait_for_output(served, confirm, "confirmation link", seconds=45)
            except AssertionError:
                # What a relay does when no mail came: type the address again on the dashboard. Why the first
                # one was not sent is in serve's output (its "error in …" lines), reported as a warning.
                errors = [line for line in served.output().splitlines() if "error in" in line]
                warnings.warn(f"no confirmation mail after 45 s; asked again from the dashboard; serve said: {errors}", stacklevel=1)
                again = page.locator('form[action$="/relay/email"]')
                again.locator("#email").fill(EMAIL)
                submit(page, again)
                confirm_link = wait_for_output(served, confirm, "confirmation link (asked again)")
            page.goto(confirm_link)
            expect(page.locator("main")).to_contain_text(EMAIL)
            shot(page, "04b-confirm-email")
            submit(page, page.locator('form[action$="/email/confirm"]'))
            expect(page.locator("main")).to_contain_text(f"Confirmée : {EMAIL}")

            # Bluesky from the dashboard: the handle typed, the sandbox's consent page (served by `serve` under its
            # domain), signed in with the app password `serve` printed, then "link this account?" answered.
            handle, password = re.search(r"Bluesky: type the handle (\S+) and, on the sandbox's consent page, the app password (\S+) ",
                                         served.output()).groups()
            bluesky = page.locator('form[action$="/connect/bluesky"]')
            bluesky.get_by_label("Votre pseudo Bluesky").fill(handle)
            submit(page, bluesky)
            expect(page.locator("#identifier")).to_have_value(handle)  # the handle went as the login hint
            expect(page.locator("h1")).to_contain_text("/bluesky/client-metadata.json")  # relaycast's client_id is its URL
            page.locator("#password").fill(password)
            shot(page, "04c-bluesky-consent")
            with page.expect_navigation():
                page.locator("#allow").click()
            expect(page.locator("h1")).to_contain_text(f"Lier @{handle} sur Bluesky")
            shot(page, "04d-bluesky-link")
            with page.expect_navigation():
                page.get_by_role("button", name="Lier ce compte").click()
            page.wait_for_url(re.compile(r"/relay\?t="))
            expect(page.locator('form[action$="/relay/revoke"]')).to_have_count(2)
            expect(page.locator("main")).to_contain_text(handle)
            shot(page, "04e-dashboard-with-bluesky")

            x_proposal = 'form[action$="/relay/approve"]:has(input[name="network"][value="x"])'  # Bluesky's come too
            approve = reload_until(page, page.locator(x_proposal), "proposal")
            post_id = approve.locator('input[name="post"]').get_attribute("value")
            assert post_id and post_id.isdigit()
            expect(page.locator("blockquote").first).not_to_be_empty()
            shot(page, "05-proposal")

            submit(page, approve)
            expect(page.locator(f'form[action$="/relay/approve"]:has(input[name="post"][value="{post_id}"])')).to_have_count(0)
            # Published by the queue's consumer within a second or two: the item gets its link to the repost.
            link = reload_until(page, page.locator(f'main a[href*="/status/{post_id}"]'), "published item")
            expect(page.locator("main")).to_contain_text(words["published"])
            expect(link).to_be_visible()
            shot(page, "06-published")

            undo = page.locator(f'form[action$="/relay/undo"]:has(input[name="post"][value="{post_id}"])')
            submit(page, undo)
            reload_until(page, page.get_by_text(words["undone"], exact=True), "undone item")
            expect(undo).to_have_count(0)
            shot(page, "07-undone")

            for network in ("x", "bluesky"):
                submit(page, page.locator(f'form[action$="/relay/revoke"]:has(input[name="network"][value="{network}"])'))
            heading = reload_until(page, page.get_by_role("heading", name=re.compile(words["ended"])), "receipt")
            expect(heading).to_be_visible()
            expect(page.locator('form[action$="/relay/revoke"]')).to_have_count(0)
            expect(page.locator("main")).to_contain_text("Bluesky")
            expect(page.locator('form[action$="/relay/approve"]')).to_have_count(0)
            shot(page, "08-receipt")
        except Exception as error:
            shot(page, "99-failure")  # where it stopped, next to the server's output
            error.add_note(f"the page was {page.url}; the last output of serve:\n{served.output()[-3000:]}")
            raise
        finally:
            browser.close()

        # The rounds proposed to the relay who connected after the event started; Ctrl-C stops cleanly.
        assert "proposed to 1 connected relay(s)" in served.output()
        # The receipt went to the confirmed address, in French.
        assert wait_for_output(served, re.compile(rf"(mail to {re.escape(EMAIL)}: .*révoqué)"), "receipt mail")
        assert served.stop() == 0
        assert "stopped" in served.output()
