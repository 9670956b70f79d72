"""Kaplan–Meier and swimmer plots: valid PNG/SVG/PDF bytes, groups, clear errors."""

import sys

import pytest

from survival.domain.km import fit_km, fit_km_by_group
from survival.domain.plots import (
    SwimmerLane,
    km_figure,
    km_plot,
    swimmer_figure,
    swimmer_plot,
)

TOY_TIMES = (35, 60, 60, 95, 120, 150, 180, 210, 240, 300, 330, 365)
TOY_EVENTS = (1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0)
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


def grouped_fits():
    times = TOY_TIMES + tuple(t * 2 for t in TOY_TIMES)
    return fit_km_by_group(
        times, TOY_EVENTS * 2, ["DL1"] * 12 + ["DL2"] * 12, group_order=["DL1", "DL2", "DL3"]
    )


LANES = (
    SwimmerLane("A-001", 400, ongoing=True, first_response_days=56, group="DL2"),
    SwimmerLane("A-002", 120, first_response_days=56, progression_days=112, group="DL2"),
    SwimmerLane("A-003", 60, progression_days=84, death_days=150, group="DL1"),
    SwimmerLane("A-004", 20),
)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_km_plot_returns_valid_bytes_for_each_format(fmt):
    data = km_plot([fit_km(TOY_TIMES, TOY_EVENTS, paramcd="PFS")], title="PFS", fmt=fmt)
    assert data.startswith(MAGIC[fmt])
    assert len(data) > 1000


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_km_plot_is_reproducible_byte_for_byte(fmt):
    first = km_plot(grouped_fits(), title="PFS by dose level", fmt=fmt)
    second = km_plot(grouped_fits(), title="PFS by dose level", fmt=fmt)
    assert first == second


def test_km_svg_names_ci_method_months_and_number_at_risk():
    svg = km_plot(grouped_fits(), title="PFS by dose level", fmt="svg").decode()
    # text is drawn as glyph paths; matplotlib keeps the strings in comments
    for text in ("log-log (Greenwood), pointwise 95%", "months", "Number at risk", "DL3"):
        assert text in svg


def test_km_figure_draws_risk_table_under_the_ticks():
    figure = km_figure(grouped_fits(), title="PFS", tick_months=6)
    curves, table = figure.axes
    ticks = list(curves.get_xticks())
    assert ticks == [0.0, 6.0, 12.0, 18.0, 24.0]
    # one count per group per tick, centred on the tick
    counts = [(t.get_position(), t.get_text()) for t in table.texts]
    assert len(counts) == 3 * len(ticks)
    assert ((0.0, 0), "12") in counts
    assert ((6.0, 0), "5") in counts
    assert ((12.0, 1), "5") in counts
    assert ((6.0, 2), "0") in counts
    assert table.get_xlim() == curves.get_xlim()


def test_km_figure_without_risk_table():
    figure = km_figure([fit_km(TOY_TIMES, TOY_EVENTS)], title="OS", show_at_risk=False)
    assert len(figure.axes) == 1


@pytest.mark.parametrize(
    "fits",
    [[], [fit_km((), ())]],
    ids=["no fits", "only an empty group"],
)
def test_km_plot_with_no_patients_is_a_clear_error(fits):
    with pytest.raises(ValueError, match="no patients to plot"):
        km_plot(fits, title="PFS")


def test_unsupported_format_is_rejected():
    with pytest.raises(ValueError, match="unsupported format 'jpg'"):
        km_plot([fit_km(TOY_TIMES, TOY_EVENTS)], title="PFS", fmt="jpg")


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_swimmer_plot_returns_valid_bytes(fmt):
    assert swimmer_plot(LANES, title="Time on treatment", fmt=fmt).startswith(MAGIC[fmt])


def test_swimmer_orders_longest_first_and_marks_events():
    figure = swimmer_figure(LANES, title="Time on treatment")
    axes = figure.axes[0]
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels == ["A-001", "A-002", "A-003", "A-004"]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend == [
        "First response (≥ PR)",
        "Progression",
        "Death",
        "Still on treatment",
        "DL1",
        "DL2",
    ]


def test_swimmer_with_no_patients_is_a_clear_error():
    with pytest.raises(ValueError, match="no patients to plot"):
        swimmer_plot([], title="Time on treatment")


def test_swimmer_lane_rejects_negative_times():
    with pytest.raises(ValueError, match="A-009: treatment_days must be a non-negative"):
        SwimmerLane("A-009", -1)


def test_no_pyplot_figures_are_left_behind():
    km_plot(grouped_fits(), title="PFS")
    swimmer_plot(LANES, title="Swimmer")
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []
