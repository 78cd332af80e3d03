"""`digest mailbox`: read the envelope sender's mailbox once (bounces, complaints, unsubscribes)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from digest.cli.common import console, err_console, handle_errors, print_json, runtime
from digest.jobs.mailbox import DEFAULT_LIMIT, MailboxReport, MessageOutcome, check_mailbox


@handle_errors
def mailbox(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing, flag nothing."),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", min=1, help="Read at most this many new messages."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts and every message's outcome as JSON."),
) -> None:
    """Read new mail in DIGEST_IMAP_URL: act on bounces, complaints and "unsubscribe" mail.

    A bounce (DSN) with a 5.x.x status counts against the digest it returns; three mark the subscriber bounced.

    A spam complaint (ARF) unsubscribes at once; so does mail titled "unsubscribe" from a subscriber's address.

    Handled mail is flagged $DigestProcessed and read; the rest is flagged $DigestSkipped and left unread for you.

    Safe to run again: nothing is counted twice. `digest serve` runs this every 5 minutes when DIGEST_IMAP_URL is set.

    Example:  digest mailbox --dry-run --json
    """
    rt = runtime(ctx)
    report = check_mailbox(rt.engine, rt.settings, dry_run=dry_run, limit=limit)
    if as_json:
        print_json({**report.as_dict(), "dry_run": dry_run, "items": [h.as_dict() for h in report.messages]})
        return
    _print(report, dry_run)


def _print(report: MailboxReport, dry_run: bool) -> None:
    figures = report.as_dict()
    summary = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in figures.items() if value or name == "messages")
    prefix = "dry run (nothing changed): " if dry_run else ""
    console.print(prefix + summary, highlight=False, soft_wrap=True)
    acted = [h for h in report.messages if h.outcome not in (MessageOutcome.LEFT, MessageOutcome.DUPLICATE)]
    if acted:
        table = Table(show_header=True, header_style="bold")
        for column in ("uid", "outcome", "subscriber", "now", "detail"):
            table.add_column(column)
        for h in acted:
            table.add_row(str(h.uid), str(h.outcome), escape(h.subscriber or "-"), str(h.status_change or ""),
                          escape(h.detail[:100]))
        console.print(table)
    left = report.count(MessageOutcome.LEFT)
    if left:
        err_console.print(f"{left} message(s) are not reports or requests of ours: left unread for a person",
                          highlight=False, soft_wrap=True)
