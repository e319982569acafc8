"""Settings of each service: every default in one documented place.

Values come from flags (the CLI passes them as keyword arguments), then from the
environment, then from the defaults below. `docs/configuration.md` lists them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The key-encryption key accepted only in development mode (`timesheets up` never uses it:
#: it generates a random key in the data directory).
PLACEHOLDER_KEY = "development-only-placeholder-key"


def default_data_dir() -> Path:
    """The data directory: `TIMESHEETS_DATA_DIR`, else `./.timesheets`."""
    import os

    return Path(os.environ.get("TIMESHEETS_DATA_DIR", ".timesheets"))


def sqlite_url(path: Path) -> str:
    """An async SQLite URL for a file."""
    return f"sqlite+aiosqlite:///{path.resolve()}"


CpuAffinity = Literal["auto", "off"]
CPU_AFFINITY = (
    "With 2 or more workers and no more workers than CPUs: `auto` binds worker i to the"
    " i-th CPU this process may use, `off` leaves placement to the kernel (as does `auto`"
    " with more workers than CPUs)."
)


#: SQLite's numbers for its `synchronous` levels.
_SYNCHRONOUS_NUMBERS = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}


def _synchronous_level(value: object) -> object:
    if not isinstance(value, str):
        return value
    level = value.strip().upper()
    return _SYNCHRONOUS_NUMBERS.get(level, level)


#: SQLite's `synchronous` levels (https://sqlite.org/pragma.html#pragma_synchronous), by
#: name in any case or by number (0 to 3). SQLite reads any other value (a typo, `on`,
#: `true`) as NORMAL without a word, which gives up power-cut durability and the API
#: writer's own WAL sync: refused here.
SqliteSynchronous = Annotated[
    Literal["OFF", "NORMAL", "FULL", "EXTRA"], BeforeValidator(_synchronous_level)
]


#: The largest `limit` a list takes, whatever its configured `page_size_max`.
PAGE_SIZE_LIMIT = 200


Migrate = Annotated[
    bool,
    Field(
        description="Apply pending migrations on start; when off, refuse to start while any"
        " are pending."
    ),
]


def is_loopback(host: str) -> bool:
    """Whether a URL's host is this machine's loopback (a name or an address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AuthServerSettings(BaseSettings):
    """The authorization server. Environment prefix `TIMESHEETS_AUTH_`."""

    model_config = SettingsConfigDict(env_prefix="TIMESHEETS_AUTH_", extra="forbid")

    issuer: Annotated[
        str,
        Field(
            description="Issuer URL, exactly as it appears in `iss`: https, or http on a "
            "loopback host (any host in development mode)."
        ),
    ] = "http://127.0.0.1:9000"
    host: Annotated[str, Field(description="Address to listen on.")] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535, description="Port to listen on.")] = 9000
    workers: Annotated[int, Field(ge=1, le=64, description="Worker processes.")] = 1
    cpu_affinity: Annotated[CpuAffinity, Field(description=CPU_AFFINITY)] = "auto"
    data_dir: Annotated[
        Path, Field(description="Directory for SQLite files and generated keys.")
    ] = Field(default_factory=default_data_dir)
    database_url: Annotated[
        str, Field(description="SQLAlchemy async URL; default SQLite in the data directory.")
    ] = ""
    key_encryption_key: Annotated[
        str,
        Field(
            description="Secret that encrypts private signing keys and API secrets at rest; "
            "the server refuses to start (exit 1) if the stored ones do not open with it."
        ),
    ] = ""
    dev: Annotated[bool, Field(description="Development mode: allows the placeholder key.")] = False
    migrate: Migrate = True
    sqlite_synchronous: Annotated[
        SqliteSynchronous,
        Field(
            description=(
                "SQLite `synchronous` pragma: OFF, NORMAL, FULL (survives a power cut) or EXTRA"
                " (or 0 to 3); any other value is refused."
            )
        ),
    ] = "FULL"
    client_cache_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="How long a process keeps a looked-up client or API at most; "
            "a change made through the admin commands, the management API or the console "
            "drops it sooner (see `revision_check_seconds`).",
        ),
    ] = 30.0
    revision_check_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="How often a process asks the database whether the tenant changed "
            "(a secret rotated, a client disabled, a key rotated) and drops its caches if so.",
        ),
    ] = 0.5
    key_cache_seconds: Annotated[
        float, Field(ge=0, description="How long a process keeps the signing keys it loaded.")
    ] = 5.0
    max_body_bytes: Annotated[
        int, Field(ge=1024, description="Largest token request body accepted.")
    ] = 16384
    auth_failure_limit: Annotated[
        int,
        Field(ge=1, description="Failed client authentications allowed per client and address."),
    ] = 10
    auth_failure_window_seconds: Annotated[
        float, Field(gt=0, description="Window in which failures count; also the lock time.")
    ] = 60.0
    key_publish_margin_seconds: Annotated[
        int, Field(ge=0, description="Extra time a rotated-out key stays published.")
    ] = 300
    key_min_published_seconds: Annotated[
        int,
        Field(
            ge=0,
            description="How long a next key must have been published before a rotation "
            "makes it sign, unless forced: at least twice `key_cache_seconds` (this "
            "server's cache, then the JWKS `Cache-Control: max-age`) plus the resource "
            "servers' `jwks_refetch_seconds`, so that they know a key before it signs.",
        ),
    ] = 60
    secret_overlap_seconds: Annotated[
        int, Field(ge=0, description="Default time an old client secret keeps working.")
    ] = 86400
    code_seconds: Annotated[
        int, Field(ge=10, le=600, description="Lifetime of an authorization code.")
    ] = 60
    user_token_seconds: Annotated[
        int, Field(ge=10, description="Longest lifetime of a person's access token.")
    ] = 900
    id_token_seconds: Annotated[int, Field(ge=60, description="Lifetime of an ID token.")] = 3600
    refresh_absolute_seconds: Annotated[
        int, Field(ge=300, description="A refresh-token family's absolute lifetime.")
    ] = 30 * 86400
    refresh_idle_seconds: Annotated[
        int, Field(ge=300, description="A refresh token's lifetime without use.")
    ] = 7 * 86400
    session_seconds: Annotated[int, Field(ge=300, description="Lifetime of a login session.")] = (
        8 * 3600
    )
    login_failure_limit: Annotated[
        int, Field(ge=1, description="Failed logins allowed per account and per address.")
    ] = 5
    login_failure_window_seconds: Annotated[
        float, Field(gt=0, description="Window in which failed logins count; the lock time.")
    ] = 300.0

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        # RFC 8414 §2: the issuer is an https URL with a host and no query or fragment
        # (plain http only on a loopback host or in development mode: see below).
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or {"?", "#"} & set(value):
            raise ValueError("issuer must be an https URL with a host, without query or fragment")
        return value

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> AuthServerSettings:
        host = urlsplit(self.issuer).hostname or ""
        if self.issuer.startswith("http://") and not (self.dev or is_loopback(host)):
            # Cookies and tokens would cross the network in the clear (RFC 8414 §2, RFC
            # 9700 §4.1.1); behind a TLS proxy the issuer is the proxy's https URL.
            raise ValueError(
                f"the issuer {self.issuer} is plain http on a host that is not loopback: "
                "use its https URL (development mode allows http)"
            )
        if not self.database_url:
            self.database_url = sqlite_url(self.data_dir / "authserver.db")
        if not self.key_encryption_key:
            if not self.dev:
                raise ValueError(
                    "TIMESHEETS_AUTH_KEY_ENCRYPTION_KEY is required outside development mode"
                )
            self.key_encryption_key = PLACEHOLDER_KEY
        if self.key_encryption_key == PLACEHOLDER_KEY and not self.dev:
            raise ValueError("the placeholder key-encryption key is refused outside development")
        if len(self.key_encryption_key) < 16:
            raise ValueError("the key-encryption key must be at least 16 characters")
        return self


class ApiSettings(BaseSettings):
    """The Timesheets API. Environment prefix `TIMESHEETS_API_`."""

    model_config = SettingsConfigDict(env_prefix="TIMESHEETS_API_", extra="forbid")

    issuer: Annotated[str, Field(description="Issuer whose tokens are accepted (exact `iss`).")] = (
        ""
    )
    audience: Annotated[str, Field(description="This API's identifier (must be in `aud`).")] = ""
    host: Annotated[str, Field(description="Address to listen on.")] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535, description="Port to listen on.")] = 8000
    workers: Annotated[int, Field(ge=1, le=64, description="Worker processes.")] = 1
    cpu_affinity: Annotated[CpuAffinity, Field(description=CPU_AFFINITY)] = "auto"
    data_dir: Annotated[Path, Field(description="Directory for the SQLite file.")] = Field(
        default_factory=default_data_dir
    )
    database_url: Annotated[
        str, Field(description="SQLAlchemy async URL; default SQLite in the data directory.")
    ] = ""
    migrate: Migrate = True
    sqlite_synchronous: Annotated[
        SqliteSynchronous,
        Field(
            description=(
                "SQLite `synchronous` pragma: OFF, NORMAL, FULL or EXTRA (or 0 to 3); FULL"
                " survives a power cut (the entry writer then commits at NORMAL and syncs the"
                " WAL itself before it answers)."
            )
        ),
    ] = "FULL"
    algorithms: Annotated[
        list[str], Field(description="Accepted signing algorithms (never taken from tokens).")
    ] = ["RS256"]
    hs256_secret: Annotated[
        str, Field(description="Shared secret, for an API configured with HS256.")
    ] = ""
    accept_jwt_typ: Annotated[
        bool, Field(description="Also accept `typ: JWT` (issuers that don't type tokens).")
    ] = False
    leeway_seconds: Annotated[int, Field(ge=0, le=300, description="Clock skew allowed.")] = 30
    max_token_lifetime: Annotated[
        int, Field(ge=60, description="Longest exp - iat accepted, seconds.")
    ] = 86400
    jwks_refetch_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="At most one JWKS fetch attempt per this many seconds, failed ones "
            "included, with or without keys cached.",
        ),
    ] = 10.0
    jwks_max_age_seconds: Annotated[
        float, Field(gt=0, description="Refresh the cached JWKS after this long.")
    ] = 300.0
    cors_origins: Annotated[
        list[str], Field(description="Web origins allowed to call the API from a browser.")
    ] = []
    max_body_bytes: Annotated[
        int, Field(ge=1024, description="Largest request body accepted (413 beyond).")
    ] = 1024 * 1024
    max_batch_items: Annotated[int, Field(ge=1, description="Most entries in one upload.")] = 1000
    weekly_cap_employee: Annotated[
        float, Field(gt=0, le=168, description="Most hours an employee may log in a week.")
    ] = 168
    weekly_cap_contractor: Annotated[
        float, Field(gt=0, le=168, description="Most hours a contractor may log in a week.")
    ] = 168
    page_size_max: Annotated[
        int,
        Field(
            ge=1,
            le=PAGE_SIZE_LIMIT,
            description=f"Largest page of a list (at most {PAGE_SIZE_LIMIT}, `limit`'s own bound).",
        ),
    ] = PAGE_SIZE_LIMIT
    write_batch_max: Annotated[
        int, Field(ge=1, description="Most writes that share one commit (group commit).")
    ] = 256

    @model_validator(mode="after")
    def _required(self) -> ApiSettings:
        missing = [
            name
            for name, value in (
                ("TIMESHEETS_API_ISSUER (--issuer)", self.issuer),
                ("TIMESHEETS_API_AUDIENCE (--audience)", self.audience),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"missing {' and '.join(missing)}")
        if "HS256" in self.algorithms and len(self.hs256_secret) < 32:
            raise ValueError("HS256 needs TIMESHEETS_API_HS256_SECRET of at least 32 characters")
        unknown = set(self.algorithms) - {"RS256", "PS256", "ES256", "EdDSA", "HS256"}
        if unknown or not self.algorithms:
            raise ValueError(f"unsupported algorithms: {', '.join(sorted(unknown))}")
        if not self.database_url:
            self.database_url = sqlite_url(self.data_dir / "api.db")
        return self
