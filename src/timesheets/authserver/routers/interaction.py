"""The browser side of the authorization server: `/authorize`, login, consent.

Errors before the client and its redirect URI are confirmed are shown on a page;
later ones go back to the client with `state` (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from timesheets import db
from timesheets.authserver import audit, grants, people
from timesheets.authserver.models import AuthorizationCode, User
from timesheets.authserver.oauth.authorization_request import (
    AuthorizationRequest,
    AuthorizeError,
    ClientRegistration,
    check_request,
    prompts,
)
from timesheets.authserver.oauth.errors import OAuthError
from timesheets.authserver.oauth.rfc8707 import resolve_targets
from timesheets.authserver.oauth.tenant import ClientView
from timesheets.authserver.oauth.token_request import parse_form
from timesheets.authserver.oauth.user_scopes import user_token_scopes
from timesheets.authserver.pages import (
    SESSION_COOKIE,
    form_allowed,
    message,
    render,
    set_session_cookie,
)
from timesheets.authserver.passwords import verify_password
from timesheets.authserver.routers.token import read_body
from timesheets.authserver.runtime import Runtime, runtime_of
from timesheets.authserver.sealing import SealError
from timesheets.authserver.signing import report_unopened
from timesheets.authserver.user_tokens import Issue, issue_tokens

router = APIRouter(include_in_schema=False)
log = logging.getLogger("timesheets.authserver.login")
GENERIC_LOGIN_ERROR = "Wrong email or password."


def _registration(client: ClientView | None) -> ClientRegistration | None:
    if client is None:
        return None
    return ClientRegistration(
        client.client_id, client.redirect_uris, client.grant_types, client.auth_method == "none"
    )


def _redirect(uri: str, params: dict[str, str], *, fragment: bool = False) -> Response:
    query = urlencode(params)
    target = f"{uri}#{query}" if fragment else f"{uri}{'&' if '?' in uri else '?'}{query}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


async def _checked(runtime: Runtime, query: str) -> tuple[ClientView | None, AuthorizationRequest]:
    client_id = dict(parse_qsl(query)).get("client_id", "")
    client = await runtime.client(client_id) if client_id else None
    return client, check_request(query, _registration(client))


def _error_response(
    runtime: Runtime, request: Request, query: str, client: ClientView | None, error: AuthorizeError
) -> Response:
    log.info(
        "authorization refused", extra={"error": error.error, "description": error.description}
    )
    params = dict(parse_qsl(query))
    if error.redirectable and client is not None:
        uri = params.get("redirect_uri") or client.redirect_uris[0]
        implicit = params.get("response_type") in IMPLICIT
        return _error_redirect(
            runtime, uri, params.get("state"), error.error, error.description, implicit
        )
    return message(runtime, request, 400, "This sign-in link is not valid", error.description)


IMPLICIT = frozenset({"token", "id_token token"})


def _error_redirect(
    runtime: Runtime,
    uri: str,
    state: str | None,
    error: str,
    description: str | None,
    implicit: bool,
) -> Response:
    """An error sent back to the client: in the query (RFC 6749 §4.1.2.1), or in the
    fragment for the implicit grant (§4.2.2.1), with `state` and, per RFC 9207 §2, `iss`."""
    answer = {"error": error} | ({"error_description": description} if description else {})
    answer |= {"state": state} if state else {}
    return _redirect(uri, answer | {"iss": runtime.settings.issuer}, fragment=implicit)


def _refused(runtime: Runtime, auth: AuthorizationRequest, error: str, why: str) -> Response:
    """A checked request refused: back to its redirect URI."""
    log.info("authorization refused", extra={"error": error, "description": why})
    implicit = auth.response_type in IMPLICIT
    return _error_redirect(runtime, auth.redirect_uri, auth.state, error, why, implicit)


async def session_user(runtime: Runtime, request: Request) -> tuple[User, datetime] | None:
    """The signed-in, enabled user of the browser's session and when they authenticated."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    now = runtime.now()
    async with runtime.sessions() as session:
        record = await grants.find_session(session, cookie)
        user = await session.get(User, record.user_id) if record else None
    refusal = grants.session_refusal(record, user, now)
    # Without a refusal, record and user are both there: their tests only narrow types.
    if refusal is not None or record is None or user is None:
        # Said (never the cookie), so that an unexpected sign-out can be traced.
        user_id = record.user_id if record is not None else None
        log.info("session cookie refused", extra={"reason": refusal, "user_id": user_id})
        return None
    return user, record.auth_time


async def _finish(
    runtime: Runtime,
    client: ClientView,
    auth: AuthorizationRequest,
    user: User,
    auth_time: datetime,
) -> Response:
    """Issue the code (or implicit tokens) and send the browser back to the client."""
    apis = await runtime.apis()
    try:
        targets = resolve_targets(auth.audiences, apis.get) if auth.audiences else ()
        async with runtime.sessions() as session:
            permitted = await people.user_permissions(session, user.id)
        scopes = user_token_scopes(client, targets, permitted, auth.scopes)
    except OAuthError as error:
        return _refused(runtime, auth, error.error, error.description)
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        grant = await grants.create_grant(session, client.client_id, user.id, now)
        if auth.response_type == "code":
            code, digest = grants.new_secret()
            await grants.store_code(
                session,
                AuthorizationCode(
                    digest=digest,
                    grant_id=grant.id,
                    client_id=client.client_id,
                    user_id=user.id,
                    redirect_uri=auth.redirect_uri if auth.redirect_uri_given else "",
                    scopes=list(scopes),
                    audiences=list(auth.audiences),
                    nonce=auth.nonce,
                    code_challenge=auth.code_challenge,
                    auth_time=auth_time,
                    expires_at=now + timedelta(seconds=runtime.settings.code_seconds),
                    consumed_at=None,
                ),
            )
    state = {"state": auth.state} if auth.state else {}
    if auth.response_type == "code":
        # RFC 9207: the issuer identifies who answered, against mix-up attacks.
        return _redirect(auth.redirect_uri, {"code": code, **state, "iss": runtime.settings.issuer})
    # Never a refresh token through the front channel (RFC 9700 §2.1.2): none is made.
    front = tuple(s for s in scopes if s != "offline_access")
    try:
        tokens = await issue_tokens(
            runtime, Issue(client, user, grant.id, front, auth.audiences, auth_time, auth.nonce)
        )
    except SealError as error:
        # RFC 6749 §4.2.2.1: the implicit grant's server_error, in the fragment.
        report_unopened(log, error)
        return _refused(runtime, auth, "server_error", "the server cannot sign tokens now")
    if auth.response_type == "token":
        tokens.pop("id_token", None)
    return _redirect(
        auth.redirect_uri, {k: str(v) for k, v in tokens.items()} | state, fragment=True
    )


async def _continue(
    runtime: Runtime, request: Request, query: str, user: User, auth_time: datetime
) -> Response:
    try:
        client, auth = await _checked(runtime, query)
    except AuthorizeError as error:
        return _error_response(runtime, request, query, None, error)
    assert client is not None
    if not client.first_party:
        if "none" in prompts(auth):
            # OpenID Connect Core §3.1.2.1: prompt=none never shows a consent page.
            return _refused(runtime, auth, "consent_required", "the client needs your consent")
        return render(
            runtime,
            request,
            "consent.html",
            client_name=client.name,
            user_email=user.email,
            scopes=auth.scopes or ("the permissions you hold",),
            authorize=query,
        )
    return await _finish(runtime, client, auth, user, auth_time)


def _recent(runtime: Runtime, auth: AuthorizationRequest, auth_time: datetime) -> bool:
    """Whether the sign-in is within the request's `max_age`; if not, the person signs in
    again (OpenID Connect Core §3.1.2.1: the OP MUST actively re-authenticate)."""
    if auth.max_age is None:
        return True
    return (runtime.now() - auth_time).total_seconds() <= auth.max_age


@router.get("/authorize")
async def authorize(request: Request) -> Response:
    """The authorization endpoint (RFC 6749 §3.1)."""
    runtime = runtime_of(request)
    query = request.url.query
    client = None
    try:
        client, auth = await _checked(runtime, query)
    except AuthorizeError as error:
        if client is None:
            client_id = dict(parse_qsl(query)).get("client_id", "")
            client = await runtime.client(client_id) if client_id else None
        return _error_response(runtime, request, query, client, error)
    assert client is not None
    signed_in = await session_user(runtime, request)
    wanted = prompts(auth)
    if signed_in is not None and "login" not in wanted and _recent(runtime, auth, signed_in[1]):
        return await _continue(runtime, request, query, *signed_in)
    if "none" in wanted:
        return _refused(runtime, auth, "login_required", "the person must sign in")
    return render(
        runtime, request, "login.html", client_name=client.name, authorize=query, email=""
    )


async def _form(request: Request) -> dict[str, str]:
    """The posted form; malformed, oversized or repeated fields make it empty (refused)."""
    try:
        body = await read_body(request, runtime_of(request).settings.max_body_bytes)
        return dict(parse_form(body).params)
    except OAuthError:
        return {}


def _audit_login(
    runtime: Runtime, kind: str, subject: str, outcome: str, address: str, reason: str | None
) -> None:
    runtime.audit.emit(
        audit.Event(
            kind,
            subject[:200] or "(none)",
            outcome,
            {"reason": reason} if reason else {},
            address=address,
            actor=f"user:{subject[:190]}",
        )
    )


@dataclass(frozen=True)
class SignIn:
    """A password check's outcome: the user and their new session cookie, or why not."""

    user: User | None = None
    cookie: str = ""
    auth_time: datetime | None = None
    retry_after: int = 0


async def sign_in(runtime: Runtime, request: Request, email: str, password: str) -> SignIn:
    """Check a password under the login throttle, audited; on success the browser's session
    is replaced by a new one. Shared by this login page and the admin console's."""
    email = email.strip().lower()
    address = request.client.host if request.client else "unknown"
    keys = (f"login:{email}", f"login-address:{address}")
    clock = runtime.clock()
    wait = max([await runtime.login_throttle.retry_after(key, clock) for key in keys])
    if wait:
        _audit_login(runtime, "login.failed", email, "failure", address, "throttled")
        return SignIn(retry_after=wait)
    async with runtime.sessions() as session:
        user = await session.scalar(people.select_user_by_email(email)) if email else None
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.enabled:
        for key in keys:
            await runtime.login_throttle.record_failure(key, clock)
        log.warning("login failed", extra={"address": address})
        reason = "unknown_user" if user is None else "wrong_password" if not valid else "disabled"
        _audit_login(runtime, "login.failed", email, "failure", address, reason)
        return SignIn()
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        # The write lock first: a read before the write would fail on SQLite if another
        # write (such as the audit log's) committed in between.
        await session.connection(execution_options={db.IMMEDIATE: True})
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await grants.end_session(session, old)  # a new session id at each login
        cookie = await grants.create_session(
            session, user.id, now, timedelta(seconds=runtime.settings.session_seconds)
        )
    log.info("login", extra={"user_id": user.id})
    _audit_login(runtime, "login.succeeded", user.id, "success", address, None)
    return SignIn(user, cookie, now)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the credentials, start a session, and continue the authorization."""
    runtime = runtime_of(request)
    form = await _form(request)
    if not form_allowed(runtime, request, form):
        return message(
            runtime, request, 403, "Request refused", "The form expired or came from elsewhere."
        )
    query = form.get("authorize", "")
    email = form.get("email", "").strip().lower()
    result = await sign_in(runtime, request, email, form.get("password", ""))
    if result.retry_after:
        return render(
            runtime,
            request,
            "message.html",
            429,
            {"Retry-After": str(result.retry_after)},
            title="Too many attempts",
            message=f"Too many sign-in attempts. Try again in {result.retry_after} seconds.",
            error=True,
        )
    if result.user is None or result.auth_time is None:
        client_name = ""
        try:
            client, _auth = await _checked(runtime, query)
            client_name = client.name if client else ""
        except AuthorizeError:
            pass
        return render(
            runtime,
            request,
            "login.html",
            401,
            client_name=client_name or "An application",
            authorize=query,
            email=email,
            error=GENERIC_LOGIN_ERROR,
        )
    response = await _continue(runtime, request, query, result.user, result.auth_time)
    set_session_cookie(runtime, response, result.cookie)
    return response


@router.post("/consent")
async def consent(request: Request) -> Response:
    """The user's answer on the consent page."""
    runtime = runtime_of(request)
    form = await _form(request)
    if not form_allowed(runtime, request, form):
        return message(
            runtime, request, 403, "Request refused", "The form expired or came from elsewhere."
        )
    signed_in = await session_user(runtime, request)
    if signed_in is None:
        return message(runtime, request, 401, "Signed out", "Please sign in again.")
    query = form.get("authorize", "")
    try:
        client, auth = await _checked(runtime, query)
    except AuthorizeError as error:
        return _error_response(runtime, request, query, None, error)
    assert client is not None
    if form.get("decision") != "allow":
        return _refused(runtime, auth, "access_denied", "the person did not allow it")
    return await _finish(runtime, client, auth, *signed_in)
