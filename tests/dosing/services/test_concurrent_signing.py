"""Two investigators signing at once get one signature each (the step opens once); the same
investigator signing twice at once gets one signature."""

import threading

import pytest
from django.db import connection

from dosing import services
from dosing.models import DecisionSignature, DecisionStatus, TrialEscalation
from tests.dosing.factories import cohort, evaluate, investigator, sign

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_at_once(decision, signers) -> tuple[list, list]:
    barrier = threading.Barrier(len(signers))
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def run(user):
        try:
            barrier.wait(timeout=10)
            sign(decision, user)
        except services.DecisionConflict as exc:
            conflicts.append(str(exc))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(user,)) for user in signers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return conflicts, errors


def test_two_investigators_signing_at_once_get_one_signature_each(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    decision = evaluate(ipd.trial)
    second = investigator(ipd.trial, "inv2@example.org")

    conflicts, errors = _sign_at_once(decision, [ipd.investigator, second])

    decision.refresh_from_db()
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    assert (conflicts, errors) == ([], [])
    assert sorted(s.signer.email for s in decision.signatures.all()) == [
        "inv2@example.org",
        "inv@example.org",
    ]
    assert decision.status == DecisionStatus.SIGNED
    assert (esc.step, esc.cohort_target) == (1, 6)  # the step opened once


def test_the_same_investigator_signing_twice_at_once_gets_one_signature(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    decision = evaluate(ipd.trial)

    conflicts, errors = _sign_at_once(decision, [ipd.investigator, ipd.investigator])

    assert errors == []
    assert conflicts == [f"You have already signed decision #{decision.number}."]
    assert DecisionSignature.objects.filter(decision=decision).count() == 1
