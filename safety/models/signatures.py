"""Electronic signatures (21 CFR Part 11 style): who signed, when, with what meaning, and a
hash of exactly what was signed. A later change to the signed data voids the signature."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from trials.models import audited_events


@pghistory.track(*audited_events(), model_name="SignatureEvent")
class Signature(models.Model):
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    meaning = models.CharField(max_length=300, help_text="What the signer means by signing.")
    method = models.CharField(
        max_length=20, help_text="How the signer was verified: password, or password + OTP."
    )
    subject_kind = models.CharField(max_length=40)
    subject_id = models.BigIntegerField()
    payload = models.JSONField(help_text="The signed data, as hashed.")
    data_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical payload.")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(data_hash__regex=r"^[0-9a-f]{64}$"), name="signature_hash_sha256"
            ),
            models.CheckConstraint(condition=~Q(meaning=""), name="signature_has_meaning"),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, void_reason="")
                | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="signature_void_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["subject_kind", "subject_id"])]
        ordering = ["signed_at", "id"]

    def __str__(self) -> str:
        state = " (void)" if self.voided_at else ""
        return f"{self.signer} signed {self.subject_kind} {self.subject_id}{state}"

    @property
    def is_valid(self) -> bool:
        return self.voided_at is None
