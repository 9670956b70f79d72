"""Live dose escalation: the trial's escalation state, cohort slots, the stored
recommendations of the 3+3 engine and the investigators' signatures on them.

- ``TrialEscalation`` — one row per trial: which level is open for enrolment and how many
  patients may hold a slot there (3, then 6). It is the row enrolment locks, so two
  coordinators enrolling at the same moment are served one after the other.
- ``SlotAssignment`` — the slot a patient was given at enrolment. At most six patients hold a
  seat at a level (a partial unique index on the seat, seats 1–6); a patient who becomes not
  DLT-evaluable gives the seat back for one replacement.
- ``EscalationDecision`` — one evaluation of the engine: input snapshot, its SHA-256, the rule
  (id, text, version) and the output. Unique per input hash: an evaluation run twice on the same
  data stores nothing new.
- ``DecisionSignature`` — an investigator's e-signature (approval or override with a reason).

Decision status changes follow ``DECISION_TRANSITIONS`` through one service
(``dosing.services.decision_transition``).
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dosing.models.levels import DoseLevel
from trials.models import Patient, Trial, audited_events

MAX_SEATS = 6


class EscalationStage(models.TextChoices):
    ESCALATING = "escalating", "Dose escalation"
    MTD_DECLARED = "mtd_declared", "MTD declared: the RP2D is to be signed"
    NO_TOLERABLE_DOSE = "no_tolerable_dose", "Stopped: no tolerable dose"
    RP2D_DECLARED = "rp2d_declared", "RP2D declared (phase II)"


@pghistory.track(*audited_events(), model_name="TrialEscalationEvent")
class TrialEscalation(models.Model):
    """Where a trial's dose escalation stands: the level open for enrolment and its cohort size.

    Only signed decisions move it (``step`` counts them); enrolment reads it under a row lock.
    ``on_hold`` is set when a signed decision is voided because the data under it changed:
    nobody is enrolled until an investigator signs the re-evaluated decision.
    """

    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, related_name="escalation")
    stage = models.CharField(
        max_length=20, choices=EscalationStage.choices, default=EscalationStage.ESCALATING
    )
    open_level_number = models.SmallIntegerField(
        null=True, blank=True, help_text="The level enrolment assigns (None: enrolment closed)."
    )
    cohort_target = models.PositiveSmallIntegerField(
        default=3, help_text="Patients who may hold a slot at the open level (3, then 6)."
    )
    step = models.PositiveIntegerField(default=0, help_text="Signed decisions applied so far.")
    on_hold = models.BooleanField(default=False)
    hold_reason = models.TextField(blank=True)
    current_decision = models.ForeignKey(
        "EscalationDecision",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The latest evaluation of the engine.",
    )
    applied_decision = models.ForeignKey(
        "EscalationDecision",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The signed decision whose step is in force.",
    )
    mtd_level_number = models.SmallIntegerField(null=True, blank=True)
    rp2d_level_number = models.SmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(cohort_target__lte=MAX_SEATS), name="escalation_target_at_most_six"
            ),
            models.CheckConstraint(
                condition=~Q(open_level_number=0), name="escalation_no_level_zero"
            ),
            models.CheckConstraint(
                condition=Q(on_hold=False) | ~Q(hold_reason=""), name="escalation_hold_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trial_id} escalation ({self.stage}, step {self.step})"


class SlotKind(models.TextChoices):
    ESCALATION = "escalation", "Dose escalation (phase I)"
    PHASE_II = "phase_ii", "Phase II at the RP2D"


class SlotStatus(models.TextChoices):
    HELD = "held", "Held"
    FREED = "freed", "Freed (not DLT-evaluable: replaced)"


@pghistory.track(*audited_events(), model_name="SlotAssignmentEvent")
class SlotAssignment(models.Model):
    """The slot a patient was given at enrolment (one per patient)."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="dose_slots")
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="dose_slot")
    dose_level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="slots")
    level_number = models.SmallIntegerField()
    kind = models.CharField(max_length=10, choices=SlotKind.choices)
    seat = models.PositiveSmallIntegerField(null=True, blank=True)
    step = models.PositiveIntegerField(help_text="The escalation step it was assigned in.")
    status = models.CharField(max_length=10, choices=SlotStatus.choices, default=SlotStatus.HELD)
    freed_reason = models.TextField(blank=True)
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    freed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The over-fill guard in the database: one held escalation slot per seat, six seats.
            models.UniqueConstraint(
                fields=["trial", "level_number", "seat"],
                condition=Q(kind="escalation", status="held"),
                name="slot_one_holder_per_seat",
            ),
            models.CheckConstraint(
                condition=(Q(kind="escalation") & Q(seat__gte=1) & Q(seat__lte=MAX_SEATS))
                | (Q(kind="phase_ii") & Q(seat__isnull=True)),
                name="slot_seat_matches_kind",
            ),
            models.CheckConstraint(
                condition=(Q(status="held") & Q(freed_at__isnull=True))
                | (Q(status="freed") & Q(freed_at__isnull=False) & ~Q(freed_reason="")),
                name="slot_freed_with_reason",
            ),
            models.CheckConstraint(condition=~Q(level_number=0), name="slot_no_level_zero"),
        ]
        indexes = [models.Index(fields=["trial", "kind", "level_number", "status"])]
        ordering = ["trial", "assigned_at", "id"]

    def __str__(self) -> str:
        seat = f" seat {self.seat}" if self.seat else ""
        return f"{self.patient_id} at level {self.level_number}{seat} ({self.status})"


class DecisionKind(models.TextChoices):
    ESCALATION = "escalation", "Dose-escalation recommendation"
    RP2D = "rp2d", "Recommended phase II dose"


class DecisionStatus(models.TextChoices):
    RECORDED = "recorded", "Recorded (nothing to sign)"
    AWAITING_SIGNATURE = "awaiting_signature", "Awaiting an investigator's signature"
    SIGNED = "signed", "Signed"
    OVERRIDDEN = "overridden", "Overridden (signed, with a reason)"
    SUPERSEDED = "superseded", "Superseded by a later evaluation"
    VOIDED = "voided", "Voided: the data under it changed"


S = DecisionStatus
#: The decision workflow: (from, to) pairs; nothing else assigns ``EscalationDecision.status``.
DECISION_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.AWAITING_SIGNATURE, S.SIGNED),
        (S.AWAITING_SIGNATURE, S.OVERRIDDEN),
        (S.AWAITING_SIGNATURE, S.SUPERSEDED),
        (S.RECORDED, S.SUPERSEDED),
        (S.SIGNED, S.VOIDED),
        (S.OVERRIDDEN, S.VOIDED),
        # The data are again exactly as they were when the decision was evaluated.
        (S.SUPERSEDED, S.AWAITING_SIGNATURE),
        (S.SUPERSEDED, S.RECORDED),
        (S.VOIDED, S.AWAITING_SIGNATURE),
        # Enrolment was put on hold after it was recorded: it now needs a signature.
        (S.RECORDED, S.AWAITING_SIGNATURE),
    }
)
#: Decisions whose step is (or was) in force.
IN_FORCE_STATUSES = (S.SIGNED, S.OVERRIDDEN)


@pghistory.track(*audited_events(), model_name="EscalationDecisionEvent")
class EscalationDecision(models.Model):
    """One recommendation of the engine (or the RP2D proposal) with everything it rests on."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="escalation_decisions")
    number = models.PositiveIntegerField(help_text="#1, #2, … within the trial.")
    kind = models.CharField(max_length=12, choices=DecisionKind.choices)
    step = models.PositiveIntegerField(help_text="The escalation step it was evaluated in.")
    input_snapshot = models.JSONField()
    input_hash = models.CharField(max_length=64)
    rule_set = models.CharField(max_length=20)
    rule_id = models.CharField(max_length=20)
    rule_text = models.TextField()
    rule_version = models.CharField(max_length=20)
    output = models.JSONField()
    action = models.CharField(max_length=30)
    current_level_number = models.SmallIntegerField(null=True, blank=True)
    next_level_number = models.SmallIntegerField(null=True, blank=True)
    recommended_level_number = models.SmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=DecisionStatus.choices)
    status_reason = models.TextField(blank=True)
    applied = models.JSONField(
        default=dict, blank=True, help_text="The step opened when it was signed or overridden."
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "kind", "input_hash"], name="decision_unique_input"
            ),
            models.UniqueConstraint(fields=["trial", "number"], name="decision_unique_number"),
            models.CheckConstraint(
                condition=Q(status__in=DecisionStatus.values), name="decision_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(input_hash__regex=r"^[0-9a-f]{64}$"), name="decision_hash_sha256"
            ),
        ]
        indexes = [models.Index(fields=["trial", "status"])]
        ordering = ["trial", "-number"]

    def __str__(self) -> str:
        return f"{self.trial_id} decision #{self.number} ({self.action}, {self.status})"

    @property
    def is_open_for_signature(self) -> bool:
        return self.status == DecisionStatus.AWAITING_SIGNATURE


class SignatureKind(models.TextChoices):
    APPROVAL = "approval", "Approved the recommendation"
    OVERRIDE = "override", "Overrode the recommendation"


class SignatureStatus(models.TextChoices):
    VALID = "valid", "Valid"
    VOIDED = "voided", "Voided"


@pghistory.track(*audited_events(), model_name="DecisionSignatureEvent")
class DecisionSignature(models.Model):
    """An investigator's e-signature on a decision: password re-entered (and the authenticator
    code when the role needs one), a stated meaning, and the hash of what was signed."""

    decision = models.ForeignKey(
        EscalationDecision, on_delete=models.PROTECT, related_name="signatures"
    )
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(default=timezone.now)
    meaning = models.TextField()
    kind = models.CharField(max_length=10, choices=SignatureKind.choices)
    override_action = models.CharField(max_length=30, blank=True)
    override_level_number = models.SmallIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    snapshot_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=20, default="password")
    status = models.CharField(
        max_length=10, choices=SignatureStatus.choices, default=SignatureStatus.VALID
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "signer"],
                condition=Q(status="valid"),
                name="signature_one_valid_per_signer",
            ),
            models.CheckConstraint(condition=~Q(meaning=""), name="signature_meaning_stated"),
            models.CheckConstraint(
                condition=Q(kind="approval") | (~Q(reason="") & ~Q(override_action="")),
                name="signature_override_has_reason",
            ),
            models.CheckConstraint(
                condition=(Q(status="valid") & Q(voided_at__isnull=True))
                | (Q(status="voided") & Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="signature_voided_with_reason",
            ),
        ]
        ordering = ["decision", "signed_at", "id"]

    def __str__(self) -> str:
        return f"{self.signer_id} {self.kind} on decision {self.decision_id} ({self.status})"
