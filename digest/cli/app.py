"""The `digest` command: one Typer app, one module per command group, each imported when it runs.

`digest --help` lists the commands from the table below without importing them (see
`digest.cli.lazy`), so it starts in a fraction of the time the full import takes.
"""

from __future__ import annotations

import typer

from digest import __version__
from digest.cli.lazy import Lazy, UsageError, lazy_group

# Usage mistakes are user errors: exit 1 like every other user error (click's default is 2,
# which this CLI keeps for system errors).
UsageError.exit_code = 1  # type: ignore[attr-defined]


def _subscribers_app() -> typer.Typer:
    from digest.cli.profile import COMMANDS as PROFILE_COMMANDS
    from digest.cli.subscribers import subscribers_app

    for name, command in PROFILE_COMMANDS.items():
        if name not in {info.name for info in subscribers_app.registered_commands}:
            subscribers_app.command(name)(command)
    return subscribers_app


# Every command, in the order `digest --help` lists them, with the help line it shows there
# (tests/unit/cli/test_lazy.py checks each against the command's own docstring).
COMMANDS = {
    "ingest": Lazy("digest.cli.ingest:ingest", "Ingest listing snapshots: parse, diff against known papers, store."),
    "demo": Lazy("digest.cli.demo:demo",
                 "Run the whole pipeline on the bundled samples: ingest, rank, render, send to a local sink."),
    "doctor": Lazy("digest.cli.doctor:doctor", "Check the deployment like Django's `check --deploy`: secret key, "
                   "https base URL, proxies, /metrics, the database (reachable, migrated, writable), the SMTP relay "
                   "(reachable, TLS, login) and the From domain's SPF, DKIM and DMARC records."),
    "stats": Lazy("digest.cli.stats:stats", "Counts of papers, snapshots, subscribers and deliveries by status, "
                  "mailbox reports, papers per listing day."),
    "rank": Lazy("digest.cli.rank:rank_command",
                 "Rank stored papers for a query and/or liked papers, best first, with why each was picked."),
    "preview": Lazy("digest.cli.rank:preview",
                    "Show the ranked papers a subscriber's next digest would hold if it were sent now."),
    "run": Lazy("digest.cli.run:run",
                "Plan the digests that are due and send them (and any confirmation emails waiting)."),
    "send-test": Lazy("digest.cli.run:send_test", "Send one subscriber a digest now, whatever their schedule "
                      "(it does not use up their next one)."),
    "worker": Lazy("digest.cli.run:worker", "Send from the outbox until stopped (SIGTERM/SIGINT finish in-flight "
                   "sends and release leases)."),
    "serve": Lazy("digest.cli.serve:serve",
                  "Run the web app, the scheduler (planning, source polling) and a sender in one process."),
    "feed": Lazy("digest.cli.feed:feed",
                 "Print a feed to stdout: the newest papers, one subscriber's ranked papers, or a search."),
    "mailbox": Lazy("digest.cli.mailbox:mailbox",
                    'Read new mail in DIGEST_IMAP_URL: act on bounces, complaints and "unsubscribe" mail.'),
    "papers": Lazy("digest.cli.ingest:papers_app", "Look at stored papers."),
    "subscribers": Lazy(_subscribers_app, "Manage subscribers: add, list, change, import, export."),
    "sources": Lazy("digest.cli.sources:sources_app", "Manage the URLs and folders polled for new snapshots."),
    "db": Lazy("digest.cli.db:db_app", "Database schema: create and migrate."),
}

app = typer.Typer(
    name="digest",
    cls=lazy_group(COMMANDS),
    help="Paper Digest: daily research-paper listings -> personal email digests and RSS/Atom feeds.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"paper-digest {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Paper Digest: daily research-paper listings -> personal email digests and RSS/Atom feeds.

    Settings come from DIGEST_* environment variables or ./digest.toml (see README).
    """


def main() -> None:
    app()
