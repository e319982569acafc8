"""The least a durable `POST /timesheets` can do in Python: the write benchmark's yardstick.

One plain Starlette route on uvicorn (uvloop, httptools), nothing else: it verifies the
RS256 bearer token with PyJWT against the issuer's JWKS (fetched once at start), checks
the `create:timesheets` scope, validates the seed body with pydantic and inserts the row
into a SQLite file (WAL, synchronous=FULL unless REFERENCE_SYNCHRONOUS says otherwise)
with one transaction per request, on the event loop. No request ids, metrics, logs,
ownership rules, hour caps, audit trail or idempotency: it shows what the platform's own
rules and safety cost on top of the framework, the driver and the disk.

`bench/api_write.py --reference` measures it in the same rounds as our API and the seed
API. Configured by environment: REFERENCE_ISSUER, REFERENCE_AUDIENCE, REFERENCE_DB.
Run:  .venv/bin/uvicorn reference_api:app --app-dir bench --workers 2 --loop uvloop
          --http httptools --no-access-log --port 8080
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from typing import Any

import httpx
import jwt
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ISSUER = os.environ["REFERENCE_ISSUER"]
AUDIENCE = os.environ["REFERENCE_AUDIENCE"]
SYNCHRONOUS = os.environ.get("REFERENCE_SYNCHRONOUS", "FULL")
UNAUTHORIZED = Response(
    '{"message":"Missing or invalid token"}', 401, media_type="application/json"
)


class Body(BaseModel):
    """The seed body as the benchmark sends it."""

    date: str
    project: str
    hours: float
    user_id: str


def _keys() -> dict[str, Any]:
    with httpx.Client(timeout=10) as http:
        jwks_uri = http.get(f"{ISSUER}/.well-known/openid-configuration").json()["jwks_uri"]
        jwks = http.get(jwks_uri).json()
    return {jwk["kid"]: jwt.PyJWK(jwk).key for jwk in jwks["keys"] if jwk.get("kty") == "RSA"}


KEYS = _keys()
DB = sqlite3.connect(os.environ["REFERENCE_DB"], isolation_level=None, check_same_thread=False)
DB.execute("PRAGMA journal_mode=WAL")
DB.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
DB.execute("PRAGMA busy_timeout=10000")
DB.execute(
    "CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
    "entry_date TEXT NOT NULL, project TEXT NOT NULL, hours REAL NOT NULL)"
)


async def create(request: Request) -> Response:
    """Verify, validate, insert, answer 201."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return UNAUTHORIZED
    try:
        key = KEYS[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except (jwt.PyJWTError, KeyError):
        return UNAUTHORIZED
    if "create:timesheets" not in str(claims.get("scope", "")).split():
        return Response('{"message":"Insufficient scope"}', 403, media_type="application/json")
    try:
        body = Body.model_validate_json(await request.body())
    except ValidationError:
        return Response('{"message":"Invalid timesheet"}', 422, media_type="application/json")
    entry_id = secrets.token_hex(16)
    DB.execute("BEGIN IMMEDIATE")
    try:
        DB.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?)",
            (entry_id, body.user_id, body.date, body.project, body.hours),
        )
    except BaseException:
        DB.execute("ROLLBACK")
        raise
    DB.execute("COMMIT")
    answer = {"id": entry_id, "user_id": body.user_id, "project": body.project}
    return Response(json.dumps(answer), 201, media_type="application/json")


app = Starlette(routes=[Route("/timesheets", create, methods=["POST"])])
