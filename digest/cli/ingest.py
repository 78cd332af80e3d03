"""`digest ingest` and `digest papers`: put snapshots in, look at what is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from digest.cli.common import console, err_console, fail, handle_errors, interactive, print_json, runtime, to_json, warn
from digest.errors import DigestError
from digest.jobs.papers import find_papers
from digest.models import IngestReport, Paper
from digest.sources import FORMATS
from digest.text import display_abstract, display_byline, display_title

papers_app = typer.Typer(help="Look at stored papers.", no_args_is_help=True)

FORMAT_HELP = f"Force the input format instead of detecting it: {', '.join(FORMATS)}."


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not interactive(),
    )


def _summary(report: IngestReport) -> str:
    if report.not_modified:
        return f"{report.input}: not modified since the last fetch; nothing to ingest"
    if report.duplicate_snapshot:
        return f"{report.input}: already ingested (snapshot #{report.snapshot_id}, {report.papers} papers); nothing changed"
    day = f", listing day {report.listing_day}" if report.listing_day else ""
    return (
        f"{report.input}: {report.format}{day}: {report.papers} papers — "
        f"[green]{report.new} new[/], {report.updated} updated, {report.unchanged} unchanged"
    )


def ingest(
    ctx: typer.Context,
    inputs: list[str] = typer.Argument(..., help="Snapshot files, URLs, or - for standard input.", metavar="PATH|URL|-"),
    format: Optional[str] = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    source: Optional[str] = typer.Option(None, "--source", help="Record the snapshots as coming from this source."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input, one per line."),
) -> None:
    """Ingest listing snapshots: parse, diff against known papers, store.

    Each input is one transaction: a bad input changes nothing and the others still run.
    The same content ingested twice is recognised and changes nothing.

    Example:  digest ingest hf-listing.txt https://export.arxiv.org/rss/cs.LG --json
    """
    if format is not None and format not in FORMATS:
        fail(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    rt = runtime(ctx)
    failures = _ingest_all(rt, inputs, format=format, source=source, as_json=as_json)
    if failures:
        raise typer.Exit(failures[0])


@handle_errors
def _ingest_all(rt, inputs: list[str], *, format: str | None, source: str | None, as_json: bool) -> list[int]:
    from digest.jobs.ingest import ingest_location  # parsers, diff and fetch: not for `papers list`

    settings, engine = rt.settings, rt.engine
    failures: list[int] = []
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(inputs))
        for location in inputs:
            try:
                report = ingest_location(engine, settings, location, format=format, source=source)
            except DigestError as err:
                message = str(err) if str(err).startswith(location) else f"{location}: {err}"
                err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
                failures.append(err.exit_code)
            else:
                _show(report, as_json)
            progress.advance(task)
    return failures


def _show(report: IngestReport, as_json: bool) -> None:
    for warning in report.warnings:
        warn(f"{report.input}: {warning}")
    if as_json:
        print(to_json(report.as_dict()), flush=True)
    else:
        console.print(_summary(report), highlight=False, soft_wrap=True)


def _paper_json(paper: Paper) -> dict:
    return {
        "key": paper.key,
        "arxiv_id": paper.arxiv_id,
        "doi": paper.doi,
        "title": paper.title,
        "abstract": paper.abstract,
        "display_title": display_title(paper),  # LaTeX rendered, length capped: what a reader sees
        "display_abstract": display_abstract(paper),
        "authors": list(paper.authors),
        "author_count": paper.author_count,
        "organization": paper.organization,
        "published": paper.published,
        "listing_day": paper.listing_day,
        "upvotes": paper.upvotes,
        "url": paper.url,
        "first_seen": paper.first_seen,
        "last_seen": paper.last_seen,
    }


@papers_app.command("list")
@handle_errors
def papers_list(
    ctx: typer.Context,
    since: Optional[datetime] = typer.Option(None, "--since", formats=["%Y-%m-%d"], help="Only papers first seen on or after this day (YYYY-MM-DD)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Show at most this many (newest first)."),
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Only papers whose title or abstract contains this text."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List stored papers, newest first.

    The table shows titles as readers see them (LaTeX rendered as Unicode); --json gives
    both the stored `title`/`abstract` and the rendered `display_title`/`display_abstract`.

    Example:  digest papers list --since 2026-09-01 --search pooling --limit 20
    """
    found = find_papers(runtime(ctx).engine, since=since.date() if since else None, limit=limit, search=search)
    if as_json:
        print_json([_paper_json(paper) for paper in found])
        return
    table = Table(title=f"{len(found)} paper{'' if len(found) == 1 else 's'}", show_lines=False)
    table.add_column("key", style="cyan", overflow="fold", max_width=20)
    table.add_column("title", overflow="fold", min_width=30, ratio=3)
    table.add_column("by", overflow="fold", max_width=20, ratio=1)
    table.add_column("listed", no_wrap=True)
    table.add_column("▲", justify="right")
    table.add_column("first seen", no_wrap=True)
    for paper in found:
        table.add_row(
            paper.key,
            Text(display_title(paper)),  # Text: a title's "[...]" is not Rich markup
            Text(display_byline(paper)),
            str(paper.listing_day or ""),
            "" if paper.upvotes is None else str(paper.upvotes),
            paper.first_seen.strftime("%Y-%m-%d") if paper.first_seen else "",
        )
    console.print(table)


@papers_app.command("reindex")
@handle_errors
def papers_reindex(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print {\"indexed\": N, \"model\": ...} as JSON."),
) -> None:
    """Compute the relevance features of every stored paper that lacks current ones.

    Ingest computes them for new papers once anyone has liked a paper, and ranking computes
    missing ones on demand; run this after an upgrade that changes the feature model, or to
    prepare a database before subscribers start liking papers. Safe to interrupt and re-run.

    Example:  digest papers reindex
    """
    from digest.jobs.features import reindex, stale

    engine = runtime(ctx).engine
    model, total = stale(engine)
    with _progress() as progress:
        task = progress.add_task("computing paper features", total=total)
        done = reindex(engine, progress=lambda n, _total: progress.update(task, completed=n))
    if as_json:
        print_json({"indexed": done, "model": model})
    else:
        console.print(f"features computed for {done} paper{'' if done == 1 else 's'} (model {model})", highlight=False, soft_wrap=True)


__all__ = ["ingest", "papers_app"]
