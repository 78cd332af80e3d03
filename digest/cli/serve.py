"""`digest serve`: the one long-running process a small operator needs.

Web app, scheduler and sender share one `Health`: a sender that dies or a scheduler job
that raises turns `/healthz` red (503) and is logged once with its cause, not silently
(the sender) or on every run (APScheduler's own per-run traceback is replaced by that).
A crashed sender is started again after a growing pause (1 s doubling to 5 min: a database
restart must not end sending for good); `/healthz` is green again once a restarted sender
has kept running for SENDER_RECOVERED_AFTER seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Iterator, Optional

import typer
import uvicorn
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler

from digest.cli.common import handle_errors, runtime
from digest.health import Health
from digest.jobs.dispatch import dispatcher_for
from digest.logs import configure_logging
from digest.scheduler import build_scheduler

log = logging.getLogger("digest.serve")

SENDER_RECOVERED_AFTER = 30.0
SENDER_RESTART_DELAYS = (1.0, 300.0)  # first pause, longest pause


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
    settings.secret()  # no key, no start: refused before the database is touched
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
    if with_sender:
        dispatcher_for(engine, settings)  # a bad mail setting fails here, at start, not in the loop
    if jobs:
        watch_jobs(jobs, health)
        jobs.start()
    make = (lambda: dispatcher_for(engine, settings)) if with_sender else None
    sending = asyncio.create_task(keep_sending(make, stop, health)) if make else None
    log.info("serving on http://%s:%d (scheduler %s, sender %s)", host, port, "on" if jobs else "off",
             "on" if make else "off")
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


async def keep_sending(make_dispatcher, stop: asyncio.Event, health: Health, *,
                       recovered_after: float = SENDER_RECOVERED_AFTER,
                       delays: tuple[float, float] = SENDER_RESTART_DELAYS) -> None:
    """Drain the outbox until `stop`; a crash is reported to `health` ("sender", logged once),
    then a fresh dispatcher starts after a pause that doubles while crashes continue."""
    delay = delays[0]
    while not stop.is_set():
        healthy = asyncio.get_running_loop().call_later(recovered_after, health.recover, "sender")
        started = time.monotonic()
        try:
            await _send(make_dispatcher(), stop)
        except Exception as err:  # noqa: BLE001 - reported, and the sender starts again
            health.fail("sender", err)
        else:
            if not stop.is_set():
                health.fail("sender", "stopped unexpectedly")
        finally:
            healthy.cancel()
        if time.monotonic() - started > recovered_after:
            delay = delays[0]  # it had run fine for a while: this is a new episode
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, delays[1])


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
