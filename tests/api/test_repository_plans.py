"""PostgreSQL reads every list filter and lookup of the API through an index.

A fresh database gets the API's schema from its migrations, then 1,000,000 entries made
on the server by one INSERT ... SELECT over generate_series: 150 people, 40 projects of
uneven size, three years of dates in creation order (one entry in five for a whole
week), nine in ten approved, the last weeks still submitted, a quarter uploaded by the
import job with external ids. An audit event per entry and 200,000 idempotency records
come next, then VACUUM (ANALYZE), as autovacuum leaves a table that has lived a while.

Each case runs the repository's own function on that database, takes the statements it
sent with their parameters, and asks `EXPLAIN (FORMAT JSON)` how the chosen one runs:
with no sequential scan, through one of the indexes the case names, and with one of the
filtered columns among that index's conditions (an index merely walked in list order,
testing the filter on each row, does not count). A week range reads two indexes, one for
dated entries and one for week-level ones, and its cases name both. A change to the
repository's SQL is planned afresh here, so a filter that loses its index fails.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import pytest_asyncio
from sqlalchemy import TextClause, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.pg import PostgresServer
from timesheets import db
from timesheets.api import pg_rows
from timesheets.api import repository as repo
from timesheets.api.app import MIGRATIONS
from timesheets.api.domain.caps import room_for

# Making the data takes most of the module's half a minute; the guard is for slow machines.
pytestmark = pytest.mark.timeout(300)

ENTRIES = 1_000_000
PEOPLE = 150
PROJECTS = 40

# Entry g is dated 2023-01-02 + g * 1095 / 1,000,000 days and created that evening, so
# creation order follows the dates as it does in use. Projects are drawn as 40 * p**2 for
# a uniform p: project-00 holds about 16 % of the entries, project-39 about 1 %. Ids are g
# in hex, in creation order (the API's are random; they are only looked up by equality,
# which their order does not change, and ordered ones fill the table twice as fast).
FILL_ENTRIES = """
INSERT INTO entries (
    id, user_id, user_type, project, hundredths, iso_year, iso_week, entry_date,
    description, status, rejection_reason, decided_by, decided_at,
    created_by_subject, created_by_client, external_id, created_at, updated_at
)
SELECT
    lpad(to_hex(g), 32, '0'),
    person,
    CASE WHEN n % 5 = 0 THEN 'Contractor' ELSE 'Employee' END,
    'project-' || lpad(floor(40 * p * p)::int::text, 2, '0'),
    100 + g % 8 * 50,
    extract(isoyear FROM day)::int,
    extract(week FROM day)::int,
    CASE WHEN g % 5 <> 0 THEN day END,
    CASE WHEN g % 3 = 0 THEN 'work' END,
    status,
    CASE WHEN status = 'rejected' THEN 'more than the plan' END,
    CASE WHEN status <> 'submitted' THEN 'manager-001' END,
    CASE WHEN status <> 'submitted' THEN created + interval '3 days' END,
    CASE WHEN g % 4 = 0 THEN 'svc-import' ELSE person END,
    CASE WHEN g % 4 = 0 THEN 'import-job' ELSE 'web-app' END,
    CASE WHEN g % 4 = 0 THEN 'ext-' || g END,
    created,
    created
FROM (
    SELECT
        g, n, p, day,
        'user-' || lpad(n::text, 3, '0') AS person,
        CAST(day AS timestamp) AT TIME ZONE 'UTC' + interval '17 hours'
            + g % 3600 * interval '1 second' AS created,
        CASE
            WHEN g > 975000 THEN 'submitted'
            WHEN q < 0.04 THEN 'rejected'
            WHEN q < 0.05 THEN 'submitted'
            ELSE 'approved'
        END AS status
    FROM (
        SELECT g, floor(random() * 150)::int AS n, random() AS p, random() AS q,
               date '2023-01-02' + g * 1095 / 1000000 AS day
        FROM generate_series(1, 1000000) AS g
    ) AS drawn
) AS entry
"""

FILL_AUDIT = """
INSERT INTO audit_events (entry_id, action, subject, client_id, at, detail)
SELECT id, 'created', created_by_subject, created_by_client, created_at, '{}'
FROM entries
"""

FILL_IDEMPOTENCY = """
INSERT INTO idempotency_keys (subject, key, fingerprint, status_code, body, created_at)
SELECT 'user-' || lpad((g % 150)::text, 3, '0'), md5('key-' || g), md5(g::text) || md5(g::text),
       201, '{}', now()
FROM generate_series(1, 200000) AS g
"""

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PERSON = "user-042"
PROJECT = "project-17"
# Entries after number 975,000 are all still submitted, so this one can be decided.
SUBMITTED = f"{999_999:032x}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def big(pg_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """The API's migrated schema on PostgreSQL with a million entries, analysed."""
    url = pg_server.new_database()
    engine = db.create_engine(url)
    try:
        await db.upgrade(engine, MIGRATIONS)
        async with engine.begin() as connection:
            await connection.exec_driver_sql("SELECT setseed(0.42)")
            await connection.exec_driver_sql(FILL_ENTRIES)
            await connection.exec_driver_sql(FILL_AUDIT)
            await connection.exec_driver_sql(FILL_IDEMPOTENCY)
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(
                "VACUUM (ANALYZE) entries, audit_events, idempotency_keys"
            )
        yield engine
    finally:
        await engine.dispose()
        pg_server.psql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"')


@dataclass(frozen=True)
class Sent:
    """A statement as the driver received it, with its parameters."""

    sql: str
    parameters: Any


async def sent_by(engine: AsyncEngine, operation: Callable[[Connection], object]) -> list[Sent]:
    """What the operation sends, its inserts left out; its writes are rolled back. The
    statements the writer sends to the driver past SQLAlchemy (`pg_rows.fetch`) are
    taken in where they are sent."""
    sent: list[Sent] = []

    def capture(*args: Any) -> None:
        _connection, _cursor, statement, parameters = args[:4]
        sent.append(Sent(statement, parameters))

    to_driver = pg_rows.fetch

    def fetch(connection: Connection, statement: TextClause, params: Any) -> Any:
        sql, names = pg_rows._positional(statement)
        sent.append(Sent(sql, tuple(params[name] for name in names)))
        return to_driver(connection, statement, params)

    async with engine.connect() as connection:
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            with mock.patch.object(pg_rows, "fetch", fetch):
                await connection.run_sync(operation)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
            await connection.rollback()
    return [s for s in sent if "INSERT INTO" not in s.sql.upper()]


async def explain(engine: AsyncEngine, statement: Sent) -> dict[str, Any]:
    """The plan PostgreSQL makes for the statement with its parameters."""
    async with engine.connect() as connection:
        return await explain_on(connection, statement)


async def explain_on(connection: AsyncConnection, statement: Sent) -> dict[str, Any]:
    """The plan for the statement on this connection, in its transaction as it stands."""
    result = await connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {statement.sql}", statement.parameters
    )
    raw = result.scalar_one()
    plans = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = plans[0]["Plan"]
    return plan


INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The plan's nodes, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def seq_scans(plan: dict[str, Any]) -> list[str]:
    """The tables the plan reads whole."""
    return [node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"]


def index_conditions(plan: dict[str, Any]) -> dict[str, list[str]]:
    """Each index the plan reads, with the condition it looks up in it (empty: walked)."""
    found: dict[str, list[str]] = {}
    for node in nodes(plan):
        if node["Node Type"] in INDEX_NODES:
            found.setdefault(node["Index Name"], []).append(node.get("Index Cond", ""))
    return found


def outline(plan: dict[str, Any], depth: int = 0) -> str:
    """The plan as indented lines, for failure messages."""
    details = ", ".join(
        f"{key}: {plan[key]}"
        for key in ("Relation Name", "Index Name", "Index Cond", "Filter")
        if key in plan
    )
    lines = [f"{'  ' * depth}{plan['Node Type']} ({details})"]
    lines += [outline(child, depth + 1) for child in plan.get("Plans", [])]
    return "\n".join(lines)


def check_plan(plan: dict[str, Any], indexes: frozenset[str], looked_up: tuple[str, ...]) -> None:
    """Fail unless the plan reads no table whole and reads one of `indexes` (any index if
    empty), looking up at least one of the `looked_up` columns in it (if any are named)."""
    scans = seq_scans(plan)
    assert not scans, f"sequential scan of {', '.join(scans)}:\n{outline(plan)}"
    used = index_conditions(plan)
    chosen = {name: conds for name, conds in used.items() if not indexes or name in indexes}
    assert chosen, f"none of {sorted(indexes)} is read:\n{outline(plan)}"
    if looked_up:
        pattern = re.compile(r"\b(" + "|".join(looked_up) + r")\b")
        assert any(pattern.search(cond) for conds in chosen.values() for cond in conds), (
            f"{sorted(chosen)} looks up none of {', '.join(looked_up)}:\n{outline(plan)}"
        )


# One of these indexes is read, looking up one of these columns (see `check_plan`).
Read = tuple[frozenset[str], tuple[str, ...]]


@dataclass(frozen=True)
class Case:
    """A repository operation, the statements it sends, and how the one checked must read.

    `reads` names every statement the operation sends (inserts aside) in order, so a new
    statement fails the case until it is named (and given a case); `statement` is the
    one planned here. It reads one of `indexes`, looking up one of `looked_up`, and
    each of `also_read` as well.
    """

    operation: Callable[[Connection], object]
    reads: tuple[str, ...]
    statement: str
    indexes: frozenset[str]
    looked_up: tuple[str, ...] = ()
    also_read: tuple[Read, ...] = ()


# The list sends the count first (it decides how the page is read), then the page;
# EXPECTED names the page's reads first.
LIST_READS = ("count", "page")

# The list answers a page in creation order and the total for X-Total-Count.
LISTS: dict[str, tuple[repo.EntryFilter, int, int]] = {
    # A manager's or machine's unfiltered list, first and 201st page.
    "everyone": (repo.EntryFilter(), 50, 0),
    "everyone-offset-10000": (repo.EntryFilter(), 50, 10_000),
    # Everything a person lists is theirs: the API adds their user_id.
    "person": (repo.EntryFilter(user_id=PERSON), 50, 0),
    "person-offset-5000": (repo.EntryFilter(user_id=PERSON), 50, 5_000),
    "person-week": (
        repo.EntryFilter(user_id=PERSON, week_from=(2025, 10), week_to=(2025, 10)),
        200,
        0,
    ),
    "person-weeks": (
        repo.EntryFilter(user_id=PERSON, week_from=(2025, 40), week_to=(2025, 48)),
        50,
        0,
    ),
    "person-dates": (
        repo.EntryFilter(user_id=PERSON, date_from=date(2025, 3, 1), date_to=date(2025, 3, 31)),
        50,
        0,
    ),
    "person-status": (repo.EntryFilter(user_id=PERSON, status="rejected"), 50, 0),
    "person-project": (repo.EntryFilter(user_id=PERSON, project=PROJECT), 50, 0),
    "person-status-dates": (
        repo.EntryFilter(
            user_id=PERSON, status="approved", date_from=date(2025, 1, 1), date_to=None
        ),
        50,
        0,
    ),
    # The approvals queue and a manager's history filters.
    "submitted": (repo.EntryFilter(status="submitted"), 50, 0),
    "submitted-offset-1000": (repo.EntryFilter(status="submitted"), 50, 1_000),
    "rejected": (repo.EntryFilter(status="rejected"), 50, 0),
    "approved": (repo.EntryFilter(status="approved"), 50, 0),
    "project": (repo.EntryFilter(project=PROJECT), 50, 0),
    "largest-project": (repo.EntryFilter(project="project-00"), 50, 0),
    "smallest-project": (repo.EntryFilter(project="project-39"), 50, 0),
    "dates": (repo.EntryFilter(date_from=date(2025, 11, 1), date_to=date(2025, 11, 30)), 50, 0),
    "dates-from": (repo.EntryFilter(date_from=date(2025, 11, 1)), 50, 0),
    # From the first day: every entry with a date matches, more than are fenced.
    "dates-from-the-start": (repo.EntryFilter(date_from=date(2023, 1, 2)), 50, 0),
    "week": (repo.EntryFilter(week_from=(2025, 45), week_to=(2025, 45)), 200, 0),
    "weeks": (repo.EntryFilter(week_from=(2025, 40), week_to=(2025, 48)), 50, 0),
    "status-project": (repo.EntryFilter(status="submitted", project=PROJECT), 50, 0),
    "status-dates": (
        repo.EntryFilter(status="rejected", date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)),
        50,
        0,
    ),
    "approved-dates": (
        repo.EntryFilter(status="approved", date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)),
        50,
        0,
    ),
    "project-dates": (
        repo.EntryFilter(project=PROJECT, date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)),
        50,
        0,
    ),
}

PERSON_INDEXES = frozenset(
    {"ix_entries_user_created", "ix_entries_user_week_hours", "ix_entries_user_date_hours"}
)
STATUS_INDEXES = frozenset({"ix_entries_status_created", "ix_entries_date_status"})
BY_DATE: Read = (frozenset({"ix_entries_date_status"}), ("entry_date",))
BY_PROJECT: Read = (frozenset({"ix_entries_project_created"}), ("project",))
# (index names, columns of which one is looked up) for each list's page and count.
EXPECTED: dict[str, tuple[Read, Read]] = {
    # Walked in list order and stopped at the page; counted from the smallest index.
    "everyone": ((frozenset({"ix_entries_created"}), ()), (frozenset(), ())),
    "everyone-offset-10000": ((frozenset({"ix_entries_created"}), ()), (frozenset(), ())),
    "person": (
        (frozenset({"ix_entries_user_created"}), ("user_id",)),
        (PERSON_INDEXES, ("user_id",)),
    ),
    # Deep in a person's list, sorting all their entries can beat walking them in order.
    "person-offset-5000": (
        (PERSON_INDEXES, ("user_id",)),
        (PERSON_INDEXES, ("user_id",)),
    ),
    # A person's weeks are looked up together, dated entries and week-level ones.
    "person-week": (
        (frozenset({"ix_entries_user_week_hours"}), ("iso_year", "iso_week")),
        (frozenset({"ix_entries_user_week_hours"}), ("iso_year", "iso_week")),
    ),
    "person-weeks": (
        (frozenset({"ix_entries_user_week_hours"}), ("iso_year", "iso_week")),
        (frozenset({"ix_entries_user_week_hours"}), ("iso_year", "iso_week")),
    ),
    "person-dates": (
        (frozenset({"ix_entries_user_date_hours"}), ("entry_date",)),
        (frozenset({"ix_entries_user_date_hours"}), ("entry_date",)),
    ),
    "person-status": (
        (PERSON_INDEXES | STATUS_INDEXES, ("user_id",)),
        (PERSON_INDEXES | STATUS_INDEXES, ("user_id",)),
    ),
    "person-project": (
        (PERSON_INDEXES | {"ix_entries_project_created"}, ("user_id",)),
        (PERSON_INDEXES | {"ix_entries_project_created"}, ("user_id",)),
    ),
    "person-status-dates": (
        (frozenset({"ix_entries_user_date_hours"}), ("entry_date",)),
        (frozenset({"ix_entries_user_date_hours"}), ("entry_date",)),
    ),
    "submitted": (
        (frozenset({"ix_entries_status_created"}), ("status",)),
        (STATUS_INDEXES, ("status",)),
    ),
    "submitted-offset-1000": (
        (frozenset({"ix_entries_status_created"}), ("status",)),
        (STATUS_INDEXES, ("status",)),
    ),
    "rejected": (
        (frozenset({"ix_entries_status_created"}), ("status",)),
        (STATUS_INDEXES, ("status",)),
    ),
    # Nine entries in ten match: walking the list order is the cheap way to a page.
    "approved": (
        (frozenset({"ix_entries_created", "ix_entries_status_created"}), ()),
        (STATUS_INDEXES, ("status",)),
    ),
    "project": (BY_PROJECT, BY_PROJECT),
    # One entry in six: walking the list order reaches a page as soon as the index does.
    "largest-project": (
        (frozenset({"ix_entries_project_created", "ix_entries_created"}), ()),
        BY_PROJECT,
    ),
    "smallest-project": (BY_PROJECT, BY_PROJECT),
    # The matches of a date or week range are found first, then sorted: walking the list
    # order would test nearly every entry for a recent range.
    "dates": (BY_DATE, BY_DATE),
    "dates-from": (BY_DATE, BY_DATE),
    # Four entries in five match, too many to sort for a page: walked in list order,
    # which reaches the page at once.
    "dates-from-the-start": (
        (frozenset({"ix_entries_created"}), ()),
        BY_DATE,
    ),
    # Dated entries by date here, week-level ones by week in ALSO_READ.
    "week": (BY_DATE, BY_DATE),
    "weeks": (BY_DATE, BY_DATE),
    "status-project": (
        (STATUS_INDEXES | {"ix_entries_project_created"}, ("status", "project")),
        (STATUS_INDEXES | {"ix_entries_project_created"}, ("status", "project")),
    ),
    "status-dates": (
        (STATUS_INDEXES, ("status", "entry_date")),
        (STATUS_INDEXES, ("status", "entry_date")),
    ),
    "approved-dates": (BY_DATE, BY_DATE),
    "project-dates": (
        (frozenset({"ix_entries_project_created", "ix_entries_date_status"}), ("project",)),
        (frozenset({"ix_entries_project_created", "ix_entries_date_status"}), ("project",)),
    ),
}

UNDATED_WEEKS: Read = (frozenset({"ix_entries_undated_week"}), ("iso_year", "iso_week"))
# Lists whose page and count must also read these indexes: a week range without a person
# finds week-level entries (those without a date) by their week here.
ALSO_READ: dict[str, tuple[Read, ...]] = {"week": (UNDATED_WEEKS,), "weeks": (UNDATED_WEEKS,)}


def listing(where: repo.EntryFilter, limit: int, offset: int) -> Callable[[Connection], object]:
    """`GET /timesheets` with these filters, as the API calls the repository."""
    return lambda connection: repo.list_entries(connection, where, limit, offset)


def list_cases() -> list[Any]:
    cases = []
    for name, (where, limit, offset) in LISTS.items():
        also = ALSO_READ.get(name, ())
        for statement, (indexes, looked_up) in zip(("page", "count"), EXPECTED[name], strict=True):
            operation = listing(where, limit, offset)
            case = Case(operation, LIST_READS, statement, indexes, looked_up, also)
            cases.append(pytest.param(case, id=f"{statement}-{name}"))
    return cases


def batch(size: int) -> list[repo.NewEntry]:
    """Entries to create: one from the web app, or an import job's chunk."""
    entries = []
    for i in range(size):
        day = date(2025, 6, 2) + timedelta(days=i % 28)
        year, week, _ = day.isocalendar()
        entries.append(
            repo.NewEntry(
                user_id=f"user-{i * 7 % PEOPLE:03d}",
                user_type="Employee",
                project=PROJECT,
                hundredths=100,
                iso_year=year,
                iso_week=week,
                entry_date=day,
                description=None,
                created_by_subject="svc-import",
                created_by_client="import-job",
                external_id=f"new-{i}",
            )
        )
    return entries


def create(size: int) -> Callable[[Connection], object]:
    return lambda connection: repo.insert_many(connection, batch(size), lambda _type: 4000, NOW)


def stored_keys(numbers: range) -> list[tuple[str, str]]:
    """(subject, Idempotency-Key) of records the fill made."""
    return [
        (f"user-{n % PEOPLE:03d}", hashlib.md5(f"key-{n}".encode()).hexdigest())  # noqa: S324
        for n in numbers
    ]


def externals(connection: Connection) -> object:
    """An import chunk's lookup of the external ids it already stored."""
    ids = [f"ext-{4 * n}" for n in range(1, 501)]
    return repo.find_externals(connection, "import-job", "svc-import", ids)


CREATE_READS = ("person locks", "sums")
OperationRead = tuple[Callable[[Connection], object], tuple[str, ...], str, str, str]
# (operation, the statements it sends, the one checked, its index, a column looked up)
SUMS = {"sums": ("ix_entries_user_week_hours", "iso_week")}
LOOKUPS: dict[str, OperationRead] = {
    f"{statement.replace(' ', '-')}-of-{of}": (create(size), CREATE_READS, statement, index, column)
    for size, of in ((1, "one-create"), (300, "an-import-chunk"))
    for statement, (index, column) in SUMS.items()
}
LOOKUPS |= {
    "external-ids-of-an-import-chunk": (
        externals,
        ("entries",),
        "entries",
        "uq_entries_external",
        "external_id",
    ),
    "idempotency-key-of-one-create": (
        lambda connection: repo.find_idempotent_many(connection, stored_keys(range(1, 2))),
        ("records",),
        "records",
        "pk_idempotency_keys",
        "key",
    ),
    "idempotency-keys-of-a-batch": (
        lambda connection: repo.find_idempotent_many(connection, stored_keys(range(1, 301))),
        ("records",),
        "records",
        "pk_idempotency_keys",
        "key",
    ),
    "audit-trail": (
        lambda connection: repo.audit_trail(connection, SUBMITTED),
        ("events",),
        "events",
        "ix_audit_entry",
        "entry_id",
    ),
    "entry-by-id": (
        lambda connection: repo.get_entry(connection, SUBMITTED),
        ("entry",),
        "entry",
        "pk_entries",
        "id",
    ),
    "delete-by-id": (
        lambda connection: repo.delete_entry(connection, SUBMITTED, "s", "c", NOW),
        ("delete",),
        "delete",
        "pk_entries",
        "id",
    ),
    "decide-by-id": (
        lambda connection: repo.decide(connection, SUBMITTED, True, None, "s", "c", NOW),
        ("decide", "entry"),
        "decide",
        "pk_entries",
        "id",
    ),
}
LOOKUP_CASES = [
    pytest.param(Case(operation, reads, statement, frozenset({index}), (column,)), id=name)
    for name, (operation, reads, statement, index, column) in LOOKUPS.items()
]


async def check_case(engine: AsyncEngine, case: Case) -> None:
    sent = await sent_by(engine, case.operation)
    assert len(sent) == len(case.reads), (
        f"the operation now sends {len(sent)} statements, named here {case.reads}:\n"
        + "\n".join(s.sql for s in sent)
    )
    plan = await explain(engine, sent[case.reads.index(case.statement)])
    for indexes, looked_up in ((case.indexes, case.looked_up), *case.also_read):
        check_plan(plan, indexes, looked_up)


@pytest.mark.parametrize("case", list_cases())
async def test_list_reads_through_an_index(big: AsyncEngine, case: Case) -> None:
    await check_case(big, case)


@pytest.mark.parametrize("case", LOOKUP_CASES)
async def test_lookup_reads_through_an_index(big: AsyncEngine, case: Case) -> None:
    await check_case(big, case)


@pytest.mark.parametrize("size", [1, 300])
async def test_the_hour_cap_sums_read_the_person_week_index_in_a_generic_plan_too(
    big: AsyncEngine, size: int
) -> None:
    """The writer's sessions keep PostgreSQL's default plan cache, which switches a
    statement to a plan made without its values once that looks as cheap."""
    sent = await sent_by(big, create(size))
    statement = sent[CREATE_READS.index("sums")]
    # The test's own values (people's names and numbers), written as SQL literals:
    # EXECUTE takes no parameters of the statement around it.
    arguments = ", ".join(
        str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
        for value in statement.parameters
    )
    async with big.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await connection.exec_driver_sql(f"PREPARE sums AS {statement.sql}")
        plan = await explain_on(connection, Sent(f"EXECUTE sums({arguments})", ()))
        generic = await connection.scalar(
            text("SELECT generic_plans FROM pg_prepared_statements WHERE name = 'sums'")
        )
        await connection.exec_driver_sql("DEALLOCATE sums")
        await connection.rollback()
    assert generic == 1  # planned without the values
    check_plan(plan, frozenset({"ix_entries_user_week_hours"}), ("iso_week",))


@pytest.mark.parametrize("size", [1, 300])
async def test_the_one_statement_creates_sum_through_the_person_week_index_in_generic_plans(
    big: AsyncEngine, size: int
) -> None:
    """The sums inside migration 0005's function, planned without their values as PL/pgSQL
    keeps them, look each person's week up in the person-week index and in no other
    (never a day's entries by date), whether or not the batch fits. auto_explain hands the nested
    statements' plans to the client; anything the call stores is rolled back."""
    entries = batch(size)
    rows = [repo._new_row(entry, NOW) for entry in entries]
    room = room_for(repo._hours(entry, lambda _type: 4000) for entry in entries)
    assert room is not None
    messages: list[str] = []
    async with big.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        raw.add_log_listener(lambda _connection, message: messages.append(message.message))
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_format = json",
            "SET auto_explain.log_level = notice",
            "SET plan_cache_mode = force_generic_plan",
        ):
            await raw.execute(setting)
        transaction = raw.transaction()
        await transaction.start()
        await raw.fetchval(pg_rows.WITHIN_CAPS, *pg_rows.within_caps_arguments(rows, room))
        await transaction.rollback()
        await raw.execute("RESET ALL")
    sums = [
        explained["Plan"]
        for explained in (json.loads(m.split("plan:", 1)[1]) for m in messages if "plan:" in m)
        if "FROM entries e" in explained["Query Text"]
    ]
    assert sums, messages
    for plan in sums:
        check_plan(plan, frozenset({"ix_entries_user_week_hours"}), ("iso_week",))
        assert set(index_conditions(plan)) == {"ix_entries_user_week_hours"}, outline(plan)


async def test_the_data_is_spread_as_described(big: AsyncEngine) -> None:
    async with big.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT user_id), count(DISTINCT project), "
                    "count(DISTINCT status), min(entry_date), max(entry_date) FROM entries"
                )
            )
        ).one()
    assert tuple(row) == (ENTRIES, PEOPLE, PROJECTS, 3, date(2023, 1, 2), date(2025, 12, 31))


async def test_the_migrations_make_the_declared_indexes(big: AsyncEngine) -> None:
    async with big.connect() as connection:
        made = set(
            (
                await connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'entries'")
                )
            ).scalars()
        )
    declared = {index.name for index in repo.entries.indexes}
    assert made == declared | {"pk_entries"}


async def test_a_table_read_whole_fails_the_check(big: AsyncEngine) -> None:
    unindexed = select(repo.entries).where(repo.entries.c.description == "work").limit(50)
    [statement] = await sent_by(big, lambda connection: connection.execute(unindexed).all())
    plan = await explain(big, statement)
    assert seq_scans(plan) == ["entries"]
    with pytest.raises(AssertionError, match="sequential scan of entries"):
        check_plan(plan, frozenset(), ())


async def test_an_index_walked_past_the_filter_fails_the_check(big: AsyncEngine) -> None:
    walked = (
        select(repo.entries)
        .where(repo.entries.c.hundredths == 150)
        .order_by(repo.entries.c.created_at, repo.entries.c.id)
        .limit(50)
    )
    [statement] = await sent_by(big, lambda connection: connection.execute(walked).all())
    plan = await explain(big, statement)
    assert index_conditions(plan) == {"ix_entries_created": [""]}
    with pytest.raises(AssertionError, match="looks up none of hundredths"):
        check_plan(plan, frozenset({"ix_entries_created"}), ("hundredths",))


async def test_a_week_range_without_the_week_level_index_fails_the_check(
    big: AsyncEngine,
) -> None:
    where, limit, offset = LISTS["weeks"]
    page, count = await sent_by(big, listing(where, limit, offset))
    async with big.connect() as connection:
        # Dropped for this transaction only: it is rolled back.
        await connection.exec_driver_sql("DROP INDEX ix_entries_undated_week")
        plans = [await explain_on(connection, statement) for statement in (page, count)]
        await connection.rollback()
    for plan, (indexes, looked_up) in zip(plans, EXPECTED["weeks"], strict=True):
        # The dates are still looked up; only the week-level entries lose their index.
        check_plan(plan, indexes, looked_up)
        with pytest.raises(AssertionError, match=r"ix_entries_undated_week'\] is read"):
            check_plan(plan, *UNDATED_WEEKS)
