"""IMWG throughput: recompute every patient's response through the response engine.

    DATABASE_NAME=trialdesk_bench python -m bench.imwg [--trial BENCH01]

One bulk read of the engine's inputs (``response.selectors.imwg_inputs_bulk``: the treatment
start and death date of every patient, and the response labs of done visits reduced in SQL to
one row per visit, a fixed number of queries), then ``evaluate`` per patient, in memory.
Nothing is written: this measures the read and the rules, not the storage of the calls.

``seconds`` is the wall time of the read and the engine together (the rate divides by it);
``read_seconds`` and ``engine_seconds`` split it. Neither the dataset's load, nor Django's
start-up, nor the imports are in it. ``cpu_seconds`` is this process's CPU time over the same
span (the database server's is not in it), and ``load_average`` the machine's one-minute load
when the run ended: on a busy machine the wall time is longer than the work. ``assessments``
is the number of timepoints the engine evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def measure_imwg(trial_code: str | None = None) -> dict:
    """Evaluate every IMWG patient (of ``trial_code``, else of every trial); return the
    patients, assessments (timepoints evaluated) and the wall time of the read and the engine
    (see the module's docstring)."""
    from response.domain.imwg import evaluate
    from response.selectors import imwg_inputs_bulk

    started, cpu_started = time.perf_counter(), time.process_time()
    inputs = imwg_inputs_bulk(trial_codes=[trial_code] if trial_code else None)
    read = time.perf_counter() - started
    patients = assessments = 0
    for case in inputs.values():
        result = evaluate(case)
        patients += 1
        assessments += len(result.assessments)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "patients": patients,
        "assessments": assessments,
        "seconds": round(seconds, 3),
        "read_seconds": round(read, 3),
        "engine_seconds": round(seconds - read, 3),
        "cpu_seconds": round(cpu, 3),
        "load_average": round(os.getloadavg()[0], 2),
        "assessments_per_second": round(assessments / seconds) if seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="IMWG recomputation throughput.")
    parser.add_argument("--trial", default=None, help="one trial code (default: every trial)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    print(json.dumps(measure_imwg(args.trial), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
