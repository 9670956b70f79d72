"""Every write of the response app (``from response import services``).

Each service runs in one transaction and names its actor; updates of entries need a reason and
a version (a stale edit is refused, never merged). Lock order: patient → response rows.

- :func:`response_evaluate_patient` — the one entry point that (re)computes a patient's
  response from the stored data (labs for IMWG, lesions for RECIST), idempotently; run by the
  ``response.evaluate_patient`` task after every lab, marrow or imaging entry.
- :func:`investigator_response_record`, :func:`query_transition`, :func:`response_sign` — what
  people record beside the computed call.
- :func:`recist_lesion_add`, :func:`recist_lesion_update`, :func:`recist_assessment_record`.
- :func:`simon_monitor_update` — the trial's Simon monitor and its notifications.
"""

from response.services.common import ConflictError, require_patient_role
from response.services.entries import (
    investigator_response_record,
    query_transition,
    response_sign,
    signable_content,
)
from response.services.evaluation import (
    EvaluationOutcome,
    response_evaluate_patient,
    response_sweep,
)
from response.services.recist import (
    LesionInput,
    recist_assessment_record,
    recist_lesion_add,
    recist_lesion_update,
)
from response.services.simon import simon_monitor_update

__all__ = [
    "ConflictError",
    "EvaluationOutcome",
    "LesionInput",
    "investigator_response_record",
    "query_transition",
    "recist_assessment_record",
    "recist_lesion_add",
    "recist_lesion_update",
    "response_evaluate_patient",
    "require_patient_role",
    "response_sign",
    "response_sweep",
    "signable_content",
    "simon_monitor_update",
]
