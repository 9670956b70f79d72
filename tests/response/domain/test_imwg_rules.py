"""IMWG engine rule by rule (IMWG research note sections 1 and 5): cases built from the rules,
not from the worked examples, including the boundaries the note calls out.

Every visit is a 28-day cycle after a baseline on 2025-01-06 unless a case gives a date.
"""

from datetime import date, timedelta

import pytest

from response.domain.imwg import (
    RULESET_VERSION,
    Assessment,
    Baseline,
    ImwgInput,
    ImwgResult,
    ImwgSettings,
    evaluate,
)

D0 = date(2025, 1, 6)


def day(k: int) -> date:
    return D0 + timedelta(days=28 * k)


def run(baseline: dict, visits: list[dict], *, new_therapy=None, death=None, **options):
    chosen = {"criteria": "IMWG2016", "nadir_policy": "lowest_observed"} | options
    return evaluate(
        ImwgInput(
            baseline=Baseline(date=D0, **baseline),
            assessments=tuple(
                Assessment(**({"date": day(i + 1)} | v)) for i, v in enumerate(visits)
            ),
            settings=ImwgSettings(**chosen),
            new_therapy_date=new_therapy,
            death_date=death,
        )
    )


def tps(result: ImwgResult) -> list[str]:
    return [a.timepoint for a in result.assessments]


def confs(result: ImwgResult) -> list[str | None]:
    return [a.confirmed for a in result.assessments]


# serum-only disease (urine collected, no M-spike)
SERUM_3 = {
    "serum_m_g_dl": 3.0,
    "urine_m_mg_24h": 0,
    "serum_ife": "positive",
    "urine_ife": "negative",
}


def s(value, **extra):
    """A serum-only visit: SPEP value, 24-h urine collected with no M-spike, IFE +/-."""
    return {
        "serum_m_g_dl": value,
        "urine_m_mg_24h": 0,
        "serum_ife": "positive",
        "urine_ife": "negative",
    } | extra


# FLC-only disease: kappa involved, dFLC 500 mg/L at baseline
FLC_ONLY = {"serum_m_g_dl": 0.3, "urine_m_mg_24h": 50, "kappa_mg_l": 510, "lambda_mg_l": 10}


def f(kappa, lam=10, **extra):
    return {"kappa_mg_l": kappa, "lambda_mg_l": lam} | extra


# ---------------------------------------------------------------- measurable disease (1.2)


@pytest.mark.parametrize(
    ("baseline", "measurable"),
    [
        ({"serum_m_g_dl": 1.0}, ("serum",)),
        ({"serum_m_g_dl": 0.99, "urine_m_mg_24h": 200}, ("urine",)),
        ({"serum_m_g_dl": 0.99, "urine_m_mg_24h": 199}, ()),
        (
            {"serum_m_g_dl": 0.5, "urine_m_mg_24h": 199, "kappa_mg_l": 150, "lambda_mg_l": 10},
            ("dflc",),
        ),
        ({"serum_m_g_dl": 0.5, "kappa_mg_l": 90, "lambda_mg_l": 5}, ()),
        ({"kappa_mg_l": 120, "lambda_mg_l": 100}, ()),
        ({"serum_m_g_dl": 1.2, "kappa_mg_l": 500, "lambda_mg_l": 10}, ("serum",)),
        ({"bmpc_percent": 30}, ("bmpc",)),
        ({"bmpc_percent": 29}, ()),
        ({"serum_m_g_dl": 2.0, "bmpc_percent": 45}, ("serum",)),
        ({"kappa_mg_l": 500, "lambda_mg_l": 10, "bmpc_percent": 60}, ("dflc",)),
        ({"serum_m_g_dl": 2.0, "plasmacytoma_spd_cm2": 10}, ("serum", "plasmacytoma")),
    ],
)
def test_measurable_disease_is_derived_from_baseline(baseline, measurable):
    assert run(baseline, []).measurable == measurable


def test_involved_light_chain_lambda_when_ratio_below_0_26():
    result = run({"kappa_mg_l": 20, "lambda_mg_l": 300}, [])

    assert result.trace.involved_light_chain == "lambda"
    assert result.trace.baseline_dflc == 280
    assert result.measurable == ("dflc",)


# ---------------------------------------------------------------- per-parameter ladder (5.2)


@pytest.mark.parametrize(
    ("serum", "expected"),
    [
        (0.3, "VGPR"),  # -90% exactly: "at least 90%"
        (0.31, "PR"),
        (1.5, "PR"),  # -50%
        (1.51, "MR"),
        (2.25, "MR"),  # -25%
        (2.26, "SD"),
    ],
)
def test_serum_ladder_boundaries_are_inclusive(serum, expected):
    baseline = SERUM_3 | {"serum_m_g_dl": 3.0}

    assert tps(run(baseline, [s(serum)])) == [expected]


@pytest.mark.parametrize(
    ("urine", "expected", "rule"),
    [
        (99, "VGPR", "U-VGPR"),
        (100, "PR", "U-PR-90"),  # < 100 is strict; -90% makes it PR
        (150, "PR", "U-PR-200"),
        (500, "MR", "U-MR"),
        (501, "SD", "U-SD"),
    ],
)
def test_urine_ladder_when_urine_is_measurable(urine, expected, rule):
    baseline = {"serum_m_g_dl": 0.4, "urine_m_mg_24h": 1000, "urine_ife": "positive"}

    result = run(baseline, [{"urine_m_mg_24h": urine, "urine_ife": "positive"}])

    assert tps(result) == [expected]
    assert result.assessments[0].trace.rule_id == rule


@pytest.mark.parametrize(
    ("urine", "options", "expected", "flag"),
    [
        (99, {}, "VGPR", None),
        (150, {}, "PR", None),  # urine >= 100 caps serum-only VGPR at PR
        (None, {}, "PR", "VGPR_PENDING_URINE"),
        (None, {"waive_urine_for_vgpr": True}, "VGPR", None),
    ],
)
def test_serum_only_disease_urine_caps_vgpr(urine, options, expected, flag):
    result = run(SERUM_3, [s(0.2, urine_m_mg_24h=urine)], **options)

    assert tps(result) == [expected]
    assert ("VGPR_PENDING_URINE" in result.assessments[0].flags) is (flag is not None)


@pytest.mark.parametrize(
    ("kappa", "expected"),
    [
        (60, "PR"),  # dFLC 50: -90% exactly, but VGPR needs "more than 90%"
        (59, "VGPR"),
        (260, "PR"),  # -50%
        (261, "SD"),  # MR is not defined for FLC-only disease
        (400, "SD"),
    ],
)
def test_dflc_ladder(kappa, expected):
    assert tps(run(FLC_ONLY, [f(kappa)])) == [expected]


def test_marrow_only_disease_pr_is_confirmed_on_one_marrow():
    result = run({"bmpc_percent": 60}, [{"bmpc_percent": 20}])

    assert tps(result) == ["PR"]
    assert confs(result) == ["PR"]
    assert result.best_overall_response == "PR"


def test_marrow_only_disease_reaches_cr_through_the_gates():
    baseline = {"bmpc_percent": 60, "serum_ife": "negative", "urine_ife": "negative"}

    result = run(baseline, [{"bmpc_percent": 3, "serum_ife": "negative", "urine_ife": "negative"}])

    assert tps(result) == ["CR"]
    assert set(result.assessments[0].flags) == {"SCR_PENDING_FLC_RATIO", "SCR_PENDING_CLONALITY"}


PLASMACYTOMA_CASE = SERUM_3 | {"plasmacytoma_spd_cm2": 10.0}


@pytest.mark.parametrize(
    ("criteria", "pct", "expected"),
    [
        ("IMWG2016", None, "SD"),  # 2016: MR needs >= 50% SPD reduction
        ("IMWG2016", 25, "MR"),
        ("IMWG2011", None, "MR"),  # 2011: 25-49%
        ("IMWG2011", 50, "SD"),
    ],
)
def test_mr_plasmacytoma_2016_vs_2011(criteria, pct, expected):
    visits = [s(2.1, plasmacytoma_spd_cm2=7.0), s(2.1, plasmacytoma_spd_cm2=7.0)]

    result = run(
        PLASMACYTOMA_CASE,
        visits,
        criteria=criteria,
        mr_plasmacytoma_min_reduction_pct=pct,
    )

    assert tps(result) == [expected, expected]
    assert result.trace.mr_plasmacytoma_min_reduction_pct == (
        pct or {"IMWG2016": 50, "IMWG2011": 25}[criteria]
    )


def test_imwg2006_has_no_mr():
    assert tps(run(SERUM_3, [s(2.1)], criteria="IMWG2006")) == ["SD"]


@pytest.mark.parametrize(("spd", "expected"), [(1.0, "VGPR"), (0.0, "sCR")])
def test_cr_needs_the_plasmacytoma_gone(spd, expected):
    baseline = {"serum_m_g_dl": 2.0, "urine_m_mg_24h": 0, "plasmacytoma_spd_cm2": 5.0}
    visit = {
        "serum_m_g_dl": 0,
        "urine_m_mg_24h": 0,
        "serum_ife": "negative",
        "urine_ife": "negative",
        "bmpc_percent": 2,
        "clonal_pc": "absent",
        "flc_ratio": 1.0,
        "plasmacytoma_spd_cm2": spd,
    }

    assert tps(run(baseline, [visit])) == [expected]


def test_missing_imaging_holds_the_last_spd_or_is_ne_by_setting():
    visits = [s(1.4, plasmacytoma_spd_cm2=4.0), s(1.3)]

    held = run(PLASMACYTOMA_CASE, visits)
    strict = run(PLASMACYTOMA_CASE, visits, plasmacytoma_missing_imaging="ne")
    never = run(PLASMACYTOMA_CASE, [s(1.3)])

    assert tps(held) == ["PR", "PR"]
    assert "IMAGING_HELD" in held.assessments[1].flags
    assert tps(strict) == ["PR", "NE"]
    assert tps(never) == ["NE"]
    assert "IMAGING_MISSING" in never.assessments[0].flags


# ---------------------------------------------------------------- CR / sCR gates


CR_BASELINE = {"serum_m_g_dl": 2.0, "urine_m_mg_24h": 0, "bmpc_percent": 45}
NEGATIVE = {
    "serum_m_g_dl": 0,
    "urine_m_mg_24h": 0,
    "serum_ife": "negative",
    "urine_ife": "negative",
}


@pytest.mark.parametrize(
    ("visit", "expected", "flags"),
    [
        (NEGATIVE | {"urine_ife": None, "bmpc_percent": 2}, "VGPR", {"CR_PENDING_IFE"}),
        (NEGATIVE, "VGPR", {"CR_PENDING_MARROW"}),
        (NEGATIVE | {"bmpc_percent": 5}, "VGPR", set()),  # < 5% is strict
        (NEGATIVE | {"bmpc_percent": 2, "flc_ratio": 1.0}, "CR", {"SCR_PENDING_CLONALITY"}),
        (NEGATIVE | {"bmpc_percent": 2, "clonal_pc": "absent"}, "CR", {"SCR_PENDING_FLC_RATIO"}),
        (NEGATIVE | {"bmpc_percent": 2, "clonal_pc": "absent", "flc_ratio": 1.7}, "CR", set()),
        (NEGATIVE | {"bmpc_percent": 2, "clonal_pc": "present", "flc_ratio": 1.0}, "CR", set()),
        (NEGATIVE | {"bmpc_percent": 2, "clonal_pc": "absent", "flc_ratio": 1.65}, "sCR", set()),
        # SPEP still shows a spike: CR is out of reach, so no "pending" noise
        (NEGATIVE | {"serum_m_g_dl": 0.1, "serum_ife": None}, "VGPR", set()),
    ],
)
def test_cr_and_scr_gates(visit, expected, flags):
    result = run(CR_BASELINE, [visit])

    assert tps(result) == [expected]
    assert set(result.assessments[0].flags) - {"RESPONSE_PENDING_CONFIRMATION"} == flags


@pytest.mark.parametrize(
    ("kappa", "extra", "expected"),
    [
        (15, {}, "sCR"),  # ratio 1.5 normal
        (30, {}, "VGPR"),  # ratio 3.0: FLC-only CR needs a normal ratio
        (None, {"lambda_mg_l": None}, "NE"),
    ],
)
def test_flc_only_cr_needs_a_normal_ratio(kappa, extra, expected):
    visit = f(kappa) | NEGATIVE | {"bmpc_percent": 2, "clonal_pc": "absent"} | extra

    assert tps(run(FLC_ONLY, [visit])) == [expected]


def test_last_marrow_carries_forward_until_a_new_one():
    full = NEGATIVE | {"flc_ratio": 1.0}
    visits = [full | {"bmpc_percent": 2, "clonal_pc": "absent"}, full, full | {"bmpc_percent": 8}]

    result = run(CR_BASELINE, visits)

    assert tps(result) == ["sCR", "sCR", "VGPR"]
    assert result.assessments[1].trace.marrow_date == day(1)
    assert result.assessments[2].trace.gate == ("CR-GATE:BMPC>=5",)


# ---------------------------------------------------------------- PD against the nadir (5.3)


@pytest.mark.parametrize(
    ("baseline_serum", "nadir", "value", "expected"),
    [
        (3.0, 1.0, 1.5, "PD"),  # +0.5 and +50%: "at least" 0.5
        (3.0, 1.0, 1.49, "PR"),
        (3.0, 0.2, 0.7, "PD"),  # 0.7 - 0.2 is 0.49999999999999994 in floating point
        (4.0, 2.0, 2.5, "PD"),  # +25% and +0.5 exactly
        (4.0, 2.0, 2.49, "MR"),
    ],
)
def test_serum_pd_needs_25_percent_and_half_a_gram(baseline_serum, nadir, value, expected):
    result = run(SERUM_3 | {"serum_m_g_dl": baseline_serum}, [s(nadir), s(value)])

    assert tps(result)[1] == expected


@pytest.mark.parametrize(
    ("criteria", "nadir", "value", "expected", "rule"),
    [
        ("IMWG2016", 5.0, 6.0, "PD", "PD-SERUM-HIGH"),  # +1 g/dL (20%) is sufficient
        ("IMWG2016", 5.0, 5.99, "MR", "PD-SERUM"),
        ("IMWG2016", 4.8, 5.8, "MR", "PD-SERUM"),  # 2016 keys it to the nadir
        ("IMWG2011", 4.8, 5.8, "PD", "PD-SERUM-HIGH"),  # 2011 keys it to the starting value
    ],
)
def test_plus_one_gram_rule(criteria, nadir, value, expected, rule):
    result = run(SERUM_3 | {"serum_m_g_dl": 8.0}, [s(nadir), s(value)], criteria=criteria)

    assert tps(result)[1] == expected
    assert result.assessments[1].trace.pd_checks[0].rule_id == rule


def test_urine_pd_applies_even_when_urine_was_not_measurable():
    result = run(SERUM_3, [s(1.4), s(1.4, urine_m_mg_24h=250)])

    assert tps(result) == ["PR", "PD"]
    assert result.assessments[1].trace.rule_id == "PD-URINE"


@pytest.mark.parametrize(("urine", "expected"), [(300, "PD"), (299, "MR")])
def test_urine_pd_needs_plus_200(urine, expected):
    baseline = {"serum_m_g_dl": 0.4, "urine_m_mg_24h": 1000}

    result = run(baseline, [{"urine_m_mg_24h": 100}, {"urine_m_mg_24h": urine}])

    assert tps(result) == ["PR", expected]


@pytest.mark.parametrize(("kappa", "expected"), [(210, "PR"), (210.5, "PD")])
def test_dflc_pd_floor_is_more_than_100(kappa, expected):
    result = run(FLC_ONLY, [f(110), f(kappa)])

    assert tps(result) == ["PR", expected]


def test_flc_rise_with_measurable_serum_is_light_chain_escape_not_pd():
    baseline = SERUM_3 | {"kappa_mg_l": 510, "lambda_mg_l": 10}

    result = run(baseline, [s(1.4) | f(110), s(1.4) | f(400)])

    assert tps(result) == ["PR", "PR"]
    assert "LIGHT_CHAIN_ESCAPE" in result.assessments[1].flags
    dflc_check = result.assessments[1].trace.pd_checks[-1]
    assert (dflc_check.parameter, dflc_check.met, dflc_check.applicable) == ("dflc", True, False)


def test_marrow_pd_in_marrow_only_disease_is_immediate():
    result = run({"bmpc_percent": 60}, [{"bmpc_percent": 10}, {"bmpc_percent": 20}])

    assert tps(result) == ["PR", "PD"]
    assert confs(result) == ["PR", "PD"]
    assert result.progression_date == day(2)
    assert (result.best_overall_response, result.best_response_date) == ("PR", day(1))


def test_marrow_rise_with_measurable_serum_is_not_pd():
    baseline = SERUM_3 | {"bmpc_percent": 40}

    result = run(baseline, [s(1.4, bmpc_percent=10), s(1.4, bmpc_percent=25)])

    assert tps(result) == ["PR", "PR"]
    assert "MARROW_RISE_NOT_APPLICABLE" in result.assessments[1].flags


def test_new_lesion_is_pd_confirmed_at_once():
    result = run(SERUM_3, [s(1.4, new_lesion=True)])

    assert tps(result) == ["PD"]
    assert confs(result) == ["PD"]
    assert result.progression_date == day(1)
    assert result.best_overall_response == "PD"


@pytest.mark.parametrize(("spd", "expected"), [(6.0, "PD"), (5.9, "SD")])
def test_spd_pd_at_one_and_a_half_times_the_nadir(spd, expected):
    visits = [s(1.4, plasmacytoma_spd_cm2=4.0), s(1.4, plasmacytoma_spd_cm2=spd)]

    result = run(PLASMACYTOMA_CASE, visits)

    assert tps(result) == ["PR", expected]


# ---------------------------------------------------------------- nadir policy (TC14b)


def test_nadir_policy_lowest_observed():
    result = run(SERUM_3, [s(1.0), s(1.6), s(1.7)], nadir_policy="lowest_observed")

    assert tps(result) == ["PR", "PD", "PD"]
    assert confs(result) == ["SD", "PD", None]
    assert result.progression_date == day(2)
    assert (result.best_overall_response, result.best_response_date) == ("SD", day(1))


def test_nadir_policy_lowest_confirmed():
    result = run(SERUM_3, [s(1.0), s(1.6), s(1.7)], nadir_policy="lowest_confirmed")

    # 1.0 is not yet confirmed at 1.6; then the pair (1.0, 1.6) confirms 1.6 as the nadir
    assert tps(result) == ["PR", "MR", "MR"]
    assert confs(result) == ["MR", "MR", None]
    assert result.progression_date is None
    assert (result.best_overall_response, result.best_response_date) == ("MR", day(1))


def test_excluded_value_does_not_set_the_nadir():
    result = run(SERUM_3, [s(1.0, exclude_from_nadir=True), s(1.6), s(1.7)])

    assert tps(result) == ["PR", "MR", "MR"]
    assert result.assessments[1].trace.pd_checks[0].nadir == 3.0


# ---------------------------------------------------------------- confirmation (command section)


def test_lab_pd_not_followed_by_pd_is_ne():
    result = run(SERUM_3, [s(1.0), s(1.6), s(1.2)])

    assert tps(result) == ["PR", "PD", "PR"]
    assert confs(result) == ["SD", "NE", None]
    assert result.progression_date is None


def test_last_lab_pd_is_pending_without_death():
    result = run(SERUM_3, [s(1.0), s(1.6)])

    assert confs(result) == ["SD", None]
    assert "PD_PENDING_CONFIRMATION" in result.assessments[1].flags
    assert result.progression_date is None


def test_death_confirms_lab_pd():
    result = run(SERUM_3, [s(1.0), s(1.6)], death=day(2) + timedelta(days=10))

    assert confs(result) == ["SD", "PD"]
    assert result.progression_date == day(2)
    assert result.assessments[1].confirmation_rule == "CONF-PD-DEATH"


def test_ne_is_skipped_when_confirming():
    result = run(SERUM_3, [s(1.0), s(1.6), s(None), s(1.8)])

    assert tps(result) == ["PR", "PD", "NE", "PD"]
    assert confs(result) == ["SD", "PD", "NE", None]
    assert result.progression_date == day(2)


def test_response_followed_by_sd_is_confirmed_sd_and_sd_needs_no_confirmation():
    result = run(SERUM_3, [s(2.2), s(2.3)])

    assert tps(result) == ["MR", "SD"]
    assert confs(result) == ["SD", "SD"]
    assert (result.best_overall_response, result.best_response_date) == ("SD", day(1))


def test_lower_of_two_and_status_does_not_downgrade():
    result = run(SERUM_3, [s(1.4), s(1.3), s(1.6)])

    assert tps(result) == ["PR", "PR", "MR"]
    assert confs(result) == ["PR", "MR", None]
    assert [a.status for a in result.assessments] == [None, "PR", "PR"]


def test_status_moves_to_confirmed_pd():
    result = run(SERUM_3, [s(1.4), s(1.3), s(2.0), s(2.1)])

    assert confs(result) == ["PR", "SD", "PD", None]
    assert [a.status for a in result.assessments] == [None, "PR", "PR", "PD"]


def test_serum_missing_is_ne_and_values_are_not_carried():
    result = run(SERUM_3, [s(1.4), s(None), s(1.3)])

    assert tps(result) == ["PR", "NE", "PR"]
    assert confs(result) == ["PR", "NE", None]
    assert "SERUM_MISSING" in result.assessments[1].flags


def test_measurable_urine_missing_is_ne_unless_serum_shows_pd():
    baseline = {"serum_m_g_dl": 3.0, "urine_m_mg_24h": 500}

    ne = run(baseline, [{"serum_m_g_dl": 1.4, "urine_m_mg_24h": 40}, {"serum_m_g_dl": 1.5}])
    pd = run(baseline, [{"serum_m_g_dl": 1.4, "urine_m_mg_24h": 40}, {"serum_m_g_dl": 2.0}])

    assert tps(ne) == ["PR", "NE"]
    assert "URINE_MISSING" in ne.assessments[1].flags
    assert tps(pd) == ["PR", "PD"]


def test_two_markers_at_once_confirm_pd_only_when_opted_in():
    baseline = {"serum_m_g_dl": 3.0, "urine_m_mg_24h": 500}
    visits = [
        {"serum_m_g_dl": 1.0, "urine_m_mg_24h": 100},
        {"serum_m_g_dl": 1.6, "urine_m_mg_24h": 400},
    ]

    assert confs(run(baseline, visits)) == ["SD", None]
    assert confs(run(baseline, visits, pd_two_markers_immediate=True)) == ["SD", "PD"]


def test_long_confirmation_interval_is_flagged():
    result = run(SERUM_3, [s(1.4), s(1.3, date=day(5))])

    assert "CONFIRMATION_INTERVAL_OVER_84_DAYS" in result.assessments[0].flags


# ---------------------------------------------------------------- new therapy cuts off


def test_assessments_from_new_therapy_on_count_for_nothing():
    result = run(SERUM_3, [s(1.4), s(1.3), s(1.2)], new_therapy=day(2))

    assert tps(result) == ["PR", "PR", "PR"]
    assert confs(result) == ["SD", None, None]
    assert [a.after_new_therapy for a in result.assessments] == [False, True, True]
    assert (result.best_overall_response, result.best_response_date) == ("SD", day(1))


def test_lab_pd_unconfirmed_before_new_therapy_is_ne():
    result = run(SERUM_3, [s(1.0), s(1.6), s(1.8)], new_therapy=day(2) + timedelta(days=1))

    assert confs(result) == ["SD", "NE", None]
    assert "PD_UNCONFIRMED_NEW_THERAPY" in result.assessments[1].flags
    assert result.progression_date is None


# ---------------------------------------------------------------- best overall response


def test_single_unconfirmed_response_gives_bor_sd():
    result = run(SERUM_3, [s(1.4)])

    assert confs(result) == [None]
    assert (result.best_overall_response, result.best_response_date) == ("SD", day(1))
    assert result.trace.bor_rule == "BOR-UNCONFIRMED-AS-SD"


def test_bor_pd_when_nothing_better_came_first():
    result = run(SERUM_3, [s(3.8), s(4.0)])

    assert confs(result) == ["PD", None]
    assert (result.best_overall_response, result.best_response_date) == ("PD", day(1))
    assert result.progression_date == day(1)


def test_no_assessments():
    result = run(SERUM_3, [])

    assert (result.best_overall_response, result.best_response_date) == ("NE", None)
    assert result.assessments == ()


def test_no_measurable_disease_is_ne_but_pd_still_counts():
    result = run({"serum_m_g_dl": 0.5}, [{"serum_m_g_dl": 0.4}, {"serum_m_g_dl": 1.0}])

    assert tps(result) == ["NE", "PD"]
    assert "NO_MEASURABLE_DISEASE" in result.flags


# ---------------------------------------------------------------- settings, version, trace


def test_unset_criteria_and_nadir_policy_are_flagged_not_silent():
    result = evaluate(ImwgInput(Baseline(D0, serum_m_g_dl=3.0), (Assessment(day(1), 1.4),)))

    assert {"CRITERIA_DEFAULTED", "NADIR_POLICY_DEFAULTED"} <= set(result.flags)
    assert (result.trace.criteria, result.trace.nadir_policy) == ("IMWG2016", "lowest_observed")


def test_result_carries_the_ruleset_version():
    result = run(SERUM_3, [s(1.6)])

    assert result.ruleset_version == RULESET_VERSION
    assert result.trace.ruleset_version == RULESET_VERSION


def test_trace_names_baseline_nadir_changes_and_rule():
    result = run(SERUM_3 | {"urine_m_mg_24h": 40}, [s(1.6, urine_m_mg_24h=30)])

    trace = result.assessments[0].trace
    serum_level, urine_level = trace.level_checks
    serum_pd = trace.pd_checks[0]
    assert trace.rule_id == "S-MR"
    assert (serum_level.parameter, serum_level.baseline, serum_level.level) == ("serum", 3.0, "MR")
    assert serum_level.reduction_pct == pytest.approx(46.667, abs=1e-3)
    assert (urine_level.parameter, urine_level.rule_id) == ("urine_serum_only", "U1-VGPR")
    assert (serum_pd.nadir, serum_pd.met) == (3.0, False)
    assert serum_pd.increase_pct == pytest.approx(-46.667, abs=1e-3)
    assert result.trace.baseline.serum_m_g_dl == 3.0
