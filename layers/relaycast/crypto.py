"""Tokens at rest: sealed under the stack's KMS key, bound to their relay and network by encryption context.

Envelope encryption: KMS makes a data key per seal (GenerateDataKey, under the context) and AES-256-GCM seals
the tokens with it, the context as associated data. KMS encrypts at most 4 KiB itself, and a custody outgrows
that: a DPoP-bound Bluesky grant carries its proof key, and every refresh adds the tokens it retires.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from relaycast import aws

ENVELOPE = b"rc1"  # a blob of this format starts with it; any other blob is KMS ciphertext of the tokens themselves
NONCE_BYTES = 12


class Tampered(ValueError):
    """The blob was altered, or belongs to another relay, network or event."""


def _context(event_slug: str, relay_id: str, network: str) -> dict[str, str]:
    return {"event": event_slug, "relay": relay_id, "network": network}


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def seal(tokens: dict[str, Any], *, key_id: str, event_slug: str, relay_id: str, network: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    context = _context(event_slug, relay_id, network)
    data_key = aws.client("kms").generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, json.dumps(tokens, separators=(",", ":")).encode(), _aad(context))
    wrapped = data_key["CiphertextBlob"]
    return ENVELOPE + struct.pack(">H", len(wrapped)) + wrapped + nonce + sealed


def unseal(blob: bytes, *, event_slug: str, relay_id: str, network: str) -> dict[str, Any]:
    blob, context = bytes(blob), _context(event_slug, relay_id, network)
    kms = aws.client("kms")
    if not blob.startswith(ENVELOPE):  # sealed by KMS itself (small blobs of earlier stacks)
        return json.loads(kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"])
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    start = len(ENVELOPE) + 2
    (length,) = struct.unpack(">H", blob[len(ENVELOPE):start])
    wrapped, nonce, sealed = blob[start:start + length], blob[start + length:start + length + NONCE_BYTES], blob[start + length + NONCE_BYTES:]
    data_key = kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=context)["Plaintext"]
    try:
        return json.loads(AESGCM(data_key).decrypt(nonce, sealed, _aad(context)))
    except InvalidTag:
        raise Tampered("the sealed tokens were altered") from None
