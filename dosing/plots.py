"""The operating-characteristics plot (matplotlib's object API on the Agg canvas: no pyplot, so
nothing global is touched in a web or worker process)."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dosing.domain.operating_characteristics import OperatingCharacteristics

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def level_label(level: int) -> str:
    return f"DL{level}" if level > 0 else f"DL−{abs(level)}"


def oc_figure(oc: OperatingCharacteristics, *, title: str) -> Figure:
    """Probability of selecting each level (and none) as the MTD, with the true DLT rates, and
    the expected number of patients per level."""
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    select, per_level = fig.subplots(1, 2, width_ratios=[3, 2])
    names = ["none", *(level_label(lv) for lv in oc.levels)]
    probabilities = [oc.p_no_dose, *oc.p_select]
    bars = select.bar(names, probabilities, color=["#9aa5b1", *["#2f6fb0"] * len(oc.levels)])
    select.bar_label(bars, labels=[f"{p:.3f}" for p in probabilities], fontsize=8)
    select.set_ylim(0, 1)
    select.set_ylabel("P(selected as MTD)")
    select.set_xlabel("dose level (true DLT rate)")
    select.set_xticks(
        range(len(names)),
        ["none", *(f"{n}\n({p:.2f})" for n, p in zip(names[1:], oc.true_dlt_rates, strict=True))],
    )
    select.set_title(title, fontsize=10)
    per_level.bar(names[1:], oc.expected_n_per_level, color="#c77c2b")
    per_level.set_ylabel("expected patients treated")
    per_level.set_title(f"E[N] = {oc.expected_n:.2f}", fontsize=10)
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
