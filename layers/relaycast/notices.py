"""E-mails to relays (SES): the address confirmation and the revocation receipt."""

from __future__ import annotations

from typing import Any

from relaycast import aws
from relaycast.config import EventConfig
from relaycast.pages import render


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


def send_dashboard_link(config: EventConfig, *, lang: str, email: str, link: str) -> str:
    subject = f"relaycast : votre tableau de bord pour {config.name}" if lang == "fr" else f"relaycast: your dashboard for {config.name}"
    return _send(config, email, subject, render("dashboard_link_email.txt", lang, config=config, link=link))
