"""The database crashes and restarts under load: clear 503s while it is down, recovery without
restarting the app, and no partial writes.

The app runs as it does in production (gunicorn, DEBUG off) against a private PostgreSQL server
that the test crashes (``pg_ctl stop -m immediate``) and starts again, while a few threads keep
reading through the API (token), reading a page (session) and writing five-row transactions.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.apps import apps
from django.contrib.auth.hashers import make_password
from psycopg2 import sql
from rest_framework.authtoken.models import Token

from config.middleware import OUTAGE_MESSAGE
from ops.backup import backup_database, default_target, restore_database
from tests.factories import UserFactory
from tests.security.outage_urls import BATCH_SIZE
from tests.security.private_postgres import PrivatePostgres

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
APP_DB = "trialdesk"


@dataclass
class Call:
    kind: str
    started: float
    ended: float
    status: int
    body: str
    retry_after: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_server():
    server = PrivatePostgres()
    yield server
    server.close()


@pytest.fixture
def app_on_private_server(private_server, tmp_path, password):
    """The schema and one user (with an API token) on the private server, and gunicorn on it."""
    # Argon2, the app's own hasher: the test settings' fast hasher is unknown to the app
    user = UserFactory(email="load@example.org")
    user.password = make_password(password, hasher="argon2")
    user.save(update_fields=["password"])
    token = Token.objects.create(user=user).key
    archive = backup_database(out=tmp_path / "schema.dump", target=default_target())
    restore_database(archive=archive, target_db=APP_DB, server=private_server.target())

    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "DJANGO_", "CELERY_"))
    }
    env.update(
        {
            "DATABASE_URL": private_server.database_url(APP_DB),
            "DATABASE_CONNECT_TIMEOUT": "2",
            "DJANGO_SETTINGS_MODULE": "tests.security.outage_settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "CELERY_BROKER_URL": "memory://",
            "PYTHONPATH": str(ROOT),
        }
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--threads=8",
                "--timeout=60",
                "--graceful-timeout=5",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/accounts/login/", timeout=5)
            break
        except requests.RequestException:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(f"gunicorn did not start:\n{log_path.read_text()}")
    yield base, token, proc, log_path
    proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def signed_in_session(base: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10)
    response = session.post(
        f"{base}/accounts/login/",
        data={
            "username": "load@example.org",
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session


class Load:
    """A few threads issuing requests until told to stop; every answer is recorded."""

    def __init__(self, base: str, token: str, session: requests.Session) -> None:
        self.base = base
        self.token = token
        self.session = session
        self.calls: list[Call] = []
        self.batches: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(kind, n), daemon=True)
            for n, kind in enumerate(["api", "api", "page", "write", "write"])
        ]

    def _request(self, kind: str, worker: int, seq: int) -> tuple[requests.Response, str | None]:
        if kind == "api":
            return requests.get(
                f"{self.base}/api/me/",
                headers={"Authorization": f"Token {self.token}"},
                timeout=20,
            ), None
        if kind == "page":
            return self.session.get(f"{self.base}/accounts/two-factor/", timeout=20), None
        batch = f"{worker}x{seq}"
        return requests.post(f"{self.base}/probe/batch/{batch}/", timeout=20), batch

    def _loop(self, kind: str, worker: int) -> None:
        seq = 0
        while not self._stop.is_set():
            seq += 1
            started = time.monotonic()
            try:
                response, batch = self._request(kind, worker, seq)
                status, body = response.status_code, response.text
                retry_after = response.headers.get("Retry-After")
            except requests.RequestException as exc:  # the app itself must never drop us
                batch, status, body, retry_after = None, 0, repr(exc), None
            call = Call(kind, started, time.monotonic(), status, body, retry_after)
            with self._lock:
                self.calls.append(call)
                if batch is not None:
                    self.batches[batch] = status
            time.sleep(0.03)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for_success(self, since: float, timeout: float) -> bool:
        """True once every kind of request has succeeded after ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                ok = {c.kind for c in self.calls if c.started >= since and c.status == 200}
            if ok == {"api", "page", "write"}:
                return True
            time.sleep(0.1)
        return False


def probe_rows(private_server: PrivatePostgres) -> tuple[dict[str, int], dict[str, int]]:
    """Rows per probe batch, and audit events per probe batch, on the private server."""
    site_table = apps.get_model("trials", "Site")._meta.db_table
    event_table = apps.get_model("trials", "SiteEvent")._meta.db_table
    conn = private_server.target(APP_DB).connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT code FROM {} WHERE code LIKE 'P%%'").format(
                    sql.Identifier(site_table)
                )
            )
            sites = [row[0] for row in cur.fetchall()]
            cur.execute(
                sql.SQL(
                    "SELECT code FROM {} WHERE code LIKE 'P%%' AND pgh_label = 'insert'"
                ).format(sql.Identifier(event_table))
            )
            events = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()

    def per_batch(codes: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for code in codes:
            batch = code[1:].rsplit("-", 1)[0]
            counts[batch] = counts.get(batch, 0) + 1
        return counts

    return per_batch(sites), per_batch(events)


def test_database_restart_under_load(app_on_private_server, private_server, password):
    base, token, gunicorn, log_path = app_on_private_server
    load = Load(base, token, signed_in_session(base, password))
    # given: the app answers under load
    load.start()
    assert load.wait_for_success(since=0, timeout=15)

    # when: the database crashes, stays down a few seconds, and comes back
    private_server.stop("immediate")
    down_from = time.monotonic()
    time.sleep(2)
    down_until = time.monotonic()
    private_server.start()
    recovered = load.wait_for_success(since=time.monotonic(), timeout=15)
    load.stop()

    # then: only 200s and 503s, never a 500, a traceback or a dropped connection
    calls = list(load.calls)
    assert recovered, "the app did not recover after the database came back"
    unexpected = [(c.kind, c.status, c.body[:200]) for c in calls if c.status not in (200, 503)]
    assert not unexpected, (unexpected[:3], log_path.read_text()[-5000:])
    assert not [c for c in calls if "Traceback" in c.body]
    # every request made while the database was down was a clear 503
    while_down = [c for c in calls if c.started >= down_from and c.ended <= down_until]
    assert {c.kind for c in while_down} == {"api", "page", "write"}
    assert {c.status for c in while_down} == {503}
    for call in (c for c in calls if c.status == 503):
        assert call.retry_after == "10"
        if call.kind == "api":
            assert call.body == f'{{"detail": "{OUTAGE_MESSAGE}"}}'
        else:
            assert "Temporarily unavailable" in call.body
            assert OUTAGE_MESSAGE in call.body
    # the app recovered by itself: same process, one worker ever booted
    assert gunicorn.poll() is None
    assert len(re.findall(r"Booting worker", log_path.read_text())) == 1
    # no partial writes: each five-row transaction is all there or not at all, with its audit
    rows, events = probe_rows(private_server)
    assert set(rows.values()) <= {BATCH_SIZE}
    assert events == rows
    succeeded = {b for b, status in load.batches.items() if status == 200}
    assert succeeded <= set(rows)
    assert succeeded
