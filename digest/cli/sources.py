"""`digest sources ...`: the URLs and folders polled for new snapshots.

Registered by the app as `app.add_typer(sources_app, name="sources")`. The scheduler runs
the same `digest.jobs.polling` functions as `digest sources poll --due`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from digest.cli.common import console, err_console, fail, handle_errors, print_json, runtime
from digest.jobs import polling
from digest.jobs import sources as source_jobs
from digest.jobs.common import utcnow
from digest.models import IngestReport
from digest.sources import FORMATS

sources_app = typer.Typer(help="Manage the URLs and folders polled for new snapshots.", no_args_is_help=True)

FORMAT_HELP = f"Force the snapshot format instead of detecting it: {', '.join(FORMATS)}."


def _ago(value: datetime | None, now: datetime) -> str:
    """A compact age for a table cell ("45s ago", "3h ago"); the JSON has the exact time."""
    if value is None:
        return "never"
    seconds = max(0, int((now - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "location": row.location,
        "format": row.format,
        "interval_seconds": row.interval_seconds,
        "every": source_jobs.format_interval(row.interval_seconds),
        "paused": row.paused,
        "etag": row.etag,
        "last_modified": row.last_modified,
        "last_checked_at": row.last_checked_at,
        "last_success_at": row.last_success_at,
        "last_error": row.last_error,
        "next_check_at": source_jobs.next_check_at(row),
        "created_at": row.created_at,
    }


def _get(ctx: typer.Context, name: str) -> Any:
    return source_jobs.get_source(runtime(ctx).engine, name)


@sources_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A short name for the source, e.g. arxiv-cs-ai."),
    location: str = typer.Argument(..., help="An http(s) URL to poll, or a folder to watch.", metavar="URL|DIR"),
    format: Optional[str] = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    every: str = typer.Option(source_jobs.DEFAULT_INTERVAL, "--every", help="How often to poll: 90s, 30m, 2h, 1d (minimum 1m)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored source as JSON."),
) -> None:
    """Add a source: a URL polled for a listing, or a folder watched for dropped snapshot files.

    Files dropped into a folder source are ingested once, then moved to done/ (or to failed/
    with a .error.txt saying why). An HF daily_papers API URL without a date is polled for
    today and yesterday (UTC).

    Example:  digest sources add arxiv-cs-ai https://rss.arxiv.org/rss/cs.AI --every 2h
    """
    row = source_jobs.add_source(runtime(ctx).engine, name, location, format=format, every=every)
    if as_json:
        print_json(_row_json(row))
        return
    console.print(f"added source {row.name} ({row.kind}, every {source_jobs.format_interval(row.interval_seconds)}): {row.location}",
                  highlight=False, soft_wrap=True)


@sources_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List the sources with when each was last checked and its last error.

    Example:  digest sources list --json
    """
    rows = source_jobs.list_sources(runtime(ctx).engine)
    if as_json:
        print_json([_row_json(row) for row in rows])
        return
    now = utcnow()
    # No vertical rules, so nine columns fit a narrow terminal. Short columns never wrap;
    # location and error share the width left and fold (nothing is cut off).
    table = Table(title=f"{len(rows)} source{'' if len(rows) == 1 else 's'}", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for column in ("name", "kind", "location", "format", "every", "paused", "checked", "succeeded", "last error"):
        long = column in ("location", "last error")
        table.add_column(column, no_wrap=not long, overflow="fold", ratio=1 if long else None,
                         style="cyan" if column == "name" else None)
    for row in rows:
        table.add_row(
            row.name, row.kind, row.location, row.format or "auto", source_jobs.format_interval(row.interval_seconds),
            "yes" if row.paused else "no", _ago(row.last_checked_at, now), _ago(row.last_success_at, now),
            f"[red]{escape(row.last_error)}[/]" if row.last_error else "",
        )
    console.print(table)


@sources_app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The source to remove."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove a source. The snapshots and papers it brought in stay.

    Example:  digest sources remove arxiv-cs-ai --yes
    """
    row = _get(ctx, name)
    if not yes:
        typer.confirm(f"Remove source {row.name} ({row.location})?", abort=True, err=True)
    removed = source_jobs.remove_source(runtime(ctx).engine, row.name)
    kept = removed.snapshots_kept
    console.print(f"removed source {removed.name} (its {kept} snapshot{'' if kept == 1 else 's'} stay)",
                  highlight=False, soft_wrap=True)


def _set_paused(ctx: typer.Context, name: str, paused: bool) -> None:
    row = source_jobs.set_paused(runtime(ctx).engine, name, paused)
    console.print(f"{'paused' if paused else 'resumed'} {row.name}", highlight=False, soft_wrap=True)


@sources_app.command("pause")
@handle_errors
def pause(ctx: typer.Context, name: str = typer.Argument(..., help="The source to stop polling.")) -> None:
    """Stop polling a source until it is resumed (it is kept, with its history).

    Example:  digest sources pause arxiv-cs-ai
    """
    _set_paused(ctx, name, True)


@sources_app.command("resume")
@handle_errors
def resume(ctx: typer.Context, name: str = typer.Argument(..., help="The source to poll again.")) -> None:
    """Poll a paused source again, from its next due time.

    Example:  digest sources resume arxiv-cs-ai
    """
    _set_paused(ctx, name, False)


def _chosen(ctx: typer.Context, name: str | None) -> list[Any]:
    """The named source (paused or not), or every unpaused polled source."""
    if name is not None:
        return [_get(ctx, name)]
    return source_jobs.list_sources(runtime(ctx).engine, polled_only=True, unpaused_only=True)


def _report_line(report: IngestReport, verb: str) -> str:
    if report.duplicate_snapshot:
        return f"{report.input}: already ingested (snapshot #{report.snapshot_id}, {report.papers} papers)"
    day = f", listing day {report.listing_day}" if report.listing_day else ""
    counts = f"[green]{report.new} new[/], {report.updated} updated, {report.unchanged} unchanged"
    return f"{report.input}: {report.format}{day}: {report.papers} papers — {verb}{counts}"


def _show(outcomes: list[polling.PollOutcome], *, as_json: bool, verb: str) -> None:
    if as_json:
        print_json([outcome.as_dict() for outcome in outcomes])
        return
    if not outcomes:
        console.print("no sources to poll (add one with: digest sources add NAME URL|DIR)", highlight=False, soft_wrap=True)
    for outcome in outcomes:
        lines = [_report_line(report, verb) for report in outcome.reports]
        lines += [f"{url}: not modified (304)" for url in outcome.not_modified]
        if outcome.waiting:
            lines.append(f"{len(outcome.waiting)} file(s) still being written, left for the next poll: {', '.join(outcome.waiting)}")
        if not lines and not outcome.errors:
            lines.append("nothing new")
        for line in lines:
            console.print(f"[bold]{outcome.source}[/]: {line}", highlight=False, soft_wrap=True)
        for error in outcome.errors:
            err_console.print(f"[bold red]error:[/] {outcome.source}: {error}", highlight=False, soft_wrap=True)


def _exit_code(outcomes: list[polling.PollOutcome]) -> int:
    return max((outcome.exit_code for outcome in outcomes), default=0)


@sources_app.command("check")
@handle_errors
def check(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="Only this source (default: every unpaused one)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, one object per source."),
) -> None:
    """Fetch each source once and show what polling it WOULD ingest; writes and moves nothing.

    Shows the format, paper count and new/updated counts against the store, "not modified"
    for a URL unchanged since the last poll, and errors. Exits 2 when a fetch failed,
    1 when content was not a snapshot.

    Example:  digest sources check arxiv-cs-ai --json
    """
    rt = runtime(ctx)
    now = utcnow()
    outcomes = [polling.check_source(rt.engine, rt.settings, row, now=now) for row in _chosen(ctx, name)]
    _show(outcomes, as_json=as_json, verb="would add ")
    if code := _exit_code(outcomes):
        raise typer.Exit(code)


@sources_app.command("poll")
@handle_errors
def poll(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="Only this source, even if paused (default: every unpaused one)."),
    due: bool = typer.Option(False, "--due", help="Only the sources due by their interval (what the scheduler does)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, one object per source."),
) -> None:
    """Fetch and ingest now; records each check (time, ETag, last error) on the source.

    Exits 2 when a fetch failed, 1 when content was not a snapshot; the other sources are
    still polled.

    Example:  digest sources poll --due --json
    """
    rt = runtime(ctx)
    now = utcnow()
    if due:
        if name is not None:
            fail("give a NAME or --due, not both")
        outcomes = polling.poll_due_outcomes(rt.engine, rt.settings, now=now)
    else:
        outcomes = polling.poll_sources(rt.engine, rt.settings, _chosen(ctx, name), now=now)
    _show(outcomes, as_json=as_json, verb="")
    if code := _exit_code(outcomes):
        raise typer.Exit(code)


__all__ = ["sources_app"]
