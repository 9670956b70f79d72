"""CDISC ADaM-style analysis datasets as pandas DataFrames, and their data dictionary.

Sources: TrialDesk the survival.md research note ("The export") for the datasets and their
variables; CDISC ADaM Implementation Guide v1.3 (ADSL, BDS) and ADaM Structure for Occurrence
Data v1.1 (ADAE) and the ADaM BDS for time-to-event analyses (ADTTE v1.0) for the naming
conventions (``*FL`` flags Y/N, ``*DT`` dates, ``CNSR`` 1 = censored, ``AVAL``); SAS Version 5
transport format (TS-140) for the 8-character name and 40-character label limits.

Conventions:

* Every frame has a fixed column order and explicit dtypes: text ``string``, integers
  ``Int64``, decimals ``Float64`` (all nullable), dates ``datetime64[ns]`` at midnight. Missing
  values are ``<NA>``/``NaT`` — never 0, "" or a sentinel — so "median not reached" is an
  empty cell, never 0.
* Times in ``km_summary`` and ``km_estimates`` are months (days / 30.4375); ``adtte`` keeps
  both ``AVAL`` (days) and ``AVALM`` (months). ``km_estimates`` starts with the time-0 row.
* Column names are those of survival.md. Five of them are longer than SAS V5 allows
  (``MEDIAN_LCL``, ``MEDIAN_UCL``, ``CI_METHOD``, ``N_AT_RISK``, ``N_CENSORED``): each
  dictionary entry carries an ``xpt_name`` of at most 8 characters, and ``to_xpt_frame``
  renames for the XPT writer. Every other name is already its own XPT name.
* Builders are column-wise (one pass per column, no per-row DataFrame work) so that a
  10,000-patient export stays fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from survival.domain.endpoints import PARAM_LABELS, PARAMCDS, EndpointValue
from survival.domain.km import LANDMARK_MONTHS, KMFit
from survival.domain.units import DAYS_PER_MONTH

STRING = "string"
INTEGER = "integer"
FLOAT = "float"
DATE = "date"
_DTYPES = {STRING: "string", INTEGER: "Int64", FLOAT: "Float64", DATE: "datetime64[ns]"}

YES_NO: tuple[tuple[str, str], ...] = (("Y", "Yes"), ("N", "No"))
RESPONSE_CODES: tuple[tuple[str, str], ...] = (
    ("sCR", "Stringent complete response (IMWG)"),
    ("CR", "Complete response"),
    ("VGPR", "Very good partial response (IMWG)"),
    ("PR", "Partial response"),
    ("MR", "Minimal response (IMWG)"),
    ("SD", "Stable disease"),
    ("PD", "Progressive disease"),
    ("NE", "Not evaluable"),
)
ATTRIBUTION_CODES: tuple[tuple[str, str], ...] = (
    ("NOT RELATED", "Unrelated"),
    ("UNLIKELY", "Unlikely related"),
    ("POSSIBLE", "Possibly related"),
    ("PROBABLE", "Probably related"),
    ("DEFINITE", "Definitely related"),
)
MAX_AGENTS = 4
"""AREL1…AREL4: attribution to each study agent, in the order the trial lists its agents."""


@dataclass(frozen=True, slots=True)
class Variable:
    """One entry of the data dictionary."""

    dataset: str
    name: str
    label: str
    type: str
    """``string``, ``integer``, ``float`` or ``date``."""
    unit: str | None = None
    codelist: tuple[tuple[str, str], ...] | None = None
    """(code, decode) pairs when the values are controlled."""
    optional: bool = False
    """Present only when asked for (``GROUP`` in the Kaplan–Meier frames)."""
    xpt_name: str = ""
    """Name in SAS V5 transport files (≤ 8 characters); defaults to ``name``."""

    def __post_init__(self) -> None:
        if not self.xpt_name:
            object.__setattr__(self, "xpt_name", self.name)

    @property
    def dtype(self) -> str:
        return _DTYPES[self.type]


def _v(
    dataset: str,
    name: str,
    label: str,
    kind: str,
    unit: str | None = None,
    codelist: tuple[tuple[str, str], ...] | None = None,
    *,
    optional: bool = False,
    xpt_name: str = "",
) -> Variable:
    return Variable(dataset, name, label, kind, unit, codelist, optional, xpt_name)


def _adsl() -> tuple[Variable, ...]:
    d = "adsl"
    return (
        _v(d, "STUDYID", "Study Identifier", STRING),
        _v(d, "USUBJID", "Unique Subject Identifier", STRING),
        _v(d, "SITEID", "Study Site Identifier", STRING),
        _v(d, "DOSELVL", "Dose Level", STRING),
        _v(d, "DOSELVLN", "Dose Level (N)", INTEGER),
        _v(d, "RFICDT", "Date of Informed Consent", DATE),
        _v(d, "ENRLDT", "Date of Enrollment", DATE),
        _v(d, "TRTSDT", "Date of First Exposure to Treatment", DATE),
        _v(d, "TRTEDT", "Date of Last Exposure to Treatment", DATE),
        _v(d, "SAFFL", "Safety Population Flag", STRING, codelist=YES_NO),
        _v(d, "DLTEVLFL", "DLT-Evaluable Population Flag", STRING, codelist=YES_NO),
        _v(d, "EFFFL", "Response-Evaluable Population Flag", STRING, codelist=YES_NO),
        _v(d, "RP2DFL", "Treated at Recommended Phase 2 Dose Flag", STRING, codelist=YES_NO),
        _v(d, "BOR", "Best Overall Response", STRING, codelist=RESPONSE_CODES),
        _v(d, "BORDT", "Date of Best Overall Response", DATE),
        _v(
            d,
            "EOSSTT",
            "End of Study Status",
            STRING,
            codelist=(
                ("ONGOING", "Ongoing"),
                ("COMPLETED", "Completed"),
                ("DISCONTINUED", "Discontinued"),
            ),
        ),
        _v(d, "DCSREAS", "Reason for Discontinuation from Study", STRING),
        _v(d, "EOSDT", "End of Study Date", DATE),
        _v(d, "DTHDT", "Date of Death", DATE),
        _v(d, "LSTALVDT", "Date Last Known Alive", DATE),
        _v(d, "DCUTDT", "Data Cut-off Date", DATE),
    )


def _adtte() -> tuple[Variable, ...]:
    d = "adtte"
    return (
        _v(d, "STUDYID", "Study Identifier", STRING),
        _v(d, "USUBJID", "Unique Subject Identifier", STRING),
        _v(
            d,
            "PARAMCD",
            "Parameter Code",
            STRING,
            codelist=tuple((code, PARAM_LABELS[code]) for code in PARAMCDS),
        ),
        _v(d, "PARAM", "Parameter", STRING),
        _v(d, "STARTDT", "Time-to-Event Origin Date", DATE),
        _v(d, "ADT", "Analysis Date (Event or Censoring)", DATE),
        _v(d, "AVAL", "Analysis Value (Days)", INTEGER, unit="days"),
        _v(d, "AVALM", "Analysis Value (Months)", FLOAT, unit="months (days / 30.4375)"),
        _v(d, "CNSR", "Censor", INTEGER, codelist=(("0", "Event"), ("1", "Censored"))),
        _v(d, "EVNTDESC", "Event or Censoring Description", STRING),
        _v(d, "CNSDTDSC", "Censor Date Description", STRING),
        _v(d, "SRCDOM", "Source Data Domain", STRING),
        _v(d, "SRCID", "Source Record Identifier", STRING),
    )


def _adae() -> tuple[Variable, ...]:
    d = "adae"
    agents = tuple(
        _v(d, f"AREL{i}", f"Causality to Study Agent {i}", STRING, codelist=ATTRIBUTION_CODES)
        for i in range(1, MAX_AGENTS + 1)
    )
    return (
        _v(d, "STUDYID", "Study Identifier", STRING),
        _v(d, "USUBJID", "Unique Subject Identifier", STRING),
        _v(d, "AESEQ", "Sequence Number", INTEGER),
        _v(d, "AETERM", "Reported Term for the Adverse Event", STRING),
        _v(d, "AEDECOD", "Dictionary-Derived Term (CTCAE v5.0)", STRING),
        _v(d, "AEBODSYS", "Body System or Organ Class", STRING),
        _v(
            d,
            "AETOXGR",
            "Standard Toxicity Grade (CTCAE v5.0)",
            INTEGER,
            codelist=tuple((str(g), f"Grade {g}") for g in range(1, 6)),
        ),
        _v(d, "AESER", "Serious Event", STRING, codelist=YES_NO),
        _v(d, "DLTFL", "Dose-Limiting Toxicity Flag", STRING, codelist=YES_NO),
        _v(d, "TRTEMFL", "Treatment Emergent Analysis Flag", STRING, codelist=YES_NO),
        _v(d, "ASTDT", "Analysis Start Date", DATE),
        _v(d, "AENDT", "Analysis End Date", DATE),
        _v(d, "AEOUT", "Outcome of Adverse Event", STRING),
        *agents,
    )


def _adrs() -> tuple[Variable, ...]:
    d = "adrs"
    return (
        _v(d, "STUDYID", "Study Identifier", STRING),
        _v(d, "USUBJID", "Unique Subject Identifier", STRING),
        _v(
            d,
            "PARAMCD",
            "Parameter Code",
            STRING,
            codelist=(("OVRLRESP", "Overall Response by Investigator"),),
        ),
        _v(d, "PARAM", "Parameter", STRING),
        _v(d, "RSCRIT", "Response Criteria", STRING),
        _v(d, "AVISIT", "Analysis Visit", STRING),
        _v(d, "ADT", "Analysis Date", DATE),
        _v(d, "AVALC", "Computed Response at Assessment", STRING, codelist=RESPONSE_CODES),
        _v(d, "CONFRESP", "Computed Confirmed Response", STRING, codelist=RESPONSE_CODES),
        _v(d, "INVRESP", "Response Entered by Investigator", STRING, codelist=RESPONSE_CODES),
        _v(d, "AGREEFL", "Computed and Entered Response Agree", STRING, codelist=YES_NO),
        _v(d, "ADEQFL", "Adequate Assessment Flag", STRING, codelist=YES_NO),
        _v(d, "SRCID", "Source Record Identifier", STRING),
    )


def _km_summary() -> tuple[Variable, ...]:
    d = "km_summary"
    month = "months (days / 30.4375)"
    landmarks: list[Variable] = []
    for m in LANDMARK_MONTHS:
        landmarks += [
            _v(d, f"S{m}", f"Survival Probability at {m} Months", FLOAT, unit="proportion"),
            _v(d, f"S{m}_LCL", f"Survival at {m} Months, Lower 95% CL", FLOAT, unit="proportion"),
            _v(d, f"S{m}_UCL", f"Survival at {m} Months, Upper 95% CL", FLOAT, unit="proportion"),
        ]
    return (
        _v(d, "PARAMCD", "Parameter Code", STRING),
        _v(d, "GROUP", "Group", STRING, optional=True),
        _v(d, "N", "Number of Patients", INTEGER),
        _v(d, "EVENTS", "Number of Events", INTEGER),
        _v(d, "CENSORED", "Number Censored", INTEGER),
        _v(d, "MEDIAN", "Median Time (Empty = Not Reached)", FLOAT, unit=month),
        _v(d, "MEDIAN_LCL", "Median, Lower 95% CL (Empty = NR)", FLOAT, month, xpt_name="MEDLCL"),
        _v(d, "MEDIAN_UCL", "Median, Upper 95% CL (Empty = NR)", FLOAT, month, xpt_name="MEDUCL"),
        *landmarks,
        _v(d, "CI_METHOD", "Confidence Interval Method", STRING, xpt_name="CIMETHOD"),
    )


def _km_estimates() -> tuple[Variable, ...]:
    d = "km_estimates"
    return (
        _v(d, "PARAMCD", "Parameter Code", STRING),
        _v(d, "GROUP", "Group", STRING, optional=True),
        _v(d, "TIME", "Time", FLOAT, unit="months (days / 30.4375)"),
        _v(d, "N_AT_RISK", "Number at Risk", INTEGER, xpt_name="NATRISK"),
        _v(d, "N_EVENTS", "Number of Events at Time", INTEGER),
        _v(d, "N_CENSORED", "Number Censored at Time", INTEGER, xpt_name="NCENSOR"),
        _v(d, "SURVIVAL", "Kaplan-Meier Survival Estimate", FLOAT, unit="proportion"),
        _v(d, "LCL", "Lower 95% CL (log-log)", FLOAT, unit="proportion"),
        _v(d, "UCL", "Upper 95% CL (log-log)", FLOAT, unit="proportion"),
    )


DATASETS: tuple[str, ...] = ("adsl", "adtte", "adae", "adrs", "km_summary", "km_estimates")
DATA_DICTIONARY: tuple[Variable, ...] = (
    *_adsl(),
    *_adtte(),
    *_adae(),
    *_adrs(),
    *_km_summary(),
    *_km_estimates(),
)
_BY_DATASET: dict[str, tuple[Variable, ...]] = {
    name: tuple(v for v in DATA_DICTIONARY if v.dataset == name) for name in DATASETS
}


def variables(dataset: str) -> tuple[Variable, ...]:
    """The dictionary entries of one dataset, in column order (optional ones included)."""
    try:
        return _BY_DATASET[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}") from None


def data_dictionary_frame(agents: Sequence[str] = ()) -> pd.DataFrame:
    """The data dictionary as a table (DATASET, VARIABLE, XPTNAME, LABEL, TYPE, UNIT, CODELIST).

    ``agents`` names the study agents in order; their names replace "Study Agent i" in the
    AREL labels (cut to 40 characters), and AREL columns beyond them are dropped.
    """
    if len(agents) > MAX_AGENTS:
        raise ValueError(f"at most {MAX_AGENTS} study agents are supported, got {len(agents)}")
    entries = []
    for v in DATA_DICTIONARY:
        label = v.label
        if v.dataset == "adae" and v.name.startswith("AREL"):
            i = int(v.name[4:])
            if agents and i > len(agents):
                continue
            if agents:
                label = f"Causality to {agents[i - 1].title()}"[:40]
        codelist = None if v.codelist is None else "; ".join(f"{c}={d}" for c, d in v.codelist)
        entries.append((v.dataset, v.name, v.xpt_name, label, v.type, v.unit, codelist))
    columns = ("DATASET", "VARIABLE", "XPTNAME", "LABEL", "TYPE", "UNIT", "CODELIST")
    return pd.DataFrame(
        {
            name: pd.array(list(values), dtype="string")
            for name, values in zip(columns, zip(*entries, strict=True), strict=True)
        }
    )


# --- column casting -------------------------------------------------------------------------

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _dates(values: list[object]) -> np.ndarray:
    """Calendar dates (``date``, ``datetime``, ``Timestamp``, ISO text or None) as datetime64[ns]."""
    try:
        # Fast path: every value is a date-like object; its ordinal drops any time of day.
        ordinals = np.array([v.toordinal() for v in values], dtype=np.int64)  # type: ignore[attr-defined]
    except AttributeError:
        missing = np.array([v is None or v is pd.NaT for v in values], dtype=bool)
        if all(hasattr(v, "toordinal") for v, m in zip(values, missing, strict=True) if not m):
            ordinals = np.array(
                [
                    _EPOCH_ORDINAL if m else v.toordinal()
                    for v, m in zip(values, missing, strict=True)
                ],
                dtype=np.int64,
            )
        else:
            parsed = pd.to_datetime(pd.Series(values, dtype=object))
            return parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")
    else:
        missing = None
    stamps = (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[ns]")
    if missing is not None:
        stamps[missing] = np.datetime64("NaT")
    return stamps


def _flag(value: object) -> object:
    if value is True:
        return "Y"
    if value is False:
        return "N"
    return value


def _column(
    variable: Variable, values: list[object]
) -> pd.api.extensions.ExtensionArray | np.ndarray:
    if variable.type == DATE:
        return _dates(values)
    if variable.codelist == YES_NO:
        values = [_flag(v) for v in values]
    # pandas' string dtype turns any non-text value into its text and keeps None as <NA>.
    return pd.array(values, dtype=variable.dtype)


def _frame(
    dataset: str, columns: Mapping[str, list[object]], n_rows: int, *, with_group: bool = False
) -> pd.DataFrame:
    data = {}
    for variable in variables(dataset):
        if variable.optional and not with_group:
            continue
        values = columns.get(variable.name)
        if values is None:
            values = [None] * n_rows
        data[variable.name] = _column(variable, values)
    return pd.DataFrame(data, index=pd.RangeIndex(n_rows))


def _getter(row: object) -> Callable[[str], object]:
    if isinstance(row, Mapping):
        return row.get
    return lambda name: getattr(row, name.lower(), None)


def _from_rows(dataset: str, rows: Iterable[Mapping[str, object] | object]) -> pd.DataFrame:
    rows = list(rows)
    known = {v.name for v in variables(dataset)}
    for row in rows:
        if isinstance(row, Mapping):
            unknown = row.keys() - known
            if unknown:
                raise ValueError(f"{dataset}: unknown variables {sorted(unknown)}")
    getters = [_getter(row) for row in rows]
    columns = {name: [get(name) for get in getters] for name in known}
    return _frame(dataset, columns, len(rows))


def build_adsl(rows: Iterable[Mapping[str, object] | object]) -> pd.DataFrame:
    """ADSL, one row per patient, from mappings keyed by variable name (``"USUBJID"``) or
    objects with the lower-case attributes (``usubjid``). Booleans become ``Y``/``N`` flags."""
    return _from_rows("adsl", rows)


def build_adae(
    rows: Iterable[Mapping[str, object] | object], *, n_agents: int = MAX_AGENTS
) -> pd.DataFrame:
    """ADAE, one row per adverse event (see ``build_adsl`` for the row format).

    ``AREL1`` … ``AREL{n_agents}`` hold the attribution to each study agent in the trial's
    order (label them with ``data_dictionary_frame(agents)``); higher ones are dropped.
    """
    if not 1 <= n_agents <= MAX_AGENTS:
        raise ValueError(f"n_agents must be between 1 and {MAX_AGENTS}")
    frame = _from_rows("adae", rows)
    return frame.drop(columns=[f"AREL{i}" for i in range(n_agents + 1, MAX_AGENTS + 1)])


def build_adrs(rows: Iterable[Mapping[str, object] | object]) -> pd.DataFrame:
    """ADRS, one row per response assessment (see ``build_adsl`` for the row format)."""
    return _from_rows("adrs", rows)


def build_adtte(values: Sequence[EndpointValue], *, studyid: str) -> pd.DataFrame:
    """ADTTE, one row per patient per endpoint, from derived ``EndpointValue`` rows."""
    n = len(values)
    columns: dict[str, list[object]] = {
        "STUDYID": [studyid] * n,
        "USUBJID": [v.usubjid for v in values],
        "PARAMCD": [v.paramcd for v in values],
        "PARAM": [v.param for v in values],
        "STARTDT": [v.startdt for v in values],
        "ADT": [v.adt for v in values],
        "AVAL": [v.aval_days for v in values],
        "AVALM": [v.avalm for v in values],
        "CNSR": [v.cnsr for v in values],
        "EVNTDESC": [v.evntdesc for v in values],
        "CNSDTDSC": [v.cnsdtdsc for v in values],
        "SRCDOM": [v.srcdom for v in values],
        "SRCID": [v.srcid for v in values],
    }
    return _frame("adtte", columns, n)


def _has_groups(fits: Sequence[KMFit]) -> bool:
    return any(fit.group is not None for fit in fits)


def build_km_summary(fits: Sequence[KMFit]) -> pd.DataFrame:
    """One row per fit (endpoint, and group when any fit has one); times in months."""
    columns: dict[str, list[object]] = {
        "PARAMCD": [fit.paramcd for fit in fits],
        "GROUP": [fit.group for fit in fits],
        "N": [fit.n for fit in fits],
        "EVENTS": [fit.events for fit in fits],
        "CENSORED": [fit.censored for fit in fits],
        "MEDIAN": [fit.median.months for fit in fits],
        "MEDIAN_LCL": [fit.median.lcl_months for fit in fits],
        "MEDIAN_UCL": [fit.median.ucl_months for fit in fits],
        "CI_METHOD": [fit.ci_method for fit in fits],
    }
    for m in LANDMARK_MONTHS:
        found = [fit.landmark(float(m)) for fit in fits]
        columns[f"S{m}"] = [None if x is None else x.survival for x in found]
        columns[f"S{m}_LCL"] = [None if x is None else x.lcl for x in found]
        columns[f"S{m}_UCL"] = [None if x is None else x.ucl for x in found]
    return _frame("km_summary", columns, len(fits), with_group=_has_groups(fits))


def build_km_estimates(fits: Sequence[KMFit]) -> pd.DataFrame:
    """The step functions of all fits stacked: one row per fit per distinct time (from 0)."""
    columns: dict[str, list[object]] = {
        name: []
        for name in (
            "PARAMCD",
            "GROUP",
            "TIME",
            "N_AT_RISK",
            "N_EVENTS",
            "N_CENSORED",
            "SURVIVAL",
            "LCL",
            "UCL",
        )
    }
    for fit in fits:
        k = len(fit.steps)
        columns["PARAMCD"] += [fit.paramcd] * k
        columns["GROUP"] += [fit.group] * k
        columns["TIME"] += [s.time_days / DAYS_PER_MONTH for s in fit.steps]
        columns["N_AT_RISK"] += [s.n_at_risk for s in fit.steps]
        columns["N_EVENTS"] += [s.n_events for s in fit.steps]
        columns["N_CENSORED"] += [s.n_censored for s in fit.steps]
        columns["SURVIVAL"] += [s.survival for s in fit.steps]
        columns["LCL"] += [s.lcl for s in fit.steps]
        columns["UCL"] += [s.ucl for s in fit.steps]
    n = len(columns["TIME"])
    return _frame("km_estimates", columns, n, with_group=_has_groups(fits))


def to_xpt_frame(frame: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """The frame renamed to SAS V5 names (≤ 8 characters) and its variable labels, in order.

    For ``pyreadstat.write_xport(frame, path, table_name=..., column_labels=labels)``; the
    table name must itself be ≤ 8 characters (``km_summary`` → e.g. ``KMSUMM``).
    """
    by_name = {v.name: v for v in variables(dataset)}
    unknown = [c for c in frame.columns if c not in by_name]
    if unknown:
        raise ValueError(f"{dataset}: columns not in the data dictionary: {unknown}")
    renamed = frame.rename(columns={c: by_name[c].xpt_name for c in frame.columns})
    return renamed, [by_name[c].label for c in frame.columns]
