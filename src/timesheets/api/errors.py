"""Error responses of the Timesheets API: a JSON `message`, plus the fields at fault."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response


class ApiError(Exception):
    """An error answered with `status` and a JSON message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        """The HTTP response."""
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(json.dumps(body), self.status, self.headers, media_type="application/json")


#: The tags pydantic puts after a number field (`hours`: an int or a float) for each member
#: of its union that refused a value.
_NUMBER_MEMBERS = frozenset({"int", "float"})
NOT_A_NUMBER = "Input should be a number"


def field_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}]: a whole-model check's error once for each
    field it names (`schemas._refused`), any other error without a place as the body's,
    and a number field's, whichever members of its union refused the value, once."""
    result: list[dict[str, str]] = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        loc = item["loc"]
        if len(loc) > 1 and loc[-1] in _NUMBER_MEMBERS:
            loc, message = loc[:-1], NOT_A_NUMBER
        if loc:
            fields = [".".join(str(part) for part in loc)]
        else:
            fields = list(item.get("ctx", {}).get("fields", ())) or ["body"]
        for field in fields:
            entry = {"field": prefix + field, "message": message}
            if entry not in result:
                result.append(entry)
    return result


def invalid(errors: list[dict[str, str]]) -> ApiError:
    """422 naming the fields at fault."""
    return ApiError(422, "Invalid timesheet", errors=errors)


NOT_FOUND = ApiError(404, "Timesheet not found")
UNAVAILABLE = ApiError(503, "Storage temporarily unavailable; retry", headers={"Retry-After": "2"})


def keys_unavailable(retry_after: int) -> ApiError:
    """503 while the issuer's keys cannot be had: no token can be checked before the
    issuer is asked again, `retry_after` seconds from now."""
    return ApiError(
        503,
        "Token verification temporarily unavailable: the issuer's keys cannot be fetched; retry",
        headers={"Retry-After": str(retry_after)},
    )
