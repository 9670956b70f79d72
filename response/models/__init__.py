"""The response app's tables, split by topic and re-exported here (``from response.models import X``).

Every table is tracked by django-pghistory (Postgres triggers write an event row for each insert,
update and delete, with the user and reason of the service that made it), computed results
included: a recomputation that changes a stored call is itself part of the record.
"""

from response.models.entries import (
    EntryScope,
    InvestigatorResponse,
    ResponseQuery,
    ResponseSignature,
    SignatureMeaning,
)
from response.models.recist import RecistAssessment, RecistLesion, RecistMeasurement
from response.models.results import (
    RESPONSE_CATEGORY_CHOICES,
    PatientResponse,
    ResponseTimepoint,
)
from response.models.simon import SimonMonitor, SimonNotification

__all__ = [
    "RESPONSE_CATEGORY_CHOICES",
    "EntryScope",
    "InvestigatorResponse",
    "PatientResponse",
    "RecistAssessment",
    "RecistLesion",
    "RecistMeasurement",
    "ResponseQuery",
    "ResponseSignature",
    "ResponseTimepoint",
    "SimonMonitor",
    "SignatureMeaning",
    "SimonNotification",
]
