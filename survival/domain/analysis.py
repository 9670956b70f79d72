"""One trial's survival analysis at a data cut: endpoints, Kaplan–Meier fits, follow-up, ORR.

Sources: TrialDesk's survival specification (``survival.md``) (endpoints, Kaplan–Meier conventions, the
export) and the dose-finding reference notes, §4 (Clopper–Pearson ORR, reverse-KM median
follow-up). Pure: the inputs come from ``survival.selectors.trial_inputs``; nothing here reads
the database or the clock.

Every fit is computed once, in :func:`analyse`; the datasets, the page, the API and the plots
all read the same fits. ``km_summary`` and ``km_estimates`` hold the overall fits (``GROUP``
``ALL``) followed, for each endpoint, by one fit per dose level in escalation order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from response.domain.binomial import METHOD_LABEL as ORR_CI_METHOD
from response.domain.binomial import RateSummary, rate_summary
from survival.domain.adam import build_km_estimates, build_km_summary, data_dictionary_frame
from survival.domain.columns import derive_adtte
from survival.domain.endpoints import OS, PARAM_LABELS, PARAMCDS, RULE_VERSION
from survival.domain.inputs import (
    OVERALL,
    TrialInputs,
    adae_frame,
    adrs_frame,
    adsl_frame,
    response_counts,
    swimmer_lanes,
)
from survival.domain.km import (
    CI_METHOD,
    KMFit,
    MedianEstimate,
    fit_km,
    fit_km_by_group,
    median_follow_up,
)

#: The files of an export, in the order they are written (``data_dictionary`` last).
DATASET_NAMES: tuple[str, ...] = (
    "adsl",
    "adtte",
    "adae",
    "adrs",
    "km_summary",
    "km_estimates",
    "data_dictionary",
)
#: Swimmer plots are for tens of patients; beyond this the page offers the datasets instead.
SWIMMER_MAX_PATIENTS = 200


@dataclass(frozen=True, slots=True)
class ResponseRate:
    group: str
    summary: RateSummary


@dataclass(frozen=True)
class SurvivalAnalysis:
    inputs: TrialInputs
    adtte: pd.DataFrame
    fits: tuple[KMFit, ...]
    follow_up: MedianEstimate
    response_rates: tuple[ResponseRate, ...]

    # --- reading the fits ---------------------------------------------------------------------

    def fits_for(self, paramcd: str, *, by_dose_level: bool = False) -> tuple[KMFit, ...]:
        return tuple(
            fit
            for fit in self.fits
            if fit.paramcd == paramcd and (fit.group != OVERALL) == by_dose_level
        )

    def overall(self, paramcd: str) -> KMFit:
        return self.fits_for(paramcd)[0]

    @property
    def n_treated(self) -> int:
        return self.inputs.n_treated

    # --- outputs ------------------------------------------------------------------------------

    def frames(self) -> dict[str, pd.DataFrame]:
        """The export's datasets, in ``DATASET_NAMES`` order."""
        inputs = self.inputs
        n_agents = max(1, min(len(inputs.agents), 4))
        return {
            "adsl": adsl_frame(inputs),
            "adtte": self.adtte,
            "adae": adae_frame(inputs, n_agents=n_agents),
            "adrs": adrs_frame(inputs),
            "km_summary": build_km_summary(self.fits),
            "km_estimates": build_km_estimates(self.fits),
            "data_dictionary": _dictionary(inputs.agents, n_agents),
        }

    def context(self) -> dict[str, object]:
        """What the manifest says about this analysis besides its files."""
        return analysis_context(
            studyid=self.inputs.studyid,
            data_cut=self.inputs.data_cut.isoformat(),
            follow_up=self.follow_up,
            sources={
                s.name: {"available": s.available, "detail": s.detail} for s in self.inputs.sources
            },
        )

    def summary(self) -> dict[str, Any]:
        """The results as plain JSON-able data (the API's answer and the page's tables)."""
        inputs = self.inputs
        endpoints = []
        for paramcd in PARAMCDS:
            fits = [f for f in self.fits if f.paramcd == paramcd]
            endpoints.append(
                {
                    "paramcd": paramcd,
                    "param": PARAM_LABELS[paramcd],
                    "fits": [_fit_summary(f) for f in fits],
                }
            )
        return {
            "trial": inputs.studyid,
            "data_cut": inputs.data_cut.isoformat(),
            "n_enrolled": inputs.n_patients,
            "n_treated": self.n_treated,
            "ci_method": CI_METHOD,
            "time_unit": "months (days / 30.4375)",
            "median_follow_up": self.context()["median_follow_up"],
            "endpoints": endpoints,
            "response_rates": [_rate_summary(r) for r in self.response_rates],
            "sources": [
                {"name": s.name, "available": s.available, "detail": s.detail}
                for s in inputs.sources
            ],
        }

    def km_plot(self, paramcd: str, *, by_dose_level: bool = False, fmt: str = "png") -> bytes:
        """The Kaplan–Meier plot of one endpoint; ``ValueError`` when nobody is in it."""
        from survival.domain.plots import km_plot  # matplotlib only when a plot is drawn

        if paramcd not in PARAMCDS:
            raise ValueError(f"unknown endpoint {paramcd!r}; expected one of {PARAMCDS}")
        fits = self.fits_for(paramcd, by_dose_level=by_dose_level)
        by = " by dose level" if by_dose_level else ""
        title = (
            f"{self.inputs.studyid}: {PARAM_LABELS[paramcd]}{by}, "
            f"data cut {self.inputs.data_cut:%Y-%m-%d}"
        )
        return km_plot(fits, title=title, fmt=fmt)

    def swimmer_plot(self, *, fmt: str = "png") -> bytes:
        from survival.domain.plots import swimmer_plot

        lanes = swimmer_lanes(self.inputs, self.adtte)
        if len(lanes) > SWIMMER_MAX_PATIENTS:
            raise ValueError(
                f"{len(lanes)} treated patients: a swimmer plot is readable for at most "
                f"{SWIMMER_MAX_PATIENTS}; use the datasets instead"
            )
        title = (
            f"{self.inputs.studyid}: time on treatment, data cut {self.inputs.data_cut:%Y-%m-%d}"
        )
        return swimmer_plot(lanes, title=title, fmt=fmt)


def _dictionary(agents: Sequence[str], n_agents: int) -> pd.DataFrame:
    frame = data_dictionary_frame(tuple(agents[:n_agents]))
    extra = {f"AREL{i}" for i in range(n_agents + 1, 5)}
    unused = (frame["DATASET"] == "adae") & frame["VARIABLE"].isin(extra)
    return frame[~unused.astype(bool)].reset_index(drop=True)


def analyse(inputs: TrialInputs) -> SurvivalAnalysis:
    """Derive the endpoints (vectorised) and run every fit once: overall, then by dose level."""
    adtte = derive_adtte(
        inputs.patients,
        inputs.known_alive,
        inputs.assessments,
        data_cut=inputs.data_cut,
        studyid=inputs.studyid,
    )
    paramcd = adtte["PARAMCD"].to_numpy(dtype=object)
    aval = adtte["AVAL"].to_numpy(dtype=float)
    event = 1 - adtte["CNSR"].to_numpy(dtype=np.int64)
    levels = dict(zip(inputs.patients["USUBJID"], inputs.patients["DOSELVL"], strict=True))
    group = adtte["USUBJID"].map(levels).to_numpy(dtype=object)
    has_group = ~pd.isna(group)
    order = inputs.dose_group_order
    fits: list[KMFit] = []
    for code in PARAMCDS:
        mask = paramcd == code
        fits.append(fit_km(aval[mask], event[mask], paramcd=code, group=OVERALL))
        grouped = mask & has_group
        fits += fit_km_by_group(
            aval[grouped], event[grouped], group[grouped], group_order=order, paramcd=code
        )
    os_rows = paramcd == OS
    follow_up = median_follow_up(aval[os_rows], event[os_rows])
    rates = tuple(
        ResponseRate(c.group, rate_summary(c.responders, c.evaluable))
        for c in response_counts(inputs)
    )
    return SurvivalAnalysis(
        inputs=inputs,
        adtte=adtte,
        fits=tuple(fits),
        follow_up=follow_up,
        response_rates=rates,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _probability(value: float | None, lcl: float | None, ucl: float | None) -> str:
    if value is None:
        return "NE"

    def fmt(x: float | None) -> str:
        return "NE" if x is None else f"{x:.2f}"

    return f"{value:.2f} ({fmt(lcl)}–{fmt(ucl)})"


def _fit_summary(fit: KMFit) -> dict[str, Any]:
    median = fit.median
    return {
        "group": fit.group,
        "n": fit.n,
        "events": fit.events,
        "censored": fit.censored,
        "median_months": _round(median.months),
        "median_lcl_months": _round(median.lcl_months),
        "median_ucl_months": _round(median.ucl_months),
        "median_display": median.display() if fit.n else "no patients",
        "landmarks": [
            {
                "months": lm.months,
                "survival": _round(lm.survival),
                "lcl": _round(lm.lcl),
                "ucl": _round(lm.ucl),
                "n_at_risk": lm.n_at_risk,
                "display": _probability(lm.survival, lm.lcl, lm.ucl),
            }
            for lm in fit.landmarks
        ],
    }


def _rate_summary(rate: ResponseRate) -> dict[str, Any]:
    s = rate.summary
    display = "no evaluable patients"
    if s.rate is not None and s.lcl is not None and s.ucl is not None:
        display = f"{s.x}/{s.n} = {s.rate:.1%} (95% CI {s.lcl:.1%}–{s.ucl:.1%})"
    return {
        "group": rate.group,
        "responders": s.x,
        "evaluable": s.n,
        "rate": _round(s.rate),
        "lcl": _round(s.lcl),
        "ucl": _round(s.ucl),
        "display": display,
        "method": s.method,
    }


def analysis_context(
    *,
    studyid: str,
    data_cut: str,
    follow_up: MedianEstimate,
    sources: dict[str, dict[str, object]],
) -> dict[str, object]:
    """The manifest's description of the analysis (JSON-able, deterministic)."""
    return {
        "trial": studyid,
        "data_cut": data_cut,
        "endpoint_rules": RULE_VERSION,
        "ci_method": CI_METHOD,
        "orr_ci_method": ORR_CI_METHOD,
        "time_unit": "AVAL in days; AVALM, TIME and medians in months = days / 30.4375",
        "median_follow_up": {
            "method": "reverse Kaplan-Meier (Schemper & Smith 1996) on OS",
            "months": _round(follow_up.months),
            "lcl_months": _round(follow_up.lcl_months),
            "ucl_months": _round(follow_up.ucl_months),
            "display": follow_up.display(),
        },
        "sources": sources,
    }
