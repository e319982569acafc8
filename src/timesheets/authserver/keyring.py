"""The signing keys a process holds: loaded from the database, kept for a short time.

Also the two writes on keys: making sure each algorithm in use has a current and a
published next key, and rotation. Keys are shared through the database, so every
process signs with the same current key within `key_cache_seconds` of a rotation.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from timesheets.authserver import audit
from timesheets.authserver.admin import Conflict, TenantError
from timesheets.authserver.keys import (
    ASYMMETRIC_ALGS,
    PrivateKey,
    RotationRefused,
    current_key,
    generate_private_key,
    load_private_key,
    new_kid,
    plan_rotation,
    private_key_bytes,
    public_jwk,
    published_jwk,
)
from timesheets.authserver.models import SigningKey
from timesheets.authserver.sealing import Sealer, SealError
from timesheets.authserver.store import key_record, load_keys

log = logging.getLogger("timesheets.authserver.keyring")


@dataclass(frozen=True)
class Signer:
    """The current key of one algorithm."""

    kid: str
    alg: str
    key: PrivateKey


@dataclass(frozen=True)
class KeyRing:
    """A snapshot of the keys: a signer per algorithm and the published JWKS document.

    `unopened` holds the algorithms whose current key does not open with this process's
    key-encryption key; the JWKS (public keys only) is published all the same.
    """

    signers: dict[str, Signer]
    jwks: bytes
    loaded_at: float
    unopened: frozenset[str] = field(default=frozenset())

    def signer(self, alg: str) -> Signer | None:
        """The current signer for `alg`, if that algorithm has keys (`SealError` if its
        key does not open)."""
        if alg in self.unopened:
            raise SealError(f"the current {alg} key does not open with this key-encryption key")
        return self.signers.get(alg)


#: The PostgreSQL advisory lock that serialises the writes on signing keys.
KEYS_LOCK = 0x7473_6B65_7973  # "tskeys"


async def lock_keys(session: AsyncSession) -> None:
    """Serialise the writes on keys across processes, for the rest of the transaction.

    On PostgreSQL a transaction-scoped advisory lock; on SQLite the caller must have begun
    the transaction with the write lock held (`db.IMMEDIATE`), which serialises already.
    Read the keys only after this, so that what is read is what the write is based on.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYS_LOCK})


def _purpose(kid: str) -> str:
    return f"signing-key:{kid}"


async def load_keyring(
    session: AsyncSession,
    sealer: Sealer,
    now: datetime,
    clock: float,
    previous: KeyRing | None = None,
) -> KeyRing:
    """Read the keys and build the snapshot a process signs and publishes with.

    Signers of `previous` whose key is still current are kept as they are: only a key
    this process has not loaded yet is decrypted and parsed.
    """
    known = {signer.kid: signer for signer in previous.signers.values()} if previous else {}
    rows = {row.kid: row for row in await load_keys(session)}
    records = [key_record(row) for row in rows.values()]
    signers: dict[str, Signer] = {}
    unopened: set[str] = set()
    for alg in {record.alg for record in records}:
        current = current_key(records, alg)
        if current is not None and current.kid in known:
            signers[alg] = known[current.kid]
        elif current is not None:
            sealed = rows[current.kid].sealed_private_key
            try:
                key = load_private_key(sealer.open(sealed, _purpose(current.kid)))
            except SealError as error:
                log.error(
                    "signing key does not open", extra={"kid": current.kid, "reason": str(error)}
                )
                unopened.add(alg)
                continue
            signers[alg] = Signer(kid=current.kid, alg=alg, key=key)
    published = [published_jwk(rows[r.kid].public_jwk) for r in records if r.published(now)]
    document = json.dumps({"keys": published}, separators=(",", ":")).encode()
    return KeyRing(signers=signers, jwks=document, loaded_at=clock, unopened=frozenset(unopened))


def _new_key(sealer: Sealer, alg: str, now: datetime, *, active: bool) -> SigningKey:
    key = generate_private_key(alg)
    kid = new_kid()
    return SigningKey(
        kid=kid,
        alg=alg,
        sealed_private_key=sealer.seal(private_key_bytes(key), _purpose(kid)),
        public_jwk=public_jwk(key, alg, kid),
        created_at=now,
        activated_at=now if active else None,
        deactivated_at=None,
        retire_at=None,
    )


async def ensure_keys(
    session: AsyncSession, sealer: Sealer, algs: set[str], now: datetime
) -> list[str]:
    """Give each algorithm a current key and a published next key; returns the new kids.

    Concurrent callers (processes signing with a new algorithm at the same moment) take
    turns: the second one finds the keys the first one made.
    """
    await lock_keys(session)
    rows = await load_keys(session)
    created = []
    for alg in sorted(algs):
        states = [key_record(r).state(now) for r in rows if r.alg == alg]
        for state, active in (("current", True), ("next", False)):
            if state not in states:
                row = _new_key(sealer, alg, now, active=active)
                session.add(row)
                created.append(row.kid)
                await audit.change(session, "key.created", row.kid, alg=alg, state=state)
    return created


async def rotate_keys(
    session: AsyncSession,
    sealer: Sealer,
    alg: str,
    now: datetime,
    publish_for: timedelta,
    margin: timedelta = timedelta(0),
    *,
    min_published: timedelta = timedelta(0),
) -> tuple[str, str, str]:
    """Rotate `alg`: next becomes current, current becomes previous, a new next is made.

    Refused (`admin.Conflict`, nothing changed) when `alg` has no current key, or no next
    key published for `min_published` at least. The previous key stays published for
    `publish_for`, or for the longest lifetime it may have signed with plus `margin` if
    that is longer.

    Returns (promoted kid, demoted kid, new next kid).
    """
    if alg not in ASYMMETRIC_ALGS:
        raise TenantError(f"alg must be one of {', '.join(ASYMMETRIC_ALGS)}", "alg")
    await lock_keys(session)
    rows = {row.kid: row for row in await load_keys(session)}
    records = [key_record(r) for r in rows.values()]
    try:
        plan = plan_rotation(records, alg, now, publish_for, margin, min_published)
    except RotationRefused as error:
        log.info("key rotation refused", extra={"alg": alg, "reason": str(error)})
        raise Conflict(str(error), error.field) from None
    # One change at a time, in this order: at most one key per algorithm is ever current
    # and one next (unique indexes, migration 0006), also between these statements.
    rows[plan.demote].deactivated_at = now
    rows[plan.demote].retire_at = plan.retire_at
    await session.flush()
    rows[plan.promote].activated_at = now
    await session.flush()
    fresh = _new_key(sealer, alg, now, active=False)
    session.add(fresh)
    await audit.change(
        session, "key.rotated", alg, promoted=plan.promote, demoted=plan.demote, next=fresh.kid
    )
    return plan.promote, plan.demote, fresh.kid
