"""Column-wise construction of the ADaM frames, and the vectorised endpoint derivation.

Sources: the endpoint rules of ``survival.domain.endpoints`` (TrialDesk ``shared/domain/
survival.md``, "Endpoint definitions") and the dataset conventions of ``survival.domain.adam``.

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


def dates(values: object) -> np.ndarray:
    """Anything date-like (array, Series, list of dates/None) as ``datetime64[ns]``."""
    if isinstance(values, pd.Series | pd.Index | np.ndarray) and np.issubdtype(
        np.asarray(values).dtype, np.datetime64
    ):
        return np.asarray(values).astype("datetime64[ns]")
    series = pd.Series(list(values) if not isinstance(values, pd.Series) else values, dtype=object)
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


def _first_per_patient(frame: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """The latest row per patient; on equal dates the one listed first (lowest ``order``)."""
    ordered = frame.sort_values(
        ["patient_id", date_column, "order"], ascending=[True, False, True], kind="mergesort"
    )
    return ordered.drop_duplicates("patient_id", keep="first").set_index("patient_id")


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

    position = pd.Series(np.arange(n), index=ids)
    start_by_id = pd.Series(start, index=ids)
    treated = pd.Series(rows, index=ids)

    # Last known alive: the latest of first dose, known-alive records, assessments, progression
    # and first response (on or before the cut); equal dates cite the earliest in that order.
    pieces = [
        pd.DataFrame(
            {"patient_id": ids, "dt": start, "dom": dom["first"], "id": src["first"], "order": 0}
        )
    ]
    alive = known_alive.loc[:, list(KNOWN_ALIVE_COLUMNS)].copy()
    alive["order"] = np.arange(1, len(alive) + 1)
    pieces.append(alive)
    assessed = assessments.loc[:, list(ASSESSMENT_COLUMNS)]
    pieces.append(
        pd.DataFrame(
            {
                "patient_id": assessed["patient_id"].to_numpy(),
                "dt": assessed["adt"].to_numpy(dtype="datetime64[ns]"),
                "dom": assessed["srcdom"].to_numpy(dtype=object),
                "id": assessed["srcid"].to_numpy(dtype=object),
                "order": np.arange(len(assessed)) + len(alive) + 1,
            }
        )
    )
    tail = len(alive) + len(assessed) + 1
    for offset, key, values in ((0, "progression", progression), (1, "response", response)):
        pieces.append(
            pd.DataFrame(
                {
                    "patient_id": ids,
                    "dt": values,
                    "dom": dom[key],
                    "id": src[key],
                    "order": tail + offset,
                }
            )
        )
    candidates = pd.concat(pieces, ignore_index=True)
    candidates["dt"] = candidates["dt"].to_numpy(dtype="datetime64[ns]")
    candidates = candidates[
        candidates["patient_id"].isin(ids[rows]).to_numpy() & (candidates["dt"].to_numpy() <= cut)
    ]
    last_alive = _first_per_patient(candidates, "dt").reindex(ids)

    # Last adequate assessment without progression, after first dose and on or before the cut.
    assess = assessments.loc[:, list(ASSESSMENT_COLUMNS)].copy()
    assess["adt"] = assess["adt"].to_numpy(dtype="datetime64[ns]")
    assess["order"] = np.arange(len(assess))
    assess_start = start_by_id.reindex(assess["patient_id"].to_numpy()).to_numpy()
    progression_free = (
        assess["adequate"].astype(bool).to_numpy()
        & ~assess["response"].isin([ep.PROGRESSIVE_DISEASE, ep.NOT_EVALUABLE]).to_numpy()
    )
    keep = (
        treated.reindex(assess["patient_id"].to_numpy()).fillna(False).to_numpy(dtype=bool)
        & (assess["adt"].to_numpy() > assess_start)
        & (assess["adt"].to_numpy() <= cut)
        & progression_free
    )
    last_pf = _first_per_patient(assess[keep], "adt").reindex(ids)
    pf_dt = last_pf["adt"].to_numpy(dtype="datetime64[ns]")
    pf_dom = last_pf["srcdom"].to_numpy(dtype=object)
    pf_id = last_pf["srcid"].to_numpy(dtype=object)
    has_pf = ~np.isnat(pf_dt)
    has_progression = ~np.isnat(progression)
    has_death = ~np.isnat(death)
    has_response = ~np.isnat(response)

    blocks = []

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
        blocks.append(
            pd.DataFrame(
                {
                    "position": position.to_numpy()[mask],
                    "rank": ep.PARAMCDS.index(paramcd),
                    "PARAMCD": paramcd,
                    "STARTDT": begin[mask],
                    "ADT": end[mask],
                    "CNSR": cnsr[mask],
                    "EVNTDESC": evntdesc[mask],
                    "CNSDTDSC": cnsdtdsc[mask],
                    "SRCDOM": srcdom[mask],
                    "SRCID": srcid[mask],
                }
            )
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
        np.where(has_progression, ep.EV_PROGRESSION, ttp_reason).astype(object),
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
    dor_cens_dt = np.where(after_response, pf_dt, response)
    block(
        ep.DOR,
        rows & has_response,
        response,
        pick([prog_event, death_event], [progression, death], dor_cens_dt),
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
        np.where(has_death, death, last_alive["dt"].to_numpy(dtype="datetime64[ns]")),
        np.where(has_death, 0, 1),
        np.where(has_death, ep.EV_DEATH, ep.CN_ALIVE).astype(object),
        np.where(has_death, no_desc, np.full(n, ep.DT_LAST_KNOWN_ALIVE, dtype=object)),
        np.where(has_death, dom["death"], last_alive["dom"].to_numpy(dtype=object)),
        np.where(has_death, src["death"], last_alive["id"].to_numpy(dtype=object)),
    )

    derived = pd.concat(blocks, ignore_index=True).sort_values(
        ["position", "rank"], kind="mergesort"
    )
    begin = derived["STARTDT"].to_numpy(dtype="datetime64[ns]")
    end = derived["ADT"].to_numpy(dtype="datetime64[ns]")
    aval = ((end - begin) // np.timedelta64(1, "D")).astype(np.int64)
    paramcd = derived["PARAMCD"].to_numpy(dtype=object)
    m = len(derived)
    columns = {
        "STUDYID": np.full(m, studyid, dtype=object),
        "USUBJID": usubjid[derived["position"].to_numpy(dtype=np.int64)],
        "PARAMCD": paramcd,
        "PARAM": np.array([ep.PARAM_LABELS[p] for p in paramcd], dtype=object),
        "STARTDT": begin,
        "ADT": end,
        "AVAL": aval,
        "AVALM": aval / DAYS_PER_MONTH,
        "CNSR": derived["CNSR"].to_numpy(dtype=np.int64),
        "EVNTDESC": derived["EVNTDESC"].to_numpy(dtype=object),
        "CNSDTDSC": derived["CNSDTDSC"].to_numpy(dtype=object),
        "SRCDOM": derived["SRCDOM"].to_numpy(dtype=object),
        "SRCID": derived["SRCID"].to_numpy(dtype=object),
    }
    return typed_frame("adtte", columns, m)
