"""Access-token header and claim checks (RFC 9068 §2.2, §4; RFC 7519 §4.1; RFC 8725 §3.8-3.11)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from timesheets.bearer.claims import ClaimRules, Principal, check_claims, check_typ
from timesheets.bearer.errors import InvalidToken

ISS = "https://id.timesheets.test"
AUD = "https://api.timesheets.test"
NOW = 1_700_000_000
RULES = ClaimRules(issuer=ISS, audience=AUD)


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims at NOW; a `None` override removes the claim."""
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "client_id": "spa",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "j-1",
        "scope": "read:timesheets create:timesheets",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refused(payload: dict[str, Any], fragment: str, rules: ClaimRules = RULES) -> None:
    """Assert check_claims refuses with an invalid_token whose description has `fragment`."""
    with pytest.raises(InvalidToken) as caught:
        check_claims(payload, rules, NOW)
    assert caught.value.error == "invalid_token"
    assert fragment in caught.value.description, caught.value.description


def test_valid_claims_give_a_principal() -> None:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti (+ scope)."""
    principal = check_claims(claims(), RULES, NOW)
    assert principal == Principal(
        "alice", "spa", frozenset({"read:timesheets", "create:timesheets"}), claims()
    )
    assert principal.is_machine is False


# --- typ (RFC 9068 §4, RFC 8725 §3.11) ------------------------------------------------


@pytest.mark.parametrize(
    "typ", ["at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt", "Application/AT+JWT"]
)
def test_access_token_typ_is_accepted_case_insensitively(typ: str) -> None:
    """RFC 9068 §4 + RFC 2045 §5.1: media type names compare case-insensitively."""
    check_typ({"typ": typ}, RULES)


@pytest.mark.parametrize(
    "header",
    [
        {"typ": "JWT"},
        {"typ": "jwt"},
        {"typ": "application/jwt"},
        {"typ": "dpop+jwt"},
        {"typ": "logout+jwt"},
        {"typ": "at+jwt "},
        {"typ": " at+jwt"},
        {"typ": "at+jwt; charset=utf-8"},
        {"typ": ""},
        {"typ": None},
        {"typ": 1},
        {"typ": ["at+jwt"]},
        {},
    ],
)
def test_other_typ_values_are_refused(header: dict[str, Any]) -> None:
    """RFC 9068 §4: resource servers MUST verify typ is at+jwt (explicit typing, RFC 8725 §3.11)."""
    with pytest.raises(InvalidToken) as caught:
        check_typ(header, RULES)
    assert "typ" in caught.value.description


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "application/at+jwt"])
def test_jwt_typ_only_when_configured(typ: str) -> None:
    """A legacy issuer's `JWT` is accepted only with accept_jwt_typ."""
    check_typ({"typ": typ}, ClaimRules(ISS, AUD, accept_jwt_typ=True))


@pytest.mark.parametrize("typ", ["dpop+jwt", "application/jwt", None])
def test_accept_jwt_typ_does_not_open_other_types(typ: str | None) -> None:
    """accept_jwt_typ adds `JWT` and nothing else."""
    with pytest.raises(InvalidToken):
        check_typ({"typ": typ}, ClaimRules(ISS, AUD, accept_jwt_typ=True))


# --- iss (RFC 9068 §4, RFC 7519 §4.1.1) -----------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        ISS + "/",
        ISS + "/evil",
        ISS + ".evil.example",
        ISS.upper(),
        "http://id.timesheets.test",
        ISS[:-1],
        [ISS],
        {"iss": ISS},
        "",
        None,
    ],
)
def test_issuer_must_match_exactly(iss: Any) -> None:
    """RFC 9068 §4: iss MUST exactly match the issuer identifier (no normalisation)."""
    refused(claims(iss=iss), "another issuer")


# --- aud (RFC 9068 §4, RFC 7519 §4.1.3, RFC 8725 §3.9) -----------------------------------


@pytest.mark.parametrize("aud", [AUD, [AUD], ["other", AUD], [AUD, "other"], [AUD, AUD]])
def test_audience_string_or_list_containing_ours(aud: Any) -> None:
    """RFC 7519 §4.1.3: aud is a string or an array of strings that includes ours."""
    assert check_claims(claims(aud=aud), RULES, NOW).subject == "alice"


@pytest.mark.parametrize(
    "aud",
    [
        "other",
        ["other"],
        [],
        [123],
        [AUD, 123],
        [[AUD]],
        AUD + "/",
        [AUD + "/"],
        AUD.upper(),
        AUD + " other",
        "",
        {"aud": AUD},
        None,
        123,
    ],
)
def test_other_audiences_are_refused(aud: Any) -> None:
    """RFC 9068 §4: the token MUST be refused if aud does not contain this resource."""
    refused(claims(aud=aud), "another audience")


# --- times (RFC 7519 §4.1.4-4.1.6, RFC 9068 §2.2) -------------------------------------


def test_exp_is_required() -> None:
    """RFC 9068 §2.2: exp is REQUIRED."""
    refused(claims(exp=None), "exp claim is required")


def test_iat_is_required() -> None:
    """RFC 9068 §2.2: iat is REQUIRED."""
    refused(claims(iat=None), "iat claim is required")


def test_expiry_honours_the_leeway() -> None:
    """RFC 7519 §4.1.4: expired at exp; a small leeway MAY be allowed for clock skew."""
    check_claims(claims(iat=NOW - 600, exp=NOW - RULES.leeway + 1), RULES, NOW)
    refused(claims(iat=NOW - 600, exp=NOW - RULES.leeway), "expired")
    refused(claims(iat=NOW - 7200, exp=NOW - 3600), "expired")


def test_iat_in_the_future_beyond_the_leeway_is_refused() -> None:
    """A token issued later than now (+ leeway) is refused."""
    check_claims(claims(iat=NOW + RULES.leeway, exp=NOW + 600), RULES, NOW)
    refused(claims(iat=NOW + RULES.leeway + 1, exp=NOW + 600), "issued in the future")


def test_nbf_in_the_future_is_refused() -> None:
    """RFC 7519 §4.1.5: the token MUST NOT be accepted before nbf (+ leeway)."""
    check_claims(claims(nbf=NOW + RULES.leeway), RULES, NOW)
    refused(claims(nbf=NOW + RULES.leeway + 1), "not valid yet")
    refused(claims(nbf=NOW + 3600, exp=NOW + 7200), "not valid yet")


def test_lifetime_is_bounded() -> None:
    """A token living longer than max_lifetime is refused, whatever its issuer says."""
    check_claims(claims(iat=NOW, exp=NOW + RULES.max_lifetime), RULES, NOW)
    refused(claims(iat=NOW, exp=NOW + RULES.max_lifetime + 1), "longer than allowed")
    short = ClaimRules(ISS, AUD, max_lifetime=300)
    refused(claims(iat=NOW, exp=NOW + 301), "longer than allowed", short)


def test_fractional_numeric_dates_are_accepted() -> None:
    """RFC 7519 §2: a NumericDate may be non-integer."""
    check_claims(claims(iat=NOW + 0.5, exp=NOW + 600.25, nbf=NOW - 0.5), RULES, NOW)


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value",
    [
        str(NOW + 600),
        "",
        True,
        False,
        math.inf,
        -math.inf,
        math.nan,
        [NOW],
        {"t": NOW},
    ],
)
def test_numeric_dates_must_be_finite_json_numbers(name: str, value: Any) -> None:
    """RFC 7519 §2 NumericDate: a JSON number; strings, booleans and non-finite refused."""
    refused(claims(**{name: value}), f"{name} claim is not a NumericDate")


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_numeric_date_beyond_float_range_is_an_invalid_token(name: str) -> None:
    """A JSON integer too large for a float (e.g. 10**400) is refused as InvalidToken.

    RFC 8259 §6 allows such literals and the JSON parser returns a Python int; the claim
    check must refuse it rather than crash with OverflowError (→ HTTP 500).
    """
    refused(claims(**{name: 10**400}), f"{name} claim is not a NumericDate")


def test_float_overflowed_exp_is_refused() -> None:
    """`1e400` parses to infinity: not a usable NumericDate."""
    refused(claims(exp=float("1e400")), "exp claim is not a NumericDate")


# --- identifiers (RFC 9068 §2.2) -----------------------------------------------------


@pytest.mark.parametrize("name", ["sub", "client_id", "jti"])
@pytest.mark.parametrize("value", [None, "", 123, ["alice"], {"id": "alice"}, True])
def test_identifiers_are_required_strings(name: str, value: Any) -> None:
    """RFC 9068 §2.2: sub, client_id and jti are REQUIRED strings."""
    refused(claims(**{name: value}), f"{name} claim is required")


@pytest.mark.parametrize("name", ["sub", "client_id"])
def test_identifiers_up_to_the_configured_length_are_accepted(name: str) -> None:
    principal = check_claims(claims(**{name: "x" * 200}), RULES, NOW)
    assert (principal.subject, principal.client_id)[name == "client_id"] == "x" * 200
    short = ClaimRules(issuer=ISS, audience=AUD, max_identifier_length=5)
    check_claims(claims(**{name: "x" * 5}), short, NOW)


@pytest.mark.parametrize("name", ["sub", "client_id"])
def test_identifiers_longer_than_the_configured_length_are_refused(name: str) -> None:
    """The API stores who called in columns of 200 characters."""
    refused(claims(**{name: "x" * 201}), f"{name} claim is longer than 200 characters")
    short = ClaimRules(issuer=ISS, audience=AUD, max_identifier_length=5)
    refused(claims(**{name: "x" * 6}), f"{name} claim is longer than 5 characters", short)


@pytest.mark.parametrize("name", ["sub", "client_id"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "a NUL character"),
        ("\x00", "a NUL character"),
        ("a\ud800", "an unpaired surrogate"),
        ("\udfff", "an unpaired surrogate"),
        ("a\udc00b", "an unpaired surrogate"),
    ],
)
def test_identifiers_that_cannot_be_stored_are_refused(name: str, value: str, problem: str) -> None:
    """A NUL (PostgreSQL text cannot hold it) or an unpaired surrogate (RFC 8259 §8.2)."""
    refused(claims(**{name: value}), f"{name} claim holds {problem}")


def test_identifiers_may_hold_any_other_character() -> None:
    principal = check_claims(claims(sub="a\U0001f600 \u00e9\t|x", client_id="c"), RULES, NOW)
    assert principal.subject == "a\U0001f600 \u00e9\t|x"


# --- scopes (RFC 9068 §2.2.3, RFC 8693 §4.2) -------------------------------------------


def test_scope_is_space_delimited() -> None:
    """RFC 8693 §4.2: scope is a space-separated list; empty items are ignored."""
    principal = check_claims(claims(scope="  a  b c "), RULES, NOW)
    assert principal.scopes == frozenset({"a", "b", "c"})


def test_permissions_are_merged_and_scp_is_ignored() -> None:
    """`permissions` (list) adds scopes; `scp` is not a claim this issuer uses."""
    principal = check_claims(claims(scope="a", permissions=["b", "c"], scp=["admin"]), RULES, NOW)
    assert principal.scopes == frozenset({"a", "b", "c"})


def test_no_scope_gives_no_scopes() -> None:
    """scope is optional; without it the caller holds no scope."""
    assert check_claims(claims(scope=None), RULES, NOW).scopes == frozenset()
    principal = check_claims(claims(scope=None, scp="admin"), RULES, NOW)
    assert principal.scopes == frozenset()


@pytest.mark.parametrize("scope", [["a"], 1, True, {"a": 1}])
def test_scope_must_be_a_string(scope: Any) -> None:
    """RFC 9068 §2.2.3: scope is a string."""
    refused(claims(scope=scope), "scope claim must be a string")


@pytest.mark.parametrize("permissions", ["a b", [1], ["a", None], {"a": 1}])
def test_permissions_must_be_a_list_of_strings(permissions: Any) -> None:
    """A permissions claim of another shape is refused, not partly used."""
    refused(claims(permissions=permissions), "permissions claim must be a list")


# --- Principal.is_machine --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "machine"),
    [
        ({"gty": "client-credentials", "sub": "alice"}, True),
        ({"sub": "spa"}, True),
        ({"sub": "spa@clients"}, True),
        ({"sub": "alice"}, False),
        ({"sub": "alice", "gty": "password"}, False),
        ({"sub": "other@clients"}, False),
        ({"sub": "spa@clients.evil"}, False),
    ],
)
def test_is_machine(overrides: dict[str, Any], machine: bool) -> None:
    """RFC 9068 §2.2: with client credentials sub is the client (or gty says so)."""
    assert check_claims(claims(**overrides), RULES, NOW).is_machine is machine
