"""The trials app's tables, split by topic and re-exported here (``from trials.models import X``).

Every clinical table is tracked by django-pghistory: Postgres triggers write an event row for
each insert, update and delete, with the context (user, URL, reason) that the request or the
service set. No code path (ORM, bulk update, raw SQL, admin or shell) can skip it.
"""

from trials.models.core import (
    IDENTIFIER_FIELDS,
    Membership,
    Patient,
    PatientStatus,
    Phase,
    Role,
    Sex,
    Site,
    Trial,
    TrialSite,
    TrialStatus,
    User,
    UserManager,
    WorkerHeartbeat,
    audited_events,
)
from trials.models.enrolment import (
    Consent,
    EligibilityAnswer,
    LastContact,
    PatientStatusChange,
    VitalStatus,
)
from trials.models.protocol import EligibilityCriterion, ProtocolVersion, Route, TrialAgent
from trials.models.visits import DoseAdministration, LabReferenceRange, LabResult, Visit

__all__ = [
    "IDENTIFIER_FIELDS",
    "Consent",
    "DoseAdministration",
    "EligibilityAnswer",
    "EligibilityCriterion",
    "LabReferenceRange",
    "LabResult",
    "LastContact",
    "Membership",
    "Patient",
    "PatientStatus",
    "PatientStatusChange",
    "Phase",
    "ProtocolVersion",
    "Role",
    "Route",
    "Sex",
    "Site",
    "Trial",
    "TrialAgent",
    "TrialSite",
    "TrialStatus",
    "User",
    "UserManager",
    "Visit",
    "VitalStatus",
    "WorkerHeartbeat",
    "audited_events",
]
