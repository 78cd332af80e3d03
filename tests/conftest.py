"""Shared fixtures: sample files, and databases on SQLite and (when configured) PostgreSQL.

Database tests take the `database_url` fixture and so run once per backend. PostgreSQL
runs when DIGEST_TEST_DATABASE_URL is set (CI sets it); each test gets its own schema,
dropped afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from digest.cli.app import app
from digest.store.db import open_engine

pytest_plugins = ["tests.smtp_server"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "digest" / "samples"
DATA = ROOT / "tests" / "data"
PG_URL = os.environ.get("DIGEST_TEST_DATABASE_URL", "")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """No test reads the developer's own config or writes to their data dir."""
    for name in list(os.environ):
        if name.startswith("DIGEST_") and name != "DIGEST_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DIGEST_DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_fetch_waits(monkeypatch):
    """CLI runs fetch 127.0.0.1 back to back: no per-host spacing, no backoff between attempts.

    The CLI builds its own Fetcher, which reads these process-wide values when it is made."""
    from digest import fetch
    from digest.ratelimit import Pacer

    monkeypatch.setattr(fetch, "HOSTS", Pacer(1e-6))
    monkeypatch.setattr(fetch, "BACKOFF_SECONDS", 0.0)


@pytest.fixture
def mail_env(monkeypatch, smtp_sink):
    """Settings pointing the CLI and jobs at the test SMTP sink, with a base URL and sender."""
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(smtp_sink.port))
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret-key-for-signing-links")
    monkeypatch.setenv("DIGEST_BASE_URL", "https://digest.example.org")
    monkeypatch.setenv("DIGEST_FROM", "Paper Digest <digest@example.org>")
    return smtp_sink


@pytest.fixture
def inbox(tmp_path) -> Path:
    """An empty folder to use as a folder source."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options={quote(f'-csearch_path={schema}')}", schema


def _drop_schema(base: str, schema: str) -> None:
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need DIGEST_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    url, schema = _postgres_schema_url(PG_URL)
    yield url
    _drop_schema(PG_URL, schema)


@pytest.fixture
def engine(database_url):
    """A migrated engine on a fresh database (each backend)."""
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


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
