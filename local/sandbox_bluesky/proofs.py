"""What the sandbox checks of a client's signed requests, as the AT Protocol OAuth profile requires: DPoP proofs
(RFC 9449, ES256, with server nonces, single-use, bound to the method, the URL and, at the PDS, the token) and
`private_key_jwt` client assertions (RFC 7523, signed with a key of the client's published JWKS)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable

from joserfc import jwk, jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from relaycast_local.sandbox_bluesky.records import BlueskyRecords

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Proofs and assertions are signed with the client's wall clock, so their age is read on the wall clock (token
# lifetimes are on relaycast's clock, which a run may simulate).
PROOF_MAX_AGE = 60  # seconds a DPoP proof or a client assertion is accepted after its iat
NONCE_LIFETIME = 180  # a server nonce rotates this often (the reference server: 3 minutes); the previous still counts


class ProofRefused(Exception):
    """A DPoP proof or client assertion the server refuses: `error` is the OAuth error code; `nonce` when the
    client only has to sign again with the server's current nonce (`use_dpop_nonce`)."""

    def __init__(self, error: str, description: str, *, nonce: bool = False):
        super().__init__(description)
        self.error, self.description, self.nonce = error, description, nonce


class Nonces:
    """One server's DPoP nonces: the current one and the one before (a nonce issued a moment before it rotated
    still counts once)."""

    def __init__(self) -> None:
        self._current, self._previous, self._since = secrets.token_urlsafe(16), None, time.time()
        self.restless = False  # a broken server: every answer names a new nonce and none is ever accepted

    def current(self) -> str:
        if self.restless or time.time() - self._since >= NONCE_LIFETIME:
            self._previous, self._current, self._since = self._current, secrets.token_urlsafe(16), time.time()
        return self._current

    def accepts(self, nonce: str | None) -> bool:
        return not self.restless and nonce is not None and nonce in (self.current(), self._previous)


def thumbprint_of_token(access_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def check_dpop(proof: str | None, *, method: str, url: str, nonces: Nonces, records: BlueskyRecords,
               access_token: str | None = None) -> str:
    """The thumbprint of the key that signed the request's DPoP proof (tokens are bound to it), or ProofRefused
    (`invalid_dpop_proof`, or `use_dpop_nonce`)."""
    if not proof:
        raise ProofRefused("invalid_dpop_proof", "DPoP proof required")
    try:
        header = jws.extract_compact(proof.encode()).headers()
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256" or "jwk" not in header:
            raise ProofRefused("invalid_dpop_proof", "a DPoP proof is a dpop+jwt signed ES256 with its jwk")
        key = jwk.import_key(header["jwk"])
        if key.is_private:
            raise ProofRefused("invalid_dpop_proof", "the proof's jwk must be public")
        claims = jwt.decode(proof, key, algorithms=["ES256"]).claims
    except JoseError as error:
        raise ProofRefused("invalid_dpop_proof", f"unreadable DPoP proof: {error.error}") from None
    except ValueError:
        raise ProofRefused("invalid_dpop_proof", "unreadable DPoP proof") from None
    if claims.get("htm") != method or str(claims.get("htu", "")).split("?")[0] != url.split("?")[0]:
        raise ProofRefused("invalid_dpop_proof", "the proof is for another method or URL")
    if not isinstance(claims.get("iat"), int) or abs(time.time() - claims["iat"]) > PROOF_MAX_AGE:
        raise ProofRefused("invalid_dpop_proof", "the proof is too old or from the future")
    if access_token is not None and claims.get("ath") != thumbprint_of_token(access_token):
        raise ProofRefused("invalid_dpop_proof", "the proof is not bound to this access token")
    if not nonces.accepts(claims.get("nonce")):
        raise ProofRefused("use_dpop_nonce", "Authorization server requires nonce in DPoP proof", nonce=True)
    if not isinstance(claims.get("jti"), str) or not records.first_use_of(f"dpop:{claims['jti']}"):
        raise ProofRefused("invalid_dpop_proof", "the proof was used before")
    return key.thumbprint()


def check_client_assertion(form: dict[str, str], *, issuer: str, metadata_of: Callable[[str], dict],
                           records: BlueskyRecords) -> tuple[dict, str]:
    """The client's metadata and the `kid` it authenticated with, or ProofRefused (`invalid_client`)."""
    client_id = form.get("client_id", "")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise ProofRefused("invalid_client", "a confidential client authenticates with private_key_jwt")
    metadata = metadata_of(client_id)
    if metadata.get("token_endpoint_auth_method") != "private_key_jwt":
        raise ProofRefused("invalid_client", "the client's metadata does not name private_key_jwt")
    try:
        keys = KeySet.import_key_set(metadata["jwks"])
        token = jwt.decode(form["client_assertion"], keys, algorithms=["ES256"])
    except (JoseError, KeyError, ValueError) as error:
        raise ProofRefused("invalid_client", f"client assertion refused: {error}") from None
    claims = token.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise ProofRefused("invalid_client", "the assertion's iss and sub must be the client_id")
    audience = claims.get("aud")
    if issuer not in (audience if isinstance(audience, list) else [audience]):
        raise ProofRefused("invalid_client", "the assertion's aud must be this server's issuer")
    if not isinstance(claims.get("iat"), int) or abs(time.time() - claims["iat"]) > PROOF_MAX_AGE:
        raise ProofRefused("invalid_client", "the assertion is too old or from the future")
    if not isinstance(claims.get("jti"), str) or not records.first_use_of(f"assertion:{claims['jti']}"):
        raise ProofRefused("invalid_client", "the assertion was used before")
    return metadata, str(token.header.get("kid", ""))
