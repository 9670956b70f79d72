"""Simon's two-stage design for the phase II response rate, and its live monitor.

Implements Simon R. Optimal two-stage designs for phase II clinical trials. Controlled Clinical
Trials 1989;10(1):1–10.

Convention (the one Simon, clinfun ``ph2simon`` and PASS use, and the only one stored here):
``r1`` and ``r`` are the largest response counts that still mean failure. Stage 1 treats ``n1``
patients and stops for futility if ``r1`` or fewer respond; otherwise ``n`` patients are treated
in all and the drug is promising only if more than ``r`` respond.

    PET(p)           = P(X1 ≤ r1 | n1, p)
    EN(p0)           = n1 + (1 − PET(p0)) (n − n1)
    P(reject H0 | p) = Σ_{x1 = r1+1..n1} b(x1; n1, p) · P(X2 > r − x1 | n − n1, p)

A design is feasible if P(reject | p0) ≤ α and P(reject | p1) ≥ 1 − β. Optimal: the feasible
design with the smallest EN(p0). Minimax: the smallest n; among those the smallest EN(p0).

The search covers every n up to ``nmax`` (EN(p0) is not monotone in n, so stopping at the first
good n is wrong) with exact binomial sums in float64 (``scipy.stats.binom``). It is vectorised
over (r1, r) for each (n, n1): a matrix of b(x1; n1, p) · P(X2 > r − x1) is summed over x1 from
the top (a suffix cumulative sum), which gives the rejection probability of every (r1, r) pair
at once. Among designs with the same (n, n1, r1) -- hence the same EN(p0) -- the largest
feasible r (the smallest attained α) is kept, as clinfun does.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.stats import binom

from response.domain.binomial import RateSummary, rate_summary

RULE_VERSION = "simon-1989/1"
DEFAULT_NMAX = 100
MAX_NMAX = 300
# clinfun warns when the optimal n is within 10 of nmax; the same margin is used here.
NEAR_NMAX_MARGIN = 10


class SimonDesignError(ValueError):
    """The design parameters are invalid (p1 ≤ p0, values outside (0, 1), nmax out of range)."""


class NoFeasibleDesignError(ValueError):
    """No design up to nmax meets the α and β constraints."""


@dataclass(frozen=True)
class SimonBoundaries:
    """The four numbers a trial stores: stop if ≤ r1 of n1 respond; promising if > r of n."""

    r1: int
    n1: int
    r: int
    n: int

    def __post_init__(self) -> None:
        if not (1 <= self.n1 < self.n):
            raise SimonDesignError(f"need 1 ≤ n1 < n (n1={self.n1}, n={self.n})")
        if not (0 <= self.r1 < self.n1):
            raise SimonDesignError(f"need 0 ≤ r1 < n1 (r1={self.r1}, n1={self.n1})")
        if not (self.r1 <= self.r < self.n):
            raise SimonDesignError(f"need r1 ≤ r < n (r1={self.r1}, r={self.r}, n={self.n})")

    @property
    def n2(self) -> int:
        return self.n - self.n1

    @property
    def rule_text(self) -> str:
        """Plain-language rule in the "failure" phrasing (Simon 1989)."""
        return (
            f"Stop after {self.n1} patients if {_or_fewer(self.r1)} respond; "
            f"the drug is promising if more than {self.r} of {self.n} respond."
        )

    @property
    def rule_text_critical(self) -> str:
        """The same rule in the critical-value phrasing (R1 = r1 + 1, RT = r + 1)."""
        return (
            f"Continue to {self.n} patients if at least {self.r1 + 1} of the first {self.n1} "
            f"respond; the drug is promising if at least {self.r + 1} of {self.n} respond."
        )


def _or_fewer(count: int) -> str:
    return "none" if count == 0 else f"{count} or fewer"


@dataclass(frozen=True)
class OperatingCharacteristics:
    """α, power, PET and EN of a given design (clinfun ``oc.twostage.bdry``)."""

    p0: float
    p1: float
    alpha: float  # attained P(reject H0 | p0)
    power: float  # attained P(reject H0 | p1)
    pet0: float
    pet1: float
    en0: float
    en1: float


@dataclass(frozen=True)
class SimonDesign:
    """A design found by the search, with its attained operating characteristics."""

    criterion: str  # "optimal" or "minimax"
    p0: float
    p1: float
    alpha_target: float
    beta_target: float
    r1: int
    n1: int
    r: int
    n: int
    en0: float
    pet0: float
    alpha: float  # attained
    power: float  # attained

    @property
    def boundaries(self) -> SimonBoundaries:
        return SimonBoundaries(r1=self.r1, n1=self.n1, r=self.r, n=self.n)

    @property
    def rule_text(self) -> str:
        return self.boundaries.rule_text

    @property
    def rule_text_critical(self) -> str:
        return self.boundaries.rule_text_critical

    def as_dict(self) -> dict[str, object]:
        return {
            "r1": self.r1,
            "n1": self.n1,
            "r": self.r,
            "n": self.n,
            "en0": self.en0,
            "pet0": self.pet0,
            "alpha": self.alpha,
            "power": self.power,
            "rule": self.rule_text,
            "rule_critical": self.rule_text_critical,
        }


@dataclass(frozen=True)
class SimonSearchResult:
    """Optimal and minimax designs, plus the best design for each feasible n (as clinfun)."""

    p0: float
    p1: float
    alpha_target: float
    beta_target: float
    nmax: int
    optimal: SimonDesign
    minimax: SimonDesign
    best_per_n: tuple[SimonDesign, ...]
    optimal_near_nmax: bool
    minimax_near_nmax: bool
    rule_version: str = RULE_VERSION

    @property
    def warnings(self) -> tuple[str, ...]:
        notes = []
        if self.optimal_near_nmax:
            notes.append(
                f"The optimal design's n ({self.optimal.n}) is within {NEAR_NMAX_MARGIN} of "
                f"nmax ({self.nmax}); a larger nmax may give a design with a smaller EN(p0)."
            )
        if self.minimax_near_nmax:
            notes.append(
                f"The minimax design's n ({self.minimax.n}) is within {NEAR_NMAX_MARGIN} of "
                f"nmax ({self.nmax})."
            )
        return tuple(notes)


def validate_design_parameters(
    p0: float, p1: float, alpha: float, beta: float, nmax: int = DEFAULT_NMAX
) -> None:
    """Raise ``SimonDesignError`` with a clear message if the inputs cannot define a design."""
    for name, value in (("p0", p0), ("p1", p1), ("alpha", alpha), ("beta", beta)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SimonDesignError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or not 0.0 < value < 1.0:
            raise SimonDesignError(f"{name} must be strictly between 0 and 1, got {value}")
    if p1 <= p0:
        raise SimonDesignError(f"p1 ({p1}) must be greater than p0 ({p0})")
    if isinstance(nmax, bool) or not isinstance(nmax, int):
        raise SimonDesignError(f"nmax must be an integer, got {nmax!r}")
    if nmax < 2:
        raise SimonDesignError(
            f"nmax must be at least 2 (a two-stage design needs n ≥ 2), got {nmax}"
        )
    if nmax > MAX_NMAX:
        raise SimonDesignError(f"nmax must be at most {MAX_NMAX}, got {nmax}")


def _pmf_table(p: float, nmax: int) -> list[np.ndarray]:
    """pmf[m][x] = b(x; m, p) for m = 0..nmax."""
    return [binom.pmf(np.arange(m + 1), m, p) for m in range(nmax + 1)]


def _sf_table(p: float, nmax: int) -> list[np.ndarray]:
    """sf[m][k + nmax] = P(X > k | m, p) for k = −nmax..nmax (1 for k < 0, 0 for k ≥ m)."""
    ks = np.arange(-nmax, nmax + 1)
    return [binom.sf(ks, m, p) for m in range(nmax + 1)]


def _reject_matrix(pmf1: np.ndarray, sf2: np.ndarray, n: int, offset: int) -> np.ndarray:
    """rej[r1, r] = Σ_{x1 > r1} b(x1; n1) · P(X2 > r − x1), for r1 = 0..n1−1 and r = 0..n−1."""
    n1 = pmf1.shape[0] - 1
    x1 = np.arange(n1 + 1)
    r = np.arange(n)
    terms = pmf1[:, None] * sf2[(r[None, :] - x1[:, None]) + offset]
    # Suffix sums over x1: row i holds Σ_{x1 ≥ i}; rejection after "≤ r1 fails" starts at r1 + 1.
    suffix = np.cumsum(terms[::-1], axis=0)[::-1]
    return suffix[1:]


def search_designs(
    p0: float, p1: float, alpha: float, beta: float, nmax: int = DEFAULT_NMAX
) -> SimonSearchResult:
    """Optimal and minimax Simon (1989) designs with n ≤ nmax.

    Raises ``SimonDesignError`` for invalid inputs and ``NoFeasibleDesignError`` when no design
    up to nmax meets P(reject | p0) ≤ alpha and P(reject | p1) ≥ 1 − beta.
    """
    validate_design_parameters(p0, p1, alpha, beta, nmax)
    pmf0, pmf1_ = _pmf_table(p0, nmax), _pmf_table(p1, nmax)
    sf0, sf1 = _sf_table(p0, nmax), _sf_table(p1, nmax)
    cdf0 = [np.cumsum(row) for row in pmf0]
    power_target = 1.0 - beta

    best_per_n: list[SimonDesign] = []
    for n in range(2, nmax + 1):
        best: tuple[float, int, int, int, float, float, float] | None = None
        for n1 in range(1, n):
            n2 = n - n1
            rej0 = _reject_matrix(pmf0[n1], sf0[n2], n, nmax)
            rej1 = _reject_matrix(pmf1_[n1], sf1[n2], n, nmax)
            feasible = (rej0 <= alpha) & (rej1 >= power_target)
            # r ≥ r1 only: with r < r1 every continuing trial would already be a success.
            feasible &= np.triu(np.ones((n1, n), dtype=bool))
            rows = np.flatnonzero(feasible.any(axis=1))
            if rows.size == 0:
                continue
            pet = cdf0[n1][rows]
            en = n1 + (1.0 - pet) * n2
            k = int(np.argmin(en))
            if best is not None and not en[k] < best[0]:
                continue
            r1 = int(rows[k])
            r = int(np.flatnonzero(feasible[r1])[-1])
            best = (
                float(en[k]),
                r1,
                n1,
                r,
                float(pet[k]),
                float(rej0[r1, r]),
                float(rej1[r1, r]),
            )
        if best is None:
            continue
        en0, r1, n1, r, pet0, att_alpha, att_power = best
        best_per_n.append(
            SimonDesign(
                criterion="",
                p0=p0,
                p1=p1,
                alpha_target=alpha,
                beta_target=beta,
                r1=r1,
                n1=n1,
                r=r,
                n=n,
                en0=en0,
                pet0=pet0,
                alpha=att_alpha,
                power=att_power,
            )
        )

    if not best_per_n:
        raise NoFeasibleDesignError(
            f"No Simon two-stage design with n ≤ {nmax} achieves alpha ≤ {alpha} and power "
            f"≥ {power_target:g} for p0={p0}, p1={p1}; increase nmax or relax alpha/beta."
        )
    minimax = best_per_n[0]
    optimal = min(best_per_n, key=lambda d: d.en0)  # first (smallest n) on ties
    return SimonSearchResult(
        p0=p0,
        p1=p1,
        alpha_target=alpha,
        beta_target=beta,
        nmax=nmax,
        optimal=_with_criterion(optimal, "optimal"),
        minimax=_with_criterion(minimax, "minimax"),
        best_per_n=tuple(best_per_n),
        optimal_near_nmax=optimal.n > nmax - NEAR_NMAX_MARGIN,
        minimax_near_nmax=minimax.n > nmax - NEAR_NMAX_MARGIN,
    )


def _with_criterion(design: SimonDesign, criterion: str) -> SimonDesign:
    return SimonDesign(**{**design.__dict__, "criterion": criterion})


def operating_characteristics(
    boundaries: SimonBoundaries, p0: float, p1: float
) -> OperatingCharacteristics:
    """Attained α, power, PET and EN of a given design at p0 and p1 (Simon 1989)."""

    def at(p: float) -> tuple[float, float, float]:
        x1 = np.arange(boundaries.r1 + 1, boundaries.n1 + 1)
        reject = float(
            np.sum(binom.pmf(x1, boundaries.n1, p) * binom.sf(boundaries.r - x1, boundaries.n2, p))
        )
        pet = float(binom.cdf(boundaries.r1, boundaries.n1, p))
        en = boundaries.n1 + (1.0 - pet) * boundaries.n2
        return reject, pet, en

    alpha, pet0, en0 = at(p0)
    power, pet1, en1 = at(p1)
    return OperatingCharacteristics(
        p0=p0, p1=p1, alpha=alpha, power=power, pet0=pet0, pet1=pet1, en0=en0, en1=en1
    )


# --------------------------------------------------------------------------------------------
# Live monitoring
# --------------------------------------------------------------------------------------------


class SimonRule(enum.StrEnum):
    """What the design's rule says now."""

    PENDING = "PENDING"  # stage 1 cannot be decided yet
    STOP_FUTILITY = "STOP_FUTILITY"  # ≤ r1 of the n1 stage-1 patients responded
    CONTINUE = "CONTINUE"  # > r1 responded in stage 1; stage 2 not complete
    PROMISING = "PROMISING"  # > r of n responded
    NOT_PROMISING = "NOT_PROMISING"  # ≤ r of n responded (or stopped for futility)


class HasBoundaries(Protocol):
    r1: int
    n1: int
    r: int
    n: int


@dataclass(frozen=True)
class SimonPatient:
    """One patient as the monitor sees them.

    ``evaluable``: ``False`` if the patient is not response-evaluable (excluded and replaced),
    ``None`` if that is not known yet, ``True`` otherwise.
    ``responder``: ``None`` while the response is pending.
    """

    patient_id: str
    enrolment_order: int
    evaluable: bool | None
    responder: bool | None

    @property
    def pending(self) -> bool:
        return self.evaluable is None or self.responder is None


@dataclass(frozen=True)
class SimonMonitorState:
    """Where a Simon trial stands (Simon 1989), recomputed from patient states."""

    boundaries: SimonBoundaries
    stage: int  # 1 or 2
    rule: SimonRule
    stage1_decidable: bool
    stage1_patient_ids: tuple[str, ...]
    stage1_responders: int
    stage1_pending: int
    stage2_patient_ids: tuple[str, ...]
    over_run_patient_ids: tuple[str, ...]
    not_evaluable_patient_ids: tuple[str, ...]
    responders: int  # among evaluable patients with a known outcome (all enrolled)
    evaluable_with_outcome: int
    total_responders_in_design: int  # among the first n (stage 1 + stage 2) patients
    at_futility_boundary: bool
    stage1_outcome_certain: SimonRule | None  # stage-1 verdict that pending outcomes cannot change
    final_outcome_certain: SimonRule | None  # in stage 2: verdict pending outcomes cannot change
    final_verdict: SimonRule | None  # PROMISING / NOT_PROMISING once known
    orr: RateSummary
    explanation: tuple[str, ...]
    rule_version: str = RULE_VERSION


def monitor_simon(design: HasBoundaries, patients: Sequence[SimonPatient]) -> SimonMonitorState:
    """Apply a Simon (1989) design to the patients enrolled so far.

    Stage-1 patients are the first n1 patients in enrolment order who are not known to be
    non-evaluable (non-evaluable patients are replaced). Stage 1 is decided only when all n1
    of them have a known outcome. Patients enrolled beyond n1 while stage 1 matures (or after a
    futility stop), and beyond n in stage 2, are listed as over-run; they count in the observed
    ORR but not in the design's decision.
    """
    b = SimonBoundaries(r1=design.r1, n1=design.n1, r=design.r, n=design.n)
    ordered = sorted(patients, key=lambda p: p.enrolment_order)
    orders = [p.enrolment_order for p in ordered]
    if len(set(orders)) != len(orders):
        raise ValueError("enrolment_order values must be unique")
    ids = [p.patient_id for p in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("patient_id values must be unique")

    not_evaluable = [p for p in ordered if p.evaluable is False]
    in_play = [p for p in ordered if p.evaluable is not False]
    stage1 = in_play[: b.n1]
    beyond1 = in_play[b.n1 :]
    explanation: list[str] = []

    s1_resp = sum(1 for p in stage1 if not p.pending and p.responder)
    s1_pending = sum(1 for p in stage1 if p.pending) + (b.n1 - len(stage1))
    stage1_decidable = len(stage1) == b.n1 and s1_pending == 0
    explanation.append(
        f"Stage 1: {len(stage1)} of {b.n1} patients enrolled, {s1_resp} responders, "
        f"{s1_pending} outcome(s) pending or not yet enrolled."
    )

    certain: SimonRule | None = None
    if s1_resp > b.r1:
        certain = SimonRule.CONTINUE
    elif s1_resp + s1_pending <= b.r1:
        certain = SimonRule.STOP_FUTILITY

    stage2: list[SimonPatient] = []
    over_run: list[SimonPatient]
    final: SimonRule | None = None
    final_certain: SimonRule | None = None
    total_in_design = s1_resp
    if not stage1_decidable:
        stage, rule = 1, SimonRule.PENDING
        over_run = beyond1
        explanation.append("Stage 1 cannot be decided until all stage-1 outcomes are known.")
    elif s1_resp <= b.r1:
        stage, rule, final = 1, SimonRule.STOP_FUTILITY, SimonRule.NOT_PROMISING
        over_run = beyond1
        explanation.append(
            f"{s1_resp} ≤ r1 = {b.r1} responders of {b.n1}: stop for futility; not promising."
        )
    else:
        stage = 2
        stage2 = beyond1[: b.n2]
        over_run = beyond1[b.n2 :]
        s2_resp = sum(1 for p in stage2 if not p.pending and p.responder)
        s2_pending = sum(1 for p in stage2 if p.pending) + (b.n2 - len(stage2))
        total_in_design = s1_resp + s2_resp
        explanation.append(
            f"{s1_resp} > r1 = {b.r1} responders of {b.n1}: continue to {b.n}. Stage 2: "
            f"{len(stage2)} of {b.n2} enrolled, {s2_resp} responders, {s2_pending} pending."
        )
        # Curtailment does not change the decision (it would bias the naive estimate), so it
        # is only reported, never acted on here.
        if total_in_design > b.r:
            final_certain = SimonRule.PROMISING
        elif total_in_design + s2_pending <= b.r:
            final_certain = SimonRule.NOT_PROMISING
        if s2_pending == 0:
            final = SimonRule.PROMISING if total_in_design > b.r else SimonRule.NOT_PROMISING
            rule = final
            explanation.append(
                f"{total_in_design} responders of {b.n} "
                f"{'>' if final is SimonRule.PROMISING else '≤'} r = {b.r}: "
                f"{'promising' if final is SimonRule.PROMISING else 'not promising'}."
            )
        else:
            rule = SimonRule.CONTINUE
    if over_run:
        explanation.append(
            f"Over-run: {len(over_run)} patient(s) beyond the design's stage sizes "
            f"({', '.join(p.patient_id for p in over_run)})."
        )

    known = [p for p in ordered if p.evaluable is True and p.responder is not None]
    responders = sum(1 for p in known if p.responder)
    return SimonMonitorState(
        boundaries=b,
        stage=stage,
        rule=rule,
        stage1_decidable=stage1_decidable,
        stage1_patient_ids=tuple(p.patient_id for p in stage1),
        stage1_responders=s1_resp,
        stage1_pending=s1_pending,
        stage2_patient_ids=tuple(p.patient_id for p in stage2),
        over_run_patient_ids=tuple(p.patient_id for p in over_run),
        not_evaluable_patient_ids=tuple(p.patient_id for p in not_evaluable),
        responders=responders,
        evaluable_with_outcome=len(known),
        total_responders_in_design=total_in_design,
        at_futility_boundary=s1_resp == b.r1,
        stage1_outcome_certain=certain,
        final_outcome_certain=final_certain,
        final_verdict=final,
        orr=rate_summary(responders, len(known)),
        explanation=tuple(explanation),
    )
