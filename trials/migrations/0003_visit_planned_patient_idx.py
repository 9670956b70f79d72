"""A partial, covering index on the planned visits, for the worklist ("My patients", the API's
patient list and the home page's due visits).

``selectors.patient_worklist`` sorts every visible patient by its overdue planned visits and its
next planned visit: one join on ``status = 'planned'`` visits grouped by patient. Planned visits
are a small part of the table (most visits are done), so this index is small, and the join and
the page's "next visit" lookups (ordered by planned date, then id) are index-only scans.

Built concurrently (no write lock on the visits table while it builds), hence not atomic. The
index lives in the database only, not in ``Visit.Meta.indexes``: the migration state does not
declare it, so ``makemigrations`` does not see it.
"""

from django.db import migrations

INDEX = "visit_planned_patient_idx"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("trials", "0002_consent_consentevent_doseadministration_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
                "ON trials_visit (patient_id, planned_date, id) "
                "INCLUDE (window_end, code) "
                "WHERE status = 'planned'"
            ),
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
        ),
    ]
