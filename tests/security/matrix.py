"""The role × URL permission matrix: what every actor gets from every URL pattern.

``test_permission_matrix`` walks every URL pattern of the project and requires an entry here
for each one, so a new URL cannot ship without someone stating who may use it. Each entry says
which record its ``<pk>`` is, the query string or body the request needs, and the outcome for
each actor (see ``ACTORS``). Records belong to a patient of site A (``tests/security/world.py``);
``coordinator_other_site`` is a coordinator of site B of the same trial.

Outcomes: an HTTP status; ``LOGIN`` (a redirect to the login page); ``TWO_FACTOR`` (a redirect
to the authenticator set-up: investigators and trial admins must have one before they sign);
``ADMIN_LOGIN`` (a redirect to the Django admin's login: it is for staff only); ``REDIRECT``
(a redirect elsewhere in the app, e.g. back to the page after a form); a tuple of statuses when
the outcome depends on the environment, not the actor (``/health/``).

Unsafe-only URLs (POST, PATCH) are called with their method and an empty body: a user who may
act reaches validation (400), a user who may not gets 403 (404 for another site's record)
before anything is read from the body. A signing URL answers 403 to an investigator without a
confirmed authenticator; the signature itself is tested in ``test_signatures.py``.

The Django admin (``admin/…``) is one group, checked at its index: it is for staff users, and no
trial role gets in. Its own URLs and permissions are Django's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTORS = (
    "anonymous",
    "coordinator",
    "coordinator_other_site",
    "investigator",
    "statistician",
    "monitor",
    "trial_admin",
)
SIGNED_IN = ACTORS[1:]
LOGIN = "login"
ADMIN_LOGIN = "admin login"
TWO_FACTOR = "two-factor set-up"
REDIRECT = "redirect"
#: The admin URLs are covered by the one ``admin`` entry.
ADMIN_PREFIX = "admin/"


def ex(coordinator, other_site, investigator, statistician, monitor, trial_admin) -> dict:
    """The outcome for each signed-in actor, in ``SIGNED_IN`` order."""
    values = (coordinator, other_site, investigator, statistician, monitor, trial_admin)
    return dict(zip(SIGNED_IN, values, strict=True))


def everyone(outcome) -> dict:
    return dict.fromkeys(SIGNED_IN, outcome)


#: Every member of the trial, whatever the site (lists are filtered to the user's sites).
MEMBERS = everyone(200)
#: A record of a site A patient: every member whose membership covers site A reads it.
PATIENT = ex(200, 404, 200, 200, 200, 200)
#: A page that writes a site A patient's clinical data: the site's coordinators, trial admins.
PATIENT_WRITE = ex(200, 404, 403, 403, 403, 200)
#: The same writers, on an unsafe-only URL called with an empty body.
PATIENT_WRITE_EMPTY = ex(400, 404, 403, 403, 403, 400)
#: An investigator signature (API): nobody without a confirmed authenticator gets through.
SIGN_API = ex(403, 404, 403, 403, 403, 403)
#: An investigator signature (page): investigators and trial admins are sent to set one up.
SIGN_PAGE = ex(403, 404, TWO_FACTOR, 403, 403, TWO_FACTOR)
#: Dose escalation: investigators, statisticians, monitors, trial admins; not coordinators.
ESCALATION = ex(403, 403, 200, 200, 200, 200)
#: Trial-level results (response summaries, Kaplan–Meier): investigators, statisticians,
#: trial admins.
RESULTS = ex(403, 403, 200, 200, 403, 200)
#: Analysis exports: statisticians and trial admins.
EXPORTS = ex(403, 403, 403, 200, 403, 200)
#: Trial configuration: trial admins.
ADMIN_ONLY_EMPTY = ex(403, 403, 403, 403, 403, 400)


@dataclass(frozen=True)
class Entry:
    name: str
    group: str
    expect: dict
    #: which record the ``<pk>`` of the pattern is (a key of ``World.objects``)
    pk: str | None = None
    query: str = ""
    method: str = "get"
    data: dict = field(default_factory=dict)
    #: the anonymous outcome; default: ``LOGIN`` for pages, 401 for the API
    anonymous: object = None

    @property
    def is_api(self) -> bool:
        return self.name.startswith("api-")

    def outcome(self, actor: str):
        if actor == "anonymous":
            if self.anonymous is not None:
                return self.anonymous
            return 401 if self.is_api else LOGIN
        return self.expect[actor]


def _e(name, group, expect, **kwargs) -> Entry:
    return Entry(name=name, group=group, expect=expect, **kwargs)


POST_EMPTY = {"method": "post"}

ENTRIES: tuple[Entry, ...] = (
    # --- accounts, health, API infrastructure --------------------------------------------
    _e("health", "public", everyone((200, 503)), anonymous=(200, 503)),
    _e("login", "public", everyone(200), anonymous=200),
    _e("login_verify", "accounts", everyone(REDIRECT)),
    _e("logout", "accounts", everyone(405), anonymous=405),
    _e("two_factor_setup", "accounts", everyone(200)),
    _e("password_change", "accounts", everyone(200)),
    _e("password_change_done", "accounts", everyone(200)),
    _e("api-schema", "public", everyone(200), anonymous=200),
    _e("api-docs", "public", everyone(200), anonymous=200),
    _e("api-ping", "accounts", everyone(200)),
    _e("api-token", "public", everyone(400), anonymous=400, **POST_EMPTY),
    _e("api-me", "accounts", everyone(200)),
    _e("api-root", "accounts", everyone(200)),
    _e("admin", "admin", everyone(ADMIN_LOGIN), anonymous=ADMIN_LOGIN),
    # --- trials: trials, sites, patients, visits, labs, history ----------------------------
    _e("home", "trials", MEMBERS),
    _e("trial_list", "trials", MEMBERS),
    _e("trial_detail", "trials", MEMBERS),
    _e("trial_design_amend", "trial configuration", ex(403, 403, 403, 403, 403, 200)),
    _e("api-trial-list", "trials", MEMBERS),
    _e("api-trial-detail", "trials", MEMBERS),
    _e("api-trial-amendments", "trial configuration", ADMIN_ONLY_EMPTY, **POST_EMPTY),
    _e("api-trial-transition", "trial configuration", ADMIN_ONLY_EMPTY, **POST_EMPTY),
    _e("api-site-list", "trials", MEMBERS),
    _e("api-site-detail", "trials", PATIENT, pk="site"),
    _e("patient_screen", "patient data entry", ex(200, 200, 403, 403, 403, 200)),
    _e("patient_list", "patient records", MEMBERS),
    _e("patient_detail", "patient records", PATIENT, pk="patient"),
    _e("patient_edit", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("patient_eligibility", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("patient_consent", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("patient_enrol", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("patient_status", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("last_contact", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("visit_add", "patient data entry", PATIENT_WRITE, pk="patient"),
    _e("visit_record", "patient records", PATIENT, pk="visit"),
    _e("history", "patient records", PATIENT, pk="patient"),
    _e("api-history", "patient records", PATIENT, pk="patient"),
    _e("api-patient-list", "patient records", MEMBERS),
    _e("api-patient-detail", "patient records", PATIENT, pk="patient"),
    _e("api-patient-consents", "patient records", PATIENT, pk="patient"),
    _e("api-patient-eligibility", "patient records", PATIENT, pk="patient"),
    _e("api-patient-last-contact", "patient records", PATIENT, pk="patient"),
    _e("api-patient-status-history", "patient records", PATIENT, pk="patient"),
    _e("api-patient-visits", "patient records", PATIENT, pk="patient"),
    _e("api-patient-enrol", "patient data entry", PATIENT_WRITE_EMPTY, pk="patient", **POST_EMPTY),
    _e(
        "api-patient-transition",
        "patient data entry",
        PATIENT_WRITE_EMPTY,
        pk="patient",
        **POST_EMPTY,
    ),
    _e("api-visit-detail", "patient records", PATIENT, pk="visit"),
    _e("api-visit-labs", "patient records", PATIENT, pk="visit"),
    _e("api-visit-missed", "patient data entry", PATIENT_WRITE_EMPTY, pk="visit", **POST_EMPTY),
    _e("api-lab-detail", "patient records", PATIENT, pk="lab"),
    # --- safety ----------------------------------------------------------------------------
    _e("safety_index", "safety", everyone(REDIRECT)),
    _e("safety_trial", "safety", MEMBERS),
    _e("safety_ae_list", "safety", MEMBERS),
    _e("safety_lab_suggestions", "safety", MEMBERS),
    _e("safety_dlt_queue", "safety", MEMBERS),
    _e("safety_sae_list", "safety", MEMBERS),
    _e("safety_tables", "safety", MEMBERS),
    _e("safety_ae_new", "safety data entry", PATIENT_WRITE, pk="patient"),
    _e("safety_ae_detail", "safety", PATIENT, pk="ae"),
    _e("safety_ae_edit", "safety data entry", PATIENT_WRITE, pk="ae"),
    _e("safety_ae_grade", "safety data entry", PATIENT_WRITE_EMPTY, pk="ae", **POST_EMPTY),
    _e("safety_ae_attribution", "safety data entry", PATIENT_WRITE_EMPTY, pk="ae", **POST_EMPTY),
    _e(
        "safety_suggestion_confirm",
        "safety data entry",
        ex(REDIRECT, 404, 403, 403, 403, REDIRECT),
        pk="suggestion",
        **POST_EMPTY,
    ),
    _e(
        "safety_suggestion_dismiss",
        "safety data entry",
        ex(REDIRECT, 404, 403, 403, 403, REDIRECT),
        pk="suggestion",
        **POST_EMPTY,
    ),
    _e("safety_potential_dlt", "safety", PATIENT, pk="potential_dlt"),
    _e("safety_adjudicate", "signatures", SIGN_PAGE, pk="potential_dlt", **POST_EMPTY),
    _e("safety_sae_detail", "safety", PATIENT, pk="sae"),
    _e(
        "safety_sae_submit",
        "safety data entry",
        ex(400, 404, 400, 403, 403, 400),
        pk="sae",
        **POST_EMPTY,
    ),
    _e("safety_sae_sign", "signatures", SIGN_PAGE, pk="sae", **POST_EMPTY),
    _e("api-safety-ctcae-terms", "safety", MEMBERS, query="?trial=IPD&search=neutrophil"),
    _e("api-safety-ae-list", "safety", MEMBERS),
    _e("api-safety-ae-detail", "safety", PATIENT, pk="ae"),
    _e(
        "api-safety-ae-grade-change",
        "safety data entry",
        PATIENT_WRITE_EMPTY,
        pk="ae",
        **POST_EMPTY,
    ),
    _e(
        "api-safety-ae-attribution",
        "safety data entry",
        PATIENT_WRITE_EMPTY,
        pk="ae",
        **POST_EMPTY,
    ),
    _e("api-safety-lab-suggestions", "safety", MEMBERS),
    _e(
        "api-safety-lab-suggestion-confirm",
        "safety data entry",
        PATIENT_WRITE_EMPTY,
        pk="suggestion",
        **POST_EMPTY,
    ),
    _e(
        "api-safety-lab-suggestion-dismiss",
        "safety data entry",
        PATIENT_WRITE_EMPTY,
        pk="suggestion",
        **POST_EMPTY,
    ),
    _e("api-safety-dlt-windows", "safety", MEMBERS),
    _e("api-safety-potential-dlts", "safety", MEMBERS),
    _e("api-safety-adjudicate", "signatures", SIGN_API, pk="potential_dlt", **POST_EMPTY),
    _e("api-safety-sae-list", "safety", MEMBERS),
    _e("api-safety-sae-detail", "safety", PATIENT, pk="sae"),
    _e(
        "api-safety-sae-submit",
        "safety data entry",
        ex(400, 404, 400, 403, 403, 400),
        pk="sae",
        **POST_EMPTY,
    ),
    _e("api-safety-sae-sign", "signatures", SIGN_API, pk="sae", **POST_EMPTY),
    _e("api-safety-ae-tables", "safety", MEMBERS, query="?trial=IPD"),
    _e("api-safety-dlt-listing", "safety", MEMBERS, query="?trial=IPD"),
    # --- dose escalation -------------------------------------------------------------------
    _e("dosing_index", "dose escalation", MEMBERS),
    _e("dosing_escalation", "dose escalation", ESCALATION),
    _e(
        "dosing_evaluate",
        "dose escalation",
        ex(403, 403, REDIRECT, REDIRECT, 403, REDIRECT),
        **POST_EMPTY,
    ),
    _e("dosing_decisions", "dose escalation", ESCALATION),
    _e("dosing_decision", "dose escalation", ESCALATION, pk="decision"),
    _e(
        "dosing_decision_sign",
        "signatures",
        ex(403, 403, TWO_FACTOR, 403, 403, TWO_FACTOR),
        pk="decision",
        **POST_EMPTY,
    ),
    _e(
        "dosing_decision_override",
        "signatures",
        ex(403, 403, TWO_FACTOR, 403, 403, TWO_FACTOR),
        pk="decision",
        **POST_EMPTY,
    ),
    _e("dosing_decision_table", "dose escalation", ESCALATION),
    _e("dosing_dose_paths", "dose escalation", ESCALATION),
    _e("dosing_oc", "dose escalation", ESCALATION),
    _e(
        "dosing_oc_plot",
        "dose escalation",
        ESCALATION,
        query="?rates=0.05,0.1,0.2&n_sims=20&seed=1",
    ),
    _e(
        "dosing_simulation_start",
        "dose escalation",
        ex(403, 403, 400, 400, 403, 400),
        **POST_EMPTY,
    ),
    _e("dosing_simulation", "dose escalation", ESCALATION, pk="simulation"),
    _e("dosing_simulation_status", "dose escalation", ESCALATION, pk="simulation"),
    _e("api-dosing-levels", "dose escalation", MEMBERS, query="?trial=IPD"),
    _e("api-dosing-slots", "dose escalation", ESCALATION, query="?trial=IPD"),
    _e("api-dosing-escalation", "dose escalation", ESCALATION, query="?trial=IPD"),
    _e("api-dosing-decisions", "dose escalation", ESCALATION, query="?trial=IPD"),
    _e("api-dosing-decision", "dose escalation", ESCALATION, pk="decision"),
    _e(
        "api-dosing-decision-sign",
        "signatures",
        ex(403, 403, 403, 403, 403, 403),
        pk="decision",
        **POST_EMPTY,
    ),
    _e(
        "api-dosing-decision-override",
        "signatures",
        ex(403, 403, 403, 403, 403, 403),
        pk="decision",
        **POST_EMPTY,
    ),
    _e("api-dosing-decision-table", "dose escalation", ESCALATION, query="?trial=IPD"),
    _e("api-dosing-what-if", "dose escalation", ESCALATION, query="?trial=IPD"),
    _e("api-dosing-oc", "dose escalation", ESCALATION, query="?trial=IPD&rates=0.05,0.1,0.2"),
    _e(
        "api-dosing-simulations",
        "dose escalation",
        ex(403, 403, 400, 400, 403, 400),
        # the trial is in the body, yet a role that does not run simulations gets its 403
        # before the body is validated (``WRITES`` repeats it with a body naming the trial)
        **POST_EMPTY,
    ),
    _e("api-dosing-simulation", "dose escalation", ESCALATION, pk="simulation"),
    # --- response --------------------------------------------------------------------------
    _e("response:queries", "response", MEMBERS),
    _e("response:patient", "response", PATIENT, pk="patient"),
    _e(
        "response:entry",
        "response data entry",
        ex(403, 404, 400, 403, 403, 403),
        pk="patient",
        **POST_EMPTY,
    ),
    _e("response:sign", "signatures", SIGN_PAGE, pk="patient", **POST_EMPTY),
    _e("response:labs", "response data entry", PATIENT_WRITE_EMPTY, pk="patient", **POST_EMPTY),
    _e(
        "response:lesion_add",
        "response data entry",
        PATIENT_WRITE_EMPTY,
        pk="patient",
        **POST_EMPTY,
    ),
    _e(
        "response:recist_assessment",
        "response data entry",
        PATIENT_WRITE_EMPTY,
        pk="patient",
        **POST_EMPTY,
    ),
    _e(
        "response:query_act",
        "response data entry",
        ex(REDIRECT, 404, REDIRECT, 403, 403, 403),
        **POST_EMPTY,
    ),
    _e("response:trial", "trial results", RESULTS),
    _e("response:simon", "trial results", RESULTS),
    _e("response:waterfall", "trial results", RESULTS),
    _e("api-response-list", "response", MEMBERS),
    _e("api-response-patient", "response", PATIENT, pk="patient"),
    _e("api-response-entries", "response", PATIENT, pk="patient"),
    _e("api-response-entry", "response", PATIENT, pk="patient"),
    _e("api-response-sign", "signatures", SIGN_API, pk="patient", **POST_EMPTY),
    _e("api-response-lesions", "response", PATIENT, pk="patient"),
    _e(
        "api-response-lesion",
        "response data entry",
        PATIENT_WRITE_EMPTY,
        pk="patient",
        method="patch",
    ),
    _e("api-response-recist-assessments", "response", PATIENT, pk="patient"),
    _e("api-response-queries", "response", MEMBERS),
    _e("api-response-query", "response", PATIENT),
    _e("api-response-query-transition", "response", PATIENT),
    _e("api-response-summary", "trial results", RESULTS),
    _e("api-response-waterfall", "trial results", RESULTS),
    _e("api-response-simon", "trial results", RESULTS),
    _e("api-response-simon-design", "response", MEMBERS, query="?p0=0.1&p1=0.3&nmax=40"),
    # --- survival --------------------------------------------------------------------------
    _e("survival_index", "trial results", ex(200, 200, REDIRECT, REDIRECT, 200, REDIRECT)),
    _e("survival_trial", "trial results", RESULTS),
    _e("survival_km_plot", "trial results", RESULTS),
    _e("survival_swimmer_plot", "trial results", RESULTS),
    _e("survival_export_start", "exports", ex(403, 403, 403, 400, 403, 400), **POST_EMPTY),
    _e("survival_export", "exports", EXPORTS, pk="export"),
    _e("survival_export_status", "exports", EXPORTS, pk="export"),
    # The job has not run: no file yet, a 404 for those who may download it.
    _e("survival_export_download", "exports", ex(403, 403, 403, 404, 403, 404), pk="export"),
    _e("api-survival-exports", "exports", EXPORTS),
    _e("api-survival-export", "exports", EXPORTS, pk="export"),
    _e("api-survival-export-download", "exports", ex(403, 403, 403, 404, 403, 404), pk="export"),
    _e("api-survival-cuts", "exports", EXPORTS),
    _e("api-survival-km", "trial results", RESULTS),
    _e("api-survival-km-plot", "trial results", RESULTS),
    _e("api-survival-swimmer-plot", "trial results", RESULTS),
)

MATRIX: dict[str, Entry] = {entry.name: entry for entry in ENTRIES}
assert len(MATRIX) == len(ENTRIES), "a URL name appears twice in the matrix"

#: A body for each write in ``WRITES`` that names the world's trial or patient the way a valid
#: one does (``"<patient>"`` is the site A patient's pk): an actor refused with an empty body is
#: refused the same way with it, since the role is checked before the body is validated.
NAMED_BODIES = {
    "api-dosing-simulations": {
        "trial": "IPD",
        "true_dlt_rates": [0.05, 0.1, 0.2],
        "n_sims": 10,
        "seed": 1,
    },
    "api-dosing-levels": {
        "trial": "IPD",
        "number": 9,
        "label": "DL9",
        "doses": [{"agent": "X", "dose": "1", "unit": "mg"}],
    },
    "api-patient-list": {
        "trial": "IPD",
        "site": "ALPHA",
        "given_name": "A",
        "family_name": "B",
        "date_of_birth": "1960-01-01",
        "sex": "F",
    },
    "api-safety-ae-list": {
        "patient": "<patient>",
        "term": "Neutrophil count decreased",
        "onset_date": "2024-01-01",
        "grade": 3,
    },
    "api-response-entries": {"scope": "best_overall_response", "category": "PR"},
    "api-response-entry": {"category": "SD", "reason": "re-read", "version": 1},
    "api-response-query-transition": {"to_status": "answered", "text": "checked", "version": 1},
}

#: Writes on URLs whose ``ENTRIES`` row is their GET (the matrix is keyed by URL name), called
#: with an empty body: a role that may not write gets 403 before validation, a writer the 400.
WRITES: tuple[Entry, ...] = (
    _e(
        "api-dosing-simulations",
        "dose escalation",
        MATRIX["api-dosing-simulations"].expect,
        **POST_EMPTY,
    ),
    _e("api-dosing-levels", "trial configuration", ADMIN_ONLY_EMPTY, **POST_EMPTY),
    # the site is in the body: a coordinator of either site may screen, so both get the 400
    _e("api-patient-list", "patient data entry", ex(400, 400, 403, 403, 403, 400), **POST_EMPTY),
    _e("api-safety-ae-list", "safety data entry", ex(400, 400, 403, 403, 403, 400), **POST_EMPTY),
    _e(
        "api-response-entries",
        "response data entry",
        ex(403, 404, 400, 403, 403, 403),
        pk="patient",
        **POST_EMPTY,
    ),
    _e(
        "api-response-entry",
        "response data entry",
        ex(403, 404, 400, 403, 403, 403),
        pk="patient",
        method="patch",
    ),
    _e(
        "api-response-query-transition",
        "response data entry",
        ex(400, 404, 400, 403, 403, 403),
        **POST_EMPTY,
    ),
)
