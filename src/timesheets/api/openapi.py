"""OpenAPI entries for the plain Starlette write endpoints."""

from __future__ import annotations

from typing import Any

from timesheets.api.schemas import Decision, TimesheetCreate, UploadItem

_MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _MESSAGE}}}


#: Answers every route with a bearer token may give, for FastAPI's `responses=`.
BEARER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error(
        "Malformed request (a token both in the header and elsewhere, or two Authorization"
        " headers, RFC 6750)"
    ),
    401: _error("Missing or invalid token (RFC 6750)"),
    403: _error("Insufficient scope (RFC 6750)"),
    503: _error("Storage or the issuer's keys temporarily unavailable; see Retry-After"),
}
#: For a route naming one entry.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such entry (or another person's)")}
#: For a route changing an entry's state, with an optional JSON body.
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("The entry's state forbids it (approved, or no longer submitted)"),
    413: _error("Body too large"),
    415: _error("Unsupported media type"),
}

#: `PUT /approvals/{id}`'s optional body, for FastAPI's `openapi_extra` (the route reads
#: the body itself: empty approves, `null` too).
DECISION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "Empty to approve; `decision` and `reason` to reject.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}},
    }
}


#: The `Idempotency-Key` request header of both write endpoints.
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes retries safe: the first request with a key stores its answer, and a retry "
        "with the same key and body gets that answer again (same status and body) without "
        "storing anything. Keys belong to the token's subject; a key already used with "
        "another body, or on the other write endpoint, is refused with 422; one outside "
        "1 to 200 characters with 400. A request refused as a whole (4xx, 503) stores "
        "nothing, its key included, and may be sent again."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _responses(success: dict[str, Any]) -> dict[str, Any]:
    return {
        **success,
        "400": _error("Malformed JSON or request"),
        "401": _error("Missing or invalid token (RFC 6750)"),
        "403": _error("Insufficient scope (RFC 6750)"),
        "413": _error("Body too large"),
        "415": _error("Unsupported media type"),
        "422": _error(
            "Invalid timesheet (`errors` names each field), or an Idempotency-Key already "
            "used with another body"
        ),
        "503": _error("Storage temporarily unavailable"),
    }


def _bearer_security(schema: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The bearer scheme (RFC 6750), declared in `schema`; the requirement naming it."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    return [{"bearer": []}]


def require_bearer(schema: dict[str, Any]) -> None:
    """Mark every operation that answers 401 (`BEARER_ERRORS`) as needing the bearer
    token, so that the docs' "Authorize" sends it with each of them."""
    security = _bearer_security(schema)
    for operations in schema["paths"].values():
        for operation in operations.values():
            if "401" in operation.get("responses", {}):
                operation.setdefault("security", security)


def add_write_paths(schema: dict[str, Any]) -> None:
    """Describe POST /timesheets and POST /timesheets/upload in `schema`, and add the
    request bodies' schemas (`DECISION_BODY`'s too)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (TimesheetCreate, UploadItem, Decision):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    security = _bearer_security(schema)
    entry = {"type": "object", "additionalProperties": True}
    schema["paths"].setdefault("/timesheets", {})["post"] = {
        "tags": ["timesheets"],
        "summary": "Create a timesheet entry (scope create:timesheets)",
        "operationId": "create_timesheet",
        "security": security,
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/TimesheetCreate"}}
            },
        },
        "responses": _responses(
            {"201": {"description": "Created", "content": {"application/json": {"schema": entry}}}}
        ),
    }
    schema["paths"]["/timesheets/upload"] = {
        "post": {
            "tags": ["timesheets"],
            "summary": "Upload entries, each once per external_id (scope batch:upload)",
            "description": (
                "One entry (answered with itself: 201 created, 200 already present, 422 "
                "rejected) or a batch as a JSON array or JSON Lines (200, with each item "
                "created, already present, or rejected with the reason). An item with an "
                "`external_id` is stored once per client and subject; one already present "
                "is left as stored, and its `differs` lists the fields (user_type, "
                "user_id, project, hours, year, week, date, description) in which the item "
                "disagrees with the stored entry. An external_id repeated in the batch is "
                "tried at its first valid occurrence; its repeats are then already present, "
                "or, when an hour cap refused it, the next is tried after the batch's "
                "other items. Items without an external_id "
                "are stored again by every request: send an `Idempotency-Key` so that a "
                "retry of the same body replays the first answer and stores nothing. The "
                "same items as an array or as JSON Lines are the same body."
            ),
            "operationId": "upload_timesheets",
            "security": security,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/UploadItem"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/UploadItem"},
                                },
                            ]
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            },
            "responses": _responses(
                {
                    "200": {
                        "description": "Per-item results",
                        "content": {"application/json": {"schema": entry}},
                    },
                    "201": {
                        "description": "One entry created",
                        "content": {"application/json": {"schema": entry}},
                    },
                }
            ),
        }
    }
