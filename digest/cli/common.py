"""What every command shares: the runtime (settings, engine), error handling and output.

Exit codes: 0 success, 1 user error (bad input, bad query, unknown subscriber, bad
usage), 2 system error (database, network, SMTP). Errors are one line on stderr.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar

import typer
from rich.console import Console

from digest.errors import DigestError

if TYPE_CHECKING:  # imported when first used: `digest --help` never loads SQLAlchemy or pydantic
    from sqlalchemy import Engine

    from digest.config import Settings

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Runtime:
    """Settings and engine, built on first use so `--help` never touches the database."""

    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: "Settings | None" = None
    _engine: "Engine | None" = None

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from digest.config import load_settings

            self._settings = load_settings(**self.overrides)
        return self._settings

    @property
    def engine(self) -> "Engine":
        if self._engine is None:
            from digest.store.db import open_engine

            self._engine = open_engine(self.settings.database_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime()
        root.call_on_close(root.obj.close)
    return root.obj


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def handle_errors(function: F) -> F:
    """Turn expected failures into one line on stderr and the matching exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DigestError as err:
            fail(str(err), err.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as err:
            if _is_database_error(err):
                reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
                fail(f"database error: {reason}", 2)
            raise

    return wrapper  # type: ignore[return-value]


def _is_database_error(err: Exception) -> bool:
    # SQLAlchemy is imported only if something failed, and only if it was ever loaded.
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(err, exc.SQLAlchemyError)


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=indent)


def print_json(value: Any, *, indent: int | None = 2) -> None:
    """JSON on stdout, unwrapped, for scripts."""
    sys.stdout.write(to_json(value, indent=indent) + "\n")
    sys.stdout.flush()


def interactive() -> bool:
    return sys.stderr.isatty()
