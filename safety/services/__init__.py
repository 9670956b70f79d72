"""Every write of the safety app.

Each service runs in one transaction, names its actor (``acting_user``; ``None`` for the
periodic sweeps), writes its audit context (who and why), and maps rows to the pure rules of
``safety.domain`` once: CTCAE v5.0 grades and lab grading, the trial's DLT definition, the DLT
window status, and the SAE clocks. Updates of clinical records require a reason; records two
people may edit at once carry a version, and a stale save is refused (``ConflictError``).

Hooks the trials app calls, inside its own transaction, after it writes:

- :func:`safety_on_doses_recorded` — doses saved: open or move the patient's DLT window;
- :func:`safety_grade_lab_results` — lab rows saved: grade them, suggest grade >= 3 as AEs;
- :func:`safety_on_patient_status_changed` — off treatment: re-evaluate the DLT window.

Lock order (fixed, so that concurrent services cannot deadlock): adverse event → DLT window →
potential DLT → SAE report; it follows the trials app's order (… → patient → visit).

Every change that can alter the dose-escalation decision (a DLT confirmed, rejected or voided,
a window completed, a patient made not evaluable) enqueues ``dosing.evaluate_escalation`` for
the trial after commit.
"""

from safety.services._common import ConflictError
from safety.services.adverse_events import (
    AttributionInput,
    GradeChange,
    adverse_event_attribute,
    adverse_event_create,
    adverse_event_delete,
    adverse_event_grade_change,
    adverse_event_update,
    ctcae_dictionary_install,
)
from safety.services.dlt import (
    dlt_definition_set,
    dlt_window_evaluate,
    dlt_windows_sweep,
    potential_dlt_adjudicate,
    safety_on_doses_recorded,
    safety_on_patient_status_changed,
)
from safety.services.labs import (
    lab_suggestion_confirm,
    lab_suggestion_dismiss,
    safety_grade_lab_results,
    safety_grade_lab_results_after_commit,
)
from safety.services.sae import (
    sae_reminders_send,
    sae_report_sign,
    sae_report_submit,
    sae_report_transition,
)

__all__ = [
    "AttributionInput",
    "ConflictError",
    "GradeChange",
    "adverse_event_attribute",
    "adverse_event_create",
    "adverse_event_delete",
    "adverse_event_grade_change",
    "adverse_event_update",
    "ctcae_dictionary_install",
    "dlt_definition_set",
    "dlt_window_evaluate",
    "dlt_windows_sweep",
    "lab_suggestion_confirm",
    "lab_suggestion_dismiss",
    "potential_dlt_adjudicate",
    "sae_reminders_send",
    "sae_report_sign",
    "sae_report_submit",
    "sae_report_transition",
    "safety_grade_lab_results",
    "safety_grade_lab_results_after_commit",
    "safety_on_doses_recorded",
    "safety_on_patient_status_changed",
]
