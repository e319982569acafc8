"""Request bodies of the management API; unknown fields are refused, each named."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200)]
#: A numeric id in a path: a positive 32-bit integer, as the tables hold.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Body(BaseModel):
    """A JSON object with only the documented fields."""

    model_config = ConfigDict(extra="forbid")


class ScopeIn(Body):
    """One scope of an API."""

    value: Annotated[str, Field(min_length=1, max_length=280)]
    description: Annotated[str, Field(max_length=500)] = ""


class ResourceServerCreate(Body):
    """A new API."""

    name: Name
    identifier: Annotated[str, Field(min_length=1, max_length=600)]
    signing_alg: str = "RS256"
    token_lifetime: int = 3600
    permissions_claim: bool = False
    scopes: list[ScopeIn] = []
    create_test_client: bool = False


class ResourceServerUpdate(Body):
    """Changes to an API (identifier and algorithm are immutable); `scopes` replaces all."""

    name: Name | None = None
    token_lifetime: int | None = None
    permissions_claim: bool | None = None
    scopes: list[ScopeIn] | None = None


class ClientCreate(Body):
    """A new client (application)."""

    name: Name
    app_type: str
    token_endpoint_auth_method: str | None = None
    grant_types: list[str] | None = None
    redirect_uris: list[str] = []
    web_origins: list[str] = []
    first_party: bool = True
    post_logout_redirect_uris: list[str] = []


class ClientUpdate(Body):
    """Changes to a client."""

    name: Name | None = None
    enabled: bool | None = None
    token_endpoint_auth_method: str | None = None
    grant_types: list[str] | None = None
    redirect_uris: list[str] | None = None
    web_origins: list[str] | None = None
    first_party: bool | None = None
    post_logout_redirect_uris: list[str] | None = None


class SecretRotation(Body):
    """How long the previous secrets keep working (0: stop at once)."""

    overlap_seconds: Annotated[int, Field(ge=0, le=30 * 86400)] = 0


class ClientGrantCreate(Body):
    """Scopes of an API a client may get."""

    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    audience: Annotated[str, Field(min_length=1, max_length=600)]
    scope: list[str]


class ClientGrantUpdate(Body):
    """The grant's scopes, replaced."""

    scope: list[str]


class UserCreate(Body):
    """A new person."""

    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Name
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    user_type: str = "Employee"


class UserUpdate(Body):
    """Changes to a person."""

    name: Name | None = None
    user_type: str | None = None
    enabled: bool | None = None
    password: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class RoleNames(Body):
    """Roles by name or id."""

    roles: Annotated[list[str], Field(min_length=1)]


class Permission(Body):
    """One scope of one API."""

    resource_server_identifier: Annotated[str, Field(min_length=1, max_length=600)]
    permission_name: Annotated[str, Field(min_length=1, max_length=280)]


class Permissions(Body):
    """Permissions to add or remove."""

    permissions: Annotated[list[Permission], Field(min_length=1)]


class RoleCreate(Body):
    """A new role."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=1000)] = ""
    permissions: list[Permission] = []


class RoleUpdate(Body):
    """Changes to a role."""

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None


class KeyRotation(Body):
    """Which algorithm's keys to rotate; `force` promotes a next key however recent."""

    alg: str = "RS256"
    force: bool = False
