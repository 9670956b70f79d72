"""The HTTP part of ``make bench``: gunicorn with production settings, loaded by wrk.

Runs inside ``python -m bench.run --part http`` (Django set up on the large benchmark database,
used only to pick the visits to save). gunicorn is a separate process group with the same
database and ``TRIALDESK_ENV=production``; wrk is a third process. Every endpoint is warmed up,
then measured for ``duration`` seconds at ``connections`` concurrent connections, one signed-in
session per connection (16 coordinators, not one coordinator 16 times).

Plain HTTP on the loopback interface: production redirects to HTTPS and sends HSTS unless
``DJANGO_SECURE_SSL_REDIRECT=0`` and ``DJANGO_HSTS_SECONDS=0``, which only this benchmark sets.
The session and CSRF cookies stay ``Secure``; the benchmark's own client sends them back
itself (a browser would not, over plain HTTP).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

logger = logging.getLogger("bench.http")

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = ROOT / "bench" / "lua" / "session.lua"
RESULT_LINE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_workers() -> int:
    """gunicorn's own advice: (2 × cores) + 1 sync workers."""
    return 2 * (os.cpu_count() or 1) + 1


def production_env(base: dict[str, str], *, database_name: str, var_dir: Path) -> dict[str, str]:
    """The environment of a production server on plain-HTTP loopback."""
    env = dict(base)
    env.update(
        {
            "TRIALDESK_ENV": "production",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Relaxed for the benchmark only: there is no TLS on the loopback interface.
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_HSTS_SECONDS": "0",
            "DATABASE_NAME": database_name,
            # Static files (collected, hashed) in the benchmark's own directory.
            "TRIALDESK_VAR_DIR": str(var_dir),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int, log_path: Path):
    """Collect static files, start gunicorn on a free port, yield its base URL."""
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{log_path.read_text()[-3000:]}")
            try:
                status, _, _ = request(base, "GET", "/accounts/login/")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 90 s")
            time.sleep(0.3)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


# --- A minimal client: no redirects followed, cookies kept by hand -----------------------------


def request(
    base: str,
    method: str,
    path: str,
    *,
    cookies: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> tuple[int, dict[str, list[str]], str]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {}
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        out: dict[str, list[str]] = {}
        for name, value in resp.getheaders():
            out.setdefault(name.lower(), []).append(value)
        return resp.status, out, text
    finally:
        conn.close()


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _take_cookies(headers: dict[str, list[str]], cookies: dict[str, str]) -> None:
    for line in headers.get("set-cookie", []):
        name, _, rest = line.partition("=")
        cookies[name.strip()] = rest.split(";", 1)[0]


class _FormParser(HTMLParser):
    """The named fields of every <form> on a page, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, str]] = []
        self._form: dict[str, str] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {}
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form[name] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._form[self._select] = value
                self._select_chosen = True
        elif tag == "textarea" and name:
            self._textarea = name
            self._form[name] = ""

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select:
            if not self._select_chosen and self._form is not None:
                self._form[self._select] = self._select_first or ""
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def page_forms(html: str) -> list[dict[str, str]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def login(base: str, email: str, password: str) -> dict[str, str]:
    """Sign in through the login form (CSRF, django-axes); return the session's cookies."""
    cookies: dict[str, str] = {}
    status, headers, html = request(base, "GET", "/accounts/login/")
    _take_cookies(headers, cookies)
    token = next(f["csrfmiddlewaretoken"] for f in page_forms(html) if "csrfmiddlewaretoken" in f)
    status, headers, _ = request(
        base,
        "POST",
        "/accounts/login/",
        cookies=cookies,
        body={"username": email, "password": password, "csrfmiddlewaretoken": token},
    )
    _take_cookies(headers, cookies)
    location = headers.get("location", [""])[0]
    if status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"login of {email} failed: HTTP {status}")
    if "/login/verify/" in location:
        raise RuntimeError(f"{email} has an authenticator: the benchmark signs in without one")
    return cookies


# --- wrk ----------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    method: str
    expect: int
    sessions: list[dict[str, Any]] = field(default_factory=list)


def _lua_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)


def write_lua_data(endpoint: Endpoint, path: Path) -> Path:
    rows = [
        f"{{cookie={_lua_string(s['cookie'])}, path={_lua_string(s['path'])}, "
        f"body={_lua_string(s.get('body', ''))}, version={int(s.get('version', 0))}}}"
        for s in endpoint.sessions
    ]
    sessions = ",\n  ".join(rows)
    path.write_text(
        f"return {{method={_lua_string(endpoint.method)}, expect={endpoint.expect}, "
        f"sessions={{\n  {sessions}\n}}}}\n"
    )
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed (make bench installs it with apt-get)")
    return found


def run_wrk(
    base: str, data_file: Path, *, seconds: float, connections: int, timeout_s: int = 10
) -> dict[str, float]:
    cmd = [
        wrk_binary(),
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        base,
        "--",
        str(data_file),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    match = RESULT_LINE.search(out.stdout)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    seconds_run = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p95_ms": round(raw["p95_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "requests": int(raw["requests"]),
        "unexpected": int(raw["unexpected"]),
        "errors": int(
            raw["connect_errors"]
            + raw["read_errors"]
            + raw["write_errors"]
            + raw["status_errors"]
            + raw["timeouts"]
        ),
    }


# --- The endpoints ------------------------------------------------------------------------------


def _visits_to_save(targets: dict, count: int) -> list[int]:
    """The target visit, then other recorded visits of the same site's patients (one per
    session: coordinators save their own patients' visits, not one visit 16 times at once)."""
    from trials.models import Visit

    first = Visit.objects.select_related("patient").get(pk=targets["visit_id"])
    others = list(
        Visit.objects.filter(
            patient__site_id=first.patient.site_id,
            patient__trial_id=first.patient.trial_id,
            patient__status=first.patient.status,
            kind=first.kind,
            status=first.status,
        )
        .exclude(patient_id=first.patient_id)
        .order_by("patient_id", "-pk")
        .distinct("patient_id")
        .values_list("pk", flat=True)[: count - 1]
    )
    return [first.pk, *others]


def _visit_session(base: str, cookies: dict[str, str], visit_id: int) -> dict[str, Any]:
    path = f"/visits/{visit_id}/"
    status, headers, html = request(base, "GET", path, cookies=cookies)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    form = next(f for f in page_forms(html) if "visit_date" in f)
    version = int(form.pop("version"))
    form.pop("notes", None)
    form["reason"] = "Benchmark: re-saved with a new note"
    return {
        "cookie": cookie_header(cookies),
        "path": path,
        "body": urlencode(form),
        "version": version,
    }


def _check_get(base: str, cookies: dict[str, str], path: str) -> None:
    status, headers, _ = request(base, "GET", path, cookies=cookies)
    if status != 200:
        where = headers.get("location", [""])[0]
        raise RuntimeError(f"GET {path} answered {status} {where}".strip())


def measure_http(
    targets: dict,
    *,
    database_name: str,
    var_dir: Path,
    connections: int = 16,
    seconds: float = 10,
    warmup_seconds: float = 3,
    workers: int | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Serve the large database with gunicorn and measure the baseline and every page."""
    workers = workers or default_workers()
    var_dir.mkdir(parents=True, exist_ok=True)
    env = production_env(os.environ, database_name=database_name, var_dir=var_dir)
    users = targets["users"]
    password = targets["password"]
    trial = targets["large_trial_code"]
    visit_ids = _visits_to_save(targets, connections)
    results: dict[str, Any] = {
        "concurrency": connections,
        "gunicorn_workers": workers,
        "seconds_per_endpoint": seconds,
        "pages": {},
    }
    with gunicorn(env, workers=workers, log_path=var_dir / "gunicorn.log") as base:
        sessions: dict[str, list[dict[str, str]]] = {}

        def signed_in(role: str) -> list[dict[str, str]]:
            if role not in sessions:
                email = users[role]["email"]
                sessions[role] = [login(base, email, password) for _ in range(connections)]
            return sessions[role]

        def gets(name: str, path: str, role: str) -> Endpoint:
            cookies = signed_in(role)
            _check_get(base, cookies[0], path)
            return Endpoint(
                name, "GET", 200, [{"cookie": cookie_header(c), "path": path} for c in cookies]
            )

        # The same requests as bench/queries.py counts.
        plan = {
            "baseline": lambda: gets("baseline", "/api/ping/", "coordinator"),
            "patient_list": lambda: gets(
                "patient_list",
                f"/patients/?trial={targets['site_trial_code']}&site={targets['site_code']}",
                "coordinator",
            ),
            "patient_detail": lambda: gets(
                "patient_detail", f"/patients/{targets['patient_id']}/", "coordinator"
            ),
            "visit_save": lambda: Endpoint(
                "visit_save",
                "POST",
                302,
                [
                    _visit_session(base, signed_in("coordinator")[i % connections], v)
                    for i, v in enumerate(visit_ids)
                ],
            ),
            "dose_grid": lambda: gets("dose_grid", f"/dosing/{trial}/", "investigator"),
            "api_patients": lambda: gets(
                "api_patients", f"/api/patients/?trial={trial}", "statistician"
            ),
        }
        for name, build in plan.items():
            if only and name not in only and name != "baseline":
                continue
            try:
                data_file = var_dir / f"wrk-{name}.lua"
                if warmup_seconds:
                    write_lua_data(build(), data_file)
                    run_wrk(base, data_file, seconds=warmup_seconds, connections=connections)
                # Built again after the warm-up: a save needs the visits' current versions.
                write_lua_data(build(), data_file)
                measured = run_wrk(base, data_file, seconds=seconds, connections=connections)
            except Exception as exc:  # noqa: BLE001 - one failed page must not lose the others
                logger.exception("http endpoint failed", extra={"endpoint": name})
                measured = {"error": f"{type(exc).__name__}: {exc}"}
            if name == "baseline":
                results["baseline"] = measured
            else:
                results["pages"][name] = measured
            print(f"  http {name}: {json.dumps(measured)}", flush=True)
    return results
