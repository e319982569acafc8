"""Error answers of the management API, in the Timesheets API's form: a JSON `message`,
plus `errors` naming the fields at fault."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from timesheets.authserver import admin
from timesheets.bearer.dependencies import FormTooLarge, bearer_error_response
from timesheets.bearer.errors import BearerError

log = logging.getLogger("timesheets.authserver.management")
PREFIX = "/api/v2/"


class ManagementError(Exception):
    """An error answered with `status`, a message and optionally the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None) -> Response:
    """The JSON error answer."""
    body: dict[str, Any] = {"message": message}
    if field is not None:
        body["errors"] = [{"field": field, "message": message}]
    return Response(
        json.dumps(body), status, {"Cache-Control": "no-store"}, media_type="application/json"
    )


def status_of(error: admin.TenantError) -> int:
    """404 for what does not exist, 409 for a conflict, 422 for refused input."""
    if isinstance(error, admin.NotFound):
        return 404
    if isinstance(error, admin.Conflict):
        return 409
    return 422


def _field(item: dict[str, Any]) -> str:
    """The field at fault: `body` for a body that is not JSON (its location is a
    character position), else the path below body, query or path."""
    if item["type"] == "json_invalid":
        return "body"
    return ".".join(str(p) for p in item["loc"][1:]) or str(item["loc"][0])


def install(app: FastAPI) -> None:
    """Answer the management API's errors in its form."""

    async def tenant_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, admin.TenantError)
        status = status_of(error)
        log.info("management change refused", extra={"status": status, "reason": str(error)})
        return error_response(status, str(error), error.field)

    async def management_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, ManagementError)
        log.info("management request refused", extra={"status": error.status})
        return error_response(error.status, error.message, error.field)

    async def bearer(_request: Request, error: Exception) -> Response:
        assert isinstance(error, BearerError)
        log.info("management request refused", extra={"status": error.status_code})
        return bearer_error_response(error)

    async def form_too_large(_request: Request, error: Exception) -> Response:
        log.info("management request refused", extra={"status": 413, "reason": str(error)})
        return error_response(413, str(error))

    async def validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        if not request.url.path.startswith(PREFIX):
            return await request_validation_exception_handler(request, error)
        errors = [
            {"field": _field(item), "message": str(item["msg"]).removeprefix("Value error, ")}
            for item in error.errors()
        ]
        log.info("management request refused", extra={"status": 422})
        body = json.dumps({"message": "Invalid request", "errors": errors})
        return Response(body, 422, media_type="application/json")

    app.add_exception_handler(admin.TenantError, tenant_error)
    app.add_exception_handler(ManagementError, management_error)
    app.add_exception_handler(BearerError, bearer)
    app.add_exception_handler(FormTooLarge, form_too_large)
    app.add_exception_handler(RequestValidationError, validation)
