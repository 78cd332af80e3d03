"""`digest subscribers ...`: manage who gets what, from a terminal or a script."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from digest import jobs
from digest.cli.common import console, err_console, fail, handle_errors, print_json, runtime
from digest.jobs.subscribers import ConfirmMail
from digest.jobs.subscribers import rotate_links as rotate_links_job
from digest.jobs.subscriber_views import find_subscriber, list_subscribers
from digest.subscriber_io import ImportPlan, export_row, to_csv, to_json
from digest.subscribers import STATUSES, WEEKDAYS, spec_from

subscribers_app = typer.Typer(help="Manage subscribers: add, list, change, import, export.", no_args_is_help=True)

QUERY_HELP = 'Interests query: words, "quoted phrases", OR, -exclude, title:/abstract:/author: fields, or a comma list.'


def _row_json(row: Any) -> dict[str, Any]:
    record = export_row(row)
    record.update(
        id=row.id,
        cursor=row.cursor,
        hard_bounces=row.hard_bounces,
        status_changed_at=row.status_changed_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
    )
    return record


def _schedule(row: Any) -> str:
    when = f"{row.send_hour:02d}:00 {row.timezone}"
    return f"{WEEKDAYS[row.weekday][:3]} {when}" if row.frequency == "weekly" else f"daily {when}"


def _show_one(row: Any, as_json: bool, verb: str = "") -> None:
    if as_json:
        print_json(_row_json(row))
        return
    if verb:
        console.print(f"{verb} {row.email} ({row.status})", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(show_header=False, box=None)
    for key, value in _row_json(row).items():  # values as Text: a name "[/]" is no markup
        table.add_row(Text(key, style="bold"), Text("" if value is None else str(value)))
    console.print(table)


def _fields(**options: Any) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}


def _weekday_needs_weekly(weekday: str | None, frequency: str | None) -> None:
    """--weekday with a daily schedule would be dropped without a word: say what was meant."""
    if weekday is not None and (frequency or "daily").strip().casefold() == "daily":
        fail(f"--weekday {weekday} applies to weekly digests only: add --frequency weekly (daily digests come every day)")


@subscribers_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's address."),
    name: Optional[str] = typer.Option(None, "--name", help="Display name for the To: header."),
    keywords: Optional[str] = typer.Option(None, "--keywords", "-k", help=QUERY_HELP),
    timezone: Optional[str] = typer.Option(None, "--timezone", "--tz", help="IANA time zone, e.g. Europe/Berlin (default UTC)."),
    hour: Optional[int] = typer.Option(None, "--hour", help="Local hour to send, 0-23 (default 7)."),
    frequency: Optional[str] = typer.Option(None, "--frequency", help="daily (default) or weekly."),
    weekday: Optional[str] = typer.Option(None, "--weekday", help="For weekly digests: mon..sun (default mon)."),
    max_papers: Optional[int] = typer.Option(None, "--max-papers", help="Papers per digest (default 10)."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Leave out papers scoring below this."),
    send_empty: Optional[bool] = typer.Option(None, "--send-empty/--skip-empty", help="Send a digest even when nothing matched."),
    confirmed: bool = typer.Option(False, "--confirmed", help="Make them active now, without a confirmation email."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored subscriber as JSON."),
) -> None:
    """Add a subscriber. Without --confirmed they stay pending and get a confirmation email.

    Example:  digest subscribers add ada@example.org --keywords '"token pooling" OR normalization -medical' --timezone Europe/London --hour 8
    """
    _weekday_needs_weekly(weekday, frequency)
    spec = spec_from(_fields(
        email=email, name=name, interests=keywords, timezone=timezone, send_hour=hour, frequency=frequency,
        weekday=weekday, max_papers=max_papers, min_score=min_score, send_empty=send_empty,
        status="active" if confirmed else "pending",
    ))
    row = jobs.add_subscriber(runtime(ctx).engine, spec)
    verb = "added" if confirmed else "added (pending: a confirmation email is queued)"
    _show_one(row, as_json, verb)


@subscribers_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help=f"Only this status: {', '.join(STATUSES)}."),
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Only addresses, names or queries containing this."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List subscribers.

    Example:  digest subscribers list --status active --search pooling
    """
    if status is not None and status not in STATUSES:
        fail(f"unknown status {status!r}: choose one of {', '.join(STATUSES)}")
    rows = list_subscribers(runtime(ctx).engine, status=status, search=search, limit=limit)
    if as_json:
        print_json([_row_json(row) for row in rows])
        return
    table = Table(title=f"{len(rows)} subscriber{'' if len(rows) == 1 else 's'}")
    for column in ("email", "name", "status", "interests", "schedule", "max"):
        table.add_column(column, overflow="fold")
    for row in rows:
        interests = Text(row.interests) if row.interests else Text("(top papers)", style="dim")
        table.add_row(Text(row.email), Text(row.name or ""), row.status, interests, _schedule(row), str(row.max_papers))
    console.print(table)


@subscribers_app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    email: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show everything stored about one subscriber.

    Example:  digest subscribers show ada@example.org --json
    """
    _show_one(find_subscriber(runtime(ctx).engine, email), as_json)


@subscribers_app.command("update")
@handle_errors
def update(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber to change."),
    new_email: Optional[str] = typer.Option(None, "--email", help="A new address."),
    name: Optional[str] = typer.Option(None, "--name"),
    keywords: Optional[str] = typer.Option(None, "--keywords", "-k", help=QUERY_HELP),
    timezone: Optional[str] = typer.Option(None, "--timezone", "--tz"),
    hour: Optional[int] = typer.Option(None, "--hour"),
    frequency: Optional[str] = typer.Option(None, "--frequency"),
    weekday: Optional[str] = typer.Option(None, "--weekday"),
    max_papers: Optional[int] = typer.Option(None, "--max-papers"),
    min_score: Optional[float] = typer.Option(None, "--min-score"),
    send_empty: Optional[bool] = typer.Option(None, "--send-empty/--skip-empty"),
    status: Optional[str] = typer.Option(None, "--status", help=f"One of {', '.join(STATUSES)}, by the same rules as pause/resume/confirm/unsubscribe."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change a subscriber's settings; only the options given change.

    Example:  digest subscribers update ada@example.org --keywords 'pooling, data filtering' --frequency weekly --weekday fri
    """
    fields = _fields(email=new_email, name=name, interests=keywords, timezone=timezone, send_hour=hour,
                     frequency=frequency, weekday=weekday, max_papers=max_papers, min_score=min_score,
                     send_empty=send_empty, status=status)
    if not fields:
        fail("nothing to change: give at least one option (see --help)")
    if weekday is not None and frequency is None:
        frequency = find_subscriber(runtime(ctx).engine, email).frequency
    _weekday_needs_weekly(weekday, frequency)
    row = jobs.update_subscriber(runtime(ctx).engine, email, fields)
    _show_one(row, as_json, "updated")


def _move(ctx: typer.Context, email: str, action: jobs.Action, verb: str, as_json: bool) -> None:
    """One status move through the transition table (`jobs.subscribers`); a refused one is a
    one-line error (exit 1)."""
    result = jobs.change_status(runtime(ctx).engine, email, action)
    if not result.changed:
        verb = "no change for"
    elif result.mail == ConfirmMail.QUEUED:
        verb = f"{verb} (pending: a confirmation email is queued; digests start when they confirm)"
    _show_one(result.row, as_json, verb)


@subscribers_app.command("pause")
@handle_errors
def pause(ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop sending to an active subscriber until resumed (nothing is lost: the next digest covers the gap).

    Example:  digest subscribers pause ada@example.org
    """
    _move(ctx, email, jobs.Action.PAUSE, "paused", as_json)


@subscribers_app.command("resume")
@handle_errors
def resume(ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Make a paused subscriber active again. Someone who unsubscribed or bounced (or is still
    pending) is sent a new confirmation email instead, and is active once they confirm.

    Example:  digest subscribers resume ada@example.org
    """
    _move(ctx, email, jobs.Action.RESUME, "resumed", as_json)


@subscribers_app.command("confirm")
@handle_errors
def confirm(ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Confirm a pending subscriber on their behalf (skips the confirmation email's link).

    Only for someone who asked you directly; anyone who unsubscribed must confirm from their
    mailbox (`resume` emails them the link).

    Example:  digest subscribers confirm ada@example.org
    """
    _move(ctx, email, jobs.Action.CONFIRM, "confirmed", as_json)


@subscribers_app.command("unsubscribe")
@handle_errors
def unsubscribe(ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Unsubscribe someone (kept on file, sent nothing; `remove` deletes them instead).

    Example:  digest subscribers unsubscribe ada@example.org
    """
    _move(ctx, email, jobs.Action.UNSUBSCRIBE, "unsubscribed", as_json)


@subscribers_app.command("rotate-links")
@handle_errors
def rotate_links(ctx: typer.Context, email: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Make every link already sent to a subscriber stop working (a forwarded or leaked email),
    their private feed's URL included. Their next email carries new links.

    Example:  digest subscribers rotate-links ada@example.org
    """
    row = rotate_links_job(runtime(ctx).engine, email)
    _show_one(row, as_json, "new links for")


@subscribers_app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    email: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete a subscriber and all their data (deliveries included). This cannot be undone.

    Example:  digest subscribers remove ada@example.org --yes
    """
    rt = runtime(ctx)
    find_subscriber(rt.engine, email)  # an unknown address fails before the question
    if not yes:
        typer.confirm(f"Delete {email} and all their data?", abort=True, err=True)
    row = jobs.remove_subscriber(rt.engine, email)
    if as_json:
        print_json({"removed": row.email})
    else:
        console.print(f"removed {row.email} and their data", highlight=False, markup=False, soft_wrap=True)


def _report(plan: ImportPlan, applied: bool, as_json: bool) -> None:
    summary = plan.summary() | {"applied": applied}
    if as_json:
        print_json(summary)
        return
    mode = "applied" if applied else "dry run (nothing written; add --apply to write)"
    console.print(f"import {mode}: {summary['create']} to create, {summary['update']} to update, "
                  f"{summary['unchanged']} unchanged, {len(plan.errors)} with errors", highlight=False, soft_wrap=True)
    for error in plan.errors:
        err_console.print(f"  line {error.line}: {error.message}", highlight=False, soft_wrap=True)


@subscribers_app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A CSV file with a header line, or a JSON array (e.g. from export)."),
    apply: bool = typer.Option(False, "--apply", help="Write the changes (all or nothing). Without it: a dry run."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Import subscribers from CSV or JSON. A dry run by default; --apply writes everything or nothing.

    Existing addresses are updated, new ones created. Any row with an error stops the whole
    import; every bad row is listed with its line number.

    Example:  digest subscribers import people.csv && digest subscribers import people.csv --apply
    """
    rt = runtime(ctx)
    try:
        data = path.read_bytes()
    except OSError as err:
        fail(f"{path}: {err.strerror}")
    plan = jobs.plan_subscriber_import(rt.engine, data, name=str(path))
    if apply and not plan.errors:
        jobs.apply_subscriber_import(rt.engine, plan)
    _report(plan, apply and not plan.errors, as_json)
    if plan.errors:
        if apply:
            err_console.print(f"nothing written: fix the {len(plan.errors)} rows above and run again", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@subscribers_app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    format: str = typer.Option("csv", "--format", "-f", help="csv or json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
    status: Optional[str] = typer.Option(None, "--status", help="Only this status."),
) -> None:
    """Export subscribers (the file imports back unchanged). Contains feed tokens: keep it private.

    Example:  digest subscribers export --format json -o subscribers.json
    """
    if format not in ("csv", "json"):
        fail(f"unknown format {format!r}: choose csv or json")
    records = [export_row(row) for row in list_subscribers(runtime(ctx).engine, status=status)]
    text = to_csv(records) if format == "csv" else to_json(records)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {len(records)} subscribers to {output}", highlight=False, soft_wrap=True)
