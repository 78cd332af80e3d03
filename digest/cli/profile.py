"""`digest subscribers like|dislike|unlike|likes|import-library`: what a subscriber's digest learns from."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.table import Table

from digest.cli.common import console, fail, handle_errors, print_json, runtime

IDS_HELP = "Papers: arXiv ids (2607.01234), DOIs (10.1145/...) or keys from `digest papers list`."


def _vote(ctx: typer.Context, email: str, ids: list[str], vote_name: str | None, as_json: bool) -> None:
    from digest.enums import Vote
    from digest.jobs import profiles

    vote = Vote[vote_name] if vote_name else None
    report = profiles.vote_papers(runtime(ctx).engine, email, ids, vote)
    if as_json:
        print_json({"email": report.email, "vote": vote.name.lower() if vote else None,
                    "papers": report.paper_ids, "changed": report.changed})
        return
    verb = {"LIKE": "liked", "DISLIKE": "disliked", None: "forgot the votes on"}[vote_name]
    console.print(f"{report.email}: {verb} {len(report.paper_ids)} paper{'s' if len(report.paper_ids) != 1 else ''}"
                  f" ({report.changed} changed)", highlight=False, soft_wrap=True)


@handle_errors
def like(ctx: typer.Context, email: str = typer.Argument(..., help="The subscriber's address."),
         ids: List[str] = typer.Argument(..., help=IDS_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print what changed as JSON.")) -> None:
    """Like papers: their digests rank papers resembling these higher.

    Example:  digest subscribers like ada@example.org 2607.01234 10.1145/3580305.3599999
    """
    _vote(ctx, email, ids, "LIKE", as_json)


@handle_errors
def dislike(ctx: typer.Context, email: str = typer.Argument(..., help="The subscriber's address."),
            ids: List[str] = typer.Argument(..., help=IDS_HELP),
            as_json: bool = typer.Option(False, "--json", help="Print what changed as JSON.")) -> None:
    """Dislike papers: their digests rank papers resembling these lower.

    Example:  digest subscribers dislike ada@example.org 2607.04321
    """
    _vote(ctx, email, ids, "DISLIKE", as_json)


@handle_errors
def unlike(ctx: typer.Context, email: str = typer.Argument(..., help="The subscriber's address."),
           ids: List[str] = typer.Argument(..., help=IDS_HELP),
           as_json: bool = typer.Option(False, "--json", help="Print what changed as JSON.")) -> None:
    """Forget likes or dislikes of papers.

    Example:  digest subscribers unlike ada@example.org 2607.01234
    """
    _vote(ctx, email, ids, None, as_json)


@handle_errors
def likes(ctx: typer.Context, email: str = typer.Argument(..., help="The subscriber's address."),
          as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """List the papers a subscriber liked and disliked, newest first.

    Example:  digest subscribers likes ada@example.org --json
    """
    from digest.jobs import profiles

    voted = profiles.voted(runtime(ctx).engine, email)
    if as_json:
        print_json([{"key": v.key, "arxiv_id": v.arxiv_id, "title": v.title, "vote": v.vote.name.lower(),
                     "origin": str(v.origin), "at": v.created_at} for v in voted])
        return
    table = Table(title=f"{email}: {len(voted)} judged paper{'s' if len(voted) != 1 else ''}")
    for column in ("vote", "paper", "title", "from"):
        table.add_column(column, overflow="fold")
    for v in voted:
        table.add_row(v.vote.name.lower(), v.arxiv_id or v.key, v.title, str(v.origin))
    console.print(table)


@handle_errors
def import_library(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The subscriber's address."),
    file: Path = typer.Argument(..., help="A BibTeX (.bib), RIS (.ris) or Zotero CSV (.csv) export; - for stdin."),
    apply: bool = typer.Option(False, "--apply", help="Write the likes (all or nothing). Without it: a dry run."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Like every paper of a reference library (dry run unless --apply).

    Entries are matched to stored papers by arXiv id, then DOI, then title; entries not yet
    stored are kept from the file's title and abstract so they still shape the profile
    (they are never sent as new papers). Bad entries are reported by line and nothing is written.

    Example:  digest subscribers import-library ada@example.org my-library.bib --apply
    """
    import sys

    from digest.jobs import profiles

    data = sys.stdin.buffer.read() if str(file) == "-" else _read(file)
    engine = runtime(ctx).engine
    plan = profiles.plan_library(engine, email, data, name=str(file))
    if plan.problems:
        _show_plan(plan, as_json, applied=False)
        fail(f"{file}: {len(plan.problems)} bad entr{'ies' if len(plan.problems) != 1 else 'y'} "
             f"(first: {plan.problems[0]}); fix or remove them: nothing was written")
    if apply:
        profiles.apply_library(engine, plan)
    _show_plan(plan, as_json, applied=apply)


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as err:
        fail(f"{file}: cannot read it ({err.strerror})")


def _show_plan(plan, as_json: bool, *, applied: bool) -> None:
    if as_json:
        print_json(plan.as_dict() | {"applied": applied})
        return
    for problem in plan.problems:
        console.print(f"[red]{problem}[/]", highlight=False, soft_wrap=True)
    what = "liked" if applied else "would like"
    console.print(f"{plan.email}: {what} {len(plan.matched) + len(plan.new)} papers from {len(plan.parsed.entries)} "
                  f"entries ({len(plan.matched)} already stored, {len(plan.new)} stored from the file, "
                  f"{plan.already_liked} liked before)" + ("" if applied or plan.problems else "; run with --apply"),
                  highlight=False, soft_wrap=True)


COMMANDS = {"like": like, "dislike": dislike, "unlike": unlike, "likes": likes, "import-library": import_library}
