"""Signing keys: generation, public JWKs, PKCS#8 storage and the rotation lifecycle."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, x25519

from timesheets.authserver.keys import (
    ASYMMETRIC_ALGS,
    KeyRecord,
    PrivateKey,
    Rotation,
    RotationRefused,
    current_key,
    generate_private_key,
    load_private_key,
    new_kid,
    plan_rotation,
    private_key_bytes,
    public_jwk,
    secret_kid,
)

# RFC 7518 §6.2.2, §6.3.2 and RFC 8037 §2: the private members of EC, RSA and OKP keys.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
EXPECTED_KTY = {
    "RS256": {"kty": "RSA"},
    "PS256": {"kty": "RSA"},
    "ES256": {"kty": "EC", "crv": "P-256"},
    "EdDSA": {"kty": "OKP", "crv": "Ed25519"},
}
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module", params=ASYMMETRIC_ALGS)
def alg_key(request: pytest.FixtureRequest) -> tuple[str, PrivateKey]:
    """One generated key per asymmetric algorithm, shared by this module's tests."""
    return request.param, generate_private_key(request.param)


def b64url_int(value: str) -> int:
    """An unsigned big-endian integer from its base64url JWK form."""
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def spki(key: PrivateKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a key's public half."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- Key pairs and JWKs ----------------------------------------------------------------------


def test_public_jwk_has_no_private_members(alg_key: tuple[str, PrivateKey]) -> None:
    """RFC 7517 §5 / RFC 7518 §6: a published JWKS carries public members only."""
    alg, key = alg_key
    jwk = public_jwk(key, alg, "kid-1")
    assert not PRIVATE_MEMBERS & set(jwk)


def test_public_jwk_has_kid_use_alg_and_key_type(alg_key: tuple[str, PrivateKey]) -> None:
    """RFC 7517 §4: `kid`, `use: sig` and `alg`, plus the key type's public members."""
    alg, key = alg_key
    jwk = public_jwk(key, alg, "kid-1")
    assert jwk["kid"] == "kid-1"
    assert jwk["use"] == "sig"
    assert jwk["alg"] == alg
    assert EXPECTED_KTY[alg].items() <= jwk.items()
    # RFC 7517 §4.3: `use` and `key_ops` SHOULD NOT be used together.
    assert "key_ops" not in jwk


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_keys_have_at_least_2048_bits(alg: str) -> None:
    """RFC 7518 §3.3, §3.5: RSA keys of 2048 bits or more."""
    key = generate_private_key(alg)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size >= 2048
    jwk = public_jwk(key, alg, "k")
    assert b64url_int(jwk["n"]).bit_length() >= 2048
    assert b64url_int(jwk["e"]) == 65537


def test_der_round_trip_gives_the_same_key(alg_key: tuple[str, PrivateKey]) -> None:
    _, key = alg_key
    der = private_key_bytes(key)
    loaded = load_private_key(der)
    assert type(loaded) is type(key)
    assert spki(loaded) == spki(key)
    assert private_key_bytes(loaded) == der


def test_der_is_unencrypted_pkcs8(alg_key: tuple[str, PrivateKey]) -> None:
    _, key = alg_key
    assert private_key_bytes(key) == key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_a_token_signed_with_the_key_verifies_with_its_jwk(
    alg_key: tuple[str, PrivateKey],
) -> None:
    alg, key = alg_key
    token = jwt.encode({"sub": "machine-1@clients"}, key, alg, headers={"kid": "kid-1"})
    verifier = jwt.PyJWK(public_jwk(key, alg, "kid-1"))
    assert verifier.key_id == "kid-1"
    assert jwt.decode(token, verifier, algorithms=[alg]) == {"sub": "machine-1@clients"}


def test_a_token_signed_with_another_key_does_not_verify(alg_key: tuple[str, PrivateKey]) -> None:
    alg, key = alg_key
    other = generate_private_key(alg)
    assert spki(other) != spki(key)
    token = jwt.encode({"sub": "x"}, other, alg)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(public_jwk(key, alg, "kid-1")), algorithms=[alg])


@pytest.mark.parametrize("alg", ["HS256", "RS512", "none", ""])
def test_no_key_pairs_for_other_algorithms(alg: str) -> None:
    with pytest.raises(ValueError, match=f"no key pairs for {alg}"):
        generate_private_key(alg)


def test_load_private_key_refuses_unsupported_key_types() -> None:
    der = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="unsupported key type"):
        load_private_key(der)


def test_load_private_key_refuses_garbage() -> None:
    with pytest.raises(ValueError, match=r"(?i)could not deserialize|invalid|error"):
        load_private_key(b"not a key")


def test_new_kids_are_random_and_urlsafe() -> None:
    kids = {new_kid() for _ in range(200)}
    assert len(kids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", kid) for kid in kids)


# --- Lifecycle -------------------------------------------------------------------------------


def record(
    kid: str,
    *,
    alg: str = "RS256",
    created: datetime = T0,
    activated: datetime | None = None,
    deactivated: datetime | None = None,
    retire: datetime | None = None,
) -> KeyRecord:
    """A key record with the given lifecycle timestamps."""
    return KeyRecord(kid, alg, created, activated, deactivated, retire)


NEXT = record("next")
CURRENT = record("current", activated=T0 + HOUR)
PREVIOUS = record("previous", activated=T0, deactivated=T0 + HOUR, retire=T0 + 3 * HOUR)


@pytest.mark.parametrize(
    ("key", "now", "state"),
    [
        (NEXT, T0, "next"),
        (NEXT, T0 + 1000 * HOUR, "next"),
        (CURRENT, T0 + HOUR, "current"),
        (CURRENT, T0 + 1000 * HOUR, "current"),
        (PREVIOUS, T0 + HOUR, "previous"),
        (PREVIOUS, T0 + 3 * HOUR - timedelta(microseconds=1), "previous"),
        (PREVIOUS, T0 + 3 * HOUR, "retired"),
        (PREVIOUS, T0 + 4 * HOUR, "retired"),
        (record("kept", activated=T0, deactivated=T0 + HOUR), T0 + 1000 * HOUR, "previous"),
    ],
)
def test_key_state(key: KeyRecord, now: datetime, state: str) -> None:
    """next → current → previous → retired, by the record's timestamps."""
    assert key.state(now) == state


def test_a_key_moves_through_its_lifecycle() -> None:
    created = record("k")
    assert created.state(T0) == "next"
    activated = record("k", activated=T0 + HOUR)
    assert activated.state(T0 + HOUR) == "current"
    demoted = record("k", activated=T0 + HOUR, deactivated=T0 + 2 * HOUR, retire=T0 + 5 * HOUR)
    assert demoted.state(T0 + 2 * HOUR) == "previous"
    assert demoted.state(T0 + 5 * HOUR) == "retired"


@pytest.mark.parametrize(
    ("key", "now", "published"),
    [
        (NEXT, T0, True),
        (CURRENT, T0 + HOUR, True),
        (PREVIOUS, T0 + 2 * HOUR, True),
        (PREVIOUS, T0 + 3 * HOUR, False),
    ],
)
def test_every_key_but_a_retired_one_is_published(
    key: KeyRecord, now: datetime, published: bool
) -> None:
    assert key.published(now) is published


def test_current_key_is_the_latest_activated() -> None:
    older = record("older", activated=T0)
    newer = record("newer", activated=T0 + 2 * HOUR)
    assert current_key([older, newer, NEXT, PREVIOUS], "RS256") == newer
    assert current_key([newer, older], "RS256") == newer


def test_current_key_ignores_other_algorithms_next_and_demoted_keys() -> None:
    es = record("es", alg="ES256", activated=T0 + 5 * HOUR)
    assert current_key([CURRENT, es, NEXT, PREVIOUS], "RS256") == CURRENT
    assert current_key([CURRENT, es], "ES256") == es


@pytest.mark.parametrize("records", [[], [NEXT], [PREVIOUS], [NEXT, PREVIOUS]])
def test_current_key_is_none_without_an_active_key(records: list[KeyRecord]) -> None:
    assert current_key(records, "RS256") is None


def test_rotation_promotes_the_oldest_next_and_demotes_the_current() -> None:
    now = T0 + 10 * HOUR
    older_next = record("next-old", created=T0 + HOUR)
    newer_next = record("next-new", created=T0 + 2 * HOUR)
    publish_for = timedelta(hours=2, minutes=5)
    plan = plan_rotation([newer_next, CURRENT, older_next, PREVIOUS], "RS256", now, publish_for)
    assert plan == Rotation(
        promote="next-old", demote="current", retire_at=now + publish_for, create_next=True
    )


def test_rotation_keeps_the_demoted_key_for_the_longest_lifetime_it_signed_with() -> None:
    now = T0 + 10 * HOUR
    signed_long = KeyRecord("current", "RS256", T0, T0 + HOUR, None, None, 24 * 3600)
    plan = plan_rotation([signed_long, NEXT], "RS256", now, HOUR, timedelta(minutes=5))
    assert plan.demote == "current"
    assert plan.retire_at == now + timedelta(hours=24, minutes=5)
    # Today's lifetimes win when they are the longer.
    plan = plan_rotation([signed_long, NEXT], "RS256", now, 30 * HOUR, timedelta(minutes=5))
    assert plan.retire_at == now + 30 * HOUR


@pytest.mark.parametrize("records", [[], [NEXT], [PREVIOUS], [NEXT, PREVIOUS]])
def test_rotation_of_an_algorithm_without_a_current_key_is_refused(
    records: list[KeyRecord],
) -> None:
    """Nothing signs with the algorithm, so there is nothing to rotate."""
    with pytest.raises(RotationRefused, match="no RS256 key signs yet") as refused:
        plan_rotation(records, "RS256", T0 + 10 * HOUR, HOUR)
    assert refused.value.field == "alg"


@pytest.mark.parametrize("records", [[CURRENT], [CURRENT, PREVIOUS]])
def test_rotation_without_a_next_key_is_refused(records: list[KeyRecord]) -> None:
    """The current key keeps signing until a published `next` key can replace it."""
    with pytest.raises(RotationRefused, match="no next RS256 key is published") as refused:
        plan_rotation(records, "RS256", T0 + 10 * HOUR, HOUR)
    assert refused.value.field == "alg"


def test_rotation_refuses_a_next_key_published_for_less_than_the_minimum() -> None:
    """A key must be published long enough for verifiers to fetch it before it signs."""
    minimum = timedelta(seconds=60)
    fresh = record("fresh", created=T0 + 10 * HOUR)
    with pytest.raises(RotationRefused, match="rotate in 25 s, or force") as refused:
        plan_rotation(
            [CURRENT, fresh],
            "RS256",
            T0 + 10 * HOUR + timedelta(seconds=35),
            HOUR,
            min_published=minimum,
        )
    assert refused.value.field == "force"
    assert "fresh was published 35 s ago" in str(refused.value)
    plan = plan_rotation(
        [CURRENT, fresh], "RS256", T0 + 10 * HOUR + minimum, HOUR, min_published=minimum
    )
    assert (plan.promote, plan.demote) == ("fresh", "current")


def test_rotation_only_touches_keys_of_its_algorithm() -> None:
    es_next = record("es-next", alg="ES256")
    es_current = record("es-current", alg="ES256", activated=T0)
    records = [es_next, es_current, CURRENT, NEXT]
    plan = plan_rotation(records, "RS256", T0 + 10 * HOUR, HOUR)
    assert (plan.promote, plan.demote) == ("next", "current")
    plan = plan_rotation(records, "ES256", T0 + 10 * HOUR, HOUR)
    assert (plan.promote, plan.demote) == ("es-next", "es-current")
    with pytest.raises(RotationRefused, match="no next ES256 key"):
        plan_rotation([es_current, NEXT], "ES256", T0 + 10 * HOUR, HOUR)


def test_an_hs256_secrets_kid_is_stable_new_with_a_new_secret_and_not_the_secret() -> None:
    secret = b"s" * 32
    kid = secret_kid(secret)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", kid)
    assert secret_kid(bytes(secret)) == kid
    assert secret_kid(b"t" + secret[1:]) != kid
    assert kid != base64.urlsafe_b64encode(secret[:12]).decode()
