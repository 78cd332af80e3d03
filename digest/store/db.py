"""Engines and migrations.

`open_engine(url)` gives a ready database: a SQLite file is created and migrated on first
use (WAL mode, foreign keys on); PostgreSQL is migrated under an advisory lock so several
processes starting together upgrade it once.

A SQLite file's folder must exist: only `digest db upgrade` (an operator's explicit act,
`create_folder=True`) creates it. Otherwise a typo in DIGEST_DATABASE_URL would silently
start a second, empty database and the service would run with no subscribers.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

import digest
from digest.errors import DigestError

if TYPE_CHECKING:  # Alembic is imported only to migrate (see `_head_from_scripts`)
    from alembic.config import Config

# Any 64-bit number works; it only has to be the same in every process of this app.
MIGRATION_LOCK = 0x5D16E57


class DatabaseError(DigestError):
    """The database cannot be reached or used."""

    exit_code = 2


def migrations_dir() -> Path:
    """The Alembic scripts: inside the wheel, or the repo's db/ in a source checkout."""
    package = Path(digest.__file__).parent
    installed = package / "_migrations"
    return installed if installed.is_dir() else package.parent / "db"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin), so the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 16 MB of page cache per connection (the default is 2 MB): big ingests and imports spill
    # fewer dirty pages mid-transaction, and memory stays bounded with several connections.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes the write lock up front: a deferred one that reads first
    # fails at once with SQLITE_BUSY when another writer commits in between.
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# Each engine's write-options engine, made once: `Engine.execution_options()` builds a new
# OptionEngine per call (measured 6.5 us, plus its garbage; a 5,000-message run writes ~3,000 times).
_WRITE_ENGINES: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any error."""
    writer = _WRITE_ENGINES.get(engine)
    if writer is None:
        writer = _WRITE_ENGINES[engine] = engine.execution_options(sqlite_immediate=True)
    with writer.begin() as connection:
        yield connection


class SqliteWriter:
    """One pooled SQLite connection held for many short write transactions, driven through
    the sqlite3 module rather than a SQLAlchemy Connection: for the senders' settlements,
    thousands of commits of a few rows a run.

    It has what `store.bulk.execute_rows` needs (`dialect`, `exec_driver_sql`), so the
    store's statements run on it unchanged. Why: through `write_transaction` a commit of 3
    settlements cost ~170 us of CPU, most of it SQLAlchemy's connection checkout, BEGIN
    event, execution context and checkin; on the held driver connection ~60 us (measured
    over 5,000 rows, 3 a commit). Errors are raised as SQLAlchemy's (`DBAPIError`
    subclasses), as through a Connection. Not thread-safe: one user at a time.
    """

    def __init__(self, engine: Engine):
        if engine.dialect.name != "sqlite":
            raise ValueError(f"SqliteWriter needs a SQLite engine, not {engine.dialect.name}")
        self.dialect = engine.dialect
        self._pooled = engine.raw_connection()  # the pool's connect event set the pragmas
        self._driver = self._pooled.driver_connection  # autocommit (isolation_level None): we BEGIN

    @contextmanager
    def begin(self) -> Iterator["SqliteWriter"]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (as `write_transaction`)."""
        driver = self._driver
        try:
            driver.execute("BEGIN IMMEDIATE")
            yield self
            driver.execute("COMMIT")
        except BaseException as err:
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise DBAPIError.instance(None, None, err, sqlite3.Error) from err
            raise

    def exec_driver_sql(self, sql: str, params: list | tuple = ()) -> None:
        """Run `sql` once per parameter tuple of a list (executemany), or once with a tuple."""
        if isinstance(params, list):
            self._driver.executemany(sql, params)
        else:
            self._driver.execute(sql, params)

    def close(self) -> None:
        """Give the connection back to the pool; safe to call twice."""
        if self._pooled is not None:
            self._pooled.close()
            self._pooled = self._driver = None


def make_engine(url: str, *, create_folder: bool = False) -> Engine:
    """An Engine for `url`, SQLite pragmas set. A SQLite file's missing folder is created
    with `create_folder`, else refused (DatabaseError saying how to fix it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _sqlite_folder(Path(parsed.database).expanduser().parent, create=create_folder)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_folder(folder: Path, *, create: bool) -> None:
    if folder.is_dir():
        return
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatabaseError(f"cannot create the folder {folder} for the SQLite database: {err.strerror}") from None
        return
    raise DatabaseError(f"the folder {folder} of the SQLite database does not exist: check DIGEST_DATABASE_URL, "
                        f"or create it with `mkdir -p {folder}` or `digest db upgrade`")


def alembic_config(connection: Connection | None = None) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


_REVISION = re.compile(r"""^revision\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=(.*)$", re.MULTILINE)


def _head_from_scripts() -> str | None:
    """The newest migration's revision, read from the scripts' text; None when they are not
    a chain this can read (alembic then decides).

    Why not alembic's ScriptDirectory: importing it costs ~80 ms (alembic, mako, pygments)
    on every command's start, a fifth of `digest papers list`; reading four small files
    costs well under 1 ms. A wrong answer is harmless: a mismatch runs `upgrade`, where
    alembic itself compares the revisions.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision[1])
        parents.update(re.findall(r"""['"]([^'"]+)['"]""", down[1]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(connection: Connection) -> str | None:
    """The schema revision the database records (None for an empty database), in plain SQL."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys off while migrating, checked afterwards.

    A migration that rebuilds a parent table (batch mode: copy, drop, rename) would
    otherwise cascade the DROP into its children. The pragma only works outside a
    transaction, so it is set on the raw connection before SQLAlchemy begins one.
    """
    raw = connection.connection.dbapi_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise DatabaseError(f"migration left {len(broken)} rows with broken references (first: {broken[0]})")


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    if connection.dialect.name == "sqlite":
        with _sqlite_foreign_keys_off(connection):
            yield
        return
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
    else:
        yield


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the newest schema; safe to re-run. Returns (revision before, after)."""
    try:
        with engine.connect() as connection:
            with _migration_lock(connection):
                before = current_revision(connection)
                if before != head_revision():
                    from alembic import command

                    command.upgrade(alembic_config(connection), "head")
                after = current_revision(connection) or ""
                connection.commit()  # before the lock ends: SQLite's pragma needs no open transaction
            return before, after
    except OperationalError as err:
        raise DatabaseError(f"cannot open the database {engine.url!r}: {_reason(err)}") from None


def open_engine(url: str, *, create_folder: bool = False) -> Engine:
    """An Engine on a database at the newest schema (created and migrated if needed;
    a missing SQLite folder only with `create_folder`, see `make_engine`)."""
    engine = make_engine(url, create_folder=create_folder)
    try:
        with engine.connect() as connection:
            stored = _stored_revision(connection)
        up_to_date = stored is not None and stored == _head_from_scripts()
    except SQLAlchemyError as err:
        raise DatabaseError(f"cannot open the database {engine.url!r}: {_reason(err)}") from None
    if not up_to_date:
        upgrade(engine)
    return engine


def _reason(err: SQLAlchemyError) -> str:
    original = getattr(err, "orig", None) or err
    return str(original).strip().splitlines()[0]
