"""E-mails to relays (SES): the revocation receipt."""

from __future__ import annotations

from typing import Any

from relaycast import aws
from relaycast.config import EventConfig
from relaycast.pages import render


def send_receipt(config: EventConfig, receipt: dict[str, Any]) -> str:
    lang = receipt.get("lang") or config.languages[0]
    context = {"config": config, "receipt": receipt, "lang": lang}
    subject = (
        f"relaycast : votre accès pour {config.name} est révoqué"
        if lang == "fr"
        else f"relaycast: your access for {config.name} is revoked"
    )
    response = aws.client("sesv2").send_email(
        FromEmailAddress=config.notice_sender,
        Destination={"ToAddresses": [receipt["email"]]},
        Content={
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": render("receipt.txt", **context), "Charset": "UTF-8"},
                    "Html": {"Data": render("receipt_email.html", **context), "Charset": "UTF-8"},
                },
            }
        },
    )
    return response["MessageId"]
