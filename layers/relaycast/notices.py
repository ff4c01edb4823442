"""E-mails to relays (SES): the address confirmation and the revocation receipt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relaycast import aws
from relaycast.config import EventConfig
from relaycast.pages import local_time, render


def _send(config: EventConfig, to: str, subject: str, text: str, html: str | None = None) -> str:
    body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    response = aws.client("sesv2").send_email(
        FromEmailAddress=config.notice_sender,
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}},
    )
    return response["MessageId"]


def send_receipt(config: EventConfig, receipt: dict[str, Any]) -> str:
    lang = receipt.get("lang") or config.languages[0]
    context = {"config": config, "receipt": receipt}
    subject = (
        f"relaycast : votre accès pour {config.name} est révoqué"
        if lang == "fr"
        else f"relaycast: your access for {config.name} is revoked"
    )
    return _send(
        config, receipt["email"], subject, render("receipt.txt", lang, **context), render("receipt_email.html", lang, **context)
    )


def send_confirmation(config: EventConfig, *, lang: str, email: str, link: str) -> str:
    subject = (
        f"relaycast : confirmez votre adresse pour {config.name}" if lang == "fr" else f"relaycast: confirm your address for {config.name}"
    )
    return _send(config, email, subject, render("confirm_email.txt", lang, config=config, link=link))


def send_dashboard_link(config: EventConfig, *, lang: str, email: str, link: str, renewed: bool = False) -> str:
    """The relay's dashboard link: once their address is confirmed, and each time they ask for a new one."""
    if renewed:
        subject = (f"relaycast : votre nouveau lien de tableau de bord pour {config.name}" if lang == "fr"
                   else f"relaycast: your new dashboard link for {config.name}")
    else:
        subject = f"relaycast : votre tableau de bord pour {config.name}" if lang == "fr" else f"relaycast: your dashboard for {config.name}"
    return _send(config, email, subject, render("dashboard_link_email.txt", lang, config=config, link=link, renewed=renewed))


def send_moderation(config: EventConfig, *, picks: list[dict[str, Any]], link: str, deadline: datetime) -> str:
    """The moderator's call to action, in the event's first language."""
    assert config.moderation
    lang = config.languages[0]
    until = local_time(config, deadline)
    subject = (
        f"relaycast : {len(picks)} publication(s) à modérer pour {config.name}"
        if lang == "fr"
        else f"relaycast: {len(picks)} post(s) to moderate for {config.name}"
    )
    body = render("moderation_email.txt", lang, config=config, picks=picks, link=link, until=until)
    return _send(config, config.moderation.moderator_email, subject, body)


def send_digest(config: EventConfig, *, lang: str, email: str, entries: list[dict[str, Any]], until: str, dashboard: str) -> str:
    """A relay's proposals of one round, each with its own Approve and Skip link."""
    subject = (
        f"relaycast : {len(entries)} publication(s) à approuver pour {config.name}"
        if lang == "fr"
        else f"relaycast: {len(entries)} post(s) to approve for {config.name}"
    )
    body = render("digest_email.txt", lang, config=config, entries=entries, until=until, dashboard=dashboard)
    return _send(config, email, subject, body)
