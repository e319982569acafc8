"""A throw-away, durable PostgreSQL server for the benchmarks.

The cluster is made by the test suite's helper (tests/pg.py: initdb in a temporary
directory, as the `postgres` user when we are root, on a free loopback port). The test
suite runs it with fsync off; a benchmark of durable writes may not, so the cluster is
restarted at once with the settings of `DURABLE_SETTINGS`: fsync, synchronous_commit and
full-page writes on (every acknowledged commit is on disk), with memory and checkpoint
settings sized for a short benchmark on a small machine. `durable_postgres()` stops the
server and removes its files when the block ends, also on Ctrl-C (bench/common.py's
`stop_on_signals` turns the signal into SystemExit).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from tests.pg import PostgresServer, _run_as, start_postgres

from common import Processes, say

DURABLE_SETTINGS: dict[str, str] = {
    # Durability: a commit is acknowledged once its WAL is flushed to disk.
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # Sized for two cores and a short run.
    "max_connections": "200",
    "shared_buffers": "256MB",
    "wal_buffers": "16MB",
    "wal_level": "minimal",  # no replicas: less WAL
    "max_wal_senders": "0",
    "checkpoint_timeout": "30min",  # no checkpoint in the middle of a measurement
    "max_wal_size": "4GB",
    "random_page_cost": "1.1",
    "jit": "off",  # short OLTP statements gain nothing from compiling
}


class DurablePostgres(PostgresServer):
    """tests/pg.py's server, started with `DURABLE_SETTINGS` instead of fsync off."""

    def start(self) -> None:
        """Start the server on its data directory with the benchmark's settings."""
        assert self.bindir
        assert self.workdir
        settings = " ".join(f"-c {name}={value}" for name, value in DURABLE_SETTINGS.items())
        options = f"-p {self.port} -k {self.workdir} -h {self.host} {settings}"
        data, log = str(self.workdir / "data"), str(self.workdir / "log")
        pg_ctl = [*_run_as(), str(self.bindir / "pg_ctl")]
        command = [*pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start"]
        subprocess.run(command, check=True, capture_output=True, timeout=90)

    def activity(self, database_url: str) -> tuple[int, int]:
        """Transactions (committed or rolled back) and rows written (inserted, updated or
        deleted) so far in the database of `database_url`, as the statistics hold them: a
        backend reports its own when it ends at the latest."""
        database = database_url.rsplit("/", 1)[1]
        sql = (
            "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        transactions, rows = self.psql(sql, database).strip().split("|")
        return int(transactions), int(rows)

    def settings(self) -> dict[str, str]:
        """The server's version and durability settings as it reports them."""
        names = ("server_version", "fsync", "synchronous_commit", "full_page_writes")
        return {name: self.psql(f"SHOW {name}").strip() for name in (*names, "shared_buffers")}


def start_durable() -> DurablePostgres:
    """A new cluster from tests/pg.py, restarted with the durable settings."""
    say("starting a throw-away PostgreSQL (initdb in a temporary directory)")
    made = start_postgres()
    if made.workdir is None:
        raise SystemExit(
            "TIMESHEETS_TEST_PG_URL names an existing server; the benchmarks start their "
            "own: unset it"
        )
    server = DurablePostgres(made.host, made.port, made.user, made.bindir, made.workdir)
    try:
        made.restart_stop()
        server.start()
        shown = server.settings()
        if shown["fsync"] != "on" or shown["synchronous_commit"] != "on":
            raise RuntimeError(f"PostgreSQL is not durable: {shown}")
    except BaseException:  # also Ctrl-C: leave no server and no folder behind
        server.stop()
        raise
    say(
        f"PostgreSQL {shown['server_version']} on {server.host}:{server.port}: "
        f"fsync={shown['fsync']}, synchronous_commit={shown['synchronous_commit']}"
    )
    return server


@contextlib.contextmanager
def durable_postgres(wanted: bool = True) -> Iterator[DurablePostgres | None]:
    """A durable throw-away server for the block (None when not `wanted`); then removed."""
    if not wanted:
        yield None
        return
    server = start_durable()
    try:
        yield server
    finally:
        say("stopping PostgreSQL and removing its files")
        server.stop()


@dataclass
class Scratch:
    """What one benchmark run starts: a data folder, process groups, maybe PostgreSQL."""

    data_dir: Path
    processes: Processes
    postgres: DurablePostgres | None


@contextlib.contextmanager
def scratch(prefix: str, *, postgres: bool, keep: bool = False) -> Iterator[Scratch]:
    """A temporary data folder, the run's processes and (with `postgres`) a durable
    throw-away server; on the way out, also on Ctrl-C, the processes stop first, then
    PostgreSQL, then the folder is removed (unless `keep`)."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    processes = Processes()
    try:
        with durable_postgres(postgres) as server:
            try:
                yield Scratch(data_dir, processes, server)
            finally:
                processes.stop_all()
    finally:
        if keep:
            say(f"kept the data directory {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
