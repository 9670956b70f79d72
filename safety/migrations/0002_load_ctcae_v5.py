"""Load the CTCAE v5.0 dictionary shipped in ``safety/data/ctcae_v5.0.json`` (837 terms).

Reads the app's own data file through the domain loader, so the rows hold NCI's exact strings.
Idempotent: terms already present are left as they are.
"""

from django.db import migrations

VERSION = "5.0"


def load(apps, schema_editor):
    from safety.domain.ctcae import load_dictionary

    CtcaeTerm = apps.get_model("safety", "CtcaeTerm")
    present = set(
        CtcaeTerm.objects.filter(version=VERSION).values_list("meddra_code", flat=True)
    )
    rows = []
    for term in load_dictionary(VERSION):
        if term.meddra_code in present:
            continue
        rows.append(
            CtcaeTerm(
                version=VERSION,
                meddra_code=term.meddra_code,
                term=term.term,
                soc=term.soc,
                definition=term.definition or "",
                navigational_note=term.navigational_note or "",
                allowed_grades=list(term.allowed_grades),
                **{f"grade_{g}": term.grades[g] for g in range(1, 6)},
            )
        )
    CtcaeTerm.objects.bulk_create(rows, batch_size=500)


def unload(apps, schema_editor):
    apps.get_model("safety", "CtcaeTerm").objects.filter(version=VERSION).delete()


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
