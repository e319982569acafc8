"""The Timesheets API's use cases: create, list, read, delete, decide (the upload's are
in `timesheets.api.uploads`)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from timesheets.api import repeats
from timesheets.api import repository as repo
from timesheets.api.context import ApiContext
from timesheets.api.domain.access import (
    AccessRefused,
    may_delete,
    may_read,
    owner_for_create,
    sees_everyone,
)
from timesheets.api.domain.names import owner_name, shows_names
from timesheets.api.errors import NOT_FOUND, UNAVAILABLE, ApiError, field_errors, invalid
from timesheets.api.idempotency import Reply, fingerprint, remembered, replay_or_refusal
from timesheets.api.presenter import audit_json, created_message, entry_json
from timesheets.api.schemas import Decision, EntryFields, TimesheetCreate
from timesheets.api.writer import DurabilityUnknown, OutcomeUnknown, StoreUnavailable
from timesheets.bearer.claims import Principal


def new_entry(principal: Principal, fields: EntryFields, external_id: str | None) -> repo.NewEntry:
    """The entry to store, owned per the access rules."""
    try:
        owner = owner_for_create(principal, fields.user_id)
    except AccessRefused as refused:
        raise invalid([{"field": refused.field, "message": str(refused)}]) from None
    year, week = fields.iso_week
    # A person's type comes from their token where the issuer says it; a machine names it.
    claimed = principal.claims.get("user_type")
    user_type = (
        claimed
        if not principal.is_machine and claimed in ("Employee", "Contractor")
        else fields.user_type or "Employee"
    )
    return repo.NewEntry(
        user_id=owner,
        user_type=user_type,
        project=fields.project,
        hundredths=fields.hundredths,
        iso_year=year,
        iso_week=week,
        entry_date=fields.date,
        description=fields.description,
        created_by_subject=principal.subject,
        created_by_client=principal.client_id,
        external_id=external_id,
        user_name=owner_name(principal, owner),
    )


DURABILITY_UNKNOWN = (
    "The change was saved but could not be made durable; look it up before sending it again"
)
OUTCOME_UNKNOWN = (
    "The store stopped answering while saving; the change may have been saved: "
    "look it up before sending it again"
)


async def _settled(write: Awaitable[Any]) -> Any:
    """The write's result, its refusals turned into API errors."""
    try:
        return await write
    except StoreUnavailable:
        raise UNAVAILABLE from None
    except DurabilityUnknown:
        raise ApiError(500, DURABILITY_UNKNOWN) from None
    except OutcomeUnknown:
        raise ApiError(500, OUTCOME_UNKNOWN) from None
    except repo.RuleViolation as violation:
        raise invalid([{"field": violation.field, "message": str(violation)}]) from None
    except repo.Conflict as conflict:
        raise ApiError(409, str(conflict)) from None
    except repo.Missing:
        raise NOT_FOUND from None


async def submit(context: ApiContext, job: Any) -> Any:
    """Run a writer job; its result once committed, the store's refusals as API errors."""
    return await _settled(context.writer.submit(job))


@dataclass(frozen=True)
class _Create:
    context: ApiContext
    subject: str
    entry: repo.NewEntry
    idempotency_key: str | None
    fingerprint: str  # of the body, only when an Idempotency-Key came with it


async def create(
    context: ApiContext, principal: Principal, data: Any, idempotency_key: str | None
) -> Reply:
    """`POST /timesheets`: store one entry, once per Idempotency-Key.

    Creates that arrive together are stored together (`_create_many`), in one
    transaction with one hour-cap query and one insert.
    """
    try:
        fields = TimesheetCreate.model_validate(data)
    except ValidationError as error:
        raise invalid(field_errors(error)) from None
    entry = new_entry(principal, fields, None)
    body_print = fingerprint(data) if idempotency_key is not None else ""
    item = _Create(context, principal.subject, entry, idempotency_key, body_print)
    reply: Reply = await _settled(
        context.writer.submit_shared(_create_many, item, direct=_create_many_at_once)
    )
    return reply


def _created(item: _Create, row: dict[str, Any]) -> Reply:
    entry = item.entry
    # A create's own name: the caller's, or none (a machine's create).
    body = {
        **entry_json(row, with_name=True),
        "message": created_message(entry.user_type, entry.user_id),
    }
    return Reply(201, body)


async def _create_many_at_once(raw: Any, items: list[_Create]) -> list[Any] | None:
    """The creates' one-statement form (PostgreSQL): their Replies when all of them
    fit the hour caps and none carries an Idempotency-Key, else None, storing nothing."""
    if any(item.idempotency_key is not None for item in items):
        return None
    context = items[0].context
    rows = await repo.insert_all_within_caps(
        raw, [item.entry for item in items], context.weekly_cap, context.now()
    )
    if rows is None:
        return None
    return [_created(item, row) for item, row in zip(items, rows, strict=True)]


def _create_many(connection: Connection, items: list[_Create]) -> list[Any]:
    """Store a batch of creates; for each, its Reply or the exception refusing it.

    Creates under one Idempotency-Key are taken in rounds (`timesheets.api.repeats`):
    once the first is created, the others replay its answer (422 for another body);
    when an hour cap refuses it, nothing is stored under the key, so the others with
    the same body get the same refusal and another body is tried on its own merits,
    after the batch's other creates, as if it had come just after them."""
    context = items[0].context
    now = context.now()
    outcomes: list[Any] = [None] * len(items)
    keyed = [(i.subject, i.idempotency_key) for i in items if i.idempotency_key is not None]
    stored = repo.find_idempotent_many(connection, keyed)
    records: dict[tuple[str, str], dict[str, Any]] = {}  # stored by this job
    refused: dict[tuple[str, str, str], repo.RuleViolation] = {}  # by key and fingerprint

    def key_of(n: int) -> tuple[str, str] | None:
        token = items[n].idempotency_key
        return None if token is None else (items[n].subject, token)

    def attempt(taken: list[int]) -> None:
        rows = admission.admit([items[n].entry for n in taken])
        for n, row in zip(taken, rows, strict=True):
            key = key_of(n)
            if isinstance(row, repo.RuleViolation):
                outcomes[n] = row
                if key is not None:
                    refused[(*key, items[n].fingerprint)] = row
                continue
            reply = outcomes[n] = _created(items[n], row)
            if key is not None:
                records[key] = remembered(*key, items[n].fingerprint, reply, now)

    def answered(n: int, key: tuple[str, str]) -> bool:
        record = records.get(key)
        if record is not None:
            outcomes[n] = replay_or_refusal(record, items[n].fingerprint)
        else:
            outcomes[n] = refused.get((*key, items[n].fingerprint))
        return outcomes[n] is not None

    fresh: list[int] = []
    for n in range(len(items)):
        key = key_of(n)
        if key is not None and key in stored:
            outcomes[n] = replay_or_refusal(stored[key], items[n].fingerprint)
        else:
            fresh.append(n)
    admission = repo.Admission(connection, [items[n].entry for n in fresh], context.weekly_cap, now)
    repeats.in_rounds(fresh, key_of, attempt, answered)
    admission.store(connection)
    repo.store_idempotent_many(connection, list(records.values()))
    return outcomes


async def _read(context: ApiContext, principal: Principal, entry_id: str) -> dict[str, Any]:
    if not repo.is_entry_id(entry_id):
        raise NOT_FOUND
    async with context.engine.connect() as connection:
        row = await connection.run_sync(repo.get_entry, entry_id)
    # Another person's entry is "not found", so ids leak nothing.
    if row is None or not may_read(principal, row["user_id"]):
        raise NOT_FOUND
    return row


async def get(context: ApiContext, principal: Principal, entry_id: str) -> dict[str, Any]:
    """`GET /timesheets/{id}`."""
    return entry_json(await _read(context, principal, entry_id), with_name=shows_names(principal))


async def list_(
    context: ApiContext, principal: Principal, where: repo.EntryFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """`GET /timesheets`: a person sees their own entries, a manager or machine everyone's."""
    if not sees_everyone(principal):
        if where.user_id not in (None, principal.subject):
            return [], 0
        where = repo.EntryFilter(**{**where.__dict__, "user_id": principal.subject})
    async with context.engine.connect() as connection:
        rows, total = await connection.run_sync(repo.list_entries, where, limit, offset)
    with_name = shows_names(principal)
    return [entry_json(row, with_name=with_name) for row in rows], total


async def delete(context: ApiContext, principal: Principal, entry_id: str) -> None:
    """`DELETE /timesheets/{id}`: people delete their own, machines their client's, never
    an approved entry."""
    row = await _read(context, principal, entry_id)
    stored_by = (row["created_by_subject"], row["created_by_client"])
    if not may_delete(principal, row["user_id"], stored_by):
        raise NOT_FOUND

    def job(connection: Connection) -> None:
        repo.delete_entry(
            connection, entry_id, principal.subject, principal.client_id, context.now()
        )

    await submit(context, job)


async def decide(
    context: ApiContext, principal: Principal, entry_id: str, data: Any
) -> dict[str, Any]:
    """`PUT /approvals/{id}`: approve (empty body) or reject with a reason."""
    try:
        decision = Decision.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise invalid(field_errors(error)) from None
    row = await _read(context, principal, entry_id)
    if row["user_id"] == principal.subject:
        raise ApiError(403, "You cannot decide on your own timesheet")

    def job(connection: Connection) -> dict[str, Any]:
        return repo.decide(
            connection,
            entry_id,
            decision.decision == "approve",
            decision.reason,
            principal.subject,
            principal.client_id,
            context.now(),
        )

    return entry_json(await submit(context, job), with_name=shows_names(principal))


async def trail(context: ApiContext, principal: Principal, entry_id: str) -> list[dict[str, Any]]:
    """`GET /timesheets/{id}/audit`: the entry's history, for managers."""
    if not repo.is_entry_id(entry_id):
        raise NOT_FOUND
    async with context.engine.connect() as connection:
        events = await connection.run_sync(repo.audit_trail, entry_id)
    if not events:
        raise NOT_FOUND
    return [audit_json(event) for event in events]
