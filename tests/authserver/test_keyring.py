"""Signing-key rotation against a running server, and sealing of private keys at rest.

Rotation must never break a token: the key that will sign next is published before it
signs, and the key that signed before stays published until its tokens have expired.
The server under test reloads keys on every request (`key_cache_seconds=0`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import column, table
from sqlalchemy.exc import IntegrityError

from tests.authserver.conftest import AUDIENCE, AuthServer, Tenant, _from_template
from timesheets import db
from timesheets.authserver import admin
from timesheets.authserver.app import MIGRATIONS, create_runtime, prepare
from timesheets.authserver.keyring import rotate_keys
from timesheets.authserver.keys import load_private_key, public_jwk
from timesheets.authserver.models import SigningKey
from timesheets.authserver.sealing import Sealer, SealError
from timesheets.authserver.store import key_record, load_keys
from timesheets.settings import AuthServerSettings

pytestmark = pytest.mark.asyncio

ONE_HOUR = timedelta(hours=1)


async def issue(server: AuthServer, client_id: str, secret: str) -> str:
    """An access token for AUDIENCE."""
    response = await server.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "audience": AUDIENCE,
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def jwks(server: AuthServer) -> dict[str, jwt.PyJWK]:
    """The published keys by kid."""
    response = await server.http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {str(key.key_id): key for key in jwt.PyJWKSet.from_dict(response.json()).keys}


def kid_of(token: str) -> str:
    """The kid in a token's header."""
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def verify(token: str, keys: dict[str, jwt.PyJWK], issuer: str) -> dict[str, Any]:
    """Verify a token with the published key its kid names (KeyError when unpublished)."""
    claims: dict[str, Any] = jwt.decode(
        token, keys[kid_of(token)], algorithms=["RS256"], audience=AUDIENCE, issuer=issuer
    )
    return claims


async def rotate(server: AuthServer, publish_for: timedelta) -> tuple[str | None, str | None, str]:
    """Rotate the RS256 key through the keyring, as `timesheets admin keys rotate` does."""
    runtime = server.tenant.runtime
    result: tuple[str | None, str | None, str] = await server.tenant.run(
        lambda session: rotate_keys(session, runtime.sealer, "RS256", runtime.now(), publish_for)
    )
    return result


async def expire(session: Any, kid: str) -> None:
    """Move a previous key's retirement to the past, as if its tokens had expired."""
    row = await session.get(SigningKey, kid)
    row.retire_at = row.deactivated_at


async def states(server: AuthServer) -> dict[str, str]:
    """{kid: state} of the stored RS256 keys, now."""
    rows = await server.tenant.run(load_keys)
    now = server.tenant.runtime.now()
    return {row.kid: key_record(row).state(now) for row in rows if row.alg == "RS256"}


@pytest.fixture
async def machine(auth_server: AuthServer) -> tuple[str, str]:
    """An RS256 API and a client granted on it: (client_id, secret)."""
    await auth_server.tenant.create_api()
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    return client.client_id, client.secret


async def test_rotation_keeps_old_tokens_valid_and_signs_with_a_prepublished_key(
    auth_server: AuthServer, machine: tuple[str, str]
) -> None:
    published_before = await jwks(auth_server)
    old_token = await issue(auth_server, *machine)
    assert verify(old_token, published_before, auth_server.url)["aud"] == AUDIENCE

    await rotate(auth_server, ONE_HOUR)

    published_after = await jwks(auth_server)
    assert verify(old_token, published_after, auth_server.url)["aud"] == AUDIENCE
    new_token = await issue(auth_server, *machine)
    assert kid_of(new_token) != kid_of(old_token), "the rotation did not change the signing key"
    assert kid_of(new_token) in published_before, (
        "the key signing after the rotation was not published before it"
    )
    # A verifier that cached the JWKS before the rotation accepts the new token.
    assert verify(new_token, published_before, auth_server.url)["aud"] == AUDIENCE
    assert verify(new_token, published_after, auth_server.url)["aud"] == AUDIENCE


async def test_jwks_after_rotation_holds_previous_current_and_fresh_next(
    auth_server: AuthServer,
) -> None:
    before = await states(auth_server)
    old_current = next(kid for kid, state in before.items() if state == "current")
    old_next = next(kid for kid, state in before.items() if state == "next")

    promoted, demoted, fresh = await rotate(auth_server, ONE_HOUR)

    assert (promoted, demoted) == (old_next, old_current)
    assert fresh not in before
    assert await states(auth_server) == {
        old_current: "previous",
        old_next: "current",
        fresh: "next",
    }
    assert set(await jwks(auth_server)) == {old_current, old_next, fresh}


async def test_retired_key_leaves_the_jwks_and_its_tokens_stop_verifying(
    auth_server: AuthServer, machine: tuple[str, str]
) -> None:
    old_token = await issue(auth_server, *machine)
    old_kid = kid_of(old_token)

    _, demoted, _ = await rotate(auth_server, timedelta(0))
    assert demoted == old_kid
    assert (await states(auth_server))[old_kid] == "previous", "retired before its tokens"
    await auth_server.tenant.run(lambda session: expire(session, old_kid))
    assert (await states(auth_server))[old_kid] == "retired"

    published = await jwks(auth_server)
    assert old_kid not in published
    assert len(published) == 2
    with pytest.raises(KeyError):
        verify(old_token, published, auth_server.url)
    for key in published.values():
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(old_token, key, algorithms=["RS256"], audience=AUDIENCE)
    # The server keeps issuing tokens that verify.
    assert verify(await issue(auth_server, *machine), published, auth_server.url)


async def test_previous_keys_stay_published_through_later_rotations(
    auth_server: AuthServer,
) -> None:
    _, demoted, _ = await rotate(auth_server, timedelta(seconds=30))
    assert demoted in await jwks(auth_server)
    # A later rotation demotes the next key and leaves the first one's retire time alone.
    _, second_demoted, _ = await rotate(auth_server, ONE_HOUR)
    assert second_demoted != demoted
    stored = await states(auth_server)
    assert stored[demoted] == "previous"
    assert sorted(stored.values()) == ["current", "next", "previous", "previous"]
    assert set(await jwks(auth_server)) == set(stored)


async def test_private_keys_are_sealed_at_rest(tenant: Tenant) -> None:
    rows = await tenant.run(load_keys)
    assert rows, "prepare() stored no signing keys"
    sealer = tenant.runtime.sealer
    other = Sealer("a-different-key-encryption-key-0123")
    for row in rows:
        sealed = bytes(row.sealed_private_key)
        with pytest.raises(ValueError, match="Could not deserialize key data"):
            serialization.load_der_private_key(sealed, password=None)
        with pytest.raises(SealError):
            other.open(sealed, f"signing-key:{row.kid}")
        # Bound to its key: it does not open as another key's private key.
        with pytest.raises(SealError):
            sealer.open(sealed, "signing-key:some-other-kid")
        der = sealer.open(sealed, f"signing-key:{row.kid}")
        assert der not in sealed
        key = load_private_key(der)
        assert public_jwk(key, row.alg, row.kid) == row.public_jwk


def _by_state(rows: list[SigningKey], alg: str, now: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in rows:
        if row.alg == alg:
            found.setdefault(key_record(row).state(now), []).append(row.kid)
    return found


async def test_processes_first_using_a_new_algorithm_at_once_make_one_current_and_one_next(
    tenant: Tenant,
) -> None:
    await tenant.create_api(signing_alg="ES256")
    processes = [create_runtime(tenant.runtime.settings) for _ in range(4)]
    try:
        await asyncio.gather(*(process.prepare_keys() for process in processes))
    finally:
        for process in processes:
            await process.engine.dispose()

    rows = await tenant.run(load_keys)
    states = _by_state(rows, "ES256", tenant.runtime.now())
    assert sorted(states) == ["current", "next"]
    assert [len(kids) for kids in states.values()] == [1, 1], states


@pytest.mark.parametrize("state", ["current", "next"])
async def test_the_database_refuses_a_second_current_or_next_key_of_an_algorithm(
    tenant: Tenant, state: str
) -> None:
    now = tenant.runtime.now()
    rows = await tenant.run(load_keys)
    original = next(r for r in rows if r.alg == "RS256" and key_record(r).state(now) == state)

    async def copy(session: Any) -> None:
        session.add(
            SigningKey(
                kid="a-second-one",
                alg=original.alg,
                sealed_private_key=original.sealed_private_key,
                public_jwk=original.public_jwk,
                created_at=now,
                activated_at=original.activated_at,
                deactivated_at=None,
                retire_at=None,
            )
        )
        await session.flush()

    with pytest.raises(IntegrityError):
        await tenant.run(copy)
    assert [r.kid for r in await tenant.run(load_keys)] == [r.kid for r in rows]


async def test_the_migration_settles_extra_current_and_next_keys_made_before_it(
    database_url: str, make_auth_settings: Callable[..., AuthServerSettings]
) -> None:
    runtime = create_runtime(make_auth_settings(database_url))
    try:
        await db.upgrade(runtime.engine, MIGRATIONS, "0005")
        async with runtime.sessions() as session, session.begin():
            made = [await _stored_pair(runtime, session) for _ in range(3)]
        await db.upgrade(runtime.engine, MIGRATIONS)
        async with runtime.sessions() as session:
            rows = await load_keys(session)
    finally:
        await runtime.engine.dispose()
    now = runtime.now()
    states = _by_state(rows, "RS256", now)
    # The last activated current key stays, the oldest next key stays, the other current
    # keys stay published as previous keys, the other next keys (never used) are gone.
    assert states == {
        "current": [made[-1][0]],
        "next": [made[0][1]],
        "previous": [made[0][0], made[1][0]],
    }
    for row in rows:
        if row.kid in states["previous"]:
            assert row.retire_at is not None
            assert row.retire_at - now > timedelta(days=29)


async def _stored_pair(runtime: Any, session: Any) -> tuple[str, str]:
    """A current and a next RS256 key stored without the keyring's rules (and with the
    columns of revision 0005 only): (kid, kid)."""
    from timesheets.authserver.keyring import _new_key

    now = runtime.now()
    made = [_new_key(runtime.sealer, "RS256", now, active=active) for active in (True, False)]
    columns = [c for c in SigningKey.__table__.columns if c.name != "longest_lifetime"]
    legacy = table("signing_keys", *(column(c.name, c.type) for c in columns))
    for key in made:
        await session.execute(
            legacy.insert().values({c.name: getattr(key, c.name) for c in columns})
        )
    return made[0].kid, made[1].kid


async def test_a_rotated_out_key_stays_published_until_tokens_of_a_since_shortened_lifetime_expire(
    auth_server: AuthServer,
) -> None:
    await auth_server.tenant.create_api(token_lifetime=86_400)
    client = await auth_server.tenant.machine_client({AUDIENCE: ["read:timesheets"]})
    token = await issue(auth_server, client.client_id, client.secret)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    await auth_server.tenant.run(lambda s: admin.update_api(s, AUDIENCE, token_lifetime=60))

    runtime = auth_server.tenant.runtime
    runtime.invalidate()
    publish_for = await runtime.longest_token_lifetime()
    assert publish_for < timedelta(hours=2)  # today's lifetimes alone would not do
    _, demoted, _ = await server_rotation(auth_server, publish_for)

    assert demoted == kid_of(token)
    row = await auth_server.tenant.run(lambda session: session.get(SigningKey, demoted))
    assert row.retire_at.timestamp() >= expires + runtime.settings.key_publish_margin_seconds


async def test_a_rotated_out_rs256_key_stays_published_for_the_id_token_lifetime(
    database_url: str,
    make_auth_settings: Callable[..., AuthServerSettings],
    request: pytest.FixtureRequest,
) -> None:
    await _from_template(database_url, request, make_auth_settings)
    runtime = create_runtime(make_auth_settings(database_url, id_token_seconds=7200))
    try:
        await prepare(runtime)
        publish_for = await runtime.longest_token_lifetime()
        async with runtime.change("test") as session:
            _, demoted, _ = await rotate_keys(
                session, runtime.sealer, "RS256", runtime.now(), publish_for
            )
            row = await session.get(SigningKey, demoted)
    finally:
        await runtime.engine.dispose()
    assert row.retire_at - row.deactivated_at >= timedelta(seconds=7200 + 300)


async def server_rotation(
    server: AuthServer, publish_for: timedelta
) -> tuple[str | None, str | None, str]:
    """Rotate the RS256 key as the server's rotations do: with the publishing margin."""
    runtime = server.tenant.runtime
    result: tuple[str | None, str | None, str] = await server.tenant.run(
        lambda session: rotate_keys(
            session, runtime.sealer, "RS256", runtime.now(), publish_for, runtime.publish_margin()
        )
    )
    return result


async def test_the_jwks_carries_use_without_key_ops_also_for_keys_stored_with_both(
    auth_server: AuthServer,
) -> None:
    async def add_key_ops(session: Any) -> None:
        for row in await load_keys(session):
            row.public_jwk = {**row.public_jwk, "key_ops": ["verify"]}

    await auth_server.tenant.run(add_key_ops)
    response = await auth_server.http.get("/.well-known/jwks.json")
    keys = response.json()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert key["use"] == "sig"
        assert "key_ops" not in key


def _lifecycle(rows: list[SigningKey]) -> list[tuple[Any, ...]]:
    return [
        (r.kid, r.alg, r.created_at, r.activated_at, r.deactivated_at, r.retire_at) for r in rows
    ]


@pytest.mark.parametrize(
    ("alg", "reason"),
    [
        ("ES256", "no ES256 key signs yet, there is nothing to rotate"),
        ("RS256", "resource servers may not have fetched it yet"),
    ],
)
async def test_a_refused_rotation_is_logged_and_changes_nothing(
    tenant: Tenant, alg: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No key of the algorithm, or a next key published just now (the setting's 60 s)."""
    runtime = tenant.runtime
    await tenant.next_keys_published(0)
    before = _lifecycle(await tenant.run(load_keys))
    counts = await tenant.row_counts()
    caplog.set_level(logging.INFO, logger="timesheets.authserver.keyring")

    with pytest.raises(admin.Conflict, match=reason):
        await tenant.run(lambda session: runtime.rotate_keys(session, alg, ONE_HOUR, force=False))

    assert _lifecycle(await tenant.run(load_keys)) == before
    assert await tenant.row_counts() == counts
    refusals = [r for r in caplog.records if r.getMessage() == "key rotation refused"]
    assert [(r.__dict__["alg"], reason in r.__dict__["reason"]) for r in refusals] == [(alg, True)]


async def test_a_next_key_published_long_enough_or_forced_is_promoted(tenant: Tenant) -> None:
    runtime = tenant.runtime

    async def rotate(force: bool) -> tuple[str, str, str]:
        result: tuple[str, str, str] = await tenant.run(
            lambda session: runtime.rotate_keys(session, "RS256", ONE_HOUR, force=force)
        )
        return result

    await tenant.next_keys_published(runtime.settings.key_min_published_seconds)
    _, _, fresh = await rotate(force=False)
    with pytest.raises(admin.Conflict, match=f"the next RS256 key {fresh} was published"):
        await rotate(force=False)
    promoted, _, _ = await rotate(force=True)
    assert promoted == fresh
