"""Tables of the Timesheets API (its own database)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from timesheets.db import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
# The rows of ix_entries_undated_week, of the indexes keyed by date and of the external
# ids' (migrations 0004, 0006 and 0007 write the same predicates).
UNDATED = "entry_date IS NULL"
DATED = "entry_date IS NOT NULL"
EXTERNAL = "external_id IS NOT NULL"


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, date: Date()}


class Entry(Base):
    """A timesheet entry: hours of one person on one project in one ISO week (or day)."""

    __tablename__ = "entries"
    __table_args__ = (
        # External ids belong to whoever uploads: a machine client, or one person. Only
        # entries that have one are in it (NULLs never clash in a unique index anyway), so
        # the API's own creates do not write to it.
        Index(
            "uq_entries_external",
            "created_by_client",
            "created_by_subject",
            "external_id",
            unique=True,
            sqlite_where=text(EXTERNAL),
            postgresql_where=text(EXTERNAL),
        ),
        # Hours per person and week (the caps, a person's weeks), with status and hours in
        # the index; the caps' day sums also read each of those entries' dates from the
        # table. Per person and day: a person's date ranges.
        Index(
            "ix_entries_user_week_hours", "user_id", "iso_year", "iso_week", "status", "hundredths"
        ),
        # Read only with a condition on the date, which implies it is not NULL: partial,
        # so week-level entries never write to it.
        Index(
            "ix_entries_user_date_hours",
            "user_id",
            "entry_date",
            "status",
            "hundredths",
            sqlite_where=text(DATED),
            postgresql_where=text(DATED),
        ),
        # Lists come in creation order: each filter by equality has an index in that order.
        Index("ix_entries_created", "created_at", "id"),
        Index("ix_entries_user_created", "user_id", "created_at", "id"),
        Index("ix_entries_project_created", "project", "created_at", "id"),
        Index("ix_entries_status_created", "status", "created_at", "id"),
        # Date ranges, alone or with a status; week ranges for dated entries, which are
        # always in their date's week. PostgreSQL also counts by status through it (its
        # smallest index holding the status of every entry), so it holds every entry
        # there; SQLite counts by status in ix_entries_status_created, and here keeps
        # only dated entries (its count of every entry reads the primary key's index).
        Index("ix_entries_date_status", "entry_date", "status", sqlite_where=text(DATED)),
        # Week ranges for week-level entries, the only ones without a date. Partial, so
        # dated entries (the import job's, most of the table) never write to it. The
        # leading entry_date, always NULL here, matches the query's `entry_date IS NULL`,
        # so SQLite looks the weeks up here rather than every undated entry in
        # ix_entries_date_status.
        Index(
            "ix_entries_undated_week",
            "entry_date",
            "iso_year",
            "iso_week",
            sqlite_where=text(UNDATED),
            postgresql_where=text(UNDATED),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(100))
    user_type: Mapped[str] = mapped_column(String(20))
    project: Mapped[str] = mapped_column(String(200))
    hundredths: Mapped[int] = mapped_column(Integer)
    iso_year: Mapped[int] = mapped_column(Integer)
    iso_week: Mapped[int] = mapped_column(Integer)
    entry_date: Mapped[date | None]
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    created_by_subject: Mapped[str] = mapped_column(String(200))
    created_by_client: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The owner's name when they logged it themselves (`domain.names`); last, as the
    # column was added (migration 0008).
    user_name: Mapped[str | None] = mapped_column(String(200))


class AuditEvent(Base):
    """Who created, deleted, approved or rejected an entry, with which client, and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_entry", "entry_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdempotencyRecord(Base):
    """The stored response of a request made with an `Idempotency-Key`."""

    __tablename__ = "idempotency_keys"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
