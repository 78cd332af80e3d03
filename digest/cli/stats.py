"""`digest stats`: what is stored and what was sent, at a glance."""

from __future__ import annotations

import typer
from rich.table import Table

from digest.cli.common import console, handle_errors, print_json, runtime
from digest.jobs.stats import gather_stats

BAR = 40


def chart(rows: list[tuple[object, int]], width: int = BAR) -> list[str]:
    """A text bar chart, one line per (label, count)."""
    peak = max((count for _, count in rows), default=0) or 1
    return [f"{label}  {'█' * max(1, round(count * width / peak)) if count else ''} {count}" for label, count in rows]


@handle_errors
def stats(
    ctx: typer.Context,
    days: int = typer.Option(14, "--days", min=1, help="How many recent days of deliveries, mailbox reports and listing days to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Counts of papers, snapshots, subscribers and deliveries by status, mailbox reports, papers per listing day.

    Mailbox reports are what `digest mailbox` read: hard and soft bounces, complaints, unsubscribe requests.

    Example:  digest stats --days 30
    """
    figures = gather_stats(runtime(ctx).engine, days=days)
    if as_json:
        print_json(figures)
        return
    people, sent, mailbox = figures["subscribers"], figures["deliveries"], figures["mailbox"]
    per_day = [(row["day"], row["papers"]) for row in figures["papers_per_listing_day"]]
    console.print(f"[bold]{figures['papers']}[/] papers from [bold]{figures['snapshots']}[/] snapshots", soft_wrap=True)
    table = Table(title="subscribers", show_header=False)
    for status, count in people.items():
        table.add_row(status, str(count))
    console.print(table)
    deliveries = Table(title=f"digests, last {days} days", show_header=False)
    for status, count in sorted(sent.items()) or [("none", 0)]:
        deliveries.add_row(status, str(count))
    console.print(deliveries)
    events = Table(title=f"mailbox, last {days} days", show_header=False)
    for kind, count in mailbox.items():
        events.add_row(kind.replace("_", " "), str(count))
    console.print(events)
    if per_day:
        console.print(f"[bold]papers per listing day[/] (last {len(per_day)})", soft_wrap=True)
        for line in chart(per_day):
            console.print("  " + line, highlight=False, soft_wrap=True)
