"""RECIST 1.0 and 1.1 response for solid tumours: one engine, the version's rules as data.

Sources:
- RECIST 1.0: Therasse P et al. New guidelines to evaluate the response to treatment in solid
  tumors. J Natl Cancer Inst 2000;92(3):205–216.
- RECIST 1.1: Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised
  RECIST guideline (version 1.1). Eur J Cancer 2009;45(2):228–247 (Table 1: timepoint response
  with target lesions; Table 2: non-target disease only; Table 3: best overall response when
  confirmation is required).

What differs between the versions lives in ``RecistCriteria`` (``RECIST_1_0``, ``RECIST_1_1``):
measurability thresholds, target limits (10 total / 5 per organ vs 5 / 2), short-axis rules for
lymph nodes (1.1), the ≥ 5 mm absolute increase needed for PD (1.1 only), and the PD reference.
What a protocol chooses (confirmation of CR/PR, minimum duration of SD) lives in
``RecistSettings``. Everything is a pure function of its inputs: the treatment start date is
passed in, never read from the clock.

Measurements are compared as decimals built from their printed value, so the "at least" limits
are inclusive exactly (−30.0% is PR, +20.0% is PD) without floating-point surprises.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


class ImagingMethod(enum.StrEnum):
    CT = "CT"  # spiral/helical CT, the modern default
    CT_CONVENTIONAL = "CT_CONVENTIONAL"  # non-spiral CT (RECIST 1.0 "conventional technique")
    MRI = "MRI"
    CALIPER = "CALIPER"  # clinical lesions measured with calipers
    CHEST_XRAY = "CHEST_XRAY"


class NonTargetStatus(enum.StrEnum):
    CR = "CR"
    NON_CR_NON_PD = "NON_CR_NON_PD"
    PD = "PD"  # unequivocal progression
    NE = "NE"  # not (all) evaluated
    NOT_APPLICABLE = "NOT_APPLICABLE"  # no non-target lesions at baseline


class NewLesions(enum.StrEnum):
    NO = "NO"
    YES = "YES"
    # Equivocal: not PD yet; if a later scan confirms it, PD is dated to the first scan
    # (Eisenhauer 2009, new lesions).
    EQUIVOCAL = "EQUIVOCAL"


class TargetResponse(enum.StrEnum):
    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"
    NOT_APPLICABLE = "NOT_APPLICABLE"  # no target lesions (non-measurable disease only)


class OverallResponse(enum.StrEnum):
    CR = "CR"
    PR = "PR"
    SD = "SD"
    NON_CR_NON_PD = "NON_CR_NON_PD"  # non-target disease only (Eisenhauer 2009, Table 2)
    PD = "PD"
    NE = "NE"


# --------------------------------------------------------------------------------------------
# Rules as data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecistCriteria:
    """The parts of RECIST that change between versions."""

    version: str
    rule_version: str
    source: str
    # Smallest longest diameter (mm) that makes a non-nodal lesion measurable, per method.
    measurable_min_mm: Mapping[ImagingMethod, Decimal]
    # 1.1: on CT/MRI with slices thicker than 5 mm the minimum is twice the slice thickness.
    slice_thickness_factor: Decimal | None
    max_targets_total: int
    max_targets_per_organ: int
    # 1.1: nodes are measured by short axis; target if ≥ 15 mm, pathological if ≥ 10 mm.
    nodes_by_short_axis: bool
    node_target_min_short_axis_mm: Decimal | None
    node_pathological_min_short_axis_mm: Decimal | None
    pr_min_decrease: Decimal  # vs baseline sum, inclusive
    pd_min_increase: Decimal  # vs the reference (nadir) sum, inclusive
    pd_min_absolute_increase_mm: Decimal | None  # 1.1 only
    pd_reference_includes_baseline: bool

    @property
    def label(self) -> str:
        return f"RECIST {self.version}"


_SLICE_METHODS = frozenset({ImagingMethod.CT, ImagingMethod.CT_CONVENTIONAL, ImagingMethod.MRI})

RECIST_1_0 = RecistCriteria(
    version="1.0",
    rule_version="recist-1.0/1",
    source="Therasse P et al. J Natl Cancer Inst 2000;92:205-216",
    # "≥ 20 mm with conventional techniques or ≥ 10 mm with spiral CT scan".
    measurable_min_mm={
        ImagingMethod.CT: Decimal(10),
        ImagingMethod.CT_CONVENTIONAL: Decimal(20),
        ImagingMethod.MRI: Decimal(20),
        ImagingMethod.CALIPER: Decimal(20),
        ImagingMethod.CHEST_XRAY: Decimal(20),
    },
    slice_thickness_factor=None,
    max_targets_total=10,
    max_targets_per_organ=5,
    nodes_by_short_axis=False,
    node_target_min_short_axis_mm=None,
    node_pathological_min_short_axis_mm=None,
    pr_min_decrease=Decimal("0.30"),
    pd_min_increase=Decimal("0.20"),
    pd_min_absolute_increase_mm=None,
    # Therasse 2000: "the smallest sum LD recorded since the treatment started". The baseline
    # sum is recorded at the start of treatment, so it is part of that record; without it a
    # growing tumour could not progress at the first assessment. RECIST 1.1 writes this out.
    pd_reference_includes_baseline=True,
)

RECIST_1_1 = RecistCriteria(
    version="1.1",
    rule_version="recist-1.1/1",
    source="Eisenhauer EA et al. Eur J Cancer 2009;45:228-247",
    measurable_min_mm={
        ImagingMethod.CT: Decimal(10),
        ImagingMethod.CT_CONVENTIONAL: Decimal(10),
        ImagingMethod.MRI: Decimal(10),
        ImagingMethod.CALIPER: Decimal(10),
        ImagingMethod.CHEST_XRAY: Decimal(20),
    },
    slice_thickness_factor=Decimal(2),
    max_targets_total=5,
    max_targets_per_organ=2,
    nodes_by_short_axis=True,
    node_target_min_short_axis_mm=Decimal(15),
    node_pathological_min_short_axis_mm=Decimal(10),
    pr_min_decrease=Decimal("0.30"),
    pd_min_increase=Decimal("0.20"),
    pd_min_absolute_increase_mm=Decimal(5),
    # "the smallest sum on study (this includes the baseline sum if that is the smallest)".
    pd_reference_includes_baseline=True,
)

CRITERIA: Mapping[str, RecistCriteria] = {"1.0": RECIST_1_0, "1.1": RECIST_1_1}


def get_criteria(version: str) -> RecistCriteria:
    try:
        return CRITERIA[version]
    except KeyError:
        raise ValueError(
            f"unknown RECIST version {version!r}; known: {', '.join(CRITERIA)}"
        ) from None


@dataclass(frozen=True)
class RecistSettings:
    """Per-trial choices. Eisenhauer 2009 asks for confirmation of CR/PR only in
    non-randomised trials where response is the primary endpoint, so it is a setting."""

    confirmation_required: bool = False
    confirmation_min_days: int = 28  # CR/PR confirmed by a scan ≥ 4 weeks later
    sd_min_days: int = 42  # SD counts as best response only if met ≥ this long after start
    require_measurable_disease: bool = True

    def __post_init__(self) -> None:
        if self.confirmation_min_days < 1 or self.sd_min_days < 0:
            raise ValueError("confirmation_min_days must be ≥ 1 and sd_min_days ≥ 0")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

Millimetres = int | float | Decimal


@dataclass(frozen=True)
class TargetLesion:
    """A baseline target lesion. For a node under RECIST 1.1 ``diameter_mm`` is the short axis."""

    lesion_id: str
    organ: str
    is_node: bool
    diameter_mm: Millimetres
    method: ImagingMethod = ImagingMethod.CT
    slice_thickness_mm: Millimetres | None = None


@dataclass(frozen=True)
class NonTargetLesion:
    lesion_id: str
    organ: str
    is_node: bool = False
    diameter_mm: Millimetres | None = None


@dataclass(frozen=True)
class Assessment:
    """One timepoint. A target lesion missing from ``target_measurements`` or given as ``None``
    was not evaluated; 0 means it has disappeared."""

    assessment_date: date
    target_measurements: Mapping[str, Millimetres | None]
    non_target_status: NonTargetStatus = NonTargetStatus.NOT_APPLICABLE
    new_lesions: NewLesions | bool = NewLesions.NO


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


class TargetSelectionError(ValueError):
    """The baseline lesions do not meet the version's rules; ``problems`` lists every issue."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class TimepointResult:
    assessment_date: date
    all_targets_evaluated: bool
    target_sum_mm: float | None  # sum of the measured targets (partial when not all evaluated)
    reference_sum_mm: float | None  # the PD reference (nadir) used at this timepoint
    pct_change_from_baseline: float | None  # only when all targets were evaluated
    pct_change_from_nadir: float | None
    target_response: TargetResponse
    non_target_status: NonTargetStatus
    new_lesions: NewLesions
    overall_response: OverallResponse
    after_progression: bool


@dataclass(frozen=True)
class RecistEvaluation:
    criteria: str
    rule_version: str
    settings: RecistSettings
    treatment_start: date
    baseline_sum_mm: float | None
    timepoints: tuple[TimepointResult, ...]
    best_overall_response: OverallResponse
    best_overall_response_date: date | None
    best_response_confirmed: bool | None  # None unless confirmation applies to a CR/PR
    progression_date: date | None
    best_pct_change_from_baseline: float | None  # for the waterfall plot
    trace: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _mm(value: Millimetres) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a measurement must be a number, not a bool")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"measurement must be finite, got {value}")
    # str() keeps the printed value (23.1 stays 23.1, not 23.099999...).
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _organ_key(organ: str) -> str:
    return " ".join(organ.split()).casefold()


def _pct(change: Decimal, reference: Decimal) -> float | None:
    if reference == 0:
        return None
    return float(change * 100 / reference)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _measurable_minimum(criteria: RecistCriteria, lesion: TargetLesion) -> Decimal:
    minimum = criteria.measurable_min_mm[lesion.method]
    if (
        criteria.slice_thickness_factor is not None
        and lesion.method in _SLICE_METHODS
        and lesion.slice_thickness_mm is not None
    ):
        minimum = max(minimum, criteria.slice_thickness_factor * _mm(lesion.slice_thickness_mm))
    return minimum


# --------------------------------------------------------------------------------------------
# Baseline selection
# --------------------------------------------------------------------------------------------


def validate_target_selection(
    criteria: RecistCriteria,
    targets: Sequence[TargetLesion],
    non_targets: Sequence[NonTargetLesion] = (),
    settings: RecistSettings | None = None,
) -> tuple[str, ...]:
    """Every way the baseline lesions break the version's rules (empty when valid).

    Therasse 2000 and Eisenhauer 2009, baseline documentation of target and non-target lesions.
    """
    settings = settings or RecistSettings()
    problems: list[str] = []
    seen: set[str] = set()
    for lesion_id in [t.lesion_id for t in targets] + [n.lesion_id for n in non_targets]:
        if lesion_id in seen:
            problems.append(f"lesion id {lesion_id!r} is used more than once")
        seen.add(lesion_id)

    if not targets and not non_targets:
        problems.append("no baseline disease: at least one target or non-target lesion is needed")
    elif not targets and settings.require_measurable_disease:
        problems.append("the trial requires measurable disease: select at least one target lesion")

    for lesion in targets:
        size = _mm(lesion.diameter_mm)
        if size <= 0:
            problems.append(f"target {lesion.lesion_id}: diameter must be positive, got {size}")
            continue
        if lesion.is_node and criteria.nodes_by_short_axis:
            minimum = criteria.node_target_min_short_axis_mm
            if minimum is not None and size < minimum:
                problems.append(
                    f"target {lesion.lesion_id}: lymph node short axis {_fmt(size)} mm is below "
                    f"{_fmt(minimum)} mm and cannot be a target under {criteria.label}"
                    + (
                        " (10 to <15 mm: record it as non-target)"
                        if criteria.node_pathological_min_short_axis_mm is not None
                        and size >= criteria.node_pathological_min_short_axis_mm
                        else " (<10 mm: normal node)"
                    )
                )
            continue
        minimum = _measurable_minimum(criteria, lesion)
        if size < minimum:
            problems.append(
                f"target {lesion.lesion_id}: longest diameter {_fmt(size)} mm by {lesion.method} "
                f"is below the {_fmt(minimum)} mm needed to be measurable under {criteria.label}"
            )

    if len(targets) > criteria.max_targets_total:
        problems.append(
            f"{len(targets)} target lesions selected; {criteria.label} allows at most "
            f"{criteria.max_targets_total} in total"
        )
    per_organ: dict[str, list[str]] = {}
    for lesion in targets:
        per_organ.setdefault(_organ_key(lesion.organ), []).append(lesion.lesion_id)
    for organ, ids in per_organ.items():
        if len(ids) > criteria.max_targets_per_organ:
            problems.append(
                f"{len(ids)} target lesions in organ {organ!r} ({', '.join(ids)}); "
                f"{criteria.label} allows at most {criteria.max_targets_per_organ} per organ"
            )

    for lesion in non_targets:
        if lesion.diameter_mm is None:
            continue
        size = _mm(lesion.diameter_mm)
        normal_below = criteria.node_pathological_min_short_axis_mm
        if (
            lesion.is_node
            and criteria.nodes_by_short_axis
            and normal_below is not None
            and size < normal_below
        ):
            problems.append(
                f"non-target {lesion.lesion_id}: lymph node short axis {_fmt(size)} mm is "
                f"below {_fmt(normal_below)} mm, which is a normal node under {criteria.label}"
            )
    return tuple(problems)


def check_target_selection(
    criteria: RecistCriteria,
    targets: Sequence[TargetLesion],
    non_targets: Sequence[NonTargetLesion] = (),
    settings: RecistSettings | None = None,
) -> None:
    """Raise ``TargetSelectionError`` listing every problem with the baseline selection."""
    problems = validate_target_selection(criteria, targets, non_targets, settings)
    if problems:
        raise TargetSelectionError(problems)


# --------------------------------------------------------------------------------------------
# Timepoint response
# --------------------------------------------------------------------------------------------


def timepoint_response(
    target: TargetResponse, non_target: NonTargetStatus, new_lesions: NewLesions | bool
) -> OverallResponse:
    """Overall response at one timepoint (Eisenhauer 2009 Tables 1 and 2; the same rows hold
    for Therasse 2000).

    An equivocal new lesion is not PD at this timepoint.
    """
    new = _new_lesions(new_lesions)
    if new is NewLesions.YES or target is TargetResponse.PD or non_target is NonTargetStatus.PD:
        return OverallResponse.PD
    if target is TargetResponse.NOT_APPLICABLE:
        return _NON_TARGET_ONLY[non_target]
    if target is TargetResponse.CR:
        if non_target in (NonTargetStatus.CR, NonTargetStatus.NOT_APPLICABLE):
            return OverallResponse.CR
        return OverallResponse.PR  # non-CR/non-PD or not evaluated
    return _TARGET_NON_PD[target]


_NON_TARGET_ONLY: Mapping[NonTargetStatus, OverallResponse] = {
    NonTargetStatus.CR: OverallResponse.CR,
    NonTargetStatus.NON_CR_NON_PD: OverallResponse.NON_CR_NON_PD,
    NonTargetStatus.NE: OverallResponse.NE,
    NonTargetStatus.NOT_APPLICABLE: OverallResponse.NE,
}

_TARGET_NON_PD: Mapping[TargetResponse, OverallResponse] = {
    TargetResponse.PR: OverallResponse.PR,
    TargetResponse.SD: OverallResponse.SD,
    TargetResponse.NE: OverallResponse.NE,
}


def _new_lesions(value: NewLesions | bool) -> NewLesions:
    if isinstance(value, bool):
        return NewLesions.YES if value else NewLesions.NO
    return NewLesions(value)


@dataclass(frozen=True)
class _TargetAssessment:
    response: TargetResponse
    all_evaluated: bool
    total: Decimal | None
    reason: str


def _assess_targets(
    criteria: RecistCriteria,
    targets: Sequence[TargetLesion],
    measured: Mapping[str, Decimal],
    baseline_sum: Decimal,
    reference: Decimal,
    after_target_cr: bool,
) -> _TargetAssessment:
    if not targets:
        return _TargetAssessment(TargetResponse.NOT_APPLICABLE, True, None, "no target lesions")
    all_evaluated = len(measured) == len(targets)
    total = sum(measured.values(), Decimal(0))
    increase = total - reference
    label = criteria.label

    relative_ok = increase >= criteria.pd_min_increase * reference and increase > 0
    absolute_ok = (
        criteria.pd_min_absolute_increase_mm is None
        or increase >= criteria.pd_min_absolute_increase_mm
    )
    if relative_ok and absolute_ok:
        pct = _pct(increase, reference)
        pct_text = f"{pct:+.1f}%" if pct is not None else "from 0"
        partial = "" if all_evaluated else " (measured lesions only, already enough)"
        return _TargetAssessment(
            TargetResponse.PD,
            all_evaluated,
            total,
            f"sum {_fmt(total)} mm vs nadir {_fmt(reference)} mm ({pct_text}, "
            f"+{_fmt(increase)} mm){partial}: PD under {label}",
        )
    reappeared = sorted(
        t.lesion_id
        for t in targets
        if after_target_cr
        and not (criteria.nodes_by_short_axis and t.is_node)
        and measured.get(t.lesion_id, Decimal(0)) > 0
    )
    if reappeared:
        # Eisenhauer 2009 (and its Table 3 note): a lesion reappearing after CR is PD; after
        # PR or SD it simply adds to the sum. Nodes under 1.1 follow the sum rule.
        return _TargetAssessment(
            TargetResponse.PD,
            all_evaluated,
            total,
            f"target lesion(s) {', '.join(reappeared)} reappeared after complete response: PD",
        )
    not_pd_reason = ""
    if relative_ok and not absolute_ok:
        not_pd_reason = (
            f"; +{_fmt(increase)} mm is below the {_fmt(criteria.pd_min_absolute_increase_mm)} mm "
            f"absolute increase {label} needs for PD"
        )
    if not all_evaluated:
        missing = sorted(t.lesion_id for t in targets if t.lesion_id not in measured)
        return _TargetAssessment(
            TargetResponse.NE,
            False,
            total,
            f"target lesion(s) {', '.join(missing)} not evaluated and the measured sum "
            f"{_fmt(total)} mm does not show PD: NE",
        )

    if _is_target_cr(criteria, targets, measured):
        return _TargetAssessment(
            TargetResponse.CR, True, total, f"all target lesions resolved: CR{not_pd_reason}"
        )
    decrease = baseline_sum - total
    pct_base = _pct(-decrease, baseline_sum)
    if decrease >= criteria.pr_min_decrease * baseline_sum:
        return _TargetAssessment(
            TargetResponse.PR,
            True,
            total,
            f"sum {_fmt(total)} mm vs baseline {_fmt(baseline_sum)} mm ({pct_base:+.1f}%): "
            f"PR (≥ {criteria.pr_min_decrease * 100:.0f}% decrease){not_pd_reason}",
        )
    pct_nadir = _pct(increase, reference)
    nadir_text = f"{pct_nadir:+.1f}%" if pct_nadir is not None else "n/a"
    return _TargetAssessment(
        TargetResponse.SD,
        True,
        total,
        f"sum {_fmt(total)} mm: {pct_base:+.1f}% vs baseline, {nadir_text} vs nadir "
        f"{_fmt(reference)} mm: SD{not_pd_reason}",
    )


def _is_target_cr(
    criteria: RecistCriteria, targets: Sequence[TargetLesion], measured: Mapping[str, Decimal]
) -> bool:
    for lesion in targets:
        value = measured[lesion.lesion_id]
        if lesion.is_node and criteria.nodes_by_short_axis:
            limit = criteria.node_pathological_min_short_axis_mm
            if limit is not None and value >= limit:
                return False
        elif value != 0:
            return False
    return True


# --------------------------------------------------------------------------------------------
# The whole course: timepoints, best overall response, progression
# --------------------------------------------------------------------------------------------

_AT_LEAST_SD = frozenset(
    {OverallResponse.CR, OverallResponse.PR, OverallResponse.SD, OverallResponse.NON_CR_NON_PD}
)


def evaluate_recist(
    *,
    criteria: RecistCriteria,
    settings: RecistSettings,
    treatment_start: date,
    targets: Sequence[TargetLesion],
    non_targets: Sequence[NonTargetLesion] = (),
    assessments: Sequence[Assessment],
) -> RecistEvaluation:
    """Timepoint responses, best overall response (with its date), progression date and the
    per-timepoint % change of the target sum, with a trace of every step.

    Therasse 2000 (RECIST 1.0) or Eisenhauer 2009 (RECIST 1.1), per ``criteria``.
    Raises ``TargetSelectionError`` for an invalid baseline and ``ValueError`` for invalid
    assessments.
    """
    check_target_selection(criteria, targets, non_targets, settings)
    trace: list[str] = [
        f"{criteria.label} ({criteria.source}); rules {criteria.rule_version}; "
        f"confirmation {'required' if settings.confirmation_required else 'not required'} "
        f"(≥ {settings.confirmation_min_days} days); SD minimum {settings.sd_min_days} days "
        f"from {treatment_start.isoformat()}"
    ]
    ordered = _check_assessments(targets, treatment_start, assessments)
    baseline_sum = sum((_mm(t.diameter_mm) for t in targets), Decimal(0)) if targets else None
    if baseline_sum is not None:
        trace.append(
            f"baseline: {len(targets)} target lesion(s), sum {_fmt(baseline_sum)} mm"
            + (" (nodes by short axis)" if criteria.nodes_by_short_axis else "")
        )
    else:
        trace.append("baseline: non-target disease only")
    has_non_targets = bool(non_targets)

    results: list[TimepointResult] = []
    complete_sums: list[Decimal] = []
    had_target_cr = False
    first_pd: int | None = None
    for index, assessment in enumerate(ordered):
        measured = {
            lesion_id: _mm(value)
            for lesion_id, value in assessment.target_measurements.items()
            if value is not None
        }
        if baseline_sum is not None:
            candidates = list(complete_sums)
            if criteria.pd_reference_includes_baseline or not candidates:
                candidates.append(baseline_sum)
            reference = min(candidates)
            target = _assess_targets(
                criteria, targets, measured, baseline_sum, reference, had_target_cr
            )
        else:
            reference = None
            target = _assess_targets(criteria, targets, {}, Decimal(0), Decimal(0), False)
        non_target = (
            NonTargetStatus(assessment.non_target_status)
            if has_non_targets
            else NonTargetStatus.NOT_APPLICABLE
        )
        new = _new_lesions(assessment.new_lesions)
        overall = timepoint_response(target.response, non_target, new)

        pct_base = pct_nadir = None
        if baseline_sum is not None and target.all_evaluated and target.total is not None:
            pct_base = _pct(target.total - baseline_sum, baseline_sum)
            pct_nadir = _pct(target.total - reference, reference) if reference else None
        after_pd = first_pd is not None
        results.append(
            TimepointResult(
                assessment_date=assessment.assessment_date,
                all_targets_evaluated=target.all_evaluated,
                target_sum_mm=float(target.total) if target.total is not None else None,
                reference_sum_mm=float(reference) if reference is not None else None,
                pct_change_from_baseline=pct_base,
                pct_change_from_nadir=pct_nadir,
                target_response=target.response,
                non_target_status=non_target,
                new_lesions=new,
                overall_response=overall,
                after_progression=after_pd,
            )
        )
        trace.append(
            f"{assessment.assessment_date.isoformat()}: targets {target.response} ({target.reason}); "
            f"non-target {non_target}; new lesions {new} -> {overall}"
            + (" [after progression]" if after_pd else "")
        )
        if target.all_evaluated and target.total is not None:
            complete_sums.append(target.total)
        if target.response is TargetResponse.CR:
            had_target_cr = True
        if overall is OverallResponse.PD and first_pd is None:
            first_pd = index

    considered = results if first_pd is None else results[: first_pd + 1]
    bor, bor_date, confirmed = _best_overall_response(
        considered, settings, treatment_start, bool(targets), trace
    )
    progression_date = _progression_date(results, first_pd, trace)
    waterfall = [
        r.pct_change_from_baseline for r in considered if r.pct_change_from_baseline is not None
    ]
    best_pct = min(waterfall) if waterfall else None
    if best_pct is not None:
        trace.append(f"best % change of the target sum from baseline: {best_pct:+.1f}%")
    return RecistEvaluation(
        criteria=criteria.label,
        rule_version=criteria.rule_version,
        settings=settings,
        treatment_start=treatment_start,
        baseline_sum_mm=float(baseline_sum) if baseline_sum is not None else None,
        timepoints=tuple(results),
        best_overall_response=bor,
        best_overall_response_date=bor_date,
        best_response_confirmed=confirmed,
        progression_date=progression_date,
        best_pct_change_from_baseline=best_pct,
        trace=tuple(trace),
    )


def _check_assessments(
    targets: Sequence[TargetLesion], treatment_start: date, assessments: Sequence[Assessment]
) -> list[Assessment]:
    ordered = sorted(assessments, key=lambda a: a.assessment_date)
    dates = [a.assessment_date for a in ordered]
    problems: list[str] = []
    if len(set(dates)) != len(dates):
        problems.append("two assessments share a date; merge them into one timepoint")
    target_ids = {t.lesion_id for t in targets}
    for assessment in ordered:
        day = assessment.assessment_date.isoformat()
        if assessment.assessment_date <= treatment_start:
            problems.append(f"assessment {day} is not after the treatment start")
        unknown = sorted(set(assessment.target_measurements) - target_ids)
        if unknown:
            problems.append(
                f"assessment {day} measures {', '.join(unknown)}, which are not baseline target "
                "lesions (report new lesions as new lesions)"
            )
        for lesion_id, value in assessment.target_measurements.items():
            if value is not None and _mm(value) < 0:
                problems.append(f"assessment {day}: {lesion_id} has a negative measurement")
    if problems:
        raise ValueError("; ".join(problems))
    return ordered


def _confirmed(
    results: Sequence[TimepointResult],
    index: int,
    qualifying: frozenset[OverallResponse],
    min_days: int,
) -> int | None:
    """Index of the assessment confirming ``results[index]``: ≥ min_days later, itself in
    ``qualifying``, with only qualifying or NE timepoints in between."""
    start = results[index].assessment_date
    for later in range(index + 1, len(results)):
        response = results[later].overall_response
        if response not in qualifying and response is not OverallResponse.NE:
            return None
        if response in qualifying and (results[later].assessment_date - start).days >= min_days:
            return later
    return None


_CR_ONLY = frozenset({OverallResponse.CR})
_CR_OR_PR = frozenset({OverallResponse.CR, OverallResponse.PR})


def _best_overall_response(
    results: Sequence[TimepointResult],
    settings: RecistSettings,
    treatment_start: date,
    has_targets: bool,
    trace: list[str],
) -> tuple[OverallResponse, date | None, bool | None]:
    """Best overall response up to and including the first PD (Eisenhauer 2009, Table 3)."""
    if settings.confirmation_required:
        for wanted, qualifying in ((OverallResponse.CR, _CR_ONLY), (OverallResponse.PR, _CR_OR_PR)):
            for index, result in enumerate(results):
                if result.overall_response not in qualifying:
                    continue
                by = _confirmed(results, index, qualifying, settings.confirmation_min_days)
                if by is not None:
                    trace.append(
                        f"best overall response {wanted} on {result.assessment_date.isoformat()}, "
                        f"confirmed on {results[by].assessment_date.isoformat()}"
                    )
                    return wanted, result.assessment_date, True
        unconfirmed = [r for r in results if r.overall_response in _CR_OR_PR]
        if unconfirmed:
            trace.append(
                f"{unconfirmed[0].overall_response} on "
                f"{unconfirmed[0].assessment_date.isoformat()} not confirmed by an assessment "
                f"≥ {settings.confirmation_min_days} days later: counts as stable disease at most"
            )
    else:
        for wanted in (OverallResponse.CR, OverallResponse.PR):
            hit = next((r for r in results if r.overall_response is wanted), None)
            if hit is not None:
                trace.append(
                    f"best overall response {wanted} on {hit.assessment_date.isoformat()} "
                    "(confirmation not required)"
                )
                return wanted, hit.assessment_date, None

    for result in results:
        days = (result.assessment_date - treatment_start).days
        if result.overall_response in _AT_LEAST_SD and days >= settings.sd_min_days:
            # With non-target disease only, "non-CR/non-PD" is used instead of SD (Table 2).
            best = OverallResponse.SD if has_targets else OverallResponse.NON_CR_NON_PD
            trace.append(
                f"best overall response {best} on {result.assessment_date.isoformat()} "
                f"(day {days} ≥ {settings.sd_min_days})"
            )
            return best, result.assessment_date, None
    early = [r for r in results if r.overall_response in _AT_LEAST_SD]
    if early:
        trace.append(
            f"stable disease or better only before day {settings.sd_min_days}: "
            "minimum duration for SD not met"
        )
    pd = next((r for r in results if r.overall_response is OverallResponse.PD), None)
    if pd is not None:
        trace.append(f"best overall response PD on {pd.assessment_date.isoformat()}")
        return OverallResponse.PD, pd.assessment_date, None
    trace.append("best overall response NE (no evaluable response)")
    return OverallResponse.NE, None, None


def _progression_date(
    results: Sequence[TimepointResult], first_pd: int | None, trace: list[str]
) -> date | None:
    if first_pd is None:
        return None
    pd = results[first_pd]
    progression = pd.assessment_date
    if pd.new_lesions is NewLesions.YES:
        # An equivocal new lesion later confirmed dates PD to its first scan (Eisenhauer 2009).
        index = first_pd - 1
        while index >= 0 and results[index].new_lesions is NewLesions.EQUIVOCAL:
            progression = results[index].assessment_date
            index -= 1
    if progression != pd.assessment_date:
        trace.append(
            f"progression dated {progression.isoformat()}: the new lesion confirmed on "
            f"{pd.assessment_date.isoformat()} was first seen (equivocal) then"
        )
    else:
        trace.append(f"progression on {progression.isoformat()}")
    return progression
