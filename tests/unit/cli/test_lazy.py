"""`digest` imports a command's module only when that command runs, and lists each with
the help line its own docstring starts with."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from digest.cli.app import COMMANDS, app

HEAVY = ("sqlalchemy", "alembic", "pydantic", "httpx", "tantivy", "jinja2", "aiosmtplib", "fastapi", "uvicorn")


def loaded_after(*args: str) -> set[str]:
    """Top-level packages imported by running `digest ARGS` in a fresh interpreter."""
    code = ("import sys\nfrom digest.cli.app import main\nsys.argv = ['digest', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('\\nLOADED', *sorted({name.split('.')[0] for name in sys.modules}))")
    ran = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    return set(ran.stdout.rsplit("LOADED", 1)[1].split())


def test_help_imports_no_heavy_module():
    assert not loaded_after("--help") & set(HEAVY)


def test_a_command_loads_only_what_it_needs():
    assert {"tantivy", "fastapi", "httpx", "aiosmtplib", "jinja2"}.isdisjoint(loaded_after("papers", "--help"))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_help_line_is_how_the_command_describes_itself(name):
    group = typer.main.get_command(app)
    command = group.get_command(typer.Context(group), name)
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own.startswith(COMMANDS[name].help), f"digest --help says {COMMANDS[name].help!r}, the command {own!r}"


def test_every_command_is_listed_and_runs(cli):
    listed = cli("--help").stdout
    assert all(name in listed for name in COMMANDS)
    assert cli("papers", "list", "--json").exit_code == 0
    assert cli("ingset").exit_code == 1  # a usage mistake is a user error


def loaded_by_import(*modules: str) -> set[str]:
    """Top-level packages imported by importing `modules` in a fresh interpreter."""
    code = "import sys\n" + "".join(f"import {name}\n" for name in modules) + \
        "print('LOADED', *sorted({name.split('.')[0] for name in sys.modules}))"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(ran.stdout.rsplit("LOADED", 1)[1].split())


def test_a_run_that_only_sends_never_loads_the_ranking_code():
    # Large runs plan in a process of their own (jobs.planner_process); the sending process
    # then pays no numpy or scikit-learn start-up.
    loaded = loaded_by_import("digest.cli.run", "digest.jobs.workers", "digest.jobs.dispatch")
    assert "aiosmtplib" in loaded
    assert {"numpy", "sklearn", "scipy"}.isdisjoint(loaded)


def test_run_forks_its_planner_before_loading_the_sending_code():
    # `digest run` starts the planner process first; the sending code (SMTP client,
    # templates, outbox) loads afterwards, while the planner builds its index.
    assert {"aiosmtplib", "jinja2", "css_inline"}.isdisjoint(loaded_after("run", "--help"))
    assert {"aiosmtplib", "jinja2", "css_inline"}.isdisjoint(loaded_by_import("digest.cli.run", "digest.jobs.workers"))
