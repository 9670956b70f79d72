"""A partial, covering index on the planned visits, for the worklist ("My patients", the API's
patient list and the home page's due visits).

``selectors.patient_worklist`` sorts every visible patient by its overdue planned visits and its
next planned visit: one join on ``status = 'planned'`` visits grouped by patient. Planned visits
are a small part of the table (most visits are done), so this index is small, and the join and
the page's "next visit" lookups (ordered by planned date, then id) are index-only scans.

Built concurrently (no write lock on the visits table while it builds), hence not atomic. The
index is declared in ``Visit.Meta.indexes``.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("trials", "0002_consent_consentevent_doseadministration_and_more"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(
                condition=models.Q(status="planned"),
                fields=["patient", "planned_date", "id"],
                include=["window_end", "code"],
                name="visit_planned_patient_idx",
            ),
        ),
    ]
