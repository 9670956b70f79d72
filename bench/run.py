"""``make bench``: build the benchmark databases, measure everything, write bench/results.json.

    python -m bench.run [--reuse] [--seconds 10] [--only http,queries,...]

Steps, each in a subprocess with its own environment (``DATABASE_NAME``, broker), so one Django
process never sees two databases:

1. Databases ``trialdesk_bench_small`` and ``trialdesk_bench_large`` (and
   ``trialdesk_bench_latency``) are created on the embedded server, or on ``DATABASE_URL``'s
   server when that is set, re-created from scratch (``--reuse`` keeps them and their data),
   migrated, and filled by ``bench.generate`` (the demo database is never touched).
2. Queries per page on both datasets (``bench.queries``).
3. HTTP: gunicorn with production settings on the large database, wrk at 16 connections
   (``bench.http``): the ``/api/ping/`` baseline and every page.
4. ``export_endpoints`` on the 10,000-patient trial against SQL + lifelines (``bench.export``).
5. Decision latency with a real Celery worker, PostgreSQL broker then Redis (``bench.latency``).
6. The IMWG recompute rate (``bench.imwg``).

A part that fails records ``{"error": "..."}`` in its section; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PAGES = ("patient_list", "patient_detail", "visit_save", "dose_grid", "api_patients")
SECTIONS = ("queries", "http", "export", "latency", "imwg")
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "trialdesk_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
JSON_LINE = "BENCH_JSON "

# --- Targets (docs/benchmarks.md) ----------------------------------------------------------------

TARGETS = {
    "p95_ms": 100,
    "rps_ratio": 0.25,
    "export_ratio": 2.0,
    "decision_median_s": {"redis": 1.0, "postgres": 2.0},
    "imwg_assessments_per_s": 50_000,
}


def _error(exc: BaseException | str) -> dict[str, str]:
    if isinstance(exc, BaseException):
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"error": exc}


def _ok(section: Any) -> bool:
    return isinstance(section, dict) and "error" not in section


def build_results(
    *,
    dataset: dict[str, Any],
    http: dict[str, Any],
    queries: dict[str, Any],
    export: dict[str, Any],
    latency: dict[str, Any],
    imwg: dict[str, Any],
    machine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble bench/results.json from the parts' outputs (pure: no I/O, no clock).

    ``queries`` is ``{"small": {page: n}, "large": {page: n}}`` and is turned round to
    ``{page: {"small", "large"}}``; ``latency`` is ``{"postgres": {...}, "redis": {...}}``.
    Any part may be ``{"error": "..."}``, which is kept as it is.
    """
    results: dict[str, Any] = {"dataset": dataset}

    if _ok(http):
        baseline = http.get("baseline", _error("no baseline"))
        pages: dict[str, Any] = {}
        for name in PAGES:
            page = http.get("pages", {}).get(name, _error("not measured"))
            if _ok(page) and _ok(baseline) and baseline.get("rps"):
                page = {
                    **page,
                    "rps_ratio": round(page["rps"] / baseline["rps"], 3),
                    "p95_ratio": round(page["p95_ms"] / baseline["p95_ms"], 2)
                    if baseline.get("p95_ms")
                    else None,
                }
            pages[name] = page
        results["http"] = {
            **{k: v for k, v in http.items() if k not in ("baseline", "pages")},
            "concurrency": http.get("concurrency", 16),
            "baseline": baseline,
            "pages": pages,
        }
    else:
        results["http"] = http

    if _ok(queries):
        small, large = queries.get("small", {}), queries.get("large", {})
        turned: dict[str, Any] = {}
        for page in sorted(set(small) | set(large)):
            turned[page] = {"small": small.get(page), "large": large.get(page)}
        for scale, part in (("small", small), ("large", large)):
            if not _ok(part):
                turned.setdefault("error", {})[scale] = part["error"]
        results["queries"] = turned
    else:
        results["queries"] = queries

    if _ok(export) and export.get("baseline_seconds"):
        export = {**export, "ratio": round(export["seconds"] / export["baseline_seconds"], 2)}
    results["export"] = export

    results["decision_latency_s"] = {
        broker: latency.get(broker, _error("not measured")) if _ok(latency) else latency
        for broker in ("postgres", "redis")
    }

    if _ok(imwg) and imwg.get("seconds"):
        imwg = {**imwg, "assessments_per_s": round(imwg["assessments"] / imwg["seconds"])}
    results["imwg"] = imwg

    results["verdict"] = verdict(results)
    if machine is not None:
        results["machine"] = machine
    return results


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Each target: True (met), False (missed) or None (not measured)."""
    out: dict[str, Any] = {}
    http = results.get("http", {})
    for name, page in (http.get("pages") or {}).items():
        if _ok(page):
            out[f"{name}.p95"] = page["p95_ms"] <= TARGETS["p95_ms"]
            ratio = page.get("rps_ratio")
            out[f"{name}.rps_ratio"] = None if ratio is None else ratio >= TARGETS["rps_ratio"]
        else:
            out[f"{name}.p95"] = out[f"{name}.rps_ratio"] = None
    for page, counts in (results.get("queries") or {}).items():
        if page != "error" and isinstance(counts, dict) and "small" in counts:
            known = counts["small"] is not None and counts["large"] is not None
            out[f"queries.{page}"] = counts["small"] == counts["large"] if known else None
    export = results.get("export", {})
    out["export"] = export["ratio"] <= TARGETS["export_ratio"] if "ratio" in export else None
    for broker, limit in TARGETS["decision_median_s"].items():
        part = results.get("decision_latency_s", {}).get(broker, {})
        out[f"decision_latency.{broker}"] = part["median"] <= limit if _ok(part) else None
    imwg = results.get("imwg", {})
    rate = imwg.get("assessments_per_s") if _ok(imwg) else None
    out["imwg"] = None if rate is None else rate >= TARGETS["imwg_assessments_per_s"]
    return out


# --- Databases ---------------------------------------------------------------------------------


def _server_params() -> dict[str, Any]:
    """psycopg2 connection parameters of the server the benchmark databases live on."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        db = dj_database_url.parse(url)
        return {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
    from config import embedded_db

    server = embedded_db.ensure_running()
    return {"host": server.socket_dir, "port": server.port, "user": server.user}


def _admin_sql(statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **_server_params())
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _database_exists(name: str) -> bool:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **_server_params())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cur.fetchone() is not None
    finally:
        conn.close()


def create_database(name: str, *, reuse: bool) -> bool:
    """Create ``name`` (dropping an old one unless ``reuse``). True when it was created new."""
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"refusing to touch {name}: not a benchmark database")
    if reuse and _database_exists(name):
        return False
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_sql(f'CREATE DATABASE "{name}"')
    return True


def db_env(name: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_NAME": name,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_QUEUE": f"bench-{name}-{os.getpid()}",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra)
    return env


def migrate(name: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=db_env(name),
        check=True,
    )


# --- Parts, each run in a subprocess ---------------------------------------------------------


def run_part(part: str, env: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    """Run ``python -m bench.run --part PART`` and return the JSON it prints last."""
    cmd = [sys.executable, "-m", "bench.run", "--part", part, "--kwargs", json.dumps(kwargs)]
    print(f"- {part} {sorted(kwargs)} (DATABASE_NAME={env.get('DATABASE_NAME')})", flush=True)
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=None, text=True
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(JSON_LINE)]
    for line in proc.stdout.splitlines():
        if not line.startswith(JSON_LINE):
            print(f"  {line}", flush=True)
    if not lines:
        return _error(f"part {part} exited with {proc.returncode} and no result")
    result = json.loads(lines[-1][len(JSON_LINE) :])
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return result


def _part_generate(scale: str) -> dict[str, Any]:
    from bench.generate import generate

    result = generate(scale=scale)
    return {"targets": result["targets"], "counts": result["counts"], "seconds": result["seconds"]}


def _part_queries(targets: dict[str, Any]) -> dict[str, Any]:
    from bench.queries import count_queries

    return count_queries(targets)


def _part_http(targets: dict[str, Any], seconds: float, only: list[str] | None) -> dict[str, Any]:
    from django.conf import settings

    from bench.http import measure_http

    return measure_http(
        targets,
        database_name=settings.DATABASES["default"]["NAME"],
        var_dir=Path(settings.VAR_DIR) / "bench" / "http",
        seconds=seconds,
        warmup_seconds=min(3.0, seconds),
        only=only,
    )


def _part_export(trial_code: str) -> dict[str, Any]:
    from bench.export import measure_export

    return measure_export(trial_code)


def _part_latency(events: int) -> dict[str, Any]:
    from django.conf import settings

    from bench.latency import measure_decision_latency

    return measure_decision_latency(
        events=events, log_dir=Path(settings.VAR_DIR) / "bench" / "latency"
    )


def _part_imwg() -> dict[str, Any]:
    from bench.imwg import measure_imwg

    return measure_imwg()


PARTS = {
    "generate": _part_generate,
    "queries": _part_queries,
    "http": _part_http,
    "export": _part_export,
    "latency": _part_latency,
    "imwg": _part_imwg,
}


def part_main(part: str, kwargs: dict[str, Any]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    try:
        result = PARTS[part](**kwargs)
    except Exception as exc:  # noqa: BLE001 - reported to the orchestrator as the section's error
        traceback.print_exc()
        result = _error(exc)
    print(JSON_LINE + json.dumps(result, default=str), flush=True)
    return 0


# --- The orchestrator ----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), None)
        info["cpu_model"] = model
        with open("/proc/meminfo") as f:
            total_kb = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal")))
        info["memory_gb"] = round(total_kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        import psycopg2

        conn = psycopg2.connect(dbname="postgres", **_server_params())
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            info["postgresql"] = cur.fetchone()[0]
        conn.close()
    except Exception as exc:  # noqa: BLE001 - machine info is best effort
        info["postgresql"] = f"unknown ({type(exc).__name__})"
    return info


def prepare(scale: str, *, reuse: bool) -> dict[str, Any]:
    """The ``scale`` database, migrated and generated; returns the generator's output."""
    name = f"{DB_PREFIX}_{scale}"
    created = create_database(name, reuse=reuse)
    migrate(name)
    targets_file = ROOT / "var" / "bench" / f"targets-{scale}.json"
    if not created and targets_file.exists():
        print(f"- reusing {name} ({targets_file.relative_to(ROOT)})", flush=True)
        saved = json.loads(targets_file.read_text())
        return {"targets": saved["targets"], "counts": saved["counts"]}
    return run_part("generate", db_env(name), scale=scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="keep existing benchmark databases")
    parser.add_argument("--seconds", type=float, default=10, help="wrk seconds per endpoint")
    parser.add_argument("--events", type=int, default=50, help="decision-latency events")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--pages", default="", help="comma-separated subset of the http pages")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.part:
        return part_main(args.part, json.loads(args.kwargs))

    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    started = datetime.now(UTC)
    parts: dict[str, Any] = {s: _error("not run") for s in SECTIONS}
    generated: dict[str, Any] = {}
    needs_data = {"queries", "http", "export", "imwg"} & set(only)
    for scale in ("small", "large") if needs_data else ():
        try:
            generated[scale] = prepare(scale, reuse=args.reuse)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            generated[scale] = _error(exc)
    large = generated.get("large", _error("not generated"))
    small = generated.get("small", _error("not generated"))
    large_db = f"{DB_PREFIX}_large"

    if "queries" in only:
        parts["queries"] = {
            scale: (
                run_part("queries", db_env(f"{DB_PREFIX}_{scale}"), targets=g["targets"])
                if _ok(g)
                else g
            )
            for scale, g in generated.items()
        }
    if "http" in only:
        parts["http"] = (
            run_part(
                "http",
                db_env(large_db),
                targets=large["targets"],
                seconds=args.seconds,
                only=[p for p in args.pages.split(",") if p] or None,
            )
            if _ok(large)
            else large
        )
    if "export" in only:
        parts["export"] = (
            run_part("export", db_env(large_db), trial_code=large["targets"]["large_trial_code"])
            if _ok(large)
            else large
        )
    if "latency" in only:
        latency_db = f"{DB_PREFIX}_latency"
        try:
            # Re-created unless --reuse: its DLT window is dated from the day it was built.
            create_database(latency_db, reuse=args.reuse)
            migrate(latency_db)
            parts["latency"] = {
                "postgres": run_part("latency", db_env(latency_db), events=args.events),
                "redis": run_part(
                    "latency",
                    db_env(latency_db, CELERY_BROKER_URL=REDIS_URL),
                    events=args.events,
                ),
            }
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            parts["latency"] = _error(exc)
    if "imwg" in only:
        parts["imwg"] = run_part("imwg", db_env(large_db)) if _ok(large) else large

    dataset = dict(large["counts"]) if _ok(large) else dict(large)
    if _ok(small):
        dataset["small"] = small["counts"]
    machine = machine_info()
    machine["started"] = started.isoformat(timespec="seconds")
    machine["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results = build_results(
        dataset=dataset,
        http=parts["http"],
        queries=parts["queries"],
        export=parts["export"],
        latency=parts["latency"],
        imwg=parts["imwg"],
        machine=machine,
    )
    out = Path(args.out)
    if set(only) != set(SECTIONS) and out.exists():
        results = merge_previous(results, json.loads(out.read_text()), only=only)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_summary(results)
    print(f"\nWritten {out}")
    return 0


RESULT_KEYS = {
    "queries": "queries",
    "http": "http",
    "export": "export",
    "latency": "decision_latency_s",
    "imwg": "imwg",
}


def merge_previous(
    results: dict[str, Any], previous: dict[str, Any], *, only: list[str]
) -> dict[str, Any]:
    """A partial run (``--only``) keeps the previous run's figures for the other sections."""
    merged = dict(results)
    for section, key in RESULT_KEYS.items():
        if section not in only and key in previous:
            merged[key] = previous[key]
    if "error" in merged.get("dataset", {}) and "dataset" in previous:
        merged["dataset"] = previous["dataset"]
    merged["verdict"] = verdict(merged)
    return merged


def print_summary(results: dict[str, Any]) -> None:
    http = results.get("http", {})
    print("\nHTTP at", http.get("concurrency"), "connections")
    rows = [("baseline", http.get("baseline", {}))] + list((http.get("pages") or {}).items())
    for name, row in rows:
        if _ok(row) and "rps" in row:
            ratio = row.get("rps_ratio")
            print(
                f"  {name:15} {row['rps']:8.1f} req/s  p50 {row['p50_ms']:6.1f} ms  "
                f"p95 {row['p95_ms']:6.1f} ms" + (f"  ({ratio:.0%} of baseline)" if ratio else "")
            )
        else:
            print(f"  {name:15} {row.get('error') if isinstance(row, dict) else row}")
    print("Queries per page (small / large)")
    for page, counts in (results.get("queries") or {}).items():
        print(f"  {page:15} {counts}")
    print("Export", results.get("export"))
    print("Decision latency", results.get("decision_latency_s"))
    print("IMWG", results.get("imwg"))
    missed = [k for k, v in results.get("verdict", {}).items() if v is False]
    print("Targets missed:", ", ".join(missed) or "none")


if __name__ == "__main__":
    sys.exit(main())
