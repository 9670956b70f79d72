"""The dosing app's tables, split by topic and re-exported here (``from dosing.models import X``).

Every table is tracked by django-pghistory (Postgres triggers: each insert, update and delete
is kept with who, when and why).
"""

from dosing.models.escalation import (
    DECISION_TRANSITIONS,
    IN_FORCE_STATUSES,
    MAX_SEATS,
    DecisionKind,
    DecisionSignature,
    DecisionStatus,
    EscalationDecision,
    EscalationStage,
    SignatureKind,
    SignatureStatus,
    SlotAssignment,
    SlotKind,
    SlotStatus,
    TrialEscalation,
)
from dosing.models.levels import DoseLevel, DoseLevelDose
from dosing.models.simulation import MAX_SIMULATIONS, JobStatus, OcSimulationJob

__all__ = [
    "DECISION_TRANSITIONS",
    "IN_FORCE_STATUSES",
    "MAX_SEATS",
    "MAX_SIMULATIONS",
    "DecisionKind",
    "DecisionSignature",
    "DecisionStatus",
    "DoseLevel",
    "DoseLevelDose",
    "EscalationDecision",
    "EscalationStage",
    "JobStatus",
    "OcSimulationJob",
    "SignatureKind",
    "SignatureStatus",
    "SlotAssignment",
    "SlotKind",
    "SlotStatus",
    "TrialEscalation",
]
