"""The client credentials grant (RFC 6749 §4.4) with per-API scopes and targets (RFC 8707)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from timesheets.authserver.oauth.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from timesheets.authserver.oauth.rfc6749_client_credentials import (
    GRANT_TYPE,
    Issuance,
    client_credentials,
    select_scopes,
)
from timesheets.authserver.oauth.tenant import ApiView, ClientView
from timesheets.authserver.oauth.token_request import TokenRequest

A = ApiView(
    id="api-a",
    identifier="https://a.example",
    signing_alg="RS256",
    token_lifetime=3600,
    scopes=frozenset({"read:a", "write:a", "shared"}),
)
B = ApiView(
    id="api-b",
    identifier="https://b.example",
    signing_alg="RS256",
    token_lifetime=600,
    scopes=frozenset({"read:b", "write:b", "shared"}),
)
C = ApiView(
    id="api-c",
    identifier="https://c.example",
    signing_alg="RS256",
    token_lifetime=900,
    scopes=frozenset({"read:c"}),
)
H = ApiView(
    id="api-h",
    identifier="https://h.example",
    signing_alg="HS256",
    token_lifetime=300,
    scopes=frozenset({"read:h"}),
    hs256_secret=b"s" * 32,
)
REGISTRY = {api.identifier: api for api in (A, B, C, H)}
GRANTS = {
    # "stale:a" is granted but no longer defined by API A.
    "api-a": frozenset({"write:a", "read:a", "shared", "stale:a"}),
    # "read:a" granted on B is meaningless: B does not define it.
    "api-b": frozenset({"read:b", "read:a"}),
    "api-h": frozenset({"read:h"}),
}


def client(
    *,
    grant_types: frozenset[str] = frozenset({GRANT_TYPE}),
    auth_method: str = "client_secret_post",
    grants: Mapping[str, frozenset[str]] = GRANTS,
) -> ClientView:
    """A machine client; by default granted scopes on APIs A, B and H (not C)."""
    return ClientView(
        client_id="machine-1",
        name="Import Job",
        app_type="machine",
        auth_method=auth_method,
        grant_types=grant_types,
        grants=grants,
    )


def request(*resources: str, audience: str | None = None, scope: str | None = None) -> TokenRequest:
    """A client credentials token request."""
    params = {"grant_type": GRANT_TYPE}
    if audience is not None:
        params["audience"] = audience
    if scope is not None:
        params["scope"] = scope
    return TokenRequest(params=params, resources=resources)


def decide(token_request: TokenRequest, who: ClientView | None = None) -> Issuance:
    """Run the grant against the registry."""
    return client_credentials(who or client(), token_request, REGISTRY.get)


# --- Who may use the grant -------------------------------------------------------------------


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_a_confidential_client_gets_a_token_for_its_api(auth_method: str) -> None:
    issuance = decide(
        request(audience=A.identifier, scope="read:a"), client(auth_method=auth_method)
    )
    assert issuance == Issuance(apis=(A,), scopes=("read:a",))
    assert issuance.audiences == ("https://a.example",)
    assert issuance.lifetime == 3600


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(client(grant_types=frozenset()), id="no-grant-types"),
        pytest.param(client(grant_types=frozenset({"authorization_code"})), id="other-grant"),
        pytest.param(client(auth_method="none"), id="public-client"),
    ],
)
def test_a_client_without_the_grant_is_unauthorized_client(who: ClientView) -> None:
    """RFC 6749 §4.4: only confidential clients allowed this grant type may use it."""
    with pytest.raises(UnauthorizedClient, match="may not use the client_credentials grant") as e:
        decide(request(audience=A.identifier, scope="read:a"), who)
    assert e.value.error == "unauthorized_client"


def test_unauthorized_client_is_decided_before_the_target() -> None:
    with pytest.raises(UnauthorizedClient):
        decide(request(), client(grant_types=frozenset()))


# --- Targets ---------------------------------------------------------------------------------


def test_a_request_without_a_target_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget, match="names no API"):
        decide(request(scope="read:a"))


def test_an_unknown_api_is_invalid_target() -> None:
    """RFC 8707 §2."""
    with pytest.raises(InvalidTarget, match="not registered"):
        decide(request("https://unknown.example"))


@pytest.mark.parametrize(
    "resources", [(C.identifier,), (A.identifier, C.identifier), (C.identifier, A.identifier)]
)
def test_an_api_the_client_has_no_grant_for_is_invalid_target(
    resources: tuple[str, ...],
) -> None:
    """RFC 8707 §2: a resource the client may not access is invalid_target."""
    with pytest.raises(InvalidTarget, match="not authorized for the requested API"):
        decide(request(*resources))


def test_apis_with_mixed_signing_algorithms_are_invalid_target() -> None:
    with pytest.raises(InvalidTarget, match="different signing algorithms"):
        decide(request(A.identifier, H.identifier))


def test_audience_and_resource_disagreeing_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="different APIs"):
        decide(request(B.identifier, audience=A.identifier))


# --- Scopes ----------------------------------------------------------------------------------


def test_no_scope_requested_gives_every_granted_scope_the_api_defines() -> None:
    """Granted scopes the API no longer defines ("stale:a") are not issued."""
    issuance = decide(request(audience=A.identifier))
    assert issuance.scopes == ("read:a", "shared", "write:a")


def test_no_scope_requested_ignores_a_scope_granted_on_an_api_that_does_not_define_it() -> None:
    """ "read:a" granted on B is not issued: B does not define it (and A is not requested)."""
    issuance = decide(request(B.identifier))
    assert issuance.scopes == ("read:b",)


def test_requested_scopes_are_issued_in_the_requested_order() -> None:
    issuance = decide(request(audience=A.identifier, scope="write:a read:a"))
    assert issuance.scopes == ("write:a", "read:a")


@pytest.mark.parametrize(
    ("scope", "name"),
    [
        ("read:b", "read:b"),
        ("read:a write:b", "write:b"),
        ("unknown", "unknown"),
        ("stale:a", "stale:a"),
        ("read:a read:c", "read:c"),
    ],
)
def test_a_requested_scope_not_granted_on_the_api_is_invalid_scope(scope: str, name: str) -> None:
    """RFC 6749 §3.3: an unknown or ungranted scope is refused, not silently dropped."""
    with pytest.raises(InvalidScope, match=f"scope {name} is not granted to this client") as e:
        decide(request(audience=A.identifier, scope=scope))
    assert e.value.error == "invalid_scope"


@pytest.mark.parametrize("scope", ["", "read:a  write:a", 'read:"a"'])
def test_a_malformed_scope_is_invalid_scope(scope: str) -> None:
    with pytest.raises(InvalidScope, match=r"RFC 6749 3\.3"):
        decide(request(audience=A.identifier, scope=scope))


def test_a_scope_defined_by_two_requested_apis_is_invalid_scope() -> None:
    """Ambiguous: "shared" is defined by both A and B, so it cannot be attributed."""
    with pytest.raises(
        InvalidScope, match="scope shared is defined by more than one requested API"
    ):
        decide(request(A.identifier, B.identifier, scope="shared"))


def test_a_scope_defined_by_two_apis_is_fine_when_only_one_is_requested() -> None:
    assert decide(request(A.identifier, scope="shared")).scopes == ("shared",)


def test_a_multi_audience_token_gets_scopes_each_granted_on_its_own_api() -> None:
    issuance = decide(request(A.identifier, B.identifier, scope="read:b write:a"))
    assert issuance.apis == (A, B)
    assert issuance.audiences == ("https://a.example", "https://b.example")
    assert issuance.scopes == ("read:b", "write:a")


def test_a_scope_granted_on_the_wrong_api_is_invalid_scope() -> None:
    """ "read:a" is granted on B, but it belongs to A; with only B requested it is refused."""
    with pytest.raises(InvalidScope, match="scope read:a is not granted"):
        decide(request(B.identifier, scope="read:a"))


def test_a_multi_audience_token_without_scope_gets_the_scopes_granted_on_each_api() -> None:
    """ "read:a" granted on B adds nothing: B does not define it."""
    who = client(grants={"api-a": frozenset({"read:a"}), "api-b": frozenset({"read:b", "read:a"})})
    issuance = decide(request(A.identifier, B.identifier), who)
    assert issuance.scopes == ("read:a", "read:b")


def test_without_scope_a_granted_scope_defined_by_two_requested_apis_is_invalid_scope() -> None:
    """ "shared" is granted on A only, yet B defines it too: B would accept it unearned."""
    with pytest.raises(
        InvalidScope, match="scope shared is defined by more than one requested API"
    ) as e:
        decide(request(A.identifier, B.identifier))
    assert e.value.error == "invalid_scope"


def test_without_scope_a_name_two_apis_define_but_neither_grants_is_no_obstacle() -> None:
    who = client(grants={"api-a": frozenset({"read:a"}), "api-b": frozenset({"read:b"})})
    assert "shared" in A.scopes & B.scopes
    assert decide(request(A.identifier, B.identifier), who).scopes == ("read:a", "read:b")


def test_lifetime_is_the_shortest_of_the_apis() -> None:
    assert decide(request(A.identifier)).lifetime == 3600
    assert decide(request(B.identifier)).lifetime == 600
    assert decide(request(A.identifier, B.identifier, scope="read:a")).lifetime == 600
    assert decide(request(B.identifier, A.identifier, scope="read:a")).lifetime == 600


def test_a_grant_with_no_scopes_gives_a_token_without_scopes() -> None:
    who = client(grants={"api-c": frozenset()})
    assert decide(request(C.identifier), who).scopes == ()


# --- select_scopes directly ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apis", "requested", "expected"),
    [
        ((A,), None, ("read:a", "shared", "write:a")),
        ((A,), ("shared", "read:a"), ("shared", "read:a")),
        ((B,), None, ("read:b",)),
        ((A, B), ("write:a", "read:b"), ("write:a", "read:b")),
        ((C,), None, ()),
    ],
)
def test_select_scopes(
    apis: tuple[ApiView, ...], requested: tuple[str, ...] | None, expected: tuple[str, ...]
) -> None:
    assert select_scopes(client(), apis, requested) == expected
