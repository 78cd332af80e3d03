"""Running the real `digest` command in-process (Typer's CliRunner) with its own database."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from digest.cli.app import app


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(database_url, monkeypatch):
    """Call as cli("ingest", "file.txt", "--json"); runs against a fresh database per test."""
    monkeypatch.setenv("DIGEST_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None) -> Ran:
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run
