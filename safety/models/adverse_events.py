"""Adverse events: the CTCAE term, the grade over time, seriousness, attribution per agent, and
the lab results graded >= 3 that are suggested as adverse events.

ICH E2A gives the seriousness criteria and ICH E6 the outcome categories; CTCAE v5.0 the terms
and grades. The maximum grade of an event is derived from its grade episodes and stored only
because the services rewrite it in the same transaction as the episodes.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from safety.domain.dlt_rules import Attribution
from safety.models.ctcae import CtcaeTerm
from trials.models import LabResult, Patient, TrialAgent, audited_events

GRADE_RANGE = Q(grade__gte=1) & Q(grade__lte=5)

# The grade must be one NCI allows for the event's term ("-" grades are not selectable), and
# the copies of the term's version, code and name must be the term's own. Checked in the
# database so that no code path can store, say, a grade 5 "Neutrophil count decreased".
_AE_TERM_CHECK = """
    IF NOT EXISTS (
        SELECT 1 FROM safety_ctcaeterm t
        WHERE t.id = NEW.ctcae_term_id
          AND t.version = NEW.ctcae_version
          AND t.meddra_code = NEW.meddra_code
          AND t.term = NEW.term
          AND t.soc = NEW.soc
          AND NEW.max_grade = ANY(t.allowed_grades)
    ) THEN
        RAISE EXCEPTION 'CTCAE grade % is not allowed for % (or the term copy differs)',
            NEW.max_grade, NEW.term USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM safety_adverseeventgrade g, safety_ctcaeterm t
        WHERE g.adverse_event_id = NEW.id AND t.id = NEW.ctcae_term_id
          AND NOT (g.grade = ANY(t.allowed_grades))
    ) THEN
        RAISE EXCEPTION 'a grade episode of this event is not allowed for %', NEW.term
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
"""

_EPISODE_GRADE_CHECK = """
    IF NOT EXISTS (
        SELECT 1 FROM safety_adverseevent ae
        JOIN safety_ctcaeterm t ON t.id = ae.ctcae_term_id
        WHERE ae.id = NEW.adverse_event_id AND NEW.grade = ANY(t.allowed_grades)
    ) THEN
        RAISE EXCEPTION 'CTCAE grade % is not allowed for this term', NEW.grade
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
"""


class Outcome(models.TextChoices):
    RECOVERING = "recovering", "Recovering / resolving"
    NOT_RECOVERED = "not_recovered", "Not recovered / not resolved"
    RECOVERED = "recovered", "Recovered / resolved"
    RECOVERED_WITH_SEQUELAE = "recovered_with_sequelae", "Recovered with sequelae"
    FATAL = "fatal", "Fatal"
    UNKNOWN = "unknown", "Unknown"


#: Outcomes that end the event: they need a resolution (or death) date, and only they have one.
ENDED_OUTCOMES = (Outcome.RECOVERED, Outcome.RECOVERED_WITH_SEQUELAE, Outcome.FATAL)


class Expectedness(models.TextChoices):
    EXPECTED = "expected", "Expected (listed in the reference safety information)"
    UNEXPECTED = "unexpected", "Unexpected"
    NOT_ASSESSED = "not_assessed", "Not yet assessed"


class AttributionChoice(models.TextChoices):
    UNRELATED = Attribution.UNRELATED.label, "Unrelated"
    UNLIKELY = Attribution.UNLIKELY.label, "Unlikely"
    POSSIBLE = Attribution.POSSIBLE.label, "Possible"
    PROBABLE = Attribution.PROBABLE.label, "Probable"
    DEFINITE = Attribution.DEFINITE.label, "Definite"


class ActionTaken(models.TextChoices):
    NONE = "none", "Dose not changed"
    REDUCED = "reduced", "Dose reduced"
    HELD = "held", "Dose held (interrupted)"
    DELAYED = "delayed", "Dose delayed"
    WITHDRAWN = "withdrawn", "Drug withdrawn"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    UNKNOWN = "unknown", "Unknown"


SERIOUSNESS_FIELDS = (
    "serious_death",
    "serious_life_threatening",
    "serious_hospitalisation",
    "serious_disability",
    "serious_congenital_anomaly",
    "serious_important_medical_event",
)


@pghistory.track(*audited_events(), model_name="AdverseEventEvent")
class AdverseEvent(models.Model):
    """One adverse event of one patient, graded by the trial's CTCAE version."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    ctcae_term = models.ForeignKey(
        CtcaeTerm, on_delete=models.PROTECT, related_name="adverse_events"
    )
    ctcae_version = models.CharField("CTCAE version", max_length=10)
    meddra_code = models.PositiveIntegerField("MedDRA code")
    term = models.CharField(max_length=200)
    soc = models.CharField("system organ class", max_length=200)
    verbatim = models.CharField(
        max_length=300, blank=True, help_text="The event as the investigator described it."
    )
    onset_date = models.DateField()
    resolution_date = models.DateField(null=True, blank=True)
    max_grade = models.PositiveSmallIntegerField(
        editable=False, help_text="Derived from the grade episodes (kept in sync by services)."
    )
    serious_death = models.BooleanField("results in death", default=False)
    serious_life_threatening = models.BooleanField("life-threatening", default=False)
    serious_hospitalisation = models.BooleanField(
        "requires or prolongs hospitalisation", default=False
    )
    serious_disability = models.BooleanField("persistent or significant disability", default=False)
    serious_congenital_anomaly = models.BooleanField(
        "congenital anomaly / birth defect", default=False
    )
    serious_important_medical_event = models.BooleanField("important medical event", default=False)
    awareness_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When site staff first knew the event was serious (starts the SAE clock).",
    )
    outcome = models.CharField(
        max_length=30, choices=Outcome.choices, default=Outcome.NOT_RECOVERED
    )
    expectedness = models.CharField(
        max_length=20, choices=Expectedness.choices, default=Expectedness.NOT_ASSESSED
    )
    with_fever = models.BooleanField(default=False)
    with_bleeding = models.BooleanField(default=False)
    with_transfusion = models.BooleanField(default=False)
    controlled_within_hours = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="For nausea, vomiting, diarrhoea: hours until controlled (empty: not yet).",
    )
    cycle2_delay_days = models.PositiveSmallIntegerField(
        "delay of cycle 2 (days)", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    version = models.PositiveIntegerField(
        default=1, help_text="Incremented on every save; a stale edit is refused, not merged."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_grade__gte=1) & Q(max_grade__lte=5), name="ae_max_grade_1_5"
            ),
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True)
                | Q(resolution_date__gte=models.F("onset_date")),
                name="ae_resolution_not_before_onset",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=ENDED_OUTCOMES, resolution_date__isnull=False)
                | (~Q(outcome__in=ENDED_OUTCOMES) & Q(resolution_date__isnull=True)),
                name="ae_resolution_date_iff_ended",
            ),
            models.CheckConstraint(
                condition=Q(outcome=Outcome.FATAL, serious_death=True, max_grade=5)
                | (~Q(outcome=Outcome.FATAL) & Q(serious_death=False) & ~Q(max_grade=5)),
                name="ae_fatal_is_grade_5_and_serious",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=Outcome.values), name="ae_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(expectedness__in=Expectedness.values), name="ae_expectedness_valid"
            ),
            models.CheckConstraint(
                condition=Q(controlled_within_hours__isnull=True)
                | Q(controlled_within_hours__gte=0),
                name="ae_controlled_hours_not_negative",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="ae_grade_allowed_for_term",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=_AE_TERM_CHECK,
            )
        ]
        indexes = [models.Index(fields=["patient", "onset_date"])]
        ordering = ["patient", "onset_date", "id"]

    def __str__(self) -> str:
        return f"{self.term} grade {self.max_grade}"

    @property
    def is_serious(self) -> bool:
        return any(getattr(self, name) for name in SERIOUSNESS_FIELDS)

    @property
    def seriousness_labels(self) -> list[str]:
        return [
            str(self._meta.get_field(name).verbose_name)
            for name in SERIOUSNESS_FIELDS
            if getattr(self, name)
        ]


@pghistory.track(*audited_events(), model_name="AdverseEventGradeEvent")
class AdverseEventGrade(models.Model):
    """A stretch of an event at one grade: from ``onset_date`` (the day it reached the grade)
    to ``resolved_on`` (the day it changed grade or resolved; empty while ongoing)."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.CASCADE, related_name="grade_episodes"
    )
    grade = models.PositiveSmallIntegerField()
    onset_date = models.DateField()
    resolved_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=GRADE_RANGE, name="aegrade_grade_1_5"),
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("onset_date")),
                name="aegrade_resolved_not_before_onset",
            ),
            models.UniqueConstraint(
                fields=["adverse_event", "onset_date"], name="aegrade_one_change_per_day"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="aegrade_allowed_for_term",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=_EPISODE_GRADE_CHECK,
            )
        ]
        ordering = ["adverse_event", "onset_date"]

    def __str__(self) -> str:
        return f"grade {self.grade} from {self.onset_date:%Y-%m-%d}"


@pghistory.track(*audited_events(), model_name="AdverseEventAttributionEvent")
class AdverseEventAttribution(models.Model):
    """The relationship of an event to one agent of the regimen, and what was done with it."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.CASCADE, related_name="attributions"
    )
    agent = models.ForeignKey(TrialAgent, on_delete=models.PROTECT, related_name="+")
    attribution = models.CharField(max_length=10, choices=AttributionChoice.choices)
    action_taken = models.CharField(
        max_length=20, choices=ActionTaken.choices, default=ActionTaken.NONE
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["adverse_event", "agent"], name="aeattribution_one_per_agent"
            ),
            models.CheckConstraint(
                condition=Q(attribution__in=AttributionChoice.values),
                name="aeattribution_attribution_valid",
            ),
            models.CheckConstraint(
                condition=Q(action_taken__in=ActionTaken.values),
                name="aeattribution_action_valid",
            ),
        ]
        ordering = ["adverse_event", "agent__position", "agent__code"]

    def __str__(self) -> str:
        return f"{self.agent.code}: {self.attribution}"


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "To review"
    CONFIRMED = "confirmed", "Confirmed as an adverse event"
    DISMISSED = "dismissed", "Dismissed"
    WITHDRAWN = "withdrawn", "Withdrawn (the lab result was corrected)"


@pghistory.track(*audited_events(), model_name="LabGradeSuggestionEvent")
class LabGradeSuggestion(models.Model):
    """A lab result that CTCAE grades >= 3, suggested as an adverse event. A coordinator
    confirms it (an adverse event is created, prefilled) or dismisses it with a reason."""

    lab_result = models.ForeignKey(
        LabResult, on_delete=models.CASCADE, related_name="grade_suggestions"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    ctcae_term = models.ForeignKey(CtcaeTerm, on_delete=models.PROTECT, related_name="+")
    grade = models.PositiveSmallIntegerField()
    collected_on = models.DateField()
    value = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=20)
    rule_text = models.TextField()
    status = models.CharField(
        max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    adverse_event = models.ForeignKey(
        AdverseEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lab_suggestions",
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lab_result", "ctcae_term"], name="labsuggestion_one_per_result_term"
            ),
            models.CheckConstraint(
                condition=Q(grade__gte=3) & Q(grade__lte=5), name="labsuggestion_grade_3_plus"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SuggestionStatus.values), name="labsuggestion_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=SuggestionStatus.DISMISSED) | ~Q(decision_reason=""),
                name="labsuggestion_dismissal_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=SuggestionStatus.CONFIRMED) | Q(adverse_event__isnull=False),
                name="labsuggestion_confirmed_has_event",
            ),
            models.CheckConstraint(
                condition=Q(status=SuggestionStatus.PENDING)
                | Q(decided_at__isnull=False, decided_by__isnull=False)
                | Q(status=SuggestionStatus.WITHDRAWN),
                name="labsuggestion_decision_has_who_when",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"])]
        ordering = ["collected_on", "id"]

    def __str__(self) -> str:
        return f"{self.ctcae_term.term} grade {self.grade} ({self.get_status_display()})"
