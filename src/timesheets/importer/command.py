"""`timesheets import`: the job cron runs (see docs/import.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, cast

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from timesheets.importer import job
from timesheets.importer.config import load_config
from timesheets.importer.errors import ConfigurationError, ImportFailure
from timesheets.importer.mapping import PeopleMap
from timesheets.importer.parsing import DateOrder
from timesheets.importer.state import State
from timesheets.importer.token_cache import TokenProvider
from timesheets.importer.uploader import Uploader
from timesheets.logging import configure

log = logging.getLogger("timesheets.importer")


def _report(
    summary: job.Summary, console: Console | None, failure: ImportFailure | None = None
) -> None:
    """The counts and problems of a run, finished or (with `failure`) ended early."""
    fields = {
        "read": summary.read,
        "entries": summary.entries,
        "created": summary.created,
        "already_present": summary.already_present + summary.skipped_unchanged,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "elapsed_seconds": round(summary.elapsed, 2),
        "dry_run": summary.dry_run,
    }
    problems = [
        {"row": row, "external_id": key, "reason": reason} for row, key, reason in summary.problems
    ]
    if console is None:
        extra = {"summary": fields, "problems": problems[:100]}
        if failure is None:
            log.info("import finished", extra=extra)
        else:
            reason = {"reason": str(failure), "exit_code": failure.exit_code}
            log.error("import failed", extra=extra | reason)
        return
    if failure is not None:
        console.print(f"[red]import failed:[/red] {failure}; so far:")
    console.print(" ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items()))
    for problem in problems[:50]:
        where = f"row {problem['row']}" if problem["row"] else problem["external_id"]
        console.print(f"  {where}: {problem['reason']}")
    if len(problems) > 50:
        console.print(f"  ... and {len(problems) - 50} more")


def import_command(
    source: Annotated[
        Path, typer.Argument(help="The export file to import.", exists=True, dir_okay=False)
    ],
    format_: Annotated[job.Format, typer.Option("--format", help="Export format.")] = "generic",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate everything, upload nothing.")
    ] = False,
    since: Annotated[str | None, typer.Option(help="Only rows updated after this time.")] = None,
    bootstrap: Annotated[
        Path | None, typer.Option(help="Use a local tenant's bootstrap.json.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML config file.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="People mapping CSV.")] = None,
    state_dir: Annotated[
        Path, typer.Option(help="Where progress and the token cache live.")
    ] = Path(".timesheets/import"),
    date_order: Annotated[str, typer.Option(help="auto, iso, us or eu.")] = "auto",
    issuer: Annotated[str | None, typer.Option(help="Issuer URL.")] = None,
    audience: Annotated[str | None, typer.Option(help="The API's identifier.")] = None,
    api_url: Annotated[str | None, typer.Option(help="The Timesheets API's base URL.")] = None,
    client_id: Annotated[str | None, typer.Option(help="The job's client id.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Entries per upload (1-1000).")] = None,
) -> None:
    """Import a time-tracking export into Timesheets, exactly once.

    Exit codes: 0 done, 65 rows rejected, 75 temporary failure, 77 not authorized,
    78 configuration error.
    """
    configure("WARNING" if sys.stderr.isatty() else "INFO")
    console = Console(stderr=True) if sys.stderr.isatty() else None
    summary: job.Summary | None = None  # once the run has started
    try:
        if date_order not in ("auto", "iso", "us", "eu"):
            raise ConfigurationError("--date-order must be auto, iso, us or eu")
        settings = load_config(
            flags={
                "issuer": issuer,
                "audience": audience,
                "api_url": api_url,
                "client_id": client_id,
                "batch_size": batch_size,
            },
            config_file=config,
            bootstrap=bootstrap,
        )
        try:
            people = PeopleMap.load(mapping)
        except (OSError, ValueError) as error:
            raise ConfigurationError(str(error)) from None
        state = State(state_dir / "state.db")
        try:
            if not dry_run:
                state.bind(
                    {
                        "api_url": settings.api_url.rstrip("/"),
                        "audience": settings.audience,
                        "client_id": settings.client_id,
                    }
                )
            with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
                tokens = TokenProvider(settings, http, state_dir / "token.json")
                uploader = None if dry_run else Uploader(settings.api_url, http, tokens)
                summary = job.Summary()
                _run(
                    summary,
                    source,
                    format_,
                    state,
                    people,
                    uploader,
                    settings.batch_size,
                    since,
                    date_order,
                    console,
                )
        finally:
            state.close()
    except ImportFailure as failure:
        if summary is not None:
            _report(summary, console, failure)
        else:
            log.error(
                "import failed", extra={"reason": str(failure), "exit_code": failure.exit_code}
            )
            if console is not None:
                console.print(f"[red]import failed:[/red] {failure}")
        raise typer.Exit(failure.exit_code) from None
    _report(summary, console)
    raise typer.Exit(summary.exit_code)


def _run(
    summary: job.Summary,
    source: Path,
    fmt: job.Format,
    state: State,
    people: PeopleMap,
    uploader: Uploader | None,
    batch_size: int,
    since: str | None,
    date_order: str,
    console: Console | None,
) -> None:
    order = cast(DateOrder, date_order)  # validated by the caller
    if console is None:
        job.run(
            source,
            fmt,
            state,
            people,
            uploader,
            batch_size=batch_size,
            since=since,
            date_order=order,
            summary=summary,
        )
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("uploading", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        job.run(
            source,
            fmt,
            state,
            people,
            uploader,
            batch_size=batch_size,
            since=since,
            date_order=order,
            progress=advance,
            summary=summary,
        )
