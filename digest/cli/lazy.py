"""Commands imported when they run, not when `digest` starts.

Importing every command module up front loads SQLAlchemy, Alembic, pydantic, httpx,
tantivy, Jinja2 ... (0.9 s before `digest --help` printed a line). `LazyGroup` lists
each command with a help line given here and imports its module only when that command
is invoked (or its own `--help` is asked for). `tests/unit/cli/test_lazy.py` checks each
help line against the command's docstring, so the two cannot drift apart.

The group also shapes what Typer prints: each command's help is reflowed when it is loaded
(`reflowed`), and a usage error is one line on stderr (`one_line_usage_errors`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable

import typer
import typer.core
from typer.core import TyperCommand, TyperGroup

# Typer >= 0.20 carries its own copy of click: its errors are that copy's classes.
_click: Any = getattr(typer.core, "_click", None)
if _click is None:  # an older Typer, on click itself
    import click as _click

UsageError: type[Exception] = _click.exceptions.UsageError
_ClickException: type[Exception] = _click.exceptions.ClickException

__all__ = ["Lazy", "LazyGroup", "UsageError", "lazy_group", "one_line_usage_errors", "reflowed"]


@dataclass(frozen=True, slots=True)
class Lazy:
    """A command by reference: `target` is "module:attribute" (a command function or a Typer
    app), or a function returning one; `help` is the line `digest --help` shows for it."""

    target: str | Callable[[], Any]
    help: str

    def load(self) -> Any:
        if callable(self.target):
            return self.target()
        module, _, attribute = self.target.partition(":")
        return getattr(import_module(module), attribute)


def reflowed(help_text: str | None) -> str | None:
    """`help_text` with the line breaks inside each paragraph made spaces, so the terminal
    wraps it. Docstrings break lines at ~100 characters, and Typer 0.29's rich help keeps
    those breaks after the first paragraph: at 80 columns every such line was cut in two,
    the second part a word or two long. Kept as written: a line that is indented or starts
    a list item ("- ", "* "), and a paragraph starting with click's no-rewrap mark \\b."""
    if not help_text:
        return help_text
    paragraphs = []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        if not paragraph.startswith("\b"):
            lines: list[str] = []
            for line in paragraph.split("\n"):
                if lines and not line[:1].isspace() and not line.startswith(("- ", "* ")):
                    lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
                else:
                    lines.append(line)
            paragraph = "\n".join(lines)
        paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _reflow_all(command: Any) -> None:
    command.help = reflowed(command.help)
    for sub in getattr(command, "commands", {}).values():
        _reflow_all(sub)


def _as_click(name: str, obj: Any, markup: Any) -> Any:
    if isinstance(obj, typer.Typer):  # a group, even of one command (get_command would unwrap it)
        command = typer.main.get_group(obj)
    else:  # a command function: a one-command app gives the click command itself
        single = typer.Typer(rich_markup_mode=markup)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    _reflow_all(command)
    return command


class LazyGroup(TyperGroup):
    """A TyperGroup whose commands in `lazy` are imported on first use (see the module docs)."""

    lazy: dict[str, Lazy] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.lazy.get(cmd_name)
        if spec is None:
            return None
        if self._listing:  # the command list of `digest --help`: the help line is enough
            return TyperCommand(name=cmd_name, help=spec.help)
        command = self.commands[cmd_name] = _as_click(cmd_name, spec.load(), self.rich_markup_mode)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():  # the subcommands' own parsing happens in here
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as err:
            # TyperGroup suggests close names from the loaded commands only; offer the lazy ones too.
            if self.suggest_commands and args and "Did you mean" not in err.message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    err.message = f"{err.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """A usage error (unknown option or command, missing argument, bad value) as one line on
    stderr, as every other error of this CLI is (`cli.common`), naming the help to read, in
    place of Typer's usage line, hint line and three-line box."""
    try:
        yield
    except _ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # bare `digest`: Typer prints the help
            raise
        from digest.cli.common import fail

        message = " ".join(err.format_message().split())
        ctx = getattr(err, "ctx", None)
        if ctx is not None and ctx.help_option_names:
            stop = "" if message.endswith((".", "?", "!")) else "."
            message = f"{message}{stop} See '{ctx.command_path} {ctx.help_option_names[-1]}'."
        fail(message, err.exit_code)


def lazy_group(commands: dict[str, Lazy]) -> type[LazyGroup]:
    """A LazyGroup class holding `commands` (typer.Typer takes a class, not an instance)."""
    return type("DigestGroup", (LazyGroup,), {"lazy": commands})
