"""How console pages answer: a page with its navigation and flash message, a refused change
shown next to its field, a redirect after a change, and a secret shown once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from timesheets.authserver.admin import Conflict, NotFound, TenantError
from timesheets.authserver.console.forms import Form
from timesheets.authserver.console.guard import Admin
from timesheets.authserver.pages import render, secure_cookies
from timesheets.authserver.runtime import runtime_of

FLASH_COOKIE = "ts_console_flash"
SECTIONS = (
    ("apis", "APIs"),
    ("applications", "Applications"),
    ("users", "Users"),
    ("roles", "Roles"),
    ("keys", "Signing keys"),
    ("audit", "Audit log"),
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Problem:
    """A refused change, shown on the form it came from with what was typed."""

    form: str
    field: str  # the input to show the message next to; "" for the form as a whole
    message: str
    values: Form
    status: int


def refused(
    error: TenantError, form: str, values: Form, fields: Iterable[str] | Mapping[str, str]
) -> Problem:
    """`error` on `form`: next to its field when that is one of `fields` (a mapping renames
    a field of the rules to the form's input), else over the whole form."""
    names = fields if isinstance(fields, Mapping) else {name: name for name in fields}
    field = names.get(error.field or "", "")
    status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
    return Problem(form, field, str(error), values, status)


@dataclass(frozen=True)
class FormState:
    """What the templates fill the forms with: the defaults, or what a refused post held."""

    problem: Problem | None = None

    def _of(self, form: str) -> Problem | None:
        return self.problem if self.problem and self.problem.form == form else None

    def value(self, form: str, name: str, default: object = "") -> str:
        """An input's value."""
        problem = self._of(form)
        return problem.values.get(name) if problem else str(default)

    def checked(self, form: str, name: str, option: str, default: bool) -> bool:
        """Whether a checkbox is ticked."""
        problem = self._of(form)
        return option in problem.values.all(name) if problem else default

    def error(self, form: str, name: str) -> str:
        """The message to show next to an input."""
        problem = self._of(form)
        return problem.message if problem and problem.field == name else ""

    def form_error(self, form: str) -> str:
        """The message about the form as a whole."""
        problem = self._of(form)
        return problem.message if problem and not problem.field else ""


def page(
    request: Request,
    who: Admin | None,
    template: str,
    *,
    problem: Problem | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """A console page: navigation, the flash message of the last change, the forms' state."""
    runtime = runtime_of(request)
    flash = request.cookies.get(FLASH_COOKIE)
    section = request.url.path.removeprefix("/admin/").split("/")[0]
    response = render(
        runtime,
        request,
        template,
        problem.status if problem else status,
        headers,
        admin=who,
        sections=SECTIONS,
        section=section,
        flash=unquote(flash) if flash else "",
        state=FormState(problem),
        **context,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/admin")
    return response


def missing(request: Request, who: Admin, error: TenantError) -> Response:
    """The page for something that does not exist (any more)."""
    return page(request, who, "console/missing.html", status=404, text=str(error))


def done(request: Request, path: str, flash: str) -> Response:
    """After a change: back to a page (post/redirect/get), which says `flash` once."""
    response = RedirectResponse(path, 303, headers=NO_STORE)
    response.set_cookie(
        FLASH_COOKIE,
        quote(flash),
        max_age=60,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(runtime_of(request)),
    )
    return response


def shown_once(request: Request, who: Admin, **context: Any) -> Response:
    """The page right after a secret was made: the only time it is ever shown."""
    return page(request, who, "console/secret.html", headers=NO_STORE, **context)
