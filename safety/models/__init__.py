"""The safety app's tables, split by topic and re-exported here (``from safety.models import X``).

Every table is tracked by django-pghistory (Postgres triggers write an event row for each
insert, update and delete, with the user and reason the service set), and the rules that can
be stated in the database are constraints there: grades 1-5 and allowed for the term, dates in
order, one DLT window per patient, one valid adjudication per potential DLT, one reminder per
scheduled time.
"""

from safety.models.adverse_events import (
    ActionTaken,
    AdverseEvent,
    AdverseEventAttribution,
    AdverseEventGrade,
    AttributionChoice,
    Expectedness,
    LabGradeSuggestion,
    Outcome,
    SuggestionStatus,
)
from safety.models.ctcae import CtcaeTerm
from safety.models.dlt import (
    AdjudicationDecision,
    DltAdjudication,
    DltDefinitionVersion,
    DltWindow,
    DltWindowState,
    PotentialDlt,
    PotentialDltStatus,
)
from safety.models.sae import SaeReminder, SaeReport, SaeReportState
from safety.models.signatures import Signature

__all__ = [
    "ActionTaken",
    "AdjudicationDecision",
    "AdverseEvent",
    "AdverseEventAttribution",
    "AdverseEventGrade",
    "AttributionChoice",
    "CtcaeTerm",
    "DltAdjudication",
    "DltDefinitionVersion",
    "DltWindow",
    "DltWindowState",
    "Expectedness",
    "LabGradeSuggestion",
    "Outcome",
    "PotentialDlt",
    "PotentialDltStatus",
    "SaeReminder",
    "SaeReport",
    "SaeReportState",
    "Signature",
    "SuggestionStatus",
]
