"""Writers of the analysis datasets: CSV, Excel, SAS transport (XPT v5) and Parquet.

One date format, one missing-value convention, and byte-identical output for the same frames:

* **Dates** are calendar dates. CSV: ISO 8601 text ``YYYY-MM-DD`` (the only date format
  TrialDesk writes). Excel: date cells shown as ``yyyy-mm-dd``. XPT: SAS dates (days since
  1960-01-01) with the format ``YYMMDD10.``. Parquet: ``date32`` (pandas reads them as
  ``datetime.date`` objects, R as ``Date``).
* **Missing values are empty**, never 0 nor a sentinel: an empty (unquoted) CSV field, an
  empty Excel cell, a SAS missing value (``.`` for numbers; XPT has no missing text, so text is
  blank) and a Parquet null. No text value is ever an empty string.
* **CSV** is UTF-8 without a byte-order mark, comma-separated, ``\\n`` line ends; the header
  and text values are in double quotes, numbers and dates are not.
* **Types.** Text, integers (nullable), decimals and dates, as in the data dictionary. CSV
  carries no types: read it with the ``dtype`` and ``parse_dates`` the manifest lists for each
  file (``pandas_read_csv``), and you get exactly the typed frame. XPT stores every number as a
  double (SAS has no integer type); names are the dictionary's ``XPTNAME`` (≤ 8 characters)
  and labels ≤ 40 characters. Text is UTF-8.
* **Excel**: one workbook per dataset (one sheet, named after the dataset), so that each
  dataset is one file with its own hash in the manifest, as in the other formats.
* **Deterministic.** Rows come in a fixed order, CSV floats are written as their shortest
  round-trip text, and the time stamps that Excel and XPT files carry (and ZIP entries) are set
  to the data cut date at 00:00 instead of the clock, so the same frames give the same bytes
  (and the same SHA-256) every time with the same library versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DATE_FORMAT = "%Y-%m-%d"
DATE_FORMAT_LABEL = "YYYY-MM-DD (ISO 8601 calendar date)"
SAS_DATE_FORMAT = "YYMMDD10."
SAS_EPOCH = dt.date(1960, 1, 1)
FILE_EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "xpt": "xpt", "parquet": "parquet"}
#: Table names inside XPT files (≤ 8 characters).
XPT_TABLE_NAMES = {
    "adsl": "ADSL",
    "adtte": "ADTTE",
    "adae": "ADAE",
    "adrs": "ADRS",
    "km_summary": "KMSUMM",
    "km_estimates": "KMEST",
    "data_dictionary": "DATADICT",
}
_PANDAS_DTYPES = {"string": "string", "Int64": "Int64", "Float64": "Float64"}


@dataclass(frozen=True, slots=True)
class WrittenFile:
    name: str
    sha256: str
    bytes: int
    rows: int | None = None

    def as_dict(self) -> dict[str, object]:
        item: dict[str, object] = {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}
        if self.rows is not None:
            item["rows"] = self.rows
        return item


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_date(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series.dtype)


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    """Column → ``string``, ``integer``, ``float`` or ``date`` (the dictionary's types)."""
    types = {}
    for name in frame.columns:
        dtype = str(frame[name].dtype)
        if _is_date(frame[name]):
            types[name] = "date"
        elif dtype == "Int64":
            types[name] = "integer"
        elif dtype == "Float64":
            types[name] = "float"
        else:
            types[name] = "string"
    return types


def pandas_read_csv(frame: pd.DataFrame) -> dict[str, object]:
    """The ``pd.read_csv`` arguments that give back exactly ``frame``'s types."""
    dtypes = {}
    dates = []
    for name in frame.columns:
        if _is_date(frame[name]):
            dates.append(name)
        else:
            dtypes[name] = _PANDAS_DTYPES.get(str(frame[name].dtype), "string")
    return {"dtype": dtypes, "parse_dates": dates, "date_format": DATE_FORMAT}


# --- CSV ----------------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8 without a byte-order mark, "\\n" line ends; text values (and the header) quoted,
    numbers and dates not; a missing value is an empty, unquoted field. Arrow's writer: it
    formats decimals as their shortest round-trip text and is fast on 10,000 patients."""
    pacsv.write_csv(
        arrow_table(frame),
        str(path),
        pacsv.WriteOptions(include_header=True, quoting_style="needed"),
    )


# --- Parquet ------------------------------------------------------------------------------------


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in frame.columns:
        if _is_date(frame[name]):
            index = table.schema.get_field_index(name)
            table = table.set_column(
                index, pa.field(name, pa.date32()), table.column(name).cast(pa.date32())
            )
    return table


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    pq.write_table(arrow_table(frame), path, compression="zstd")


def read_parquet_frame(path: Path) -> pd.DataFrame:
    """A frozen Parquet dataset back as the builder's frame (dates as ``datetime64[ns]``)."""
    table = pq.read_table(path)
    frame = table.to_pandas(date_as_object=False)
    for name in frame.columns:
        if _is_date(frame[name]):
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


# --- Excel --------------------------------------------------------------------------------------


def _cell_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str, stamp: dt.date) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    moment = dt.datetime.combine(stamp, dt.time(0, 0))
    workbook.properties.creator = "TrialDesk"
    workbook.properties.created = moment
    workbook.properties.modified = moment
    worksheet = workbook.create_sheet(title=sheet[:31])
    worksheet.append(list(frame.columns))
    date_columns = [_is_date(frame[name]) for name in frame.columns]
    columns = []
    for name, is_date in zip(frame.columns, date_columns, strict=True):
        series = frame[name]
        if is_date:
            columns.append([None if pd.isna(v) else v.date() for v in series])
        else:
            columns.append(series.astype(object).tolist())
    for values in zip(*columns, strict=True) if columns else ():
        row = []
        for value, is_date in zip(values, date_columns, strict=True):
            value = _cell_value(value)
            if is_date and value is not None:
                cell = WriteOnlyCell(worksheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                row.append(cell)
            else:
                row.append(value)
        worksheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(_normalised_zip(buffer.getvalue(), moment))


_CORE_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _normalised_zip(data: bytes, moment: dt.datetime) -> bytes:
    """The same ZIP with fixed entry times and fixed document dates (xlsx is a ZIP)."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _CORE_STAMP.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return out.getvalue()


# --- SAS transport (XPT v5) ---------------------------------------------------------------------

_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_XPT_OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"


def _xpt_stamp(day: dt.date) -> bytes:
    return f"{day:%d}{day:%b}".upper().encode() + f"{day:%y}:00:00:00".encode()


def write_xpt(
    frame: pd.DataFrame,
    path: Path,
    *,
    table_name: str,
    labels: Sequence[str],
    stamp: dt.date,
) -> None:
    """Write a SAS V5 transport file (names ≤ 8, labels ≤ 40), then pin its header dates."""
    import pyreadstat

    if len(table_name) > 8:
        raise ValueError(f"XPT table name {table_name!r} is longer than 8 characters")
    too_long = [c for c in frame.columns if len(c) > 8]
    if too_long:
        raise ValueError(f"XPT variable names longer than 8 characters: {too_long}")
    out = pd.DataFrame(index=frame.index)
    formats = {}
    for name in frame.columns:
        series = frame[name]
        if _is_date(series):
            days = (series - pd.Timestamp(SAS_EPOCH)).dt.days
            out[name] = days.astype("float64")
            formats[name] = SAS_DATE_FORMAT
        elif str(series.dtype) in ("Int64", "Float64"):
            out[name] = series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[name] = series.astype(object).where(series.notna(), "").astype(object)
    pyreadstat.write_xport(
        out,
        str(path),
        table_name=table_name,
        column_labels=[label[:40] for label in labels],
        file_format_version=5,
        variable_format=formats,
    )
    data = path.read_bytes()
    header_end = data.find(_XPT_OBS_HEADER)
    if header_end < 0:
        raise ValueError("not a SAS V5 transport file: no observation header record")
    header = _XPT_STAMP.sub(_xpt_stamp(stamp), data[:header_end])
    path.write_bytes(header + data[header_end:])


# --- ZIP and manifest ---------------------------------------------------------------------------


def write_zip(paths: Iterable[Path], zip_path: Path, *, folder: str) -> None:
    """A ZIP of ``paths`` under ``folder/``, in the given order, with fixed entry times."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            entry = zipfile.ZipInfo(f"{folder}/{path.name}", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes())


def write_json(data: object, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
