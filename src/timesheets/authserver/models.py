"""Tables of the authorization server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from timesheets.db import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class ResourceServer(Base):
    """An API: the audience of access tokens, with its scopes."""

    __tablename__ = "resource_servers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    identifier: Mapped[str] = mapped_column(String(600), unique=True)
    signing_alg: Mapped[str] = mapped_column(String(10))
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_lifetime: Mapped[int] = mapped_column(Integer)
    permissions_claim: Mapped[bool] = mapped_column(Boolean, default=False)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    scopes: Mapped[list[Scope]] = relationship(
        back_populates="resource_server",
        cascade="all, delete-orphan",
        order_by="Scope.value",
        lazy="selectin",
    )


class Scope(Base):
    """A permission an API defines, such as `create:timesheets`."""

    __tablename__ = "scopes"
    __table_args__ = (UniqueConstraint("resource_server_id", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_server_id: Mapped[str] = mapped_column(
        ForeignKey("resource_servers.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(String(280))
    description: Mapped[str] = mapped_column(Text, default="")
    resource_server: Mapped[ResourceServer] = relationship(back_populates="scopes")


class Client(Base):
    """An application that asks for tokens."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    app_type: Mapped[str] = mapped_column(String(20))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    web_origins: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    first_party: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime]
    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        order_by="ClientSecret.created_at",
        lazy="selectin",
    )


class ClientSecret(Base):
    """A SHA-256 digest of a generated client secret; several overlap during rotation."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    client: Mapped[Client] = relationship(back_populates="secrets")


class ClientGrant(Base):
    """Which scopes of which API a client may obtain."""

    __tablename__ = "client_grants"
    __table_args__ = (UniqueConstraint("client_id", "resource_server_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    resource_server_id: Mapped[str] = mapped_column(
        ForeignKey("resource_servers.id", ondelete="RESTRICT"), index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SigningKey(Base):
    """A signing key; its private part is sealed with the key-encryption key."""

    __tablename__ = "signing_keys"
    # At most one current and one next key per algorithm (migration 0006).
    __table_args__ = tuple(
        Index(
            f"uq_signing_keys_one_{state}",
            "alg",
            unique=True,
            sqlite_where=text(where),
            postgresql_where=text(where),
        )
        for state, where in (
            ("current", "activated_at IS NOT NULL AND deactivated_at IS NULL"),
            ("next", "activated_at IS NULL"),
        )
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10), index=True)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    retire_at: Mapped[datetime | None]
    #: The longest token lifetime (seconds) in force while the key could sign (migration
    #: 0007): a rotated-out key stays published at least this long.
    longest_lifetime: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    """A person who logs in: an employee or a contractor."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    user_type: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Role(Base):
    """A named set of permissions (API scopes), such as Employee or Manager."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class RolePermission(Base):
    """One scope of one API that a role grants."""

    __tablename__ = "role_permissions"
    __table_args__ = (UniqueConstraint("role_id", "resource_server_id", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    resource_server_id: Mapped[str] = mapped_column(
        ForeignKey("resource_servers.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(280))


class UserRole(Base):
    """A role assigned to a user."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)


class Grant(Base):
    """One authorization of a client by a user: the family of a code and its tokens."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(100))


class AuthorizationCode(Base):
    """A one-time authorization code (stored as a digest) and what it was issued for."""

    __tablename__ = "authorization_codes"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(40))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    auth_time: Mapped[datetime]
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]


class RefreshToken(Base):
    """A refresh token (stored as a digest); each use rotates it within its grant."""

    __tablename__ = "refresh_tokens"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(40))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    idle_expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LoginSession(Base):
    """A signed-in browser session (the cookie holds the id; the table its digest)."""

    __tablename__ = "login_sessions"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime]
    expires_at: Mapped[datetime]


class FailureWindow(Base):
    """Failures counted for one throttled key (a client, an address, an account) in its
    current window, shared by every instance of the server."""

    __tablename__ = "failure_windows"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    started: Mapped[float] = mapped_column(Float, index=True)
    failures: Mapped[int] = mapped_column(Integer)


class SecurityEvent(Base):
    """One entry of the security audit log: who did what, to what, with which outcome."""

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_kind_id", "kind", "id"),
        Index("ix_security_events_subject_id", "subject", "id"),
        Index("ix_security_events_actor_id", "actor", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]]


class TenantRevision(Base):
    """A counter every change of the tenant raises, so each process knows to drop its caches."""

    __tablename__ = "tenant_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
