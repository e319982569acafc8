"""The scopes of a user's token: requested, granted to the client and permitted by roles."""

from __future__ import annotations

import pytest

from timesheets.authserver.oauth.errors import InvalidScope
from timesheets.authserver.oauth.tenant import ApiView, ClientView
from timesheets.authserver.oauth.user_scopes import user_token_scopes


def api(name: str, *scopes: str) -> ApiView:
    """An API `https://<name>.example` defining `scopes`."""
    return ApiView(
        id=f"api-{name}",
        identifier=f"https://{name}.example",
        signing_alg="RS256",
        token_lifetime=3600,
        scopes=frozenset(scopes),
    )


A = api("a", "read", "x")
B = api("b", "read", "write")
# The client is granted `read` and `x` on A and only `write` on B; the user may do all.
CLIENT = ClientView(
    client_id="web",
    name="Web app",
    app_type="spa",
    auth_method="none",
    grant_types=frozenset({"authorization_code"}),
    grants={"api-a": frozenset({"read", "x"}), "api-b": frozenset({"write"})},
)
EVERYTHING = {A.identifier: A.scopes, B.identifier: B.scopes}


def test_without_scope_the_token_gets_what_is_granted_and_permitted() -> None:
    permitted = {A.identifier: frozenset({"read"})}
    assert user_token_scopes(CLIENT, (A,), permitted, None) == ("read",)


def test_without_scope_each_api_contributes_what_it_grants_and_permits() -> None:
    permitted = {A.identifier: frozenset({"x"}), B.identifier: frozenset({"write"})}
    assert user_token_scopes(CLIENT, (A, B), permitted, None) == ("write", "x")


def test_without_scope_a_granted_scope_defined_by_two_requested_apis_is_invalid_scope() -> None:
    """`read` is granted on A only, but B defines it too and would accept it unearned."""
    with pytest.raises(InvalidScope, match="scope read is defined by more than one requested API"):
        user_token_scopes(CLIENT, (A, B), EVERYTHING, None)


def test_a_requested_scope_defined_by_two_requested_apis_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="scope read is defined by more than one requested API"):
        user_token_scopes(CLIENT, (A, B), EVERYTHING, ("write", "read"))


def test_a_scope_both_apis_define_is_fine_when_one_is_requested() -> None:
    assert user_token_scopes(CLIENT, (A,), EVERYTHING, ("read",)) == ("read",)


def test_a_requested_scope_not_granted_or_permitted_is_left_out() -> None:
    """RFC 6749 §3.3 lets the server issue less than requested, as consent would."""
    assert user_token_scopes(CLIENT, (B,), EVERYTHING, ("read", "write")) == ("write",)
    permitted = {A.identifier: frozenset({"read"})}
    assert user_token_scopes(CLIENT, (A,), permitted, ("x", "read")) == ("read",)


def test_an_unknown_requested_scope_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="unknown scope delete"):
        user_token_scopes(CLIENT, (A, B), EVERYTHING, ("write", "delete"))


def test_openid_scopes_pass_through_in_the_requested_order() -> None:
    scopes = ("openid", "x", "profile", "offline_access")
    assert user_token_scopes(CLIENT, (A,), EVERYTHING, scopes) == scopes
    assert user_token_scopes(CLIENT, (), {}, ("openid", "email")) == ("openid", "email")
