"""Kaplan–Meier estimates, medians with confidence intervals and median follow-up.

Sources and conventions (TrialDesk the survival.md research note "Kaplan–Meier conventions" and
the dose-finding.md research note §4.2–4.3):

* The fit is lifelines' ``KaplanMeierFitter`` (Kaplan & Meier, *JASA* 1958;53:457–481). Its
  pointwise 95% band is Greenwood's variance on the log(−log) scale, the same as R
  ``survfit(..., conf.type = "log-log")`` and SAS PROC LIFETEST's default (R's own default is
  ``"log"``). Every result carries ``CI_METHOD`` naming it.
* Ties: events are processed before censorings at the same time (the KM convention).
* Median: the first time the curve is ≤ 0.5 (lifelines' rule). When the curve equals 0.5
  exactly over an interval, R and SAS report the midpoint of that interval instead; TrialDesk
  keeps lifelines' value.
* Median CI: the first times the lower and the upper pointwise band are ≤ 0.5 (Brookmeyer &
  Crowley 1982 read off the band, as lifelines' ``median_survival_times`` on
  ``confidence_interval_`` and R's ``survfit``). **"Not reached" is ``None``** (never 0 and
  never infinity) and displays as ``"NR"``.
* Where the curve is 0 the log(−log) band is undefined. lifelines reports it as 0–0; here it is
  ``None`` (as R's ``NA``). Consequence, on the toy vector of dose-finding.md §4.2: the
  reverse-KM median follow-up is 300 days with 95% CI 120 – NR, as in R (lifelines' raw
  band would give an upper limit of 365). A missing *lower* limit while the median is reached
  (only possible when the curve drops from above 0.5 straight to 0) displays as ``"NE"``.
* Where no event has happened yet (curve = 1) the band is 1–1, as lifelines reports it.
* Survival at a landmark beyond the last observed time is ``None`` (not estimable; R's
  ``summary(fit, times)`` drops such times), except that a curve that has reached 0 stays 0.
* Numbers at risk at time t: patients with a time ≥ t (R's ``n.risk``).
* **Median follow-up** by reverse Kaplan–Meier (Schemper & Smith, *Control Clin Trials*
  1996;17:343–346): the same fit with the event indicator flipped (censored ⇄ event).
* Times are days throughout; months = days / 30.4375 are derived for display and export.

Results are frozen dataclasses holding plain floats and ints, never lifelines objects.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from lifelines import KaplanMeierFitter

from survival.domain.endpoints import PARAMCDS, EndpointValue
from survival.domain.units import DAYS_PER_MONTH, months_to_days

CI_METHOD = "log-log (Greenwood), pointwise 95%"
CONFIDENCE_LEVEL = 0.95
LANDMARK_MONTHS: tuple[int, ...] = (6, 12, 24)
NOT_REACHED = "NR"
NOT_ESTIMABLE = "NE"


def _opt(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _months(days: float | None) -> float | None:
    return None if days is None else days / DAYS_PER_MONTH


@dataclass(frozen=True, slots=True)
class MedianEstimate:
    """A median time with its 95% CI, in days; ``None`` = not reached / not estimable."""

    days: float | None
    lcl_days: float | None
    ucl_days: float | None

    @property
    def reached(self) -> bool:
        return self.days is not None

    @property
    def months(self) -> float | None:
        return _months(self.days)

    @property
    def lcl_months(self) -> float | None:
        return _months(self.lcl_days)

    @property
    def ucl_months(self) -> float | None:
        return _months(self.ucl_days)

    def display(self, unit: str = "months", digits: int = 1) -> str:
        """E.g. ``"7.9 (2.0–NR)"``: median (lower–upper), ``NR`` where not reached."""
        if unit not in ("months", "days"):
            raise ValueError("unit must be 'months' or 'days'")
        factor = DAYS_PER_MONTH if unit == "months" else 1.0

        def fmt(value: float | None, missing: str) -> str:
            return missing if value is None else f"{value / factor:.{digits}f}"

        lower_missing = NOT_ESTIMABLE if self.reached else NOT_REACHED
        return (
            f"{fmt(self.days, NOT_REACHED)} "
            f"({fmt(self.lcl_days, lower_missing)}–{fmt(self.ucl_days, NOT_REACHED)})"
        )


@dataclass(frozen=True, slots=True)
class LandmarkEstimate:
    """Survival probability at a landmark time with its pointwise 95% CI."""

    months: float
    survival: float | None
    lcl: float | None
    ucl: float | None
    n_at_risk: int

    @property
    def days(self) -> float:
        return months_to_days(self.months)


@dataclass(frozen=True, slots=True)
class KMStep:
    """One row of the Kaplan–Meier step function (every distinct time, and time 0)."""

    time_days: float
    n_at_risk: int
    n_events: int
    n_censored: int
    survival: float
    lcl: float | None
    ucl: float | None

    @property
    def time_months(self) -> float:
        return self.time_days / DAYS_PER_MONTH


@dataclass(frozen=True, slots=True)
class KMFit:
    """A Kaplan–Meier fit of one endpoint in one group (or overall when ``group`` is None)."""

    n: int
    events: int
    censored: int
    median: MedianEstimate
    landmarks: tuple[LandmarkEstimate, ...]
    steps: tuple[KMStep, ...]
    group: str | None = None
    paramcd: str | None = None
    ci_method: str = CI_METHOD

    def landmark(self, months: float) -> LandmarkEstimate | None:
        """The landmark estimate computed for ``months``, if it was requested."""
        for item in self.landmarks:
            if item.months == months:
                return item
        return None

    def n_at_risk_at(self, times_days: Iterable[float]) -> tuple[int, ...]:
        """Numbers at risk (time ≥ t) at each of ``times_days``, read off the step table."""
        if not self.steps:
            return tuple(0 for _ in times_days)
        times = np.fromiter((s.time_days for s in self.steps), dtype=float)
        at_risk = np.fromiter((s.n_at_risk for s in self.steps), dtype=np.int64)
        query = np.asarray(list(times_days), dtype=float)
        index = np.searchsorted(times, query, side="left")
        padded = np.append(at_risk, 0)
        return tuple(int(v) for v in padded[index])


def numbers_at_risk(
    durations_days: Sequence[float], times_days: Sequence[float]
) -> tuple[int, ...]:
    """Patients with a time ≥ t for each t (R ``n.risk``), straight from the durations."""
    ordered = np.sort(np.asarray(durations_days, dtype=float))
    query = np.asarray(times_days, dtype=float)
    return tuple(int(v) for v in ordered.size - np.searchsorted(ordered, query, side="left"))


def _first_time_at_or_below(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    # NaN compares False, so undefined band values never count as a crossing.
    hits = np.flatnonzero(values <= level)
    return float(times[hits[0]]) if hits.size else None


def _validate(
    durations_days: Iterable[float], events: Iterable[int | bool]
) -> tuple[np.ndarray, np.ndarray]:
    durations = np.asarray(
        list(durations_days) if not isinstance(durations_days, np.ndarray) else durations_days,
        dtype=float,
    )
    raw_events = np.asarray(list(events) if not isinstance(events, np.ndarray) else events)
    if durations.ndim != 1 or raw_events.ndim != 1 or durations.shape != raw_events.shape:
        raise ValueError("durations and events must be one-dimensional and of equal length")
    if not np.all(np.isfinite(durations)):
        raise ValueError("durations must be finite (no missing times)")
    if np.any(durations < 0):
        raise ValueError("durations must not be negative")
    if raw_events.size and not np.all(np.isin(raw_events, (0, 1))):
        raise ValueError("events must be 1 (event) or 0 (censored)")
    return durations, raw_events.astype(bool)


def _empty_fit(landmarks_months: Sequence[float], group: str | None, paramcd: str | None) -> KMFit:
    return KMFit(
        n=0,
        events=0,
        censored=0,
        median=MedianEstimate(None, None, None),
        landmarks=tuple(LandmarkEstimate(float(m), None, None, None, 0) for m in landmarks_months),
        steps=(),
        group=group,
        paramcd=paramcd,
    )


def fit_km(
    durations_days: Iterable[float],
    events: Iterable[int | bool],
    *,
    landmarks_months: Sequence[float] = LANDMARK_MONTHS,
    group: str | None = None,
    paramcd: str | None = None,
) -> KMFit:
    """Kaplan–Meier fit of times in days with events (1 = event, 0 = censored).

    An empty input gives a fit with ``n = 0``, no steps and every estimate ``None``.
    """
    durations, observed = _validate(durations_days, events)
    if durations.size == 0:
        return _empty_fit(landmarks_months, group, paramcd)

    kmf = KaplanMeierFitter(alpha=1 - CONFIDENCE_LEVEL).fit(durations, event_observed=observed)
    table = kmf.event_table
    index = table.index
    times = index.to_numpy(dtype=float)
    survival = kmf.survival_function_.reindex(index, method="ffill").iloc[:, 0].to_numpy(float)
    band = kmf.confidence_interval_.reindex(index, method="ffill")
    lcl = band.iloc[:, 0].to_numpy(dtype=float, copy=True)
    ucl = band.iloc[:, 1].to_numpy(dtype=float, copy=True)
    undefined = survival <= 0.0
    lcl[undefined] = np.nan
    ucl[undefined] = np.nan
    at_risk = table["at_risk"].to_numpy(dtype=np.int64)
    n_events = table["observed"].to_numpy(dtype=np.int64)
    n_censored = table["censored"].to_numpy(dtype=np.int64)

    median = MedianEstimate(
        days=_first_time_at_or_below(times, survival, 0.5),
        lcl_days=_first_time_at_or_below(times, lcl, 0.5),
        ucl_days=_first_time_at_or_below(times, ucl, 0.5),
    )

    ordered = np.sort(durations)
    last_time = float(times[-1])
    landmarks = []
    for months in landmarks_months:
        t = months_to_days(float(months))
        n_risk = int(ordered.size - np.searchsorted(ordered, t, side="left"))
        if t > last_time:
            value = 0.0 if survival[-1] <= 0.0 else None
            landmarks.append(LandmarkEstimate(float(months), value, None, None, n_risk))
            continue
        i = int(np.searchsorted(times, t, side="right")) - 1
        landmarks.append(
            LandmarkEstimate(float(months), float(survival[i]), _opt(lcl[i]), _opt(ucl[i]), n_risk)
        )

    steps = tuple(
        KMStep(
            time_days=t,
            n_at_risk=r,
            n_events=e,
            n_censored=c,
            survival=s,
            lcl=None if lo != lo else lo,  # NaN → None
            ucl=None if hi != hi else hi,
        )
        for t, r, e, c, s, lo, hi in zip(
            times.tolist(),
            at_risk.tolist(),
            n_events.tolist(),
            n_censored.tolist(),
            survival.tolist(),
            lcl.tolist(),
            ucl.tolist(),
            strict=True,
        )
    )
    n_total_events = int(observed.sum())
    return KMFit(
        n=int(durations.size),
        events=n_total_events,
        censored=int(durations.size) - n_total_events,
        median=median,
        landmarks=tuple(landmarks),
        steps=steps,
        group=group,
        paramcd=paramcd,
    )


def fit_km_by_group(
    durations_days: Iterable[float],
    events: Iterable[int | bool],
    groups: Iterable[Hashable],
    *,
    group_order: Sequence[Hashable] | None = None,
    landmarks_months: Sequence[float] = LANDMARK_MONTHS,
    paramcd: str | None = None,
) -> tuple[KMFit, ...]:
    """One fit per group, in ``group_order`` (default: sorted labels).

    A group named in ``group_order`` without patients gets an empty fit (``n = 0``).
    """
    durations, observed = _validate(durations_days, events)
    labels = np.asarray(list(groups), dtype=object)
    if labels.shape != durations.shape:
        raise ValueError("groups must have one label per duration")
    order = list(group_order) if group_order is not None else sorted(set(labels.tolist()), key=str)
    fits = []
    for label in order:
        mask = labels == label
        fits.append(
            fit_km(
                durations[mask],
                observed[mask].astype(np.int8),
                landmarks_months=landmarks_months,
                group=str(label),
                paramcd=paramcd,
            )
        )
    return tuple(fits)


def median_follow_up(
    durations_days: Iterable[float], events: Iterable[int | bool]
) -> MedianEstimate:
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996), with its 95% CI.

    Pass the OS times and OS event indicators: the event indicator is flipped here.
    """
    durations, observed = _validate(durations_days, events)
    return fit_km(durations, (~observed).astype(np.int8), landmarks_months=()).median


def fit_endpoints(
    values: Sequence[EndpointValue],
    *,
    groups: Mapping[str, Hashable] | None = None,
    group_order: Sequence[Hashable] | None = None,
    paramcds: Sequence[str] = PARAMCDS,
    landmarks_months: Sequence[float] = LANDMARK_MONTHS,
) -> tuple[KMFit, ...]:
    """Fits for each endpoint of derived ADTTE values: overall, or by ``groups[usubjid]``.

    With ``groups``, patients missing from the mapping are left out of the grouped fits.
    """
    paramcd_arr = np.array([v.paramcd for v in values], dtype=object)
    aval = np.array([v.aval_days for v in values], dtype=float)
    event = np.array([1 - v.cnsr for v in values], dtype=np.int8)
    label_arr = (
        np.array([groups.get(v.usubjid) for v in values], dtype=object)
        if groups is not None
        else None
    )
    fits: list[KMFit] = []
    for paramcd in paramcds:
        mask = paramcd_arr == paramcd
        if label_arr is None:
            fits.append(
                fit_km(
                    aval[mask],
                    event[mask],
                    landmarks_months=landmarks_months,
                    paramcd=paramcd,
                )
            )
            continue
        labels = label_arr[mask]
        keep = np.array([label is not None for label in labels], dtype=bool)
        order = group_order
        if order is None:
            order = sorted({label for label in labels.tolist() if label is not None}, key=str)
        fits.extend(
            fit_km_by_group(
                aval[mask][keep],
                event[mask][keep],
                labels[keep],
                group_order=order,
                landmarks_months=landmarks_months,
                paramcd=paramcd,
            )
        )
    return tuple(fits)
