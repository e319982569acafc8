"""Signing access tokens and ID tokens with the process's current keys."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import orjson

from timesheets.authserver.keys import secret_kid
from timesheets.authserver.oauth.rfc9068 import access_token_header
from timesheets.authserver.oauth.tenant import ApiView
from timesheets.authserver.runtime import Runtime
from timesheets.authserver.sealing import SealError

ID_TOKEN_ALG = "RS256"


async def sign_access_token(runtime: Runtime, api: ApiView, claims: dict[str, Any]) -> str:
    """An RFC 9068 access token signed as its (first) API requires."""
    if api.signing_alg == "HS256" and api.hs256_secret is not None:
        header = access_token_header(secret_kid(api.hs256_secret))
        return jwt.encode(claims, api.hs256_secret, "HS256", headers=header)
    signer = (await runtime.keyring()).signer(api.signing_alg)
    if signer is None:
        # An API with a new algorithm was registered since the keys were made.
        await runtime.prepare_keys()
        signer = (await runtime.keyring()).signer(api.signing_alg)
    if signer is None:
        raise RuntimeError(f"no signing key for {api.signing_alg}")
    # The claims come from rfc9068.access_token_claims with their registered types (times
    # as integers, never datetimes), so they go to the JWS layer as bytes: PyJWT's JWT
    # layer would check and re-encode them, at a cost that shows on the token endpoint.
    return jwt.api_jws.encode(
        orjson.dumps(claims), signer.key, signer.alg, headers=access_token_header(signer.kid)
    )


async def sign_id_token(runtime: Runtime, claims: dict[str, Any]) -> str:
    """An ID token: RS256 with `kid` (OIDC Core §10.1), `typ: JWT`."""
    signer = (await runtime.keyring()).signer(ID_TOKEN_ALG)
    if signer is None:
        raise RuntimeError("no RS256 signing key")
    return jwt.encode(claims, signer.key, signer.alg, headers={"kid": signer.kid, "typ": "JWT"})


async def require_keys_open(runtime: Runtime) -> None:
    """Raise `SealError` when a current signing key, or an API's secret, does not open with
    this process's key-encryption key. Checked before a code or a refresh token is spent:
    tokens that cannot be signed must not use it up, or the client's retry after the 500
    would be taken for a replay and revoke the person's grant."""
    await runtime.apis()
    unopened = (await runtime.keyring()).unopened
    if unopened:
        raise SealError(f"the current {', '.join(sorted(unopened))} key does not open")


def report_unopened(log: logging.Logger, error: SealError) -> None:
    """Log that a key (or an API secret) does not open with this process's key-encryption
    key, as when another instance made it with another one since this one started."""
    log.error(
        "cannot sign: a key does not open with TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY",
        extra={"reason": str(error)},
    )
