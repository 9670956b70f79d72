"""The status workflow of an SAE report, as a transition table.

ICH E2A / ICH E6 (R2) 4.11.1: the site sends an initial report within 24 hours of awareness
and a full (follow-up) report within the protocol's deadline; the investigator signs the full
report. A report opened for an event that is later found not to be serious may be withdrawn
before it is submitted in full. Deadlines themselves are in ``safety.domain.sae_clock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SaeStatus(StrEnum):
    OPEN = "open"  # clock running, nothing submitted
    INITIAL_SUBMITTED = "initial_submitted"
    FULL_SUBMITTED = "full_submitted"
    SIGNED = "signed"
    WITHDRAWN = "withdrawn"


SAE_STATUS_LABELS: dict[SaeStatus, str] = {
    SaeStatus.OPEN: "Open: initial report due",
    SaeStatus.INITIAL_SUBMITTED: "Initial report submitted",
    SaeStatus.FULL_SUBMITTED: "Full report submitted, to sign",
    SaeStatus.SIGNED: "Signed by the investigator",
    SaeStatus.WITHDRAWN: "Withdrawn (not serious)",
}


class SaeTransitionError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SaeTransition:
    needs_reason: bool = False
    needs_signature: bool = False
    system_only: bool = False  # taken by the software (a signature voided), never by a person


#: (from, to) -> what the step needs. Nothing else may change a report's status.
SAE_TRANSITIONS: dict[tuple[SaeStatus, SaeStatus], SaeTransition] = {
    (SaeStatus.OPEN, SaeStatus.INITIAL_SUBMITTED): SaeTransition(),
    # A full report sent first also satisfies the initial report.
    (SaeStatus.OPEN, SaeStatus.FULL_SUBMITTED): SaeTransition(),
    (SaeStatus.INITIAL_SUBMITTED, SaeStatus.FULL_SUBMITTED): SaeTransition(),
    (SaeStatus.FULL_SUBMITTED, SaeStatus.SIGNED): SaeTransition(needs_signature=True),
    # A change to the signed event voids the signature: the report must be signed again.
    (SaeStatus.SIGNED, SaeStatus.FULL_SUBMITTED): SaeTransition(
        needs_reason=True, system_only=True
    ),
    (SaeStatus.OPEN, SaeStatus.WITHDRAWN): SaeTransition(needs_reason=True),
    (SaeStatus.INITIAL_SUBMITTED, SaeStatus.WITHDRAWN): SaeTransition(needs_reason=True),
    # Serious again after a withdrawal: the clock restarts from the new awareness time.
    (SaeStatus.WITHDRAWN, SaeStatus.OPEN): SaeTransition(needs_reason=True, system_only=True),
}


def check_sae_transition(
    current: str,
    target: str,
    *,
    reason: str = "",
    signed: bool = False,
    system: bool = False,
) -> SaeTransition:
    """The rule for ``current -> target``; raises :class:`SaeTransitionError` if not allowed."""
    try:
        step = SAE_TRANSITIONS[(SaeStatus(current), SaeStatus(target))]
    except (KeyError, ValueError):
        raise SaeTransitionError(
            f"An SAE report cannot go from {current!r} to {target!r}."
        ) from None
    if step.system_only and not system:
        raise SaeTransitionError(f"{current} -> {target} is taken by the software only.")
    if step.needs_reason and not reason.strip():
        raise SaeTransitionError("Give a reason for this step.")
    if step.needs_signature and not signed:
        raise SaeTransitionError("The investigator's signature is needed for this step.")
    return step
