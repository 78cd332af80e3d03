"""The `digest` command: one Typer app, one module per command group."""

from __future__ import annotations

import click
import typer

from digest import __version__
from digest.cli.db import db_app
from digest.cli.demo import demo
from digest.cli.doctor import doctor
from digest.cli.feed import feed
from digest.cli.ingest import ingest, papers_app
from digest.cli.mailbox import mailbox
from digest.cli.profile import COMMANDS as PROFILE_COMMANDS
from digest.cli.rank import preview, rank_command
from digest.cli.run import run, send_test, worker
from digest.cli.serve import serve
from digest.cli.sources import sources_app
from digest.cli.stats import stats
from digest.cli.subscribers import subscribers_app

# Usage mistakes are user errors: exit 1 like every other user error (click's default is 2,
# which this CLI keeps for system errors).
click.exceptions.UsageError.exit_code = 1

app = typer.Typer(
    name="digest",
    help="Paper Digest: daily research-paper listings -> personal email digests and RSS/Atom feeds.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.command()(ingest)
app.command()(demo)
app.command()(doctor)
app.command()(stats)
app.command("rank")(rank_command)
app.command()(preview)
app.command()(run)
app.command("send-test")(send_test)
app.command()(worker)
app.command()(serve)
app.command()(feed)
app.command()(mailbox)
app.add_typer(papers_app, name="papers")
for _name, _command in PROFILE_COMMANDS.items():
    subscribers_app.command(_name)(_command)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(sources_app, name="sources")
app.add_typer(db_app, name="db")


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
