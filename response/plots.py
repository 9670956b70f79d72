"""The waterfall plot of the best % change per patient (M-protein for IMWG, the sum of target
diameters for RECIST), drawn with matplotlib's object API on the Agg canvas (no pyplot, so no
global state and nothing that needs a display; safe in a threaded web server)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from response.selectors import WaterfallBar

#: Bar colours by best overall response (colour-blind-safe Okabe–Ito palette).
BOR_COLOURS = {
    "sCR": "#004d80",
    "CR": "#0072B2",
    "VGPR": "#56B4E9",
    "PR": "#009E73",
    "MR": "#F0E442",
    "SD": "#999999",
    "NON_CR_NON_PD": "#999999",
    "PD": "#D55E00",
    "NE": "#CC79A7",
}
#: Reference lines: IMWG PR (−50%) and VGPR (−90%); RECIST PR (−30%) and PD (+20%).
REFERENCE_LINES = {
    "IMWG": ((-50.0, "PR −50%"), (-90.0, "VGPR −90%")),
    "RECIST": ((-30.0, "PR −30%"), (20.0, "PD +20%")),
}
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def waterfall_figure(bars: Sequence[WaterfallBar], *, criteria: str, title: str) -> Figure:
    family = "RECIST" if criteria.startswith("RECIST") else "IMWG"
    measure = "sum of target diameters" if family == "RECIST" else "M-protein (disease marker)"
    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if bars:
        x = range(len(bars))
        ax.bar(
            list(x),
            [b.pct_change for b in bars],
            color=[BOR_COLOURS.get(b.best_overall_response, "#999999") for b in bars],
            edgecolor="#333333",
            linewidth=0.4,
        )
        ax.set_xticks(list(x))
        ax.set_xticklabels([b.label for b in bars], rotation=90, fontsize=7)
        present = [c for c in BOR_COLOURS if any(b.best_overall_response == c for b in bars)]
        ax.legend(
            handles=[Patch(color=BOR_COLOURS[c], label=c.replace("_", "/")) for c in present],
            title="Best overall response",
            fontsize=7,
            title_fontsize=8,
            loc="upper right",
        )
    else:
        ax.text(
            0.5, 0.5, "No evaluable patient yet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_xticks([])
    for y, label in REFERENCE_LINES[family]:
        ax.axhline(y, color="#555555", linestyle="--", linewidth=0.8)
        ax.annotate(label, (0, y), xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
    ax.axhline(0, color="#000000", linewidth=0.8)
    ax.set_ylim(-105, max(60.0, max((b.pct_change for b in bars), default=0) + 10))
    ax.set_ylabel(f"Best % change from baseline\n({measure})")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
