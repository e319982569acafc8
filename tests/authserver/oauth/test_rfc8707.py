"""Resource indicators (RFC 8707 §2) and the `audience` parameter: naming and resolving APIs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from timesheets.authserver.oauth.errors import InvalidRequest, InvalidScope, InvalidTarget
from timesheets.authserver.oauth.rfc8707 import requested_targets, resolve_targets, scope_owner
from timesheets.authserver.oauth.tenant import ApiView
from timesheets.authserver.oauth.token_request import TokenRequest


def api(identifier: str, alg: str = "RS256") -> ApiView:
    """An API registered under `identifier`."""
    return ApiView(
        id=f"id-{identifier}",
        identifier=identifier,
        signing_alg=alg,
        token_lifetime=3600,
        scopes=frozenset({"read"}),
        hs256_secret=b"k" * 32 if alg == "HS256" else None,
    )


A = api("https://a.example")
B = api("https://b.example")
URN = api("urn:example:timesheets")
ES = api("https://es.example", "ES256")
ED = api("https://ed.example", "EdDSA")
H1 = api("https://h1.example", "HS256")
H2 = api("https://h2.example", "HS256")
REGISTRY = {x.identifier: x for x in (A, B, URN, ES, ED, H1, H2)}


def request(*resources: str, audience: str | None = None) -> TokenRequest:
    """A token request naming `resources` and, optionally, an `audience`."""
    params = {"grant_type": "client_credentials"}
    if audience is not None:
        params["audience"] = audience
    return TokenRequest(params=params, resources=resources)


# --- requested_targets -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        "https://a.example",
        "https://a.example/",
        "https://a.example/v1?tenant=x",
        "http://localhost:8080/api",
        "urn:example:timesheets",
    ],
)
def test_an_absolute_resource_uri_is_a_target(resource: str) -> None:
    """RFC 8707 §2: the resource is an absolute URI."""
    assert requested_targets(request(resource)) == (resource,)


@pytest.mark.parametrize(
    "resource",
    [
        "a.example",
        "/v1/timesheets",
        "//a.example/v1",
        "https:///v1",
        "https:a.example",
        "timesheets",
    ],
)
def test_a_relative_resource_is_invalid_target(resource: str) -> None:
    """RFC 8707 §2: the value MUST be an absolute URI."""
    with pytest.raises(InvalidTarget, match=r"resource must be an absolute URI \(RFC 8707 2\)"):
        requested_targets(request(resource))


@pytest.mark.parametrize(
    "resource", ["https://a.example#part", "https://a.example/#", "urn:example:x#y"]
)
def test_a_resource_with_a_fragment_is_invalid_target(resource: str) -> None:
    """RFC 8707 §2: the URI MUST NOT include a fragment component."""
    with pytest.raises(InvalidTarget, match=r"must not include a fragment \(RFC 8707 2\)"):
        requested_targets(request(resource))


def test_one_bad_resource_among_good_ones_is_invalid_target() -> None:
    with pytest.raises(InvalidTarget):
        requested_targets(request("https://a.example", "relative", "https://b.example"))


@pytest.mark.parametrize("resource", ["https://[::1", "http://[a.example]/", "https://]/"])
def test_an_unparseable_resource_is_invalid_target_not_a_crash(resource: str) -> None:
    """A resource urllib cannot split must be refused as invalid_target, not raise ValueError."""
    with pytest.raises(InvalidTarget):
        requested_targets(request(resource))


def test_several_resources_keep_order_without_repeats() -> None:
    targets = requested_targets(
        request("https://b.example", "https://a.example", "https://b.example")
    )
    assert targets == ("https://b.example", "https://a.example")


def test_audience_alone_names_one_api() -> None:
    assert requested_targets(request(audience="https://a.example")) == ("https://a.example",)


@pytest.mark.parametrize(
    "resources", [("https://a.example",), ("https://a.example", "https://a.example")]
)
def test_audience_and_resource_that_agree_name_one_api(resources: tuple[str, ...]) -> None:
    targets = requested_targets(request(*resources, audience="https://a.example"))
    assert targets == ("https://a.example",)


@pytest.mark.parametrize(
    "resources",
    [
        ("https://b.example",),
        ("https://a.example", "https://b.example"),
        ("https://b.example", "https://a.example"),
    ],
)
def test_audience_and_resource_that_disagree_are_invalid_request(
    resources: tuple[str, ...],
) -> None:
    with pytest.raises(InvalidRequest, match="audience and resource name different APIs"):
        requested_targets(request(*resources, audience="https://a.example"))


def test_no_audience_and_no_resource_is_invalid_target() -> None:
    """RFC 8707 §2: this server has no default resource, so the request must name one."""
    with pytest.raises(InvalidTarget, match="the request names no API") as caught:
        requested_targets(request())
    assert caught.value.error == "invalid_target"
    assert caught.value.status_code == 400


# --- resolve_targets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifiers",
    [
        ("https://a.example",),
        ("https://a.example", "https://b.example"),
        ("https://b.example", "urn:example:timesheets", "https://a.example"),
        ("https://h1.example",),
        ("https://es.example",),
    ],
)
def test_known_apis_resolve_in_order(identifiers: tuple[str, ...]) -> None:
    apis = resolve_targets(identifiers, REGISTRY.get)
    assert apis == tuple(REGISTRY[i] for i in identifiers)


@pytest.mark.parametrize(
    "identifiers",
    [("https://unknown.example",), ("https://a.example", "https://unknown.example")],
)
def test_an_unknown_api_is_invalid_target(identifiers: tuple[str, ...]) -> None:
    """RFC 8707 §2: a resource the server does not know is invalid_target."""
    with pytest.raises(InvalidTarget, match="the requested API is not registered"):
        resolve_targets(identifiers, REGISTRY.get)


@pytest.mark.parametrize(
    "apis",
    [(A, ES), (ES, A), (ES, ED), (A, H1), (A, B, ED)],
    ids=lambda apis: "+".join(a.signing_alg for a in apis),
)
def test_apis_with_different_signing_algorithms_are_invalid_target(
    apis: tuple[ApiView, ...],
) -> None:
    with pytest.raises(InvalidTarget, match="different signing algorithms"):
        resolve_targets(tuple(x.identifier for x in apis), REGISTRY.get)


def test_several_hs256_apis_are_invalid_target() -> None:
    """One token cannot be signed with several APIs' secrets at once."""
    with pytest.raises(InvalidTarget, match="cannot be signed with one API's secret"):
        resolve_targets((H1.identifier, H2.identifier), REGISTRY.get)


# --- scope_owner -----------------------------------------------------------------------------


def test_the_one_api_defining_a_scope_owns_it() -> None:
    writer = replace(B, scopes=frozenset({"write"}))
    assert scope_owner((A, writer), "read") is A
    assert scope_owner((A, writer), "write") is writer


def test_a_scope_no_api_defines_has_no_owner() -> None:
    assert scope_owner((A, B), "write") is None
    assert scope_owner((), "read") is None


def test_a_scope_defined_by_two_requested_apis_is_invalid_scope() -> None:
    with pytest.raises(InvalidScope, match="scope read is defined by more than one requested API"):
        scope_owner((A, B), "read")
