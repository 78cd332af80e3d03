"""Every command's --help reads as prose at 80 columns: its paragraphs are wrapped by the
terminal, not cut where the docstring's lines happened to end."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from digest.cli.app import app
from digest.cli.lazy import reflowed

WIDTH = 80


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of `digest`, as the words that name it."""
    root = typer.main.get_command(app)
    paths = []

    def walk(group, prefix: tuple[str, ...]) -> None:
        for name in group.list_commands(typer.Context(group)):
            command = group.get_command(typer.Context(group), name)
            paths.append((*prefix, name))
            if hasattr(command, "commands"):
                walk(command, (*prefix, name))

    walk(root, ())
    return paths


def prose(help_output: str) -> list[list[str]]:
    """The paragraphs of the help text above the option boxes, each a list of its lines."""
    text = help_output.split("╭", 1)[0]
    paragraphs, current = [], []
    for line in text.splitlines()[1:]:
        if line.strip() and not line.lstrip().startswith("Usage:"):
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    return paragraphs + ([current] if current else [])


def ragged_breaks(paragraphs: list[list[str]]) -> list[str]:
    """Lines followed, in the same paragraph, by a line whose first word would have fit on them."""
    found = []
    for lines in paragraphs:
        for line, after in zip(lines, lines[1:]):
            first_word = after.split()[0]
            if len(line) + 1 + len(first_word) < WIDTH - 1:
                found.append(f"{line!r} then {after!r}")
    return found


def test_the_detector_sees_ragged_help():
    ragged = [[" Failures are retried", " later with backoff; 5xx replies are final."]]
    filled = [[" " + "word " * 15 + "Failures are", " retried later with backoff."]]
    assert ragged_breaks(ragged) and not ragged_breaks(filled)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_help_paragraphs_are_wrapped_at_80_columns(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert ragged_breaks(prose(result.output)) == [], f"digest {' '.join(path)} --help"


def test_reflowed_joins_a_paragraphs_lines_and_keeps_paragraphs():
    text = """Send it.

        Failures are retried
        later with backoff.

        Example:  digest run --now"""
    assert reflowed(text) == "Send it.\n\nFailures are retried later with backoff.\n\nExample:  digest run --now"


def test_reflowed_keeps_indented_lines_list_items_and_no_rewrap_paragraphs():
    text = "Title.\n\nSteps:\n- first\n- second\n  continued\n\n\b\nkeep\nthese"
    assert reflowed(text) == text
    assert reflowed(None) is None and reflowed("") == ""
