"""`digest demo`: the whole pipeline on the sample snapshots shipped in the package (`jobs.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from digest.cli.common import console, handle_errors, print_json
from digest.jobs.demo import run_demo


@handle_errors
def demo(
    folder: Path = typer.Option(Path("digest-demo"), "--folder", help="Where the demo writes its database and output."),
    as_json: bool = typer.Option(False, "--json", help="Print what happened as JSON."),
) -> None:
    """Run the whole pipeline on the bundled samples: ingest, rank, render, send to a local sink.

    Needs no configuration and touches nothing outside FOLDER: the database, the emails the
    sink received (.eml) and an Atom feed are written there. Run it twice: the second run
    recognises every snapshot and sends nothing new.

    Example:  digest demo --folder /tmp/digest-demo
    """
    summary, reports = run_demo(folder)
    if as_json:
        print_json(summary)
        return
    _print_summary(summary, reports)


def _print_summary(summary: dict, reports) -> None:
    console.print(f"[bold]Paper Digest demo[/] — everything is in {summary['folder']}/", soft_wrap=True)
    for report in reports:
        state = "already ingested" if report.duplicate_snapshot else f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged"
        console.print(f"  ingest {report.input:<40} {report.format:<9} {report.papers:>4} papers: {state}", highlight=False, soft_wrap=True)
    console.print(f"[bold]{summary['papers']}[/] distinct papers stored in {summary['database']}", soft_wrap=True)
    console.print(f"digests planned: {summary['planned']}, sent to the local SMTP sink: {summary['sent']}", soft_wrap=True)
    for path in summary["emails"]:
        console.print(f"  email  {path}", highlight=False, soft_wrap=True)
    if not summary["emails"]:
        console.print("  (no new digests: each demo subscriber already got today's; delete the folder to start over)", soft_wrap=True)
    console.print(f"  feed   {summary['feed']}", highlight=False, soft_wrap=True)
