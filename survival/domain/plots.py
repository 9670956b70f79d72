"""Kaplan–Meier and swimmer plots rendered to PNG, SVG or PDF bytes.

Conventions: TrialDesk the survival.md research note — time in months (days / 30.4375) stated
on the axis, the CI method named on the plot, a number-at-risk table under the curves (as in
R ``survminer::ggsurvplot(risk.table = TRUE)``), censorings as tick marks.

Only the object-oriented matplotlib API is used (``matplotlib.figure.Figure`` with an explicit
Agg canvas): nothing touches pyplot's global figure registry or the process-wide backend, so
the functions are safe to call from web workers. Output is reproducible byte for byte (no
creation dates, a fixed SVG id salt), so a plot's hash can go into an export manifest.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from survival.domain.km import CI_METHOD, KMFit
from survival.domain.units import DAYS_PER_MONTH

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def render(figure: Figure, fmt: str = "png", *, dpi: int = 150) -> bytes:
    """The figure as ``png``, ``svg`` or ``pdf`` bytes, without creation timestamps."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported format {fmt!r}; expected one of {FORMATS}")
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    metadata: dict[str, str | None]
    if fmt == "pdf":
        metadata = {"CreationDate": None, "ModDate": None}
    elif fmt == "svg":
        metadata = {"Date": None}
    else:
        metadata = {}
    buffer = io.BytesIO()
    # rc_context restores the global settings on exit; the salt makes SVG ids deterministic.
    with matplotlib.rc_context({"svg.hashsalt": "trialdesk", "pdf.compression": 6}):
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
    return buffer.getvalue()


def _step_arrays(fit: KMFit) -> tuple[np.ndarray, ...]:
    time = np.array([s.time_days for s in fit.steps], dtype=float) / DAYS_PER_MONTH
    survival = np.array([s.survival for s in fit.steps], dtype=float)
    lcl = np.array([np.nan if s.lcl is None else s.lcl for s in fit.steps], dtype=float)
    ucl = np.array([np.nan if s.ucl is None else s.ucl for s in fit.steps], dtype=float)
    censored = np.array([s.n_censored for s in fit.steps], dtype=np.int64)
    return time, survival, lcl, ucl, censored


def _fit_name(fit: KMFit, index: int) -> str:
    if fit.group is not None:
        return fit.group
    return fit.paramcd or f"Group {index + 1}"


def _fit_label(fit: KMFit, index: int) -> str:
    if fit.n == 0:
        return f"{_fit_name(fit, index)} (n=0, no patients)"
    return f"{_fit_name(fit, index)} (n={fit.n}; median {fit.median.display()} months)"


def km_figure(
    fits: Sequence[KMFit],
    *,
    title: str,
    y_label: str = "Survival probability",
    tick_months: float = 6.0,
    max_months: float | None = None,
    show_ci: bool = True,
    show_at_risk: bool = True,
) -> Figure:
    """Kaplan–Meier curves for one or several groups with CI bands, censor ticks, risk table.

    Raises ``ValueError`` when there is nothing to plot (no fits, or every fit empty).
    Empty groups (``n = 0``) are listed in the legend and the risk table but draw no curve.
    """
    if not fits or all(fit.n == 0 for fit in fits):
        raise ValueError("no patients to plot: every Kaplan–Meier fit is empty")
    if tick_months <= 0:
        raise ValueError("tick_months must be positive")
    last = max(fit.steps[-1].time_days for fit in fits if fit.steps) / DAYS_PER_MONTH
    if max_months is None:
        x_max = tick_months * max(1.0, float(np.ceil(last / tick_months - 1e-9)))
    else:
        x_max = max_months
    ticks = np.arange(0.0, x_max + 1e-9, tick_months)

    n_rows = len(fits)
    table_height = 0.35 + 0.22 * n_rows if show_at_risk else 0.0
    figure = Figure(figsize=(8.0, 5.0 + table_height), layout="constrained")
    FigureCanvasAgg(figure)
    if show_at_risk:
        grid = figure.add_gridspec(2, 1, height_ratios=(5.0, table_height))
        axes = figure.add_subplot(grid[0])
        risk_axes = figure.add_subplot(grid[1], sharex=axes)
    else:
        axes = figure.add_subplot(1, 1, 1)
        risk_axes = None

    for index, fit in enumerate(fits):
        colour = _COLOURS[index % len(_COLOURS)]
        label = _fit_label(fit, index)
        if fit.n == 0:
            axes.plot([], [], color=colour, label=label)
            continue
        time, survival, lcl, ucl, censored = _step_arrays(fit)
        axes.step(time, survival, where="post", color=colour, linewidth=1.6, label=label)
        if show_ci:
            axes.fill_between(time, lcl, ucl, step="post", color=colour, alpha=0.15, linewidth=0)
        marks = censored > 0
        axes.plot(
            time[marks],
            survival[marks],
            linestyle="none",
            marker="|",
            markersize=8,
            markeredgewidth=1.2,
            color=colour,
        )

    axes.set_xlim(0.0, x_max)
    axes.set_ylim(0.0, 1.05)
    axes.set_xticks(ticks)
    axes.set_ylabel(y_label)
    axes.set_title(f"{title}\nKaplan–Meier estimate, 95% CI: {CI_METHOD}", fontsize=10)
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", marker="|", linestyle="none", markersize=8))
    labels.append("censored")
    axes.legend(handles, labels, loc="lower left", fontsize=8, frameon=False)

    time_label = "Time since start (months; 1 month = 30.4375 days)"
    if risk_axes is None:
        axes.set_xlabel(time_label)
        return figure

    axes.tick_params(labelbottom=True)
    risk_axes.set_ylim(-0.5, n_rows - 0.5)
    risk_axes.invert_yaxis()
    risk_axes.set_yticks(range(n_rows))
    risk_axes.set_yticklabels([_fit_name(fit, i) for i, fit in enumerate(fits)], fontsize=8)
    for tick_label, colour in zip(
        risk_axes.get_yticklabels(),
        (_COLOURS[i % len(_COLOURS)] for i in range(n_rows)),
        strict=True,
    ):
        tick_label.set_color(colour)
    days = ticks * DAYS_PER_MONTH
    for row, fit in enumerate(fits):
        for x, count in zip(ticks, fit.n_at_risk_at(days), strict=True):
            risk_axes.text(x, row, str(count), ha="center", va="center", fontsize=8)
    risk_axes.set_xlabel(time_label)
    risk_axes.set_title("Number at risk", fontsize=9, loc="left")
    # The counts at time 0 are centred on the axis; keep the group names clear of them.
    risk_axes.tick_params(axis="y", length=0, pad=18)
    for side in ("top", "right", "left"):
        risk_axes.spines[side].set_visible(False)
    return figure


def km_plot(fits: Sequence[KMFit], *, title: str, fmt: str = "png", **options: object) -> bytes:
    """``km_figure`` rendered to bytes (``fmt``: png, svg or pdf)."""
    return render(km_figure(fits, title=title, **options), fmt)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SwimmerLane:
    """One patient's bar in a swimmer plot; all times in days since first dose."""

    usubjid: str
    treatment_days: float
    ongoing: bool = False
    first_response_days: float | None = None
    progression_days: float | None = None
    death_days: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        for name in ("treatment_days", "first_response_days", "progression_days", "death_days"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{self.usubjid}: {name} must be a non-negative number")


def swimmer_figure(lanes: Sequence[SwimmerLane], *, title: str) -> Figure:
    """Time on treatment per patient (months), longest at the top, with event markers.

    Markers: first response ≥ PR (triangle), progression (cross), death (diamond), still on
    treatment (arrow head just past the end of the bar). Bars are coloured by ``group`` when given.
    Meant for tens of patients; the figure grows with the number of lanes.
    """
    if not lanes:
        raise ValueError("no patients to plot in the swimmer plot")
    ordered = sorted(lanes, key=lambda lane: (-lane.treatment_days, lane.usubjid))
    groups = sorted({lane.group for lane in ordered if lane.group is not None})
    colour_of = {g: _COLOURS[i % len(_COLOURS)] for i, g in enumerate(groups)}
    n = len(ordered)
    figure = Figure(figsize=(8.0, min(1.8 + 0.24 * n, 120.0)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)

    y = np.arange(n)
    length = np.array([lane.treatment_days for lane in ordered]) / DAYS_PER_MONTH
    colours = [colour_of.get(lane.group, "#7f7f7f") for lane in ordered]  # type: ignore[arg-type]
    axes.barh(y, length, height=0.6, color=colours, alpha=0.8)

    def scatter(attribute: str, marker: str, colour: str, label: str) -> None:
        points = [
            (getattr(lane, attribute) / DAYS_PER_MONTH, i)
            for i, lane in enumerate(ordered)
            if getattr(lane, attribute) is not None
        ]
        if not points:
            return
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        axes.plot(xs, ys, linestyle="none", marker=marker, color=colour, markersize=7, label=label)

    scatter("first_response_days", "^", "#2ca02c", "First response (≥ PR)")
    scatter("progression_days", "X", "#d62728", "Progression")
    scatter("death_days", "D", "black", "Death")
    # The arrow head sits just past the bar end, continuing it.
    offset = 0.01 * max(float(length.max()), 1.0)
    ongoing = [(length[i] + offset, i) for i, lane in enumerate(ordered) if lane.ongoing]
    if ongoing:
        axes.plot(
            [p[0] for p in ongoing],
            [p[1] for p in ongoing],
            linestyle="none",
            marker=5,  # CARETRIGHT: an arrow head continuing the bar
            color="#333333",
            markersize=9,
            label="Still on treatment",
        )

    axes.set_yticks(y)
    axes.set_yticklabels([lane.usubjid for lane in ordered], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(left=0.0)
    axes.set_xlabel("Time on treatment (months; 1 month = 30.4375 days)")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    for g in groups:
        handles.append(Line2D([], [], color=colour_of[g], linewidth=6, alpha=0.8))
        labels.append(g)
    axes.legend(handles, labels, loc="lower right", fontsize=8, frameon=False)
    return figure


def swimmer_plot(lanes: Sequence[SwimmerLane], *, title: str, fmt: str = "png") -> bytes:
    """``swimmer_figure`` rendered to bytes (``fmt``: png, svg or pdf)."""
    return render(swimmer_figure(lanes, title=title), fmt)
