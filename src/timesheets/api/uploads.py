"""`POST /timesheets/upload`: entries, each created, already present, or rejected.

An item's external id stores it once per client and subject. An `Idempotency-Key`
stores the whole request's answer, as for a create (`timesheets.api.idempotency`), so
that the retry of an upload whose items carry no external id stores nothing again. The
key's lookup, the inserts and the stored answer are one writer job: two uploads under
one key are taken one after the other by the writer, and one that loses the race to
another instance's commit of the key is undone and run again, and replays that answer.

An external id repeated within a batch is taken as `timesheets.api.repeats` says: its
first valid occurrence is tried in batch order; once it is created, each repeat is
"exists" (with `differs`) from it; when the hour caps refuse it, the next repeat is
tried on its own merits after the batch's other items, and so on. An item the
validation rejects is never tried, so the next occurrence of its id is the first.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from timesheets.api import idempotency, repeats
from timesheets.api import repository as repo
from timesheets.api.context import ApiContext
from timesheets.api.entries import new_entry, submit
from timesheets.api.errors import ApiError, field_errors, invalid
from timesheets.api.idempotency import Reply
from timesheets.api.presenter import entry_json
from timesheets.api.schemas import UploadItem
from timesheets.bearer.claims import Principal
from timesheets.metrics import IMPORT_ROWS

#: Names the upload in its bodies' fingerprints, so that a key a create used is refused.
ENDPOINT = "POST /timesheets/upload\n"
OUTCOMES = ("created", "exists", "rejected")
Valid = list[tuple[int, repo.NewEntry]]  # (index, entry) of each valid item


async def upload(context: ApiContext, principal: Principal, data: Any, key: str | None) -> Reply:
    """Store one entry (`data` an object) or a batch (a list), once per Idempotency-Key.

    One entry is answered with itself, 201 when created and 200 when already present, or
    422 when rejected (never stored under the key); a batch with each item's result."""
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list):
        raise ApiError(400, "The body must be an entry, an array of entries, or JSON Lines")
    limit = context.settings.max_batch_items
    if len(items) > limit:
        raise ApiError(413, f"A batch holds at most {limit} entries")
    checked, valid = _validated(principal, items)
    body_print = idempotency.fingerprint(data, ENDPOINT) if key is not None else ""

    def job(connection: Connection) -> list[dict[str, Any]] | Reply:
        """The answer stored under the key; else each item's result, stored (with the
        answer, under a key)."""
        if key is not None:
            record = idempotency.stored(connection, principal.subject, key)
            if record is not None:
                return idempotency.replay(record, body_print)
        results = _stored(connection, context, principal, checked, valid)
        if key is not None and not (single and results[0]["status"] == "rejected"):
            reply = _answer(results, single)
            now = context.now()
            record = idempotency.remembered(principal.subject, key, body_print, reply, now)
            repo.store_idempotent_many(connection, [record])
        return results

    done = await submit(context, job) if valid or key is not None else checked
    if isinstance(done, Reply):
        return done
    for outcome, count in _counts(done).items():
        if count:
            IMPORT_ROWS.labels(outcome).inc(count)
    return _answer(done, single)


def _validated(principal: Principal, items: list[Any]) -> tuple[list[dict[str, Any]], Valid]:
    """Each item's result so far (the rejected ones' final), and the valid items' entries."""
    results: list[dict[str, Any]] = []
    valid: Valid = []
    for index, item in enumerate(items):
        external_id = item.get("external_id") if isinstance(item, dict) else None
        result: dict[str, Any] = {"index": index, "external_id": external_id}
        try:
            fields = UploadItem.model_validate(item)
            valid.append((index, new_entry(principal, fields, fields.external_id)))
        except ValidationError as error:
            result |= {"status": "rejected", "errors": field_errors(error)}
        except ApiError as error:
            result |= {"status": "rejected", "errors": error.errors or []}
        results.append(result)
    return results, valid


def _stored(
    connection: Connection,
    context: ApiContext,
    principal: Principal,
    checked: list[dict[str, Any]],
    valid: Valid,
) -> list[dict[str, Any]]:
    """Store the valid entries not present yet, an external id's repeats in the order
    the module describes; every item's result, a fresh list each time the job runs (it
    runs again after losing a race)."""
    results = [dict(result) for result in checked]
    now = context.now()
    entries = dict(valid)
    keyed = [entry.external_id for _, entry in valid if entry.external_id is not None]
    stored = repo.find_externals(connection, principal.client_id, principal.subject, keyed)
    created: dict[str, dict[str, Any]] = {}  # the rows this job stored, by external id

    def attempt(indexes: list[int]) -> None:
        batch = [entries[index] for index in indexes]
        outcomes = admission.admit(batch)
        for index, entry, outcome in zip(indexes, batch, outcomes, strict=True):
            if isinstance(outcome, repo.RuleViolation):
                errors = [{"field": outcome.field, "message": str(outcome)}]
                results[index] |= {"status": "rejected", "errors": errors}
                continue
            results[index] |= {"status": "created", "id": outcome["id"], "row": outcome}
            if entry.external_id is not None:
                created[entry.external_id] = outcome

    def answered(index: int, external_id: str) -> bool:
        row = created.get(external_id)
        if row is not None:
            results[index] |= _present(row, entries[index])
        return row is not None

    fresh: list[int] = []
    for index, entry in valid:
        row = None if entry.external_id is None else stored.get(entry.external_id)
        if row is not None:
            results[index] |= _present(row, entry)
        else:
            fresh.append(index)
    admission = repo.Admission(connection, [entries[i] for i in fresh], context.weekly_cap, now)
    repeats.in_rounds(fresh, lambda index: entries[index].external_id, attempt, answered)
    admission.store(connection)
    return results


#: An entry's stored columns and the names its answers give them.
COMPARED = (
    ("user_type", "user_type"),
    ("user_id", "user_id"),
    ("project", "project"),
    ("hundredths", "hours"),
    ("iso_year", "year"),
    ("iso_week", "week"),
    ("entry_date", "date"),
    ("description", "description"),
)


def _present(row: dict[str, Any], entry: repo.NewEntry) -> dict[str, Any]:
    """An item already stored under its external id: the stored entry stays as it is,
    and `differs` names the fields in which this item disagrees with it, so that an
    export corrected after its upload is noticed rather than taken as done."""
    differs = [name for column, name in COMPARED if row[column] != getattr(entry, column)]
    return {"status": "exists", "id": row["id"], "row": row, "differs": differs}


def _answer(results: list[dict[str, Any]], single: bool) -> Reply:
    """The upload's answer: one entry's own (422 when rejected), or each item's result."""
    if single:
        result = results[0]
        if result["status"] == "rejected":
            raise invalid(result["errors"])
        status = 201 if result["status"] == "created" else 200
        # The uploader's own entry (external ids are per uploader): its name is theirs.
        body = {**entry_json(result["row"], with_name=True), "upload_status": result["status"]}
        return Reply(status, body | ({"differs": result["differs"]} if "differs" in result else {}))
    items = [{k: v for k, v in result.items() if k != "row"} for result in results]
    return Reply(200, {**_counts(results), "items": items})


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    return {outcome: sum(r["status"] == outcome for r in results) for outcome in OUTCOMES}
