"""Posted console forms: read with a size limit, checked for CSRF and origin, then parsed.

Unlike the login form, a console form may repeat a field (a group of checkboxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.requests import Request

from timesheets.authserver.admin import TenantError
from timesheets.authserver.console.route import Refusal
from timesheets.authserver.oauth.errors import OAuthError
from timesheets.authserver.pages import form_allowed, message
from timesheets.authserver.routers.token import read_body
from timesheets.authserver.runtime import runtime_of

MAX_FIELDS = 1000


@dataclass(frozen=True)
class Form:
    """The fields of a posted form, in order; a field may repeat."""

    pairs: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str:
        """The field's first value ("" when absent)."""
        return next((value for key, value in self.pairs if key == name), "")

    def all(self, name: str) -> list[str]:
        """Every value of a repeated field, such as the ticked boxes of a group."""
        return [value for key, value in self.pairs if key == name]

    def flag(self, name: str) -> bool:
        """Whether a checkbox was ticked."""
        return any(key == name for key, _value in self.pairs)

    def lines(self, name: str) -> tuple[str, ...]:
        """The non-blank lines of a text area, trimmed."""
        return tuple(line.strip() for line in self.get(name).splitlines() if line.strip())

    def whole_number(self, name: str, label: str) -> int:
        """A field holding a whole number of at most nine digits."""
        text = self.get(name).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise TenantError(f"{label} must be a whole number", name)
        return int(text)


async def read_form(request: Request) -> Form:
    """The posted form; an oversized or malformed body reads as an empty form."""
    try:
        body = await read_body(request, runtime_of(request).settings.max_body_bytes)
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (OAuthError, UnicodeDecodeError, ValueError):
        return Form()
    return Form(tuple(pairs))


async def posted_form(request: Request) -> Form:
    """The form of a POST from the console's own pages; anything else is refused (403)."""
    runtime = runtime_of(request)
    form = await read_form(request)
    if not form_allowed(runtime, request, {"csrf": form.get("csrf")}):
        text = "The form expired or came from elsewhere. Reload the page and try again."
        raise Refusal(message(runtime, request, 403, "Request refused", text))
    return form


Posted = Annotated[Form, Depends(posted_form)]
