"""`digest rank` and `digest preview`: try a query, or see what a subscriber would get now."""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from digest import jobs
from digest.cli.common import console, err_console, handle_errors, print_json, runtime
from digest.models import RankedPaper
from digest.text import display_ranked, display_title

_TAG = re.compile(r"<b>(.*?)</b>", re.S)


def _ranked_json(item: RankedPaper) -> dict:
    paper = item.paper
    return {
        "key": paper.key,
        "arxiv_id": paper.arxiv_id,
        "title": paper.title,
        "abstract": paper.abstract,
        "url": paper.url,
        "byline": paper.byline,
        "upvotes": paper.upvotes,
        "score": item.score,
        "matched": list(item.matched),
        "snippet": item.snippet,
        "first_seen": paper.first_seen,
        # The liked paper this one resembles, when that similarity picked it: its title (as an
        # email says "like <title>"), with its key and arXiv id beside.
        "because": item.because.title if item.because is not None else None,
        "because_key": item.because.key if item.because is not None else None,
        "because_arxiv_id": item.because.arxiv_id if item.because is not None else None,
    }


def snippet_text(snippet: str) -> Text:
    """An HTML snippet (escaped text with <b> marks) as terminal text with the marks in bold."""
    text, bold = Text(), False
    for part in _TAG.split(snippet):
        text.append(html.unescape(part), style="bold yellow" if bold else "")
        bold = not bold
    return text


def show_ranked(items: list[RankedPaper], title: str) -> None:
    table = Table(title=title, show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("paper", overflow="fold", ratio=2)
    table.add_column("why", overflow="fold", ratio=3)
    for number, item in enumerate(map(display_ranked, items), start=1):  # LaTeX rendered, capped
        reasons = [f"matched: {', '.join(item.matched)}"] if item.matched else []
        if item.because is not None:
            reasons.append(f"like \u201c{display_title(item.because)}\u201d")
        paper = Text(item.paper.title, style="bold") + Text(f"\n{item.paper.key}", style="dim")
        why = snippet_text(item.snippet) + Text(f"\n{' · '.join(reasons) or 'top by upvotes'}", style="dim")
        table.add_row(str(number), f"{item.score:.2f}", paper, why)
    console.print(table)


@handle_errors
def rank_command(
    ctx: typer.Context,
    query: str = typer.Option("", "--query", "-q", help='An interests query, e.g. \'"token pooling" OR normalization -medical\'.'),
    like: List[str] = typer.Option([], "--like", help="A paper you like (arXiv id, DOI or key); repeat the option."),
    dislike: List[str] = typer.Option([], "--dislike", help="A paper you do not want more of; repeat the option."),
    snapshot: Optional[int] = typer.Option(None, "--snapshot", min=1, help="Only the papers of this snapshot (the snapshot_id `ingest --json` printed)."),
    since: Optional[datetime] = typer.Option(None, "--since", formats=["%Y-%m-%d"], help="Only papers first seen on or after this day."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many papers to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, best first."),
) -> None:
    """Rank stored papers for a query and/or liked papers, best first, with why each was picked.

    With neither, the top papers by upvotes. Liked and disliked papers are left out of the results.

    Example:  digest rank --query '"token pooling" OR normalization' --like 2607.07033 --like 2607.13500 --json
    """
    from digest.jobs.papers import rank_papers

    ranked = rank_papers(runtime(ctx).engine, query=query, liked=like, disliked=dislike, snapshot=snapshot,
                         since=since.date() if since else None, limit=limit)
    what = " + ".join(filter(None, [query, f"{len(like)} liked" if like else ""])) or "top by upvotes"
    if as_json:
        print_json([_ranked_json(item) for item in ranked])
    elif not ranked:
        err_console.print(f"no stored paper to rank for {what}", highlight=False, soft_wrap=True)
    else:
        show_ranked(ranked, f"{what} — {len(ranked)} papers")


@handle_errors
def preview(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber."),
    as_json: bool = typer.Option(False, "--json", help="Print the ranked papers as JSON."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the exact HTML email that would be sent to this file."),
) -> None:
    """Show the ranked papers a subscriber's next digest would hold if it were sent now.

    Example:  digest preview ada@example.org --html /tmp/ada.html
    """
    rt = runtime(ctx)
    subscriber, ranked = jobs.preview_digest(rt.engine, email)
    if html is not None:
        html.write_text(jobs.render_preview_html(rt.settings, subscriber, ranked), encoding="utf-8")
        err_console.print(f"wrote {html}", highlight=False, soft_wrap=True)
    if as_json:
        print_json([_ranked_json(item) for item in ranked])
    elif not ranked:
        err_console.print(f"nothing new for {subscriber.email} since their last digest", highlight=False, soft_wrap=True)
    else:
        show_ranked(ranked, f"next digest for {subscriber.email} ({len(ranked)} papers)")
