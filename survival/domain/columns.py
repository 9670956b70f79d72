"""Column-wise construction of the ADaM frames, and the vectorised endpoint derivation.

Sources: the endpoint rules of ``survival.domain.endpoints`` (TrialDesk's survival specification,
``survival.md``, "Endpoint definitions") and the dataset conventions of ``survival.domain.adam``.

:func:`derive_adtte` computes, for a whole trial at once with numpy and pandas, exactly the
frame ``build_adtte(derive_all_endpoints(...))`` gives (same rows, order, values, types and
error messages; ``censor_at_new_therapy`` is not supported here: TrialDesk's default is off).
``derive_endpoints`` stays the reference: the tests compare the two on generated cases. It
exists because a 10,000-patient export must cost about what one SQL query and the Kaplan–Meier
fits cost, and one Python call per patient does not.

Input frames (dates ``datetime64[ns]`` at midnight, NaT = none; text ``object`` with None):

* ``patients`` — one row per patient, in output order: ``patient_id``, ``USUBJID``,
  ``first_dt/first_dom/first_id`` (first dose), ``death_dt/death_dom/death_id``,
  ``progression_dt/…`` and ``response_dt/…`` (first response ≥ PR), each with its source.
* ``known_alive`` — ``patient_id, dt, dom, id``: records showing the patient alive, in the
  order they are cited on equal dates.
* ``assessments`` — ``patient_id, adt, response, adequate, srcdom, srcid``: response
  assessments in the order they are cited on equal dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from survival.domain import endpoints as ep
from survival.domain.adam import DATE, variables
from survival.domain.units import DAYS_PER_MONTH

NAT = np.datetime64("NaT", "ns")
SOURCED = ("first", "death", "progression", "response")
KNOWN_ALIVE_COLUMNS = ("patient_id", "dt", "dom", "id")
ASSESSMENT_COLUMNS = ("patient_id", "adt", "response", "adequate", "srcdom", "srcid")


# --- Typed frames -------------------------------------------------------------------------------


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NAT_DAYS = np.iinfo(np.int64).min  # NaT, as a datetime64 integer


class _NotACalendarDate(Exception):
    pass


def _epoch_day(value: object, _date: type = dt.date) -> int:
    if value is None:
        return _NAT_DAYS
    kind = type(value)
    if kind is _date:
        return value.toordinal() - _EPOCH_ORDINAL  # type: ignore[attr-defined]
    if kind is float and value != value:
        return _NAT_DAYS
    raise _NotACalendarDate


def calendar_dates(items: Sequence[object]) -> np.ndarray | None:
    """A list of calendar dates / None / NaN as ``datetime64[ns]``; ``None`` when an item is
    anything else. Days since 1970 are computed in one pass (several times faster than
    numpy's parsing of ``datetime.date`` objects, the same values)."""
    try:
        days = np.fromiter(map(_epoch_day, items), dtype=np.int64, count=len(items))
    except _NotACalendarDate:
        return None
    return days.view("datetime64[D]").astype("datetime64[ns]")


def dates(values: object) -> np.ndarray:
    """Anything date-like (array, Series, list of dates/None/NaN) as ``datetime64[ns]``."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]")
    items = array.tolist() if array.ndim else [array.item()]
    # Calendar dates (the usual case, straight from the database).
    converted = calendar_dates(items)
    if converted is not None:
        return converted
    series = pd.Series(items, dtype=object)
    return pd.to_datetime(series).dt.normalize().to_numpy(dtype="datetime64[ns]")


def typed_frame(dataset: str, columns: Mapping[str, object], n_rows: int) -> pd.DataFrame:
    """A dataset frame from whole columns, typed by the data dictionary (as the builders of
    ``survival.domain.adam`` type it). Missing columns are all-missing; optional columns
    (``GROUP``) only when given."""
    data = {}
    for variable in variables(dataset):
        values = columns.get(variable.name)
        if values is None:
            if variable.optional:
                continue
            values = [None] * n_rows
        if variable.type == DATE:
            data[variable.name] = dates(values)
            continue
        if isinstance(values, pd.Series):
            values = values.astype(object).where(values.notna(), None).to_numpy()
        data[variable.name] = pd.array(values, dtype=variable.dtype)
    return pd.DataFrame(data, index=pd.RangeIndex(n_rows))


def truthy(values: Sequence[object] | pd.Series) -> np.ndarray:
    """True where a value is true; False where it is false or missing."""
    return pd.Series(values, dtype=object).astype("boolean").fillna(False).to_numpy(dtype=bool)


def yes_no(values: Sequence[object] | pd.Series) -> np.ndarray:
    """True/False/None (or NA) → "Y"/"N"/None."""
    series = pd.Series(values, dtype=object)
    out = np.full(len(series), None, dtype=object)
    known = series.notna().to_numpy()
    truth = series.where(series.notna(), False).astype(bool).to_numpy()
    out[known & truth] = "Y"
    out[known & ~truth] = "N"
    return out


# --- The vectorised derivation ------------------------------------------------------------------


def _at_cut(values: np.ndarray, cut: np.datetime64) -> np.ndarray:
    out = values.copy()
    out[out > cut] = NAT  # NaT never compares greater, so it stays NaT
    return out


def _iso(value: np.datetime64) -> str:
    return str(value.astype("datetime64[D]"))


def _check_order(
    usubjid: np.ndarray,
    start: np.ndarray,
    progression: np.ndarray,
    death: np.ndarray,
    response: np.ndarray,
    rows: np.ndarray,
) -> None:
    """The scalar derivation's ``ValueError`` for the first patient with impossible dates."""
    before = (progression < start) | (death < start) | (response < start)
    after = (response > progression) | (response > death)
    bad = rows & (before | after)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    for label, value in (
        ("progression", progression[i]),
        ("death", death[i]),
        ("first response", response[i]),
    ):
        if value < start[i]:
            raise ValueError(
                f"{usubjid[i]}: {label} date {_iso(value)} is before first dose {_iso(start[i])}"
            )
    for label, value in (("progression", progression[i]), ("death", death[i])):
        if value < response[i]:
            raise ValueError(
                f"{usubjid[i]}: first response {_iso(response[i])} is after {label} {_iso(value)}"
            )


def _latest_per_patient(
    ids: np.ndarray, patient: np.ndarray, day: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    """For each of ``ids``: the index (into the candidate arrays) of its latest kept candidate,
    the earliest-listed on equal dates; -1 where it has none. Candidates are listed in
    citation order (their position is the tie-break)."""
    chosen = np.full(len(ids), -1, dtype=np.int64)
    index = np.flatnonzero(keep)
    if index.size == 0:
        return chosen
    days = day[index].astype("datetime64[ns]").astype(np.int64)
    order = np.lexsort((index, -days, patient[index]))  # by patient, latest day, first listed
    ranked = index[order]
    owners = patient[ranked]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    position = pd.Index(ids).get_indexer(owners[first])
    chosen[position] = ranked[first]
    return chosen


def _take(values: np.ndarray, index: np.ndarray, missing: object) -> np.ndarray:
    """``values[index]``, with ``missing`` where the index is -1."""
    if len(values) == 0:
        return np.full(len(index), missing)
    out = values[np.where(index < 0, 0, index)]
    out[index < 0] = missing
    return out


def _column(frame: pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name not in frame.columns:
        return np.full(n, None, dtype=object)
    return frame[name].to_numpy(dtype=object)


def derive_adtte(
    patients: pd.DataFrame,
    known_alive: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    data_cut: dt.date,
    studyid: str,
) -> pd.DataFrame:
    """ADTTE for every patient at ``data_cut``: the frame ``build_adtte`` makes of
    ``derive_all_endpoints`` (see the module docstring for the inputs)."""
    cut = np.datetime64(data_cut, "ns")
    n = len(patients)
    ids = patients["patient_id"].to_numpy(dtype=np.int64)
    usubjid = patients["USUBJID"].to_numpy(dtype=object)
    date = {k: patients[f"{k}_dt"].to_numpy(dtype="datetime64[ns]") for k in SOURCED}
    dom = {k: _column(patients, f"{k}_dom", n) for k in SOURCED}
    src = {k: _column(patients, f"{k}_id", n) for k in SOURCED}
    start = date["first"]
    rows = ~np.isnat(start) & (start <= cut)
    progression = _at_cut(date["progression"], cut)
    death = _at_cut(date["death"], cut)
    response = _at_cut(date["response"], cut)
    _check_order(usubjid, start, progression, death, response, rows)

    a_patient = assessments["patient_id"].to_numpy(dtype=np.int64)
    a_day = assessments["adt"].to_numpy(dtype="datetime64[ns]")
    a_dom = assessments["srcdom"].to_numpy(dtype=object)
    a_id = assessments["srcid"].to_numpy(dtype=object)
    a_response = assessments["response"].to_numpy(dtype=object)
    a_adequate = truthy(assessments["adequate"])
    position = pd.Index(ids).get_indexer(a_patient)
    a_start = _take(start, position, NAT)
    a_treated = _take(rows, position, False).astype(bool)

    # Last known alive: the latest of first dose, known-alive records, assessments, progression
    # and first response (on or before the cut); equal dates cite the earliest in that order.
    k_patient = known_alive["patient_id"].to_numpy(dtype=np.int64)
    c_patient = np.concatenate([ids, k_patient, a_patient, ids, ids])
    c_day = np.concatenate(
        [start, known_alive["dt"].to_numpy(dtype="datetime64[ns]"), a_day, progression, response]
    )
    c_dom = np.concatenate(
        [
            dom["first"],
            known_alive["dom"].to_numpy(dtype=object),
            a_dom,
            dom["progression"],
            dom["response"],
        ]
    )
    c_id = np.concatenate(
        [
            src["first"],
            known_alive["id"].to_numpy(dtype=object),
            a_id,
            src["progression"],
            src["response"],
        ]
    )
    c_treated = np.concatenate(
        [
            rows,
            _take(rows, pd.Index(ids).get_indexer(k_patient), False).astype(bool),
            a_treated,
            rows,
            rows,
        ]
    )
    alive = _latest_per_patient(ids, c_patient, c_day, c_treated & (c_day <= cut))
    alive_day = _take(c_day, alive, NAT)
    alive_dom = _take(c_dom, alive, None)
    alive_id = _take(c_id, alive, None)

    # Last adequate assessment without progression, after first dose and on or before the cut.
    progression_free = a_adequate & ~np.isin(a_response, [ep.PROGRESSIVE_DISEASE, ep.NOT_EVALUABLE])
    keep = a_treated & (a_day > a_start) & (a_day <= cut) & progression_free
    pf = _latest_per_patient(ids, a_patient, a_day, keep)
    pf_dt = _take(a_day, pf, NAT)
    pf_dom = _take(a_dom, pf, None)
    pf_id = _take(a_id, pf, None)
    has_pf = pf >= 0
    has_progression = ~np.isnat(progression)
    has_death = ~np.isnat(death)
    has_response = ~np.isnat(response)

    blocks: list[dict[str, np.ndarray]] = []

    def block(
        paramcd: str,
        mask: np.ndarray,
        begin: np.ndarray,
        end: np.ndarray,
        cnsr: np.ndarray,
        evntdesc: np.ndarray,
        cnsdtdsc: np.ndarray,
        srcdom: np.ndarray,
        srcid: np.ndarray,
    ) -> None:
        count = int(mask.sum())
        blocks.append(
            {
                "position": np.flatnonzero(mask),
                "rank": np.full(count, ep.PARAMCDS.index(paramcd)),
                "PARAMCD": np.full(count, paramcd, dtype=object),
                "STARTDT": begin[mask],
                "ADT": end[mask],
                "CNSR": cnsr[mask],
                "EVNTDESC": evntdesc[mask].astype(object),
                "CNSDTDSC": cnsdtdsc[mask].astype(object),
                "SRCDOM": srcdom[mask].astype(object),
                "SRCID": srcid[mask].astype(object),
            }
        )

    def pick(conditions, choices, default):
        return np.select(conditions, choices, default=default)

    # Censoring of TTP and PFS without an event: last adequate assessment, else first dose.
    cens_dt = np.where(has_pf, pf_dt, start)
    cens_dom = np.where(has_pf, pf_dom, dom["first"])
    cens_id = np.where(has_pf, pf_id, src["first"])
    cens_desc = np.where(has_pf, ep.DT_LAST_ASSESSMENT, ep.DT_FIRST_DOSE).astype(object)
    cens_reason = np.where(has_pf, ep.CN_PROGRESSION_FREE, ep.CN_NO_ASSESSMENT).astype(object)
    no_desc = np.full(n, None, dtype=object)

    # TTP
    ttp_reason = np.where(has_death, ep.CN_DEATH_WITHOUT_PROGRESSION, cens_reason).astype(object)
    block(
        ep.TTP,
        rows,
        start,
        np.where(has_progression, progression, cens_dt),
        np.where(has_progression, 0, 1),
        np.where(has_progression, ep.EV_PROGRESSION, ttp_reason),
        np.where(has_progression, no_desc, cens_desc),
        np.where(has_progression, dom["progression"], cens_dom),
        np.where(has_progression, src["progression"], cens_id),
    )

    # PFS and DOR: progression (on or before any death) or death, from their start.
    def events(begin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        by_progression = (
            has_progression & (progression >= begin) & (~has_death | (progression <= death))
        )
        by_death = ~by_progression & has_death & (death >= begin)
        return by_progression, by_death

    prog_event, death_event = events(start)
    block(
        ep.PFS,
        rows,
        start,
        pick([prog_event, death_event], [progression, death], cens_dt),
        np.where(prog_event | death_event, 0, 1),
        pick([prog_event, death_event], [ep.EV_PROGRESSION, ep.EV_DEATH], cens_reason),
        np.where(prog_event | death_event, no_desc, cens_desc),
        pick([prog_event, death_event], [dom["progression"], dom["death"]], cens_dom),
        pick([prog_event, death_event], [src["progression"], src["death"]], cens_id),
    )

    prog_event, death_event = events(response)
    after_response = has_pf & (pf_dt >= response)
    block(
        ep.DOR,
        rows & has_response,
        response,
        pick(
            [prog_event, death_event],
            [progression, death],
            np.where(after_response, pf_dt, response),
        ),
        np.where(prog_event | death_event, 0, 1),
        pick(
            [prog_event, death_event],
            [ep.EV_PROGRESSION, ep.EV_DEATH],
            np.full(n, ep.CN_PROGRESSION_FREE, dtype=object),
        ),
        np.where(
            prog_event | death_event,
            no_desc,
            np.where(after_response, ep.DT_LAST_ASSESSMENT, ep.DT_FIRST_RESPONSE).astype(object),
        ),
        pick(
            [prog_event, death_event],
            [dom["progression"], dom["death"]],
            np.where(after_response, pf_dom, dom["response"]),
        ),
        pick(
            [prog_event, death_event],
            [src["progression"], src["death"]],
            np.where(after_response, pf_id, src["response"]),
        ),
    )

    # OS: death, else the last date known alive.
    block(
        ep.OS,
        rows,
        start,
        np.where(has_death, death, alive_day),
        np.where(has_death, 0, 1),
        np.where(has_death, ep.EV_DEATH, ep.CN_ALIVE),
        np.where(has_death, no_desc, np.full(n, ep.DT_LAST_KNOWN_ALIVE, dtype=object)),
        np.where(has_death, dom["death"], alive_dom),
        np.where(has_death, src["death"], alive_id),
    )

    merged = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    order = np.lexsort((merged["rank"], merged["position"]))  # patient order, then TTP…OS
    begin = merged["STARTDT"][order].astype("datetime64[ns]")
    end = merged["ADT"][order].astype("datetime64[ns]")
    aval = ((end - begin) // np.timedelta64(1, "D")).astype(np.int64)
    paramcd = merged["PARAMCD"][order]
    m = len(order)
    columns = {
        "STUDYID": np.full(m, studyid, dtype=object),
        "USUBJID": usubjid[merged["position"][order]],
        "PARAMCD": paramcd,
        "PARAM": np.array([ep.PARAM_LABELS[p] for p in paramcd], dtype=object),
        "STARTDT": begin,
        "ADT": end,
        "AVAL": aval,
        "AVALM": aval / DAYS_PER_MONTH,
        "CNSR": merged["CNSR"][order].astype(np.int64),
        "EVNTDESC": merged["EVNTDESC"][order],
        "CNSDTDSC": merged["CNSDTDSC"][order],
        "SRCDOM": merged["SRCDOM"][order],
        "SRCID": merged["SRCID"][order],
    }
    return typed_frame("adtte", columns, m)
