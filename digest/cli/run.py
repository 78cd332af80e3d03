"""`digest run` and `digest send-test`: plan what is due and send it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from digest.cli.common import console, err_console, handle_errors, print_json, runtime
from digest.jobs.workers import (
    plan_and_send,
    plan_and_send_here,
    processes_for,
    send_here,
)
from digest.logs import configure_logging

if TYPE_CHECKING:
    from digest.jobs.dispatch import Dispatcher

DRY_RUN_OUT = Path("digest-dry-run")


@handle_errors
def run(
    ctx: typer.Context,
    now: bool = typer.Option(False, "--now", help="Treat every active subscriber as due for their current period."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write what would be sent as .eml files; change nothing."),
    out: Path = typer.Option(DRY_RUN_OUT, "--out", help="Folder for --dry-run messages."),  # noqa: B008 - typer reads options so
    only: str | None = typer.Option(None, "--only", help="Only this subscriber."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    processes: int | None = typer.Option(
        None, "--processes", "-p", min=1,
        help="Processes sending, this one and N-1 others, each claiming from the outbox (default: one per CPU, "
             "up to 8, from 10,000 active subscribers, else 1)."),
) -> None:
    """Plan the digests that are due and send them (and any confirmation emails waiting).

    Safe to run again: a period is planned once, a message sent once. Failures are retried
    later with backoff; 5xx replies are final. Planning runs once, here, while this process
    and `--processes` - 1 others send, each claiming its own messages from the outbox.

    Example:  digest run --now --only ada@example.org --json
    """
    rt = runtime(ctx)
    if dry_run:
        from digest.jobs.dispatch import write_dry_run  # the sending code: loaded when used

        report = write_dry_run(rt.engine, rt.settings, out, force=now, only=only)
        err_console.print(f"dry run: wrote {report.written} message{'' if report.written == 1 else 's'} to {out}/ "
                          "(nothing was sent or recorded)",
                          highlight=False, soft_wrap=True)
        figures = report.as_dict()
    else:
        figures = _plan_and_send(rt, force=now, only=only, processes=processes)
    if as_json:
        print_json(figures)
    else:
        console.print(", ".join(f"{value} {name.replace('_', ' ')}" for name, value in figures.items()), highlight=False, soft_wrap=True)


def _plan_and_send(rt, *, force: bool, only: str | None, processes: int | None) -> dict:
    """Plan, then send from this process or (planning meanwhile) from sender processes."""
    count = 1 if only else processes_for(rt.engine, processes)
    if count == 1:
        done = plan_and_send_here(rt.engine, rt.settings, force=force, only=only)
    else:
        done = plan_and_send(rt.engine, rt.settings, processes=count, force=force)
    plan, report = done.plan, done.sent
    for error in report.errors[:20]:
        err_console.print(f"failed: {error}", highlight=False, soft_wrap=True)
    return {"planned": plan.planned, "skipped_empty": plan.skipped_empty, **report.as_dict(), "processes": count}


@handle_errors
def send_test(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="An existing subscriber."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Send one subscriber a digest now, whatever their schedule (it does not use up their next one).

    Example:  digest send-test ada@example.org
    """
    rt = runtime(ctx)
    from digest.jobs.planning import queue_test_digest  # the ranking code: `run` may plan in another process

    papers = queue_test_digest(rt.engine, email)
    report = send_here(rt.engine, rt.settings, only=email)
    figures = {"papers": papers, **report.as_dict()}
    if as_json:
        print_json(figures)
    elif report.sent:
        console.print(f"sent a test digest with {papers} papers to {email}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"not sent: {'; '.join(report.errors) or 'will be retried'}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@handle_errors
def worker(
    ctx: typer.Context,
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", min=1,
                                              help="Messages in flight at once (default: DIGEST_SMTP_POOL_SIZE)."),
    poll: float = typer.Option(2.0, "--poll", min=0.1, help="Seconds to wait when the outbox is empty."),
    log_format: str | None = typer.Option(None, "--log-format", help="text or json (default DIGEST_LOG_FORMAT)."),
) -> None:
    """Send from the outbox until stopped (SIGTERM/SIGINT finish in-flight sends and release leases).

    Run any number of workers on any number of hosts against one PostgreSQL database:
    each claims its own rows. Planning is the scheduler's job (`digest serve`).

    Example:  DIGEST_DATABASE_URL=postgresql+psycopg://digest@db/digest digest worker --concurrency 8
    """
    rt = runtime(ctx)
    settings = rt.settings
    configure_logging(log_format or settings.log_format)
    if concurrency:
        settings = settings.model_copy(update={"smtp_pool_size": concurrency})
    from digest.jobs.dispatch import dispatcher_for  # the sending code: loaded when used

    report = asyncio.run(_work(dispatcher_for(rt.engine, settings), poll))
    err_console.print(f"worker stopped: {report.as_dict()}", highlight=False, soft_wrap=True)


async def _work(dispatcher: Dispatcher, poll: float):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signame in ("SIGTERM", "SIGINT"):
        loop.add_signal_handler(getattr(signal, signame), stop.set)
    async with dispatcher.sender:
        return await dispatcher.drain(stop=stop, idle_wait=poll)
