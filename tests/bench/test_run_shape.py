"""bench/results.json has the shape the issue asks for, whatever the figures (no timings here)."""

from bench.latency import percentile
from bench.run import PAGES, build_results, merge_previous


def timing(rps, p50, p95):
    return {"rps": rps, "p50_ms": p50, "p95_ms": p95}


def fake_parts():
    return {
        "dataset": {"patients": 20000, "visits": 600000},
        "http": {
            "concurrency": 16,
            "baseline": timing(400.0, 30.0, 50.0),
            "pages": {name: timing(200.0, 40.0, 80.0) for name in PAGES},
        },
        "queries": {
            "small": dict.fromkeys(PAGES, 12),
            "large": {**dict.fromkeys(PAGES, 12), "patient_list": 13},
        },
        "export": {"patients": 10000, "seconds": 3.0, "baseline_seconds": 2.0},
        "latency": {
            "postgres": {"median": 0.4, "p95": 0.6},
            "redis": {"median": 0.1, "p95": 0.2},
        },
        "imwg": {"patients": 20000, "assessments": 100000, "seconds": 1.0},
    }


def test_the_results_have_every_required_key():
    results = build_results(**fake_parts())

    assert results["dataset"]["patients"] == 20000
    assert results["http"]["concurrency"] == 16
    assert set(results["http"]["baseline"]) >= {"rps", "p50_ms", "p95_ms"}
    assert set(results["http"]["pages"]) == {
        "patient_list",
        "patient_detail",
        "visit_save",
        "dose_grid",
        "api_patients",
    }
    for page in results["http"]["pages"].values():
        assert set(page) >= {"rps", "p50_ms", "p95_ms"}
    assert results["queries"]["patient_list"] == {"small": 12, "large": 13}
    assert set(results["export"]) >= {"patients", "seconds", "baseline_seconds"}
    assert set(results["decision_latency_s"]) == {"postgres", "redis"}
    assert set(results["decision_latency_s"]["redis"]) >= {"median", "p95"}
    assert set(results["imwg"]) >= {"patients", "assessments", "seconds"}


def test_each_page_is_a_ratio_to_the_baseline_and_each_target_has_a_verdict():
    results = build_results(**fake_parts())

    assert results["http"]["pages"]["dose_grid"]["rps_ratio"] == 0.5
    assert results["export"]["ratio"] == 1.5
    assert results["verdict"]["queries.patient_list"] is False
    assert results["verdict"]["queries.dose_grid"] is True
    assert results["verdict"]["export"] is True
    assert results["verdict"]["imwg"] is True


def test_a_failed_part_is_recorded_as_an_error_and_the_rest_is_kept():
    parts = fake_parts()
    parts["http"] = {"error": "RuntimeError: gunicorn did not answer within 90 s"}
    parts["latency"] = {"postgres": {"median": 0.4, "p95": 0.6}, "redis": {"error": "no redis"}}

    results = build_results(**parts)

    assert results["http"] == {"error": "RuntimeError: gunicorn did not answer within 90 s"}
    assert results["decision_latency_s"]["redis"] == {"error": "no redis"}
    assert results["verdict"]["decision_latency.redis"] is None
    assert results["verdict"]["decision_latency.postgres"] is True
    assert results["queries"]["api_patients"] == {"small": 12, "large": 12}


def test_the_95th_percentile_interpolates_between_ranks():
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.05


def test_a_partial_run_keeps_the_previous_figures_of_the_other_sections():
    previous = build_results(**fake_parts())
    parts = fake_parts()
    parts["http"] = {"error": "not run"}
    parts["imwg"] = {"patients": 1, "assessments": 10, "seconds": 1.0}

    merged = merge_previous(build_results(**parts), previous, only=["imwg"])

    assert merged["http"] == previous["http"]
    assert merged["imwg"]["assessments"] == 10
    assert merged["verdict"]["imwg"] is False
