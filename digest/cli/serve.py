"""`digest serve`: the one long-running process a small operator needs.

Web app, scheduler and sender share one `Health`: a sender that dies or a scheduler job
that raises turns `/healthz` red (503) and is logged once with its cause, not silently
(the sender) or on every run (APScheduler's own per-run traceback is replaced by that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Iterator, Optional

import typer
import uvicorn
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler

from digest.cli.common import handle_errors, runtime
from digest.cli.run import smtp_dispatcher
from digest.health import Health
from digest.logs import configure_logging
from digest.scheduler import build_scheduler

log = logging.getLogger("digest.serve")


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM after its own shutdown: that would kill the process
    before the sender has finished its in-flight messages and handed back its leases."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


@handle_errors
def serve(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default DIGEST_HOST, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default DIGEST_PORT, 8000)."),
    log_format: Optional[str] = typer.Option(None, "--log-format", help="text or json (default DIGEST_LOG_FORMAT)."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Plan digests and poll sources here."),
    sender: bool = typer.Option(True, "--sender/--no-sender", help="Drain the outbox here (else run `digest worker`s)."),
) -> None:
    """Run the web app, the scheduler (planning, source polling) and a sender in one process.

    SIGTERM or Ctrl-C stops it gracefully: in-flight sends finish, leases are released.

    Example:  digest serve --host 0.0.0.0 --port 8000 --log-format json
    """
    rt = runtime(ctx)
    settings = rt.settings
    configure_logging(log_format or settings.log_format)
    asyncio.run(_serve(rt.engine, settings, host or settings.host, port or settings.port, scheduler, sender))


async def _serve(engine, settings, host: str, port: int, with_scheduler: bool, with_sender: bool) -> None:
    from digest.web import create_app

    health = Health()
    # proxy_headers off: the app believes X-Forwarded-For only from DIGEST_TRUSTED_PROXIES
    # (uvicorn's default would trust it from loopback, i.e. from any local reverse proxy's clients).
    server = _Server(uvicorn.Config(create_app(settings, engine, health=health), host=host, port=port, log_config=None,
                                    access_log=False, lifespan="on", proxy_headers=False))
    jobs = build_scheduler(engine, settings) if with_scheduler else None
    stop = asyncio.Event()
    dispatcher = smtp_dispatcher(engine, settings) if with_sender else None
    if jobs:
        watch_jobs(jobs, health)
        jobs.start()
    sending = asyncio.create_task(_send(dispatcher, stop)) if dispatcher else None
    if sending:
        sending.add_done_callback(lambda task: _sender_ended(task, health, stop))
    log.info("serving on http://%s:%d (scheduler %s, sender %s)", host, port, "on" if jobs else "off",
             "on" if dispatcher else "off")
    try:
        await server.serve()  # returns once uvicorn has handled SIGTERM/SIGINT
    finally:
        stop.set()
        if jobs:
            jobs.shutdown(wait=False)
        if sending:
            with contextlib.suppress(Exception):  # a crash was reported when it happened
                await sending
        log.info("stopped")


def _sender_ended(task: asyncio.Task, health: Health, stop: asyncio.Event) -> None:
    """A sender that ends before `stop` is set has crashed (or returned early): report it."""
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        health.fail("sender", err)
    elif not stop.is_set():
        health.fail("sender", "stopped unexpectedly")


def watch_jobs(scheduler: BaseScheduler, health: Health) -> None:
    """Scheduler job failures go to `health` ("scheduler:<job id>"): logged once when a job
    starts failing, once when it runs fine again, and `/healthz` is red in between."""

    def listen(event: JobExecutionEvent) -> None:
        part = f"scheduler:{event.job_id}"
        if event.exception is not None:
            health.fail(part, event.exception)
        else:
            health.recover(part)

    scheduler.add_listener(listen, EVENT_JOB_ERROR | EVENT_JOB_EXECUTED)
    # APScheduler logs every failed run with a traceback; `health` logs the first, once.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.CRITICAL)


async def _send(dispatcher, stop: asyncio.Event) -> None:
    async with dispatcher.sender:
        report = await dispatcher.drain(stop=stop, idle_wait=2.0)
    log.info("sender stopped: %s", report.as_dict())
