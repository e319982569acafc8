"""The OpenAPI document: the write endpoints' entries, and the bearer token of every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timesheets.api.app import create_app
from timesheets.api.create_lane import CreateLane
from timesheets.api.openapi import add_write_paths
from timesheets.settings import ApiSettings, sqlite_url

#: Each call's scope, as its route requires it.
SCOPES = {
    ("get", "/timesheets"): "read:timesheets",
    ("post", "/timesheets"): "create:timesheets",
    ("get", "/timesheets/{entry_id}"): "read:timesheets",
    ("delete", "/timesheets/{entry_id}"): "delete:timesheets",
    ("get", "/timesheets/{entry_id}/audit"): "approve:timesheets",
    ("get", "/approvals"): "approve:timesheets",
    ("put", "/approvals/{entry_id}"): "approve:timesheets",
    ("post", "/timesheets/upload"): "batch:upload",
}


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


def test_every_call_but_the_probes_asks_the_docs_for_the_bearer_token_and_names_its_scope(
    tmp_path: Path,
) -> None:
    settings = ApiSettings(
        issuer="https://id.example", audience="api", database_url=sqlite_url(tmp_path / "a.db")
    )
    app = create_app(settings)
    assert isinstance(app, CreateLane)
    schema = app.api.openapi()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    secured = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation, path
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            secured[(method, path)] = operation["summary"]
    assert set(secured) == set(SCOPES)
    for call, summary in secured.items():
        assert summary.endswith(f"(scope {SCOPES[call]})"), (call, summary)
