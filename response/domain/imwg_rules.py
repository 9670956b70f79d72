"""IMWG response rule table: every threshold the IMWG engine uses, as versioned data.

Sources (cited per row in ``source``):

* **IMWG2016**: Kumar S, et al. *International Myeloma Working Group consensus criteria for
  response and minimal residual disease assessment in multiple myeloma.* Lancet Oncol
  2016;17:e328-46.
* **IMWG2011**: Rajkumar SV, et al. *Consensus recommendations for the uniform reporting of
  clinical trials: report of the International Myeloma Workshop Consensus Panel 1.* Blood
  2011;117:4691-5.
* **IMWG2006**: Durie BGM, et al. *International uniform response criteria for multiple
  myeloma.* Leukemia 2006;20:1467-73 (with its 2006 and 2007 corrigenda).
* **Engine conventions** ("TrialDesk IMWG note 5.x"): the per-parameter ladder, PD check, gates
  and confirmation conventions of the TrialDesk IMWG research note, section 5, which follows
  the admiralonco (pharmaverse) ADRS-IMWG vignette for confirmation and the CIBMTR forms manual
  for downgrades on missing data. Rows marked ``[I]`` are interpretations the protocol must fix.

Choices made where the texts disagree (research note 1.7): nadir policy is a study setting;
the +1 g/dL serum rule is "sufficient" and keyed to the nadir (2016) or the starting value
(2006/2011); MR needs >= 50% SPD reduction for a baseline plasmacytoma (2016) or >= 25% (2011),
overridable per study; the serum PD floor is "at least 0.5 g/dL" (some 2016 reproductions print
"> 0.5"); the dFLC PD floor is > 100 mg/L (the 2006 printed table says "> 10 mg/l"); CR needs
serum **and** urine immunofixation negative.

Bump :data:`RULESET_VERSION` whenever any row, threshold or convention changes: stored results
carry it so that a recomputation can be told apart from the original call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal

RULESET_VERSION: Final = "trialdesk-imwg-rules/1.0.0"


class Category(StrEnum):
    """IMWG response categories, spelled as the command's JSON spells them."""

    SCR = "sCR"
    CR = "CR"
    VGPR = "VGPR"
    PR = "PR"
    MR = "MR"
    SD = "SD"
    PD = "PD"
    NE = "NE"


class NadirPolicy(StrEnum):
    """Which values form the nadir that PD is measured from (research note 1.4 and 1.7)."""

    LOWEST_OBSERVED = "lowest_observed"  # 2006/2011: "lowest response value"
    LOWEST_CONFIRMED = "lowest_confirmed"  # 2016: "lowest confirmed response value"


# Parameter codes of the measurable-disease set {S, U, F, B, P} (research note 1.2).
SERUM: Final = "serum"
URINE: Final = "urine"
URINE_SERUM_ONLY: Final = "urine_serum_only"  # urine read as a VGPR cap when only S is measurable
DFLC: Final = "dflc"
BMPC: Final = "bmpc"
PLASMACYTOMA: Final = "plasmacytoma"
IMAGING: Final = "imaging"  # PD only: new lesion / SPD growth

Metric = Literal["reduction_pct", "value"]
Comparator = Literal[">=", ">", "<"]

_KUMAR_2016: Final = "Kumar 2016, Lancet Oncol 17:e328, Table 2"
_RAJKUMAR_2011: Final = "Rajkumar 2011, Blood 117:4691"
_DURIE_2006: Final = "Durie 2006, Leukemia 20:1467, Table 2"
_NOTE_5_2: Final = "TrialDesk IMWG note 5.2 [I]"
_NOTE_5_3: Final = "TrialDesk IMWG note 5.3 [I]"


@dataclass(frozen=True, slots=True)
class MeasurableRule:
    """A parameter is measurable at baseline when ``value >= threshold`` (research note 1.2)."""

    parameter: str
    threshold: float
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class LevelRule:
    """One row of the per-parameter response ladder (research note 5.2).

    Rows of a parameter are tried best level first; the first row whose comparison holds
    fires. No row firing gives SD. ``reduction_pct`` is the percentage reduction from the
    baseline value; ``value`` is the value at the assessment. A ``threshold`` of ``None``
    takes the number from the study setting named in ``setting``.
    """

    rule_id: str
    parameter: str
    level: Category
    metric: Metric
    comparator: Comparator
    threshold: float | None
    source: str
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressionRule:
    """PD against the nadir: ``+min_increase_pct`` % **and** ``+min_increase_abs`` (note 5.3).

    ``abs_strict`` makes the absolute floor exclusive ("more than 100 mg/L").
    """

    rule_id: str
    parameter: str
    min_increase_pct: float
    min_increase_abs: float
    abs_strict: bool
    unit: str
    applies: str
    source: str


@dataclass(frozen=True, slots=True)
class HighSerumRule:
    """Serum PD: an increase of ``sufficient_increase`` g/dL alone is enough when the reference
    value (the nadir in 2016, the starting value in 2006/2011) is at least ``reference_min``."""

    rule_id: str
    reference: Literal["nadir", "baseline"]
    reference_min: float
    sufficient_increase: float
    source: str


@dataclass(frozen=True, slots=True)
class ImagingRule:
    """Imaging PD: a new lesion, or SPD at least ``spd_ratio`` x the SPD nadir."""

    rule_id_new_lesion: str
    rule_id_spd: str
    spd_ratio: float
    source: str


@dataclass(frozen=True, slots=True)
class GateRule:
    """The CR and sCR gates (research note 1.3 and 5.2)."""

    cr_bmpc_below: float
    flc_ratio_normal_low: float
    flc_ratio_normal_high: float
    source: str


@dataclass(frozen=True, slots=True)
class CriteriaRules:
    """Every threshold of one IMWG text, as used by the engine."""

    version: str
    citation: str
    nadir_wording: str
    mr_defined: bool
    default_mr_plasmacytoma_pct: float
    measurable: MappingProxyType[str, MeasurableRule]
    flc_ratio_abnormal_low: float  # involved lambda below, kappa above (involved chain)
    flc_ratio_abnormal_high: float
    levels: MappingProxyType[str, tuple[LevelRule, ...]]
    progression: MappingProxyType[str, ProgressionRule]
    serum_high: HighSerumRule
    imaging: ImagingRule
    gates: GateRule
    notes: tuple[str, ...] = ()


def _measurable(source: str) -> MappingProxyType[str, MeasurableRule]:
    return MappingProxyType(
        {
            SERUM: MeasurableRule(SERUM, 1.0, "g/dL", source),
            URINE: MeasurableRule(URINE, 200.0, "mg/24h", source),
            # iFLC >= 10 mg/dL (100 mg/L) with an abnormal ratio; only if S and U are not.
            DFLC: MeasurableRule(DFLC, 100.0, "mg/L (involved FLC)", source),
            # Non-secretory disease: BMPC >= 30% (for PR); only if S, U and F are not.
            BMPC: MeasurableRule(BMPC, 30.0, "%", source),
            # Any measurable soft-tissue plasmacytoma (SPD > 0).
            PLASMACYTOMA: MeasurableRule(PLASMACYTOMA, 0.0, "cm2 (SPD > 0)", source),
        }
    )


def _levels(source: str, *, mr_defined: bool) -> MappingProxyType[str, tuple[LevelRule, ...]]:
    def rows(*items: LevelRule) -> tuple[LevelRule, ...]:
        return tuple(r for r in items if mr_defined or r.level is not Category.MR)

    return MappingProxyType(
        {
            SERUM: rows(
                LevelRule("S-VGPR", SERUM, Category.VGPR, "reduction_pct", ">=", 90.0, source),
                LevelRule("S-PR", SERUM, Category.PR, "reduction_pct", ">=", 50.0, source),
                LevelRule("S-MR", SERUM, Category.MR, "reduction_pct", ">=", 25.0, source),
            ),
            URINE: rows(
                LevelRule("U-VGPR", URINE, Category.VGPR, "value", "<", 100.0, source),
                LevelRule("U-PR-90", URINE, Category.PR, "reduction_pct", ">=", 90.0, source),
                LevelRule("U-PR-200", URINE, Category.PR, "value", "<", 200.0, source),
                LevelRule("U-MR", URINE, Category.MR, "reduction_pct", ">=", 50.0, source),
            ),
            # Serum-only disease: urine < 100 mg/24h is the second half of the VGPR rule; any
            # other urine value (or none, unless waived) caps the call at PR.
            URINE_SERUM_ONLY: (
                LevelRule(
                    "U1-VGPR", URINE_SERUM_ONLY, Category.VGPR, "value", "<", 100.0, _NOTE_5_2
                ),
            ),
            # "More than 90%" for dFLC against "at least 90%" for serum; MR is not defined.
            DFLC: (
                LevelRule("F-VGPR", DFLC, Category.VGPR, "reduction_pct", ">", 90.0, source),
                LevelRule("F-PR", DFLC, Category.PR, "reduction_pct", ">=", 50.0, source),
            ),
            # No VGPR and no MR for marrow-only disease; PR needs a baseline of >= 30%.
            BMPC: (LevelRule("B-PR", BMPC, Category.PR, "reduction_pct", ">=", 50.0, source),),
            PLASMACYTOMA: rows(
                LevelRule(
                    "P-VGPR", PLASMACYTOMA, Category.VGPR, "reduction_pct", ">=", 50.0, source
                ),
                LevelRule("P-PR", PLASMACYTOMA, Category.PR, "reduction_pct", ">=", 50.0, source),
                LevelRule(
                    "P-MR",
                    PLASMACYTOMA,
                    Category.MR,
                    "reduction_pct",
                    ">=",
                    None,
                    source,
                    setting="mr_plasmacytoma_min_reduction_pct",
                ),
            ),
        }
    )


def _progression(source: str) -> MappingProxyType[str, ProgressionRule]:
    return MappingProxyType(
        {
            SERUM: ProgressionRule(
                "PD-SERUM", SERUM, 25.0, 0.5, False, "g/dL", "all patients [I]", source
            ),
            URINE: ProgressionRule(
                "PD-URINE", URINE, 25.0, 200.0, False, "mg/24h", "all patients", source
            ),
            DFLC: ProgressionRule(
                "PD-DFLC",
                DFLC,
                25.0,
                100.0,
                True,
                "mg/L",
                "only if serum and urine are not measurable",
                source,
            ),
            BMPC: ProgressionRule(
                "PD-BMPC",
                BMPC,
                25.0,
                10.0,
                False,
                "percentage points",
                "only if serum, urine and FLC are not measurable",
                source,
            ),
        }
    )


_GATES: Final = GateRule(
    cr_bmpc_below=5.0,
    flc_ratio_normal_low=0.26,
    flc_ratio_normal_high=1.65,
    source=f"{_KUMAR_2016}; {_NOTE_5_2}",
)

IMWG2016: Final = CriteriaRules(
    version="IMWG2016",
    citation="Kumar S, et al. Lancet Oncol 2016;17:e328-46",
    nadir_wording="lowest confirmed response value",
    mr_defined=True,
    default_mr_plasmacytoma_pct=50.0,
    measurable=_measurable(_KUMAR_2016),
    flc_ratio_abnormal_low=0.26,
    flc_ratio_abnormal_high=1.65,
    levels=_levels(_KUMAR_2016, mr_defined=True),
    progression=_progression(_KUMAR_2016),
    serum_high=HighSerumRule("PD-SERUM-HIGH", "nadir", 5.0, 1.0, f"{_KUMAR_2016} [I: sufficient]"),
    imaging=ImagingRule("PD-NEW-LESION", "PD-SPD", 1.5, f"{_KUMAR_2016}; {_NOTE_5_3}"),
    gates=_GATES,
    notes=(
        "MR plasmacytoma: >= 50% SPD reduction (2016 as reproduced in a 2023 secondary table).",
        "Serum PD floor read as 'at least 0.5 g/dL'; some reproductions print '> 0.5'.",
    ),
)

IMWG2011: Final = CriteriaRules(
    version="IMWG2011",
    citation="Rajkumar SV, et al. Blood 2011;117:4691-5",
    nadir_wording="lowest response value",
    mr_defined=True,
    default_mr_plasmacytoma_pct=25.0,
    measurable=_measurable(_RAJKUMAR_2011),
    flc_ratio_abnormal_low=0.26,
    flc_ratio_abnormal_high=1.65,
    levels=_levels(_RAJKUMAR_2011, mr_defined=True),
    progression=_progression(_RAJKUMAR_2011),
    serum_high=HighSerumRule(
        "PD-SERUM-HIGH", "baseline", 5.0, 1.0, f"{_RAJKUMAR_2011} footnote [I: sufficient]"
    ),
    imaging=ImagingRule("PD-NEW-LESION", "PD-SPD", 1.5, f"{_RAJKUMAR_2011}; {_NOTE_5_3}"),
    gates=_GATES,
    notes=("MR plasmacytoma: 25-49% SPD reduction.",),
)

IMWG2006: Final = CriteriaRules(
    version="IMWG2006",
    citation="Durie BGM, et al. Leukemia 2006;20:1467-73",
    nadir_wording="lowest response value",
    mr_defined=False,
    default_mr_plasmacytoma_pct=25.0,
    measurable=_measurable(_DURIE_2006),
    flc_ratio_abnormal_low=0.26,
    flc_ratio_abnormal_high=1.65,
    levels=_levels(_DURIE_2006, mr_defined=False),
    progression=_progression(_DURIE_2006),
    serum_high=HighSerumRule(
        "PD-SERUM-HIGH", "baseline", 5.0, 1.0, f"{_DURIE_2006} footnote [I: sufficient]"
    ),
    imaging=ImagingRule("PD-NEW-LESION", "PD-SPD", 1.5, f"{_DURIE_2006}; {_NOTE_5_3}"),
    gates=_GATES,
    notes=(
        "MR is not a 2006 category: MR-level reductions are SD.",
        "dFLC PD floor: the printed '> 10 mg/l' is read as > 10 mg/dL (100 mg/L), as later texts.",
        "Hypercalcaemia PD (corrected Ca > 11.5 mg/dL) is not an engine input.",
    ),
)

CRITERIA: Final[MappingProxyType[str, CriteriaRules]] = MappingProxyType(
    {c.version: c for c in (IMWG2016, IMWG2011, IMWG2006)}
)
DEFAULT_CRITERIA: Final = "IMWG2016"
DEFAULT_NADIR_POLICY: Final = NadirPolicy.LOWEST_OBSERVED

# admiralonco warns when the confirming assessment is more than 84 days later (example value).
CONFIRMATION_WARNING_DAYS: Final = 84

# Confirmation conventions (admiralonco ADRS-IMWG vignette; research note 5.4 and the command
# section). The ids appear in the trace as the rule that fixed each confirmed call.
CONFIRMATION_RULES: Final = MappingProxyType(
    {
        "CONF-LOWER-OF-TWO": "response confirmed by the next evaluable assessment: the lower of two",
        "CONF-NEXT-BELOW-MR": "response followed by SD or PD: confirmed SD",
        "CONF-SD": "SD needs no confirmation",
        "CONF-NE": "NE stays NE; it is skipped when looking for a confirming assessment",
        "CONF-IMMEDIATE": "marrow- or imaging-only disease: no repeat needed",
        "CONF-PD-IMMEDIATE": "imaging or marrow PD: confirmed at once",
        "CONF-PD-NEXT": "laboratory PD confirmed by the next assessment meeting a PD criterion",
        "CONF-PD-DEATH": "laboratory PD followed by death (before new therapy)",
        "CONF-PD-NOT-CONFIRMED": "laboratory PD not confirmed by the next assessment: NE",
        "CONF-PD-CUT-OFF": "laboratory PD not confirmed before new therapy: NE",
        "CONF-CUT-OFF": "response not confirmed before new therapy or death: SD",
        "CONF-PENDING": "last assessment: confirmation pending",
        "CONF-AFTER-NEW-THERAPY": "on or after new therapy: counts for nothing",
    }
)
