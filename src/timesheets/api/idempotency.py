"""`Idempotency-Key`: a write's answer, stored once per subject and key, replayed to retries.

A key belongs to the token's subject: the lookup key is (subject, key), as
draft-ietf-httpapi-idempotency-key-header (Security Considerations) recommends. The first
request with a key stores its answer, in the transaction of its writes, with a
fingerprint of its body; a retry with the same body gets that answer again, and another
body, or the same key on the other endpoint, is refused with 422 (the draft's Error
Scenarios).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from timesheets.api import repository as repo
from timesheets.api.errors import ApiError

#: Refusal of a key already used with another body (or on the other endpoint).
REUSED = "Idempotency-Key was already used with a different body"


@dataclass(frozen=True)
class Reply:
    """A status code and JSON body."""

    status: int
    body: dict[str, Any]


def fingerprint(data: Any, endpoint: str = "") -> str:
    """SHA-256 of a parsed body with its members sorted, after the name of the endpoint
    it was sent to ("" for `POST /timesheets`, whose records predate the name). The same
    members in another order are the same body; a name never starts a JSON text, so a
    create's body and an upload's never share a fingerprint."""
    return hashlib.sha256((endpoint + json.dumps(data, sort_keys=True)).encode()).hexdigest()


def stored(connection: Connection, subject: str, key: str) -> dict[str, Any] | None:
    """The record of the answer to (subject, key), if any."""
    return repo.find_idempotent_many(connection, [(subject, key)]).get((subject, key))


def replay(record: dict[str, Any], fingerprint: str) -> Reply:
    """The stored answer, when `fingerprint` is its request's; else 422."""
    if record["fingerprint"] != fingerprint:
        raise ApiError(422, REUSED)
    return Reply(int(record["status_code"]), json.loads(record["body"]))


def replay_or_refusal(record: dict[str, Any], fingerprint: str) -> Reply | ApiError:
    """`replay`, its refusal returned rather than raised."""
    try:
        return replay(record, fingerprint)
    except ApiError as error:
        return error


def remembered(
    subject: str, key: str, fingerprint: str, reply: Reply, now: datetime
) -> dict[str, Any]:
    """The record of `reply` to (subject, key), for `repo.store_idempotent_many`."""
    return repo.idempotent_row(subject, key, fingerprint, reply.status, json.dumps(reply.body), now)
