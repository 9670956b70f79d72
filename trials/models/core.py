"""People, sites, trials, memberships and patients (the foundation tables).

Every clinical table is tracked by django-pghistory: Postgres triggers write an event row for
each insert, update and delete, with the context (user, URL, reason) that the request or the
service set. No code path — ORM, bulk update, raw SQL, admin or shell — can skip it.
"""

from __future__ import annotations

import pghistory
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


def audited_events() -> tuple:
    """Fresh trackers for one model (tracker objects hold per-model state: never share them)."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Site coordinator"
    INVESTIGATOR = "investigator", "Investigator"
    STATISTICIAN = "statistician", "Statistician"
    MONITOR = "monitor", "Monitor (read-only)"
    TRIAL_ADMIN = "trial_admin", "Trial admin"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    exclude=["password", "last_login"],
    model_name="UserEvent",
)
class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Login is by email address."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


@pghistory.track(*audited_events(), model_name="SiteEvent")
class Site(models.Model):
    """An institution that screens and treats patients."""

    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", "Use capital letters, digits and hyphens.")],
    )
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class Phase(models.TextChoices):
    PHASE_I = "I", "Phase I"
    PHASE_I_II = "I/II", "Phase I/II"
    PHASE_II = "II", "Phase II"


class TrialStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PHASE_I = "phase_i", "Phase I (dose escalation)"
    PHASE_II = "phase_ii", "Phase II (expansion)"
    CLOSED_TO_ACCRUAL = "closed_to_accrual", "Closed to accrual"
    CLOSED = "closed", "Closed"


@pghistory.track(*audited_events(), model_name="TrialEvent")
class Trial(models.Model):
    """A clinical trial protocol and its design settings."""

    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9]{1,19}$", "Capital letters and digits.")],
    )
    title = models.CharField(max_length=300)
    phase = models.CharField(max_length=4, choices=Phase.choices)
    status = models.CharField(
        max_length=20, choices=TrialStatus.choices, default=TrialStatus.DRAFT, editable=False
    )
    registry_id = models.CharField(max_length=40, blank=True)
    sites = models.ManyToManyField(Site, through="TrialSite", related_name="trials")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


@pghistory.track(*audited_events(), model_name="TrialSiteEvent")
class TrialSite(models.Model):
    """A site's participation in a trial, with the number used in study IDs (IPD-01-003)."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="trial_sites")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="trial_sites")
    number = models.CharField(
        max_length=3, validators=[RegexValidator(r"^\d{2,3}$", "Two or three digits.")]
    )
    active = models.BooleanField(default=True)
    # Counters for the numbers a site hands out. Only the screening and enrolment services move
    # them, under a row lock, so two coordinators never get the same number.
    next_screening_number = models.PositiveIntegerField(default=1, editable=False)
    next_study_number = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "site"], name="trialsite_unique_site"),
            models.UniqueConstraint(fields=["trial", "number"], name="trialsite_unique_number"),
        ]
        ordering = ["trial", "number"]

    def __str__(self) -> str:
        return f"{self.trial.code} site {self.number} ({self.site.code})"


@pghistory.track(*audited_events(), model_name="MembershipEvent")
class Membership(models.Model):
    """A user's role in one trial, at some of its sites or at all of them."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    all_sites = models.BooleanField(
        default=False,
        help_text="Applies to every site of the trial (trial admins, statisticians, chief "
        "investigators). Otherwise only to the listed sites.",
    )
    sites = models.ManyToManyField(Site, blank=True, related_name="memberships")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "trial", "role"], name="membership_unique_user_trial_role"
            ),
        ]
        ordering = ["trial", "role", "user"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.trial.code}"


class PatientStatus(models.TextChoices):
    SCREENING = "screening", "Screening"
    SCREEN_FAILED = "screen_failed", "Screen failure"
    ENROLLED = "enrolled", "Enrolled"
    ON_TREATMENT = "on_treatment", "On treatment"
    OFF_TREATMENT = "off_treatment", "Off treatment"
    FOLLOW_UP = "follow_up", "Follow-up"
    OFF_STUDY = "off_study", "Off study"


IDENTIFIER_FIELDS = frozenset({"given_name", "family_name", "date_of_birth"})


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "O", "Other / not stated"


@pghistory.track(*audited_events(), model_name="PatientEvent")
class Patient(models.Model):
    """A person screened for a trial at one site.

    ``given_name``, ``family_name`` and ``date_of_birth`` are direct identifiers: only the
    site's coordinators and monitors see them. Everyone else sees the study ID.
    """

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="patients")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    screening_number = models.CharField(max_length=30)
    study_id = models.CharField(max_length=30, null=True, blank=True, unique=True)
    given_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    status = models.CharField(
        max_length=20,
        choices=PatientStatus.choices,
        default=PatientStatus.SCREENING,
        editable=False,
    )
    enrolment_date = models.DateField(null=True, blank=True, editable=False)
    dose_level = models.ForeignKey(
        "dosing.DoseLevel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="patients",
        editable=False,
        help_text="The dose level assigned at enrolment (changed only by a dosing service).",
    )
    height_cm = models.DecimalField(
        "baseline height (cm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    weight_kg = models.DecimalField(
        "baseline weight (kg)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Incremented on every save; a stale edit is refused, not merged."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "site", "screening_number"],
                name="patient_unique_screening_number",
            ),
        ]
        indexes = [models.Index(fields=["trial", "site", "status"])]
        ordering = ["trial", "site", "screening_number"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The pseudonymous label shown to everyone: study ID, else the screening number."""
        return self.study_id or f"{self.trial.code}-S{self.screening_number}"


class WorkerHeartbeat(models.Model):
    """Written by a Celery worker (health pings) or by beat, so /health/ sees a round trip."""

    token = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, default="ping")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["ping", "beat"]), name="heartbeat_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.token} at {self.created_at:%Y-%m-%d %H:%M:%S}"
