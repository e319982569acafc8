"""SQL for entries, their audit trail and idempotency records (SQLAlchemy Core)."""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    TextClause,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from timesheets.api import pg_rows, sqlite_rows
from timesheets.api.domain.caps import DayKey, Hours, WeekKey, admit, room_for
from timesheets.api.domain.weeks import check_week, week_of
from timesheets.api.models import AuditEvent, Entry, IdempotencyRecord

entries: Table = Entry.__table__  # type: ignore[assignment]
audit: Table = AuditEvent.__table__  # type: ignore[assignment]
idempotency: Table = IdempotencyRecord.__table__  # type: ignore[assignment]


_ENTRY_ID = re.compile(r"[0-9a-f]{32}")


class RuleViolation(ValueError):
    """A write a domain rule refuses; answered as 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(ValueError):
    """A change the entry's state forbids (approved entries are immutable): 409."""


class Missing(LookupError):
    """The entry is gone, deleted by a request that committed first: 404."""


def _refusal(connection: Connection, entry_id: str, conflict: str) -> Exception:
    """Why a change to an entry matched no row: it is gone, or its state forbids it."""
    if get_entry(connection, entry_id) is None:
        return Missing(entry_id)
    return Conflict(conflict)


@dataclass(frozen=True)
class NewEntry:
    """A validated entry about to be stored. A dated entry's ISO week is its date's: the
    hour caps read a day's hours from its week (`_totals`)."""

    user_id: str
    user_type: str
    project: str
    hundredths: int
    iso_year: int
    iso_week: int
    entry_date: date | None
    description: str | None
    created_by_subject: str
    created_by_client: str
    external_id: str | None = None
    user_name: str | None = None

    def __post_init__(self) -> None:
        if self.entry_date is not None and week_of(self.entry_date) != (
            self.iso_year,
            self.iso_week,
        ):
            raise ValueError(
                f"{self.entry_date} is not in ISO week {self.iso_year}-W{self.iso_week}"
            )


def _new_row(entry: NewEntry, now: datetime) -> dict[str, Any]:
    return {
        **entry.__dict__,
        "id": new_id(),
        "status": "submitted",
        "rejection_reason": None,
        "decided_by": None,
        "decided_at": None,
        "created_at": now,
        "updated_at": now,
    }


def new_id() -> str:
    """A new entry id, 32 hex digits: the milliseconds since 1970 (48 bits), then 80
    random bits. Ids made later sort later, so each new id goes to the end of the
    primary-key index instead of a random page of it: a batch of entries dirties a few
    index pages rather than one per entry, which is what a commit writes and syncs."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def is_entry_id(text: str) -> bool:
    """Whether `text` has the form of an id `new_id` makes (so that anything else, a NUL
    included, which PostgreSQL cannot even compare, is looked up nowhere)."""
    return _ENTRY_ID.fullmatch(text) is not None


def _lock_people(connection: Connection, user_ids: list[str]) -> None:
    # On PostgreSQL, serialise the hour-cap checks of each person across processes; the
    # locks are taken in one order, so two batches cannot deadlock on them.
    if connection.dialect.name == "postgresql" and user_ids:
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(u) AS h "
                "FROM unnest(CAST(:users AS text[])) AS u ORDER BY h) AS locks"
            ),
            {"users": user_ids},
        )


def find_externals(
    connection: Connection, client_id: str, subject: str, external_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The entries a caller (client and subject) stored under these external ids."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(external_ids), 500):
        chunk = external_ids[start : start + 500]
        result = connection.execute(
            select(entries).where(
                entries.c.created_by_client == client_id,
                entries.c.created_by_subject == subject,
                entries.c.external_id.in_(chunk),
            )
        )
        found.update({row["external_id"]: dict(row) for row in result.mappings()})
    return found


@functools.lru_cache(maxsize=512)
def _keyed_sums(
    columns: tuple[tuple[str, str], ...], count: int, by: tuple[str, ...] = ()
) -> TextClause:
    """SQL summing live hours per key for `count` keys given as bound parameters, and
    within each key per value of the `by` columns.

    Cached: parsing a statement with hundreds of parameters costs more than running it.

    A join against a VALUES list lets both SQLite and PostgreSQL look each key up in
    the (user_id, ...) indexes, where a row-value IN list makes SQLite scan the index.
    CROSS JOIN makes SQLite loop over the keys outside (PostgreSQL plans it freely).
    """
    casts = {"integer": "CAST({} AS INTEGER)", "text": "CAST({} AS TEXT)"}
    rows = ", ".join(
        "(" + ", ".join(casts[kind].format(f":{name}{i}") for name, kind in columns) + ")"
        for i in range(count)
    )
    names = ", ".join(name for name, _ in columns)
    joins = " AND ".join(f"e.{name} = k.{name}" for name, _ in columns)
    grouped = ", ".join(f"e.{name}" for name in (*(n for n, _ in columns), *by))
    # Only fixed column names are formatted in; every value is a bound parameter.
    return text(
        f"WITH k({names}) AS (VALUES {rows}) "  # noqa: S608
        f"SELECT {grouped}, sum(e.hundredths) "
        f"FROM k CROSS JOIN entries e WHERE {joins} AND e.status <> 'rejected' "
        f"GROUP BY {grouped}"
    )


WEEK_KEY = (("user_id", "text"), ("iso_year", "integer"), ("iso_week", "integer"))


def _day_totals(
    connection: Connection, keys: list[tuple[str, int, int]]
) -> list[tuple[str, int, int, date | None, int]]:
    """Live hours per (person, ISO year, ISO week, day) in the weeks `keys` name, the day
    None for week-level entries: one statement per 300 weeks, through the person-week
    index, whatever the days."""
    totals: list[tuple[str, int, int, date | None, int]] = []
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        params = {
            f"{name}{i}": key[j]
            for i, key in enumerate(chunk)
            for j, (name, _) in enumerate(WEEK_KEY)
        }
        sql = _keyed_sums(WEEK_KEY, len(chunk), ("entry_date",))
        raw = sqlite_rows.driver_of(connection)
        if raw is not None:
            found: Sequence[Any] = sqlite_rows.query(raw, sql.text, params)
        elif connection.dialect.name == "postgresql":
            found = pg_rows.fetch(connection, sql, params)
        else:
            found = connection.execute(sql, params).all()
        for user_id, iso_year, iso_week, day, hundredths in found:
            if isinstance(day, str):
                day = date.fromisoformat(day)
            totals.append((user_id, int(iso_year), int(iso_week), day, int(hundredths)))
    return totals


def _totals(
    connection: Connection, batch: list[NewEntry]
) -> tuple[dict[WeekKey, int], dict[DayKey, int]]:
    """Hours already stored per (person, ISO week) and per (person, ISO week, day) for a
    batch.

    A day lies in its ISO week (`NewEntry` holds to it), so both come from one
    statement over the batch's weeks:
    one round trip fewer than a statement for each on PostgreSQL, and no lookup by date,
    whose plan depended on how many entries share the day.
    """
    _lock_people(connection, sorted({entry.user_id for entry in batch}))
    week_keys = sorted({(e.user_id, e.iso_year, e.iso_week) for e in batch})
    weeks: dict[WeekKey, int] = {}
    days: dict[DayKey, int] = {}
    for user_id, iso_year, iso_week, day, hundredths in _day_totals(connection, week_keys):
        week = (user_id, iso_year, iso_week)
        weeks[week] = weeks.get(week, 0) + hundredths
        if day is not None:
            days[(*week, day)] = days.get((*week, day), 0) + hundredths
    return weeks, days


def _hours(entry: NewEntry, weekly_cap: Callable[[str], int]) -> Hours:
    return Hours(
        entry.user_id,
        entry.iso_year,
        entry.iso_week,
        entry.entry_date,
        entry.hundredths,
        weekly_cap(entry.user_type),
    )


def insert_many(
    connection: Connection,
    batch: list[NewEntry],
    weekly_cap: Callable[[str], int],
    now: datetime,
) -> list[dict[str, Any] | RuleViolation]:
    """Store entries after the hour caps, in bulk; each result is the row or the refusal."""
    admission = Admission(connection, batch, weekly_cap, now)
    results = admission.admit(batch)
    admission.store(connection)
    return results


class Admission:
    """The hour caps of one write job, which may decide its entries in several rounds
    (`timesheets.api.repeats`): the hours stored for every entry it may try are read
    once (and, on PostgreSQL, their people locked), each round's admitted entries count
    against the caps of the next, and all admitted entries are stored together."""

    def __init__(
        self,
        connection: Connection,
        candidates: list[NewEntry],
        weekly_cap: Callable[[str], int],
        now: datetime,
    ) -> None:
        self.weeks, self.days = _totals(connection, candidates) if candidates else ({}, {})
        self.weekly_cap = weekly_cap
        self.now = now
        self.rows: list[dict[str, Any]] = []

    def admit(self, batch: list[NewEntry]) -> list[dict[str, Any] | RuleViolation]:
        """Each entry's row, to be stored, or why the caps refuse it, in order."""
        hours = [_hours(entry, self.weekly_cap) for entry in batch]
        results: list[dict[str, Any] | RuleViolation] = []
        for entry, refusal in zip(batch, admit(hours, self.weeks, self.days), strict=True):
            if refusal is not None:
                results.append(RuleViolation("hours", refusal))
                continue
            row = _new_row(entry, self.now)
            self.rows.append(row)
            results.append(row)
        return results

    def store(self, connection: Connection) -> None:
        """Insert the admitted entries and their "created" events."""
        rows, now = self.rows, self.now
        if not rows:
            return
        raw = sqlite_rows.driver_of(connection)
        if connection.dialect.name == "postgresql":
            pg_rows.insert_created(connection, entries, audit, rows)
        elif raw is not None:
            sqlite_rows.insert_rows(raw, entries, rows)
            sqlite_rows.insert_rows(raw, audit, [_created_event(row, now) for row in rows])
        else:
            connection.execute(insert(entries), rows)
            connection.execute(insert(audit), [_created_event(row, now) for row in rows])


async def insert_all_within_caps(
    raw: Any, batch: list[NewEntry], weekly_cap: Callable[[str], int], now: datetime
) -> list[dict[str, Any]] | None:
    """On PostgreSQL through asyncpg, outside a transaction: store the whole batch in one
    statement when every entry fits the hour caps, and return its rows; None, having
    stored nothing, when one does not fit (or another driver is in use), for
    `insert_many` to decide entry by entry."""
    if not isinstance(raw, asyncpg.Connection):
        return None
    room = room_for(_hours(entry, weekly_cap) for entry in batch)
    if room is None:
        return None
    rows = [_new_row(entry, now) for entry in batch]
    return rows if await pg_rows.insert_within_caps(raw, rows, room) else None


def _created_event(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "entry_id": row["id"],
        "action": "created",
        "subject": row["created_by_subject"],
        "client_id": row["created_by_client"],
        "at": now,
        "detail": {},
    }


def record(
    connection: Connection,
    entry_id: str,
    action: str,
    subject: str,
    client_id: str,
    now: datetime,
    detail: dict[str, Any],
) -> None:
    """Append an audit event."""
    connection.execute(
        insert(audit),
        {
            "entry_id": entry_id,
            "action": action,
            "subject": subject,
            "client_id": client_id,
            "at": now,
            "detail": detail,
        },
    )


def get_entry(connection: Connection, entry_id: str) -> dict[str, Any] | None:
    """One entry by id."""
    row = (connection.execute(select(entries).where(entries.c.id == entry_id))).mappings().first()
    return dict(row) if row else None


@dataclass(frozen=True)
class EntryFilter:
    """List filters; None means no filter. Week bounds are ISO (year, week), inclusive."""

    user_id: str | None = None
    project: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    week_from: tuple[int, int] | None = None
    week_to: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name, week in (("week_from", self.week_from), ("week_to", self.week_to)):
            if week is not None:
                try:
                    check_week(*week)
                except ValueError as error:
                    raise ValueError(f"{name}: {error}") from None

    @property
    def has_range(self) -> bool:
        """Whether dates or weeks bound the list."""
        bounds = (self.date_from, self.date_to, self.week_from, self.week_to)
        return any(bound is not None for bound in bounds)


def _date_bounds(where: EntryFilter) -> tuple[date | None, date | None]:
    """The first and last day the date and week bounds allow a dated entry."""
    lows = [where.date_from] if where.date_from is not None else []
    highs = [where.date_to] if where.date_to is not None else []
    if where.week_from is not None:
        lows.append(date.fromisocalendar(*where.week_from, 1))
    if where.week_to is not None:
        highs.append(_last_day(where.week_to))
    return max(lows, default=None), min(highs, default=None)


def _last_day(week: tuple[int, int]) -> date:
    """The Sunday of an ISO week; the last day there is for 9999-W52, whose Sunday is in
    the year 10000."""
    try:
        return date.fromisocalendar(*week, 7)
    except ValueError:
        return date.max


def _range(where: EntryFilter) -> ColumnElement[bool] | None:
    """The date and week bounds as conditions that indexes can look up.

    A dated entry's ISO week is always its date's, so its week is in a week range
    exactly when its date is from the first week's Monday to the last week's Sunday.
    With a date bound, only dated entries match: the bounds become one date range. A
    person's weeks are looked up as rows of (user_id, iso_year, iso_week) in
    ix_entries_user_week_hours, dated entries or not. Without a person, dated entries
    are found by date (ix_entries_date_status) and week-level ones, the only ones
    without a date, by week (ix_entries_undated_week, which holds only them).
    """
    if not where.has_range:
        return None
    day = entries.c.entry_date
    first, last = _date_bounds(where)
    dated = and_(
        *([day >= first] if first is not None else []),
        *([day <= last] if last is not None else []),
    )
    if where.date_from is not None or where.date_to is not None:
        return dated
    week = tuple_(entries.c.iso_year, entries.c.iso_week)
    weeks: list[ColumnElement[bool]] = []
    if where.week_from is not None:
        weeks.append(week >= tuple_(*where.week_from))
    if where.week_to is not None:
        weeks.append(week <= tuple_(*where.week_to))
    if where.user_id is not None:
        return and_(*weeks)
    return or_(dated, and_(day.is_(None), *weeks))


def _filtered(query: Select[Any], where: EntryFilter) -> Select[Any]:
    if where.user_id is not None:
        query = query.where(entries.c.user_id == where.user_id)
    if where.project is not None:
        query = query.where(entries.c.project == where.project)
    if where.status is not None:
        query = query.where(entries.c.status == where.status)
    bounds = _range(where)
    if bounds is not None:
        query = query.where(bounds)
    return query


# At most this many matches are fenced and sorted for one page (about 30 ms on
# PostgreSQL); more are paged in list order. See `_page`.
FENCED_MATCHES_MAX = 100_000


def _page(where: EntryFilter, limit: int, offset: int, *, fenced: bool) -> Select[Any]:
    order = (entries.c.created_at, entries.c.id)
    if not fenced:
        # The filter's own index (person, status, project, dates, weeks) is read, or
        # ix_entries_created walked in list order and stopped at the page.
        return _filtered(select(entries), where).order_by(*order).limit(limit).offset(offset)
    # Dates or weeks on PostgreSQL, with at most FENCED_MATCHES_MAX matches: planned as
    # one query, it may walk the list order (ix_entries_created, or a person's
    # ix_entries_user_created) and test the bounds on each entry, counting on matches
    # spread evenly over creation time. Entries are created near their dates, so a
    # recent month walks nearly the whole table, or all of a person's entries. So the
    # matches are found first, behind a fence the planner cannot see through
    # (MATERIALIZED), sorted, and only the page's entries are read back by id: the page
    # costs one read of the matches. A range holding more matches than that is most of
    # the table or a long stretch of it, and the walk in list order reaches its page
    # sooner than reading and sorting all of them would (a range from the first day:
    # 0.4 ms walked, 160 ms fenced, on 500,000 entries). SQLite already looks the bounds
    # up in their index and sorts the matches; the fence would only add a second sort
    # and a join.
    matching = (
        _filtered(select(entries.c.id, entries.c.created_at), where)
        .cte("matching")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    chosen = (
        select(matching.c.id)
        .order_by(matching.c.created_at, matching.c.id)
        .limit(limit)
        .offset(offset)
        .subquery("chosen")
    )
    return select(entries).join(chosen, chosen.c.id == entries.c.id).order_by(*order)


def list_entries(
    connection: Connection, where: EntryFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of entries in a stable order (creation time, then id) and the total.

    The total comes first: it decides how the page is read, and no page is read past it.
    """
    total = int(connection.scalar(_filtered(select(func.count()).select_from(entries), where)) or 0)
    if offset >= total:
        return [], total
    fenced = (
        connection.dialect.name == "postgresql" and where.has_range and total <= FENCED_MATCHES_MAX
    )
    rows = (connection.execute(_page(where, limit, offset, fenced=fenced))).mappings().all()
    return [dict(row) for row in rows], total


def delete_entry(
    connection: Connection, entry_id: str, subject: str, client_id: str, now: datetime
) -> None:
    """Delete an entry that is not approved, recording who did it."""
    result = connection.execute(
        delete(entries).where(entries.c.id == entry_id, entries.c.status != "approved")
    )
    if result.rowcount == 0:
        raise _refusal(connection, entry_id, "an approved entry cannot be deleted")
    record(connection, entry_id, "deleted", subject, client_id, now, {})


def decide(
    connection: Connection,
    entry_id: str,
    approve: bool,
    reason: str | None,
    subject: str,
    client_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Approve or reject a submitted entry, recording who and when."""
    status = "approved" if approve else "rejected"
    result = connection.execute(
        update(entries)
        .where(entries.c.id == entry_id, entries.c.status == "submitted")
        .values(
            status=status,
            rejection_reason=None if approve else reason,
            decided_by=subject,
            decided_at=now,
            updated_at=now,
        )
    )
    if result.rowcount == 0:
        raise _refusal(connection, entry_id, "only a submitted entry can be approved or rejected")
    record(
        connection, entry_id, status, subject, client_id, now, {"reason": reason} if reason else {}
    )
    row = get_entry(connection, entry_id)
    assert row is not None
    return row


def audit_trail(connection: Connection, entry_id: str) -> list[dict[str, Any]]:
    """The audit events of an entry, oldest first."""
    rows = connection.execute(
        select(audit).where(audit.c.entry_id == entry_id).order_by(audit.c.id)
    )
    return [dict(row) for row in rows.mappings().all()]


def find_idempotent_many(
    connection: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored responses by (subject, Idempotency-Key)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 300):
        chunk = unique[start : start + 300]
        result = connection.execute(
            select(idempotency).where(tuple_(idempotency.c.subject, idempotency.c.key).in_(chunk))
        )
        found.update({(row["subject"], row["key"]): dict(row) for row in result.mappings()})
    return found


def idempotent_row(
    subject: str, key: str, fingerprint: str, status_code: int, body: str, now: datetime
) -> dict[str, Any]:
    """The record of a response to (subject, Idempotency-Key)."""
    return {
        "subject": subject,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": status_code,
        "body": body,
        "created_at": now,
    }


def store_idempotent_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Remember responses (rows made by `idempotent_row`)."""
    if rows:
        connection.execute(insert(idempotency), rows)
