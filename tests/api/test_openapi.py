"""The OpenAPI entries of the write endpoints."""

from __future__ import annotations

from typing import Any

from timesheets.api.openapi import add_write_paths


def test_both_writes_document_one_idempotency_key_as_the_server_checks_it() -> None:
    schema: dict[str, Any] = {"paths": {}}
    add_write_paths(schema)
    create = schema["paths"]["/timesheets"]["post"]
    upload = schema["paths"]["/timesheets/upload"]["post"]
    assert create["parameters"] == upload["parameters"]
    [key] = upload["parameters"]
    assert (key["name"], key["in"], key["required"]) == ("Idempotency-Key", "header", False)
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 200}
    assert "Idempotency-Key" in upload["description"]
    assert "Idempotency-Key" in upload["responses"]["422"]["description"]
