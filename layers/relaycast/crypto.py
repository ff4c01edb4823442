"""Tokens at rest: sealed with the stack's KMS key, bound to their relay and network by encryption context."""

from __future__ import annotations

import json
from typing import Any

from relaycast import aws


def _context(event_slug: str, relay_id: str, network: str) -> dict[str, str]:
    return {"event": event_slug, "relay": relay_id, "network": network}


def seal(tokens: dict[str, Any], *, key_id: str, event_slug: str, relay_id: str, network: str) -> bytes:
    plaintext = json.dumps(tokens, separators=(",", ":")).encode()
    response = aws.client("kms").encrypt(
        KeyId=key_id, Plaintext=plaintext, EncryptionContext=_context(event_slug, relay_id, network)
    )
    return response["CiphertextBlob"]


def unseal(blob: bytes, *, event_slug: str, relay_id: str, network: str) -> dict[str, Any]:
    response = aws.client("kms").decrypt(
        CiphertextBlob=bytes(blob), EncryptionContext=_context(event_slug, relay_id, network)
    )
    return json.loads(response["Plaintext"])
