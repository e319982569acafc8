"""Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1) and client secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from timesheets.authserver.oauth.client_auth import (
    AuthMethod,
    PresentedCredentials,
    generate_secret,
    method_allowed,
    presented_credentials,
    secret_digest,
    secret_matches,
)
from timesheets.authserver.oauth.errors import InvalidClient, InvalidRequest
from timesheets.authserver.oauth.token_request import TokenRequest


def basic(raw: bytes) -> str:
    """An Authorization header carrying `raw` as Basic credentials."""
    return "Basic " + base64.b64encode(raw).decode("ascii")


def body(**params: str) -> TokenRequest:
    """A token request whose body carries `params`."""
    return TokenRequest(params=params, resources=())


EMPTY = body()


# --- HTTP Basic ------------------------------------------------------------------------------


def test_basic_credentials_are_read() -> None:
    assert presented_credentials(basic(b"client-1:s3cret"), EMPTY) == PresentedCredentials(
        "client-1", "s3cret", "client_secret_basic"
    )


@pytest.mark.parametrize(
    ("raw", "client_id", "secret"),
    [
        (b"a%3Ab:secret", "a:b", "secret"),
        (b"id:p%40ss%3Aword", "id", "p@ss:word"),
        (b"a+b:x+y", "a b", "x y"),
        (b"id:%2B", "id", "+"),
        (b"id:100%25", "id", "100%"),
        (b"caf%C3%A9:s", "caf\u00e9", "s"),
    ],
)
def test_basic_id_and_secret_are_form_decoded(raw: bytes, client_id: str, secret: str) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined by `:`."""
    presented = presented_credentials(basic(raw), EMPTY)
    assert (presented.client_id, presented.secret) == (client_id, secret)
    assert presented.method == "client_secret_basic"


def test_basic_splits_at_the_first_colon() -> None:
    """The id cannot hold a raw `:` (it is encoded), so everything after the first is secret."""
    presented = presented_credentials(basic(b"id:se:cr:et"), EMPTY)
    assert (presented.client_id, presented.secret) == ("id", "se:cr:et")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_basic_scheme_is_case_insensitive(scheme: str) -> None:
    """RFC 7235 §2.1: the auth-scheme is case-insensitive."""
    header = f"{scheme} " + base64.b64encode(b"id:secret").decode()
    assert presented_credentials(header, EMPTY).client_id == "id"


def test_basic_tolerates_surrounding_whitespace() -> None:
    header = "  Basic   " + base64.b64encode(b"id:secret").decode() + "  "
    assert presented_credentials(header, EMPTY) == PresentedCredentials(
        "id", "secret", "client_secret_basic"
    )


def test_basic_with_the_same_client_id_in_the_body_is_accepted() -> None:
    presented = presented_credentials(basic(b"id:secret"), body(client_id="id"))
    assert presented == PresentedCredentials("id", "secret", "client_secret_basic")


def test_basic_with_the_same_encoded_client_id_in_the_body_is_accepted() -> None:
    presented = presented_credentials(basic(b"a%3Ab:secret"), body(client_id="a:b"))
    assert presented.client_id == "a:b"


def test_basic_with_a_different_client_id_in_the_body_is_invalid_request() -> None:
    with pytest.raises(
        InvalidRequest, match="client_id in the body differs from the authenticated client"
    ):
        presented_credentials(basic(b"id:secret"), body(client_id="other"))


@pytest.mark.parametrize(
    "params",
    [
        {"client_secret": "secret"},
        {"client_id": "id", "client_secret": "secret"},
        {"client_id": "id", "client_secret": "other"},
    ],
)
def test_basic_and_a_body_secret_is_invalid_request(params: dict[str, str]) -> None:
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method."""
    with pytest.raises(InvalidRequest, match="more than one client authentication method"):
        presented_credentials(basic(b"id:secret"), body(**params))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Digest username=id",
        "Basicx " + base64.b64encode(b"id:secret").decode(),
        "",
        "   ",
    ],
)
def test_a_scheme_other_than_basic_is_invalid_client_with_a_challenge(header: str) -> None:
    """RFC 6749 §5.2: a failed Authorization header attempt is 401 with WWW-Authenticate."""
    with pytest.raises(InvalidClient, match="unsupported authentication scheme") as caught:
        presented_credentials(header, body(client_id="id", client_secret="secret"))
    assert caught.value.used_basic is True
    assert caught.value.status_code == 401
    assert caught.value.error == "invalid_client"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic !!!", id="not-base64"),
        pytest.param("Basic YWJjZA", id="missing-padding"),
        pytest.param("Basic YWJjZA===", id="excess-padding"),
        pytest.param("Basic YWJj OmRlZg==", id="inner-space"),
        pytest.param("Basic", id="no-credentials"),
        pytest.param(basic(b"client-without-colon"), id="missing-colon"),
        pytest.param(basic(b":secret"), id="empty-client-id"),
        pytest.param(basic(b"\xff:secret"), id="invalid-utf8"),
        pytest.param(basic(b"%FF:secret"), id="percent-encoded-invalid-utf8"),
    ],
)
def test_malformed_basic_credentials_are_invalid_client_with_a_challenge(header: str) -> None:
    """RFC 6749 §5.2: the client tried the Authorization header, so 401 + WWW-Authenticate."""
    with pytest.raises(InvalidClient) as caught:
        presented_credentials(header, EMPTY)
    assert caught.value.used_basic is True
    assert caught.value.status_code == 401


# --- Credentials in the body -----------------------------------------------------------------


def test_client_id_and_secret_in_the_body_are_client_secret_post() -> None:
    """RFC 6749 §2.3.1: client_id and client_secret as body parameters."""
    presented = presented_credentials(None, body(client_id="id", client_secret="secret"))
    assert presented == PresentedCredentials("id", "secret", "client_secret_post")


def test_client_id_alone_is_method_none() -> None:
    presented = presented_credentials(None, body(client_id="id", grant_type="client_credentials"))
    assert presented == PresentedCredentials("id", None, "none")


@pytest.mark.parametrize(
    "params", [{}, {"client_secret": "secret"}, {"grant_type": "client_credentials"}]
)
def test_no_client_id_is_invalid_client_without_a_challenge(params: dict[str, str]) -> None:
    with pytest.raises(InvalidClient, match="client authentication is required") as caught:
        presented_credentials(None, body(**params))
    assert caught.value.used_basic is False
    assert caught.value.status_code == 401


# --- Secrets ---------------------------------------------------------------------------------


def test_generated_secret_has_256_random_bits_in_43_urlsafe_characters() -> None:
    secret = generate_secret()
    assert len(secret) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32


def test_generated_secrets_differ_each_call() -> None:
    secrets = {generate_secret() for _ in range(200)}
    assert len(secrets) == 200


@pytest.mark.parametrize(
    ("secret", "hex_digest"),
    [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ],
)
def test_secret_digest_is_sha256(secret: str, hex_digest: str) -> None:
    """Known SHA-256 test vectors (FIPS 180-2)."""
    assert secret_digest(secret) == bytes.fromhex(hex_digest)


def test_secret_digest_hashes_utf8() -> None:
    assert secret_digest("caf\u00e9") == hashlib.sha256("caf\u00e9".encode()).digest()


@pytest.mark.parametrize("position", [0, 1, 2])
def test_secret_matches_any_stored_digest(position: int) -> None:
    digests = [secret_digest(f"other-{i}") for i in range(3)]
    digests[position] = secret_digest("right")
    assert secret_matches("right", digests) is True


@pytest.mark.parametrize(
    "digests",
    [
        [],
        [secret_digest("other")],
        [secret_digest("Right"), secret_digest("right ")],
        [b"right"],
    ],
)
def test_secret_does_not_match_other_digests(digests: list[bytes]) -> None:
    assert secret_matches("right", digests) is False


class NoEquality(bytes):
    """A stored digest that fails the test if anything compares it with `==` or `!=`."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("a secret digest was compared with ==")

    def __ne__(self, other: object) -> bool:
        raise AssertionError("a secret digest was compared with !=")

    __hash__ = bytes.__hash__


@pytest.mark.parametrize(("position", "expected"), [(None, False), (0, True), (1, True), (2, True)])
def test_secret_matches_compares_every_digest_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, position: int | None, expected: bool
) -> None:
    """Every stored digest goes through hmac.compare_digest, even after a match; never `==`."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("timesheets.authserver.oauth.client_auth.hmac.compare_digest", spy)
    digests = [NoEquality(secret_digest(f"other-{i}")) for i in range(3)]
    if position is not None:
        digests[position] = NoEquality(secret_digest("right"))

    assert secret_matches("right", digests) is expected

    assert len(calls) == 3
    presented = hashlib.sha256(b"right").digest()
    for (a, b), stored in zip(calls, digests, strict=True):
        assert real(a, presented)
        assert b is stored


# --- Which presented method a registered client may use -------------------------------------


@pytest.mark.parametrize(
    ("registered", "presented", "allowed"),
    [
        ("client_secret_basic", "client_secret_basic", True),
        ("client_secret_post", "client_secret_basic", True),
        ("client_secret_post", "client_secret_post", True),
        ("client_secret_basic", "client_secret_post", False),
        ("none", "none", True),
        ("none", "client_secret_basic", False),
        ("none", "client_secret_post", False),
        ("client_secret_basic", "none", False),
        ("client_secret_post", "none", False),
    ],
)
def test_basic_serves_every_client_issued_a_secret(
    registered: str, presented: AuthMethod, allowed: bool
) -> None:
    """RFC 6749 §2.3.1: Basic MUST work for clients issued a password; public ones have none."""
    assert method_allowed(registered, presented) is allowed
